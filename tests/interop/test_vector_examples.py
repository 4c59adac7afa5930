"""The consuming loops vectors/README.md publishes are real and pass: the JavaScript decoders and
encoders in vectors/examples/ (written from spec/ alone) run over every vector family with Node, and
serve as the external decoder of `zre-ref vectors check` (vectors/README.md#self-check), as does the
C99 decoder vectors/examples/zre_decoder.c.

Node is what the interop env already needs for zyre.js (tests/interop/setup-js.sh), and a C compiler
what test_interop_zrelog_hash.py needs; either missing fails under CI=true and skips elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zre_ref.cli import main
from zre_ref.vectorcheck import check, message_cases

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors"
EXAMPLES = VECTORS / "examples"
#: the message protocols codecs.js decodes (the `vectors check` runs below); check_vectors.js also
#: checks transcripts and functions (ZRE sessions, ZMTP and CURVE handshakes, X25519, boxes, Z85,
#: the ZRE/LOG hash, id tables)
PROTOCOLS = ("zre", "beacon", "zmtp-greeting", "zmtp-frame", "zrelog", "zpipes", "zgossip")
#: the protocols zre_decoder.c implements
C_PROTOCOLS = ("zre", "beacon", "zrelog", "zpipes", "zgossip", "zmtp-greeting", "zmtp-frame")
def _node() -> str:
    node = shutil.which("node")
    if node is None:
        assert not os.environ.get("CI"), "CI=true but node is missing (tests/interop/setup-js.sh)"
        pytest.skip("needs node")
    return node


def _present(protocols: tuple[str, ...]) -> list[str]:
    """Those of ``protocols`` that have vector files here."""
    return [p for p in protocols if p in set(_families().values())]


def _families() -> dict[str, str]:
    """vector file (relative) -> its protocol, for every file under vectors/."""
    out = {}
    for path in sorted(VECTORS.rglob("*.json")):
        if path.name != "schema.json":
            out[str(path.relative_to(VECTORS))] = json.loads(path.read_text("utf-8"))["protocol"]
    return out


@pytest.fixture(scope="module")
def loop_summary() -> dict[str, Any]:
    proc = subprocess.run([_node(), str(EXAMPLES / "check_vectors.js"), str(VECTORS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.stderr == ""
    lines = proc.stdout.strip().splitlines()
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["exit"] = proc.returncode
    summary["report"] = lines[:-1]
    return summary


def test_js_loop_passes_every_case(loop_summary: dict[str, Any]) -> None:
    assert loop_summary["failed"] == [], "\n".join(loop_summary["report"])
    assert loop_summary["exit"] == 0


def test_every_file_is_covered(loop_summary: dict[str, Any]) -> None:
    """Every file of every family, curve/invalid.json included (its refusals derived from
    spec/curve.md#errors)."""
    files = _families()
    assert loop_summary["uncovered"] == [], (
        f"check_vectors.js cannot check these files; teach it (vectors/examples/): "
        f"{loop_summary['uncovered']}")
    covered = list(files)
    assert "curve/invalid.json" in covered
    assert loop_summary["files"] == len(covered) >= 18
    total = sum(len(json.loads((VECTORS / f).read_text("utf-8"))["cases"]) for f in covered)
    assert loop_summary["cases"] == total >= 400
    assert len(_present(PROTOCOLS)) >= 7 and len(_present(C_PROTOCOLS)) >= 7


def _stdio(protocol: str, filter_cmd: str = "") -> str:
    cmd = shlex.join([_node(), str(EXAMPLES / "stdio_decoder.js"), protocol])
    return f"{cmd} | {filter_cmd}" if filter_cmd else cmd


@pytest.mark.parametrize("protocol", _present(PROTOCOLS))
def test_js_decoder_passes_vectors_check(protocol: str) -> None:
    cases = message_cases(VECTORS, protocol)
    verdicts = check(_stdio(protocol), cases)
    assert len(verdicts) == len(cases) >= 15
    assert [(v.id, v.problem) for v in verdicts if v.problem] == []


def test_wrong_decoder_is_caught_id_by_id() -> None:
    """The JS decoder with its `truncated` answers turned into `length-overflow` (sed -u keeps it
    line-buffered): exactly the truncated cases fail, every other id passes."""
    cases = message_cases(VECTORS, "zre")
    wrong = _stdio("zre", "sed -u 's/^error truncated /error length-overflow /'")
    failed = {v.id for v in check(wrong, cases) if v.problem}
    truncated = {c["id"] for c in cases if c.get("error", {}).get("error") == "truncated"}
    assert len(truncated) > 40 and failed == truncated


def test_cli_with_the_js_decoder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "check", "--protocol", "beacon", "--decoder", _stdio("beacon")]) == 0
    assert "beacon: 21 cases, 21 passed, 0 failed" in capsys.readouterr().out


