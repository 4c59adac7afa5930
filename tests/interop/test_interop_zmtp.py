"""zre_ref's ZMTP against libzmq (pyzmq) on loopback: patterns both ways, PLAIN, heartbeats,
a restarting peer, and the vectors cross-checked against bytes libzmq puts on the wire."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("zmq")
import zmq
import zmq.asyncio
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import parse_monitor_message

from tests.waiting import until
from zre_ref.aio.zmtp import Socket
from zre_ref.zmtp.greeting import greeting_stages

pytestmark = pytest.mark.interop
T = TypeVar("T")
PAYLOAD = [b"first", b"", b"m" * 300, b"k" * 70_000]
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "zmtp"
CASES = {c["id"]: c for name in ("greeting.json", "frames.json", "handshake.json")
         for c in json.loads((VECTORS / name).read_text())["cases"]}


def run(coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait(aw: Any, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(aw, timeout)


@pytest.fixture
def ctx() -> Any:
    c = zmq.asyncio.Context()
    yield c
    c.destroy(linger=0)


# -- ROUTER <-> DEALER --------------------------------------------------------------------------------
@pytest.mark.parametrize("ours", ["ROUTER", "DEALER"])
@pytest.mark.parametrize("ours_binds", [True, False])
def test_router_dealer(ctx: Any, ours: str, ours_binds: bool) -> None:
    async def main() -> None:
        theirs = ctx.socket(zmq.DEALER if ours == "ROUTER" else zmq.ROUTER)
        theirs.linger = 0
        if ours == "ROUTER":
            theirs.identity = b"\x01libzmq-dealer"
        async with Socket(ours, identity=b"\x01ours" if ours == "DEALER" else b"") as s:
            if ours_binds:
                theirs.connect(await s.bind("tcp://127.0.0.1:*"))
            else:
                port = theirs.bind_to_random_port("tcp://127.0.0.1")
                await s.connect(f"tcp://127.0.0.1:{port}")
            if ours == "ROUTER":
                await theirs.send_multipart(PAYLOAD)
                assert await wait(s.recv_multipart()) == [b"\x01libzmq-dealer", *PAYLOAD]
                await s.send_multipart([b"\x01libzmq-dealer", *PAYLOAD])
                assert await wait(theirs.recv_multipart()) == PAYLOAD
            else:
                await s.send_multipart(PAYLOAD)
                assert await wait(theirs.recv_multipart()) == [b"\x01ours", *PAYLOAD]
                await theirs.send_multipart([b"\x01ours", *PAYLOAD])
                assert await wait(s.recv_multipart()) == PAYLOAD
        theirs.close(0)

    run(main())


# -- PUB -> SUB ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ours", ["PUB", "SUB"])
@pytest.mark.parametrize("sub_binds", [True, False])
def test_pub_sub(ctx: Any, ours: str, sub_binds: bool) -> None:
    async def main() -> None:
        theirs = ctx.socket(zmq.SUB if ours == "PUB" else zmq.PUB)
        theirs.linger = 0
        async with Socket(ours) as s:
            if ours == "SUB":
                s.subscribe(b"A")
            else:
                theirs.subscribe(b"A")
            ours_binds = sub_binds == (ours == "SUB")
            if ours_binds:
                theirs.connect(await s.bind("tcp://127.0.0.1:*"))
            else:
                port = theirs.bind_to_random_port("tcp://127.0.0.1")
                await s.connect(f"tcp://127.0.0.1:{port}")
            pub_send = s.send_multipart if ours == "PUB" else theirs.send_multipart
            recv = theirs.recv_multipart if ours == "PUB" else s.recv_multipart
            # subscriptions travel asynchronously: publish until the first one arrives
            for _ in range(100):
                await pub_send([b"A-probe"])
                try:
                    await wait(recv(), 0.05)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                raise AssertionError("no subscription arrived")
            # barrier: a marker after the probes, on the same ordered path; drain up to it
            await pub_send([b"A-marker"])
            while (await wait(recv()))[0] != b"A-marker":
                pass
            for topic in (b"B1", b"A1", b"XA", b"AB"):
                await pub_send([topic, *PAYLOAD])
            assert await wait(recv()) == [b"A1", *PAYLOAD]
            assert await wait(recv()) == [b"AB", *PAYLOAD]
        theirs.close(0)

    run(main())


# -- PLAIN --------------------------------------------------------------------------------------------
def test_plain_ours_client(ctx: Any) -> None:
    auth = ThreadAuthenticator(ctx)
    auth.start()
    auth.configure_plain(domain="*", passwords={"admin": "secret"})
    try:
        async def main() -> None:
            server = ctx.socket(zmq.ROUTER)
            server.linger = 0
            server.plain_server = True
            port = server.bind_to_random_port("tcp://127.0.0.1")
            ep = f"tcp://127.0.0.1:{port}"
            async with Socket("DEALER", identity=b"ok", plain_username="admin",
                              plain_password="secret") as ok, \
                    Socket("DEALER", identity=b"bad", plain_username="admin",
                           plain_password="wrong", reconnect_ivl=5.0) as bad:
                await bad.connect(ep)
                await bad.send_multipart([b"never"])
                await ok.connect(ep)
                await ok.send_multipart([b"hello"])
                assert await wait(server.recv_multipart()) == [b"ok", b"hello"]
                await server.send_multipart([b"ok", b"welcome"])
                assert await wait(ok.recv_multipart()) == [b"welcome"]
                with pytest.raises(asyncio.TimeoutError):
                    await wait(server.recv_multipart(), 0.5)
            server.close(0)

        run(main())
    finally:
        auth.stop()


def test_plain_ours_server(ctx: Any) -> None:
    async def main() -> None:
        async with Socket("ROUTER", plain_server=True,
                          plain_authenticator=lambda u, p: (u, p) == (b"admin", b"secret")) as s:
            ep = await s.bind("tcp://127.0.0.1:*")
            ok, bad = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
            for sock, pw, ident in ((ok, b"secret", b"ok"), (bad, b"nope", b"bad")):
                sock.linger = 0
                sock.identity = ident
                sock.plain_username = b"admin"
                sock.plain_password = pw
                sock.connect(ep)
            await bad.send_multipart([b"never"])
            await ok.send_multipart([b"hello", b""])
            assert await wait(s.recv_multipart()) == [b"ok", b"hello", b""]
            await s.send_multipart([b"ok", b"back"])
            assert await wait(ok.recv_multipart()) == [b"back"]
            with pytest.raises(asyncio.TimeoutError):
                await wait(s.recv_multipart(), 0.5)
            ok.close(0)
            bad.close(0)

    run(main())


# -- heartbeats ---------------------------------------------------------------------------------------
def test_libzmq_heartbeats_answered(ctx: Any) -> None:
    """libzmq pings us every 100 ms and drops us after 300 ms without a PONG: we stay up."""
    async def main() -> None:
        async with Socket("ROUTER") as s:
            ep = await s.bind("tcp://127.0.0.1:*")
            d = ctx.socket(zmq.DEALER)
            d.linger = 0
            d.identity = b"hb"
            d.heartbeat_ivl = 100
            d.heartbeat_timeout = 300
            d.heartbeat_ttl = 1000
            mon = d.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
            d.connect(ep)
            await d.send_multipart([b"one"])
            assert await wait(s.recv_multipart()) == [b"hb", b"one"]
            await asyncio.sleep(1.2)  # the scenario: idle for 4 heartbeat timeouts (no sync)
            events = []
            while await mon.poll(0):
                events.append(parse_monitor_message(await mon.recv_multipart())["event"])
            assert zmq.EVENT_DISCONNECTED not in events, events
            assert events.count(zmq.EVENT_HANDSHAKE_SUCCEEDED) == 1
            await s.send_multipart([b"hb", b"two"])
            assert await wait(d.recv_multipart()) == [b"two"]
            d.disable_monitor()
            mon.close(0)
            d.close(0)

    run(main())


def test_our_heartbeats_answered_by_libzmq(ctx: Any) -> None:
    async def main() -> None:
        r = ctx.socket(zmq.ROUTER)
        r.linger = 0
        port = r.bind_to_random_port("tcp://127.0.0.1")
        async with Socket("DEALER", identity=b"me", heartbeat_ivl=0.1, heartbeat_timeout=0.3,
                          heartbeat_ttl=1.0) as d:
            await d.connect(f"tcp://127.0.0.1:{port}")
            await d.send_multipart([b"one"])
            assert await wait(r.recv_multipart()) == [b"me", b"one"]
            assert d.peers()[0]["connections"] == 1
            await asyncio.sleep(1.2)  # the scenario: idle for 4 heartbeat timeouts (no sync)
            (pipe,) = d.peers()
            assert pipe["ready"] and pipe["connections"] == 1  # the first connection, still open
            await r.send_multipart([b"me", b"two"])
            assert await wait(d.recv_multipart()) == [b"two"]
        r.close(0)

    run(main())


# -- a libzmq peer restarting on the same port ---------------------------------------------------------
def test_libzmq_restart_same_port(ctx: Any) -> None:
    async def main() -> None:
        r = ctx.socket(zmq.ROUTER)
        r.linger = 0
        port = r.bind_to_random_port("tcp://127.0.0.1")
        async with Socket("DEALER", identity=b"me", reconnect_ivl=0.05) as d:
            await d.connect(f"tcp://127.0.0.1:{port}")
            await d.send_multipart([b"before"])
            assert await wait(r.recv_multipart()) == [b"me", b"before"]
            r.close(0)
            await until(lambda: not d.peers()[0]["ready"], what="the DEALER sees the ROUTER go")
            r2 = ctx.socket(zmq.ROUTER)
            r2.linger = 0
            r2.bind(f"tcp://127.0.0.1:{port}")
            await d.send_multipart([b"after"])
            assert await wait(r2.recv_multipart()) == [b"me", b"after"]
            await r2.send_multipart([b"me", b"hi again"])
            assert await wait(d.recv_multipart()) == [b"hi again"]
            r2.close(0)

    run(main())


# -- vectors against bytes libzmq sends ----------------------------------------------------------------
class RawPeer:
    """A raw TCP socket playing a ZMTP peer by hand, to see libzmq's bytes exactly."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3.0)

    def read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def read_frame(self) -> bytes:
        head = self.read(2)
        if head[0] & 0x02:
            rest = self.read(7)
            size = int.from_bytes(head[1:] + rest, "big")
            return head + rest + self.read(size)
        return head + self.read(head[1])

    def nothing_more(self, wait: float = 0.2) -> bool:
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(3.0)

    def close(self) -> None:
        self.sock.close()


