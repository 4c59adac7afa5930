"""CURVE inside the sans-IO Connection and the asyncio Socket (spec/curve.md#state-machine):
handshake rows, sealed messages and commands, and every way a peer can break it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.aio.zmtp import Socket
from zre_ref.curve import curve_keypair, z85_decode
from zre_ref.zmtp import curve as zc
from zre_ref.zmtp.commands import encode_metadata
from zre_ref.zmtp.connection import (
    Connection,
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    Input,
    MessageReceived,
    PongReceived,
    State,
    Subscribed,
)
from zre_ref.zmtp.frames import COMMAND, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting

SP, SS = curve_keypair()
CP, CS = curve_keypair()


def pair(client_type: str = "DEALER", server_type: str = "ROUTER", *,
         authenticator: zc.CurveAuthenticator | None = None,
         server_key: bytes = SP) -> tuple[Connection, Connection]:
    client = Connection(client_type, identity=b"c" if client_type == "DEALER" else b"",
                        mechanism=zc.CurveClient.from_keys(server_key, CP, CS))
    server = Connection(server_type, mechanism=zc.CurveServer.from_keys(SP, SS, authenticator))
    client.trace, server.trace = [], []
    return client, server


def pump(a: Connection, b: Connection, chunk: int = 0) -> tuple[list[Event], list[Event]]:
    """Move bytes both ways until quiet (``chunk`` > 0: in pieces of that size)."""
    ea: list[Event] = []
    eb: list[Event] = []
    for _ in range(50):
        moved = False
        for src, dst, evs in ((a, b, eb), (b, a, ea)):
            data = src.data_to_send()
            if not data:
                continue
            moved = True
            if chunk:
                for i in range(0, len(data), chunk):
                    evs += dst.receive_data(data[i:i + chunk])
            else:
                evs += dst.receive_data(data)
        if not moved:
            break
    return ea, eb


def _closed(events: list[Event]) -> ConnectionClosed:
    found = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(found) == 1, events
    return found[0]


@pytest.mark.parametrize("chunk", [0, 1, 97])
def test_handshake_and_messages(chunk: int) -> None:
    client, server = pair()
    ec, es = pump(client, server, chunk)
    done_c = [e for e in ec if isinstance(e, HandshakeCompleted)]
    done_s = [e for e in es if isinstance(e, HandshakeCompleted)]
    assert done_c and done_c[0].mechanism == "CURVE" and done_c[0].peer_socket_type == "ROUTER"
    assert done_s and done_s[0].peer_identity == b"c" and done_s[0].user_id == CP
    assert (State.GREETING, Input.GREETING_CURVE_CLIENT, State.EXPECT_WELCOME) in (client.trace or [])
    assert (State.GREETING, Input.GREETING_CURVE_SERVER, State.EXPECT_HELLO) in (server.trace or [])
    messages = [[b"one"], [b"a", b"", b"z" * 300], [b"big" * 30_000]]
    for m in messages:
        client.send_message(m)
    server.send_message([b"back"])
    ec, es = pump(client, server, chunk)
    assert [e.frames for e in es if isinstance(e, MessageReceived)] == messages
    assert [e.frames for e in ec if isinstance(e, MessageReceived)] == [[b"back"]]


def test_handshake_rows_follow_the_table() -> None:
    client, server = pair()
    pump(client, server)
    assert [(s.value, i.value, n.value) for s, i, n in client.trace or []][2:] == [
        ("greeting", "greeting/CURVE client", "expect-welcome"),
        ("expect-welcome", "WELCOME", "expect-ready"),
        ("expect-ready", "READY", "open")]
    assert [(s.value, i.value, n.value) for s, i, n in server.trace or []][2:] == [
        ("greeting", "greeting/CURVE server", "expect-hello"),
        ("expect-hello", "HELLO accepted", "expect-initiate"),
        ("expect-initiate", "INITIATE", "open")]


def test_commands_travel_sealed() -> None:
    sub, pub = pair("SUB", "PUB")
    pump(sub, pub)
    sub.send_subscribe(b"news")
    wire = sub.data_to_send()
    assert b"SUBSCRIBE" not in wire and wire[0] == 0  # a data frame holding a MESSAGE
    events = pub.receive_data(wire)
    assert Subscribed(b"news") in events
    pub.send_ping(0, b"ctx")
    _ev_sub, ev_pub = pump(sub, pub)
    assert PongReceived(b"ctx") in ev_pub


def test_nothing_in_clear_after_ready() -> None:
    client, server = pair()
    pump(client, server)
    client.send_message([b"secret payload"])
    assert b"secret payload" not in client.data_to_send()


def test_many_messages_one_flush() -> None:
    client, server = pair()
    pump(client, server)
    for i in range(300):
        client.send_message([b"%d" % i])
    assert client.pending_output() >= 300
    events = server.receive_data(client.data_to_send())
    assert [e.frames for e in events if isinstance(e, MessageReceived)] == \
        [[b"%d" % i] for i in range(300)]


def _tamper_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_tampered_message_closes_after_the_good_ones() -> None:
    client, server = pair()
    pump(client, server)
    client.send_message([b"good"])
    good = client.data_to_send()
    client.send_message([b"bad"])
    bad = _tamper_last(client.data_to_send())
    events = server.receive_data(good + bad)
    assert [e.frames for e in events if isinstance(e, MessageReceived)] == [[b"good"]]
    closed = _closed(events)
    assert closed.code == "decode-error" and "message-box" in closed.reason
    assert server.closed


def test_replayed_message_closes() -> None:
    client, server = pair()
    pump(client, server)
    client.send_message([b"once"])
    data = client.data_to_send()
    assert [e.frames for e in server.receive_data(data) if isinstance(e, MessageReceived)] == [[b"once"]]
    closed = _closed(server.receive_data(data))
    assert closed.code == "decode-error" and "nonce" in closed.reason


def test_clear_command_after_ready_closes() -> None:
    client, server = pair()
    pump(client, server)
    body = b"\x04PING\x00\x00"
    closed = _closed(server.receive_data(frame_header(COMMAND, len(body)) + body))
    assert closed.code == "protocol-error" and "command frame" in closed.reason


def test_refused_key_error_400_both_sides() -> None:
    seen: list[bytes] = []
    client, server = pair(authenticator=lambda key: seen.append(key) is None and False)
    ec, es = pump(client, server)
    assert seen == [z85_decode(CP)]
    assert _closed(es).code == "auth-failed"
    closed = _closed(ec)
    assert closed.code == "peer-error" and "400" in closed.reason
    assert not any(isinstance(e, HandshakeCompleted) for e in ec + es)


def test_wrong_server_key_closes_the_server_side() -> None:
    other, _ = curve_keypair()
    client, server = pair(server_key=other)
    ec, es = pump(client, server)
    closed = _closed(es)
    assert closed.code == "decode-error" and "hello-box" in closed.reason
    assert not any(isinstance(e, HandshakeCompleted) for e in ec)
    assert client.state is State.EXPECT_WELCOME  # it learns by EOF from its transport


def test_socket_type_mismatch_closes() -> None:
    client, server = pair("DEALER", "PUB")
    _ec, es = pump(client, server)
    assert _closed(es).code == "socket-type-mismatch"


def test_mechanism_mismatch_closes() -> None:
    client = Connection("DEALER", mechanism=zc.CurveClient.from_keys(SP, CP, CS))
    server = Connection("ROUTER")
    ec, _es = pump(client, server)
    assert _closed(ec).code == "mechanism-mismatch"


def _open_server() -> tuple[Connection, bytes]:
    """A CURVE server connection in expect-hello, and the client's greeting."""
    server = Connection("ROUTER", mechanism=zc.CurveServer.from_keys(SP, SS))
    return server, encode_greeting(Greeting(mechanism="CURVE"))


