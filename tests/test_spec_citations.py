"""What spec/ cites exists: test functions (`tests/x.py::test_name`), conformance case ids in the
node chapter (spec/zre.md#behaviour-of-a-zre-node), code names, and vector ids everywhere."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

from zre_conformance.cases import all_cases

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec"
_TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
_TICKED = re.compile(r"`([^`\s]+)`")
_CASE_PREFIXES = ("beacon.", "hello.", "sequence.", "group.", "shout.", "whisper.", "ping.",
                  "evasive.", "silent.", "expired.", "stop.", "robust.", "peer.", "hostile.", "elect.",
                  "gossip.")
_VECTOR_PREFIXES = ("zre.", "zmtp.", "zrelog.", "zpipes.")


def _chapter() -> str:
    text = (SPEC / "zre.md").read_text("utf-8")
    start = text.index('<a id="behaviour-of-a-zre-node"></a>')
    return text[start:text.index("\n## ", text.index("## Behaviour of a ZRE node") + 1)]


def test_cited_test_functions_exist() -> None:
    cited = {m for path in SPEC.glob("*.md") for m in _TEST_REF.findall(path.read_text("utf-8"))}
    assert len(cited) >= 10
    missing = [f"{f}::{name}" for f, name in cited
               if not (ROOT / f).exists() or f"def {name}(" not in (ROOT / f).read_text("utf-8")]
    assert not missing, missing


def test_node_chapter_cites_real_cases_and_code() -> None:
    chapter = _chapter()
    ids = [c.id for c in all_cases()]
    cited = {t.rstrip(",") for t in _TICKED.findall(chapter) if t.startswith(_CASE_PREFIXES)}
    assert len(cited) >= 40
    unknown = [c for c in cited if not fnmatch.filter(ids, c)]
    assert not unknown, unknown
    # NodeCore (zre/node.py) and the sans-IO modules beside it (zre/guards.py, zre/direct.py, ...)
    code = "".join(p.read_text("utf-8") for p in sorted((ROOT / "zre_ref" / "zre").glob("*.py")))
    for name in ("start", "handle_timer", "handle_beacon", "_require_peer", "handle_message",
                 "_reap", "_remove_peer", "handle_send_blocked", "connect_peer", "_open_probe",
                 "DirectLinks.take", "_send_all", "_claim", "EndpointClaims.decide",
                 "answers_rebuild", "stop"):
        assert f"`{name}`" in chapter or f"`NodeCore.{name}`" in chapter or name in chapter
        assert f"def {name.rsplit('.', 1)[-1]}(" in code, name
    # every rule has a row: D1..D11, H1..H5, P1..P5, F1..F4, C1..C2, G1..G3
    rules = re.findall(r"^\| ([DHPFCG]\d+) \|", chapter, re.M)
    assert len(rules) == len(set(rules)) == 30


def test_cited_vector_ids_exist() -> None:
    ids = {c["id"] for path in (ROOT / "vectors").rglob("*.json") if path.name != "schema.json"
           for c in json.loads(path.read_text("utf-8")).get("cases", [])}
    cited = {t for path in [*SPEC.glob("*.md"), ROOT / "vectors" / "README.md"]
             for t in _TICKED.findall(path.read_text("utf-8"))
             if t.startswith(_VECTOR_PREFIXES) and not t.endswith((".py", ".md", ".json"))
             and "<" not in t}
    unknown = sorted(c for c in cited if not fnmatch.filter(ids, c.rstrip("."))
                     and not fnmatch.filter(ids, c + "*"))
    assert not unknown, unknown
