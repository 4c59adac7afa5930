"""The sans-IO ZMTP Connection: transcripts, staging, mechanisms, heartbeats, limits, and a
Hypothesis rule-based test over its transition table (spec/zmtp.md#state-machine)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from zre_ref.curve import curve_keypair
from zre_ref.errors import ProtocolError
from zre_ref.zmtp import connection
from zre_ref.zmtp.commands import (
    Cancel,
    Command,
    Error,
    Ping,
    Pong,
    Ready,
    Subscribe,
    UnknownCommand,
    decode_command,
    encode_command,
)
from zre_ref.zmtp.connection import (
    MAX_HANDSHAKE_COMMAND,
    MAX_MESSAGE_SIZE,
    MAX_METADATA_PROPERTIES,
    TRANSITIONS,
    Connection,
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    Heartbeat,
    Input,
    MessageReceived,
    PongReceived,
    ReadBuffer,
    ReceiveBudget,
    State,
    Subscribed,
    Unsubscribed,
    cached_null_opening,
    null_opening,
)
from zre_ref.zmtp.curve import CurveClient, CurveServer
from zre_ref.zmtp.frames import COMMAND, encode_frame, frame_header
from zre_ref.zmtp.greeting import greeting_stages
from zre_ref.zmtp.mechanisms import Mechanism, Null, PlainClient, PlainServer
from zre_ref.zmtp.metadata import our_metadata
from zre_ref.zmtp.receiver import BODY_CHUNK, BODY_GROWTH, FRAME_OVERHEAD
from zre_ref.zmtp.routing import COMPATIBLE, SENDS_IDENTITY, SOCKET_TYPES

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zmtp"
TRANSCRIPTS = [c for c in json.loads((VECTORS / "handshake.json").read_text())["cases"]
               if "input" in c]


def _mech(spec: dict[str, Any]) -> Mechanism:
    if spec["mechanism"] == "NULL":
        return Null()
    if spec["role"] == "client":
        return PlainClient(bytes.fromhex(spec["username"]), bytes.fromhex(spec["password"]))
    accepted = {(bytes.fromhex(u), bytes.fromhex(p)) for u, p in spec["accept"]}
    return PlainServer(lambda u, p: (u, p) in accepted)


def _conn(spec: dict[str, Any]) -> Connection:
    return Connection(spec["socket_type"], identity=bytes.fromhex(spec.get("identity", "")),
                      mechanism=_mech(spec))


def pump(a: Connection, b: Connection, rounds: int = 20) -> tuple[list[Event], list[Event]]:
    ea: list[Event] = []
    eb: list[Event] = []
    for _ in range(rounds):
        moved = False
        for src, dst, evs in ((a, b, eb), (b, a, ea)):
            data = src.data_to_send()
            if data:
                evs += dst.receive_data(data)
                moved = True
        if not moved:
            break
    return ea, eb


# -- transcripts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", TRANSCRIPTS, ids=[c["id"] for c in TRANSCRIPTS])
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "byte-at-a-time"])
def test_transcript_replay(case: dict[str, Any], bytewise: bool) -> None:
    """Each side, fed the other side's chunks, sends exactly its own recorded bytes."""
    conns = {"client": _conn(case["input"]["client"]), "server": _conn(case["input"]["server"])}
    msgs = [(m["from"], [bytes.fromhex(f) for f in m["frames"]]) for m in case["input"]["messages"]]
    sent = {"client": b"", "server": b""}
    want = {"client": b"", "server": b""}
    received: dict[str, list[list[bytes]]] = {"client": [], "server": []}
    for step in case["steps"]:
        side, chunk = step["from"], bytes.fromhex(step["hex"])
        other = "server" if side == "client" else "client"
        want[side] += chunk
        out = conns[side].data_to_send()
        if not out and msgs and msgs[0][0] == side:
            conns[side].send_message(msgs.pop(0)[1])
            out = conns[side].data_to_send()
        sent[side] += out
        if bytewise:
            events = [ev for i in range(len(out)) for ev in conns[other].receive_data(out[i:i + 1])]
        else:
            events = conns[other].receive_data(out)
        received[other] += [ev.frames for ev in events if isinstance(ev, MessageReceived)]
        # byte-at-a-time feeding cannot make the receiver send *more* than the transcript
    if not bytewise:
        assert sent == want
    for side in ("client", "server"):
        assert want[side].startswith(sent[side]) or sent[side].startswith(want[side])
        state = conns[side].closed_event.code if conns[side].closed_event else "open"
        assert state == case["output"][side]
    expect = {"client": [], "server": []}
    for m in case["input"]["messages"]:
        expect["server" if m["from"] == "client" else "client"].append(
            [bytes.fromhex(f) for f in m["frames"]])
    assert received == expect


# -- staging (spec/zmtp.md#staging) ----------------------------------------------------------------------
def test_greeting_staged_like_libzmq() -> None:
    c = Connection("DEALER")
    assert c.data_to_send() == bytes.fromhex("ff00000000000000017f")  # signature only
    sig, major, rest = greeting_stages()
    assert c.receive_data(sig[:9]) == [] and c.data_to_send() == b""
    assert c.receive_data(sig[9:]) == [] and c.data_to_send() == b"\x03"  # major after 10 bytes
    c.receive_data(major)
    assert c.data_to_send() == rest  # the rest after the peer's byte 10, without its full greeting
    c.receive_data(rest)
    assert c.state is State.EXPECT_READY
    assert c.data_to_send()[:8] == bytes.fromhex("042905") + b"READY"


@pytest.mark.parametrize("peer_eager", [False, True], ids=["staged-peer", "eager-peer"])
def test_eager_greeting_goes_at_once_and_meets_either_peer(peer_eager: bool) -> None:
    """eager=True: the 64 greeting bytes and (NULL) READY in the first write, nothing more
    after the peer's signature or major byte; it completes against a staged peer (libzmq's
    order, as every transcript) and against another eager one (spec/zmtp.md#staging)."""
    c = Connection("DEALER", eager=True, identity=b"\x01me")
    first = c.data_to_send()
    greeting = b"".join(greeting_stages(identity_length=3))
    assert first[:64] == greeting and first[64:67] == bytes.fromhex("04") + bytes((first[65],)) \
        + b"\x05" and first[67:72] == b"READY"
    peer = Connection("ROUTER", eager=peer_eager)
    events = peer.receive_data(first)  # the peer may get greeting and READY in one read
    answer = peer.data_to_send()
    assert answer[:64] == b"".join(greeting_stages())  # a staged peer has all its stages out
    ec = c.receive_data(answer[:10])
    assert c.data_to_send() == b""  # nothing staged to answer the signature with
    ec += c.receive_data(answer[10:11])
    assert c.data_to_send() == b""  # nor the major byte
    ec += c.receive_data(answer[11:])
    assert isinstance(ec[0], HandshakeCompleted) and ec[0].peer_socket_type == "ROUTER"
    assert isinstance(events[0], HandshakeCompleted) and events[0].peer_identity == b"\x01me"
    assert c.is_open and peer.is_open and c.data_to_send() == b""


