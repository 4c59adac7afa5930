"""asyncio ZMTP sockets with pyzmq-like names: ROUTER, DEALER, PUB, SUB (spec/zmtp.md#sockets).

A thin shell over the sans-IO :class:`~zre_ref.zmtp.connection.Connection`: one
``asyncio.Protocol`` per TCP (or unix) connection feeds it; the socket type's routing policy
(``zmtp/routing.py``) decides where a message goes, received messages wait in an
:class:`~zre_ref.zmtp.inbox.Inbox`, and ``aio/zmtp_flow.py`` queues and coalesces writes (per-peer
queues bounded by ``sndhwm``, written once per loop turn) and pauses reading while the inbox is
full. The Socket itself keeps transports (accept, connect, reconnect) and timers::

    async with Socket("DEALER", identity=b"me") as s:
        await s.connect("tcp://127.0.0.1:5555")
        await s.send_multipart([b"hello"])
        reply = await s.recv_multipart()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket as _socket
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Literal, overload

from ..lograte import RateLimitedLog
from ..zmtp.connection import (
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_FRAMES,
    MAX_MESSAGE_SIZE,
    PARTIAL_TIMEOUT,
    Connection,
    ConnectionClosed,
    HandshakeCompleted,
    Heartbeat,
    MessageReceived,
    Subscribed,
    Unsubscribed,
)
from ..zmtp.curve import curve_mechanism
from ..zmtp.inbox import NO_QUEUE, Buffers, Inbox
from ..zmtp.mechanisms import NULL, Mechanism, Null, PlainClient, PlainServer
from ..zmtp.metadata import check_socket_settings
from ..zmtp.receiver import ReceiveBudget
from ..zmtp.routing import (
    ASYNCIO_SOCKET_TYPES,
    PUBLISHERS,
    Routing,
    SocketClosed,
    WouldBlock,
    routing_for,
)
from .loopshared import CoarseDeadlines, LoopShared
from .rawstream import (
    Connecting,
    RawStreamTransport,
    StreamReactor,
    adopt_socket,
    attach,
    numeric_address,
    open_connection,
)
from .zmtp_flow import (
    SUBSCRIPTION_OVERHEAD,
    WRITE_HIGH_WATER,
    Output,
    Pipe,
    ReadPause,
    SubscriberTopics,
)

__all__ = ["SUBSCRIPTION_OVERHEAD", "Socket", "SocketClosed", "WouldBlock", "parse_endpoint"]

log = logging.getLogger("zre_ref.aio.zmtp")

SOCKET_TYPES = ASYNCIO_SOCKET_TYPES
#: default bytes of received messages waiting for the application before reading pauses
RCVHWM_BYTES = 64 * 1024 * 1024
#: default bytes the unfinished messages of all of a socket's connections may hold together
MAX_UNFINISHED_BYTES = 128 * 1024 * 1024
#: default bytes the subscriptions of all of a PUB's subscribers may hold together
MAX_SUBSCRIPTION_BYTES = 256 * 1024 * 1024
#: the topics of a socket nobody subscribes to (only a PUB's connections report
#: subscriptions): shared, never added to, so a ZRE node's DEALERs hold none of their own
NO_TOPICS = SubscriberTopics(MAX_SUBSCRIPTION_BYTES)
#: seconds accepting pauses when the process is out of file descriptors (EMFILE/ENFILE)
ACCEPT_RETRY_IVL = 1.0
#: accept errors that mean "out of a resource": pause accepting, retry later
_ACCEPT_PAUSE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: connections accepted per readiness event of a listening socket, and the listen backlog
_ACCEPT_BATCH = 64
_LISTEN_BACKLOG = 128
#: a high-water mark of 0 means "no limit", as in libzmq and pyzmq
_NO_LIMIT = sys.maxsize
#: default first reconnect delay (s) and the backoff ceiling (libzmq: 100 ms, no ceiling)
RECONNECT_IVL = 0.1
RECONNECT_IVL_MAX = 2.0
_DISCARD = memoryview(bytearray(4096))  # reads after a connection is done go nowhere
#: what ``Socket(raw_transport=None)`` means: asyncio's transports (the test suite runs the
#: Socket tests once with each value)
DEFAULT_RAW_TRANSPORT = False


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


class _ZmtpProtocol(asyncio.BufferedProtocol):
    """Bytes in and out for one connection; everything else is in Connection and Socket."""

    __slots__ = ("pipe", "sock")

    def __init__(self, sock: Socket, pipe: Pipe | None) -> None:
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

    def deadline_due(self, slot: int) -> None:
        """The loop's handshake deadlines (``LoopShared.handshakes``) reached ``slot``: the
        connection's timer runs if its deadline is still in that slot."""
        pipe = self.pipe
        if pipe is not None and pipe.proto is self and pipe.timer is None \
                and pipe.timer_at >= 0 and CoarseDeadlines.slot_of(pipe.timer_at) == slot:
            self.sock._on_timer(pipe)

    def pause_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.paused = True

    def resume_writing(self) -> None:
        if self.pipe is not None:
            self.sock._output.resumed(self.pipe)


