"""A lighter TCP stream transport beside asyncio's, for sockets with many links (spec/zmtp.md#raw-transport).

asyncio's selector transports cost about 26 garbage-collected objects per connection (the
transport and its dict, bound methods, a TransportSocket, a SelectorKey, a reader Handle with
its Context, the loop's weak reference) and a Task for every connect and accepted socket. A ZRE
node in a mesh of a hundred holds two hundred connections, so that is most of what forming the
mesh costs. This module keeps the same contract for a ``BufferedProtocol`` with less:

* :class:`StreamReactor` -- one per event loop (``LoopShared.stream_reactor``): a
  ``select.epoll`` registered with the loop once (``loop.add_reader``), a dict fd -> transport,
  and one loop callback that handles up to ``DISPATCH_BATCH`` ready descriptors. epoll is
  level-triggered, so what is left of a busy turn is reported again on the next: nobody starves.
* :class:`RawStreamTransport` -- an ``asyncio.Transport`` with ``__slots__`` and no per-instance
  dict or bound methods. The contract is asyncio's: ``connection_made``; ``get_buffer`` at once
  followed by ``recv_into`` and ``buffer_updated`` (the loop's shared read buffer relies on it,
  see aio/loopshared.py); ``eof_received`` (false -> close); ``connection_lost`` exactly once,
  from a later loop callback, never from inside ``close()``; ``write`` sends at once and keeps
  the rest, with asyncio's high/low water marks (``pause_writing``/``resume_writing``).
* :func:`open_connection` -- a non-blocking connect (``connect_ex``, EPOLLOUT, ``SO_ERROR``) to
  a numeric address, no Task; :func:`attach` gives an accepted socket its transport at once.
  Both read what the peer sent already right after ``connection_made`` (``read_at_once``):
  on loopback an eager peer's greeting is often waiting, and the read saves a loop turn.

Nothing on the wire changes: the bytes written and read are the same, only who calls
``send``/``recv_into`` differs. Where ``select.epoll`` is missing (not Linux) or the loop has
no ``add_reader`` (the proactor loop), :meth:`LoopShared.stream_reactor` answers None and
sockets keep asyncio's transports.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket as _socket
import warnings
import weakref
from _socket import socket as PlainSocket
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DISPATCH_BATCH", "Connecting", "PlainSocket", "RawStreamTransport", "StreamReactor",
           "TurnCounter", "adopt_socket", "attach", "numeric_address", "open_connection",
           "reactor_supported"]

#: ready descriptors handled per loop callback (the rest wait for the next turn)
DISPATCH_BATCH = 256
#: asyncio's default write-buffer high-water mark (low water: a quarter of it)
DEFAULT_HIGH_WATER = 64 * 1024

_EPOLLIN = getattr(select, "EPOLLIN", 1)
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_EPOLLERR = getattr(select, "EPOLLERR", 8)
_EPOLLHUP = getattr(select, "EPOLLHUP", 16)
_READABLE = _EPOLLIN | _EPOLLERR | _EPOLLHUP
_WRITABLE = _EPOLLOUT | _EPOLLERR | _EPOLLHUP
_TRY_AGAIN = (BlockingIOError, InterruptedError)
#: what _read_ready reports when each of its steps fails
_GET_BUFFER_FAILED = "fatal error: protocol.get_buffer() call failed"
_READ_FAILED = "fatal read error on raw stream transport"
_BUFFER_UPDATED_FAILED = "fatal error: protocol.buffer_updated() call failed"
_EOF_RECEIVED_FAILED = "fatal error: protocol.eof_received() call failed"
#: a stream socket made non-blocking by socket() itself (Linux), not by a later fcntl
_SOCK_STREAM_NONBLOCK = _socket.SOCK_STREAM | getattr(_socket, "SOCK_NONBLOCK", 0)


def reactor_supported(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a :class:`StreamReactor` can run on ``loop`` (epoll, and a loop that watches
    file descriptors)."""
    # the proactor loop inherits AbstractEventLoop's add_reader, which raises NotImplementedError
    return hasattr(select, "epoll") and \
        type(loop).add_reader is not asyncio.AbstractEventLoop.add_reader


class _Handler:
    """What the reactor dispatches to: a transport, or a connect in progress."""

    __slots__ = ()

    def _ready(self, events: int) -> None:
        raise NotImplementedError


class TurnCounter(Protocol):
    """What counts a loop's turns for write coalescing (``LoopShared.turn``)."""

    number: int