_META_NAMES = st.text(alphabet="abcXYZ019-_.+", min_size=1, max_size=12).map(lambda n: "X-" + n)


@settings(max_examples=150, deadline=None)
@given(socket_type=st.sampled_from(sorted(SOCKET_TYPES)), identity=st.binary(max_size=255),
       metadata=st.dictionaries(_META_NAMES, st.binary(max_size=40), max_size=4),
       bytearray_value=st.booleans())
def test_eager_null_opening_is_the_greeting_then_ready_whether_built_or_cached(
        socket_type: str, identity: bytes, metadata: dict[str, bytes], bytearray_value: bool
) -> None:
    """The eager NULL opening (built once per socket type, identity and metadata, then reused)
    is exactly the greeting's three stages and the READY the staged path sends after them, on
    the first connection and on every later one; the peer reads back what it announced."""
    meta: dict[str, Any] = dict(metadata)
    if bytearray_value:
        meta["X-Mutable"] = bytearray(b"v")  # not hashable: built each time, same bytes
    staged = Connection(socket_type, identity=identity, metadata=meta)
    expected = b"".join(greeting_stages(identity_length=len(identity))) + encode_frame(
        encode_command(Ready(our_metadata(socket_type, identity, meta))), command=True)
    for _ in range(2):  # built, then from the cache
        first = Connection(socket_type, identity=identity, metadata=meta, eager=True)
        assert first.data_to_send() == expected
    assert null_opening(socket_type, identity, meta) == expected
    assert staged.data_to_send() == expected[:10]  # the staged path: the signature first
    peer = Connection(min(COMPATIBLE[socket_type]))
    events = peer.receive_data(expected)
    assert isinstance(events[0], HandshakeCompleted) and events[0].peer_identity == (
        identity if socket_type in SENDS_IDENTITY else b"")
    assert all(peer.peer_metadata[k] == v for k, v in meta.items())


def test_null_opening_cache_is_bounded() -> None:
    """The cache of openings holds at most _NULL_OPENINGS_MAX entries (it starts over)."""
    for i in range(connection._NULL_OPENINGS_MAX + 10):
        cached_null_opening("DEALER", i.to_bytes(2, "big"), {})
        assert len(connection._null_openings) <= connection._NULL_OPENINGS_MAX


def test_eager_greeting_with_curve_sends_no_ready_early() -> None:
    """Only NULL's READY can go with the greeting; a CURVE client still starts its handshake
    after the peer's greeting (spec/curve.md)."""
    server_pub, server_sec = curve_keypair()
    client_pub, client_sec = curve_keypair()
    c = Connection("DEALER", eager=True,
                   mechanism=CurveClient.from_keys(server_pub, client_pub, client_sec))
    first = c.data_to_send()
    assert first == b"".join(greeting_stages("CURVE"))  # the greeting alone
    s = Connection("ROUTER", mechanism=CurveServer.from_keys(server_pub, server_sec))
    assert s.receive_data(first) == []
    ec, es = pump(c, s)
    assert isinstance(ec[0], HandshakeCompleted) and isinstance(es[0], HandshakeCompleted)


def test_zmtp_3_0_peer_gets_old_style_subscriptions() -> None:
    sub, pub = Connection("SUB"), Connection("PUB")
    sent = 0  # the PUB's greeting says minor version 0 on the wire: a ZMTP 3.0 peer
    for _ in range(20):
        data = pub.data_to_send()
        if sent <= 11 < sent + len(data):  # byte 11 of the greeting: the minor version
            data = data[:11 - sent] + b"\x00" + data[12 - sent:]
        if not data:
            break
        sent += len(data)
        sub.receive_data(data)
        if back := sub.data_to_send():
            pub.receive_data(back)
    assert pub.state is sub.state is State.OPEN
    assert sub.peer_version == (3, 0) and pub.peer_version == (3, 1)
    sub.send_subscribe(b"AB")
    assert sub.data_to_send() == bytes.fromhex("0003014142")  # spec/zmtp.md#subscriptions
    sub.send_cancel(b"AB")
    assert sub.data_to_send() == bytes.fromhex("0003004142")
    sub2, pub2 = Connection("SUB"), Connection("PUB")
    pump(sub2, pub2)
    sub2.send_subscribe(b"AB")
    data = sub2.data_to_send()
    assert data == bytes.fromhex("040c09") + b"SUBSCRIBE" + b"AB"
    assert pub2.receive_data(data) == [Subscribed(b"AB")]
    # a PUB accepts both forms whatever was negotiated (libzmq xpub.cpp)
    assert pub2.receive_data(bytes.fromhex("0003004142")) == [Unsubscribed(b"AB")]


def test_handshake_metadata_and_identity() -> None:
    d, r = Connection("DEALER", identity=b"\x01me", metadata={"X-App": b"1"}), Connection("ROUTER")
    ed, er = pump(d, r)
    hs = er[0]
    assert isinstance(hs, HandshakeCompleted)
    assert (hs.peer_socket_type, hs.peer_identity, hs.version) == ("DEALER", b"\x01me", (3, 1))
    assert hs.peer_metadata["X-App"] == b"1"
    assert isinstance(ed[0], HandshakeCompleted) and ed[0].peer_identity == b""  # ROUTER: empty


def test_property_names_case_sensitive_like_libzmq() -> None:
    c = Connection("DEALER")
    sig, major, rest = greeting_stages()
    body = (b"\x05READY\x0bsocket-type\x00\x00\x00\x06ROUTER")
    events = c.receive_data(sig + major + rest + bytes((4, len(body))) + body)
    assert isinstance(events[-1], ConnectionClosed) and events[-1].code == "protocol-error"


