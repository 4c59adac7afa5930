"""ZPIPES codec: the four decoder shapes (design.md §6) over vectors/zpipes/ and Hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.shapes import check_whole_prefixes_trailing, decodes_or_raises
from zre_ref.codec import CHUNK, LONGSTR, STRING, FieldType, Protocol, _Uint
from zre_ref.errors import DecodeError
from zre_ref.zpipes import messages as m

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zpipes"


def load_cases(directory: Path) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        cases.extend(json.loads(path.read_text(encoding="utf-8"))["cases"])
    return cases


def message_cases(directory: Path, result: str) -> list[dict[str, Any]]:
    return [c for c in load_cases(directory)
            if c.get("kind", "message") == "message" and c["result"] == result]


def check_vector(proto: Protocol, case: dict[str, Any]) -> None:
    """Shape 1: a valid or acceptable case decodes to its fields and re-encodes to its bytes;
    an invalid case raises exactly the named error at the named place."""
    frames = [bytes.fromhex(h) for h in case["frames"]]
    if case["result"] == "invalid":
        with pytest.raises(DecodeError) as info:
            proto.decode(frames)
        want = case["error"]
        got = info.value
        assert (got.code, got.field, got.offset, got.frame) == (
            want["error"], want["field"], want["offset"], want.get("frame", 0))
        return
    msg = proto.decode(frames)
    assert proto.to_json(msg) == case["fields"]
    assert proto.encode(proto.from_json(case["fields"])) == frames


# -- generic Hypothesis strategies from a Protocol's declarations (shape 4) -------------------
def _utf8_max(n: int) -> st.SearchStrategy[str]:
    return st.text(max_size=n).filter(lambda s: len(s.encode("utf-8")) <= n)


def field_strategy(kind: FieldType[Any]) -> st.SearchStrategy[Any]:
    if isinstance(kind, _Uint):
        return st.integers(0, kind.max)
    if kind is STRING:
        return _utf8_max(255)
    if kind is LONGSTR:
        return st.text(max_size=64)
    if kind is CHUNK:
        return st.binary(max_size=512)
    raise NotImplementedError(kind)


def messages_of(proto: Protocol) -> st.SearchStrategy[Any]:
    options = []
    for ms in proto.by_id.values():
        kwargs = {f.name: field_strategy(f.kind) for f in ms.fields}
        options.append(st.builds(ms.cls, **kwargs))
    return st.one_of(options)


def frames_near(proto: Protocol) -> st.SearchStrategy[list[bytes]]:
    """Arbitrary bytes, and arbitrary bytes after a right signature and a real id."""
    ids = sorted(proto.by_id)
    near = st.builds(lambda i, rest: proto.signature_bytes + bytes((i,)) + rest,
                     st.sampled_from(ids), st.binary(max_size=64))
    return st.lists(st.one_of(st.binary(max_size=64), near), min_size=0, max_size=3)


# -- the tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", load_cases(VECTORS), ids=lambda c: c["id"])
def test_vector(case: dict[str, Any]) -> None:
    if case.get("kind") == "function":
        assert case["id"] == "zpipes.ids.zbroker-order"
        assert {ms.name: ms.id for ms in m.ZPIPES.by_id.values()} == case["output"]
        return
    check_vector(m.ZPIPES, case)


def test_every_message_has_a_valid_vector() -> None:
    named = {c["fields"]["type"] for c in message_cases(VECTORS, "valid")}
    assert named == set(m.ZPIPES.by_name)
    assert len(m.ZPIPES.by_id) == 21 and sorted(m.ZPIPES.by_id) == list(range(1, 22))


@pytest.mark.parametrize("case", message_cases(VECTORS, "valid"), ids=lambda c: c["id"])
def test_whole_prefixes_trailing(case: dict[str, Any]) -> None:
    frames = [bytes.fromhex(h) for h in case["frames"]]
    check_whole_prefixes_trailing(m.decode, frames, m.ZPIPES.from_json(case["fields"]))


@settings(max_examples=200, deadline=None)
@given(frames_near(m.ZPIPES))
def test_arbitrary_bytes_value_or_decode_error(frames: list[bytes]) -> None:
    got = decodes_or_raises(m.decode, frames)
    if not isinstance(got, DecodeError):
        assert m.encode(got) == frames  # anything accepted is canonical


@settings(max_examples=200, deadline=None)
@given(messages_of(m.ZPIPES))
def test_round_trip(msg: m.ZpipesMessage) -> None:
    assert m.decode(m.encode(msg)) == msg
    assert m.ZPIPES.from_json(json.loads(json.dumps(m.ZPIPES.to_json(msg)))) == msg


def test_cli_decode_encode(capsys: pytest.CaptureFixture[str]) -> None:
    from zre_ref.cli import main

    assert main(["encode", "--protocol", "zpipes", '{"type": "READ", "size": 5, "timeout": 0}']) == 0
    hexframe = capsys.readouterr().out.strip()
    assert hexframe == "aaa0070000000500000000"
    assert main(["decode", "--protocol", "zpipes", hexframe]) == 0
    assert json.loads(capsys.readouterr().out) == {"type": "READ", "size": 5, "timeout": 0}
    assert main(["decode", "--protocol", "zpipes", "aaa016"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "unknown-id"


def test_vectors_match_generator() -> None:
    import importlib.util

    path = VECTORS.parent / "gen_zpipes.py"
    spec = importlib.util.spec_from_file_location("gen_zpipes", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for rel, doc in mod.files().items():
        assert json.loads((VECTORS.parent / rel).read_text(encoding="utf-8")) == doc, rel


def test_spec_table_matches_declarations() -> None:
    spec = (VECTORS.parent.parent / "spec" / "zpipes.md").read_text(encoding="utf-8")
    assert m.ZPIPES.table_markdown() in spec
