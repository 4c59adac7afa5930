"""asyncio ZMTP sockets with pyzmq-like names: ROUTER, DEALER, PUB, SUB (spec/zmtp.md#sockets).

A thin shell over the sans-IO :class:`~zre_ref.zmtp.connection.Connection`: one
``asyncio.Protocol`` per TCP (or unix) connection feeds ``receive_data``; outgoing messages wait
in a per-peer queue (bounded by ``sndhwm``) and are written once per loop turn, coalesced::

    async with Socket("DEALER", identity=b"me") as s:
        await s.connect("tcp://127.0.0.1:5555")
        await s.send_multipart([b"hello"])
        reply = await s.recv_multipart()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket as _socket
import tempfile
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, cast, overload

from ..zmtp.connection import (
    BIG_FRAME,
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_SIZE,
    RECEIVE_BUFFER,
    Connection,
    ConnectionClosed,
    HandshakeCompleted,
    Heartbeat,
    MessageReceived,
    Subscribed,
    Unsubscribed,
)
from ..zmtp.curve import curve_mechanism
from ..zmtp.mechanisms import Mechanism, Null, PlainClient, PlainServer
from ..zmtp.routing import IdentityTable, SocketClosed, Subscriptions, WouldBlock

__all__ = ["Socket", "SocketClosed", "WouldBlock", "parse_endpoint"]

log = logging.getLogger("zre_ref.aio.zmtp")

SOCKET_TYPES = ("ROUTER", "DEALER", "PUB", "SUB")
#: default first reconnect delay (s) and the backoff ceiling (libzmq: 100 ms, no ceiling)
RECONNECT_IVL = 0.1
RECONNECT_IVL_MAX = 2.0
#: bytes moved from a peer's queue into one transport write
_FLUSH_CHUNK = 256 * 1024
#: transport write buffer high-water mark (asyncio's default is 64 KiB)
_WRITE_HIGH_WATER = 1024 * 1024

_pipe_ids = itertools.count(1)
_NO_SUBS: frozenset[bytes] = frozenset()  # a pipe's subscriptions until the first one (PUB)


class _Unused(deque[Any]):
    """The shared stand-in for a queue nothing was put in yet (an empty deque is ~630 bytes,
    and a ZRE node's ROUTER pipes never send, its DEALERs never receive); never appended to."""

    __slots__ = ()

    def append(self, *args: Any) -> None:
        raise RuntimeError("zmtp: an item put in the shared empty queue (a bug)")

    appendleft = extend = extendleft = insert = append


_UNUSED: deque[Any] = _Unused()
_DISCARD = memoryview(bytearray(4096))  # reads after a connection is done go nowhere

#: One receive buffer per event loop, shared by every connection of every socket on it: asyncio
#: calls buffer_updated right after the same protocol's get_buffer, so reads never interleave,
#: and a node with hundreds of DEALERs holds one RECEIVE_BUFFER instead of one per socket.
_RECEIVE_BUFFERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, memoryview] = (
    weakref.WeakKeyDictionary())


def _loop_receive_buffer() -> memoryview:
    loop = asyncio.get_running_loop()
    buf = _RECEIVE_BUFFERS.get(loop)
    if buf is None:
        buf = _RECEIVE_BUFFERS[loop] = memoryview(bytearray(RECEIVE_BUFFER))
    return buf


