"""ZRE v2 message codec: vectors, whole / byte by byte / trailing bytes, arbitrary bytes and round trips for every message (spec/zre.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zre_ref import testing
from zre_ref.errors import DECODE_ERRORS, DecodeError, EncodeError
from zre_ref.zre.messages import (
    IDENTITY_SIZE,
    ZRE,
    BadIdentity,
    Elect,
    Goodbye,
    Hello,
    Join,
    Leader,
    Leave,
    Ping,
    PingOk,
    Shout,
    Whisper,
    ZreMessage,
    decode,
    decode_identity,
    decode_routed,
    encode,
    encode_identity,
    next_sequence,
    next_status,
)

from .shapes import check_whole_prefixes_trailing, decodes_or_raises

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "vectors" / "zre"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def _frames(case: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(h) for h in case["frames"]]


MESSAGES = _cases("messages.json")
INVALID = _cases("invalid.json")
SESSION = _cases("session.json")


# -- shape 1: golden vectors -------------------------------------------------------------------
@pytest.mark.parametrize("case", MESSAGES, ids=[c["id"] for c in MESSAGES])
def test_valid_vector_decodes_and_encodes(case: dict[str, Any]) -> None:
    frames = _frames(case)
    msg = decode(frames)
    assert ZRE.to_json(msg) == case["fields"]
    assert encode(ZRE.from_json(case["fields"])) == frames
    # shape 2: whole, every prefix of the data frame, and one trailing byte
    check_whole_prefixes_trailing(decode, frames, msg)


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_vector_raises_its_error(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        decode(_frames(case))
    want = case["error"]
    exc = info.value
    assert type(exc) is DECODE_ERRORS[want["error"]]
    assert (exc.code, exc.field, exc.frame, exc.offset) == (
        want["error"], want["field"], want["frame"], want["offset"])
    assert exc.spec_anchor.startswith("spec/zre.md#")


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_lenient_flag_matches_non_strict_decoding(case: dict[str, Any]) -> None:
    """Exactly the trailing-bytes/extra-frame vectors decode when ``strict=False``."""
    lenient = "lenient-decoders-accept" in case.get("flags", [])
    assert lenient == (case["error"]["error"] in ("trailing-bytes", "frame-count")
                       and case["frames"] != [])
    if lenient:
        assert isinstance(decode(_frames(case), strict=False), ZreMessage)


def test_vectors_cover_every_type_and_edge() -> None:
    types = {c["fields"]["type"] for c in MESSAGES}
    assert types == set(ZRE.by_name)
    seqs = {c["fields"]["sequence"] for c in MESSAGES}
    assert {0, 1, 65535} <= seqs
    statuses = {c["fields"]["status"] for c in MESSAGES if "status" in c["fields"]}
    assert {0, 255} <= statuses
    contents = [c["fields"]["content"] for c in MESSAGES if "content" in c["fields"]]
    assert [] in contents and [""] in contents and any(len(x) >= 3 for x in contents)
    strings = [v for c in MESSAGES for k, v in c["fields"].items() if isinstance(v, str)
               and k not in ("type",)]
    assert "" in strings and any(len(s.encode()) == 255 for s in strings)
    assert any(not s.isascii() for s in strings)
    assert any(len(c["fields"].get("groups", [])) >= 10 for c in MESSAGES)
    assert any(len(c["fields"].get("headers", {})) >= 10 for c in MESSAGES)
    captured = {c["id"] for c in MESSAGES if any("zyre" in s for s in c["source"])}
    assert captured >= {"zre.hello.zyre-captured", "zre.whisper.zyre-captured",
                        "zre.ping.zyre-captured", "zre.goodbye.zyre-captured"}
    codes = {c["error"]["error"] for c in INVALID}
    assert codes == {"bad-signature", "unknown-id", "bad-version", "truncated", "length-overflow",
                     "invalid-utf8", "trailing-bytes", "frame-count"}
    for code in codes:  # several offsets per error class
        assert len({c["error"]["offset"] for c in INVALID if c["error"]["error"] == code}) >= 1
    assert len({c["error"]["offset"] for c in INVALID if c["error"]["error"] == "truncated"}) >= 8


def test_captured_zyre_bytes() -> None:
    """The zyre HELLO captured in spec/deviations.md#evidence, field by field."""
    hello = decode([bytes.fromhex(next(c for c in MESSAGES
                                       if c["id"] == "zre.hello.zyre-captured")["frames"][0])])
    assert hello == Hello(sequence=1, endpoint="tcp://127.0.0.1:45001", groups=("GRP",),
                          status=1, name="zy", headers={"X-HELLO": "World"})
    assert encode(Whisper(sequence=2, content=(b"pong",))) == [bytes.fromhex("aaa102020002"),
                                                                b"pong"]
    assert encode(Ping(sequence=3)) == [bytes.fromhex("aaa106020003")]
    assert encode(Goodbye(sequence=5)) == [bytes.fromhex("aaa10a020005")]


def test_mixed_length_widths() -> None:
    """HELLO groups are longstr, group elsewhere is string; header key string, value longstr."""
    data = encode(Hello(sequence=1, groups=("g",), headers={"k": "v"}))[0]
    assert data == bytes.fromhex("aaa1010200 01 00 00000001 00000001 67 00 00 "
                                 "00000001 01 6b 00000001 76".replace(" ", ""))
    assert encode(Join(sequence=1, group="g", status=1))[0] == bytes.fromhex("aaa104020001016701")
    assert encode(Hello(sequence=1, groups=("g" * 300,)))  # fits a longstr
    with pytest.raises(EncodeError):
        encode(Join(sequence=1, group="g" * 256, status=1))