class StreamReactor:
    """One ``select.epoll`` for a loop's raw stream sockets, watched by the loop as one fd.

    It keeps no reference to the loop (LoopShared is kept per loop by a weak key; the loop's
    reader handle refers to the reactor, not the other way round). ``turn``: each dispatch
    moves its ``number`` on, so a raw transport's writer knows a new turn began without a
    callback of its own at the end of the turn (aio/zmtp_flow.py ``Output.enqueue``)."""

    __slots__ = ("__weakref__", "_epoll", "_loop_ref", "_turn", "handlers")

    def __init__(self, loop: asyncio.AbstractEventLoop, turn: TurnCounter | None = None) -> None:
        self._epoll = select.epoll()
        self.handlers: dict[int, _Handler] = {}
        self._loop_ref = weakref.ref(loop)
        self._turn = turn
        loop.add_reader(self._epoll.fileno(), self._dispatch)

    def serves(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self._loop_ref() is loop

    def watch(self, fd: int, handler: _Handler, mask: int) -> None:
        self.handlers[fd] = handler
        self._epoll.register(fd, mask)

    def modify(self, fd: int, old: int, new: int) -> None:
        """Change what ``fd`` is watched for; a mask of 0 is not registered at all (epoll would
        still report HUP/ERR for it, level-triggered, on every turn)."""
        if not new:
            self._epoll.unregister(fd)
        elif not old:
            self._epoll.register(fd, new)
        else:
            self._epoll.modify(fd, new)

    def forget(self, fd: int, mask: int) -> None:
        self.handlers.pop(fd, None)
        if mask:
            self._epoll.unregister(fd)

    def _dispatch(self) -> None:
        if self._turn is not None:
            self._turn.number += 1
        get = self.handlers.get
        for fd, events in self._epoll.poll(0, DISPATCH_BATCH):
            handler = get(fd)
            if handler is not None:
                handler._ready(events)

    def close(self) -> None:
        loop = self._loop_ref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


class RawStreamTransport(_Handler, asyncio.Transport):
    """asyncio's stream transport contract on a non-blocking socket watched by a StreamReactor.

    The write buffer is one bytearray (as asyncio 3.11's): what ``send`` does not take at once
    is copied there; ``pause_writing`` once it holds more than the high-water mark,
    ``resume_writing`` once it drained to the low-water mark (``set_write_buffer_limits``,
    asyncio's defaults and rules: ``high=0`` waits for a complete drain). It is bounded by the
    protocol: a writer that honours ``pause_writing`` leaves at most high water plus its last
    write there (for aio/zmtp.py: ``WRITE_HIGH_WATER + FLUSH_CHUNK`` plus one message)."""

    __slots__ = ("_buffer", "_closing", "_conn_lost", "_fd", "_high", "_loop", "_low", "_mask",
                 "_peername", "_protocol", "_reactor", "_reading", "_sock", "_write_paused")

    def __init__(self, reactor: StreamReactor, loop: asyncio.AbstractEventLoop,
                 sock: PlainSocket, protocol: asyncio.BufferedProtocol,
                 peername: Any = None) -> None:
        # asyncio.BaseTransport.__init__ only sets _extra; get_extra_info is our own
        self._reactor = reactor
        self._loop = loop
        self._sock: PlainSocket | None = sock
        self._fd = sock.fileno()
        self._protocol: asyncio.BufferedProtocol | None = protocol
        self._buffer = bytearray()
        self._closing = False
        self._conn_lost = 0
        self._high = DEFAULT_HIGH_WATER
        self._low = DEFAULT_HIGH_WATER // 4
        self._write_paused = False
        self._reading = True
        self._peername = peername  # known from accept or connect; else asked for once
        self._mask = 0
        reactor.handlers[self._fd] = self
        try:
            protocol.connection_made(self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # asyncio reports it; the protocol gets no connection_lost
            self._protocol = None
            self._fatal_error(exc, "protocol.connection_made() failed")
            return
        if self._reading and not self._closing:
            self._set_mask(self._mask | _EPOLLIN)

    def __repr__(self) -> str:
        return f"<RawStreamTransport fd={self._fd}{' closing' if self._closing else ''}>"

    def read_at_once(self) -> None:
        """Read what the peer already sent, now, instead of waiting for the reactor's next
        turn (on loopback an eager peer's greeting is often there when the connect completes
        or the accept happens); nothing there (EAGAIN) leaves it to the reactor as usual.
        The read itself is the readable path's (:meth:`_read_ready`)."""
        if self._mask & _EPOLLIN:  # reading, not closing (connection_made may have closed)
            self._read_ready()

    def _set_mask(self, mask: int) -> None:
        if mask != self._mask:
            self._reactor.modify(self._fd, self._mask, mask)
            self._mask = mask

    # -- events from the reactor -----------------------------------------------------------------
    def _ready(self, events: int) -> None:
        if events & _READABLE and self._mask & _EPOLLIN:
            self._read_ready()
        if events & _WRITABLE and self._buffer and self._mask & _EPOLLOUT:
            self._write_ready()

    def _read_ready(self) -> None:
        """get_buffer, recv_into, then buffer_updated (or eof_received); whatever fails is
        fatal to this transport, reported as asyncio reports it (``_fatal_error``)."""
        protocol = self._protocol
        sock = self._sock
        if protocol is None or sock is None:
            return
        step = _GET_BUFFER_FAILED
        try:
            buf = protocol.get_buffer(-1)
            if not len(buf):  # type: ignore[arg-type]
                raise RuntimeError("get_buffer() returned an empty buffer")
            step = _READ_FAILED
            nbytes = sock.recv_into(buf)
            if nbytes:
                step = _BUFFER_UPDATED_FAILED
                protocol.buffer_updated(nbytes)
                return
            step = _EOF_RECEIVED_FAILED
            self._stop_reading()
            if protocol.eof_received():
                return
        except _TRY_AGAIN as exc:
            if step is not _READ_FAILED:  # only recv_into may ask to try again
                self._fatal_error(exc, step)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, step)
            return
        self.close()  # the peer closed and the protocol does not keep its half open

    def _write_ready(self) -> None:
        sock = self._sock
        if self._conn_lost or sock is None:
            return
        try:
            n = sock.send(self._buffer)
        except _TRY_AGAIN:
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._set_mask(self._mask & ~_EPOLLOUT)
            self._fatal_error(exc, "fatal write error on raw stream transport")
            return
        if n:
            del self._buffer[:n]
        self._maybe_resume_protocol()  # may write more
        if not self._buffer:
            self._set_mask(self._mask & ~_EPOLLOUT)
            if self._closing:
                self._call_connection_lost(None)

    # -- asyncio.WriteTransport -------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not "
                            f"{type(data).__name__!r}")
        if not data:
            return
        if self._conn_lost:
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                n = self._sock.send(data) if self._sock is not None else 0
            except _TRY_AGAIN:
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "fatal write error on raw stream transport")
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
            self._set_mask(self._mask | _EPOLLOUT)
        self._buffer.extend(data)
        self._maybe_pause_protocol()

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """asyncio's rule: high defaults to 64 KiB (4 x low when only low is given), low to
        high // 4; high=0 means pause while anything is buffered, resume once empty."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) > self._high and not self._write_paused:
            self._write_paused = True
            self._flow_control("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._write_paused and len(self._buffer) <= self._low:
            self._write_paused = False
            self._flow_control("resume_writing")

    def _flow_control(self, call: str) -> None:
        """protocol.pause_writing() / resume_writing(); a failure goes to the loop's
        exception handler (asyncio's rule), the transport carries on."""
        protocol = self._protocol
        if protocol is None:
            return
        try:
            getattr(protocol, call)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{call}() failed", "exception": exc,
                "transport": self, "protocol": protocol})

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("RawStreamTransport does not half-close")

    # -- asyncio.ReadTransport --------------------------------------------------------------------
    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._closing or not self._reading:
            return
        self._stop_reading()

    def _stop_reading(self) -> None:
        self._reading = False
        self._set_mask(self._mask & ~_EPOLLIN)

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._set_mask(self._mask | _EPOLLIN)

    # -- asyncio.BaseTransport --------------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        sock = self._sock
        if name == "socket":
            return sock
        if name == "peername":
            if self._peername is None and sock is not None:
                try:
                    self._peername = sock.getpeername()
                except OSError:
                    return default
            return default if self._peername is None else self._peername
        if name == "sockname" and sock is not None:
            try:
                return sock.getsockname()
            except OSError:
                return default
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        if not isinstance(protocol, asyncio.BufferedProtocol):
            raise TypeError("RawStreamTransport serves BufferedProtocol only")
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; write what is buffered, then close (connection_lost(None) later)."""
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._conn_lost += 1
            self._set_mask(0)
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        """Close at once: what is buffered is dropped."""
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self,
                "protocol": self._protocol})
        self._force_close(exc if isinstance(exc, Exception) else None)

    def _force_close(self, exc: Exception | None) -> None:
        if self._conn_lost:
            return
        self._buffer.clear()
        self._closing = True
        self._reading = False
        self._set_mask(0)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: Exception | None) -> None:
        protocol = self._protocol
        self._conn_lost = self._conn_lost or 1  # abort() after this is a no-op
        try:
            if protocol is not None:
                protocol.connection_lost(exc)
        finally:
            self._reactor.forget(self._fd, self._mask)
            self._mask = 0
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._protocol = None

    def __del__(self) -> None:
        if getattr(self, "_sock", None) is not None:
            warnings.warn(f"unclosed transport {self!r}", ResourceWarning, stacklevel=1,
                          source=self)
            self._sock.close()  # type: ignore[union-attr]


#: the C type's own ``family`` and ``type`` (plain ints): ``socket.socket`` overrides both with
#: properties that convert to IntEnum members, a Python-level call each
_PLAIN_FAMILY: Any = vars(PlainSocket)["family"]
_PLAIN_TYPE: Any = vars(PlainSocket)["type"]


def adopt_socket(listener: PlainSocket, fd: int) -> PlainSocket:
    """The non-blocking socket object for a descriptor ``listener`` accepted: the C type under
    ``socket.socket`` (no Python-level ``__init__``, not tracked by the garbage collector),
    which is all a raw transport uses."""
    sock = PlainSocket(_PLAIN_FAMILY.__get__(listener), _PLAIN_TYPE.__get__(listener),
                       listener.proto, fileno=fd)
    sock.setblocking(False)
    return sock


def attach(reactor: StreamReactor, loop: asyncio.AbstractEventLoop, sock: PlainSocket,
           protocol: asyncio.BufferedProtocol, peername: Any = None) -> RawStreamTransport:
    """Give a connected non-blocking socket (an accepted one: ``peername`` is what accept
    said) its transport now: ``protocol.connection_made`` is called before this returns, and
    then whatever the peer sent already is read (``buffer_updated``, or ``eof_received``) --
    :meth:`RawStreamTransport.read_at_once`."""
    transport = RawStreamTransport(reactor, loop, sock, protocol, peername)
    transport.read_at_once()
    return transport


def numeric_address(host: str, port: int) -> tuple[int, tuple[Any, ...]] | None:
    """(family, sockaddr) for a numeric IPv4/IPv6 host (a zone like ``%eth0`` included), else
    None: names are left to asyncio's resolver (which runs getaddrinfo in a thread)."""
    for family in (_socket.AF_INET, _socket.AF_INET6):  # the common case, without getaddrinfo
        try:
            _socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family, ((host, port) if family == _socket.AF_INET else (host, port, 0, 0))
    try:  # a zoned IPv6 address (fe80::1%eth0): getaddrinfo finds the zone's index
        infos = _socket.getaddrinfo(host, port, type=_socket.SOCK_STREAM,
                                    flags=_socket.AI_NUMERICHOST | _socket.AI_NUMERICSERV)
    except (OSError, UnicodeError):
        return None
    family, _type, _proto, _name, addr = infos[0]
    return family, addr


