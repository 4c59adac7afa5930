"""A sans-IO ZMTP 3.1 connection: feed it bytes, get events; ask it for bytes to send.

Theory of operation (spec/zmtp.md#state-machine):

* ``receive_data(data)`` parses as much as it can and returns events; ``b""`` means EOF.
  Any decode or protocol error closes the connection and returns a :class:`ConnectionClosed`
  event carrying the error; nothing else is raised at the receive boundary.
* ``send_message`` / ``send_subscribe`` / ... queue bytes; ``data_to_send()`` takes them. After a
  close, ``data_to_send()`` still returns what was queued (a PLAIN server's ERROR).
* Time is passed in: ``handle_timer(now)`` arms and fires the handshake timeout and heartbeats;
  ``next_deadline()`` says when to call it next (0.0 = "as soon as you can").
* Every state change goes through :data:`TRANSITIONS` (state -> input -> next state). A pair
  missing from the table is a protocol error and closes the connection.

The greeting is staged like libzmq's (spec/zmtp.md#staging): 10 signature bytes at once, the
major version after the peer's first 10 bytes, the rest after the peer's byte 10.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..curve.z85 import z85_encode
from ..errors import DecodeError, EncodeError, ProtocolError, ZreRefError
from ..wire import pack_flags_u64
from .commands import (
    MAX_PING_CONTEXT,
    Cancel,
    Command,
    Error,
    Hello,
    Initiate,
    Ping,
    Pong,
    Ready,
    Subscribe,
    UnknownCommand,
    Welcome,
    command_name,
    decode_command,
    decode_metadata,
    encode_command,
    encode_metadata,
)
from .curve import (
    FLAG_COMMAND,
    FLAG_MORE,
    CurveClient,
    CurveClientHandshake,
    CurveRefused,
    CurveServer,
    CurveServerHandshake,
    CurveTransport,
    PeerError,
)
from .frames import COMMAND, LONG, MORE, frame_header, parse_header
from .greeting import (
    GREETING_SIZE,
    SIGNATURE_SIZE,
    Greeting,
    check_major,
    check_signature,
    decode_mechanism,
    greeting_stages,
)
from .mechanisms import PLAIN_REFUSED_REASON, Mechanism, Null, PlainClient, PlainServer
from .routing import PUBLISHERS, SENDS_IDENTITY, SOCKET_TYPES, compatible

log = logging.getLogger("zre_ref.zmtp")

#: default largest message (sum of its frame sizes) we accept (spec/zmtp.md#limits)
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: most frames in one multipart message (spec/zmtp.md#limits)
MAX_MESSAGE_FRAMES = 65536
#: seconds from connection start to a completed handshake; libzmq's ZMQ_HANDSHAKE_IVL default
HANDSHAKE_TIMEOUT = 30.0
#: frames at least this large are collected chunk by chunk instead of re-buffered
BIG_FRAME = 16 * 1024
#: a large-frame buffer up to this size is kept for the next large frame
BIG_KEEP = 8 * 1024 * 1024
#: size of the buffer handed to the socket by get_buffer (asyncio reads 256 KiB at a time)
RECEIVE_BUFFER = 256 * 1024
#: after a large frame, the next read is this short, so a following large frame's body is
#: read straight into its own buffer instead of through the receive buffer
AFTER_BIG_READ = 64
#: largest Identity libzmq accepts (spec/zmtp.md#metadata)
MAX_IDENTITY = 255

_SHORT0 = tuple(bytes((0, n)) for n in range(256))
_SHORT1 = tuple(bytes((1, n)) for n in range(256))


# -- events -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The peer's READY/INITIATE arrived and its socket type fits ours (spec/zmtp.md#null)."""

    peer_socket_type: str
    peer_identity: bytes
    peer_metadata: Mapping[str, bytes]
    version: tuple[int, int]
    mechanism: str
    user_id: bytes = b""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A complete multipart message (spec/zmtp.md#frames). Frames are bytes, except that a
    ``zero_copy`` connection hands large frames over as the bytearray they were read into."""

    frames: list[bytes | bytearray]
    #: True if some frame is a bytearray (only on a zero_copy connection)
    buffers: bool = False


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A subscriber asked for ``topic`` (3.1 SUBSCRIBE or a 3.0 0x01 message)."""

    topic: bytes


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """A subscriber cancelled ``topic`` (3.1 CANCEL or a 3.0 0x00 message)."""

    topic: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The peer answered a PING (spec/zmtp.md#heartbeats)."""

    context: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over. ``code`` is stable (eof, decode-error, ...); ``reason`` is prose."""

    code: str
    reason: str
    error: ZreRefError | None = field(default=None, compare=False)


Event = (
    HandshakeCompleted | MessageReceived | Subscribed | Unsubscribed | PongReceived
    | ConnectionClosed
)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Send PING every ``interval`` s with TTL ``ttl`` s; close if nothing arrives ``timeout`` s
    after a PING (default: ``interval``), like ZMQ_HEARTBEAT_IVL/TTL/TIMEOUT (spec/zmtp.md#heartbeats)."""

    interval: float
    ttl: float = 0.0
    timeout: float | None = None


# -- the transition table ---------------------------------------------------------------------
class State(enum.Enum):
    """Where the connection is (spec/zmtp.md#state-machine)."""

    SIGNATURE = "signature"  # waiting for the peer's bytes 0..9
    MAJOR = "major"  # waiting for the peer's byte 10
    GREETING = "greeting"  # waiting for the peer's bytes 11..63
    EXPECT_READY = "expect-ready"  # NULL; PLAIN client after INITIATE
    EXPECT_WELCOME = "expect-welcome"  # PLAIN client after HELLO
    EXPECT_HELLO = "expect-hello"  # PLAIN server
    EXPECT_INITIATE = "expect-initiate"  # PLAIN server after WELCOME
    OPEN = "open"  # handshake done: messages, heartbeats, subscriptions
    CLOSED = "closed"


class Input(enum.Enum):
    """What can happen to a connection: peer input, timers, local calls."""

    SIGNATURE = "signature"
    MAJOR = "major"
    GREETING_NULL = "greeting/NULL"
    GREETING_PLAIN_CLIENT = "greeting/PLAIN client"
    GREETING_PLAIN_SERVER = "greeting/PLAIN server"
    GREETING_CURVE_CLIENT = "greeting/CURVE client"
    GREETING_CURVE_SERVER = "greeting/CURVE server"
    READY = "READY"
    ERROR = "ERROR"
    HELLO_ACCEPTED = "HELLO accepted"
    HELLO_REFUSED = "HELLO refused"
    WELCOME = "WELCOME"
    INITIATE = "INITIATE"
    PING = "PING"
    PONG = "PONG"
    SUBSCRIBE = "SUBSCRIBE"
    CANCEL = "CANCEL"
    UNKNOWN_COMMAND = "unknown command"
    MESSAGE = "message"
    INVALID = "invalid input"  # a DecodeError, bad metadata, wrong socket type ...
    EOF = "EOF"
    TIMEOUT = "timeout"
    CLOSE = "local close"


_S, _I = State, Input
#: state -> input -> next state. Missing pairs are protocol errors (-> CLOSED).
TRANSITIONS: dict[State, dict[Input, State]] = {
    _S.SIGNATURE: {_I.SIGNATURE: _S.MAJOR},
    _S.MAJOR: {_I.MAJOR: _S.GREETING},
    _S.GREETING: {
        _I.GREETING_NULL: _S.EXPECT_READY,
        _I.GREETING_PLAIN_CLIENT: _S.EXPECT_WELCOME,
        _I.GREETING_PLAIN_SERVER: _S.EXPECT_HELLO,
        _I.GREETING_CURVE_CLIENT: _S.EXPECT_WELCOME,
        _I.GREETING_CURVE_SERVER: _S.EXPECT_HELLO,
    },
    _S.EXPECT_READY: {_I.READY: _S.OPEN, _I.ERROR: _S.CLOSED},
    _S.EXPECT_WELCOME: {_I.WELCOME: _S.EXPECT_READY, _I.ERROR: _S.CLOSED},
    _S.EXPECT_HELLO: {_I.HELLO_ACCEPTED: _S.EXPECT_INITIATE, _I.HELLO_REFUSED: _S.CLOSED},
    _S.EXPECT_INITIATE: {_I.INITIATE: _S.OPEN, _I.ERROR: _S.CLOSED},
    _S.OPEN: {
        _I.MESSAGE: _S.OPEN,
        _I.PING: _S.OPEN,
        _I.PONG: _S.OPEN,
        _I.SUBSCRIBE: _S.OPEN,
        _I.CANCEL: _S.OPEN,
        _I.UNKNOWN_COMMAND: _S.OPEN,
        _I.ERROR: _S.CLOSED,
    },
    _S.CLOSED: {},
}
for _state, _row in TRANSITIONS.items():
    if _state is not _S.CLOSED:
        for _inp in (_I.INVALID, _I.EOF, _I.TIMEOUT, _I.CLOSE):
            _row[_inp] = _S.CLOSED
del _state, _row, _inp

#: the input that ends the greeting, by (mechanism name, server role)
GREETING_INPUT: dict[tuple[str, bool], Input] = {
    ("NULL", False): _I.GREETING_NULL,
    ("NULL", True): _I.GREETING_NULL,
    ("PLAIN", False): _I.GREETING_PLAIN_CLIENT,
    ("PLAIN", True): _I.GREETING_PLAIN_SERVER,
    ("CURVE", False): _I.GREETING_CURVE_CLIENT,
    ("CURVE", True): _I.GREETING_CURVE_SERVER,
}

_COMMAND_INPUT: dict[type, Input] = {
    Ready: _I.READY, Error: _I.ERROR, Welcome: _I.WELCOME, Initiate: _I.INITIATE,
    Ping: _I.PING, Pong: _I.PONG, Subscribe: _I.SUBSCRIBE, Cancel: _I.CANCEL,
    UnknownCommand: _I.UNKNOWN_COMMAND,
}


class _Closed(Exception):
    """Internal: unwinds the parser after the connection closed itself."""


class Connection:
    """One ZMTP 3.1 connection, either end (spec/zmtp.md#state-machine)."""

    #: slots: a node holds hundreds of connections (about 1.4 KB less each than a __dict__)
    __slots__ = (
        "_after_big", "_arm", "_big", "_big_buf", "_big_fill", "_big_flags", "_big_obj",
        "_big_offset", "_big_size", "_consumed", "_curve", "_curve_hs", "_greeting_major", "_greeting_rest", "_handed",
        "_handshake_deadline", "_major", "_msg_bytes", "_next_ping", "_out", "_out_big", "_parts",
        "_parts_big", "_pong_deadline", "_prefill", "_publisher", "_rest", "_rview",
        "_rx_since_ping", "_rx_since_ttl", "_ttl_deadline", "_ttl_pending", "_user_id",
        "closed_event", "handshake_timeout", "heartbeat", "identity", "max_message_size",
        "mechanism", "metadata", "peer_greeting", "peer_identity", "peer_metadata",
        "peer_socket_type", "peer_version", "socket_type", "state", "trace", "zero_copy",
    )

    def __init__(
        self,
        socket_type: str,
        *,
        identity: bytes = b"",
        mechanism: Mechanism | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        heartbeat: Heartbeat | None = None,
        handshake_timeout: float | None = HANDSHAKE_TIMEOUT,
        metadata: Mapping[str, bytes] | None = None,
        zero_copy: bool = False,
        receive_buffer: bytearray | memoryview | None = None,
    ) -> None:
        """``zero_copy``: a frame of BIG_FRAME bytes or more that spans reads arrives as a
        bytearray of exactly its size, read straight from the socket and never copied.
        ``receive_buffer``: the buffer get_buffer hands out, shareable between connections whose
        buffer_updated always follows their own get_buffer at once (one event loop)."""
        if socket_type not in SOCKET_TYPES:
            raise ValueError(f"unknown socket type {socket_type!r}")
        if len(identity) > MAX_IDENTITY:
            raise ValueError("an identity is at most 255 bytes")
        self.socket_type = socket_type
        self.identity = bytes(identity)
        self.mechanism: Mechanism = mechanism if mechanism is not None else Null()
        self.max_message_size = max_message_size
        self.heartbeat = heartbeat
        self.handshake_timeout = handshake_timeout
        self.metadata = dict(metadata or {})
        self.state = State.SIGNATURE
        #: set to a list to record every (state, input, next state) step (tests)
        self.trace: list[tuple[State, Input, State]] | None = None
        self.peer_greeting: Greeting | None = None
        self.peer_version: tuple[int, int] | None = None
        self.peer_socket_type: str | None = None
        self.peer_identity: bytes = b""
        self.peer_metadata: dict[str, bytes] = {}
        self.closed_event: ConnectionClosed | None = None
        self._major = 3
        self._user_id = b""
        # CURVE (spec/curve.md): the handshake, then the sealed byte stream after READY
        self._curve_hs: CurveClientHandshake | CurveServerHandshake | None = None
        self._curve: CurveTransport | None = None
        self._publisher = socket_type in PUBLISHERS
        self._out: list[bytes] = []
        self._out_big = False  # a body of BIG_FRAME bytes or more is queued
        self._rest = b""  # unparsed bytes (a partial greeting stage or frame)
        self._consumed = 0  # stream offset of the first byte of _rest
        self._parts: list[bytes | bytearray] = []  # frames of the message being received
        self._msg_bytes = 0
        self._parts_big = False  # some frame in _parts is a bytearray (zero_copy)
        # a large frame body is received straight into a buffer (spec/zmtp.md#frames): a
        # reusable one whose contents are copied out, or (zero_copy) one of exactly its size
        self.zero_copy = zero_copy
        self._big: memoryview | None = None  # view of the body buffer while a body is pending
        self._big_obj: bytearray | None = None  # zero_copy: the body buffer itself
        self._handed: bytearray | None = None  # zero_copy: the last body handed over
        self._big_buf: bytearray | None = None
        self._big_fill = 0
        self._big_size = 0
        self._big_flags = 0
        self._big_offset = 0
        self._after_big = False
        self._prefill = 0  # get_buffer put this many bytes of _rest in front of the read
        self._rview = (receive_buffer if type(receive_buffer) is memoryview  # shared as it is
                       else memoryview(receive_buffer if receive_buffer is not None
                                       else bytearray(RECEIVE_BUFFER)))
        # timers: None = not armed; _arm = "call handle_timer soon"
        self._arm = handshake_timeout is not None
        self._handshake_deadline: float | None = None
        self._next_ping: float | None = None
        self._pong_deadline: float | None = None
        self._ttl_pending: float | None = None
        self._ttl_deadline: float | None = None
        self._rx_since_ping = False
        self._rx_since_ttl = False
        stages = greeting_stages(
            self.mechanism.name, as_server=self.mechanism.as_server,
            identity_length=len(self.identity),
        )
        self._greeting_major, self._greeting_rest = stages[1], stages[2]
        self._out.append(stages[0])

    # -- queries ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call (b"" if nothing)."""
        if self._curve is not None:
            self._seal_queued()
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def output_chunks(self) -> list[bytes]:
        """Like data_to_send, but large bodies stay separate chunks (no copy): small pieces
        are joined, bodies of BIG_FRAME bytes or more are passed through as they are."""
        if self._curve is not None:
            self._seal_queued()
        out = self._out
        if not out:
            return []
        self._out = []
        if not self._out_big:
            return [out[0] if len(out) == 1 else b"".join(out)]
        self._out_big = False
        chunks: list[bytes] = []
        small: list[bytes] = []
        for piece in out:
            if len(piece) >= BIG_FRAME:
                if small:
                    chunks.append(b"".join(small))
                    small = []
                chunks.append(piece)
            else:
                small.append(piece)
        if small:
            chunks.append(b"".join(small))
        return chunks

    def pending_output(self) -> int:
        """How many chunks are queued (cheap; for flush decisions)."""
        if self._curve is not None:
            return len(self._out) + self._curve.queued
        return len(self._out)

    # -- state table --------------------------------------------------------------------------
    def _step(self, inp: Input) -> State:
        """Apply one transition of TRANSITIONS; a missing pair raises ProtocolError."""
        old = self.state
        new = TRANSITIONS[old].get(inp)
        if new is None:
            raise ProtocolError(f"{inp.value} is not expected in state {old.value}")
        if self.trace is not None:
            self.trace.append((old, inp, new))
        self.state = new
        return new

    def _close(self, events: list[Event], inp: Input, code: str, reason: str,
               error: ZreRefError | None = None) -> None:
        if self.state is State.CLOSED:
            return
        self._step(inp)
        self._rest = b""
        self._big = None
        self._big_obj = None
        self._handed = None
        self._big_buf = None
        self._parts = []
        self._parts_big = False
        ev = ConnectionClosed(code, reason, error)
        self.closed_event = ev
        events.append(ev)

    def _close_invalid(self, events: list[Event], exc: DecodeError | ProtocolError) -> None:
        """Bad input from the peer closes the connection (spec/zmtp.md#state-machine)."""
        if isinstance(exc, DecodeError):
            log.info("zmtp: closing: %s", exc)
            code = "decode-error"
        else:
            log.info("zmtp: closing: protocol error: %s", exc)
            code = "protocol-error"
        self._close(events, Input.INVALID, code, str(exc), exc)

    # -- receiving ----------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer (b"" = EOF); returns the events they complete."""
        events: list[Event] = []
        if self.state is State.CLOSED:
            return events
        if not data:
            if self.state in _GREETING_STATES:
                where = " during the greeting"
            elif self.state is not State.OPEN:
                where = f" during the handshake (state {self.state.value})"
            elif self._rest or self._big is not None or self._parts:
                where = " inside a message"
            else:
                where = ""
            self._close(events, Input.EOF, "eof", f"the peer closed the connection{where}")
            return events
        self._rx_since_ping = True
        self._rx_since_ttl = True
        try:
            pos = 0
            if self._big is not None:
                pos = self._feed_big(data, events)
                if pos < 0:
                    return events
                self._consumed += pos
                if pos == len(data):
                    return events
                data = data[pos:]
                pos = 0
            if self._rest:
                data = self._rest + data
                self._rest = b""
            if self.state in _GREETING_STATES:
                pos = self._parse_greeting(data, events)
            if self._curve is not None:  # CURVE after READY: every byte is sealed
                self._receive_sealed(data[pos:] if pos else data, events)
                return events
            if not self.closed and self.state not in _GREETING_STATES:
                pos = self._parse_frames(data, pos, events)
                if self._curve is not None and not self.closed and pos < len(data):
                    self._receive_sealed(data[pos:], events)  # READY and MESSAGEs in one read
                    return events
            if self.closed:
                return events
            if self._big is not None:
                self._consumed += len(data)
            else:
                self._consumed += pos
                if pos < len(data):
                    self._rest = data[pos:]
        except (DecodeError, ProtocolError) as exc:
            self._close_invalid(events, exc)
        except _Closed:
            pass
        return events

    def _parse_greeting(self, data: bytes, events: list[Event]) -> int:
        pos, end = 0, len(data)
        base = self._consumed
        if self.state is State.SIGNATURE:
            check_signature(data[: SIGNATURE_SIZE], base)
            if end < SIGNATURE_SIZE:
                return 0
            self._step(Input.SIGNATURE)
            self._out.append(self._greeting_major)
            pos = SIGNATURE_SIZE
        if self.state is State.MAJOR:
            if end - pos < 1:
                return pos
            check_major(data[pos], base - SIGNATURE_SIZE + pos)
            self._major = data[pos]
            self._step(Input.MAJOR)
            self._out.append(self._greeting_rest)
            pos += 1
        if self.state is State.GREETING:
            need = GREETING_SIZE - SIGNATURE_SIZE - 1
            if end - pos < need:
                return pos
            start = base + pos - (SIGNATURE_SIZE + 1)  # stream offset of byte 0 of the greeting
            minor = data[pos]
            mech = decode_mechanism(data[pos + 1 : pos + 21], start + 12)
            as_server = data[pos + 21]
            self.peer_greeting = Greeting(self._major, minor, mech, as_server == 1)
            self.peer_version = (3, 0) if self._major == 3 and minor == 0 else (3, 1)
            pos += need
            if mech != self.mechanism.name:
                self._close(events, Input.INVALID, "mechanism-mismatch",
                            f"peer offers mechanism {mech}, we use {self.mechanism.name}")
                raise _Closed
            self._step(GREETING_INPUT[(self.mechanism.name, self.mechanism.as_server)])
            mechanism = self.mechanism
            if isinstance(mechanism, Null):
                self._send_command(Ready(self._our_metadata()))
            elif isinstance(mechanism, PlainClient):
                self._send_command(Hello(mechanism.username, mechanism.password))
            elif isinstance(mechanism, CurveClient):
                self._curve_hs = CurveClientHandshake(
                    mechanism, encode_metadata(self._our_metadata()))
                self._send_body(self._curve_hs.hello())
            elif isinstance(mechanism, CurveServer):
                self._curve_hs = CurveServerHandshake(mechanism)
        return pos

    def _enter_big(self, flags: int, size: int, data: bytes, start: int, base: int) -> None:
        """Start collecting a large frame body of ``size`` bytes, ``data[start:]`` being its start."""
        buf = self._big_buf
        if self.zero_copy:
            prev = self._handed
            # reuse the last handed-over buffer if the application dropped it (only our two
            # references left: the attribute and prev); a fresh one costs page faults
            if prev is not None and len(prev) == size and _refcount(prev) <= 3:
                buf = prev
            else:
                buf = self._handed = bytearray(size)
            self._big_obj = buf
        elif buf is None or len(buf) < size or len(buf) > 4 * size:
            buf = bytearray(size)
            self._big_buf = buf if size <= BIG_KEEP else None
        view = memoryview(buf)
        have = len(data) - start
        view[:have] = memoryview(data)[start:]
        self._big = view
        self._big_fill = have
        self._big_size = size
        self._big_flags = flags
        self._big_offset = base + start

    def _finish_big(self, events: list[Event]) -> None:
        view = self._big
        if view is None:  # pragma: no cover - guarded by the callers
            return
        self._big = None
        self._after_big = True
        body: bytes | bytearray
        obj = self._big_obj
        if obj is not None:
            view.release()  # the bytearray is the caller's now, resizable
            self._big_obj = None
            body = obj
        else:
            body = bytes(view[: self._big_size])
        self._on_frame(self._big_flags, body, self._big_offset, events)

    def _feed_big(self, data: bytes, events: list[Event]) -> int:
        """Copy into the pending large body; returns bytes of ``data`` used, or -1 if all were."""
        view = self._big
        if view is None:  # pragma: no cover - guarded by the caller
            return 0
        fill = self._big_fill
        need = self._big_size - fill
        n = len(data)
        if n < need:
            view[fill : fill + n] = data
            self._big_fill = fill + n
            self._consumed += n
            return -1
        view[fill : fill + need] = memoryview(data)[:need] if need < n else data
        self._big_fill = fill + need
        self._finish_big(events)
        return need

    # -- receiving into our buffer (asyncio.BufferedProtocol style) -----------------------------
    def get_buffer(self) -> memoryview:
        """Where the next bytes from the socket should be written (then call buffer_updated)."""
        big = self._big
        if big is not None:
            return big[self._big_fill : self._big_size]
        view = self._rview
        # unparsed bytes (a partial frame, < BIG_FRAME) go first, so the read continues them
        # and buffer_updated takes one bytes copy instead of a copy plus a concatenation
        rest = self._rest
        k = len(rest)
        if k and k < len(view) // 2:
            view[:k] = rest
        else:
            k = 0
        self._prefill = k
        if self._after_big:
            self._after_big = False
            return view[k : k + AFTER_BIG_READ]
        return view[k:] if k else view

    def buffer_updated(self, nbytes: int) -> list[Event]:
        """``nbytes`` were written into the view from :meth:`get_buffer`; returns events."""
        big = self._big
        if big is None or self.state is State.CLOSED:
            k = self._prefill
            if k and nbytes > 0:
                self._prefill = 0
                self._rest = b""
                return self.receive_data(bytes(self._rview[: k + nbytes]))
            return self.receive_data(bytes(self._rview[:nbytes]))
        events: list[Event] = []
        if nbytes <= 0:
            return events
        self._rx_since_ping = True
        self._rx_since_ttl = True
        self._big_fill += nbytes
        self._consumed += nbytes
        if self._big_fill < self._big_size:
            return events
        try:
            self._finish_big(events)
        except (DecodeError, ProtocolError) as exc:
            self._close_invalid(events, exc)
        except _Closed:
            pass
        return events

    def _parse_frames(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Parse frames from ``data[pos:]``: the hot path (spec/zmtp.md#frames)."""
        end = len(data)
        parts = self._parts
        mbytes = self._msg_bytes
        parts_big = self._parts_big
        maxsize = self.max_message_size
        is_open = self.state is State.OPEN
        publisher = self._publisher
        append = events.append
        base = self._consumed
        sealed = self._curve is not None  # parsing CURVE plaintext (else: stop where it starts)
        try:
            while end - pos >= 2:
                flags = data[pos]
                if flags <= 3 and is_open:
                    # the common case, inline: a complete message frame within the limits
                    if flags <= 1:
                        size = data[pos + 1]
                        start = pos + 2
                        if size > maxsize - mbytes:
                            parse_header(data, pos, maxsize - mbytes, base)  # raises
                    else:
                        if end - pos < 9:
                            break
                        size = int.from_bytes(data[pos + 1 : pos + 9], "big")
                        start = pos + 9
                        if size > maxsize - mbytes or start + size > end:
                            # over the limit, or incomplete: the general path below decides
                            head = parse_header(data, pos, maxsize - mbytes, base)
                            if head is not None and size >= BIG_FRAME:
                                self._enter_big(flags, size, data, start, base)
                                pos = end
                            break
                    stop = start + size
                    if stop > end:
                        break
                    parts.append(data[start:stop])
                    pos = stop
                    flags &= MORE
                    if flags == 0:
                        if publisher:
                            self._publisher_message(parts, events)
                        elif parts_big:  # a large frame of this message came in earlier
                            append(MessageReceived(parts, True))
                            parts_big = False
                        else:
                            append(MessageReceived(parts))
                        parts = []
                        mbytes = 0
                    else:
                        mbytes += size
                        if mbytes > maxsize or len(parts) > MAX_MESSAGE_FRAMES:
                            self._too_big(base + pos, mbytes, len(parts))
                    continue
                head = parse_header(data, pos, maxsize - mbytes, base)
                if head is None:
                    break
                flags, size, hlen = head
                start = pos + hlen
                stop = start + size
                if stop > end:
                    if size >= BIG_FRAME:
                        self._enter_big(flags, size, data, start, base)
                        pos = end
                    break
                pos = stop
                self._parts, self._msg_bytes, self._parts_big = parts, mbytes, parts_big
                self._on_frame(flags, data[start:stop], base + start, events)
                parts, mbytes, parts_big = self._parts, self._msg_bytes, self._parts_big
                is_open = self.state is State.OPEN
                if self._curve is not None and not sealed:  # the rest of the read is sealed
                    break
        finally:
            self._parts, self._msg_bytes, self._parts_big = parts, mbytes, parts_big
        return pos

    def _too_big(self, offset: int, size: int, nframes: int) -> None:
        from ..errors import LengthOverflow

        what = f"{size} bytes" if size > self.max_message_size else f"{nframes} frames"
        raise LengthOverflow(f"message of {what} is over the limit", protocol="zmtp-frame",
                             field="size", offset=offset, spec_anchor="spec/zmtp.md#limits")

    def _on_frame(self, flags: int, body: bytes | bytearray, offset: int,
                  events: list[Event]) -> None:
        """One complete frame off the fast path (a command, a long frame, the handshake)."""
        if flags & COMMAND:
            if self._curve_hs is not None and self.state is not State.OPEN:
                self._on_curve_command(bytes(body), events)
                return
            self._on_command(decode_command(bytes(body), offset), events)
            return
        if self.state is not State.OPEN:
            raise ProtocolError(f"a message frame arrived in state {self.state.value}")
        parts = self._parts
        parts.append(body)
        if type(body) is not bytes:
            self._parts_big = True
        if flags & MORE:
            self._msg_bytes += len(body)
            if self._msg_bytes > self.max_message_size or len(parts) > MAX_MESSAGE_FRAMES:
                self._too_big(offset, self._msg_bytes, len(parts))
            return
        self._parts = []
        self._msg_bytes = 0
        big, self._parts_big = self._parts_big, False
        if self._publisher:
            self._publisher_message(parts, events)
        else:
            events.append(MessageReceived(parts, big))

    def _publisher_message(self, parts: list[bytes | bytearray], events: list[Event]) -> None:
        """On PUB/XPUB, a message from a subscriber is a 3.0-style (un)subscription (spec/zmtp.md#subscriptions)."""
        first = parts[0]
        if first[:1] == b"\x01":
            events.append(Subscribed(bytes(first[1:])))
        elif first[:1] == b"\x00":
            events.append(Unsubscribed(bytes(first[1:])))
        else:
            log.debug("zmtp: %s dropped a message from its subscriber", self.socket_type)

    def _on_command(self, cmd: Command, events: list[Event]) -> None:
        state = self.state
        inp = _COMMAND_INPUT.get(type(cmd))
        if isinstance(cmd, Hello) and state is State.EXPECT_HELLO:
            self._on_hello(cmd, events)
            return
        if inp is None or inp not in TRANSITIONS[state]:
            raise ProtocolError(f"{command_name(cmd)} is not expected in state {state.value}")
        if isinstance(cmd, Error):
            text = cmd.reason.decode("utf-8", "replace")
            self._close(events, Input.ERROR, "peer-error", f"the peer sent ERROR {text!r}")
            raise _Closed
        if state is State.OPEN:
            if self.trace is not None:
                self._step(inp)
            if isinstance(cmd, Ping):
                self._send_command(Pong(cmd.context[:MAX_PING_CONTEXT]))
                if cmd.ttl:
                    self._ttl_pending = cmd.ttl / 10.0
                    self._arm = True
            elif isinstance(cmd, Pong):
                events.append(PongReceived(cmd.context))
            elif isinstance(cmd, Subscribe):
                if self._publisher:
                    events.append(Subscribed(cmd.topic))
            elif isinstance(cmd, Cancel):
                if self._publisher:
                    events.append(Unsubscribed(cmd.topic))
            else:
                log.debug("zmtp: ignoring command %s", command_name(cmd))
            return
        if isinstance(cmd, Welcome):
            self._step(Input.WELCOME)
            self._send_command(Initiate(self._our_metadata()))
            return
        if isinstance(cmd, (Ready, Initiate)):
            if not self._accept_metadata(cmd.properties, events):
                raise _Closed
            if isinstance(cmd, Initiate):
                self._send_command(Ready(self._our_metadata()))
            self._step(inp)
            self._opened(events)
            return
        raise ProtocolError(f"{command_name(cmd)} is not expected in state {state.value}")

    def _on_hello(self, cmd: Hello, events: list[Event]) -> None:
        mech = self.mechanism
        ok = False
        if isinstance(mech, PlainServer):
            try:
                ok = bool(mech.authenticator(cmd.username, cmd.password))
            except Exception:
                log.exception("zmtp: PLAIN authenticator raised; refusing the client")
        if not ok:
            self._send_command(Error(PLAIN_REFUSED_REASON))
            self._close(events, Input.HELLO_REFUSED, "auth-failed",
                        f"PLAIN credentials refused for user {cmd.username!r}")
            raise _Closed
        self._user_id = cmd.username
        self._step(Input.HELLO_ACCEPTED)
        self._send_command(Welcome())

    def _on_curve_command(self, body: bytes, events: list[Event]) -> None:
        """One CURVE handshake command (spec/curve.md#state-machine)."""
        hs = self._curve_hs
        try:
            if isinstance(hs, CurveClientHandshake):
                if self.state is State.EXPECT_WELCOME:
                    self._send_body(hs.on_command(body))
                    self._step(Input.WELCOME)
                    return
                props = decode_metadata(hs.on_ready(body), 0, 0)
                if not self._accept_metadata(props, events):
                    raise _Closed
                self._step(Input.READY)
            elif isinstance(hs, CurveServerHandshake):
                if self.state is State.EXPECT_HELLO:
                    self._send_body(hs.on_hello(body))
                    self._step(Input.HELLO_ACCEPTED)
                    return
                client_key, metadata = hs.on_initiate(body)
                if not self._accept_metadata(decode_metadata(metadata, 0, 0), events):
                    raise _Closed
                self._send_body(hs.ready(encode_metadata(self._our_metadata())))
                self._user_id = z85_encode(client_key)
                self._step(Input.INITIATE)
            else:  # pragma: no cover - _curve_hs is only set to the two above
                raise ProtocolError("no CURVE handshake")
        except PeerError as exc:
            self._close(events, Input.ERROR, "peer-error", str(exc), exc)
            raise _Closed from None
        except CurveRefused as exc:
            self._send_body(exc.error_body)
            self._close(events, Input.INVALID, "auth-failed", str(exc), exc)
            log.info("zmtp: closing: %s", exc)
            raise _Closed from None
        self._curve = CurveTransport(hs.cipher(), self.max_message_size)
        self._curve_hs = None
        self._opened(events)

    def _receive_sealed(self, data: bytes, events: list[Event]) -> None:
        """CURVE after READY: open every MESSAGE, then parse the plaintext frames as usual."""
        assert self._curve is not None
        plain, error = self._curve.feed(data)
        if plain:
            self._consumed = 0  # offsets of plaintext errors count from this read's plaintext
            rest = self._parse_frames(plain, 0, events)
            if rest != len(plain) and not self.closed:  # pragma: no cover - whole frames only
                raise ProtocolError("CURVE: a MESSAGE held part of a frame")
        if error is not None and not self.closed:
            raise error

    def _accept_metadata(self, props: Mapping[str, bytes], events: list[Event]) -> bool:
        """Check the peer's Socket-Type (case-sensitive names, like libzmq) and keep its metadata."""
        raw_type = props.get("Socket-Type")
        if raw_type is None:
            raise ProtocolError("the peer's metadata has no Socket-Type")
        peer_type = raw_type.decode("ascii", "replace")
        if peer_type not in SOCKET_TYPES:
            raise ProtocolError(f"unknown peer Socket-Type {peer_type!r}")
        identity = props.get("Identity", b"")
        if len(identity) > MAX_IDENTITY:
            raise ProtocolError(f"peer Identity of {len(identity)} bytes (at most 255)")
        if not compatible(self.socket_type, peer_type):
            # libzmq closes without an ERROR command (spec/zmtp.md#socket-types)
            self._close(events, Input.INVALID, "socket-type-mismatch",
                        f"a {self.socket_type} cannot talk to a {peer_type}")
            return False
        self.peer_socket_type = peer_type
        self.peer_identity = identity
        self.peer_metadata = props if type(props) is dict else dict(props)  # decoded for us
        return True

    def _opened(self, events: list[Event]) -> None:
        self._handshake_deadline = None
        if self.heartbeat is not None:
            self._arm = True
        events.append(HandshakeCompleted(
            self.peer_socket_type or "", self.peer_identity, self.peer_metadata,
            self.peer_version or (3, 1), self.mechanism.name, self._user_id,
        ))

    def _our_metadata(self) -> dict[str, bytes]:
        props = {"Socket-Type": self.socket_type.encode("ascii")}
        if self.socket_type in SENDS_IDENTITY:
            props["Identity"] = self.identity
        props.update(self.metadata)
        return props

    # -- sending ------------------------------------------------------------------------------
    def _send_command(self, cmd: Command) -> None:
        body = encode_command(cmd)
        if self._curve is not None:
            self._curve.queue(FLAG_COMMAND, body)
            return
        self._send_body(body)

    def _send_body(self, body: bytes) -> None:
        """A command frame with this body (the handshake's commands go out in clear)."""
        self._out.append(frame_header(COMMAND, len(body)))
        self._out.append(body)

    def _seal_queued(self) -> None:
        """CURVE: seal the frames queued since the last flush, all in one pass."""
        if self._curve is not None and self._curve.queued:
            pieces = self._curve.wire()
            self._out += pieces
            if len(pieces[-1]) >= BIG_FRAME:
                self._out_big = True

    def _need_open(self) -> None:
        if self.state is not State.OPEN:
            raise ProtocolError(f"cannot send in state {self.state.value}")

    def send_message(self, frames: Sequence[bytes]) -> None:
        """Queue a multipart message (spec/zmtp.md#frames). Frames are bytes-like."""
        if self.state is not State.OPEN:
            self._need_open()
        if self._curve is not None:
            self._queue_sealed(frames)
            return
        out = self._out
        last = len(frames) - 1
        if last == 0:  # the common case: one frame
            f = frames[0]
            if type(f) is not bytes:
                f = _as_bytes(f)
            n = len(f)
            if n < 256:
                out.append(_SHORT0[n] + f)
            else:
                out.append(pack_flags_u64(LONG, n))
                out.append(f)
                if n >= BIG_FRAME:
                    self._out_big = True
            return
        if last < 0:
            raise EncodeError("a message has at least one frame")
        for i, f in enumerate(frames):
            if type(f) is not bytes:
                f = _as_bytes(f)
            n = len(f)
            if n < 256:
                out.append((_SHORT1[n] if i < last else _SHORT0[n]) + f)
            else:
                out.append(pack_flags_u64((MORE if i < last else 0) | LONG, n))
                out.append(f)
                if n >= BIG_FRAME:
                    self._out_big = True

    def _queue_sealed(self, frames: Sequence[bytes]) -> None:
        """CURVE: queue a message's frames for sealing at the next flush (spec/curve.md#message)."""
        assert self._curve is not None
        if not frames:
            raise EncodeError("a message has at least one frame")
        last = len(frames) - 1
        for i, f in enumerate(frames):
            if not isinstance(f, (bytes, bytearray, memoryview)):
                raise TypeError(f"frames must be bytes-like, not {type(f).__name__}")
            self._curve.queue(FLAG_MORE if i < last else 0, f)

    def send_messages(self, messages: Iterable[Sequence[bytes]]) -> None:
        """Queue several messages at once."""
        for frames in messages:
            self.send_message(frames)

    def send_subscribe(self, topic: bytes) -> None:
        """Subscribe: a SUBSCRIBE command to a 3.1 peer, a 0x01 message to 3.0 (spec/zmtp.md#subscriptions)."""
        self._need_open()
        if self.peer_version == (3, 0):
            self.send_message([b"\x01" + bytes(topic)])
        else:
            self._send_command(Subscribe(bytes(topic)))

    def send_cancel(self, topic: bytes) -> None:
        """Unsubscribe: CANCEL to 3.1, a 0x00 message to 3.0 (spec/zmtp.md#subscriptions)."""
        self._need_open()
        if self.peer_version == (3, 0):
            self.send_message([b"\x00" + bytes(topic)])
        else:
            self._send_command(Cancel(bytes(topic)))

    def send_ping(self, ttl: float = 0.0, context: bytes = b"") -> None:
        """Send a PING (ttl in seconds, sent as deciseconds) (spec/zmtp.md#heartbeats)."""
        self._need_open()
        self._send_command(Ping(min(0xFFFF, round(ttl * 10)), bytes(context)))

    def close(self, reason: str = "closed locally") -> list[Event]:
        """Close from our side; returns the ConnectionClosed event (empty if already closed)."""
        events: list[Event] = []
        self._close(events, Input.CLOSE, "local", reason)
        return events

    # -- timers -------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When handle_timer wants to be called: None = never, 0.0 = as soon as possible."""
        if self.state is State.CLOSED:
            return None
        if self._arm:
            return 0.0
        times = [t for t in (self._handshake_deadline, self._next_ping, self._pong_deadline,
                             self._ttl_deadline) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Event]:
        """Arm timers that are due to start and fire those whose time has come."""
        events: list[Event] = []
        if self.state is State.CLOSED:
            return events
        self._arm = False
        if self.state is not State.OPEN:
            if self.handshake_timeout is not None:
                if self._handshake_deadline is None:
                    self._handshake_deadline = now + self.handshake_timeout
                elif now >= self._handshake_deadline:
                    self._close(events, Input.TIMEOUT, "handshake-timeout",
                                f"no handshake within {self.handshake_timeout} s "
                                f"(stuck in state {self.state.value})")
            return events
        hb = self.heartbeat
        if hb is not None:
            if self._next_ping is None:
                self._next_ping = now + hb.interval
            elif now >= self._next_ping:
                self.send_ping(hb.ttl)
                self._next_ping = now + hb.interval
                if self._pong_deadline is None:
                    timeout = hb.timeout if hb.timeout is not None else hb.interval
                    self._pong_deadline = now + timeout
                    self._rx_since_ping = False
            if self._pong_deadline is not None and now >= self._pong_deadline:
                if self._rx_since_ping:
                    self._pong_deadline = None
                else:
                    self._close(events, Input.TIMEOUT, "heartbeat-timeout",
                                "nothing received within the heartbeat timeout")
                    return events
        if self._ttl_pending is not None:
            self._ttl_deadline = now + self._ttl_pending
            self._ttl_pending = None
            self._rx_since_ttl = False
        elif self._ttl_deadline is not None and now >= self._ttl_deadline:
            if self._rx_since_ttl:
                self._ttl_deadline = None
            else:
                self._close(events, Input.TIMEOUT, "ttl-expired",
                            "the peer's heartbeat TTL expired")
        return events


_GREETING_STATES = frozenset({State.SIGNATURE, State.MAJOR, State.GREETING})
#: CPython's reference count (a buffer nobody else holds may be reused); elsewhere: never reuse
_refcount = getattr(sys, "getrefcount", lambda obj: 1 << 30)


def _as_bytes(f: object) -> bytes:
    if isinstance(f, (bytearray, memoryview)):
        return bytes(f)
    raise TypeError(f"frames must be bytes-like, not {type(f).__name__}")
