"""ZMTP greeting, frame and command codecs: golden vectors and whole, byte by byte, with trailing bytes, arbitrary bytes and round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.shapes import check_whole_prefixes_trailing, decodes_or_raises
from zre_ref.cli import main as cli_main
from zre_ref.errors import DecodeError, EncodeError
from zre_ref.zmtp import commands as C
from zre_ref.zmtp.connection import Connection, ConnectionClosed, MessageReceived
from zre_ref.zmtp.frames import decode_stream, encode_frame, encode_message
from zre_ref.zmtp.greeting import Greeting, decode_greeting, encode_greeting, greeting_stages
from zre_ref.zmtp.jsonform import (
    decode_frames_json,
    decode_greeting_json,
    encode_frames_json,
    encode_greeting_json,
)
from zre_ref.zmtp.mechanisms import PlainClient, PlainServer

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zmtp"


def _load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


GREETINGS = _load("greeting.json")
FRAMES = _load("frames.json")
TRANSCRIPTS = _load("handshake.json")
CODECS = {"greeting.json": (decode_greeting_json, encode_greeting_json),
          "frames.json": (decode_frames_json, encode_frames_json)}


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


# -- 1. golden vectors --------------------------------------------------------------------------
@pytest.mark.parametrize(("file", "case"), [("greeting.json", c) for c in GREETINGS]
                         + [("frames.json", c) for c in FRAMES],
                         ids=_ids(GREETINGS) + _ids(FRAMES))
def test_golden(file: str, case: dict[str, Any]) -> None:
    decode, encode = CODECS[file]
    data = bytes.fromhex(case["hex"])
    if case["result"] == "invalid":
        with pytest.raises(DecodeError) as info:
            decode([data])
        err = info.value
        assert {"error": err.code, "field": err.field, "offset": err.offset} == case["error"]
        return
    assert decode([data]) == case["fields"]
    if case["result"] == "valid":
        assert encode(case["fields"]) == [data]


def test_vector_ids_unique_and_sources() -> None:
    ids = _ids(GREETINGS) + _ids(FRAMES) + _ids(TRANSCRIPTS)
    assert len(ids) == len(set(ids))
    captured = [c for c in GREETINGS + FRAMES + TRANSCRIPTS
                if "libzmq 4.3.5 (captured)" in c["source"]]
    assert len(captured) >= 10


# -- 2. whole / prefixes / trailing; and byte at a time through the stream parser ---------------
@pytest.mark.parametrize("case", [c for c in GREETINGS if c["result"] == "valid"],
                         ids=_ids([c for c in GREETINGS if c["result"] == "valid"]))
def test_greeting_prefixes_and_trailing(case: dict[str, Any]) -> None:
    check_whole_prefixes_trailing(decode_greeting_json, [bytes.fromhex(case["hex"])],
                                  case["fields"])


SINGLE_FRAMES = [c for c in FRAMES if c["result"] == "valid" and len(c["fields"]["frames"]) == 1]


@pytest.mark.parametrize("case", SINGLE_FRAMES, ids=_ids(SINGLE_FRAMES))
def test_frame_prefixes_and_trailing(case: dict[str, Any]) -> None:
    check_whole_prefixes_trailing(decode_frames_json, [bytes.fromhex(case["hex"])],
                                  case["fields"])


def _open_pair(client_type: str = "DEALER", server_type: str = "ROUTER") -> tuple[Connection, Connection]:
    a, b = Connection(client_type), Connection(server_type)
    for _ in range(6):
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if data:
                dst.receive_data(data)
    assert a.is_open and b.is_open
    return a, b


MESSAGE_STREAMS = [c for c in FRAMES if c["result"] == "valid"
                   and all(f["kind"] == "message" for f in c["fields"]["frames"])]


@pytest.mark.parametrize("case", MESSAGE_STREAMS, ids=_ids(MESSAGE_STREAMS))
def test_stream_byte_at_a_time(case: dict[str, Any]) -> None:
    """The connection parser gives the same events fed whole or one byte at a time."""
    data = bytes.fromhex(case["hex"])
    _, whole = _open_pair()
    _, split = _open_pair()
    want = whole.receive_data(data)
    got = []
    for i in range(len(data)):
        got += split.receive_data(data[i : i + 1])
    assert got == want
    assert [ev.frames for ev in want if isinstance(ev, MessageReceived)] == [
        [bytes.fromhex(f["body"]) for f in case["fields"]["frames"]]]


@pytest.mark.parametrize("case", [c for c in FRAMES if c["result"] == "invalid"],
                         ids=_ids([c for c in FRAMES if c["result"] == "invalid"]))
def test_invalid_stream_closes_connection(case: dict[str, Any]) -> None:
    """Invalid frames close a live connection; fed byte by byte, with the same error."""
    data = bytes.fromhex(case["hex"])
    _, b = _open_pair()
    events: list[Any] = []
    for i in range(len(data)):
        events += b.receive_data(data[i : i + 1])
    if case["error"]["error"] in ("truncated", "length-overflow") and case["error"]["field"] in (
            "size", "body") and not events:
        # an incomplete frame is only an error at EOF (or at a limit) on a stream
        events = b.receive_data(b"")
    assert isinstance(events[-1], ConnectionClosed)
    assert b.closed


# -- 3. arbitrary bytes: a value or DecodeError --------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_greeting_arbitrary(data: bytes) -> None:
    decodes_or_raises(decode_greeting_json, [data])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_frames_arbitrary(data: bytes) -> None:
    decodes_or_raises(decode_frames_json, [data])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100))
def test_command_arbitrary(data: bytes) -> None:
    try:
        C.decode_command(data)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(data)


# -- 4. round trips ---------------------------------------------------------------------------------
names = st.from_regex(r"[A-Za-z0-9\-_.+]{1,20}", fullmatch=True)
props = st.dictionaries(names, st.binary(max_size=40), max_size=4)
short = st.binary(max_size=255)
commands = st.one_of(
    st.builds(C.Ready, props), st.builds(C.Initiate, props), st.builds(C.Error, short),
    st.builds(C.Hello, short, short), st.just(C.Welcome()),
    st.builds(C.Ping, st.integers(0, 0xFFFF), st.binary(max_size=16)),
    st.builds(C.Pong, st.binary(max_size=16)), st.builds(C.Subscribe, st.binary(max_size=300)),
    st.builds(C.Cancel, st.binary(max_size=300)),
    st.builds(C.UnknownCommand, st.from_regex(rb"X-[A-Z]{1,10}", fullmatch=True), st.binary(max_size=20)),
)


@settings(max_examples=200, deadline=None)
@given(commands)
def test_command_round_trip(cmd: C.Command) -> None:
    body = C.encode_command(cmd)
    assert C.decode_command(body) == cmd
    stream = encode_frame(body, command=True)
    fields = decode_frames_json([stream])
    assert encode_frames_json(fields) == [stream]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=600), min_size=1, max_size=5))
def test_message_round_trip(frames: list[bytes]) -> None:
    stream = encode_message(frames)
    assert [f.body for f in decode_stream(stream)] == frames
    assert encode_frames_json(decode_frames_json([stream])) == [stream]


@settings(max_examples=100, deadline=None)
@given(st.integers(3, 255), st.integers(0, 255), st.sampled_from(["NULL", "PLAIN", "CURVE"]),
       st.booleans(), st.binary(min_size=8, max_size=8))
def test_greeting_round_trip(major: int, minor: int, mech: str, server: bool, pad: bytes) -> None:
    g = Greeting(major, minor, mech, server, pad)
    assert decode_greeting(encode_greeting(g)) == g


def test_greeting_stages_make_the_greeting() -> None:
    sig, major, rest = greeting_stages("PLAIN", as_server=True, identity_length=17)
    assert (len(sig), len(major), len(rest)) == (10, 1, 53)
    assert sig == bytes.fromhex("ff00000000000000127f")  # libzmq's padding (spec/zmtp.md#greeting)
    g = decode_greeting(sig + major + rest)
    assert (g.mechanism, g.as_server, g.version) == ("PLAIN", True, (3, 1))


def test_encoder_limits() -> None:
    with pytest.raises(EncodeError):
        C.encode_command(C.Ping(0, b"x" * 17))
    with pytest.raises(EncodeError):
        C.encode_command(C.Ready({"bad name": b""}))
    with pytest.raises(EncodeError):
        encode_message([])
    with pytest.raises(ValueError):
        PlainClient(b"u" * 256, b"")
    assert PlainServer(lambda u, p: True).as_server


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["decode", "--protocol", "zmtp-frame", "04070450494e470019"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"][0] == {"kind": "command", "long": False, "size": 7, "name": "PING",
                                "ttl": 25, "context": ""}
    assert cli_main(["decode", "--protocol", "zmtp-greeting", "ff00000000000000017f"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert (err["error"], err["field"], err["offset"]) == ("truncated", "major", 10)


def test_spec_names_existing_vectors() -> None:
    import re

    text = (Path(__file__).resolve().parent.parent / "spec" / "zmtp.md").read_text()
    named = set(re.findall(r"`(zmtp\.[a-z0-9.-]+[a-z0-9])`", text))
    known = set(_ids(GREETINGS) + _ids(FRAMES) + _ids(TRANSCRIPTS))
    assert named and named <= known, named - known