def _vec(cid: str) -> bytes:
    return bytes.fromhex(CASES[cid]["hex"])


def _staged_handshake(peer: RawPeer, *, minor: int = 1, mechanism: str = "NULL") -> bytes:
    """Play the greeting the staged way; check libzmq's staging; return its 53-byte rest."""
    sig, major, rest = greeting_stages(mechanism)
    first = peer.read(10)
    assert peer.nothing_more(0.1)  # libzmq waits for our signature before its major
    peer.sock.sendall(sig)
    assert peer.read(1) == b"\x03"
    assert peer.nothing_more(0.1)  # ... and for our major before the rest
    peer.sock.sendall(major)
    their_rest = peer.read(53)
    peer.sock.sendall(bytes((minor,)) + rest[1:])
    return first + b"\x03" + their_rest


def _ready(socket_type: bytes, identity: bytes | None = None) -> bytes:
    from zre_ref.zmtp.commands import Ready, encode_command
    from zre_ref.zmtp.frames import encode_frame

    props = {"Socket-Type": socket_type}
    if identity is not None:
        props["Identity"] = identity
    return encode_frame(encode_command(Ready(props)), command=True)


def test_vectors_match_libzmq_dealer() -> None:
    zctx = zmq.Context()
    d = zctx.socket(zmq.DEALER)
    d.linger = 0
    d.identity = bytes([1]) + bytes(range(16))
    port = d.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(port)
    try:
        greeting = _staged_handshake(peer)
        assert greeting == _vec("zmtp.greeting.null-3-1-identity17")
        assert peer.read_frame() == _vec("zmtp.command.ready-dealer")
        peer.sock.sendall(_ready(b"ROUTER", b""))
        d.send_multipart([b"A", b""])
        assert peer.read(5) == _vec("zmtp.frame.more")
        # PING with a context is answered with PONG echoing it
        peer.sock.sendall(_vec("zmtp.command.ping-context"))
        assert peer.read_frame() == _vec("zmtp.command.pong")
        # a frame with reserved bits makes libzmq close, as our vector says it is invalid
        peer.sock.sendall(_vec("zmtp.frame.reserved-bits"))
        assert peer.nothing_more(1.0)
    finally:
        peer.close()
        d.close(0)
        zctx.term()