class _Listener:
    """A listening socket whose accepts pause while the process is out of file descriptors.

    asyncio's own accept loop reports every EMFILE through the loop's exception handler, with a
    traceback; this one stops watching the socket for ``ACCEPT_RETRY_IVL`` s, logs once per
    interval (a RateLimitedLog line, then counts) and resumes (spec/zmtp.md#limits).
    """

    __slots__ = ("_retry", "_watching", "endpoint", "loop", "owner", "sock", "unlink")

    def __init__(self, owner: Socket, sock: _socket.socket, endpoint: str,
                 unlink: str | None) -> None:
        self.owner = owner
        self.sock = sock
        self.endpoint = endpoint
        self.unlink = unlink
        self.loop = owner._get_loop()
        self._retry: asyncio.TimerHandle | None = None
        self._watching = False
        sock.setblocking(False)
        sock.listen(_LISTEN_BACKLOG)
        self._watch()

    def _watch(self) -> None:
        self._retry = None
        self.loop.add_reader(self.sock.fileno(), self._on_readable)
        self._watching = True

    def _on_readable(self) -> None:
        owner = self.owner
        for _ in range(_ACCEPT_BATCH):
            try:
                # the descriptor: the socket object is the owner's choice (Socket._accepted)
                fd, addr = self.sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                now = self.loop.time()
                if exc.errno in _ACCEPT_PAUSE_ERRNOS:
                    self.loop.remove_reader(self.sock.fileno())
                    self._watching = False
                    self._retry = self.loop.call_later(ACCEPT_RETRY_IVL, self._watch)
                    owner._log.warning(now, ("accept-paused", self.endpoint),
                                       "zmtp %s: accept on %s failed (%s); not accepting for "
                                       "%.1f s", owner.socket_type, self.endpoint,
                                       exc.strerror, ACCEPT_RETRY_IVL)
                else:
                    owner._log.warning(now, ("accept-failed", self.endpoint, exc.errno),
                                       "zmtp %s: accept on %s failed: %s", owner.socket_type,
                                       self.endpoint, exc)
                return
            owner._accepted(self.sock, fd, addr)

    def close(self) -> None:
        if self._watching:
            self.loop.remove_reader(self.sock.fileno())
            self._watching = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.sock.close()
        if self.unlink:
            with contextlib.suppress(OSError):
                os.unlink(self.unlink)