@pytest.mark.parametrize(("ours", "theirs", "ok"), [
    ("DEALER", "ROUTER", True), ("ROUTER", "ROUTER", True), ("DEALER", "DEALER", True),
    ("SUB", "PUB", True), ("PUB", "SUB", True), ("DEALER", "PUB", False), ("SUB", "SUB", False),
    ("ROUTER", "SUB", False),
])
def test_socket_type_check(ours: str, theirs: str, ok: bool) -> None:
    a, b = Connection(ours), Connection(theirs)
    ea, _ = pump(a, b)
    if ok:
        assert isinstance(ea[0], HandshakeCompleted)
    else:
        assert ea == [ConnectionClosed("socket-type-mismatch", ea[0].reason)]  # type: ignore[union-attr]
        assert b"ERROR" not in a.data_to_send()  # libzmq closes without ERROR


def test_plain_authenticator_errors_refuse() -> None:
    def boom(u: bytes, p: bytes) -> bool:
        raise RuntimeError("db down")

    c, s = Connection("DEALER", mechanism=PlainClient(b"u", b"p")), Connection(
        "ROUTER", mechanism=PlainServer(boom))
    ec, es = pump(c, s)
    assert es[-1].code == "auth-failed"  # type: ignore[union-attr]
    assert ec[-1].code == "peer-error"  # type: ignore[union-attr]


def test_mechanism_mismatch_closes() -> None:
    c, s = Connection("DEALER"), Connection("ROUTER", mechanism=PlainServer(lambda u, p: True))
    ec, _ = pump(c, s)
    assert ec[-1].code == "mechanism-mismatch"  # type: ignore[union-attr]


# -- PING / PONG / heartbeats ---------------------------------------------------------------------
def test_ping_answered_with_context() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    b.receive_data(bytes.fromhex("040d0450494e470000") + b"ctx123")
    assert b.data_to_send() == bytes.fromhex("040b04") + b"PONGctx123"  # spec/zmtp.md#heartbeats
    b.receive_data(bytes.fromhex("041a0450494e470000") + b"c" * 20)
    assert b.data_to_send() == bytes.fromhex("041504") + b"PONG" + b"c" * 16  # truncated to 16


def test_heartbeat_sends_ping_and_times_out() -> None:
    a = Connection("DEALER", heartbeat=Heartbeat(interval=1.0, ttl=2.5, timeout=0.5))
    b = Connection("ROUTER")
    pump(a, b)
    assert a.next_deadline() == 0.0
    a.handle_timer(100.0)  # arms
    assert a.next_deadline() == 101.0
    assert a.handle_timer(101.0) == []
    assert a.data_to_send() == bytes.fromhex("04070450494e470019")  # TTL 25 ds, like libzmq
    assert a.next_deadline() == 101.5
    # the peer answers: the timeout passes quietly
    a.receive_data(bytes.fromhex("040504") + b"PONG")
    assert a.handle_timer(101.5) == []
    assert a.is_open
    # next PING gets no answer
    a.handle_timer(102.0)
    events = a.handle_timer(102.5)
    assert events and events[0].code == "heartbeat-timeout"  # type: ignore[union-attr]
    assert a.next_deadline() is None


def test_peer_ttl_expires() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    b.receive_data(bytes.fromhex("04070450494e470005"))  # ttl 0.5 s
    assert b.next_deadline() == 0.0
    b.handle_timer(10.0)
    assert b.next_deadline() == 10.5
    events = b.handle_timer(10.5)
    assert events[0].code == "ttl-expired"  # type: ignore[union-attr]


def test_pong_event() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    a.send_ping(context=b"x")
    ea, eb = pump(a, b)  # PING there, PONG back
    assert eb == [] and ea == [PongReceived(b"x")]


def test_handshake_timeout() -> None:
    a = Connection("DEALER", handshake_timeout=5.0)
    a.handle_timer(0.0)
    assert a.next_deadline() == 5.0
    assert a.handle_timer(4.9) == []
    events = a.handle_timer(5.0)
    assert events[0].code == "handshake-timeout"  # type: ignore[union-attr]


# -- limits and hostile input -----------------------------------------------------------------------
def test_declared_size_over_limit_rejected_before_allocation() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER", max_message_size=1000)
    pump(a, b)
    events = b.receive_data(bytes.fromhex("02") + (2**63).to_bytes(8, "big"))
    assert events[0].code == "decode-error"  # type: ignore[union-attr]
    a2, b2 = Connection("DEALER"), Connection("ROUTER", max_message_size=1000)
    pump(a2, b2)
    events = b2.receive_data(bytes.fromhex("02") + (1001).to_bytes(8, "big"))
    assert events[0].code == "decode-error"  # type: ignore[union-attr]
    assert MAX_MESSAGE_SIZE >= 1 << 20


def test_many_more_frames_hit_the_message_limit() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER", max_message_size=1000)
    pump(a, b)
    events = b.receive_data((b"\x01\xff" + b"x" * 255) * 5)
    assert events and events[0].code == "decode-error"  # type: ignore[union-attr]


def test_garbage_instead_of_greeting() -> None:
    c = Connection("ROUTER")
    events = c.receive_data(b"GET / HTTP/1.1\r\n")
    assert events[0].code == "decode-error" and c.closed  # type: ignore[union-attr]
    assert c.receive_data(b"more") == []


def test_messages_before_handshake_are_an_error() -> None:
    c = Connection("ROUTER")
    sig, major, rest = greeting_stages()
    events = c.receive_data(sig + major + rest + b"\x00\x01x")
    assert events[-1].code == "protocol-error"  # type: ignore[union-attr]


def test_send_before_open_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Connection("DEALER").send_message([b"x"])


