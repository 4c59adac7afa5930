"""`zre-ref vectors check` (vectors/README.md#self-check): the line protocol, the verdicts, and
decoder programs that are right, lenient, silent or gone."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import pytest

from zre_ref.cli import main
from zre_ref.vectorcheck import case_line, check, default_vectors_dir, judge, message_cases

VECTORS = default_vectors_dir()

# A decoder program in Python on zre-ref's own codecs, speaking the line protocol. With "lenient"
# it decodes the way zyre does (strict=False), so it accepts trailing bytes and extra frames.
PROGRAM = r"""
import json, sys
from zre_ref.errors import DecodeError
from zre_ref.registry import codecs
from zre_ref.zre.messages import ZRE
protocol, mode = sys.argv[1], sys.argv[2]
codec = codecs()[protocol]
for line in sys.stdin:
    frames = [bytes.fromhex("" if t == "-" else t) for t in line.split()]
    if protocol in ("beacon", "zmtp-greeting", "zmtp-frame") and not frames:
        frames = [b""]
    try:
        if mode == "lenient" and protocol == "zre":
            fields = ZRE.to_json(ZRE.decode(frames, strict=False))
        else:
            fields = codec.decode(frames)
        print("ok " + json.dumps(fields, ensure_ascii=False), flush=True)
    except DecodeError as e:
        frame = "-" if protocol in ("beacon", "zmtp-greeting", "zmtp-frame") else e.frame
        print(f"error {e.code} {e.field} {frame} {e.offset}", flush=True)
    if mode == "exit-early":
        break
"""


def _program(protocol: str, mode: str = "strict") -> str:
    return shlex.join([sys.executable, "-c", PROGRAM, protocol, mode])


@pytest.mark.parametrize("protocol", ["zre", "beacon", "zmtp-greeting", "zmtp-frame", "zrelog",
                                      "zpipes"])
def test_right_decoder_passes_every_case(protocol: str) -> None:
    cases = message_cases(VECTORS, protocol)
    assert len(cases) >= 15
    verdicts = check(_program(protocol), cases)
    assert [v.id for v in verdicts] == [c["id"] for c in cases]
    assert [v for v in verdicts if v.problem] == []


def test_lenient_decoder_fails_exactly_the_strict_cases() -> None:
    cases = message_cases(VECTORS, "zre")
    failed = {v.id for v in check(_program("zre", "lenient"), cases) if v.problem}
    strict = {c["id"] for c in cases if "lenient-decoders-accept" in c.get("flags", [])}
    assert strict and failed == strict


def test_cli_skip_flag_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["vectors", "check", "--protocol", "zre", "--decoder", _program("zre", "lenient")]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL zre.invalid.trailing.ping: accepted, expected trailing-bytes" in out
    assert main([*args, "--skip-flag", "lenient-decoders-accept"]) == 0
    assert "0 failed, 6 skipped by flag" in capsys.readouterr().out


def test_decoder_that_exits_fails_the_rest() -> None:
    cases = message_cases(VECTORS, "zpipes")[:5]
    verdicts = check(_program("zpipes", "exit-early"), cases)
    assert verdicts[0].problem is None
    assert all(v.problem == "the decoder program exited" for v in verdicts[1:])


def test_silent_decoder_times_out() -> None:
    silent = shlex.join([sys.executable, "-c", "import sys; sys.stdin.read()"])
    verdicts = check(silent, message_cases(VECTORS, "zrelog")[:3], timeout=0.3)
    assert [v.problem for v in verdicts] == ["no answer within 0.3 s"] * 3


def _case(result: str, **rest: Any) -> dict[str, Any]:
    return {"id": "x", "result": result, **rest}


def test_line_protocol() -> None:
    assert case_line({"frames": ["aaa1", "", "00"]}) == "aaa1 - 00"
    assert case_line({"frames": []}) == ""
    assert case_line({"hex": ""}) == "-"
    assert case_line({"hex": "5a52"}) == "5a52"


def test_judge() -> None:
    err = {"error": "truncated", "field": "id", "frame": 0, "offset": 2}
    invalid = _case("invalid", error=err)
    assert judge(invalid, "error truncated") is None
    assert judge(invalid, "error truncated id 0 2") is None
    assert judge(invalid, "error truncated id 0 3") == ("error truncated id 0 3, expected "
                                                        "truncated id 0 2")
    assert judge(invalid, "error bad-signature") == "error bad-signature, expected truncated"
    assert judge(invalid, "ok") == "accepted, expected truncated"
    assert judge(invalid, "error truncated id") is not None
    valid = _case("valid", fields={"type": "PING"})
    assert judge(valid, "ok") is None
    assert judge(valid, 'ok {"type": "PING"}') is None
    assert judge(valid, 'ok {"type": "PONG"}') is not None
    assert judge(valid, "ok {") is not None
    assert judge(valid, "error truncated") is not None
    assert judge(valid, "yes") is not None
    beacon = _case("invalid", error={"error": "bad-beacon-size", "field": "end", "offset": 22})
    assert judge(beacon, "error bad-beacon-size end - 22") is None
    both = _case("acceptable", fields={"a": 1}, error={"error": "bad-value", "field": "a",
                                                        "frame": 0, "offset": 3})
    assert judge(both, 'ok {"a": 1}') is None
    assert judge(both, "error bad-value a 0 3") is None
    assert judge(both, "error truncated") is not None
