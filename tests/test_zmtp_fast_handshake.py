"""The handshake's one-step paths agree with the readable ones for any bytes: a whole greeting
recognised at once (``known_greeting``) and a common READY decoded in one pass
(``common_ready``) give what the staged greeting parse and ``decode_command`` give -- the same
events, state, output and errors, DecodeError offset and field included (spec/zmtp.md#greeting,
spec/zmtp.md#metadata)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.zmtp import connection
from zre_ref.zmtp.commands import Ready, common_ready, decode_command, encode_command
from zre_ref.zmtp.connection import Connection, ConnectionClosed, Event, State
from zre_ref.zmtp.frames import COMMAND, encode_frame, frame_header
from zre_ref.zmtp.greeting import GREETING_SIZE, KNOWN_GREETINGS, greeting_stages, known_greeting
from zre_ref.zmtp.mechanisms import Mechanism, Null, PlainClient, PlainServer
from zre_ref.zmtp.metadata import check_metadata_bounds

_MECHANISMS: dict[str, Callable[[], Mechanism]] = {
    "NULL": Null,
    "PLAIN server": lambda: PlainServer(lambda u, p: True),
    "PLAIN client": lambda: PlainClient(b"u", b"p"),
}


def _outcome(conn: Connection, events: list[Event]) -> tuple[Any, ...]:
    """Everything a caller can see of a connection after a read, errors in detail."""
    seen: list[Any] = []
    for ev in events:
        seen.append(ev)
        if isinstance(ev, ConnectionClosed) and ev.error is not None:
            err = ev.error
            seen.append((type(err).__name__, str(err), getattr(err, "offset", None),
                         getattr(err, "field", None)))
    return (seen, conn.state, conn.peer_greeting, conn.peer_version, conn.peer_metadata,
            conn.data_to_send(), conn.trace)


@contextmanager
def _readable_only() -> Iterator[None]:
    """The connection without its one-step paths: the staged greeting, READY decoded."""
    with patch.object(Connection, "_parse_greeting", Connection._parse_greeting_staged), \
            patch.object(connection, "common_ready", lambda body: None):
        yield


def _both(mechanism: str, eager: bool, reads: list[bytes]) -> tuple[Any, Any]:
    """The outcome of each read on a fresh ROUTER, with and without the one-step paths."""
    outcomes = []
    for fast in (True, False):
        conn = Connection("ROUTER", mechanism=_MECHANISMS[mechanism](), eager=eager)
        conn.trace = []
        conn.data_to_send()
        seen = []
        for data in reads:
            if fast:
                events = conn.receive_data(data)
            else:
                with _readable_only():
                    events = conn.receive_data(data)
            seen.append(_outcome(conn, events))
        outcomes.append(seen)
    return outcomes[0], outcomes[1]


def _greeting(mechanism: str, minor: int, as_server: int) -> bytes:
    sig, major, rest = greeting_stages(mechanism, as_server=bool(as_server), minor=minor)
    return sig + major + rest


#: the common greetings (those KNOWN_GREETINGS holds)
_greetings = st.builds(lambda mech, minor, server: bytearray(_greeting(mech, minor, server)),
                       st.sampled_from(["NULL", "PLAIN", "CURVE"]), st.integers(0, 1),
                       st.integers(0, 1))


@st.composite
def _greeting_bytes(draw: st.DrawFn) -> bytes:
    """A greeting a peer could send, or something near it, then what may follow it."""
    if draw(st.integers(0, 4)) == 0:
        data = bytearray(draw(st.binary(min_size=0, max_size=80)))
    else:
        data = draw(_greetings)
        for _ in range(draw(st.integers(0, 3))):  # bytes changed anywhere, often where it matters
            at = draw(st.one_of(st.integers(0, GREETING_SIZE - 1),
                                st.sampled_from([0, 9, 10, 11, 12, 15, 16, 31, 32])))
            data[at] = draw(st.integers(0, 255))
        data += draw(st.binary(max_size=40))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(data=_greeting_bytes(), mechanism=st.sampled_from(sorted(_MECHANISMS)),
       eager=st.booleans(), split=st.integers(0, 100))
def test_a_greeting_read_at_once_is_what_the_staged_parse_reads(
        data: bytes, mechanism: str, eager: bool, split: int) -> None:
    """Any bytes, in one read or two: the same events, errors (type, offset, field), state,
    greeting, version, trace and bytes to send, with the one-step greeting or without it."""
    fast, staged = _both(mechanism, eager, [data[:split], data[split:]] if split else [data])
    assert fast == staged


def test_known_greetings_are_exactly_the_common_valid_ones() -> None:
    """Each known greeting is a valid one (the staged decoder's reading of it); a bad signature,
    a short read or an unknown as-server byte is left to the staged parse."""
    for mech in ("NULL", "PLAIN", "CURVE"):
        for minor in (0, 1):
            for server in (0, 1):
                g = _greeting(mech, minor, server)
                known = known_greeting(g + b"tail")
                assert known is not None and known == KNOWN_GREETINGS[g[10:33]]
                assert (known.mechanism, known.minor, known.as_server) == (mech, minor, server == 1)
                assert known_greeting(g[:63]) is None
                assert known_greeting(b"\x00" + g[1:]) is None
                assert known_greeting(g[:9] + b"\x7e" + g[10:]) is None
                assert known_greeting(g[:32] + b"\x02" + g[33:]) is None
    assert len(KNOWN_GREETINGS) == 12


_NAMES = st.sampled_from(["Socket-Type", "Identity", "Resource", "User-Id", "X-Other", "socket-type"])
_VALUES = st.one_of(st.sampled_from([b"DEALER", b"ROUTER", b"PUB", b"", b"SUB"]),
                    st.binary(max_size=300))


@st.composite
def _ready_bodies(draw: st.DrawFn) -> bytes:
    """READY bodies: well-formed ones of common (or other) properties, then maybe cut, extended
    or with a byte changed; or other commands and arbitrary bytes."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=120))
    if kind == 1:
        return b"\x05READY" + draw(st.binary(max_size=120))
    props = draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=5))
    body = bytearray(b"\x05READY")
    for name, value in props:
        raw = name.encode()
        body += bytes((len(raw),)) + raw + len(value).to_bytes(4, "big") + value
    if kind == 3 and body:
        del body[draw(st.integers(0, len(body) - 1)):]
    elif kind == 4 and body:
        body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
    elif kind == 5:
        body += draw(st.binary(max_size=8))
    return bytes(body)