@pytest.mark.parametrize("zero_copy", [False, True], ids=["copy", "zero-copy"])
def test_large_frames_split_anywhere(zero_copy: bool) -> None:
    """Large frames arrive intact however the stream is cut, through receive_data and through
    get_buffer/buffer_updated (two connections sharing one receive buffer); zero_copy hands
    the large ones over as bytearrays of exactly their size, a kept one is never reused."""
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    frames = [b"", b"a" * 300, b"b" * 20_000, b"c" * 40_000]
    second = [b"d" * 20_000, b"tail"]
    a.send_message(frames)
    a.send_message(second)
    a.send_message(frames)
    data = a.data_to_send()
    want = [frames, second, frames]
    shared = ReadBuffer(4096)

    def check(got: list[Event]) -> None:
        assert [ev.frames for ev in got if isinstance(ev, MessageReceived)] == want
        for ev in got:
            assert isinstance(ev, MessageReceived)
            kinds = {type(f) for f in ev.frames}
            # a large frame read in pieces is handed over in its buffer; one that arrived
            # whole within a read is sliced out as bytes
            assert kinds <= ({bytes, bytearray} if zero_copy else {bytes})
            assert ev.buffers == (bytearray in kinds)
            assert all(len(f) >= 16 * 1024 for f in ev.frames if type(f) is bytearray)
        first, third = got[0], got[2]
        assert isinstance(first, MessageReceived) and isinstance(third, MessageReceived)
        for x, y in zip(first.frames, third.frames, strict=True):
            assert x is not y or type(x) is bytes  # the held first message is not reused

    for step in (1, 7, 4096, 65536):
        c, d = Connection("DEALER"), Connection("ROUTER", zero_copy=zero_copy)
        pump(c, d)
        got: list[Event] = []
        for i in range(0, len(data), step):
            got += d.receive_data(data[i : i + step])
        check(got)
        # and through the buffered path, the receive buffer shared with another connection
        e, f = Connection("DEALER"), Connection("ROUTER", zero_copy=zero_copy,
                                                receive_buffer=shared)
        other = Connection("ROUTER", receive_buffer=shared)
        pump(e, f)
        got, pos = [], 0
        while pos < len(data):
            other.get_buffer()[:3] = b"\xee\xee\xee"  # scribble on the shared buffer
            other.buffer_updated(3)
            buf = f.get_buffer()
            n = min(len(buf), step, len(data) - pos)
            buf[:n] = data[pos : pos + n]
            pos += n
            got += f.buffer_updated(n)
        check(got)


def test_zero_copy_buffers_are_handed_over_never_reused() -> None:
    """A large frame's bytearray belongs to the receiver once handed over: the connection
    keeps no reference to it and reads every later frame into a new buffer."""
    a, b = Connection("DEALER"), Connection("ROUTER", zero_copy=True)
    pump(a, b)

    def feed(body: bytes) -> bytearray:
        a.send_message([body])
        data = a.data_to_send()
        events = [ev for i in range(0, len(data), 1000) for ev in b.receive_data(data[i : i + 1000])]
        assert len(events) == 1 and isinstance(events[0], MessageReceived)
        frame = events[0].frames[0]
        assert events[0].buffers and type(frame) is bytearray
        return frame

    first = feed(b"x" * 20_000)
    ids = {id(first)}
    second = feed(b"y" * 20_000)
    first.extend(b"!")  # ours to resize: no view of it is left anywhere
    assert first[:3] == b"xxx" and second == b"y" * 20_000 and id(second) not in ids


def test_output_chunks_keep_big_bodies() -> None:
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    big = b"z" * 100_000
    a.send_message([b"x", big])
    chunks = a.output_chunks()
    assert chunks[-1] is big and len(chunks) == 2


_outgoing = st.lists(st.lists(st.one_of(
    st.sampled_from([b"", b"s" * 5, b"t" * 255, b"m" * 256, b"L" * 17_000]),
    st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(memoryview)),
    min_size=1, max_size=3), max_size=6)


@settings(max_examples=150, deadline=None)
@given(_outgoing)
def test_send_messages_is_send_message_on_each(messages: list[list[bytes]]) -> None:
    """Connection.send_messages (sender.queue_messages) gives the same output chunks as
    send_message called on each message in turn, and the peer receives the messages."""
    outputs = []
    for batch in (False, True):
        a, b = Connection("DEALER"), Connection("ROUTER")
        pump(a, b)
        if batch:
            a.send_messages(messages)
        else:
            for m in messages:
                a.send_message(m)
        chunks = [bytes(c) for c in a.output_chunks()]
        outputs.append(chunks)
        got = [ev.frames for ev in b.receive_data(b"".join(chunks)) if isinstance(ev, MessageReceived)]
        assert got == [[bytes(f) for f in m] for m in messages]
    assert outputs[0] == outputs[1]


def test_send_messages_with_curve() -> None:
    server_public, server_secret = curve_keypair()
    client_public, client_secret = curve_keypair()
    a = Connection("DEALER", mechanism=CurveClient.from_keys(server_public, client_public,
                                                              client_secret))
    b = Connection("ROUTER", mechanism=CurveServer.from_keys(server_public, server_secret, None))
    pump(a, b)
    messages = [[b"h", b"x" * 64], [b"one"], [b"a", bytearray(b"b"), b"c" * 300]]
    a.send_messages(messages)
    got = [ev.frames for ev in b.receive_data(a.data_to_send()) if isinstance(ev, MessageReceived)]
    assert got == [[bytes(f) for f in m] for m in messages]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from([b"", b"s" * 5, b"m" * 300, b"L" * 17_000, b"X" * 40_000]),
                         min_size=1, max_size=4), min_size=1, max_size=6),
       st.lists(st.integers(1, 70_000), min_size=1, max_size=8), st.booleans(), st.booleans())
def test_buffered_reads_any_sizes(messages: list[list[bytes]], reads: list[int],
                                  zero_copy: bool, small_buffer: bool) -> None:
    """get_buffer/buffer_updated with reads of any size (each at most what get_buffer offers,
    cycling through ``reads``) give the messages receive_data gives, in order."""
    a, b = Connection("DEALER"), Connection(
        "ROUTER", zero_copy=zero_copy, receive_buffer=ReadBuffer(600) if small_buffer else None)
    pump(a, b)
    for m in messages:
        a.send_message(m)
    got: list[list[bytes | bytearray]] = []
    for ev in _feed_buffered(b, a.data_to_send(), reads):
        assert isinstance(ev, MessageReceived)
        got.append(ev.frames)
    assert got == messages
    assert b.is_open


def _feed_buffered(conn: Connection, data: bytes, reads: list[int],
                   after_read: Callable[[int], None] | None = None) -> list[Event]:
    """``data`` into ``conn`` through get_buffer/buffer_updated, each read at most what
    get_buffer offers, cycling through the sizes in ``reads``; ``after_read(bytes so far)``."""
    events: list[Event] = []
    pos = i = 0
    while pos < len(data):
        buf = conn.get_buffer()
        n = min(len(buf), reads[i % len(reads)], len(data) - pos)
        i += 1
        buf[:n] = data[pos : pos + n]
        buf.release()
        pos += n
        events += conn.buffer_updated(n)
        if after_read is not None:
            after_read(pos)
    return events


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 50))
def test_arbitrary_bytes_after_handshake(data: bytes, step: int) -> None:
    a, b = Connection("DEALER"), Connection("ROUTER", max_message_size=10_000)
    pump(a, b)
    for i in range(0, len(data), step):
        for ev in b.receive_data(data[i : i + step]):
            assert isinstance(ev, (MessageReceived, ConnectionClosed, PongReceived))
    b.receive_data(b"")
    assert b.closed


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["NULL", "PLAIN-S", "PLAIN-C"]))
def test_arbitrary_bytes_from_the_start(data: bytes, mech: str) -> None:
    m: Mechanism = {"NULL": Null(), "PLAIN-S": PlainServer(lambda u, p: True),
                    "PLAIN-C": PlainClient(b"u", b"p")}[mech]
    c = Connection("ROUTER", mechanism=m)
    sig, major, rest = greeting_stages(m.name)
    for chunk in (data, sig + major + rest + data):
        c = Connection("ROUTER", mechanism=m)
        for ev in c.receive_data(chunk):
            assert isinstance(ev, (HandshakeCompleted, MessageReceived, ConnectionClosed))


