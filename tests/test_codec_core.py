"""The codec core: cursor Reader/Writer and the message-declaration machinery (spec/README.md#codec-core)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.codec import (
    CHUNK,
    FRAMES,
    HASH,
    LONGSTR,
    STRING,
    STRINGS,
    U8,
    U16,
    U32,
    U64,
    Octets,
    Protocol,
    wire,
)
from zre_ref.errors import (
    DECODE_ERRORS,
    BadSignature,
    BadVersion,
    DecodeError,
    EncodeError,
    FrameCount,
    InvalidUtf8,
    LengthOverflow,
    TrailingBytes,
    Truncated,
    UnknownId,
)
from zre_ref.wire import Reader, Writer

from .shapes import check_whole_prefixes_trailing, decodes_or_raises

# A toy protocol that uses every field type once, so the machinery is tested apart from any real one.
TOY = Protocol("toy", signature=0xAAA7, version=5, spec="spec/README.md#codec-core")


@TOY.message(1, "ALL", anchor="toy#all")
@dataclass(frozen=True, slots=True, kw_only=True)
class All:
    """Every field type."""

    a: int = wire(U8)
    b: int = wire(U16)
    c: int = wire(U32)
    d: int = wire(U64)
    s: str = wire(STRING)
    ls: str = wire(LONGSTR)
    ss: tuple[str, ...] = wire(STRINGS)
    h: dict[str, str] = wire(HASH)
    ch: bytes = wire(CHUNK)
    o: bytes = wire(Octets(3), default=b"xyz")
    rest: tuple[bytes, ...] = wire(FRAMES)


@TOY.message(2, "EMPTY", anchor="toy#empty")
@dataclass(frozen=True, slots=True, kw_only=True)
class Empty:
    """No fields."""


SAMPLE = All(a=1, b=2, c=3, d=4, s="é", ls="long", ss=("x", ""), h={"k": "v"}, ch=b"\x00\x01",
             o=b"abc", rest=(b"", b"f"))
SAMPLE_FRAMES = [
    bytes.fromhex(
        "aaa7" "01" "05" "01" "0002" "00000003" "0000000000000004" "02c3a9" "000000046c6f6e67"
        "00000002" "0000000178" "00000000" "00000001" "016b" "0000000176" "000000020001" "616263"),
    b"",
    b"f",
]


def test_encode_matches_hand_written_bytes() -> None:
    assert TOY.encode(SAMPLE) == SAMPLE_FRAMES
    assert TOY.decode(SAMPLE_FRAMES) == SAMPLE


def test_every_prefix_fails_and_trailing_fails() -> None:
    check_whole_prefixes_trailing(TOY.decode, SAMPLE_FRAMES, SAMPLE)


@pytest.mark.parametrize(
    ("frames", "cls", "field", "offset"),
    [
        ([b""], Truncated, "signature", 0),
        ([b"\xaa\xa1\x01"], BadSignature, "signature", 0),
        ([b"\xaa\xa7\x09\x05"], UnknownId, "id", 2),
        ([b"\xaa\xa7\x02\x04"], BadVersion, "version", 3),
        ([b"\xaa\xa7\x02"], Truncated, "version", 3),
        ([b"\xaa\xa7\x02\x05\x00"], TrailingBytes, "end", 4),
        ([b"\xaa\xa7\x02\x05", b"x"], FrameCount, "frames", 0),
        ([], FrameCount, "frames", 0),
    ],
)
def test_header_errors(frames: list[bytes], cls: type[DecodeError], field: str, offset: int) -> None:
    with pytest.raises(cls) as info:
        TOY.decode(frames)
    assert type(info.value) is cls
    assert (info.value.field, info.value.offset) == (field, offset)
    assert info.value.protocol == "toy"
    assert DECODE_ERRORS[cls.code] is cls


def test_lax_mode_accepts_trailing_bytes_and_frames() -> None:
    assert TOY.decode([b"\xaa\xa7\x02\x05\x00", b"x"], strict=False) == Empty()


def test_reader_pull_errors_carry_offset_and_field() -> None:
    r = Reader(b"\x00\x05ab", protocol="p", spec_anchor="x#y", frame=2)
    assert r.pull_u8("one") == 0
    with pytest.raises(LengthOverflow) as info:
        r.pull_string("name")
    assert (info.value.field, info.value.offset, info.value.frame, info.value.spec_anchor) == (
        "name", 1, 2, "x#y")
    r = Reader(b"\x00\x00\x00\x02\xff\xfe", protocol="p")
    with pytest.raises(InvalidUtf8) as info2:
        r.pull_longstr("text")
    assert info2.value.offset == 0
    with pytest.raises(Truncated):
        Reader(b"\x01\x02\x03", protocol="p").pull_u32("n")


def test_huge_count_is_refused_before_allocation() -> None:
    # 2^32-1 strings declared in 4 bytes: refused by the count check, not by running out later
    data = b"\xaa\xa7\x01\x05" + bytes(15) + b"\x00" + b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff"
    with pytest.raises(LengthOverflow) as info:
        TOY.decode([data])
    assert info.value.field == "ss"


@pytest.mark.parametrize(
    "bad",
    [
        {"a": 256}, {"b": -1}, {"d": 1 << 64}, {"a": True}, {"s": "x" * 256}, {"s": "é" * 128},
        {"ss": "abc"}, {"h": {"k" * 256: "v"}}, {"ch": "not bytes"}, {"o": b"ab"}, {"rest": [1]},
        {"s": "\ud800"},
    ],
)
def test_encode_refuses_bad_values(bad: dict[str, object]) -> None:
    base = dict(a=0, b=0, c=0, d=0, s="", ls="", ss=(), h={}, ch=b"", o=b"abc", rest=())
    base.update(bad)
    with pytest.raises(EncodeError):
        TOY.encode(All(**base))  # type: ignore[arg-type]


def test_255_byte_string_fits() -> None:
    msg = All(s="é" * 127 + "x")
    assert TOY.decode(TOY.encode(msg)) == msg


def test_json_round_trip_and_errors() -> None:
    obj = TOY.to_json(SAMPLE)
    assert obj["type"] == "ALL" and obj["version"] == 5 and obj["rest"] == ["", "66"]
    assert obj["ch"] == "0001" and obj["ss"] == ["x", ""]
    assert TOY.from_json(obj) == SAMPLE
    for bad in ({"type": "NOPE"}, {"type": "ALL", "zzz": 1}, {"type": "ALL", "version": 4},
                {"type": "ALL", "ch": "zz"}, [], {"type": "ALL", "rest": "00"}):
        with pytest.raises(EncodeError):
            TOY.from_json(bad)  # type: ignore[arg-type]


def test_declaration_mistakes_are_caught() -> None:
    p = Protocol("p", signature=0xAAA9, spec="x")

    @dataclass(frozen=True)
    class NoWire:
        x: int = 0

    with pytest.raises(TypeError):
        p.message(1, "A", anchor="a")(NoWire)

    @dataclass(frozen=True)
    class FramesFirst:
        f: tuple[bytes, ...] = wire(FRAMES)
        x: int = wire(U8)

    with pytest.raises(TypeError):
        p.message(2, "B", anchor="b")(FramesFirst)

    p.message(3, "C", anchor="c")(dataclass(frozen=True)(type("C", (), {})))
    with pytest.raises(ValueError):
        p.message(3, "D", anchor="d")(dataclass(frozen=True)(type("D", (), {})))
    with pytest.raises(EncodeError):
        p.encode(object())


def test_table_lists_every_field() -> None:
    table = TOY.table_markdown()
    for name in ("a", "b", "ss", "h", "ch", "rest"):
        assert f"| {name} |" in table
    assert "| 2 | EMPTY | — | — | No fields. |" in table


def test_writer_rejects_out_of_range() -> None:
    w = Writer()
    for call in (lambda: w.push_u8(256), lambda: w.push_u16(-1), lambda: w.push_u32(1 << 32),
                 lambda: w.push_string_bytes(bytes(256))):
        with pytest.raises(EncodeError):
            call()


all_messages = st.builds(
    All,
    a=st.integers(0, 255), b=st.integers(0, 0xFFFF), c=st.integers(0, 0xFFFF_FFFF),
    d=st.integers(0, (1 << 64) - 1),
    s=st.text(max_size=60), ls=st.text(max_size=300), ss=st.lists(st.text(max_size=20), max_size=5).map(tuple),
    h=st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5),
    ch=st.binary(max_size=300), o=st.binary(min_size=3, max_size=3),
    rest=st.lists(st.binary(max_size=20), max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(all_messages)
def test_round_trip(msg: All) -> None:
    frames = TOY.encode(msg)
    assert TOY.decode(frames) == msg
    assert TOY.from_json(TOY.to_json(msg)) == msg


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=0, max_size=3))
def test_arbitrary_frames_decode_or_raise_decode_error(frames: list[bytes]) -> None:
    decodes_or_raises(TOY.decode, frames)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_after_a_valid_header(tail: bytes) -> None:
    result = decodes_or_raises(TOY.decode, [b"\xaa\xa7\x01\x05" + tail])
    if not isinstance(result, DecodeError):
        assert TOY.encode(result)[0] == b"\xaa\xa7\x01\x05" + tail
