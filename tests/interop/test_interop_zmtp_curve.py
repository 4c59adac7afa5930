"""ZMTP CURVE against libzmq (pyzmq, libsodium inside): first the sans-IO handshake and MESSAGE
cipher driven over a raw TCP socket, both roles, so libzmq checks every byte we produce; then
zre_ref's Socket live, both roles, ROUTER/DEALER and PUB/SUB with 0-byte, 300-byte and 70 KB
frames, and wrong server keys and refused client keys on both sides."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Coroutine
from typing import Any

import pytest

try:
    import zmq
except ImportError:  # pragma: no cover - the interop env installs pyzmq
    assert not os.environ.get("CI"), "CI=true but pyzmq is missing (tox.ini interop deps)"
    pytest.skip("pyzmq is not installed", allow_module_level=True)

import zmq.asyncio
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import parse_monitor_message

from tests.waiting import until
from zre_ref.aio.zmtp import Socket
from zre_ref.curve import curve_keypair, z85_decode
from zre_ref.zmtp import curve as zc
from zre_ref.zmtp.commands import decode_metadata, encode_metadata
from zre_ref.zmtp.frames import COMMAND, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting

pytestmark = pytest.mark.interop


class Raw:
    """One end of a ZMTP connection played by hand over a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(5.0)

    def read(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def read_frame(self) -> tuple[int, bytes]:
        flags, size = self.read(2)
        if flags & 0x02:
            size = int.from_bytes(bytes((size,)) + self.read(7), "big")
        return flags, self.read(size)

    def command(self, body: bytes) -> None:
        self.sock.sendall(frame_header(COMMAND, len(body)) + body)

    def message(self, body: bytes) -> None:
        """MESSAGE goes in a data frame: libzmq ignores it in a command frame."""
        self.sock.sendall(frame_header(0, len(body)) + body)

    def greet(self, as_server: bool) -> Greeting:
        self.sock.sendall(encode_greeting(Greeting(mechanism="CURVE", as_server=as_server)))
        peer = self.read(64)
        # libzmq sends as-server 0 even as a CURVE server (spec/zmtp.md#greeting)
        assert peer[12:32] == b"CURVE".ljust(20, b"\0") and peer[32] == 0
        return Greeting()

    def eof(self) -> bool:
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (TimeoutError, ConnectionResetError):
            return False


@pytest.fixture
def zctx() -> Any:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _md(socket_type: bytes, identity: bytes | None = b"") -> bytes:
    props = {"Socket-Type": socket_type}
    if identity is not None:
        props["Identity"] = identity
    return encode_metadata(props)


def test_our_client_handshake_against_libzmq_server(zctx: Any) -> None:
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    router = zctx.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_secretkey = ss
    router.rcvtimeo = router.sndtimeo = 5000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = Raw(socket.create_connection(("127.0.0.1", port)))
    try:
        peer.greet(as_server=False)
        client = zc.CurveClientHandshake(zc.CurveClient.from_keys(sp, cp, cs), _md(b"DEALER", b"raw"))
        peer.command(client.hello())
        flags, welcome = peer.read_frame()
        assert flags & COMMAND and len(welcome) == zc.WELCOME_SIZE
        peer.command(client.on_command(welcome))
        _, ready = peer.read_frame()
        props = decode_metadata(client.on_ready(ready), 0, 0)
        assert props["Socket-Type"] == b"ROUTER"
        cipher = client.cipher()
        for head, body in cipher.seal_many([(zc.FLAG_MORE, b"part"), (0, b"x" * 70_000)]):
            peer.message(head + body)
        ident, part, big = router.recv_multipart()
        assert ident == b"raw" and part == b"part" and big == b"x" * 70_000
        router.send_multipart([ident, b"world", b""])
        frames = [peer.read_frame() for _ in range(2)]
        assert [flags for flags, _ in frames] == [0, 0]  # data frames, MORE only inside the box
        assert [cipher.open(body) for _, body in frames] == [(zc.FLAG_MORE, b"world"), (0, b"")]
    finally:
        peer.sock.close()
        router.close(0)


def test_our_server_handshake_against_libzmq_client(zctx: Any) -> None:
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    dealer = zctx.socket(zmq.DEALER)
    dealer.curve_serverkey, dealer.curve_publickey, dealer.curve_secretkey = sp, cp, cs
    dealer.identity = b"libzmq"
    dealer.rcvtimeo = dealer.sndtimeo = 5000
    dealer.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    listener.settimeout(5.0)
    conn, _ = listener.accept()
    peer = Raw(conn)
    try:
        peer.greet(as_server=True)
        server = zc.CurveServerHandshake(zc.CurveServer.from_keys(
            sp, ss, lambda key: seen.append(key) is None))
        _, hello = peer.read_frame()
        assert len(hello) == zc.HELLO_SIZE and hello[8:80] == bytes(72)
        peer.command(server.on_hello(hello))
        _, initiate = peer.read_frame()
        key, md = server.on_initiate(initiate)
        assert key == z85_decode(cp) and seen == [key]
        props = decode_metadata(md, 0, 0)
        assert props["Socket-Type"] == b"DEALER" and props["Identity"] == b"libzmq"
        peer.command(server.ready(_md(b"ROUTER")))
        cipher = server.cipher()
        dealer.send_multipart([b"hi", b"y" * 300])
        assert [cipher.open(peer.read_frame()[1]) for _ in range(2)] == \
            [(zc.FLAG_MORE, b"hi"), (0, b"y" * 300)]
        # the first short nonce the libzmq client uses for data is 3 (HELLO 1, INITIATE 2)
        for head, body in cipher.seal_many([(0, b"back")]):
            assert int.from_bytes(head[8:16], "big") == 2
            peer.message(head + body)
        assert dealer.recv_multipart() == [b"back"]
    finally:
        peer.sock.close()
        listener.close()
        dealer.close(0)


def test_libzmq_drops_a_replayed_message(zctx: Any) -> None:
    """libzmq, too, closes on a MESSAGE whose nonce does not rise (spec/curve.md#nonces)."""
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    router = zctx.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_secretkey = ss
    router.rcvtimeo = 1000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = Raw(socket.create_connection(("127.0.0.1", port)))
    try:
        peer.greet(as_server=False)
        client = zc.CurveClientHandshake(zc.CurveClient.from_keys(sp, cp, cs), _md(b"DEALER", b"r"))
        peer.command(client.hello())
        peer.command(client.on_command(peer.read_frame()[1]))
        client.on_ready(peer.read_frame()[1])
        first = client.cipher().seal(0, b"once")
        peer.message(first)
        assert router.recv_multipart() == [b"r", b"once"]
        peer.message(first)
        peer.sock.settimeout(3.0)
        assert peer.eof()
        with pytest.raises(zmq.Again):
            router.recv_multipart()
    finally:
        peer.sock.close()
        router.close(0)


def test_libzmq_server_closes_on_wrong_server_key(zctx: Any) -> None:
    _, ss = curve_keypair()
    other, _ = curve_keypair()
    cp, cs = curve_keypair()
    router = zctx.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_secretkey = ss
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = Raw(socket.create_connection(("127.0.0.1", port)))
    try:
        peer.greet(as_server=False)
        client = zc.CurveClientHandshake(zc.CurveClient.from_keys(other, cp, cs), _md(b"DEALER"))
        peer.command(client.hello())
        peer.sock.settimeout(3.0)
        assert peer.eof()  # no WELCOME, no ERROR: libzmq just closes
    finally:
        peer.sock.close()
        router.close(0)


def test_libzmq_ignores_message_in_a_command_frame_and_encrypts_commands(zctx: Any) -> None:
    """What libzmq 4.3 does that RFC 25/26 do not say (spec/curve.md#message): a MESSAGE in a
    command frame is ignored (not delivered, connection kept); a PING inside a MESSAGE with the
    COMMAND flag is answered by a PONG inside a MESSAGE with the COMMAND flag."""
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    router = zctx.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_secretkey = ss
    router.rcvtimeo = 5000
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = Raw(socket.create_connection(("127.0.0.1", port)))
    try:
        peer.greet(as_server=False)
        client = zc.CurveClientHandshake(zc.CurveClient.from_keys(sp, cp, cs), _md(b"DEALER", b"c"))
        peer.command(client.hello())
        peer.command(client.on_command(peer.read_frame()[1]))
        client.on_ready(peer.read_frame()[1])
        cipher = client.cipher()
        peer.command(cipher.seal(0, b"in-a-command-frame"))
        peer.message(cipher.seal(0, b"in-a-data-frame"))
        assert router.recv_multipart() == [b"c", b"in-a-data-frame"]
        peer.message(cipher.seal(zc.FLAG_COMMAND, b"\x04PING\x00\x00ctx"))
        flags, body = peer.read_frame()
        assert flags == 0 and cipher.open(body) == (zc.FLAG_COMMAND, b"\x04PONGctx")
    finally:
        peer.sock.close()
        router.close(0)


# -- live: zre_ref's Socket with CURVE against libzmq ------------------------------------------
PAYLOAD = [b"", b"m" * 300, b"k" * 70_000]


def run(coro: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


async def wait(aw: Any, timeout: float = 10.0) -> Any:
    return await asyncio.wait_for(aw, timeout)


@pytest.fixture
def actx() -> Any:
    c = zmq.asyncio.Context()
    yield c
    c.destroy(linger=0)


def _server(sock: Any, secret: bytes) -> None:
    sock.linger = 0
    sock.curve_server = True
    sock.curve_secretkey = secret


def _client(sock: Any, server_public: bytes, public: bytes, secret: bytes) -> None:
    sock.linger = 0
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret


async def _round_trip(router: Any, dealer: Any, identity: bytes) -> None:
    """PAYLOAD from the DEALER to the ROUTER and back."""
    await dealer.send_multipart(PAYLOAD)
    assert await wait(router.recv_multipart()) == [identity, *PAYLOAD]
    await router.send_multipart([identity, *PAYLOAD])
    assert await wait(dealer.recv_multipart()) == PAYLOAD


async def _refused(monitor: Any, failure: int, value: int | None, recv: Any) -> None:
    """The monitor reports ``failure`` (not a handshake), and ``recv`` gets nothing."""
    event = await _events(monitor, {failure, zmq.EVENT_HANDSHAKE_SUCCEEDED})
    assert event["event"] == failure
    if value is not None:
        assert event["value"] == value
    with pytest.raises(asyncio.TimeoutError):
        await wait(recv(), 0.3)


async def _events(monitor: Any, want: set[int], timeout: float = 10.0) -> dict[str, Any]:
    """Monitor events until one in ``want`` arrives; returns it."""
    async def loop() -> dict[str, Any]:
        while True:
            event: dict[str, Any] = parse_monitor_message(await monitor.recv_multipart())
            if event["event"] in want:
                return event

    return await asyncio.wait_for(loop(), timeout)


@pytest.mark.parametrize("ours", ["server", "client"])
def test_router_dealer_curve(actx: Any, ours: str) -> None:
    """ours = server: our ROUTER is the CURVE server (binds), libzmq's DEALER the client;
    ours = client: our DEALER is the CURVE client of libzmq's ROUTER (which binds)."""
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()

    async def main() -> None:
        if ours == "server":
            seen: list[bytes] = []
            async with Socket("ROUTER", curve_server=True, curve_publickey=sp.decode(),
                              curve_secretkey=ss,
                              curve_authenticator=lambda k: seen.append(k) is None) as s:
                ep = await s.bind("tcp://127.0.0.1:*")
                theirs = actx.socket(zmq.DEALER)
                _client(theirs, sp, cp, cs)
                theirs.identity = b"libzmq"
                theirs.connect(ep)
                await _round_trip(s, theirs, b"libzmq")
                assert seen == [z85_decode(cp)]
                theirs.close(0)
        else:
            theirs = actx.socket(zmq.ROUTER)
            _server(theirs, ss)
            port = theirs.bind_to_random_port("tcp://127.0.0.1")
            async with Socket("DEALER", identity=b"ours", curve_serverkey=sp,
                              curve_publickey=cp, curve_secretkey=cs.decode()) as s:
                await s.connect(f"tcp://127.0.0.1:{port}")
                await _round_trip(theirs, s, b"ours")
            theirs.close(0)

    run(main())


@pytest.mark.parametrize("ours", ["PUB-server", "SUB-client"])
def test_pub_sub_curve(actx: Any, ours: str) -> None:
    """The SUBSCRIBE travels sealed (a MESSAGE with the COMMAND flag) both ways."""
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()

    async def main() -> None:
        if ours == "PUB-server":
            s = Socket("PUB", curve_server=True, curve_secretkey=ss)
            ep = await s.bind("tcp://127.0.0.1:*")
            theirs = actx.socket(zmq.SUB)
            _client(theirs, sp, cp, cs)
            theirs.subscribe(b"A")
            theirs.connect(ep)
            send, recv = s.send_multipart, theirs.recv_multipart
        else:
            theirs = actx.socket(zmq.PUB)
            _server(theirs, ss)
            port = theirs.bind_to_random_port("tcp://127.0.0.1")
            s = Socket("SUB", curve_serverkey=sp, curve_publickey=cp, curve_secretkey=cs)
            s.subscribe(b"A")
            await s.connect(f"tcp://127.0.0.1:{port}")
            send, recv = theirs.send_multipart, s.recv_multipart
        try:
            for _ in range(200):  # until the subscription has arrived
                await send([b"A-probe"])
                try:
                    await wait(recv(), 0.05)
                    break
                except asyncio.TimeoutError:
                    continue
            else:
                raise AssertionError("no subscription arrived")
            while True:
                try:
                    await wait(recv(), 0.1)
                except asyncio.TimeoutError:
                    break
            for topic in (b"B1", b"A1"):
                await send([topic, *PAYLOAD])
            assert await wait(recv()) == [b"A1", *PAYLOAD]
        finally:
            s.close()
            theirs.close(0)

    run(main())


def test_wrong_server_key_ours_client(actx: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Our client was given the wrong server key: libzmq cannot open HELLO and drops us."""
    _, ss = curve_keypair()
    other, _ = curve_keypair()
    cp, cs = curve_keypair()

    async def main() -> None:
        theirs = actx.socket(zmq.ROUTER)
        _server(theirs, ss)
        monitor = theirs.get_monitor_socket()
        port = theirs.bind_to_random_port("tcp://127.0.0.1")
        async with Socket("DEALER", curve_serverkey=other, curve_publickey=cp,
                          curve_secretkey=cs, reconnect_ivl=5.0) as s:
            await s.connect(f"tcp://127.0.0.1:{port}")
            await s.send_multipart([b"never"])
            await _refused(monitor, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                           zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, theirs.recv_multipart)
        theirs.disable_monitor()
        monitor.close(0)
        theirs.close(0)

    run(main())


def test_wrong_server_key_libzmq_client(actx: Any, caplog: pytest.LogCaptureFixture) -> None:
    """libzmq's client was given the wrong server key: our server cannot open HELLO, logs why
    and closes; nothing is delivered."""
    _, ss = curve_keypair()
    other, _ = curve_keypair()
    cp, cs = curve_keypair()
    caplog.set_level(logging.INFO, logger="zre_ref")

    async def main() -> None:
        async with Socket("ROUTER", curve_server=True, curve_secretkey=ss) as s:
            ep = await s.bind("tcp://127.0.0.1:*")
            theirs = actx.socket(zmq.DEALER)
            _client(theirs, other, cp, cs)
            monitor = theirs.get_monitor_socket()
            theirs.connect(ep)
            await theirs.send_multipart([b"never"])
            await _refused(monitor, zmq.EVENT_DISCONNECTED, None, s.recv_multipart)
            theirs.disable_monitor()
            monitor.close(0)
            theirs.close(0)

    run(main())
    assert any("hello-box" in r.getMessage() for r in caplog.records), caplog.text


def test_refused_client_key_our_server(actx: Any) -> None:
    """Our curve_authenticator refuses libzmq's client key: ERROR "400", libzmq reports an
    authentication failure with status 400; an allowed client on the same socket is served."""
    sp, ss = curve_keypair()
    good_p, good_s = curve_keypair()
    bad_p, bad_s = curve_keypair()
    allowed = {z85_decode(good_p)}

    async def main() -> None:
        async with Socket("ROUTER", curve_server=True, curve_secretkey=ss,
                          curve_authenticator=lambda key: key in allowed) as s:
            ep = await s.bind("tcp://127.0.0.1:*")
            bad, good = actx.socket(zmq.DEALER), actx.socket(zmq.DEALER)
            _client(bad, sp, bad_p, bad_s)
            _client(good, sp, good_p, good_s)
            good.identity = b"good"
            monitor = bad.get_monitor_socket()
            bad.connect(ep)
            await bad.send_multipart([b"never"])
            await _refused(monitor, zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400, s.recv_multipart)
            good.connect(ep)
            await good.send_multipart([b"hello"])
            assert await wait(s.recv_multipart()) == [b"good", b"hello"]
            bad.disable_monitor()
            monitor.close(0)
            bad.close(0)
            good.close(0)

    run(main())


def test_refused_client_key_libzmq_server(actx: Any, caplog: pytest.LogCaptureFixture) -> None:
    """libzmq's ZAP allow-list does not hold our key: it sends ERROR "400"; our client logs the
    ERROR and closes; nothing is delivered."""
    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    allowed_p, _ = curve_keypair()
    caplog.set_level(logging.INFO, logger="zre_ref")
    auth = ThreadAuthenticator(actx)
    auth.start()
    try:
        auth.configure_curve_callback(domain="*", credentials_provider=_Only(allowed_p))

        async def main() -> None:
            theirs = actx.socket(zmq.ROUTER)
            _server(theirs, ss)
            port = theirs.bind_to_random_port("tcp://127.0.0.1")
            async with Socket("DEALER", curve_serverkey=sp, curve_publickey=cp,
                              curve_secretkey=cs, reconnect_ivl=5.0) as s:
                await s.connect(f"tcp://127.0.0.1:{port}")
                await s.send_multipart([b"never"])
                await until(lambda: any("400" in r.getMessage() for r in caplog.records),
                            what="our side logs the refusal")
                with pytest.raises(asyncio.TimeoutError):
                    await wait(theirs.recv_multipart(), 0.3)
            theirs.close(0)

        run(main())
    finally:
        auth.stop()
    assert any("ERROR" in r.getMessage() and "400" in r.getMessage() for r in caplog.records), \
        caplog.text


class _Only:
    """A pyzmq CURVE credentials provider that allows one Z85 key."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def callback(self, domain: str, key: bytes) -> bool:
        return key == self.key