# -- the rule-based test over TRANSITIONS ------------------------------------------------------------
MECHS = {
    "null": (lambda: Null(), lambda: Null()),
    "plain": (lambda: PlainClient(b"u", b"pw"), lambda: PlainServer(lambda u, p: p == b"pw")),
    "plain-bad": (lambda: PlainClient(b"u", b"no"), lambda: PlainServer(lambda u, p: p == b"pw")),
}
#: well-formed commands a rule injects straight into one side's input (ERROR in every state that
#: has a row for it, unknown commands, bare PING/PONG, SUBSCRIBE/CANCEL, a READY out of place)
INJECTED: dict[str, Command] = {
    "error": Error(b"injected"),
    "unknown": UnknownCommand(b"X-TEST", b"data"),
    "ping": Ping(0, b"ctx"),
    "pong": Pong(b"ctx"),
    "subscribe": Subscribe(b"T"),
    "cancel": Cancel(b"T"),
    "ready": Ready({"Socket-Type": b"DEALER"}),
}
#: every (state, input) pair the rule-based runs stepped through, over all examples
COVERED: set[tuple[State, Input]] = set()


def _at_frame_boundary(conn: Connection) -> bool:
    """Nothing half-parsed: an injected whole frame cannot split one of the peer's frames."""
    return conn.at_frame_boundary