@settings(max_examples=150, deadline=None)
@given(junk=st.binary(max_size=400), as_command=st.booleans())
def test_garbage_during_the_handshake_only_closes(junk: bytes, as_command: bool) -> None:
    server, greeting = _open_server()
    data = greeting + (frame_header(COMMAND, len(junk)) + junk if as_command else junk)
    events = server.receive_data(data)
    assert all(isinstance(e, (ConnectionClosed, HandshakeCompleted, MessageReceived))
               for e in events)
    assert server.state in (State.EXPECT_HELLO, State.CLOSED)


@settings(max_examples=100, deadline=None)
@given(junk=st.binary(max_size=300))
def test_garbage_after_ready_only_closes(junk: bytes) -> None:
    client, server = pair()
    pump(client, server)
    events = server.receive_data(junk)
    assert not any(isinstance(e, MessageReceived) for e in events)
    assert server.state in (State.OPEN, State.CLOSED)


def test_message_frame_larger_than_the_limit_is_refused_from_its_header() -> None:
    client = Connection("DEALER", mechanism=zc.CurveClient.from_keys(SP, CP, CS))
    server = Connection("ROUTER", mechanism=zc.CurveServer.from_keys(SP, SS), max_message_size=1000)
    pump(client, server)
    huge = b"\x02" + (10**9).to_bytes(8, "big")
    closed = _closed(server.receive_data(huge))
    assert closed.code == "decode-error" and "limit" in closed.reason