@pytest.mark.parametrize(("stype", "vector"), [("ROUTER", "zmtp.command.ready-router"),
                                               ("SUB", "zmtp.command.ready-sub")])
def test_vectors_match_libzmq_ready(stype: str, vector: str) -> None:
    zctx = zmq.Context()
    s = zctx.socket(getattr(zmq, stype))
    s.linger = 0
    port = s.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(port)
    try:
        greeting = _staged_handshake(peer)
        assert greeting == _vec("zmtp.greeting.null-3-1")
        assert peer.read_frame() == _vec(vector)
    finally:
        peer.close()
        s.close(0)
        zctx.term()


@pytest.mark.parametrize("minor", [0, 1])
def test_vectors_match_libzmq_subscriptions(minor: int) -> None:
    zctx = zmq.Context()
    s = zctx.socket(zmq.SUB)
    s.linger = 0
    port = s.bind_to_random_port("tcp://127.0.0.1")
    mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    peer = RawPeer(port)
    try:
        _staged_handshake(peer, minor=minor)
        peer.read_frame()  # READY
        peer.sock.sendall(_ready(b"PUB"))
        # libzmq hands the new pipe to the socket before it reports the handshake
        assert mon.poll(5000), "no handshake event from libzmq"
        assert parse_monitor_message(mon.recv_multipart())["event"] == \
            zmq.EVENT_HANDSHAKE_SUCCEEDED
        s.getsockopt(zmq.EVENTS)  # let the SUB attach the new pipe before subscribing
        s.subscribe(b"AB")
        if minor == 0:  # each is read before the next is asked for: nothing to wait out
            assert peer.read(5) == _vec("zmtp.message.subscribe-3-0")
            s.unsubscribe(b"AB")
            assert peer.read(5) == _vec("zmtp.message.cancel-3-0")
        else:
            assert peer.read_frame() == _vec("zmtp.command.subscribe")
            s.unsubscribe(b"AB")
            assert peer.read_frame() == _vec("zmtp.command.cancel")
    finally:
        peer.close()
        s.disable_monitor()
        mon.close(0)
        s.close(0)
        zctx.term()