class ConnectionPair(RuleBasedStateMachine):
    """Two connections joined by byte queues; rules move bytes in random chunk sizes, send,
    (un)subscribe, ping, inject commands, fire timers, and disrupt (garbage, EOF, local close,
    ERROR, a misplaced READY). When both sides are closed, ``start`` opens a new pair. Every
    step must be a row of TRANSITIONS; COVERED collects the rows reached."""

    def __init__(self) -> None:
        super().__init__()
        self.a: Connection | None = None
        self.b: Connection | None = None
        self.now = 0.0
        self._reset()

    def _reset(self) -> None:
        self.wire: dict[str, bytearray] = {"ab": bytearray(), "ba": bytearray()}
        self.sent: dict[str, list[list[bytes]]] = {"a": [], "b": []}
        self.got: dict[str, list[list[bytes]]] = {"a": [], "b": []}
        self.corrupted = False

    def _live(self) -> bool:
        return self.a is not None and self.b is not None and not (self.a.closed and self.b.closed)

    @precondition(lambda self: not self._live())
    @rule(mech=st.sampled_from(["null", "plain", "plain", "plain-bad"]), types=st.sampled_from(
        [("DEALER", "ROUTER"), ("SUB", "PUB"), ("DEALER", "DEALER"), ("DEALER", "PUB")]),
        hb_a=st.booleans(), hb_b=st.booleans(), handshake=st.sampled_from([0.5, 30.0]),
        goal=st.sampled_from([s for s in State if s is not State.CLOSED]),
        then=st.sampled_from([None, "stall", "eof", "close", "error", "garbage"]))
    def start(self, mech: str, types: tuple[str, str], hb_a: bool, hb_b: bool,
              handshake: float, goal: State, then: str | None) -> None:
        """A new pair, advanced until one side is in ``goal``, then optionally disrupted there
        (short-lived handshake states are reached even when Hypothesis switches rules off)."""
        ma, mb = MECHS[mech]
        self._reset()
        self.a = Connection(types[0], mechanism=ma(), handshake_timeout=handshake,
                            heartbeat=Heartbeat(1.0, 3.0, 2.0) if hb_a else None)
        self.b = Connection(types[1], mechanism=mb(), handshake_timeout=handshake,
                            heartbeat=Heartbeat(0.7, 0.0, 1.0) if hb_b else None)
        self.a.trace, self.b.trace = [], []
        for conn in (self.a, self.b):
            self._events(conn, conn.handle_timer(self.now))  # arms the handshake timeout
        park = self._advance(goal)
        if then == "stall":  # time passes, nothing is delivered: timeouts fire
            for _ in range(3):
                self.tick(1.1)
        elif then is not None:
            # this junk is invalid in every state: a bad signature byte, a bad major version,
            # a bad mechanism name, a message frame in a handshake, reserved flag bits
            self.disrupt(park, then, b"\x01" * 63 + b"\xff")

    def _side(self, name: str) -> Connection:
        conn = self.a if name == "a" else self.b
        assert conn is not None
        return conn

    def _events(self, conn: Connection | str, events: list[Event]) -> None:
        if isinstance(conn, str):
            name, conn = conn, self._side(conn)
        else:
            name = "a" if conn is self.a else "b"
        for ev in events:
            if isinstance(ev, MessageReceived):
                self.got[name].append(ev.frames)
                # the message fast path does not trace (speed); the event is the evidence
                assert conn.state in (State.OPEN, State.CLOSED)
                COVERED.add((State.OPEN, Input.MESSAGE))
        assert conn.trace is not None
        COVERED.update((old, inp) for old, inp, _ in conn.trace)

    @precondition(lambda self: self._live())
    @rule(direction=st.sampled_from(["ab", "ba"]), n=st.integers(1, 200))
    def deliver(self, direction: str, n: int) -> None:
        self._move(direction, n)

    def _move(self, direction: str, n: int | None = None) -> bool:
        """Queue what the sender has for ``direction`` ("ab" or "ba"), then hand the receiver
        up to ``n`` bytes of the queue (all if None); True if any bytes moved."""
        src, dst = self._side(direction[0]), self._side(direction[1])
        q = self.wire[direction]
        q += src.data_to_send()
        chunk = bytes(q[:n])
        del q[:n]
        if chunk:
            self._events(direction[1], dst.receive_data(chunk))
        return bool(chunk)

    @precondition(lambda self: self._live())
    @rule()
    def pump_all(self) -> None:
        for _ in range(10):
            moved = False
            for direction in ("ab", "ba"):
                if self._move(direction):
                    moved = True
            if not moved:
                break

    @precondition(lambda self: self._live())
    @rule(who=st.sampled_from(["a", "b"]), goal=st.sampled_from(
        [s for s in State if s is not State.CLOSED]))
    def deliver_until(self, who: str, goal: State) -> None:
        """Move bytes one at a time until ``who`` is in ``goal`` (or nothing moves)."""
        self._advance(goal, who)

    def _advance(self, goal: State, who: str | None = None) -> str:
        """Move bytes one at a time, alternating directions, until ``who`` (default: either
        side) is in ``goal`` or nothing moves; returns the side that got there (else ``a``)."""
        names = [who] if who is not None else ["a", "b"]
        for _ in range(1000):
            for name in names:
                if self._side(name).state is goal:
                    return name
            moved = False
            for direction in ("ab", "ba"):
                if self._move(direction, 1):
                    moved = True
                    if self._side(direction[1]).state is goal and direction[1] in names:
                        return direction[1]
            if not moved:
                break
        return names[0]

    @precondition(lambda self: self._live())
    @rule(who=st.sampled_from(["a", "b"]), frames=st.lists(st.binary(max_size=300), min_size=1,
                                                          max_size=3))
    def send(self, who: str, frames: list[bytes]) -> None:
        conn = self._side(who)
        if conn.is_open and conn.socket_type not in ("PUB", "SUB"):
            conn.send_message(frames)
            self.sent[who].append(frames)
        elif not conn.is_open:
            with pytest.raises(ProtocolError):
                conn.send_message(frames)

    @precondition(lambda self: self._live())
    @rule(topic=st.binary(max_size=5), cancel=st.booleans())
    def subscribe(self, topic: bytes, cancel: bool) -> None:
        conn = self._side("a")
        if conn.is_open and conn.socket_type == "SUB":
            (conn.send_cancel if cancel else conn.send_subscribe)(topic)
        elif not conn.is_open:
            with pytest.raises(ProtocolError):
                conn.send_subscribe(topic)

    @precondition(lambda self: self._live())
    @rule(dt=st.floats(0.0, 3.0))
    def tick(self, dt: float) -> None:
        self.now += dt
        for name in ("a", "b"):
            self._events(name, self._side(name).handle_timer(self.now))

    @precondition(lambda self: self._live())
    @rule(who=st.sampled_from(["a", "b"]), ctx=st.binary(max_size=16))
    def ping(self, who: str, ctx: bytes) -> None:
        conn = self._side(who)
        if conn.is_open:
            conn.send_ping(1.0, ctx)

    def _inject(self, who: str, name: str) -> tuple[State, bool, list[Event]]:
        """A whole command frame arrives at ``who`` ahead of anything still on the wire."""
        conn = self._side(who)
        boundary = _at_frame_boundary(conn)
        if not boundary:
            self.corrupted = True
        was = conn.state
        events = conn.receive_data(encode_frame(encode_command(INJECTED[name]), command=True))
        self._events(conn, events)
        if was is State.CLOSED:
            assert events == []
        return was, boundary, events

    @precondition(lambda self: self._live())
    @rule(who=st.sampled_from(["a", "b"]),
          name=st.sampled_from(["unknown", "ping", "pong", "subscribe", "cancel"]))
    def inject(self, who: str, name: str) -> None:
        """Commands that keep an open connection open (and end a handshake)."""
        was, boundary, events = self._inject(who, name)
        conn = self._side(who)
        if was is State.OPEN and boundary:
            assert conn.is_open
            if name == "pong":
                assert PongReceived(b"ctx") in events
            if name == "ping":
                assert conn.pending_output()  # the PONG
            if name in ("subscribe", "cancel") and conn.socket_type == "PUB":
                kind = Subscribed if name == "subscribe" else Unsubscribed
                assert kind(b"T") in events
        elif was is not State.OPEN and was is not State.CLOSED and boundary:
            assert conn.closed  # nothing but the handshake's own commands is allowed

    @precondition(lambda self: self._live())
    @rule(who=st.sampled_from(["a", "b"]),
          how=st.sampled_from(["garbage", "eof", "close", "error", "ready"]),
          junk=st.binary(min_size=1, max_size=20))
    def disrupt(self, who: str, how: str, junk: bytes) -> None:
        """Whatever ends a connection: garbage, EOF, a local close, ERROR, a READY when open."""
        conn = self._side(who)
        was_closed = conn.closed
        if how == "garbage":
            self.corrupted = True
            self._events(conn, conn.receive_data(junk))
            return
        if how in ("error", "ready"):
            was, boundary, _ = self._inject(who, how)
            if boundary and (how == "error" or was is State.OPEN):
                assert conn.closed and conn.closed_event is not None
                if how == "error" and Input.ERROR in TRANSITIONS[was]:
                    assert conn.closed_event.code == "peer-error"
            return
        events = conn.receive_data(b"") if how == "eof" else conn.close()
        self._events(conn, events)
        assert conn.closed and (events == []) == was_closed
        assert conn.closed_event is not None
        if not was_closed:
            assert conn.closed_event.code == ("eof" if how == "eof" else "local")

    @precondition(lambda self: self._live() and self._handshaking())
    @rule(who=st.sampled_from(["a", "b"]),
          how=st.sampled_from(["eof", "close", "error", "garbage"]),
          junk=st.binary(min_size=1, max_size=20))
    def disrupt_handshake(self, who: str, how: str, junk: bytes) -> None:
        """The same, more often while a handshake is under way (its states are short-lived)."""
        self.disrupt(who, how, junk)

    def _handshaking(self) -> bool:
        return any(c is not None and c.state not in (State.OPEN, State.CLOSED)
                   for c in (self.a, self.b))

    @invariant()
    def follows_the_table(self) -> None:
        for conn in (self.a, self.b):
            if conn is None:
                continue
            assert conn.trace is not None
            for old, inp, new in conn.trace:
                assert TRANSITIONS[old][inp] is new
            for (_, _, new), (old, _, _) in zip(conn.trace, conn.trace[1:], strict=False):
                assert new is old  # steps chain
            if conn.closed:
                assert conn.closed_event is not None
                assert conn.next_deadline() is None
                assert conn.trace and conn.trace[-1][2] is State.CLOSED

    @invariant()
    def messages_in_order(self) -> None:
        if self.corrupted:
            return
        for src, dst in (("a", "b"), ("b", "a")):
            got = self.got[dst]
            assert got == self.sent[src][: len(got)]


