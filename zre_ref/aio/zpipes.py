"""asyncio ZPIPES: the broker (ROUTER) and the client (DEALER) with stream semantics.

The broker is :class:`~zre_ref.zpipes.broker.Broker` behind a ROUTER socket; the client is
:class:`~zre_ref.zpipes.client.ClientCore` behind a DEALER (spec/zpipes.md#client)::

    async with zpipes.open("tcp://127.0.0.1:5690", "logs", "w") as p:
        await p.write(b"hello")
    async with zpipes.open("tcp://127.0.0.1:5690", "logs", "r") as p:
        while data := await p.read(65536):   # b"" only at the end of the pipe
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Coroutine, Generator, Sequence
from typing import Any, TypeVar

from ..lograte import DEFAULT_INTERVAL
from ..zpipes import messages as m
from ..zpipes.broker import (
    DEFAULT_EXPIRY,
    DEFAULT_MAX_CLIENT_BYTES,
    DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PIPE_BYTES,
    DEFAULT_MAX_REPLY_BYTES,
    MAX_PIPE_NAME_BYTES,
    WRITE_OVERHEAD,
    Broker,
    ClientExpired,
    Effect,
    Send,
)
from ..zpipes.client import (
    DEFAULT_BROKER_TIMEOUT,
    DEFAULT_CHUNK,
    DEFAULT_HEARTBEAT,
    DEFAULT_WINDOW,
    BrokerLost,
    ClientCore,
    PipeBroken,
    PipeError,
    PipeRefused,
    PipeTimeout,
    ReadBuffer,
    Reply,
)
from . import cancel_and_wait
from .zmtp import Socket, SocketClosed, WouldBlock
from .zmtp_flow import WRITE_HIGH_WATER

__all__ = [
    "BrokerLost", "Pipe", "PipeBroken", "PipeError", "PipeRefused", "PipeTimeout", "SyncPipe",
    "ZpipesBroker", "open", "open_sync",
]

log = logging.getLogger("zre_ref.aio.zpipes")

#: Default broker endpoint of the CLI (spec/zpipes.md#transport)
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5690"
#: Seconds `open` waits for the broker's OUTPUT-OK / INPUT-OK by default
DEFAULT_OPEN_TIMEOUT = 5.0
#: A client DEALER must see a dropped connection at a heartbeat check, so it does not quietly
#: reconnect to a restarted broker that has forgotten its session (spec/zpipes.md#client)
_CLIENT_RECONNECT_IVL = 3600.0


class ZpipesBroker:
    """A ZPIPES broker on one ROUTER socket, bound to one or more endpoints.

    Options (memory bound: README "Bounds", spec/zpipes.md#limits): ``expiry`` seconds of client
    silence; ``max_pipe_bytes`` unread bytes per pipe; ``max_pending`` READ/WRITE requests per
    client; ``max_client_bytes`` bytes of pending WRITE chunks per client, which is also the
    largest message the socket accepts (plus the WRITE header): a bigger one closes that
    client's connection; ``max_reply_bytes`` bytes of replies waiting in the socket for one
    client before its READs wait (at least the transport's write high-water mark, 1 MiB: a
    backlog below it drains without notice), so what the socket holds for a client is at most
    ``max(max_reply_bytes, 1 MiB) + max(max_pipe_bytes, max_client_bytes) + 7 + 2 x sndhwm x
    259`` bytes with ``sndhwm = 4 x max_pending + 64`` (spec/zpipes.md#slow-reader); ``rcvhwm``
    messages received but not yet handled; ``log_interval`` seconds between two log lines of
    one kind (the rest are counted and summarised).
    """

    def __init__(self, *, expiry: float = DEFAULT_EXPIRY,
                 max_pipe_bytes: int = DEFAULT_MAX_PIPE_BYTES,
                 max_pending: int = DEFAULT_MAX_PENDING,
                 max_client_bytes: int = DEFAULT_MAX_CLIENT_BYTES,
                 max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
                 rcvhwm: int = 1000, log_interval: float = DEFAULT_INTERVAL) -> None:
        # Replies in bytes: READ-OKs wait while a client's backlog is over max_reply_bytes
        # (spec/zpipes.md#slow-reader). In messages: every request gets one reply, so a client
        # reading its socket has at most max_pending + its PING-OKs waiting; one that does not
        # loses further small replies at sndhwm (the ROUTER's rule), hurting only itself.
        self.socket = Socket("ROUTER", sndhwm=4 * max_pending + 64, rcvhwm=rcvhwm,
                             max_message_size=max_client_bytes + WRITE_OVERHEAD)
        self.core = Broker(expiry=expiry, max_pipe_bytes=max_pipe_bytes, max_pending=max_pending,
                           max_client_bytes=max_client_bytes,
                           max_reply_bytes=max(max_reply_bytes, WRITE_HIGH_WATER),
                           reply_backlog=self.socket.send_backlog, log_interval=log_interval)
        self.socket.on_peer_disconnect = self._on_disconnect
        self.socket.on_writable = self._on_writable
        self._writable_due = False
        self.endpoints: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def bind(self, endpoint: str) -> str:
        """Listen on ``tcp://host:port`` (``*`` = any port) or ``ipc://path``; return the endpoint."""
        real = await self.socket.bind(endpoint)
        self.endpoints.append(real)
        log.info("zpipes broker: bound %s", real)
        return real

    def start(self) -> None:
        """Start serving in the background (after :meth:`bind`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve(), name="zpipes-broker")

    async def serve_forever(self) -> None:
        self.start()
        assert self._task is not None  # set just above; not network data
        await self._task

    async def __aenter__(self) -> ZpipesBroker:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self.socket.close(linger=False)

    def _apply(self, effects: list[Effect]) -> None:
        sock = self.socket
        for e in effects:
            if type(e) is Send:
                try:
                    sock.send_multipart_nowait([e.client, *m.encode(e.message)])
                except SocketClosed:
                    return
            elif isinstance(e, ClientExpired):
                pass  # the core has logged it (rate-limited)

    def _rearm(self) -> None:
        loop = asyncio.get_running_loop()
        when = self.core.next_deadline()
        if when == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._apply(self.core.handle_timer(asyncio.get_running_loop().time()))
        self._rearm()

    def _on_writable(self) -> None:
        """The socket made room: serve held-back readers, in a callback of their own (the
        socket may be closing a connection right now; its disconnect is handled first)."""
        if self.core.holding_back() and not self._writable_due and self._task is not None:
            self._writable_due = True
            asyncio.get_running_loop().call_soon(self._serve_held_back)

    def _serve_held_back(self) -> None:
        self._writable_due = False
        if self._task is not None and not self.socket.closed:
            self._apply(self.core.handle_writable(asyncio.get_running_loop().time()))
            self._rearm()

    def _on_disconnect(self, client: bytes) -> None:
        """A client's connection closed: handle what it sent, then close its pipe end at once
        instead of waiting for its expiry (spec/zpipes.md#expiry)."""
        if self._task is None:
            return
        loop = asyncio.get_running_loop()
        sock, core = self.socket, self.core
        while True:
            try:
                frames = sock.recv_multipart_nowait()
            except (WouldBlock, SocketClosed):
                break
            if len(frames) >= 1:
                self._apply(core.handle_frames(frames[0], frames[1:], loop.time()))
        core.log.info(loop.time(), "disconnected", "zpipes broker: client %s disconnected",
                      client.hex())
        self._apply(core.handle_disconnect(client, loop.time()))
        self._rearm()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        sock, core = self.socket, self.core
        # Messages handled per loop turn: their replies go out before the next batch, so a client
        # pipelining thousands of messages (each one answered) never finds its reply queue
        # (sndhwm) full while it reads; the ROUTER drops replies only to a client that stops
        # reading them.
        batch = max(1, sock.sndhwm // 2)
        self._rearm()
        try:
            while True:
                frames = await sock.recv_multipart()
                handled = 0
                while True:
                    if len(frames) >= 1:
                        self._apply(core.handle_frames(frames[0], frames[1:], loop.time()))
                    handled += 1
                    if handled == batch:
                        break
                    try:
                        frames = sock.recv_multipart_nowait()
                    except WouldBlock:
                        break
                self._rearm()
                if handled == batch:
                    await asyncio.sleep(0)  # this batch's replies are flushed first
        except SocketClosed:
            return


# -- client ---------------------------------------------------------------------------------------
class Pipe:
    """One end of a named pipe: ``mode`` "r" (reader) or "w" (writer) (spec/zpipes.md#client).

    Use ``async with open(endpoint, name, mode) as p`` or ``p = await open(...)`` then
    ``await p.close()``. Reads return up to ``n`` bytes and b"" only at the end of the pipe;
    timeouts raise :class:`PipeTimeout`; a dead or restarted broker raises :class:`BrokerLost`.
    Bounds (spec/zpipes.md#client): at most ``window`` requests in flight, so the DEALER queues
    at most ``window x (chunk_size + 11)`` bytes and a few PINGs; at most ``2 x window x n``
    bytes are read ahead for ``read(n)`` (a READ-OK longer than its READ loses the broker).
    """

    def __init__(self, endpoint: str, name: str, mode: str, *, timeout: float | None = None,
                 open_timeout: float = DEFAULT_OPEN_TIMEOUT, heartbeat: float = DEFAULT_HEARTBEAT,
                 broker_timeout: float = DEFAULT_BROKER_TIMEOUT, chunk_size: int = DEFAULT_CHUNK,
                 window: int = DEFAULT_WINDOW) -> None:
        if mode not in ("r", "w"):
            raise ValueError("mode must be 'r' or 'w'")
        if not name or len(name.encode("utf-8")) > MAX_PIPE_NAME_BYTES:
            raise ValueError(f"a pipe name is 1..{MAX_PIPE_NAME_BYTES} UTF-8 bytes")
        if chunk_size < 1 or window < 1:
            raise ValueError("chunk_size and window must be positive")
        self.endpoint, self.name, self.mode = endpoint, name, mode
        self.timeout = timeout
        self.open_timeout = open_timeout
        self.chunk_size = chunk_size
        self.window = window
        self._heartbeat, self._broker_timeout = heartbeat, broker_timeout
        self._sock: Socket | None = None
        self._core: ClientCore | None = None
        self._futures: dict[int, asyncio.Future[Reply]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False
        self._closed = False
        self._was_ready = False
        # reader state
        self._buffer = ReadBuffer()
        self._reads: deque[int] = deque()  # tokens of READs in flight
        self._data_event = asyncio.Event()
        self._read_timed_out = False
        # writer state
        self._writes: deque[tuple[int, int]] = deque()  # (token, chunk length) in flight
        self._write_error: PipeError | None = None
        self._write_event = asyncio.Event()
        self._acked_any = False

    # -- opening and closing ------------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, Pipe]:
        return self._open().__await__()

    async def __aenter__(self) -> Pipe:
        return await self._open()

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.abort()

    async def _open(self) -> Pipe:
        if self._opened:
            return self
        loop = asyncio.get_running_loop()
        self._sock = Socket("DEALER", sndhwm=max(64, 4 * self.window),
                            reconnect_ivl=_CLIENT_RECONNECT_IVL,
                            reconnect_ivl_max=_CLIENT_RECONNECT_IVL)
        self._core = ClientCore(heartbeat=self._heartbeat, broker_timeout=self._broker_timeout,
                                now=loop.time())
        self._opened = True
        try:
            await self._sock.connect(self.endpoint)
            self._tasks = [loop.create_task(self._receiver(), name="zpipes-client-rx"),
                           loop.create_task(self._ticker(), name="zpipes-client-tick")]
            req = m.Input(pipename=self.name) if self.mode == "r" else m.Output(pipename=self.name)
            try:
                reply = await asyncio.wait_for(self._call(req), self.open_timeout)
            except asyncio.TimeoutError:
                raise BrokerLost(f"no answer from a ZPIPES broker at {self.endpoint} within "
                                 f"{self.open_timeout:g} s") from None
            if isinstance(reply, (m.InputFailed, m.OutputFailed)):
                raise PipeRefused(f"cannot open {self.name!r} for "
                                  f"{'reading' if self.mode == 'r' else 'writing'}: {reply.reason}")
            if not isinstance(reply, (m.InputOk, m.OutputOk)):
                raise PipeError(f"unexpected answer to open: {m.ZPIPES.spec_of(reply).name}")
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def close(self) -> None:
        """Writer: wait until every written chunk is acknowledged, then CLOSE. Reader: CLOSE."""
        if self._closed or not self._opened:
            return
        try:
            if self.mode == "w":
                await self.flush()
            reply = await asyncio.wait_for(self._call(m.Close()), self._broker_timeout)
            if not isinstance(reply, m.CloseOk):
                raise PipeError(f"close: broker answered {m.ZPIPES.spec_of(reply).name}")
        except asyncio.TimeoutError:
            raise BrokerLost("no answer to CLOSE") from None
        finally:
            await self._shutdown()

    async def abort(self) -> None:
        """Close without waiting for anything (pending writes may be lost)."""
        if self._closed or not self._opened:
            return
        core, sock = self._core, self._sock
        if core is not None and sock is not None and core.lost is None:
            with contextlib.suppress(Exception):
                _, frames = core.request(m.Close(), asyncio.get_running_loop().time())
                sock.send_multipart_nowait(frames)
                await asyncio.sleep(0)
        await self._shutdown()

    async def drop(self) -> None:
        """Close the connection without CLOSE, as when the process dies: the broker ends this
        end of the pipe when it sees the connection go, not after its expiry
        (spec/zpipes.md#expiry). What the broker has acknowledged stays in the pipe."""
        if self._closed or not self._opened:
            return
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closed = True
        await cancel_and_wait(*self._tasks, errors_too=True)
        self._tasks = []
        if self._sock is not None:
            self._sock.close(linger=True)
        self._fail_all(PipeError("pipe closed"))

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, req: m.ZpipesMessage) -> int:
        if self._closed or self._core is None or self._sock is None:
            raise PipeError("pipe is closed")
        if self._core.lost is not None:
            raise BrokerLost(self._core.lost)
        loop = asyncio.get_running_loop()
        token, frames = self._core.request(req, loop.time())
        self._futures[token] = loop.create_future()
        try:
            self._sock.send_multipart_nowait(frames)
        except WouldBlock:
            # the DEALER queue is bounded well above our window; only a dead link fills it
            self._lose("cannot send to the broker: connection queue full")
            raise BrokerLost(self._core.lost or "") from None
        return token

    async def _wait(self, token: int) -> m.ZpipesMessage:
        fut = self._futures[token]
        try:
            reply = await asyncio.shield(fut)
        finally:
            if fut.done():
                self._futures.pop(token, None)
        if isinstance(reply.message, m.Invalid):
            raise BrokerLost(f"the broker answered INVALID to {m.ZPIPES.spec_of(reply.request).name}:"
                             " it does not know this session (restarted, or we expired)")
        return reply.message

    async def _call(self, req: m.ZpipesMessage) -> m.ZpipesMessage:
        return await self._wait(self._send(req))

    def _lose(self, reason: str) -> None:
        core = self._core
        if core is None:
            return
        if core.lost is None:
            log.warning("zpipes client %r: %s", self.name, reason)
        core.lose(reason)
        self._fail_all(BrokerLost(core.lost or reason))

    def _fail_all(self, exc: PipeError) -> None:
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: nobody may be waiting on it
        if self._write_error is None:
            self._write_error = exc
        self._writes.clear()
        self._reads.clear()
        self._data_event.set()
        self._write_event.set()

    async def _receiver(self) -> None:
        sock, core = self._sock, self._core
        if sock is None or core is None:
            return
        loop = asyncio.get_running_loop()
        try:
            while True:
                frames = await sock.recv_multipart()
                reply = core.handle_frames(frames, loop.time())
                if reply is None:
                    continue
                self._on_reply(reply)
        except SocketClosed:
            return

    def _on_reply(self, reply: Reply) -> None:
        if self._reads and reply.token == self._reads[0]:
            self._reads.popleft()
            msg, req = reply.message, reply.request
            if isinstance(msg, m.ReadOk):
                if isinstance(req, m.Read) and len(msg.chunk) > req.size:
                    # more than asked for: the read-ahead buffer would have no bound
                    self._lose(f"the broker answered READ of {req.size} bytes with "
                               f"{len(msg.chunk)}")
                    return
                self._buffer.feed(msg.chunk)
            elif isinstance(msg, m.ReadEnd):
                self._buffer.eof = True
            elif isinstance(msg, m.ReadTimeout):
                self._read_timed_out = True
            elif isinstance(msg, m.Invalid):
                self._lose("the broker answered INVALID to READ: it does not know this session")
            else:
                log.warning("zpipes client %r: READ answered %s", self.name,
                            m.ZPIPES.spec_of(msg).name)
            self._futures.pop(reply.token, None)
            self._data_event.set()
            return
        if self._writes and reply.token == self._writes[0][0]:
            self._writes.popleft()
            msg = reply.message
            if isinstance(msg, m.WriteOk):
                self._acked_any = True
            elif self._write_error is None:
                if isinstance(msg, m.WriteTimeout):
                    self._write_error = PipeTimeout("write timed out: no reader, or no room")
                elif isinstance(msg, m.WriteFailed):
                    self._write_error = PipeBroken(f"write failed: {msg.reason}")
                else:
                    self._write_error = BrokerLost("the broker answered INVALID to WRITE: it does "
                                                   "not know this session")
            self._futures.pop(reply.token, None)
            self._write_event.set()
            return
        fut = self._futures.get(reply.token)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    async def _ticker(self) -> None:
        core, sock = self._core, self._sock
        if core is None or sock is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.01, min(core.heartbeat / 2, core.next_deadline() - loop.time())))
            peers = sock.peers()
            ready = bool(peers) and bool(peers[0]["ready"])
            if ready:
                self._was_ready = True
            elif self._was_ready:
                self._lose(f"connection to the broker at {self.endpoint} lost")
                return
            try:
                for frames in core.handle_timer(loop.time()):
                    sock.send_multipart_nowait(frames)
            except BrokerLost as exc:
                self._lose(str(exc))
                return
            except WouldBlock:
                continue

    # -- writing ----------------------------------------------------------------------------
    async def write(self, data: bytes | bytearray | memoryview, timeout: float | None = None) -> None:
        """Write all of ``data`` (split into chunks). With a timeout (else the pipe's), raise
        PipeTimeout if it cannot all be queued in time; ``exc.written`` bytes were."""
        if self.mode != "w":
            raise PipeError("pipe is open for reading")
        timeout = self.timeout if timeout is None else timeout
        view = memoryview(bytes(data) if not isinstance(data, bytes) else data)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        # With a timeout, one chunk at a time: a WRITE-TIMEOUT then leaves no hole in the stream.
        # Without one, WRITEs are pipelined, but only once a reader has taken a chunk.
        written = 0
        pos = 0
        while pos < len(view):
            self._raise_write_error(written)
            window = 1 if (deadline is not None or not self._acked_any) else self.window
            while len(self._writes) >= window:
                await self._wait_write_event(deadline, written)
                self._raise_write_error(written)
                window = 1 if (deadline is not None or not self._acked_any) else self.window
            chunk = bytes(view[pos:pos + self.chunk_size])
            ms = 0 if deadline is None else max(1, int((deadline - loop.time()) * 1000))
            token = self._send(m.Write(chunk=chunk, timeout=ms))
            self._writes.append((token, len(chunk)))
            pos += len(chunk)
            if deadline is not None:
                await self.flush(deadline=deadline, written=written)
                written = pos

    def _raise_write_error(self, written: int) -> None:
        core = self._core
        if core is not None and core.lost is not None:
            raise BrokerLost(core.lost)
        err = self._write_error
        if err is not None:
            if isinstance(err, PipeTimeout):
                self._write_error = None  # nothing else was in flight: the pipe stays usable
                raise PipeTimeout(str(err), written)
            raise err

    async def _wait_write_event(self, deadline: float | None, written: int) -> None:
        self._write_event.clear()
        loop = asyncio.get_running_loop()
        remaining = None if deadline is None else max(0.0, deadline - loop.time() + 1.0)
        try:
            await asyncio.wait_for(self._write_event.wait(), remaining)
        except asyncio.TimeoutError:
            raise PipeTimeout("write timed out waiting for the broker", written) from None

    async def flush(self, *, deadline: float | None = None, written: int = 0) -> None:
        """Wait until the broker has acknowledged every chunk written so far."""
        while self._writes:
            self._raise_write_error(written)
            await self._wait_write_event(deadline, written)
        self._raise_write_error(written)

    # -- reading ----------------------------------------------------------------------------
    async def read(self, n: int = DEFAULT_CHUNK, timeout: float | None = None) -> bytes:
        """``n`` bytes, fewer only at the end of the pipe, b"" once it has ended.

        Without a timeout (else the pipe's) READs are pipelined ahead. With one, a single READ
        carries it to the broker, and PipeTimeout means nothing was consumed."""
        if self.mode != "r":
            raise PipeError("pipe is open for writing")
        if n < 1:
            raise ValueError("n must be at least 1")
        timeout = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if len(self._buffer):
                if deadline is None:
                    self._top_up(n)
                return self._buffer.take(n)
            if self._buffer.eof:
                return b""
            core = self._core
            if core is not None and core.lost is not None:
                raise BrokerLost(core.lost)
            if self._closed:
                raise PipeError("pipe is closed")
            if self._read_timed_out:
                self._read_timed_out = False
                raise PipeTimeout(f"no data on {self.name!r} within {timeout:g} s")
            grace = 0.0
            if deadline is None:
                self._top_up(n)
            elif not self._reads:
                ms = max(1, int((deadline - loop.time()) * 1000))
                self._reads.append(self._send(m.Read(size=n, timeout=ms)))
                grace = 1.0
            self._data_event.clear()
            remaining = None if deadline is None else deadline - loop.time() + grace
            if remaining is not None and remaining <= 0:
                raise PipeTimeout(f"no data on {self.name!r} within {timeout:g} s")
            try:
                await asyncio.wait_for(self._data_event.wait(), remaining)
            except asyncio.TimeoutError:
                raise PipeTimeout(f"no data on {self.name!r} within {timeout:g} s") from None

    def _top_up(self, n: int) -> None:
        """Keep up to ``window`` READs of ``n`` bytes in flight (read-ahead)."""
        if self._buffer.eof:
            return
        while len(self._reads) < self.window and len(self._buffer) < n * self.window:
            self._reads.append(self._send(m.Read(size=n, timeout=m.WAIT_FOREVER)))

    async def read_all(self, timeout: float | None = None) -> bytes:
        """Everything until the end of the pipe."""
        parts = []
        while data := await self.read(self.chunk_size, timeout):
            parts.append(data)
        return b"".join(parts)

    def __aiter__(self) -> Pipe:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read(self.chunk_size)
        if not data:
            raise StopAsyncIteration
        return data


def open(endpoint: str, name: str, mode: str = "r", **kw: Any) -> Pipe:
    """A pipe end, opened by ``async with`` or ``await`` (spec/zpipes.md#client)."""
    return Pipe(endpoint, name, mode, **kw)


# -- synchronous wrapper ---------------------------------------------------------------------------
T = TypeVar("T")


class SyncPipe:
    """A blocking pipe end for scripts: an event loop runs in a background thread, so heartbeats
    continue between calls. ``with open_sync(ep, "name", "w") as p: p.write(b"...")``."""

    def __init__(self, endpoint: str, name: str, mode: str = "r", **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zpipes-sync",
                                        daemon=True)
        self._thread.start()
        try:
            self._pipe: Pipe = self._run(self._make(endpoint, name, mode, kw))
        except BaseException:
            self._stop()
            raise

    async def _make(self, endpoint: str, name: str, mode: str, kw: dict[str, Any]) -> Pipe:
        return await Pipe(endpoint, name, mode, **kw)._open()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def write(self, data: bytes, timeout: float | None = None) -> None:
        self._run(self._pipe.write(data, timeout))

    def read(self, n: int = DEFAULT_CHUNK, timeout: float | None = None) -> bytes:
        return self._run(self._pipe.read(n, timeout))

    def read_all(self, timeout: float | None = None) -> bytes:
        return self._run(self._pipe.read_all(timeout))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._pipe.close())
        finally:
            self._stop()

    def __enter__(self) -> SyncPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sync(endpoint: str, name: str, mode: str = "r", **kw: Any) -> SyncPipe:
    """A blocking pipe end (see :class:`SyncPipe`)."""
    return SyncPipe(endpoint, name, mode, **kw)


async def serve(binds: Sequence[str], **kw: Any) -> ZpipesBroker:
    """Start a broker bound to every endpoint in ``binds``."""
    broker = ZpipesBroker(**kw)
    for ep in binds:
        await broker.bind(ep)
    broker.start()
    return broker
