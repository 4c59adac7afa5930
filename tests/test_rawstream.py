"""The raw stream transport (aio/rawstream.py) keeps asyncio's transport contract: every test
runs with asyncio's selector transport and with RawStreamTransport, on loopback, and checks
the same behaviour (spec/zmtp.md#raw-transport). Every wait has a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zre_ref.aio import loopshared
from zre_ref.aio.loopshared import LoopShared
from zre_ref.aio.rawstream import (
    RawStreamTransport,
    StreamReactor,
    attach,
    numeric_address,
    open_connection,
)
from zre_ref.aio.zmtp import Socket

from .waiting import until

pytestmark = pytest.mark.net
T = TypeVar("T")
TRANSPORTS = pytest.mark.parametrize("kind", ["asyncio", "raw"])
MiB = 1 << 20


def run(coro: Callable[[], Coroutine[Any, Any, T]], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro(), timeout)
    return asyncio.run(bounded())


class Recorder(asyncio.BufferedProtocol):
    """Records what a transport does to its protocol, in order."""

    def __init__(self, keep_open_on_eof: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.calls: list[str] = []
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.keep_open_on_eof = keep_open_on_eof
        self.buf = bytearray(7919)  # a prime: reads end mid-write
        self.resumed = asyncio.Event()
        self.in_close = False  # set around transport.close() calls by the tests

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.calls.append("made")

    def get_buffer(self, sizehint: int) -> memoryview:
        self.calls.append("get_buffer")
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        # asyncio's contract: the read into the buffer just handed out, nothing in between
        assert self.calls[-1] == "get_buffer"
        self.calls.append("buffer_updated")
        self.received += self.buf[:nbytes]

    def eof_received(self) -> bool:
        self.calls.append("eof")
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.calls.append("pause_writing")
        self.resumed.clear()

    def resume_writing(self) -> None:
        self.calls.append("resume_writing")
        self.resumed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        assert not self.in_close, "connection_lost from inside close()"
        self.calls.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    def flow_calls(self) -> list[str]:
        return [c for c in self.calls if c.endswith("_writing")]


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected non-blocking loopback TCP sockets."""
    with socket.socket() as lsock:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        a = socket.create_connection(lsock.getsockname())
        b, _ = lsock.accept()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def give_transport(kind: str, sock: socket.socket, proto: Recorder) -> asyncio.Transport:
    loop = asyncio.get_running_loop()
    if kind == "raw":
        reactor = LoopShared.of(loop).stream_reactor(loop)
        assert reactor is not None  # Linux: epoll
        return attach(reactor, loop, sock, proto)
    transport, _ = await loop.connect_accepted_socket(lambda: proto, sock=sock)
    return transport


@contextlib.asynccontextmanager
async def linked(kind: str, keep_open: bool = False
                 ) -> AsyncIterator[tuple[Recorder, asyncio.Transport, socket.socket]]:
    """A transport of ``kind`` with its Recorder, and the raw peer socket at the other end."""
    mine, peer = tcp_pair()
    proto = Recorder(keep_open)
    transport = await give_transport(kind, mine, proto)
    try:
        yield proto, transport, peer
    finally:
        if not proto.lost.done():  # asyncio 3.11 fails on abort() after a flushed close()
            transport.abort()
        peer.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(proto.lost), 5)