#: every row of TRANSITIONS, as (state, input); CURVE's two greeting rows are stepped through
#: by tests/test_curve_connection.py (this machine injects clear commands, which CURVE refuses)
ALL_ROWS = {(state, inp) for state, row in TRANSITIONS.items() for inp in row
            if inp not in (Input.GREETING_CURVE_CLIENT, Input.GREETING_CURVE_SERVER)}


def test_rule_based_state_machine_covers_the_table() -> None:
    """Runs ConnectionPair (first with a fixed seed, then, only if some row is still missing,
    up to three more random rounds) and checks that it stepped through every row of
    TRANSITIONS: every handshake state's exits and every open-state input (messages, PING,
    PONG, SUBSCRIBE, CANCEL, unknown commands, ERROR, invalid input, EOF, timeout, close)."""
    COVERED.clear()
    for round_ in range(4):
        run_state_machine_as_test(ConnectionPair, settings=settings(
            max_examples=200, stateful_step_count=40, deadline=None, derandomize=round_ == 0,
            database=None, suppress_health_check=list(HealthCheck)))
        if ALL_ROWS <= COVERED:
            break
    missing = sorted(f"{s.value}/{i.value}" for s, i in ALL_ROWS - COVERED)
    assert not missing, f"rows never reached: {missing}"
    assert {inp for state, inp in COVERED if state is State.OPEN} == set(TRANSITIONS[State.OPEN])


def test_table_shape() -> None:
    """Every non-closed state can be closed by EOF, timeout, a local close and invalid input."""
    for state, row in TRANSITIONS.items():
        if state is State.CLOSED:
            assert row == {}
            continue
        for inp in (Input.EOF, Input.TIMEOUT, Input.CLOSE, Input.INVALID):
            assert row[inp] is State.CLOSED
    reachable = {State.SIGNATURE}
    frontier = [State.SIGNATURE]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()].values():
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(State)


def test_spec_table_matches_code() -> None:
    """spec/zmtp.md#state-machine lists exactly TRANSITIONS."""
    text = (Path(__file__).resolve().parent.parent / "spec" / "zmtp.md").read_text()
    section = text.split("## State machine", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("state", "---"):
            rows.add(tuple(cells))
    want = set()
    for state, row in TRANSITIONS.items():
        for inp, new in row.items():
            if inp in (Input.INVALID, Input.EOF, Input.TIMEOUT, Input.CLOSE):
                want.add(("*every state but closed*", inp.value, new.value))
            else:
                want.add((state.value, inp.value, new.value))
    assert rows == want


# -- limits (spec/zmtp.md#limits) ---------------------------------------------------------------------
def _greeted(socket_type: str = "ROUTER", **kw: Any) -> Connection:
    """A connection that has our peer's greeting and waits for READY."""
    c = Connection(socket_type, **kw)
    sig, major, rest = greeting_stages()
    c.receive_data(sig + major + rest)
    assert c.state is State.EXPECT_READY
    return c


def _ready_frame(props: bytes) -> bytes:
    body = b"\x05READY" + props
    return frame_header(COMMAND, len(body)) + body


def _tiny_properties(n: int) -> bytes:
    return b"".join(b"\x01" + bytes([97 + i % 26]) + b"\x00\x00\x00\x00" for i in range(n))


class _CountingDecoder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, body: bytes, base: int = 0) -> Command:
        self.calls += 1
        return decode_command(body, base)


def test_ready_in_open_state_is_refused_before_it_is_decoded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A READY that the state table cannot accept is never decoded: 100,000 tiny properties
    (600 kB) cost one table lookup, not a metadata decode."""
    a, b = Connection("DEALER"), Connection("ROUTER")
    pump(a, b)
    counter = _CountingDecoder()
    monkeypatch.setattr("zre_ref.zmtp.connection.decode_command", counter)
    events = b.receive_data(_ready_frame(_tiny_properties(100_000)))
    assert isinstance(events[-1], ConnectionClosed) and events[-1].code == "protocol-error"
    assert "READY is not expected in state open" in events[-1].reason
    assert counter.calls == 0


def test_metadata_property_count_is_capped_before_decoding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One property over MAX_METADATA_PROPERTIES is refused without decoding; at the cap
    (Socket-Type included) the handshake completes."""
    counter = _CountingDecoder()
    monkeypatch.setattr("zre_ref.zmtp.connection.decode_command", counter)
    socket_type = b"\x0bSocket-Type\x00\x00\x00\x06DEALER"
    over = _greeted().receive_data(
        _ready_frame(socket_type + _tiny_properties(MAX_METADATA_PROPERTIES)))
    closed = over[-1]
    assert isinstance(closed, ConnectionClosed) and closed.code == "decode-error"
    assert closed.error is not None
    assert closed.error.field == f"properties[{MAX_METADATA_PROPERTIES}].key"
    # where that property starts: greeting, 9-byte frame header, name, Socket-Type, 1,023 more
    assert closed.error.offset == 64 + 9 + 6 + len(socket_type) + 6 * (MAX_METADATA_PROPERTIES - 1)
    assert counter.calls == 0
    ok = _greeted().receive_data(
        _ready_frame(socket_type + _tiny_properties(MAX_METADATA_PROPERTIES - 1)))
    assert isinstance(ok[-1], HandshakeCompleted) and counter.calls == 1


def test_oversized_handshake_command_is_refused_from_its_header() -> None:
    """A 60 MB READY is refused on its 9-byte header, before any of its body arrives; so is a
    message frame before the handshake (it could never be accepted)."""
    for header in (b"\x06" + (60_000_000).to_bytes(8, "big"),
                   b"\x02" + (1_000).to_bytes(8, "big")):
        c = _greeted()
        events = c.receive_data(header)
        assert isinstance(events[-1], ConnectionClosed), header
        assert events[-1].code in ("decode-error", "protocol-error")
        assert c.held_bytes == 0
    c = _greeted()
    c.receive_data(b"\x06" + (MAX_HANDSHAKE_COMMAND + 1).to_bytes(8, "big"))
    assert c.closed and c.closed_event is not None and c.closed_event.error is not None
    assert c.closed_event.error.field == "body"  # a size that claims too much