def test_rfc36_only_decoder_passes_once_extensions_are_skipped() -> None:
    """The skip recipe of vectors/README.md: a decoder without ids 8, 9, 10 fails only cases
    flagged `extension:zyre`, and passes everything once they are skipped."""
    # node -e SCRIPT ARG: ARG is process.argv[1]; stdio_decoder.js reads its protocol from argv[2]
    script = ("const path = process.argv[1]; const c = require(path); "
              "for (const id of [8, 9, 10]) delete c.ZPROTO.zre.messages[id]; "
              "process.argv[2] = 'zre'; require(path.replace('codecs.js', 'stdio_decoder.js'));")
    rfc36 = shlex.join([_node(), "-e", script, str(EXAMPLES / "codecs.js")])
    cases = message_cases(VECTORS, "zre")
    failed = {v.id for v in check(rfc36, cases) if v.problem}
    flagged = {c["id"] for c in cases if "extension:zyre" in c.get("flags", [])}
    assert len(failed) > 20 and failed <= flagged
    rest = [c for c in cases if c["id"] not in flagged]
    assert [v.id for v in check(rfc36, rest) if v.problem] == []


@pytest.fixture(scope="module")
def c_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vectors/examples/zre_decoder.c compiled with warnings as errors (C99, no libraries)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        assert not os.environ.get("CI"), "CI=true but no C compiler"
        pytest.skip("needs a C compiler")
    exe = tmp_path_factory.mktemp("c-decoder") / "zre_decoder"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-o", str(exe),
                    str(EXAMPLES / "zre_decoder.c")], check=True, timeout=60)
    return exe


@pytest.mark.parametrize("protocol", _present(C_PROTOCOLS))
def test_c_decoder_passes_vectors_check(c_decoder: Path, protocol: str) -> None:
    """The C example answers `ok {fields}` or `error CODE FIELD FRAME OFFSET`: all four compared."""
    cases = message_cases(VECTORS, protocol)
    verdicts = check(shlex.join([str(c_decoder), protocol]), cases)
    assert len(verdicts) == len(cases) >= 15
    assert [(v.id, v.problem) for v in verdicts if v.problem] == []


_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
#: fenced-block languages that are data or command lines, not consuming loops
_NOT_CODE = {"", "json", "abnf", "text", "sh", "console"}


def test_every_loop_in_vectors_readme_runs() -> None:
    """A consuming loop shown in vectors/README.md is a `python` or `js` block, and it runs here
    against the real files (from the repository root); any other language would be a loop that CI
    does not run."""
    blocks = _FENCE.findall((VECTORS / "README.md").read_text("utf-8"))
    assert len(blocks) >= 5
    unrun = [lang for lang, _ in blocks if lang not in _NOT_CODE | {"python", "js"}]
    assert not unrun, f"vectors/README.md shows code CI cannot run: {unrun}"
    for lang, code in blocks:
        if lang == "python":
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
        elif lang == "js":
            subprocess.run([_node(), "-e", code], cwd=ROOT, check=True, timeout=120)