def test_non_ascii_length_counts_bytes() -> None:
    assert encode(Join(sequence=1, group="grü", status=1))[0][6:11] == b"\x04gr\xc3\xbc"
    with pytest.raises(EncodeError):
        encode(Join(sequence=1, group="ü" * 128, status=1))  # 256 bytes


def test_encode_refuses_out_of_range() -> None:
    with pytest.raises(EncodeError):
        encode(Ping(sequence=65536))
    with pytest.raises(EncodeError):
        encode(Join(sequence=1, group="g", status=256))
    with pytest.raises(EncodeError):
        encode(Whisper(sequence=1, content=("text",)))  # type: ignore[arg-type]


def test_sequence_and_status_wrap() -> None:
    assert [next_sequence(s) for s in (0, 1, 65534, 65535)] == [1, 2, 65535, 0]
    assert [next_status(s) for s in (0, 254, 255)] == [1, 255, 0]


def test_session_transcript_is_consistent() -> None:
    """Per-direction sequences count 1, 2, 3...; every step decodes to its fields."""
    from zre_ref.zre.beacon import beacon_to_json, decode_beacon

    for case in SESSION:
        last: dict[str, int] = {}
        for step in case["steps"]:
            if step["channel"] == "udp":
                assert beacon_to_json(decode_beacon(bytes.fromhex(step["hex"]))) == step["fields"]
                continue
            frames = [bytes.fromhex(h) for h in step["frames"]]
            _uuid, msg = decode_routed(frames)
            assert frames[0].hex() == step["identity"] and len(frames[0]) == IDENTITY_SIZE
            assert frames[1].hex() == step["hex"]
            assert ZRE.to_json(msg) == step["fields"]
            direction = step["from"] + ">" + step["to"]
            if direction in last:
                assert msg.sequence == next_sequence(last[direction])
            elif isinstance(msg, Hello):
                assert msg.sequence == 1
            last[direction] = msg.sequence
    two = next(c for c in SESSION if c["id"] == "zre.session.two-peers")
    kinds = [s["fields"].get("type", "beacon") for s in two["steps"]]
    for want in ("HELLO", "JOIN", "SHOUT", "WHISPER", "PING", "PING-OK", "LEAVE"):
        assert want in kinds
    assert two["steps"][-1]["fields"]["port"] == 0


def test_identity_helpers() -> None:
    uuid = bytes(range(16))
    ident = encode_identity(uuid)
    assert ident == b"\x01" + uuid and decode_identity(ident) == uuid
    assert decode_identity(b"\x00" + uuid) == uuid  # like zyre, byte 0 is not checked
    for bad in (b"", uuid, ident + b"\x00"):
        with pytest.raises(BadIdentity) as info:
            decode_identity(bad)
        assert info.value.code == "bad-identity" and info.value.field == "identity"
    with pytest.raises(EncodeError):
        encode_identity(b"short")
    assert decode_routed([ident, bytes.fromhex("aaa106020003")]) == (uuid, Ping(sequence=3))
    with pytest.raises(DecodeError):
        decode_routed([])


def test_spec_table_is_generated_from_declarations() -> None:
    text = (ROOT / "spec" / "zre.md").read_text("utf-8")
    table = ZRE.table_markdown()
    assert table in text
    # ...and is the only message table there (no hand-edited copy drifting beside it)
    assert text.count("| id | message | field | wire type | notes |") == 1


# -- shape 3: arbitrary bytes give a value or DecodeError --------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=0, max_size=4))
def test_arbitrary_frames_decode_or_raise(frames: list[bytes]) -> None:
    decodes_or_raises(decode, frames)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(testing.zre_frames(), st.data())
def test_mutated_frames_decode_or_raise(frames: list[bytes], data: st.DataObject) -> None:
    """Valid frames with one byte changed reach deeper into the decoder than random bytes."""
    first = bytearray(frames[0])
    i = data.draw(st.integers(0, len(first) - 1))
    first[i] = data.draw(st.integers(0, 255))
    got = decodes_or_raises(decode, [bytes(first), *frames[1:]])
    if not isinstance(got, DecodeError):
        assert decode(encode(got)) == got
        if not isinstance(got, Hello):  # a HELLO may now repeat a header key (last one wins)
            assert encode(got)[0] == bytes(first)


# -- shape 4: round trip -----------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(testing.zre_messages())
def test_round_trip(msg: ZreMessage) -> None:
    frames = encode(msg)
    assert decode(frames) == msg
    assert ZRE.from_json(json.loads(json.dumps(ZRE.to_json(msg)))) == msg


@pytest.mark.parametrize("factory", list(testing.BY_NAME.values()),
                         ids=list(testing.BY_NAME))
def test_each_strategy_draws_its_message(factory: Any) -> None:
    cls = {"HELLO": Hello, "WHISPER": Whisper, "SHOUT": Shout, "JOIN": Join, "LEAVE": Leave,
           "PING": Ping, "PING-OK": PingOk, "ELECT": Elect, "LEADER": Leader, "GOODBYE": Goodbye}

    @settings(max_examples=25, deadline=None)
    @given(factory())
    def check(msg: ZreMessage) -> None:
        assert cls[ZRE.spec_of(msg).name] is type(msg)
        check_whole_prefixes_trailing(decode, encode(msg), msg)

    check()