def test_large_body_grows_with_the_bytes_received() -> None:
    """A header declaring 64 MiB makes the connection hold one BODY_CHUNK; the buffer then
    grows BODY_GROWTH-fold as bytes arrive, never past what arrived times BODY_GROWTH."""
    a, b = Connection("DEALER"), Connection("ROUTER", max_message_size=1 << 40)
    pump(a, b)
    size = 64 << 20
    assert b.receive_data(b"\x02" + size.to_bytes(8, "big")) == []
    assert b.held_bytes == BODY_CHUNK
    received = 0
    for step in (BODY_CHUNK, BODY_CHUNK, 3 * BODY_CHUNK, 10 * BODY_CHUNK):
        assert b.receive_data(b"x" * step) == []
        received += step
        assert received <= b.held_bytes <= max(BODY_CHUNK, received) * BODY_GROWTH
    # and through get_buffer: a full buffer grows by BODY_GROWTH to offer more room
    b.receive_data(b"x" * (b.held_bytes - received))
    received = b.held_bytes
    view = b.get_buffer()
    assert len(view) == received * (BODY_GROWTH - 1)
    view[:1] = b"x"
    view.release()
    assert b.buffer_updated(1) == [] and b.held_bytes == received * BODY_GROWTH


def test_unfinished_messages_share_the_budget_and_give_it_back() -> None:
    """Connections sharing a ReceiveBudget: what an unfinished message holds is taken from
    it and given back when the message completes or the connection closes; a connection
    that would go over is closed with code over-budget."""
    budget = ReceiveBudget(100_000)
    a1, b1 = Connection("DEALER"), Connection("ROUTER", budget=budget)
    a2, b2 = Connection("DEALER"), Connection("ROUTER", budget=budget)
    pump(a1, b1)
    pump(a2, b2)
    more = b"\x01\x64" + b"m" * 100  # one 100-byte frame with MORE
    b1.receive_data(more * 300)  # 300 frames: 300 * (100 + FRAME_OVERHEAD) bytes
    assert budget.used == b1.held_bytes == 300 * (100 + FRAME_OVERHEAD)
    events = b2.receive_data(more * 300)
    assert isinstance(events[-1], ConnectionClosed) and events[-1].code == "over-budget"
    assert budget.used == b1.held_bytes
    events = b1.receive_data(b"\x00\x01!")  # the last frame: the message is complete
    assert isinstance(events[0], MessageReceived) and len(events[0].frames) == 301
    assert events[0].nbytes == 300 * 100 + 1
    assert budget.used == 0 and b1.held_bytes == 0
    b1.receive_data(more)
    assert budget.used > 0
    b1.close()
    assert budget.used == 0


def test_partial_message_timeout() -> None:
    """A message left unfinished from one partial_timeout deadline to the next closes the
    connection (partial-timeout); messages that keep completing do not."""
    a, b = Connection("DEALER"), Connection("ROUTER", partial_timeout=10.0)
    pump(a, b)
    b.handle_timer(0.0)
    b.receive_data(b"\x01\x01x")  # an unfinished message
    assert b.wants_timer
    b.handle_timer(1.0)
    assert b.next_deadline() == 11.0
    b.receive_data(b"\x00\x01y\x01\x01z")  # it completes; the next one starts
    b.handle_timer(11.0)  # a different unfinished message: the clock starts again
    assert not b.closed and b.next_deadline() == 21.0
    events = b.handle_timer(21.0)
    assert isinstance(events[-1], ConnectionClosed) and events[-1].code == "partial-timeout"
    # a stream of messages that each span reads arms one timer per interval, not per message
    c, d = Connection("DEALER"), Connection("ROUTER", partial_timeout=10.0)
    pump(c, d)
    d.handle_timer(0.0)
    d.receive_data(b"\x01\x01x")
    d.handle_timer(0.5)
    for _ in range(100):
        d.receive_data(b"\x00\x01y")  # completes
        assert d.held_bytes == 0
        d.receive_data(b"\x01\x01x")  # the next one starts
        assert not d.wants_timer and d.next_deadline() == 10.5
    assert d.handle_timer(10.5) == [] and d.next_deadline() == 20.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([b"s" * 5, b"L" * 17_000, b"X" * 40_000, b"Y" * 70_000]),
                min_size=1, max_size=5),
       st.lists(st.integers(1, 9_000), min_size=1, max_size=6), st.booleans())
def test_growing_bodies_any_read_sizes(frames: list[bytes], reads: list[int],
                                       zero_copy: bool) -> None:
    """With a tiny BODY_CHUNK every large body grows several times while reads of any size
    arrive through get_buffer/buffer_updated; the frames come out intact and what the
    connection holds never exceeds BODY_GROWTH times what arrived (or one chunk)."""
    with patch("zre_ref.zmtp.receiver.BODY_CHUNK", 1024):
        a, b = Connection("DEALER"), Connection("ROUTER", zero_copy=zero_copy)
        pump(a, b)
        a.send_message(frames)

        def bounded(received: int) -> None:
            if b.held_bytes:
                assert b.held_bytes <= (max(1024, received) * BODY_GROWTH + 16 * 1024
                                        + FRAME_OVERHEAD * 5)

        got = _feed_buffered(b, a.data_to_send(), reads, bounded)
        assert len(got) == 1 and isinstance(got[0], MessageReceived)
        assert got[0].frames == frames and b.held_bytes == 0


def test_curve_sealed_bytes_count_against_the_budget() -> None:
    """After a CURVE handshake, an incomplete MESSAGE held by the sealed stream is charged to
    the budget like a partial frame, and given back once the MESSAGE is complete."""
    server_public, server_secret = curve_keypair()
    client_public, client_secret = curve_keypair()
    budget = ReceiveBudget(None)
    a = Connection("DEALER", mechanism=CurveClient.from_keys(server_public, client_public,
                                                              client_secret))
    b = Connection("ROUTER", mechanism=CurveServer.from_keys(server_public, server_secret, None),
                   budget=budget)
    pump(a, b)
    assert a.is_open and b.is_open
    a.send_message([b"m" * 5000])
    data = a.data_to_send()
    assert b.receive_data(data[:3000]) == []
    assert budget.used == b.held_bytes >= 3000
    events = b.receive_data(data[3000:])
    assert isinstance(events[0], MessageReceived) and events[0].frames == [b"m" * 5000]
    assert budget.used == 0


def test_handshake_deadline_starts_with_the_connection_when_given_the_time() -> None:
    """``now=``: the deadline is set at once (no handle_timer call needed to start it), and
    it fires as the one handle_timer starts (spec/zmtp.md#limits)."""
    a = Connection("DEALER", handshake_timeout=5.0, now=10.0)
    assert not a.wants_timer and a.next_deadline() == 15.0
    assert a.handle_timer(14.9) == [] and a.next_deadline() == 15.0
    events = a.handle_timer(15.0)
    assert isinstance(events[0], ConnectionClosed) and events[0].code == "handshake-timeout"
    b = Connection("DEALER", handshake_timeout=None, now=10.0)
    assert not b.wants_timer and b.next_deadline() is None
