"""asyncio ZMTP sockets on loopback: patterns, PLAIN, HWM, handover, reconnect, hostile peers
(spec/zmtp.md#sockets). Every wait is bounded."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from zre_ref.aio.zmtp import Socket, SocketClosed, WouldBlock, parse_endpoint
from zre_ref.zmtp.commands import Ready, encode_command
from zre_ref.zmtp.frames import encode_frame
from zre_ref.zmtp.greeting import greeting_stages

pytestmark = pytest.mark.net
T = TypeVar("T")
def _ready(socket_type: bytes) -> bytes:
    return encode_frame(encode_command(Ready({"Socket-Type": socket_type})), command=True)


PAYLOAD = [b"first", b"", b"m" * 300, b"k" * 70_000]


def run(coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def recv(sock: Socket, timeout: float = 3.0) -> list[bytes]:
    return await asyncio.wait_for(sock.recv_multipart(), timeout)


async def until(pred: Callable[[], bool], timeout: float = 3.0) -> None:
    async def poll() -> None:
        while not pred():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


@pytest.mark.parametrize("router_binds", [True, False])
def test_router_dealer(router_binds: bool) -> None:
    async def main() -> None:
        async with Socket("ROUTER") as r, Socket("DEALER", identity=b"\x01dealer") as d:
            if router_binds:
                await d.connect(await r.bind("tcp://127.0.0.1:*"))
            else:
                await r.connect(await d.bind("tcp://127.0.0.1:*"))
            await d.send_multipart(PAYLOAD)  # queued until the handshake is done
            got = await recv(r)
            assert got == [b"\x01dealer", *PAYLOAD]
            await r.send_multipart([b"\x01dealer", *PAYLOAD])
            assert await recv(d) == PAYLOAD
            await r.send_multipart([b"nobody", b"dropped"])  # unknown identity: dropped
            await r.send_multipart([b"\x01dealer", b"after"])
            assert await recv(d) == [b"after"]

    run(main())


def test_router_generates_identities() -> None:
    async def main() -> None:
        async with Socket("ROUTER") as r, Socket("DEALER") as d:
            await d.connect(await r.bind("tcp://127.0.0.1:*"))
            await d.send_multipart([b"x"])
            ident, body = await recv(r)
            assert len(ident) == 5 and ident[0] == 0 and body == b"x"
            await r.send_multipart([ident, b"y"])
            assert await recv(d) == [b"y"]

    run(main())


def test_pub_sub_prefix() -> None:
    async def main() -> None:
        async with Socket("PUB") as pub, Socket("SUB") as sub, Socket("SUB") as sub2:
            ep = await pub.bind("tcp://127.0.0.1:*")
            sub.subscribe(b"A")
            sub2.subscribe(b"")
            await sub.connect(ep)
            await sub2.connect(ep)
            await until(lambda: sum(len(p["subscriptions"]) for p in pub.peers()) == 2)
            for topic in (b"B1", b"A1", b"AB"):
                await pub.send_multipart([topic, b"data"])
            assert await recv(sub) == [b"A1", b"data"]
            assert await recv(sub) == [b"AB", b"data"]
            assert [(await recv(sub2))[0] for _ in range(3)] == [b"B1", b"A1", b"AB"]
            sub.unsubscribe(b"A")
            await until(lambda: sum(len(p["subscriptions"]) for p in pub.peers()) == 1)
            await pub.send_multipart([b"A2"])
            assert await recv(sub2) == [b"A2"]
            with pytest.raises(asyncio.TimeoutError):
                await recv(sub, 0.2)

    run(main())


def test_plain() -> None:
    async def main() -> None:
        async with Socket("ROUTER", plain_server=True,
                          plain_authenticator=lambda u, p: (u, p) == (b"admin", b"secret")) as r:
            ep = await r.bind("tcp://127.0.0.1:*")
            async with Socket("DEALER", plain_username="admin", plain_password="secret") as ok, \
                    Socket("DEALER", plain_username="admin", plain_password="wrong",
                           reconnect_ivl=5.0) as bad:
                await ok.connect(ep)
                await bad.connect(ep)
                await bad.send_multipart([b"never"])
                await ok.send_multipart([b"hello"])
                assert (await recv(r))[1:] == [b"hello"]
                with pytest.raises(asyncio.TimeoutError):
                    await recv(r, 0.3)

    run(main())


def test_dealer_hwm_would_block() -> None:
    async def main() -> None:
        async with Socket("DEALER", sndhwm=5) as d:
            with pytest.raises(WouldBlock):
                d.send_multipart_nowait([b"no peer at all"])
            await d.connect("tcp://127.0.0.1:9")  # nobody listens: the pipe queues
            for i in range(5):
                d.send_multipart_nowait([b"%d" % i])
            with pytest.raises(WouldBlock):
                d.send_multipart_nowait([b"full"])
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(d.send_multipart([b"waits"]), 0.2)
            assert d.queued() == 5

    run(main())


def test_reconnect_delivers_queued() -> None:
    async def main() -> None:
        r = Socket("ROUTER")
        ep = await r.bind("tcp://127.0.0.1:*")
        async with Socket("DEALER", identity=b"d", reconnect_ivl=0.05) as d:
            await d.connect(ep)
            await d.send_multipart([b"one"])
            assert await recv(r) == [b"d", b"one"]
            r.close()
            await asyncio.sleep(0.1)
            await d.send_multipart([b"two"])  # queued while the peer is away
            async with Socket("ROUTER") as r2:
                await r2.bind(ep)
                assert await recv(r2, 5.0) == [b"d", b"two"]

    run(main())


def test_router_handover() -> None:
    async def main() -> None:
        async with Socket("ROUTER") as r, Socket("DEALER", identity=b"same") as d1, \
                Socket("DEALER", identity=b"same") as d2:
            ep = await r.bind("tcp://127.0.0.1:*")
            await d1.connect(ep)
            await d1.send_multipart([b"from 1"])
            assert await recv(r) == [b"same", b"from 1"]
            await d2.connect(ep)
            await d2.send_multipart([b"from 2"])
            assert await recv(r) == [b"same", b"from 2"]
            await r.send_multipart([b"same", b"to the newest"])
            assert await recv(d2) == [b"to the newest"]

    run(main())


def test_ipc() -> None:
    async def main() -> None:
        path = os.path.join(tempfile.mkdtemp(), "z.ipc")
        async with Socket("ROUTER") as r, Socket("DEALER", identity=b"i") as d:
            ep = await r.bind(f"ipc://{path}")
            assert ep == f"ipc://{path}"
            await d.connect(ep)
            await d.send_multipart([b"over ipc"])
            assert await recv(r) == [b"i", b"over ipc"]
        assert not os.path.exists(path)

    run(main())


def test_close_wakes_receivers() -> None:
    async def main() -> None:
        s = Socket("DEALER")
        task = asyncio.ensure_future(s.recv_multipart())
        await asyncio.sleep(0.01)
        s.close()
        with pytest.raises(SocketClosed):
            await task
        with pytest.raises(SocketClosed):
            await s.send_multipart([b"x"])

    run(main())


def test_parse_endpoint() -> None:
    assert parse_endpoint("tcp://*:*", bind=True) == ("tcp", "0.0.0.0", 0)
    assert parse_endpoint("tcp://[::1]:5", bind=False) == ("tcp", "::1", 5)
    for bad in ("udp://x:1", "tcp://host", "tcp://h:99999", "ipc://"):
        with pytest.raises(ValueError):
            parse_endpoint(bad, bind=True)
    with pytest.raises(ValueError):
        parse_endpoint("tcp://127.0.0.1:*", bind=False)


def test_heartbeat_timeout_closes_silent_peer(caplog: pytest.LogCaptureFixture) -> None:
    """Our DEALER pings a raw peer that completes the handshake and then never answers."""
    async def main() -> None:
        served = asyncio.Event()

        async def silent_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sig, major, rest = greeting_stages()
            writer.write(sig + major + rest + _ready(b"ROUTER"))
            await reader.read(64)
            await reader.read()  # until our side closes
            served.set()
            writer.close()

        server = await asyncio.start_server(silent_peer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with Socket("DEALER", heartbeat_ivl=0.1, heartbeat_timeout=0.2,
                          reconnect_ivl=5.0) as d:
            await d.connect(f"tcp://127.0.0.1:{port}")
            await asyncio.wait_for(served.wait(), 3.0)
        server.close()

    with caplog.at_level(logging.WARNING, logger="zre_ref.aio.zmtp"):
        run(main())
    assert any("heartbeat-timeout" in r.getMessage() for r in caplog.records)


# -- hostile input on a live socket ---------------------------------------------------------------
async def _raw(port: int, data: bytes, *, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        got = await asyncio.wait_for(reader.read(-1), 3.0) if read_until_close else b""
    finally:
        writer.close()
    return got


HOSTILE: dict[str, Callable[[], bytes]] = {
    "garbage": lambda: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "frame-2-63": lambda: b"".join(greeting_stages()) + _ready(b"DEALER") + b"\x02"
    + (2**63).to_bytes(8, "big"),
    "reserved-bits": lambda: b"".join(greeting_stages()) + b"\xf0\x00",
    "zmtp-1.0": lambda: b"\x01\x00",
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_peer_closed_socket_keeps_serving(attack: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with Socket("ROUTER", max_message_size=1 << 20) as r, \
                Socket("DEALER", identity=b"good") as good:
            ep = await r.bind("tcp://127.0.0.1:*")
            port = int(ep.rsplit(":", 1)[1])
            got = await _raw(port, HOSTILE[attack]())
            assert len(got) <= 64 + 64  # at most our greeting and READY, then EOF
            await good.connect(ep)
            await good.send_multipart([b"still here"])
            assert await recv(r) == [b"good", b"still here"]
            assert len(r.peers()) == 1

    with caplog.at_level(logging.WARNING, logger="zre_ref.aio.zmtp"):
        run(main())
    assert any("closing connection" in r.getMessage() for r in caplog.records)


def test_stalled_greeting_times_out(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with Socket("ROUTER", handshake_timeout=0.3) as r, \
                Socket("DEALER", identity=b"good") as good:
            ep = await r.bind("tcp://127.0.0.1:*")
            port = int(ep.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(greeting_stages()[0][:5])  # half a signature, then silence
            await good.connect(ep)
            await good.send_multipart([b"served meanwhile"])
            assert await recv(r) == [b"good", b"served meanwhile"]
            rest = await asyncio.wait_for(reader.read(-1), 3.0)  # EOF after the timeout
            assert rest == greeting_stages()[0]
            writer.close()

    with caplog.at_level(logging.WARNING, logger="zre_ref.aio.zmtp"):
        run(main())
    assert any("handshake-timeout" in r.getMessage() for r in caplog.records)


def test_slow_reader_bounded_memory() -> None:
    """rcvhwm pauses reading: a fast sender cannot fill our memory."""
    async def main() -> None:
        async with Socket("ROUTER", rcvhwm=10) as r, Socket("DEALER", sndhwm=50) as d:
            await d.connect(await r.bind("tcp://127.0.0.1:*"))
            with pytest.raises(asyncio.TimeoutError):
                async def flood() -> None:
                    while True:
                        await d.send_multipart([b"x" * 100_000])
                await asyncio.wait_for(flood(), 1.0)
            assert d.queued() <= 50
            assert len(r._rx) <= 10 + 50  # one read's worth over the mark at most
            for _ in range(20):
                await recv(r)

    run(main(), 20)
