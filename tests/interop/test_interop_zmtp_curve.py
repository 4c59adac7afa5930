"""ZMTP CURVE against libzmq (pyzmq, libsodium inside): the sans-IO handshake and MESSAGE cipher
driven over a raw TCP socket, both roles, so libzmq checks every byte we produce."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

try:
    import zmq
except ImportError:  # pragma: no cover - the interop env installs pyzmq
    assert not os.environ.get("CI"), "CI=true but pyzmq is missing (tox.ini interop deps)"
    pytest.skip("pyzmq is not installed", allow_module_level=True)

from zre_ref.curve import curve_keypair
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
        from zre_ref.curve import z85_decode

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