@settings(max_examples=500, deadline=None)
@given(_ready_bodies())
def test_common_ready_is_decode_command_or_declines(body: bytes) -> None:
    """common_ready gives what decode_command gives (same properties, same order), for bodies
    the readable path accepts within its bounds; anything else it declines (None)."""
    got = common_ready(body)
    if got is None:
        return
    check_metadata_bounds(body, 6, 0)  # never one the caps refuse
    cmd = decode_command(body)
    assert isinstance(cmd, Ready)
    assert list(got.items()) == list(cmd.properties.items())


@settings(max_examples=400, deadline=None)
@given(body=_ready_bodies(), eager=st.booleans(), chunk=st.integers(1, 400))
def test_a_ready_decoded_at_once_is_what_the_readable_path_decodes(
        body: bytes, eager: bool, chunk: int) -> None:
    """After a NULL greeting, any READY-like command frame, read in chunks: the same events
    (HandshakeCompleted's metadata, or the error with its offset and field), state and output."""
    frame = frame_header(COMMAND, len(body)) + body
    stream = _greeting("NULL", 1, 0) + frame
    reads = [stream[i:i + chunk] for i in range(0, len(stream), chunk)]
    fast, readable = _both("NULL", eager, reads)
    assert fast == readable


@pytest.mark.parametrize("peer_type", ["DEALER", "ROUTER", "REQ", "PUB"])
def test_a_common_handshake_takes_both_one_step_paths(peer_type: str) -> None:
    """What zre_ref and libzmq send -- a whole greeting and a READY of Socket-Type and Identity
    -- is read by the one-step paths (a planted failure in either would show here), and the
    connection opens (or refuses the socket type) as the readable path does."""
    ready = encode_frame(encode_command(Ready({"Socket-Type": peer_type.encode(),
                                               "Identity": b"\x01id"})), command=True)
    stream = _greeting("NULL", 1, 0) + ready
    calls: list[str] = []
    real_staged, real_ready = Connection._parse_greeting_staged, connection.common_ready

    def staged(self: Connection, data: bytes, events: list[Event]) -> int:
        calls.append("staged")
        return real_staged(self, data, events)

    def ready(body: bytes) -> dict[str, bytes] | None:
        props = real_ready(body)
        calls.append("common_ready" if props is not None else "declined")
        return props

    with patch.object(Connection, "_parse_greeting_staged", staged), \
            patch.object(connection, "common_ready", ready):
        conn = Connection("ROUTER", eager=True)
        conn.receive_data(stream)
    assert calls == ["common_ready"]
    opened = peer_type in ("DEALER", "ROUTER", "REQ")
    assert conn.state is (State.OPEN if opened else State.CLOSED)
    if opened:
        assert conn.peer_identity == b"\x01id" and conn.peer_socket_type == peer_type
    fast, readable = _both("NULL", True, [stream])
    assert fast == readable