async def drain_peer(peer: socket.socket, until_bytes: int | None = None,
                     timeout: float = 10.0) -> bytes:
    """Read ``peer`` until ``until_bytes`` arrived or EOF (None: until EOF or a reset)."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    while until_bytes is None or len(got) < until_bytes:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(peer, 1 << 20), timeout)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    return bytes(got)


# -- the byte stream ----------------------------------------------------------------------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(1, 300_000)),
    st.tuples(st.sampled_from(["pause_reading", "resume_reading", "turn", "limits"]),
              st.integers(0, 200_000)),
), min_size=1, max_size=25)


@TRANSPORTS
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_random_writes_and_pauses_deliver_the_identical_stream(kind: str,
                                                               ops: list[tuple[str, int]]) -> None:
    """Random write sizes, the reader pausing and resuming, and write-buffer limits moving:
    the receiving transport delivers exactly the bytes written, in order; pause_writing and
    resume_writing alternate, the last one a resume, and the buffer ends empty."""
    async def main() -> None:
        a, b = tcp_pair()
        writer, reader = Recorder(), Recorder()
        wt = await give_transport(kind, a, writer)
        rt = await give_transport(kind, b, reader)
        sent = bytearray()
        for op, n in ops:
            if op == "write":
                data = struct.pack(">I", len(sent)) * (n // 4 + 1)
                wt.write(data[:n])
                sent += data[:n]
            elif op == "pause_reading":
                rt.pause_reading()
            elif op == "resume_reading":
                rt.resume_reading()
            elif op == "limits":
                wt.set_write_buffer_limits(high=n)
            else:
                await asyncio.sleep(0)
        rt.resume_reading()
        await until(lambda: len(reader.received) >= len(sent), 15, "every byte")
        await until(lambda: wt.get_write_buffer_size() == 0, 5, "drained")
        assert bytes(reader.received) == bytes(sent)
        flow = writer.flow_calls()
        assert flow == ["pause_writing", "resume_writing"] * (len(flow) // 2)
        wt.close()
        rt.close()
        await asyncio.gather(writer.lost, reader.lost)
    run(main)


@TRANSPORTS
def test_high_water_zero_waits_for_a_complete_drain(kind: str) -> None:
    """zmtp_flow.Output's drain wait: high=0 pauses while anything is buffered and resumes
    only once the buffer is empty (asyncio's rule: low defaults to high // 4 = 0)."""
    async def main() -> None:
        async with linked(kind) as (proto, transport, peer):
            transport.write(b"x" * (8 * MiB))  # more than loopback takes at once
            assert transport.get_write_buffer_size() > 0
            transport.set_write_buffer_limits(high=0)
            assert proto.flow_calls() == ["pause_writing"]
            got = await drain_peer(peer, 8 * MiB)
            await asyncio.wait_for(proto.resumed.wait(), 5)
            assert transport.get_write_buffer_size() == 0 and len(got) == 8 * MiB
    run(main)


@TRANSPORTS
def test_a_reader_that_never_reads_bounds_the_write_buffer(kind: str) -> None:
    """A writer that honours pause_writing leaves at most high water plus its last write in
    the buffer, however long the peer does not read."""
    high, chunk = 256 * 1024, 64 * 1024

    async def main() -> None:
        async with linked(kind) as (proto, transport, _peer):
            transport.set_write_buffer_limits(high=high)
            writes = 0
            while writes < 2000 and "pause_writing" not in proto.calls:
                transport.write(b"y" * chunk)
                writes += 1
                if writes % 16 == 0:
                    await asyncio.sleep(0)  # the loop may flush some
            assert proto.flow_calls() == ["pause_writing"]
            assert high < transport.get_write_buffer_size() <= high + chunk
            assert not await _resumes_within(proto, 0.3)
    run(main)


async def _resumes_within(proto: Recorder, seconds: float) -> bool:
    try:
        await asyncio.wait_for(proto.resumed.wait(), seconds)
    except asyncio.TimeoutError:
        return False
    return True


# -- ends of a connection -------------------------------------------------------------------------

@TRANSPORTS
def test_close_flushes_pending_output_then_loses_once(kind: str) -> None:
    async def main() -> None:
        async with linked(kind) as (proto, transport, peer):
            body = bytes(range(256)) * (16 * 1024)  # 4 MiB: most of it waits in the buffer
            transport.write(body)
            proto.in_close = True
            transport.close()
            transport.close()  # twice is fine
            proto.in_close = False
            assert transport.is_closing()
            transport.write(b"while closing")  # accepted while the buffer flushes (asyncio too)
            got = await drain_peer(peer)
            assert got.startswith(body)
            assert await asyncio.wait_for(proto.lost, 5) is None
            assert proto.calls.count("lost") == 1
    run(main)


@TRANSPORTS
def test_abort_drops_pending_output(kind: str) -> None:
    async def main() -> None:
        async with linked(kind) as (proto, transport, peer):
            transport.write(b"z" * (16 * MiB))
            assert transport.get_write_buffer_size() > 0
            proto.in_close = True
            transport.abort()
            proto.in_close = False
            assert await asyncio.wait_for(proto.lost, 5) is None
            got = await drain_peer(peer)
            assert len(got) < 16 * MiB
            assert proto.calls.count("lost") == 1
    run(main)


@TRANSPORTS
@pytest.mark.parametrize("keep_open", [False, True])
def test_half_close_eof(kind: str, keep_open: bool) -> None:
    """The peer shuts down its sending side: the data before it arrives, then eof_received;
    False closes the transport (connection_lost(None)), True keeps writing possible."""
    async def main() -> None:
        async with linked(kind, keep_open) as (proto, transport, peer):
            peer.sendall(b"last words")
            peer.shutdown(socket.SHUT_WR)
            await until(lambda: "eof" in proto.calls, 5, "eof_received")
            assert bytes(proto.received) == b"last words"
            if keep_open:
                transport.write(b"still here")
                assert await drain_peer(peer, 10) == b"still here"
                assert not proto.lost.done()
            else:
                assert await asyncio.wait_for(proto.lost, 5) is None
                assert await drain_peer(peer) == b""
    run(main)


class Failing(Recorder):
    """A Recorder whose ``step`` (get_buffer, buffer_updated or eof_received) raises."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def get_buffer(self, sizehint: int) -> memoryview:
        view = super().get_buffer(sizehint)
        if self.step == "get_buffer":
            raise ValueError("get_buffer")
        return view

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        if self.step == "buffer_updated":
            raise ValueError("buffer_updated")

    def eof_received(self) -> bool:
        super().eof_received()
        raise ValueError("eof_received")


@TRANSPORTS
@pytest.mark.parametrize("step", ["get_buffer", "buffer_updated", "eof_received"])
def test_a_failing_protocol_callback_is_reported_and_closes_the_transport(kind: str,
                                                                           step: str) -> None:
    """The protocol's read callback raises: the loop's exception handler gets it (naming the
    call), the transport closes and connection_lost gets the exception, once."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        mine, peer = tcp_pair()
        proto = Failing(step)
        await give_transport(kind, mine, proto)
        try:
            peer.sendall(b"data")
            if step == "eof_received":
                peer.shutdown(socket.SHUT_WR)
            exc = await asyncio.wait_for(proto.lost, 5)
        finally:
            peer.close()
        assert isinstance(exc, ValueError) and str(exc) == step
        assert proto.calls.count("lost") == 1
        assert [type(c.get("exception")) for c in reported] == [ValueError]
        assert f"{step}()" in reported[0]["message"]
    run(main)


@TRANSPORTS
def test_peer_reset_mid_write_ends_in_connection_lost_with_the_error(kind: str) -> None:
    async def main() -> None:
        async with linked(kind) as (proto, transport, peer):
            transport.write(b"w" * (8 * MiB))
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()  # RST
            for _ in range(200):  # keep writing until the transport notices
                if proto.lost.done():
                    break
                transport.write(b"v" * 65536)
                await asyncio.sleep(0.005)  # paces the writes; the wait is for proto.lost
            exc = await asyncio.wait_for(proto.lost, 5)
            assert isinstance(exc, (ConnectionResetError, BrokenPipeError)), exc
            assert proto.calls.count("lost") == 1
    run(main)


def test_raw_connect_refused_reports_the_error_and_reactor_forgets_everything() -> None:
    """A connect to a port nobody listens on fails with ECONNREFUSED (at once or from the
    reactor); after every transport is lost, the reactor holds no descriptor."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reactor = LoopShared.of(loop).stream_reactor(loop)
        assert isinstance(reactor, StreamReactor)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        failed: asyncio.Future[OSError] = loop.create_future()
        family, address = numeric_address("127.0.0.1", port) or (0, ())
        try:
            open_connection(reactor, loop, family, address, Recorder(), failed.set_result)
            exc = await asyncio.wait_for(failed, 5)
        except OSError as immediate:
            exc = immediate
        assert exc.errno == errno.ECONNREFUSED
        async with linked("raw") as (proto, transport, _peer):
            assert isinstance(transport, RawStreamTransport)
            assert len(reactor.handlers) == 1
        assert proto.lost.done() and reactor.handlers == {}
    run(main)


class Marked(Recorder):
    """A Recorder that notes, in ``calls``, when the loop callback that made the connection
    ended: a ``call_soon`` from ``connection_made`` runs before any later reactor dispatch."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        asyncio.get_running_loop().call_soon(self.calls.append, "next callback")


@pytest.mark.parametrize("then_close", [False, True])
def test_attach_reads_what_the_peer_sent_before_it(then_close: bool) -> None:
    """The peer's bytes (and its EOF) already waiting when an accepted socket gets its raw
    transport are read before attach returns, right after connection_made; with nothing
    waiting, reading is left to the reactor."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reactor = LoopShared.of(loop).stream_reactor(loop)
        assert reactor is not None
        mine, peer = tcp_pair()
        data = bytes(range(256)) * 40  # more than one read of the Recorder's buffer
        peer.sendall(data)
        if then_close:
            peer.shutdown(socket.SHUT_WR)
        proto = Recorder()
        transport = attach(reactor, loop, mine, proto)
        try:
            assert proto.calls[:3] == ["made", "get_buffer", "buffer_updated"]
            assert bytes(proto.received) == data[:len(proto.received)] and proto.received
            await until(lambda: len(proto.received) == len(data) and (
                not then_close or "eof" in proto.calls), 5, "the rest, from the reactor")
            assert bytes(proto.received) == data
            if then_close:
                assert await asyncio.wait_for(proto.lost, 5) is None
            quiet, quiet_peer = tcp_pair()  # nothing waiting: the read finds nothing (EAGAIN)
            idle = Recorder()
            idle_transport = attach(reactor, loop, quiet, idle)
            assert idle.calls == ["made", "get_buffer"] and not idle_transport.is_closing()
            quiet_peer.sendall(b"later")
            await until(lambda: bytes(idle.received) == b"later", 5, "the reactor's read")
            idle_transport.abort()
            quiet_peer.close()
            await asyncio.wait_for(idle.lost, 5)
        finally:
            if not proto.lost.done():
                transport.abort()
            peer.close()
            await asyncio.wait_for(asyncio.shield(proto.lost), 5)
    run(main)


def test_a_raw_connect_reads_what_the_peer_sent_in_the_callback_that_completes_it() -> None:
    """The accepting side writes before the reactor reports the connect done (on loopback the
    TCP handshake is over inside connect): the bytes reach the protocol in the same loop
    callback as connection_made, not a turn later."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reactor = LoopShared.of(loop).stream_reactor(loop)
        assert reactor is not None
        with socket.socket() as lsock:
            lsock.bind(("127.0.0.1", 0))
            lsock.listen(1)
            lsock.settimeout(5)  # the accept waits for the connect, bounded
            family, address = numeric_address("127.0.0.1", lsock.getsockname()[1]) or (0, ())
            failed: asyncio.Future[OSError] = loop.create_future()
            proto = Marked()
            open_connection(reactor, loop, family, address, proto, failed.set_result)
            accepted, _ = lsock.accept()
        try:
            accepted.sendall(b"greeting")
            await until(lambda: "made" in proto.calls, 5, "the connect")
            assert proto.calls[:3] == ["made", "get_buffer", "buffer_updated"]
            assert proto.calls.index("buffer_updated") < proto.calls.index("next callback")
            assert bytes(proto.received) == b"greeting" and not failed.done()
        finally:
            assert proto.transport is not None
            proto.transport.abort()
            accepted.close()
            await asyncio.wait_for(proto.lost, 5)
    run(main)


def test_names_are_left_to_asyncio() -> None:
    assert numeric_address("localhost", 5670) is None
    assert numeric_address("127.0.0.1", 5670) == (socket.AF_INET, ("127.0.0.1", 5670))
    assert numeric_address("::1", 5670) is not None


# -- the Socket option --------------------------------------------------------------------------

def test_socket_connect_refused_then_reconnects_on_the_raw_transport() -> None:
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        endpoint = f"tcp://127.0.0.1:{port}"
        async with Socket("DEALER", identity=b"d", raw_transport=True, reconnect_ivl=0.02,
                          reconnect_ivl_max=0.05) as dealer:
            await dealer.connect(endpoint)
            await dealer.send_multipart([b"queued before the listener"])
            async with Socket("ROUTER", raw_transport=True) as router:
                await router.bind(endpoint)
                assert await router.recv_multipart() == [b"d", b"queued before the listener"]
                assert dealer.peers()[0]["connections"] == 1
        loop = asyncio.get_running_loop()
        reactor = LoopShared.of(loop).stream_reactor(loop)
        assert reactor is not None
        await until(lambda: not reactor.handlers, 5, "every raw transport forgotten")
    run(main)


def test_without_epoll_the_socket_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the reactor cannot run (no epoll, or a loop without add_reader), raw_transport
    sockets use asyncio's transports and work the same."""
    monkeypatch.setattr(loopshared, "reactor_supported", lambda loop: False)

    async def main() -> None:
        async with Socket("ROUTER", raw_transport=True) as router, \
                Socket("DEALER", identity=b"d", raw_transport=True) as dealer:
            await dealer.connect(await router.bind("tcp://127.0.0.1:*"))
            await dealer.send_multipart([b"hi"])
            assert await router.recv_multipart() == [b"d", b"hi"]
            loop = asyncio.get_running_loop()
            assert LoopShared.of(loop).stream_reactor(loop) is None
    run(main)