def test_vectors_match_libzmq_ping() -> None:
    zctx = zmq.Context()
    d = zctx.socket(zmq.DEALER)
    d.linger = 0
    d.heartbeat_ivl = 100
    d.heartbeat_ttl = 2500
    port = d.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(port)
    try:
        _staged_handshake(peer)
        peer.read_frame()  # READY
        peer.sock.sendall(_ready(b"ROUTER", b""))
        assert peer.read_frame() == _vec("zmtp.command.ping")
    finally:
        peer.close()
        d.close(0)
        zctx.term()


def test_vectors_match_libzmq_plain_client() -> None:
    zctx = zmq.Context()
    d = zctx.socket(zmq.DEALER)
    d.linger = 0
    d.plain_username = b"u"
    d.plain_password = b"pw"
    port = d.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(port)
    try:
        greeting = _staged_handshake(peer, mechanism="PLAIN")
        assert greeting == _vec("zmtp.greeting.plain-client")
        assert peer.read_frame() == _vec("zmtp.command.hello")
        peer.sock.sendall(_vec("zmtp.command.welcome"))
        assert peer.read_frame() == _vec("zmtp.command.initiate")
    finally:
        peer.close()
        d.close(0)
        zctx.term()


def test_libzmq_accepts_our_transcript_bytes() -> None:
    """Replay our NULL DEALER transcript chunks (as recorded in the vectors) to a libzmq ROUTER."""
    case = CASES["zmtp.handshake.null-dealer-router"]
    zctx = zmq.Context()
    r = zctx.socket(zmq.ROUTER)
    r.linger = 0
    r.rcvtimeo = 3000
    port = r.bind_to_random_port("tcp://127.0.0.1")
    peer = RawPeer(port)
    try:
        for step in case["steps"]:
            if step["from"] == "client":
                peer.sock.sendall(bytes.fromhex(step["hex"]))
                time.sleep(0.02)  # the scenario: one read per recorded chunk, as recorded
        assert r.recv_multipart() == [b"\x01abc", b"hello", b""]
    finally:
        peer.close()
        r.close(0)
        zctx.term()