class Connecting(_Handler):
    """A non-blocking connect in progress: EPOLLOUT, then ``SO_ERROR`` says how it went. On
    success the socket gets its transport (``protocol.connection_made``, then what the peer
    sent already is read: ``read_at_once``), else ``failed(exc)`` is called; ``cancel()``
    gives up (neither is called)."""

    __slots__ = ("failed", "fd", "loop", "protocol", "reactor", "sock")

    def __init__(self, reactor: StreamReactor, loop: asyncio.AbstractEventLoop,
                 sock: PlainSocket, protocol: asyncio.BufferedProtocol,
                 failed: Callable[[OSError], None]) -> None:
        self.reactor = reactor
        self.loop = loop
        self.sock: PlainSocket | None = sock
        self.fd = sock.fileno()
        self.protocol = protocol
        self.failed = failed
        reactor.watch(self.fd, self, _EPOLLOUT)

    def _ready(self, events: int) -> None:
        sock = self.sock
        if sock is None:
            return
        err = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        peername = None
        if not err:
            try:
                peername = sock.getpeername()
            except OSError as exc:  # an event meant for an earlier user of this fd number
                if exc.errno == errno.ENOTCONN:
                    return
                err = exc.errno or errno.ECONNABORTED
        self.sock = None
        self.reactor.forget(self.fd, _EPOLLOUT)
        if err:
            sock.close()
            self.failed(OSError(err, f"connect failed: {errno.errorcode.get(err, err)}"))
            return
        RawStreamTransport(self.reactor, self.loop, sock, self.protocol, peername).read_at_once()

    def cancel(self) -> None:
        sock = self.sock
        if sock is not None:
            self.sock = None
            self.reactor.forget(self.fd, _EPOLLOUT)
            sock.close()


def open_connection(reactor: StreamReactor, loop: asyncio.AbstractEventLoop, family: int,
                    address: tuple[Any, ...], protocol: asyncio.BufferedProtocol,
                    failed: Callable[[OSError], None]) -> Connecting:
    """Start connecting to a numeric ``address`` (see :func:`numeric_address`); completion is
    always reported from a later reactor callback. Raises OSError when the connect fails at
    once (e.g. refused on loopback, no route). The socket is a plain ``_socket.socket`` (the
    garbage collector does not track it) with TCP_NODELAY, as asyncio sets on its own."""
    sock = PlainSocket(family, _SOCK_STREAM_NONBLOCK)
    try:
        if sock.getblocking():  # no SOCK_NONBLOCK on this system
            sock.setblocking(False)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            raise OSError(err, f"connect failed: {errno.errorcode.get(err, err)}")
        return Connecting(reactor, loop, sock, protocol, failed)
    except BaseException:
        sock.close()
        raise
