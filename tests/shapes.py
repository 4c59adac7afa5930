"""The four decoder test shapes, shared by every protocol's tests (spec/README.md#errors):

1. golden vectors (per protocol), 2. whole / every prefix / trailing bytes, 3. arbitrary bytes give a
value or DecodeError only, 4. encode/decode round trip (Hypothesis strategies in zre_ref.testing
for ZRE; generic ones from any Protocol's declarations below).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from zre_ref.codec import CHUNK, LONGSTR, STRING, U8, U16, U32, U64, FieldType, Protocol
from zre_ref.errors import DecodeError

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "vectors"

FramesDecoder = Callable[[Sequence[bytes]], Any]


def check_whole_prefixes_trailing(
    decode: FramesDecoder, frames: Sequence[bytes], want: Any, *, trailing_allowed: bool = False
) -> None:
    """Whole input decodes to ``want``; every shorter data frame raises DecodeError (it is never
    silently accepted as something else); one extra byte raises unless ``trailing_allowed``."""
    assert decode(list(frames)) == want
    data, rest = frames[0], list(frames[1:])
    for cut in range(len(data)):
        try:
            got = decode([data[:cut], *rest])
        except DecodeError as exc:
            assert exc.offset <= cut, (cut, exc)
        else:
            raise AssertionError(f"prefix of {cut} bytes decoded as {got!r}")
    if trailing_allowed:
        return
    try:
        got = decode([data + b"\x00", *rest])
    except DecodeError:
        return
    raise AssertionError(f"trailing byte accepted: {got!r}")


def decodes_or_raises(decode: FramesDecoder, frames: Sequence[bytes]) -> Any:
    """Shape 3: a value or DecodeError; anything else propagates and fails the test."""
    try:
        return decode(list(frames))
    except DecodeError as exc:
        assert exc.offset >= 0 and exc.field and exc.protocol
        return exc


# -- shape 1: golden vectors of a zproto-style protocol (one frame per message) ----------------
def load_cases(directory: Path) -> list[dict[str, Any]]:
    """Every case of every vector file in ``directory``, in file order."""
    cases: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        cases.extend(json.loads(path.read_text(encoding="utf-8"))["cases"])
    return cases


def message_cases(directory: Path, result: str) -> list[dict[str, Any]]:
    """The message cases (not function tables) of ``directory`` with this ``result``."""
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


def check_case_prefixes(proto: Protocol, case: dict[str, Any]) -> None:
    """Shape 2 on a valid vector case: whole, every prefix, one trailing byte."""
    frames = [bytes.fromhex(h) for h in case["frames"]]
    check_whole_prefixes_trailing(proto.decode, frames, proto.from_json(case["fields"]))


def check_canonical_or_error(proto: Protocol, frames: Sequence[bytes]) -> None:
    """Shape 3: a value or DecodeError; a value accepted is canonical (re-encodes to ``frames``)."""
    got = decodes_or_raises(proto.decode, frames)
    if not isinstance(got, DecodeError):
        assert proto.encode(got) == list(frames)


def check_round_trip(proto: Protocol, msg: Any) -> None:
    """Shape 4: ``msg`` survives encode/decode and to_json/JSON text/from_json."""
    assert proto.decode(proto.encode(msg)) == msg
    assert proto.from_json(json.loads(json.dumps(proto.to_json(msg)))) == msg


def check_generator_matches(family: str) -> None:
    """vectors/gen_<family>.py (loaded by path, as vectors/generate.py does) still produces the
    committed files of its family."""
    spec = importlib.util.spec_from_file_location(f"gen_{family}", VECTORS / f"gen_{family}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for rel, doc in mod.files().items():
        assert json.loads((VECTORS / rel).read_text(encoding="utf-8")) == doc, rel


def check_spec_table(proto: Protocol, spec_file: str) -> None:
    """The message table in spec/<spec_file> is the one generated from the declarations."""
    assert proto.table_markdown() in (ROOT / "spec" / spec_file).read_text(encoding="utf-8")


# -- shape 4: generic Hypothesis strategies from a Protocol's declarations ----------------------
def _utf8_max(n: int) -> st.SearchStrategy[str]:
    return st.text(max_size=n).filter(lambda s: len(s.encode("utf-8")) <= n)


def field_strategy(kind: FieldType[Any]) -> st.SearchStrategy[Any]:
    """Values that fit a field of this wire type (u8..u64, string, longstr, chunk)."""
    for uint, size in ((U8, 1), (U16, 2), (U32, 4), (U64, 8)):
        if kind is uint:
            return st.integers(0, (1 << (8 * size)) - 1)
    if kind is STRING:
        return _utf8_max(255)
    if kind is LONGSTR:
        return st.text(max_size=64)
    if kind is CHUNK:
        return st.binary(max_size=512)
    raise NotImplementedError(kind)


def messages_of(proto: Protocol) -> st.SearchStrategy[Any]:
    """Any message ``proto`` declares, with fields drawn by :func:`field_strategy`."""
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