class Socket:
    """A ZMTP socket: ``ROUTER``, ``DEALER``, ``PUB`` or ``SUB`` (spec/zmtp.md#sockets).

    Times are in seconds. ``sndhwm``/``rcvhwm`` count messages per peer / per socket (0 = no
    limit, as in pyzmq). Receive memory is bounded in bytes too (README "Bounds"):
    ``rcvhwm_bytes`` for messages waiting to be received, ``max_unfinished_bytes`` for the
    unfinished messages of all connections together, ``max_message_size`` and
    ``max_message_frames`` per message, ``partial_timeout`` for how long one may stay unfinished
    (``receive_budget``: a ReceiveBudget shared with other sockets instead of
    ``max_unfinished_bytes``). ``send_filter(frames) -> frames | None`` sees every message sent
    (None drops it): a hook for fault injection. ``shared``: the read buffer's owner (default:
    ``LoopShared.of()`` of the loop the connections run on; see aio/loopshared.py).
    ``eager_handshake``: send the whole greeting (and NULL's READY) at once instead of in
    libzmq's stages (spec/zmtp.md#staging): two round trips fewer per connection.
    ``raw_transport``: put TCP connections on the loop's
    :class:`~zre_ref.aio.rawstream.StreamReactor` (one epoll for the loop, a slotted transport
    per connection, connects and accepts without a Task) instead of asyncio's selector
    transports: the same bytes on the wire, about ten garbage-collected objects fewer per
    connection (spec/zmtp.md#raw-transport). ipc://, host names and loops without epoll keep asyncio's.
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
        "__weakref__", "_accepting", "_budget", "_closed", "_connectors", "_enqueue_to", "_inbox",
        "_loop", "_output", "_pipes", "_read_pause", "_routing", "_rx_waiter", "_servers",
        "_shared", "_topics", "_tx_waiter", "_warnings", "_zero_copy", "eager_handshake",
        "handshake_timeout", "heartbeat", "identity", "max_message_frames", "max_message_size",
        "mechanism", "metadata", "on_messages", "on_peer_disconnect", "on_readable",
        "on_writable",
        "partial_timeout", "raw_transport", "reconnect_ivl", "reconnect_ivl_max", "send_filter",
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
        rcvhwm_bytes: int = RCVHWM_BYTES,
        max_unfinished_bytes: int = MAX_UNFINISHED_BYTES,
        max_subscription_bytes: int = MAX_SUBSCRIPTION_BYTES,
        max_message_frames: int = MAX_MESSAGE_FRAMES,
        partial_timeout: float | None = PARTIAL_TIMEOUT,
        send_filter: Callable[[list[bytes]], list[bytes] | None] | None = None,
        receive_budget: ReceiveBudget | None = None,
        shared: LoopShared | None = None,
        eager_handshake: bool = False,
        raw_transport: bool | None = None,
    ) -> None:
        check_socket_settings(socket_type, identity, SOCKET_TYPES)
        self.socket_type = socket_type
        self.identity = bytes(identity)
        self.eager_handshake = eager_handshake
        self.raw_transport = DEFAULT_RAW_TRANSPORT if raw_transport is None else raw_transport
        self.sndhwm = sndhwm
        #: received messages waiting for the application (rcvhwm, rcvhwm_bytes bound them)
        self._inbox = Inbox(rcvhwm, rcvhwm_bytes)
        self._read_pause = ReadPause()
        self._shared = shared
        self.max_message_size = max_message_size
        self.max_message_frames = max_message_frames
        self.partial_timeout = partial_timeout
        self.send_filter = send_filter
        #: PUB: subscribers' topics (other types are never subscribed to: they share
        #: NO_TOPICS, which stays empty, until max_subscription_bytes is set)
        self._topics = (SubscriberTopics(max_subscription_bytes)
                        if socket_type in PUBLISHERS or max_subscription_bytes != NO_TOPICS.limit
                        else NO_TOPICS)
        #: what the unfinished messages of all connections hold together (0 = no limit);
        #: ``receive_budget`` shares one between sockets (a ZRE node's DEALERs), replacing
        #: max_unfinished_bytes
        self._budget = (receive_budget if receive_budget is not None
                        else ReceiveBudget(max_unfinished_bytes or None))
        self._warnings: RateLimitedLog | None = None  # see _log
        self.reconnect_ivl = reconnect_ivl
        self.reconnect_ivl_max = reconnect_ivl_max
        self.handshake_timeout = handshake_timeout
        self.metadata = dict(metadata or {})
        if heartbeat_timeout is not None and heartbeat_timeout < 0:
            heartbeat_timeout = None  # pyzmq's -1: the heartbeat interval
        self.heartbeat = (
            Heartbeat(heartbeat_ivl, heartbeat_ttl, heartbeat_timeout) if heartbeat_ivl else None
        )
        self.mechanism: Mechanism = NULL
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
        self._pipes: list[Pipe] = []  # every pipe; DEALER round-robins over the eligible ones
        #: this type's rules: where sent messages go, what received ones become
        self._routing: Routing[Pipe] = routing_for(socket_type)
        self._output = Output(self)
        self._enqueue_to = self._output.enqueue  # bound once: the policies call it per message
        #: large frames are handed over in the bytearray they were read into (the last recv
        #: call asked for copy=False), else copied out as bytes
        self._zero_copy = False
        self._rx_waiter: asyncio.Future[None] | None = None
        self._tx_waiter: asyncio.Future[None] | None = None
        self._servers: dict[str, _Listener] = {}
        #: accepted, transport being made (a set of its own from the first accept)
        self._accepting: set[asyncio.Task[Any]] | None = None
        self._connectors: dict[str, Pipe] = {}  # connect()ed endpoints
        #: ROUTER: called with a peer's routing identity when its connection closes (and no
        #: newer connection holds that identity); messages it sent before are already queued
        self.on_peer_disconnect: Callable[[bytes], None] | None = None
        #: called (synchronously, from the read) once messages were queued, so a consumer can
        #: take them with recv_many_nowait without a task wake-up; recv waiters are woken too
        self.on_readable: Callable[[], None] | None = None
        #: the direct path (a ZRE node's ROUTER): called, from the read, with the messages one
        #: read completed (each as recv_many_nowait gives it) while none waits in the inbox;
        #: returns how many it took -- the first ones, in order -- and the rest are queued in
        #: the inbox as usual (``on_readable`` follows). It must not call back into the socket's
        #: receive side
        self.on_messages: Callable[[list[list[bytes | bytearray]]], int] | None = None
        #: called after the socket made room on its send side (queued messages written to the
        #: transports, a transport that had stopped taking data drained, a peer gone), so an
        #: owner holding messages back for a peer's :meth:`send_backlog` can look again
        self.on_writable: Callable[[], None] | None = None

    @property
    def max_subscription_bytes(self) -> int:
        """PUB: bytes every subscriber's topics may cost together (0 = no limit)."""
        return self._topics.limit

    @max_subscription_bytes.setter
    def max_subscription_bytes(self, value: int) -> None:
        if self._topics is NO_TOPICS:
            self._topics = SubscriberTopics(value)
        self._topics.limit = value

    @property
    def rcvhwm(self) -> int:
        """Messages waiting to be received before reading pauses (0 = no limit)."""
        return self._inbox.hwm

    @rcvhwm.setter
    def rcvhwm(self, value: int) -> None:
        self._inbox.hwm = value

    @property
    def rcvhwm_bytes(self) -> int:
        """Bytes of messages waiting to be received before reading pauses (0 = no limit)."""
        return self._inbox.hwm_bytes

    @rcvhwm_bytes.setter
    def rcvhwm_bytes(self, value: int) -> None:
        self._inbox.hwm_bytes = value

    # -- context manager ------------------------------------------------------------------------
    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def _log(self) -> RateLimitedLog:
        """Peer-triggered warnings: one line per kind, then a count per interval (made on
        first use: most sockets never warn)."""
        if self._warnings is None:
            self._warnings = RateLimitedLog(log)
        return self._warnings

    def _get_shared(self) -> LoopShared:
        if self._shared is None:
            self._shared = LoopShared.of(self._get_loop())
        return self._shared

    def _stream_reactor(self) -> StreamReactor | None:
        """The loop's raw stream reactor when this socket uses it (else asyncio's transports)."""
        if not self.raw_transport:
            return None
        return self._get_shared().stream_reactor(self._get_loop())

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
            lsock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                lsock.bind(path)
            except OSError:
                lsock.close()
                raise
            real = f"ipc://{path}"
            unlink = path
        else:
            numeric = numeric_address(host, port)
            addr: tuple[Any, ...]
            if numeric is not None:  # no resolver: getaddrinfo would run in a thread
                family, addr = numeric
            else:
                infos = await loop.getaddrinfo(host, port, type=_socket.SOCK_STREAM,
                                               flags=_socket.AI_PASSIVE)
                family, _type, _proto, _name, addr = infos[0]
            lsock = _socket.socket(family, _socket.SOCK_STREAM)
            try:
                lsock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
                # accepted sockets inherit it (Linux): the raw transport sets nothing per link
                lsock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                if family == _socket.AF_INET6:
                    lsock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
                lsock.bind(addr)
            except OSError:
                lsock.close()
                raise
            name = lsock.getsockname()
            real = _format_tcp(name[0], name[1])
        self._servers[real] = _Listener(self, lsock, real, unlink)
        log.debug("zmtp %s: bound %s", self.socket_type, real)
        return real

    def _accepted(self, listener: _socket.socket, fd: int, addr: Any) -> None:
        """A connection our listener accepted (descriptor ``fd`` from ``addr``): give it a
        transport and a protocol -- the raw stream transport at once, or asyncio's in a task."""
        if self._closed:
            os.close(fd)
            return
        loop = self._get_loop()
        reactor = self._stream_reactor()
        if reactor is not None and listener.family in (_socket.AF_INET, _socket.AF_INET6):
            attach(reactor, loop, adopt_socket(listener, fd), _ZmtpProtocol(self, None), addr)
            return  # connection_made was called
        conn = _socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
        conn.setblocking(False)
        task = loop.create_task(
            loop.connect_accepted_socket(lambda: _ZmtpProtocol(self, None), sock=conn))
        if self._accepting is None:
            self._accepting = set()
        self._accepting.add(task)
        task.add_done_callback(self._accept_done)

    def _accept_done(self, task: asyncio.Task[Any]) -> None:
        if self._accepting is not None:
            self._accepting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.warning(self._get_loop().time(), ("accept-transport",),
                              "zmtp %s: an accepted connection failed: %s", self.socket_type,
                              task.exception())

    def unbind(self, endpoint: str) -> None:
        """Stop listening on an endpoint returned by bind (live connections stay)."""
        listener = self._servers.pop(endpoint, None)
        if listener is None:
            raise ValueError(f"not bound to {endpoint!r}")
        listener.close()

    async def connect(self, endpoint: str) -> None:
        """Connect in the background (returns at once); reconnects with backoff. Messages sent
        before the handshake completes wait in this peer's queue (up to sndhwm)."""
        self.connect_nowait(endpoint)

    def connect_nowait(self, endpoint: str) -> None:
        """:meth:`connect` for plain functions: starts the background connect on the running
        loop (there must be one) and returns at once."""
        self._check_open()
        self._get_loop()
        parse_endpoint(endpoint, bind=False)
        if endpoint in self._connectors:
            raise ValueError(f"already connected to {endpoint!r}")
        pipe = Pipe(endpoint, persistent=True)
        self._pipes.append(pipe)
        self._connectors[endpoint] = pipe
        self._start_connect(pipe, self.reconnect_ivl)

    def disconnect(self, endpoint: str) -> None:
        """Stop connecting to ``endpoint`` and drop its connection and queued messages."""
        pipe = self._connectors.pop(endpoint, None)
        if pipe is None:
            raise ValueError(f"not connected to {endpoint!r}")
        pipe.stop_connecting()
        pipe.persistent = False
        self._drop_pipe(pipe)
        if pipe.transport is not None:
            pipe.transport.close()

    def _reconnect(self, pipe: Pipe) -> None:
        """A connect()ed pipe lost its connection: connect again in ``reconnect_ivl`` s
        (never, if it is negative)."""
        if self.reconnect_ivl >= 0 and not self._closed and pipe.persistent:
            pipe.connector = self._get_loop().call_later(self.reconnect_ivl, self._connect_later,
                                                          pipe)

    def _connect_later(self, pipe: Pipe) -> None:
        if not self._closed and pipe.persistent:
            self._start_connect(pipe, self.reconnect_ivl)

    def _start_connect(self, pipe: Pipe, ivl: float) -> None:
        """Connect ``pipe``: on the raw stream reactor when this socket uses it and the host is
        numeric (no Task; a failure retries after ``ivl`` s), else with asyncio's
        create_connection in a task (:meth:`_connect`)."""
        if self._closed or not pipe.persistent:
            return
        reactor = self._stream_reactor()
        if reactor is not None:
            scheme, host, port = parse_endpoint(pipe.endpoint, bind=False)
            address = numeric_address(host, port) if scheme == "tcp" else None
            if address is not None:
                try:
                    pipe.connector = open_connection(
                        reactor, self._get_loop(), *address, _ZmtpProtocol(self, pipe),
                        partial(self._raw_connect_failed, pipe, ivl))
                except OSError as exc:
                    self._raw_connect_failed(pipe, ivl, exc)
                return
        pipe.connector = self._get_loop().create_task(self._connect(pipe),
                                                      name=f"zmtp-connect {pipe.endpoint}")

    def _raw_connect_failed(self, pipe: Pipe, ivl: float, exc: OSError) -> None:
        pipe.connector = None
        if self._closed or not pipe.persistent:
            return
        if self._connect_failed(pipe, exc, ivl):
            pipe.connector = self._get_loop().call_later(ivl, self._start_connect, pipe,
                                                          self._next_ivl(ivl))

    def _connect_failed(self, pipe: Pipe, exc: OSError, ivl: float) -> bool:
        """Log a failed connect; whether to retry (in ``ivl`` s: not when it is negative)."""
        if ivl < 0:  # pyzmq's reconnect_ivl=-1: no retry
            log.debug("zmtp %s: connect %s failed: %s; not retrying (reconnect_ivl < 0)",
                      self.socket_type, pipe.endpoint, exc)
            return False
        log.debug("zmtp %s: connect %s failed: %s; retry in %.2fs",
                  self.socket_type, pipe.endpoint, exc, ivl)
        return True

    def _next_ivl(self, ivl: float) -> float:
        """The backoff: each failed attempt doubles the wait, up to reconnect_ivl_max."""
        return min(ivl * 2, max(self.reconnect_ivl_max, self.reconnect_ivl))

    async def _connect(self, pipe: Pipe) -> None:
        """Connect ``pipe``, retrying failed attempts at growing intervals; it ends once
        connected (the connection's loss starts the next one: _reconnect), so a connected
        pipe holds no task."""
        loop = self._get_loop()
        scheme, host, port = parse_endpoint(pipe.endpoint, bind=False)
        ivl = self.reconnect_ivl
        while not self._closed and pipe.persistent:
            try:
                if scheme == "ipc":
                    await loop.create_unix_connection(partial(_ZmtpProtocol, self, pipe), host)
                else:
                    await loop.create_connection(partial(_ZmtpProtocol, self, pipe), host, port)
            except OSError as exc:
                if not self._connect_failed(pipe, exc, ivl):
                    return
                await asyncio.sleep(ivl)
                ivl = self._next_ivl(ivl)
                continue
            if pipe.connector is asyncio.current_task():  # else lost already: _reconnect set it
                pipe.connector = None
            return

    # -- connection life --------------------------------------------------------------------------
    def _attach(self, proto: _ZmtpProtocol, transport: asyncio.Transport,
                pipe: Pipe | None) -> Pipe:
        if pipe is None:
            pipe = Pipe("", persistent=False)
            self._pipes.append(pipe)
        if self._closed:
            transport.close()
        if type(pipe.connector) is Connecting:  # the raw connect is done
            pipe.connector = None
        pipe.transport = transport
        pipe.proto = proto
        pipe.paused = False
        pipe.ready = False
        pipe.connections += 1
        self._topics.forget(pipe)
        peer = transport.get_extra_info("peername")
        pipe.peer = _format_tcp(peer[0], peer[1]) if isinstance(peer, tuple) else str(peer or "ipc")
        # TCP_NODELAY: asyncio's transports set it; raw connects set it, and accepted
        # sockets inherit it from the listener (bind sets it there)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        pipe.conn = Connection(
            self.socket_type, identity=self.identity, mechanism=self.mechanism,
            max_message_size=self.max_message_size, max_message_frames=self.max_message_frames,
            heartbeat=self.heartbeat, handshake_timeout=self.handshake_timeout,
            partial_timeout=self.partial_timeout, metadata=self.metadata,
            zero_copy=self._zero_copy, receive_buffer=self._get_shared().read_buffer, budget=self._budget,
            eager=self.eager_handshake, now=self._get_loop().time(),
        )
        conn = pipe.conn
        transport.write(conn.data_to_send())
        # the handshake deadline started with the connection (now=): no timer call to start it
        self._rearm(pipe)
        if self._inbox.full or self._read_pause.held:  # the application is behind: this waits too
            self._read_pause.pause((pipe,))
        return pipe

    def _detach(self, pipe: Pipe, proto: _ZmtpProtocol, exc: Exception | None) -> None:
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
        pipe.forget_output()
        pipe.conn = None
        pipe.transport = None
        pipe.proto = None
        pipe.ready = False
        self._topics.forget(pipe)
        if pipe.reading_paused:
            pipe.reading_paused = False
        gone = self._routing.closed(pipe)
        if not pipe.persistent:
            self._drop_pipe(pipe)
        if pipe.persistent:
            self._reconnect(pipe)
        self._wake_tx()
        cb = self.on_peer_disconnect
        if gone and cb is not None and not self._closed:
            try:
                cb(gone)
            except Exception:
                log.exception("zmtp ROUTER: on_peer_disconnect(%r) failed", gone)

    def _drop_pipe(self, pipe: Pipe) -> None:
        with contextlib.suppress(ValueError):
            self._pipes.remove(pipe)
        self._routing.closed(pipe)
        pipe.queue.clear()

    def _rearm(self, pipe: Pipe) -> None:
        """Arm the connection's next deadline: until the handshake is done, on the loop's
        coarse handshake deadlines (met up to CoarseDeadlines.RESOLUTION s late, no timer of
        its own: most are over a moment later); after it, a timer of its own."""
        conn = pipe.conn
        if conn is None:
            return
        when = conn.next_deadline()
        # until the handshake is done: the owner of an entry in the loop's handshake deadlines
        coarse = pipe.proto if isinstance(pipe.proto, _ZmtpProtocol) and not pipe.ready else None
        if when == pipe.timer_at and (pipe.timer is not None or coarse is not None):
            return  # armed already
        if pipe.timer is not None:
            pipe.timer.cancel()
            pipe.timer = None
        if when is None:
            pipe.timer_at = -1.0
            return
        loop = self._get_loop()
        pipe.timer_at = when
        if coarse is not None:
            self._get_shared().handshakes.add(loop, when, coarse)
        else:
            pipe.timer = loop.call_at(max(when, loop.time()), self._on_timer, pipe)

    def _on_timer(self, pipe: Pipe) -> None:
        pipe.timer = None
        pipe.timer_at = -1.0
        conn = pipe.conn
        if conn is None:
            return
        events = conn.handle_timer(self._get_loop().time())
        self._output.mark_dirty(pipe)
        if events:
            self._on_events(pipe, events)
        if pipe.conn is conn and not conn.closed:
            self._rearm(pipe)

    def _on_events(self, pipe: Pipe, events: list[Any]) -> None:
        """Turn a Connection's events into socket state (the hot path for MessageReceived).
        Received messages go to the inbox -- or, with an ``on_messages`` consumer and nothing
        waiting in the inbox, to the consumer (:meth:`_hand_over`), in this same call."""
        conn = pipe.conn
        inbox = self._inbox
        got = False
        routing = self._routing
        # the messages of this read, for the consumer (None: to the inbox, the readable path)
        direct: list[list[bytes | bytearray]] | None = (
            [] if self.on_messages is not None and not inbox.nbytes else None)  # nbytes 0: empty
        closed: ConnectionClosed | None = None
        for ev in events:
            if type(ev) is MessageReceived:
                frames = ev.frames
                if ev.buffers:
                    frames = Buffers(frames)
                if not routing.received(pipe, frames):
                    continue
                if direct is not None:
                    direct.append(frames)
                    continue
                inbox.put(frames, ev.nbytes)
                got = True
            elif isinstance(ev, HandshakeCompleted):
                self._on_handshake(pipe, ev)
            elif isinstance(ev, Subscribed):
                self._subscribed(pipe, ev.topic)
            elif isinstance(ev, Unsubscribed):
                self._topics.remove(pipe, ev.topic)
            elif isinstance(ev, ConnectionClosed):
                closed = ev
                break
        if direct:
            got = self._hand_over(direct)
        if got:
            self._signal(self._rx_waiter, self.on_readable, "on_readable")
            if inbox.full:
                self._read_pause.pause(self._pipes)
        if closed is not None:
            self._on_closed(pipe, closed)
            return
        if conn is not None and conn.wants_flush:
            self._output.mark_dirty(pipe)
        if conn is not None and conn.wants_timer:  # else only handle_timer moves deadlines
            self._rearm(pipe)

    def _hand_over(self, messages: list[list[bytes | bytearray]]) -> bool:
        """The direct path: one read's messages (in order, the inbox empty) to ``on_messages``,
        which takes the first ones it has room for; the rest go to the inbox, where rcvhwm and
        rcvhwm_bytes bound them as any others, each costed with all its frames' bytes, the
        identity's too (True: some did). A consumer that raises is
        reported as the loop reports a failed callback; the messages it was given are its."""
        consumer = self.on_messages
        if consumer is None:
            taken = 0
        else:
            if self._zero_copy:  # what recv_many_nowait(copy=True) hands out: bytes
                messages = [[bytes(f) for f in m] if type(m) is Buffers else m for m in messages]
            try:
                taken = consumer(messages)
            except Exception as exc:
                self._get_loop().call_exception_handler({
                    "message": f"zmtp {self.socket_type}: on_messages failed", "exception": exc,
                    "socket": self})
                return False
        if taken >= len(messages):
            return False
        put = self._inbox.put
        for frames in messages[taken:]:
            put(frames, sum(map(len, frames)))
        return True

    def _subscribed(self, pipe: Pipe, topic: bytes) -> None:
        """PUB: a subscriber's new topic, within max_subscription_bytes (else its link closes)."""
        if self._topics.add(pipe, topic):
            return
        self._log.warning(self._get_loop().time(), ("closed", "subscriptions"),
                          "zmtp %s: closed connection %s: its subscriptions are over the "
                          "socket's max_subscription_bytes (%d)", self.socket_type,
                          pipe.peer, self._topics.limit)
        if pipe.transport is not None:
            pipe.transport.close()

    def _on_handshake(self, pipe: Pipe, ev: HandshakeCompleted) -> None:
        conn = pipe.conn
        if conn is None:
            return
        pipe.ready = True
        log.debug("zmtp %s: handshake with %s (%s, identity %r, ZMTP %d.%d)", self.socket_type,
                  pipe.peer, ev.peer_socket_type, ev.peer_identity, *ev.version)
        displaced = self._routing.opened(pipe, ev.peer_identity)
        if displaced is not None:
            log.info("zmtp %s: identity %r handed over from %s to %s", self.socket_type,
                     pipe.identity, displaced.peer, pipe.peer)
            if displaced.transport is not None:
                displaced.transport.close()
        wanted = self._routing.wanted
        if wanted is not None:
            for topic in wanted:
                conn.send_subscribe(topic)
        if pipe.queue:
            # what waited for the handshake is written now, in this callback, not at the end
            # of the turn: on a ZRE link the HELLO travels a loop turn sooner. Later messages
            # of this turn are still coalesced (this counts as the pipe's write of the turn).
            self._output.flush_pipe(pipe)
            turn = self._get_shared().turn
            pipe.wrote_in = turn.number
            if type(pipe.transport) is not RawStreamTransport:  # see Output.enqueue
                turn.ensure(self._get_loop())
        elif conn.wants_flush:
            self._output.mark_dirty(pipe)
        self._rearm(pipe)
        self._wake_tx()

    def _on_closed(self, pipe: Pipe, ev: ConnectionClosed) -> None:
        log.debug("zmtp %s: closing connection %s: %s (%s)", self.socket_type,
                  pipe.peer or pipe.endpoint, ev.reason, ev.code)
        if ev.code not in ("eof", "local"):
            # a peer can cause these as often as it likes: one line per kind and interval
            self._log.warning(self._get_loop().time(), ("closed", ev.code),
                              "zmtp %s: closed connection %s: %s (%s)", self.socket_type,
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

    def _wake_tx(self) -> None:
        self._signal(self._tx_waiter, self.on_writable, "on_writable")

    def _signal(self, waiter: asyncio.Future[None] | None, hook: Callable[[], None] | None,
                name: str) -> None:
        """Wake a coroutine waiting for this side (recv or send), then call the hook; a hook
        that raises is logged, and the socket carries on."""
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if hook is not None:
            try:
                hook()
            except Exception:
                log.exception("zmtp %s: %s failed", self.socket_type, name)

    # -- send -----------------------------------------------------------------------------------------
    def _route(self, frames: list[bytes], pipes: Sequence[Pipe] | None = None
               ) -> Sequence[Pipe] | None:
        """Queue ``frames`` by the socket type's rule: None, or the peers that had no room."""
        return self._routing.send(frames, self._pipes if pipes is None else pipes,
                                  self.sndhwm or _NO_LIMIT, self._enqueue_to)

    def send_frames_nowait(self, frames: Sequence[bytes]) -> None:
        """:meth:`send_multipart_nowait` for a message the caller built: a non-empty list or
        tuple of ``bytes`` that the socket keeps as it is (not copied, not checked; do not
        change it)."""
        if self._closed:
            raise SocketClosed(f"{self.socket_type} socket is closed")
        if self.send_filter is not None:
            filtered = self._filtered(list(frames))
            if filtered is None:
                return
            frames = filtered
        routing = self._routing
        if routing.send(frames, self._pipes, self.sndhwm or _NO_LIMIT,
                        self._enqueue_to) is not None and routing.waits:
            raise WouldBlock(f"{self.socket_type}: no peer below sndhwm={self.sndhwm}")

    def send_multipart_nowait(self, frames: Sequence[bytes]) -> None:
        """Send without waiting. DEALER: raises WouldBlock when every peer is at sndhwm (or
        there is none). ROUTER drops messages for unknown or full peers, PUB for full subscribers."""
        self._check_open()
        msg = self._filtered(_frames(frames))
        if msg is not None and self._route(msg) is not None and self._routing.waits:
            raise WouldBlock(f"{self.socket_type}: no peer below sndhwm={self.sndhwm}")

    async def send_multipart(self, frames: Sequence[bytes]) -> None:
        """Send, waiting while a DEALER has no room. ROUTER/PUB give a full peer one loop turn
        to drain, then drop the message for it (libzmq's rule)."""
        self._check_open()
        msg = self._filtered(_frames(frames))
        if msg is None:
            return
        full = self._route(msg)
        if full is None:
            return
        if not self._routing.waits:
            await asyncio.sleep(0)  # full peers get one loop turn to drain, then miss it
            self._check_open()
            self._route(msg, full)
            return
        while full is not None:
            await self._wait_tx()
            self._check_open()
            full = self._route(msg)

    def _filtered(self, frames: list[bytes]) -> list[bytes] | None:
        """``frames`` through send_filter (None: drop the message)."""
        if self.send_filter is None:
            return frames
        out = self.send_filter(frames)
        return None if out is None else _frames(out)

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
        msg = self._take(copy)
        if msg is None:
            raise WouldBlock("no message waiting")
        return msg

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
        out = self._inbox.take_many(limit, copy)
        self._taken()
        return out

    def _set_zero_copy(self, on: bool) -> None:
        self._zero_copy = on
        for p in self._pipes:
            if p.conn is not None:
                p.conn.zero_copy = on

    def _take(self, copy: bool) -> list[bytes] | list[bytes | bytearray] | None:
        """The oldest waiting message (None if none), resuming reading as :meth:`_taken`."""
        msg = self._inbox.take(copy)
        if self._read_pause.pipes:
            self._taken()
        return msg

    def _taken(self) -> None:
        """Messages were taken: reading resumes once the inbox is drained (and not held)."""
        pause = self._read_pause
        if pause.pipes and not pause.held and self._inbox.drained:
            pause.resume()

    def pause_reading(self) -> None:
        """Stop reading from every connection (the application's own back-pressure: what
        peers send waits in TCP) until :meth:`resume_reading`."""
        self._read_pause.held = True
        self._read_pause.pause(self._pipes)

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading` (reading stays paused while the inbox is full)."""
        self._read_pause.held = False
        if not self._inbox.full:
            self._read_pause.resume()

    @overload
    async def recv_multipart(self, copy: Literal[True] = True) -> list[bytes]: ...
    @overload
    async def recv_multipart(self, copy: bool) -> list[bytes | bytearray]: ...

    async def recv_multipart(self, copy: bool = True) -> list[bytes] | list[bytes | bytearray]:
        """The next message. ROUTER puts the peer's identity first. ``copy=False`` (like
        pyzmq's) may hand frames of 16 KiB or more over as the bytearray they were read into
        (those read straight into a buffer of their own), saving a copy; other frames are bytes."""
        if copy == self._zero_copy:
            self._set_zero_copy(not copy)
        while True:
            msg = self._take(copy)
            if msg is not None:
                return msg
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
        wanted = self._routing.wanted
        if wanted is None:
            raise TypeError("subscribe() is for SUB sockets")
        topic = _b(prefix)
        wanted.add(topic)
        for p in self._pipes:
            if p.ready and p.conn is not None:
                p.conn.send_subscribe(topic)
                self._output.mark_dirty(p)

    def unsubscribe(self, prefix: bytes | str) -> None:
        """SUB: undo one subscribe(prefix)."""
        self._check_open()
        wanted = self._routing.wanted
        if wanted is None:
            raise TypeError("unsubscribe() is for SUB sockets")
        topic = _b(prefix)
        if wanted.remove(topic):
            for p in self._pipes:
                if p.ready and p.conn is not None:
                    p.conn.send_cancel(topic)
                    self._output.mark_dirty(p)

    # -- introspection --------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def endpoints(self) -> list[str]:
        """Endpoints this socket is bound to."""
        return list(self._servers)

    def peers(self) -> list[dict[str, Any]]:
        """One dict per peer pipe (for logs and tests): ``endpoint`` (connect's, else ""),
        ``peer`` (its address), ``ready`` (handshake done, open), ``identity``, ``queued``
        (messages in its send queue), ``subscriptions`` (PUB), ``connections`` (how many
        connections it has had: 1 + reconnects)."""
        return [
            {"endpoint": p.endpoint, "peer": p.peer, "ready": p.ready, "identity": p.identity,
             "queued": len(p.queue), "subscriptions": sorted(p.subs),
             "connections": p.connections}
            for p in self._pipes
        ]

    def stats(self) -> dict[str, int]:
        """Counters for logs, tests and the bounds in the README: ``peers`` (pipes),
        ``queued`` (messages waiting in send queues), ``received`` (messages waiting to be
        received), ``received_bytes`` (their bytes and FRAME_OVERHEAD per frame and per
        message), ``unfinished_bytes`` (what unfinished messages hold), ``subscription_bytes``
        (PUB: what subscriptions cost), and the memory an idle socket keeps: ``send_queues``
        (pipes holding a send queue of their own; a drained one gives it back) and
        ``receive_queue`` (1 once a message was received)."""
        return {"peers": len(self._pipes), "queued": self.queued(), "received": len(self._inbox),
                "received_bytes": self._inbox.nbytes, "unfinished_bytes": self._budget.used,
                "subscription_bytes": self._topics.nbytes,
                "send_queues": sum(p.queue is not NO_QUEUE for p in self._pipes),
                "receive_queue": int(self._inbox.allocated)}

    def queued(self) -> int:
        """Messages waiting in all send queues."""
        return sum(len(p.queue) for p in self._pipes)

    def send_backlog(self, identity: bytes) -> int:
        """ROUTER: bytes waiting to go to the peer with this routing identity and not yet taken
        by the kernel: its send queue (frame bytes), output held back, the transport's write
        buffer; 0 for an unknown peer. While it is above the transport's high-water mark
        (``WRITE_HIGH_WATER``), :attr:`on_writable` is called when it falls."""
        table = self._routing.identities
        pipe = table.get(identity) if table is not None else None
        if pipe is None:
            return 0
        queued = sum(len(f) for frames in pipe.queue for f in frames)
        held = sum(len(c) for c in pipe.held)
        transport = pipe.transport
        return queued + held + (transport.get_write_buffer_size() if transport is not None else 0)

    # -- close ----------------------------------------------------------------------------------------
    def close(self, linger: bool | int | None = None) -> None:
        """Close: stop listening and connecting; write what is queued for ready peers unless
        ``linger`` is 0 / False (as pyzmq's ``linger=0``: discard), then close every connection.
        Waiting calls raise SocketClosed. Unlike pyzmq a positive linger is not a wait time:
        what is queued is handed to the transports at once."""
        if self._closed:
            return
        linger = linger is None or bool(linger)
        self._closed = True
        for listener in self._servers.values():
            listener.close()
        self._servers.clear()
        for task in list(self._accepting or ()):
            task.cancel()
        for pipe in self._connectors.values():
            pipe.stop_connecting()
        self._connectors.clear()
        for pipe in list(self._pipes):
            if linger:
                self._output.flush_pipe(pipe, force=True)
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