def parse_endpoint(endpoint: str, *, bind: bool) -> tuple[str, str, int]:
    """``tcp://host:port`` or ``ipc://path`` -> (scheme, host or path, port)."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("tcp", "ipc"):
        raise ValueError(f"unsupported endpoint {endpoint!r} (tcp://host:port or ipc://path)")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"ipc endpoint without a path: {endpoint!r}")
        return scheme, rest, 0
    host, colon, port_s = rest.rpartition(":")
    if not colon or not host:
        raise ValueError(f"tcp endpoint needs host:port: {endpoint!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "*":
        if not bind:
            raise ValueError("cannot connect to host '*'")
        host = "0.0.0.0"
    if port_s in ("*", "0"):
        if not bind:
            raise ValueError(f"connect needs a port: {endpoint!r}")
        port = 0
    else:
        try:
            port = int(port_s)
        except ValueError:
            raise ValueError(f"bad port in {endpoint!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"port out of range in {endpoint!r}")
    return scheme, host, port


def _format_tcp(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


class _Pipe:
    """One peer: its queue of outgoing messages, and the live connection when there is one."""

    __slots__ = (
        "conn", "dirty", "draining", "endpoint", "held", "id", "identity", "lost", "paused",
        "peer", "persistent", "proto", "queue", "reading_paused", "ready", "sock", "subs",
        "timer", "timer_at", "transport",
    )

    def __init__(self, sock: Socket, endpoint: str, persistent: bool) -> None:
        self.id = next(_pipe_ids)
        self.sock = sock
        self.endpoint = endpoint
        self.persistent = persistent  # a connect() pipe: outlives its connections
        self.queue: deque[list[bytes]] = _UNUSED  # a deque of its own from the first message
        self.conn: Connection | None = None
        self.transport: asyncio.Transport | None = None
        self.proto: _ZmtpProtocol | None = None
        self.ready = False
        self.paused = False
        self.reading_paused = False
        self.dirty = False
        # encoded output held back until the transport's buffer is empty: a large body is
        # written only then, straight from the caller's bytes (asyncio copies what it buffers)
        self.held: list[bytes] = []
        self.draining = False
        self.identity = b""
        self.peer = ""
        self.subs: set[bytes] | frozenset[bytes] = _NO_SUBS  # PUB: a set once one arrives
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = -1.0
        self.lost: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<pipe {self.id} {self.peer or self.endpoint}>"

    def pub_matches(self, topic: bytes) -> bool:
        for t in self.subs:  # noqa: SIM110 - a plain loop is faster here
            if topic.startswith(t):
                return True
        return False


class _ZmtpProtocol(asyncio.BufferedProtocol):
    """Bytes in and out for one connection; everything else is in Connection and Socket."""

    __slots__ = ("pipe", "sock")

    def __init__(self, sock: Socket, pipe: _Pipe | None) -> None:
        self.sock = sock
        self.pipe = pipe

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # asyncio's contract for streams
            raise TypeError(f"expected a stream transport, got {type(transport).__name__}")
        self.pipe = self.sock._attach(self, transport, self.pipe)

    def get_buffer(self, sizehint: int) -> memoryview:
        pipe = self.pipe
        if pipe is None or pipe.conn is None:
            return _DISCARD
        return pipe.conn.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        pipe = self.pipe
        if pipe is None or pipe.conn is None:
            return
        self.sock._on_events(pipe, pipe.conn.buffer_updated(nbytes))

    def eof_received(self) -> bool:
        pipe = self.pipe
        if pipe is not None and pipe.conn is not None:
            self.sock._on_events(pipe, pipe.conn.receive_data(b""))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe is not None:
            self.sock._detach(self.pipe, self, exc)

    def pause_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.paused = True

    def resume_writing(self) -> None:
        pipe = self.pipe
        if pipe is not None:
            pipe.paused = False
            if pipe.draining:  # the buffer is empty: write the held large body now
                self.sock._drained(pipe)
            else:
                self.sock._mark_dirty(pipe)


class Socket:
    """A ZMTP socket: ``ROUTER``, ``DEALER``, ``PUB`` or ``SUB`` (spec/zmtp.md#sockets).

    Times are in seconds. ``sndhwm``/``rcvhwm`` count messages per peer / per socket.
    PLAIN: give ``plain_username``+``plain_password`` (client) or ``plain_server=True`` and
    ``plain_authenticator(username: bytes, password: bytes) -> bool`` (server; without one,
    the ``plain_username``/``plain_password`` pair is the only accepted credential).
    CURVE (pyzmq's names; keys as 32 raw bytes or 40 Z85 characters, spec/curve.md): server
    ``curve_server=True, curve_secretkey=..., curve_publickey=...`` and optionally
    ``curve_authenticator(client_public_key: bytes) -> bool``; client ``curve_serverkey=...,
    curve_publickey=..., curve_secretkey=...``.
    """

    #: slots: a ZRE node holds one DEALER per peer (about 1.2 KB less each than a __dict__)
    __slots__ = (
        "__weakref__", "_closed", "_connectors", "_dirty", "_flush_scheduled", "_is_router",
        "_is_sub", "_loop", "_pipes", "_reading_paused", "_reply_ok", "_routes", "_rr", "_rx",
        "_rx_waiter", "_servers", "_subs", "_tx_waiter", "_zero_copy", "handshake_timeout",
        "heartbeat", "identity", "max_message_size", "mechanism", "metadata",
        "on_peer_disconnect", "on_readable", "rcvhwm", "reconnect_ivl", "reconnect_ivl_max",
        "sndhwm", "socket_type",
    )

    def __init__(
        self,
        socket_type: str,
        *,
        identity: bytes = b"",
        sndhwm: int = 1000,
        rcvhwm: int = 1000,
        plain_username: bytes | str | None = None,
        plain_password: bytes | str | None = None,
        plain_server: bool = False,
        plain_authenticator: Callable[[bytes, bytes], bool] | None = None,
        curve_server: bool = False,
        curve_publickey: bytes | str | None = None,
        curve_secretkey: bytes | str | None = None,
        curve_serverkey: bytes | str | None = None,
        curve_authenticator: Callable[[bytes], bool] | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        reconnect_ivl: float = RECONNECT_IVL,
        reconnect_ivl_max: float = RECONNECT_IVL_MAX,
        heartbeat_ivl: float | None = None,
        heartbeat_ttl: float = 0.0,
        heartbeat_timeout: float | None = None,
        handshake_timeout: float | None = HANDSHAKE_TIMEOUT,
        metadata: dict[str, bytes] | None = None,
    ) -> None:
        if socket_type not in SOCKET_TYPES:
            raise ValueError(f"socket type must be one of {SOCKET_TYPES}, not {socket_type!r}")
        if len(identity) > 255:
            raise ValueError("identity is at most 255 bytes")
        self.socket_type = socket_type
        self.identity = bytes(identity)
        self.sndhwm = sndhwm
        self.rcvhwm = rcvhwm
        self.max_message_size = max_message_size
        self.reconnect_ivl = reconnect_ivl
        self.reconnect_ivl_max = reconnect_ivl_max
        self.handshake_timeout = handshake_timeout
        self.metadata = dict(metadata or {})
        self.heartbeat = (
            Heartbeat(heartbeat_ivl, heartbeat_ttl, heartbeat_timeout) if heartbeat_ivl else None
        )
        self.mechanism: Mechanism = Null()
        if plain_server:
            if plain_authenticator is None:
                if plain_username is None or plain_password is None:
                    raise ValueError("a PLAIN server needs plain_authenticator or username+password")
                want = (_b(plain_username), _b(plain_password))
                plain_authenticator = lambda u, p: (u, p) == want  # noqa: E731
            self.mechanism = PlainServer(plain_authenticator)
        elif plain_username is not None or plain_password is not None:
            self.mechanism = PlainClient(_b(plain_username or b""), _b(plain_password or b""))
        curve = curve_mechanism(curve_server=curve_server, curve_publickey=curve_publickey,
                                curve_secretkey=curve_secretkey, curve_serverkey=curve_serverkey,
                                curve_authenticator=curve_authenticator)
        if curve is not None:
            if not isinstance(self.mechanism, Null):
                raise ValueError("choose one mechanism: PLAIN or CURVE")
            self.mechanism = curve
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._pipes: list[_Pipe] = []  # every pipe; DEALER round-robins over the eligible ones
        self._rr = 0
        self._routes: IdentityTable[_Pipe] = IdentityTable()
        self._subs = Subscriptions()  # SUB: what we asked for
        self._rx: deque[list[bytes | bytearray]] = _UNUSED  # its own from the first message
        #: large frames are read into buffers handed over as they are (the last recv call
        #: asked for copy=False), else into a reused buffer and copied out as bytes
        self._zero_copy = False
        self._rx_waiter: asyncio.Future[None] | None = None
        self._tx_waiter: asyncio.Future[None] | None = None
        self._dirty: list[_Pipe] = []
        self._flush_scheduled = False
        self._servers: dict[str, tuple[asyncio.AbstractServer, str | None]] = {}
        self._connectors: dict[str, tuple[_Pipe, asyncio.Task[None]]] = {}
        self._reading_paused: list[_Pipe] = []
        self._is_router = socket_type == "ROUTER"
        self._is_sub = socket_type == "SUB"
        #: a message arrived since the last unscheduled write: the next send may go out at once
        #: without scheduling a flush (request/reply latency: no extra loop turn per message)
        self._reply_ok = False
        #: ROUTER: called with a peer's routing identity when its connection closes (and no
        #: newer connection holds that identity); messages it sent before are already queued
        self.on_peer_disconnect: Callable[[bytes], None] | None = None
        #: called (synchronously, from the read) once messages were queued, so a consumer can
        #: take them with recv_many_nowait without a task wake-up; recv waiters are woken too
        self.on_readable: Callable[[], None] | None = None

    # -- context manager ------------------------------------------------------------------------
    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _check_open(self) -> None:
        if self._closed:
            raise SocketClosed(f"{self.socket_type} socket is closed")

    # -- bind / connect -------------------------------------------------------------------------
    async def bind(self, endpoint: str) -> str:
        """Listen on ``tcp://host:port`` (port ``*`` = ephemeral) or ``ipc://path``; returns the real endpoint."""
        self._check_open()
        loop = self._get_loop()
        scheme, host, port = parse_endpoint(endpoint, bind=True)
        unlink: str | None = None
        if scheme == "ipc":
            path = host
            if path == "*":
                path = os.path.join(tempfile.gettempdir(), f"zre-ref-{os.getpid()}-{id(self):x}-"
                                    f"{len(self._servers)}.ipc")
            server = await loop.create_unix_server(lambda: _ZmtpProtocol(self, None), path)
            real = f"ipc://{path}"
            unlink = path
        else:
            server = await loop.create_server(
                lambda: _ZmtpProtocol(self, None), host, port, reuse_address=True,
            )
            name = server.sockets[0].getsockname()
            real = _format_tcp(name[0], name[1])
        self._servers[real] = (server, unlink)
        log.debug("zmtp %s: bound %s", self.socket_type, real)
        return real

    def unbind(self, endpoint: str) -> None:
        """Stop listening on an endpoint returned by bind (live connections stay)."""
        entry = self._servers.pop(endpoint, None)
        if entry is None:
            raise ValueError(f"not bound to {endpoint!r}")
        entry[0].close()
        if entry[1]:
            with contextlib.suppress(OSError):
                os.unlink(entry[1])

    async def connect(self, endpoint: str) -> None:
        """Connect in the background (returns at once); reconnects with backoff. Messages sent
        before the handshake completes wait in this peer's queue (up to sndhwm)."""
        self.connect_nowait(endpoint)

    def connect_nowait(self, endpoint: str) -> None:
        """:meth:`connect` for plain functions: starts the background connect on the running
        loop (there must be one) and returns at once."""
        self._check_open()
        loop = self._get_loop()
        parse_endpoint(endpoint, bind=False)
        if endpoint in self._connectors:
            raise ValueError(f"already connected to {endpoint!r}")
        pipe = _Pipe(self, endpoint, persistent=True)
        self._pipes.append(pipe)
        task = loop.create_task(self._connect_loop(pipe), name=f"zmtp-connect {endpoint}")
        self._connectors[endpoint] = (pipe, task)

    def disconnect(self, endpoint: str) -> None:
        """Stop connecting to ``endpoint`` and drop its connection and queued messages."""
        entry = self._connectors.pop(endpoint, None)
        if entry is None:
            raise ValueError(f"not connected to {endpoint!r}")
        pipe, task = entry
        task.cancel()
        pipe.persistent = False
        self._drop_pipe(pipe)
        if pipe.transport is not None:
            pipe.transport.close()

    async def _connect_loop(self, pipe: _Pipe) -> None:
        loop = self._get_loop()
        scheme, host, port = parse_endpoint(pipe.endpoint, bind=False)
        ivl = self.reconnect_ivl
        while not self._closed and pipe.persistent:
            pipe.lost = loop.create_future()
            try:
                if scheme == "ipc":
                    await loop.create_unix_connection(lambda: _ZmtpProtocol(self, pipe), host)
                else:
                    await loop.create_connection(lambda: _ZmtpProtocol(self, pipe), host, port)
            except OSError as exc:
                log.debug("zmtp %s: connect %s failed: %s; retry in %.2fs",
                          self.socket_type, pipe.endpoint, exc, ivl)
                await asyncio.sleep(ivl)
                ivl = min(ivl * 2, max(self.reconnect_ivl_max, self.reconnect_ivl))
                continue
            await pipe.lost
            ivl = self.reconnect_ivl
            await asyncio.sleep(ivl)

    # -- connection life --------------------------------------------------------------------------
    def _attach(self, proto: _ZmtpProtocol, transport: asyncio.Transport,
                pipe: _Pipe | None) -> _Pipe:
        if pipe is None:
            pipe = _Pipe(self, "", persistent=False)
            self._pipes.append(pipe)
        if self._closed:
            transport.close()
        pipe.transport = transport
        pipe.proto = proto
        pipe.paused = False
        pipe.ready = False
        pipe.subs = _NO_SUBS
        peer = transport.get_extra_info("peername")
        pipe.peer = _format_tcp(peer[0], peer[1]) if isinstance(peer, tuple) else str(peer or "ipc")
        with contextlib.suppress(Exception):
            transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (_socket.AF_INET, _socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        pipe.conn = Connection(
            self.socket_type, identity=self.identity, mechanism=self.mechanism,
            max_message_size=self.max_message_size, heartbeat=self.heartbeat,
            handshake_timeout=self.handshake_timeout, metadata=self.metadata,
            zero_copy=self._zero_copy, receive_buffer=_loop_receive_buffer(),
        )
        transport.write(pipe.conn.data_to_send())
        self._rearm(pipe)
        return pipe

    def _detach(self, pipe: _Pipe, proto: _ZmtpProtocol, exc: Exception | None) -> None:
        if pipe.proto is not proto:
            return
        conn = pipe.conn
        if conn is not None and not conn.closed:
            conn.close("transport lost" + (f": {exc}" if exc else ""))
            log.debug("zmtp %s: connection %s lost: %s", self.socket_type, pipe.peer, exc)
        if pipe.timer is not None:
            pipe.timer.cancel()
            pipe.timer = None
        pipe.timer_at = -1.0
        pipe.held = []  # encoded for the lost connection: gone with it
        pipe.draining = False
        pipe.conn = None
        pipe.transport = None
        pipe.proto = None
        pipe.ready = False
        if pipe.reading_paused:
            pipe.reading_paused = False
        gone = b""
        if self._is_router and pipe.identity:
            if self._routes.get(pipe.identity) is pipe:
                gone = pipe.identity
            self._routes.remove(pipe.identity, pipe)
        if not pipe.persistent:
            self._drop_pipe(pipe)
        if pipe.lost is not None and not pipe.lost.done():
            pipe.lost.set_result(None)
        self._wake_tx()
        cb = self.on_peer_disconnect
        if gone and cb is not None and not self._closed:
            try:
                cb(gone)
            except Exception:
                log.exception("zmtp ROUTER: on_peer_disconnect(%r) failed", gone)

    def _drop_pipe(self, pipe: _Pipe) -> None:
        with contextlib.suppress(ValueError):
            self._pipes.remove(pipe)
        if self._is_router and pipe.identity:
            self._routes.remove(pipe.identity, pipe)
        pipe.queue.clear()

    def _rearm(self, pipe: _Pipe) -> None:
        conn = pipe.conn
        if conn is None:
            return
        when = conn.next_deadline()
        if when is None:
            if pipe.timer is not None:
                pipe.timer.cancel()
                pipe.timer = None
                pipe.timer_at = -1.0
            return
        if when == pipe.timer_at and pipe.timer is not None:
            return
        if pipe.timer is not None:
            pipe.timer.cancel()
        loop = self._get_loop()
        pipe.timer_at = when
        pipe.timer = loop.call_at(max(when, loop.time()), self._on_timer, pipe)

    def _on_timer(self, pipe: _Pipe) -> None:
        pipe.timer = None
        pipe.timer_at = -1.0
        conn = pipe.conn
        if conn is None:
            return
        events = conn.handle_timer(self._get_loop().time())
        self._mark_dirty(pipe)
        if events:
            self._on_events(pipe, events)
        else:
            self._rearm(pipe)

    def _on_events(self, pipe: _Pipe, events: list[Any]) -> None:
        """Turn a Connection's events into socket state (the hot path for MessageReceived)."""
        conn = pipe.conn
        rx = self._rx
        got = False
        for ev in events:
            if type(ev) is MessageReceived:
                frames = ev.frames
                if ev.buffers:
                    frames = _Buffers(frames)
                if self._is_router:
                    frames.insert(0, pipe.identity)
                elif self._is_sub and not self._subs.matches(frames[0]):
                    continue
                if rx is _UNUSED:
                    rx = self._rx = deque()
                rx.append(frames)
                got = True
            elif isinstance(ev, HandshakeCompleted):
                self._on_handshake(pipe, ev)
            elif isinstance(ev, Subscribed):
                subs = pipe.subs
                if type(subs) is not set:
                    subs = pipe.subs = set()
                subs.add(ev.topic)
            elif isinstance(ev, Unsubscribed):
                subs = pipe.subs
                if type(subs) is set:
                    subs.discard(ev.topic)
            elif isinstance(ev, ConnectionClosed):
                self._on_closed(pipe, ev)
                return
        if got:
            self._reply_ok = True
            w = self._rx_waiter
            if w is not None and not w.done():
                w.set_result(None)
            cb = self.on_readable
            if cb is not None:
                try:
                    cb()
                except Exception:
                    log.exception("zmtp %s: on_readable failed", self.socket_type)
            if len(rx) >= self.rcvhwm and pipe.transport is not None and not pipe.reading_paused:
                pipe.reading_paused = True
                pipe.transport.pause_reading()
                self._reading_paused.append(pipe)
        if conn is not None and conn._out:
            self._mark_dirty(pipe)
        if conn is not None and (conn._arm or pipe.timer is not None):
            self._rearm(pipe)

    def _on_handshake(self, pipe: _Pipe, ev: HandshakeCompleted) -> None:
        conn = pipe.conn
        if conn is None:
            return
        pipe.ready = True
        log.debug("zmtp %s: handshake with %s (%s, identity %r, ZMTP %d.%d)", self.socket_type,
                  pipe.peer, ev.peer_socket_type, ev.peer_identity, *ev.version)
        if self._is_router:
            ident, displaced = self._routes.register(ev.peer_identity, pipe)
            pipe.identity = ident
            if displaced is not None:
                log.info("zmtp ROUTER: identity %r handed over from %s to %s",
                         ident, displaced.peer, pipe.peer)
                displaced.identity = b""
                if displaced.transport is not None:
                    displaced.transport.close()
        elif self._is_sub:
            for topic in self._subs:
                conn.send_subscribe(topic)
        self._mark_dirty(pipe)
        self._rearm(pipe)
        self._wake_tx()

    def _on_closed(self, pipe: _Pipe, ev: ConnectionClosed) -> None:
        level = logging.DEBUG if ev.code in ("eof", "local") else logging.WARNING
        log.log(level, "zmtp %s: closing connection %s: %s (%s)", self.socket_type,
                pipe.peer or pipe.endpoint, ev.reason, ev.code)
        transport = pipe.transport
        conn = pipe.conn
        if transport is not None:
            if conn is not None:
                data = conn.data_to_send()
                if data:
                    transport.write(data)  # e.g. a PLAIN server's ERROR
            transport.close()
        pipe.ready = False

    # -- output -------------------------------------------------------------------------------------
    def _mark_dirty(self, pipe: _Pipe) -> None:
        if not pipe.dirty:
            pipe.dirty = True
            self._dirty.append(pipe)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._get_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for pipe in dirty:
            pipe.dirty = False
            self._flush_pipe(pipe)
        self._wake_tx()

    def _flush_pipe(self, pipe: _Pipe, force: bool = False) -> None:
        conn = pipe.conn
        transport = pipe.transport
        if conn is None or transport is None or conn.closed:
            return
        if pipe.held:
            if not force and pipe.draining:
                return  # resume_writing writes them
            held, pipe.held = pipe.held, []
            self._write(pipe, transport, held, force)
        q = pipe.queue
        if pipe.ready and q:
            send = conn.send_message
            pop = q.popleft
            while q and (force or not (pipe.paused or pipe.held)):
                # a batch of about _FLUSH_CHUNK bytes, sized from the first message
                n = min(len(q), max(1, _FLUSH_CHUNK // (len(q[0][-1]) + 64)))
                for _ in range(n):
                    send(pop())
                self._write(pipe, transport, conn.output_chunks(), force)
            if not q:
                pipe.queue = _UNUSED  # drained: an idle pipe holds no deque
        if conn.pending_output():
            self._write(pipe, transport, conn.output_chunks(), force)

    def _write(self, pipe: _Pipe, transport: asyncio.Transport, chunks: list[bytes],
               force: bool = False) -> None:
        """Write chunks in order; a large one only into an empty transport buffer (else it and
        the rest wait in pipe.held for resume_writing). Large ones go as memoryviews, so asyncio
        copies only the part the kernel does not take at once."""
        if pipe.held:
            pipe.held.extend(chunks)
            return
        for i, chunk in enumerate(chunks):
            if len(chunk) < BIG_FRAME:
                transport.write(chunk)
            elif force or not transport.get_write_buffer_size():
                transport.write(memoryview(chunk))
            else:
                pipe.held = chunks[i:]
                pipe.draining = True
                # pause_writing now, resume_writing once the buffer is empty (low water 0)
                transport.set_write_buffer_limits(high=0)
                return

    def _drained(self, pipe: _Pipe) -> None:
        """resume_writing after a drain wait: restore the limits, write what was held."""
        pipe.draining = False
        transport = pipe.transport
        if transport is None:
            return
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        self._flush_pipe(pipe)
        self._wake_tx()

    def _wake_tx(self) -> None:
        w = self._tx_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- send -----------------------------------------------------------------------------------------
    def _enqueue(self, pipe: _Pipe, frames: list[bytes]) -> None:
        if not pipe.dirty and pipe.ready:
            conn = pipe.conn
            transport = pipe.transport
            if not (pipe.queue or pipe.paused or pipe.held) and conn is not None \
                    and transport is not None:
                # the first message of this loop turn goes out at once (latency); the rest
                # of the turn is coalesced by the flush scheduled here (throughput)
                conn.send_message(frames)
                chunks = conn.output_chunks()
                if len(chunks) == 1 and len(chunks[0]) < BIG_FRAME:
                    transport.write(chunks[0])
                else:
                    self._write(pipe, transport, chunks)
                if self._reply_ok:  # a reply: no flush needed, nothing else is queued
                    self._reply_ok = False
                    return
                self._mark_dirty(pipe)
                return
            self._mark_dirty(pipe)
        q = pipe.queue
        if q is _UNUSED:
            q = pipe.queue = deque()
        q.append(frames)

    def _try_send(self, frames: list[bytes]) -> bool:
        """Queue ``frames`` by the socket's rule; False if a DEALER has no room (HWM)."""
        st = self.socket_type
        if st == "DEALER":
            pipes = self._pipes
            n = len(pipes)
            hwm = self.sndhwm
            if n == 1:  # the common case (ZRE: one DEALER per peer)
                p = pipes[0]
                if len(p.queue) < hwm and (p.persistent or p.ready):
                    if p.dirty or not p.ready:
                        q = p.queue
                        if q is _UNUSED:
                            q = p.queue = deque()
                        q.append(frames)
                    else:
                        self._enqueue(p, frames)
                    return True
                return False
            for i in range(n):
                idx = (self._rr + i) % n
                p = pipes[idx]
                if len(p.queue) < hwm and (p.persistent or p.ready):
                    self._rr = idx + 1
                    self._enqueue(p, frames)
                    return True
            return False
        if st == "ROUTER":
            if len(frames) < 2:
                raise ValueError("a ROUTER message needs an identity frame and a body")
            target = self._routes.get(bytes(frames[0]))
            if target is None:
                log.debug("zmtp ROUTER: no peer %r, message dropped", frames[0])
                return True
            if len(target.queue) >= self.sndhwm:
                return False
            self._enqueue(target, frames[1:])
            return True
        if st == "PUB":
            return not self._pub_send(frames, self._pipes)
        raise TypeError(f"a {st} socket cannot send messages")

    def _pub_send(self, frames: list[bytes], pipes: Iterable[_Pipe]) -> list[_Pipe]:
        """PUB: queue for every matching subscriber; returns those at their HWM."""
        topic = frames[0]
        full = []
        hwm = self.sndhwm
        for p in pipes:
            if p.ready and p.subs and p.pub_matches(topic):
                if len(p.queue) < hwm:
                    self._enqueue(p, frames)
                else:
                    full.append(p)
        return full

    def send_frames_nowait(self, frames: list[bytes]) -> None:
        """:meth:`send_multipart_nowait` for a message the caller built: a non-empty list of
        ``bytes`` that the socket keeps as it is (not copied, not checked; do not change it)."""
        if self._closed:
            raise SocketClosed(f"{self.socket_type} socket is closed")
        if not self._try_send(frames) and self.socket_type == "DEALER":
            raise WouldBlock(f"DEALER: no peer below sndhwm={self.sndhwm}")

    def send_multipart_nowait(self, frames: Sequence[bytes]) -> None:
        """Send without waiting. DEALER: raises WouldBlock when every peer is at sndhwm (or
        there is none). ROUTER drops messages for unknown or full peers, PUB for full subscribers."""
        self._check_open()
        msg = _frames(frames)
        if not self._try_send(msg) and self.socket_type == "DEALER":
            raise WouldBlock(f"DEALER: no peer below sndhwm={self.sndhwm}")

    async def send_multipart(self, frames: Sequence[bytes]) -> None:
        """Send, waiting while a DEALER has no room. ROUTER/PUB give a full peer one loop turn
        to drain, then drop the message for it (libzmq's rule)."""
        self._check_open()
        msg = _frames(frames)
        if self.socket_type == "PUB":
            full = self._pub_send(msg, self._pipes)
            if full:
                await asyncio.sleep(0)
                self._check_open()
                self._pub_send(msg, full)  # subscribers still full miss this message
            return
        if self._try_send(msg):
            return
        if self.socket_type == "ROUTER":
            await asyncio.sleep(0)
            self._check_open()
            self._try_send(msg)  # still full: dropped
            return
        while True:
            await self._wait_tx()
            self._check_open()
            if self._try_send(msg):
                return

    async def _wait_tx(self) -> None:
        w = self._tx_waiter
        if w is None or w.done():
            w = self._tx_waiter = self._get_loop().create_future()
        await w

    async def send(self, frame: bytes) -> None:
        """Send a one-frame message."""
        await self.send_multipart([frame])

    # -- receive --------------------------------------------------------------------------------------
    @overload
    def recv_multipart_nowait(self, copy: Literal[True] = True) -> list[bytes]: ...
    @overload
    def recv_multipart_nowait(self, copy: bool) -> list[bytes | bytearray]: ...

    def recv_multipart_nowait(self, copy: bool = True) -> list[bytes] | list[bytes | bytearray]:
        """A waiting message, or WouldBlock. ROUTER puts the peer's identity first.
        ``copy=False``: see recv_multipart."""
        self._check_open()
        if copy == self._zero_copy:
            self._set_zero_copy(not copy)
        if not self._rx:
            raise WouldBlock("no message waiting")
        return self._pop(copy)

    @overload
    def recv_many_nowait(self, limit: int | None = None,
                         copy: Literal[True] = True) -> list[list[bytes]]: ...
    @overload
    def recv_many_nowait(self, limit: int | None, copy: bool) -> list[list[bytes | bytearray]]: ...

    def recv_many_nowait(self, limit: int | None = None, copy: bool = True
                         ) -> list[list[bytes]] | list[list[bytes | bytearray]]:
        """Up to ``limit`` waiting messages (every one when None), oldest first; [] when none
        is waiting. Each is what :meth:`recv_multipart_nowait` would return."""
        self._check_open()
        if copy == self._zero_copy:
            self._set_zero_copy(not copy)
        rx = self._rx
        if limit is None or limit >= len(rx):
            out = list(rx)
            rx.clear()
        else:
            pop = rx.popleft
            out = [pop() for _ in range(max(0, limit))]
        if self._reading_paused and len(rx) < self.rcvhwm // 2 + 1:
            self._resume_reading()
        if copy:
            return cast(list[list[bytes]],
                        [[bytes(f) for f in msg] if type(msg) is _Buffers else msg for msg in out])
        return out

    def _resume_reading(self) -> None:
        for p in self._reading_paused:
            if p.reading_paused and p.transport is not None:
                p.reading_paused = False
                p.transport.resume_reading()
        self._reading_paused.clear()

    def _set_zero_copy(self, on: bool) -> None:
        self._zero_copy = on
        for p in self._pipes:
            if p.conn is not None:
                p.conn.zero_copy = on

    def _pop(self, copy: bool) -> list[bytes] | list[bytes | bytearray]:
        msg = self._rx.popleft()
        if self._reading_paused and len(self._rx) < self.rcvhwm // 2 + 1:
            self._resume_reading()
        if type(msg) is _Buffers:
            if copy:
                return [bytes(f) for f in msg]
            return list(msg)
        return msg

    @overload
    async def recv_multipart(self, copy: Literal[True] = True) -> list[bytes]: ...
    @overload
    async def recv_multipart(self, copy: bool) -> list[bytes | bytearray]: ...

    async def recv_multipart(self, copy: bool = True) -> list[bytes] | list[bytes | bytearray]:
        """The next message. ROUTER puts the peer's identity first. ``copy=False`` (like
        pyzmq's) may hand frames of 16 KiB or more over as the bytearray they were read into
        (those that took more than one read), saving a copy; other frames are bytes."""
        if copy == self._zero_copy:
            self._set_zero_copy(not copy)
        while True:
            if self._rx:
                return self._pop(copy)
            self._check_open()
            w = self._rx_waiter
            if w is None or w.done():
                w = self._rx_waiter = self._get_loop().create_future()
            await w

    async def recv(self) -> bytes:
        """The first frame of the next message (the rest are discarded)."""
        return (await self.recv_multipart())[0]

    # -- subscriptions ------------------------------------------------------------------------------------
    def subscribe(self, prefix: bytes | str) -> None:
        """SUB: receive messages whose first frame starts with ``prefix`` (b"" = everything)."""
        self._check_open()
        if not self._is_sub:
            raise TypeError("subscribe() is for SUB sockets")
        topic = _b(prefix)
        self._subs.add(topic)
        for p in self._pipes:
            if p.ready and p.conn is not None:
                p.conn.send_subscribe(topic)
                self._mark_dirty(p)

    def unsubscribe(self, prefix: bytes | str) -> None:
        """SUB: undo one subscribe(prefix)."""
        self._check_open()
        if not self._is_sub:
            raise TypeError("unsubscribe() is for SUB sockets")
        topic = _b(prefix)
        if self._subs.remove(topic):
            for p in self._pipes:
                if p.ready and p.conn is not None:
                    p.conn.send_cancel(topic)
                    self._mark_dirty(p)

    # -- introspection --------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def endpoints(self) -> list[str]:
        """Endpoints this socket is bound to."""
        return list(self._servers)

    def peers(self) -> list[dict[str, Any]]:
        """One dict per peer connection/pipe (for logs and tests)."""
        return [
            {"endpoint": p.endpoint, "peer": p.peer, "ready": p.ready, "identity": p.identity,
             "queued": len(p.queue), "subscriptions": sorted(p.subs)}
            for p in self._pipes
        ]

    def queued(self) -> int:
        """Messages waiting in all send queues."""
        return sum(len(p.queue) for p in self._pipes)

    # -- close ----------------------------------------------------------------------------------------
    def close(self, linger: bool = True) -> None:
        """Close: stop listening and connecting; write what is queued for ready peers when
        ``linger``, then close every connection. Waiting calls raise SocketClosed."""
        if self._closed:
            return
        self._closed = True
        for server, unlink in self._servers.values():
            server.close()
            if unlink:
                with contextlib.suppress(OSError):
                    os.unlink(unlink)
        self._servers.clear()
        for _pipe, task in self._connectors.values():
            task.cancel()
        self._connectors.clear()
        for pipe in list(self._pipes):
            if linger:
                self._flush_pipe(pipe, force=True)
            pipe.persistent = False
            if pipe.timer is not None:
                pipe.timer.cancel()
            if pipe.transport is not None:
                pipe.transport.close()
            pipe.queue.clear()
        self._pipes.clear()
        for w in (self._rx_waiter, self._tx_waiter):
            if w is not None and not w.done():
                w.set_exception(SocketClosed(f"{self.socket_type} socket closed"))
                w.exception()  # mark retrieved: nobody may be waiting


class _Buffers(list[bytes | bytearray]):
    """A received message holding bytearray frames (recv_multipart(copy=True) converts them)."""

    __slots__ = ()


def _b(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _frames(frames: Iterable[bytes]) -> list[bytes]:
    out = [f if type(f) is bytes else _frame(f) for f in frames]
    if not out:
        raise ValueError("a message has at least one frame")
    return out


def _frame(f: object) -> bytes:
    if isinstance(f, (bytearray, memoryview)):
        return bytes(f)
    if isinstance(f, str):
        raise TypeError("frames must be bytes, not str (encode it first)")
    raise TypeError(f"frames must be bytes-like, not {type(f).__name__}")
