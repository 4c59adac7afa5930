"""`zre-ref decode/encode --protocol zre|beacon` (spec/zre.md#cli), through zre_ref.cli.main."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zre_ref.cli import main

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "zre"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.parametrize("name", ["messages.json", "beacon.json"])
def test_decode_and_encode_every_valid_vector(capsys: pytest.CaptureFixture[str],
                                              name: str) -> None:
    for case in _cases(name):
        if case["result"] != "valid":
            continue
        protocol = "beacon" if name == "beacon.json" else "zre"
        frames = case.get("frames") or [case["hex"]]
        code, out = _run(capsys, "decode", "--protocol", protocol, *frames)
        assert code == 0, (case["id"], out)
        assert json.loads(out) == case["fields"]
        code, out = _run(capsys, "encode", "--protocol", protocol, json.dumps(case["fields"]))
        assert code == 0, (case["id"], out)
        assert out.splitlines() == frames


@pytest.mark.parametrize("name", ["invalid.json", "beacon.json"])
def test_decode_invalid_vectors_exit_1(capsys: pytest.CaptureFixture[str], name: str) -> None:
    for case in _cases(name):
        if case["result"] == "valid" or not (case.get("frames") or case.get("hex")):
            continue
        protocol = "beacon" if name == "beacon.json" else "zre"
        frames = case.get("frames") or [case["hex"]]
        code, out = _run(capsys, "decode", "--protocol", protocol, *frames)
        assert code == 1, case["id"]
        got = json.loads(out)
        assert {k: got[k] for k in ("error", "field", "offset")} == {
            k: case["error"][k] for k in ("error", "field", "offset")}, case["id"]


def test_decode_accepts_wireshark_style_hex(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "decode", "--protocol", "zre", "AA:A1:06:02:00:03")
    assert code == 0 and json.loads(out) == {"type": "PING", "version": 2, "sequence": 3}
    code, out = _run(capsys, "decode", "--protocol", "beacon",
                     "5A 52 45 01 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F C0 01")
    assert code == 0 and json.loads(out)["port"] == 49153


def test_decode_with_router_identity(capsys: pytest.CaptureFixture[str]) -> None:
    ident = "01" + "00112233445566778899aabbccddeeff"
    code, out = _run(capsys, "decode", "--protocol", "zre", ident, "aaa102020002", "706f6e67")
    assert code == 0
    got = json.loads(out)
    assert got == {"identity": ident, "type": "WHISPER", "version": 2, "sequence": 2,
                   "content": ["706f6e67"]}
    code, out = _run(capsys, "encode", "--protocol", "zre", json.dumps(got))
    assert code == 0 and out.splitlines() == [ident, "aaa102020002", "706f6e67"]


def test_encode_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "encode", "--protocol", "zre", '{"type": "PING", "sequence": 70000}')
    assert code == 1 and json.loads(out)["error"] == "encode"
    code, out = _run(capsys, "encode", "--protocol", "zre",
                     '{"identity": "0102", "type": "PING", "sequence": 1}')
    assert code == 1 and "identity" in json.loads(out)["reason"]
    code, out = _run(capsys, "encode", "--protocol", "beacon", '{"uuid": "00", "port": 1}')
    assert code == 1 and json.loads(out)["error"] == "encode"
    code, out = _run(capsys, "decode", "--protocol", "beacon", "5a5245", "00")
    assert code == 1 and json.loads(out)["error"] == "frame-count"


def test_bad_hex_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--protocol", "zre", "zz"]) == 2