# -- the asyncio Socket ----------------------------------------------------------------------------
def test_socket_options_like_pyzmq() -> None:
    with pytest.raises(ValueError):
        Socket("ROUTER", curve_server=True)  # no secret key
    with pytest.raises(ValueError):
        Socket("DEALER", curve_serverkey=SP)  # no client key pair
    with pytest.raises(ValueError):
        Socket("DEALER", curve_serverkey=SP, curve_publickey=SP, curve_secretkey=CS)  # mismatch
    with pytest.raises(ValueError):
        Socket("DEALER", curve_authenticator=lambda k: True)
    with pytest.raises(ValueError):
        Socket("DEALER", plain_username="u", curve_serverkey=SP, curve_publickey=CP,
               curve_secretkey=CS)
    s = Socket("ROUTER", curve_server=True, curve_secretkey=z85_decode(SS))
    assert isinstance(s.mechanism, zc.CurveServer) and s.mechanism.public_key == z85_decode(SP)
    assert SS.decode() not in repr(s.mechanism) and repr(z85_decode(SS)) not in repr(s.mechanism)


async def _raw_client(port: int, tamper: bool) -> bool:
    """A hand-driven CURVE client: handshake, then one MESSAGE (tampered or not). Returns True
    if the server closed the connection afterwards."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode_greeting(Greeting(mechanism="CURVE")))
        await reader.readexactly(64)
        hs = zc.CurveClientHandshake(zc.CurveClient.from_keys(SP, CP, CS),
                                     encode_metadata({"Socket-Type": b"DEALER", "Identity": b"raw"}))

        async def command() -> bytes:
            _flags, size = await reader.readexactly(2)
            return await reader.readexactly(size)

        for body in (hs.hello(),):
            writer.write(frame_header(COMMAND, len(body)) + body)
        initiate = hs.on_command(await command())
        writer.write(frame_header(COMMAND, len(initiate)) + initiate)
        hs.on_ready(await command())
        msg = hs.cipher().seal(0, b"from-raw")
        if tamper:
            msg = _tamper_last(msg)
        writer.write(frame_header(0, len(msg)) + msg)
        await writer.drain()
        return await asyncio.wait_for(reader.read(1), 5) == b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def test_a_tampering_client_only_loses_its_own_link() -> None:
    async def main() -> None:
        async with Socket("ROUTER", curve_server=True, curve_secretkey=SS) as router, \
                Socket("DEALER", identity=b"good", curve_serverkey=SP, curve_publickey=CP,
                       curve_secretkey=CS) as good:
            ep = await router.bind("tcp://127.0.0.1:*")
            port = int(ep.rsplit(":", 1)[1])
            await good.connect(ep)
            await good.send_multipart([b"before"])
            assert await asyncio.wait_for(router.recv_multipart(), 5) == [b"good", b"before"]
            assert await _raw_client(port, tamper=True)  # the server dropped the tamperer
            await good.send_multipart([b"after"])
            assert await asyncio.wait_for(router.recv_multipart(), 5) == [b"good", b"after"]
            await router.send_multipart([b"good", b"reply"])
            assert await asyncio.wait_for(good.recv_multipart(), 5) == [b"reply"]

    asyncio.run(asyncio.wait_for(main(), 30))


def test_raw_client_is_served_when_honest() -> None:
    async def main() -> Any:
        async with Socket("ROUTER", curve_server=True, curve_secretkey=SS) as router:
            ep = await router.bind("tcp://127.0.0.1:*")
            task = asyncio.ensure_future(_raw_client(int(ep.rsplit(":", 1)[1]), tamper=False))
            assert await asyncio.wait_for(router.recv_multipart(), 5) == [b"raw", b"from-raw"]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await task

    asyncio.run(asyncio.wait_for(main(), 30))


# -- the golden transcripts, through two Connections ------------------------------------------------
def _transcripts() -> list[dict[str, Any]]:
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "vectors" / "curve" / "handshake.json"
    cases: list[dict[str, Any]] = json.loads(path.read_text())["cases"]
    return cases


@pytest.mark.parametrize("case", _transcripts(), ids=lambda c: c["id"])
def test_connections_put_the_transcript_bytes_on_the_wire(case: dict[str, Any]) -> None:
    """Two Connections given the transcript's keys and random draws send exactly its command
    frames (after their staged greetings), then its MESSAGE frames for the same sends."""
    from zre_ref.curve.fixtures import FixedRandom

    h = bytes.fromhex
    c, s = case["input"]["client"], case["input"]["server"]
    rnd = FixedRandom({
        "client-ephemeral-secret": h(c["ephemeral_secret"]), "vouch-nonce": h(c["vouch_nonce"]),
        "server-ephemeral-secret": h(s["ephemeral_secret"]), "cookie-key": h(s["cookie_key"]),
        "cookie-nonce": h(s["cookie_nonce"]), "welcome-nonce": h(s["welcome_nonce"])})
    client = Connection(c["socket_type"], identity=h(c["identity"]),
                        mechanism=zc.CurveClient.from_keys(h(c["server_key"]), h(c["public_key"]),
                                                           h(c["secret_key"]), rnd))
    server = Connection(s["socket_type"], mechanism=zc.CurveServer.from_keys(
        h(s["public_key"]), h(s["secret_key"]), None, rnd))
    wire = {"client": bytearray(), "server": bytearray()}

    def flush(name: str) -> None:
        src, dst = (client, server) if name == "client" else (server, client)
        data = src.data_to_send()
        if data:  # b"" would mean EOF
            wire[name] += data
            dst.receive_data(data)

    for _ in range(6):
        flush("client")
        flush("server")
    assert client.is_open and server.is_open
    message: list[bytes] = []
    for step in case["steps"]:
        if step.get("command") != "MESSAGE":
            continue
        f, name = step["fields"], step["from"]
        sender = client if name == "client" else server
        if f["flags"] & zc.FLAG_COMMAND:  # the SUB's subscription
            assert h(f["frame"])[:10] == b"\x09SUBSCRIBE"
            sender.send_subscribe(h(f["frame"])[10:])
        else:
            message.append(h(f["frame"]))
            if f["flags"] & zc.FLAG_MORE:
                continue
            sender.send_message(message)
            message = []
        flush(name)
    for name in ("client", "server"):
        frames = b"".join(h(st["hex"]) for st in case["steps"][2:] if st["from"] == name)
        assert bytes(wire[name][64:]) == frames, name  # after the 64-byte staged greeting
