"""A sans-IO ZMTP 3.1 connection: feed it bytes, get events; ask it for bytes to send.

Theory of operation (spec/zmtp.md#state-machine), in the order bytes flow:

* ``receive_data(data)`` (or ``get_buffer`` + ``buffer_updated(n)``, the same path for
  asyncio's BufferedProtocol) parses as much as it can and returns events; ``b""`` means EOF.
  Any decode or protocol error, or input over a limit, closes the connection and returns a
  :class:`ConnectionClosed` event carrying the error; nothing is raised at the receive boundary.
* The greeting is staged like libzmq's (spec/zmtp.md#staging): 10 signature bytes at once, the
  major version after the peer's first 10 bytes, the rest after the peer's byte 10. Beside it,
  a whole common greeting in the first read (an eager peer's) is taken in one step
  (:func:`~zre_ref.zmtp.greeting.known_greeting`); everything else, errors included, goes
  the staged way.
* Then frames (spec/zmtp.md#frames): :meth:`_parse_frames` is the one frame loop. Commands go
  to :meth:`_on_command`, which checks the state table *before* decoding the command (so a
  READY that cannot be accepted is never decoded), message frames are collected into messages.
  Beside the decoder, an expected READY of common properties is decoded in one pass
  (:func:`~zre_ref.zmtp.commands.common_ready`; anything else goes to the decoder).
* Every state change goes through :data:`~zre_ref.zmtp.states.TRANSITIONS`
  (state -> input -> next state); a pair missing from the table closes the connection.
* Memory: the bytes waiting to be parsed live in a :class:`~zre_ref.zmtp.receiver.Receiver`,
  which grows buffers with the bytes that arrived, never from a declared size; what an
  unfinished message holds is bounded per connection (``max_message_size``,
  ``max_message_frames``), per socket (a shared :class:`~zre_ref.zmtp.receiver.ReceiveBudget`)
  and in time (``partial_timeout``) (spec/zmtp.md#limits).
* ``send_message`` / ``send_subscribe`` / ... queue bytes (laid out by
  :mod:`~zre_ref.zmtp.sender`); ``data_to_send()`` takes them (``wants_flush`` says there are
  some). After a close, ``data_to_send()`` still returns what was queued (a PLAIN server's ERROR).
* Time is passed in: ``handle_timer(now)`` arms and fires the handshake timeout, heartbeats
  (:mod:`~zre_ref.zmtp.heartbeats`) and the partial-message timeout; ``next_deadline()`` says
  when to call it next (0.0 = "as soon as you can", also signalled by ``wants_timer``).

Beside it: :mod:`~zre_ref.zmtp.metadata` (what READY/INITIATE carry and what we accept),
:mod:`~zre_ref.zmtp.mechanisms` (NULL/PLAIN settings), :mod:`~zre_ref.zmtp.curve` (CURVE).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from ..curve.z85 import z85_encode
from ..errors import DecodeError, LengthOverflow, ProtocolError, ZreRefError
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
    Welcome,
    common_ready,
    decode_command,
    encode_command,
    encode_metadata,
    peek_name,
)
from .curve import (
    FLAG_COMMAND,
    CurveClient,
    CurveClientHandshake,
    CurveRefused,
    CurveServer,
    CurveServerHandshake,
    CurveTransport,
    PeerError,
)
from .events import (
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    MessageReceived,
    PongReceived,
    Subscribed,
    Unsubscribed,
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
    known_greeting,
)
from .heartbeats import Expiry, Heartbeat, Heartbeats
from .mechanisms import NULL, PLAIN_REFUSED_REASON, Mechanism, Null, PlainClient, PlainServer
from .metadata import (
    MAX_HANDSHAKE_COMMAND,
    MAX_IDENTITY,
    MAX_METADATA_BYTES,
    MAX_METADATA_PROPERTIES,
    check_metadata_bounds,
    check_socket_settings,
    decode_bounded_metadata,
    our_metadata,
    peer_type_and_identity,
)
from .receiver import (
    BIG_FRAME,
    FRAME_OVERHEAD,
    RECEIVE_BUFFER,
    ReadBuffer,
    ReceiveBudget,
    Receiver,
)
from .routing import PUBLISHERS, compatible
from .sender import output_chunks, queue_message, queue_messages, queue_sealed
from .states import (
    GREETING_INPUT,
    GREETING_STATES,
    TRANSITIONS,
    Input,
    State,
    command_expected,
)

__all__ = [
    "BIG_FRAME", "HANDSHAKE_TIMEOUT", "MAX_HANDSHAKE_COMMAND", "MAX_IDENTITY", "MAX_MESSAGE_FRAMES",
    "MAX_MESSAGE_SIZE", "MAX_METADATA_BYTES", "MAX_METADATA_PROPERTIES", "PARTIAL_TIMEOUT",
    "RECEIVE_BUFFER", "TRANSITIONS", "Connection", "ConnectionClosed", "Event",
    "HandshakeCompleted", "Heartbeat", "Input", "MessageReceived", "PongReceived", "ReadBuffer",
    "ReceiveBudget", "State", "Subscribed", "Unsubscribed",
]

log = logging.getLogger("zre_ref.zmtp")

#: default largest message (sum of its frame sizes) we accept (spec/zmtp.md#limits)
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: default most frames in one multipart message (spec/zmtp.md#limits)
MAX_MESSAGE_FRAMES = 65536
#: seconds from connection start to a completed handshake; libzmq's ZMQ_HANDSHAKE_IVL default
HANDSHAKE_TIMEOUT = 30.0
#: default seconds one message may stay unfinished (spec/zmtp.md#limits; libzmq has no limit)
PARTIAL_TIMEOUT = 120.0


#: the ConnectionClosed reason of each heartbeat expiry (spec/zmtp.md#heartbeats)
_EXPIRY_REASONS: dict[Expiry, str] = {
    "heartbeat-timeout": "nothing received within the heartbeat timeout",
    "ttl-expired": "the peer's heartbeat TTL expired",
}


#: the two states the receive and send paths test on every read and message, as module names
#: (looking a member up on an Enum class is a Python-level call, ten times a global's cost)
_OPEN = State.OPEN
_CLOSED = State.CLOSED


def null_opening(socket_type: str, identity: bytes, metadata: Mapping[str, bytes]) -> bytes:
    """What an eager NULL connection sends before hearing from its peer: the whole greeting,
    then READY with our metadata (spec/zmtp.md#staging, #null)."""
    greeting = b"".join(greeting_stages(NULL.name, as_server=NULL.as_server,
                                        identity_length=len(identity)))
    body = encode_command(Ready(our_metadata(socket_type, identity, metadata)))
    return greeting + frame_header(COMMAND, len(body)) + body


#: null_opening's results by (socket type, identity, metadata); cleared when it holds
#: _NULL_OPENINGS_MAX (a process rarely has more than a few distinct sockets' openings)
_null_openings: dict[tuple[str, bytes, tuple[tuple[str, bytes], ...]], bytes] = {}
_NULL_OPENINGS_MAX = 256


def cached_null_opening(socket_type: str, identity: bytes,
                        metadata: Mapping[str, bytes]) -> bytes:
    """:func:`null_opening`, built once per distinct (socket type, identity, metadata)."""
    key = (socket_type, identity, tuple(metadata.items()))
    try:
        opening = _null_openings.get(key)
    except TypeError:  # a value that is not bytes (e.g. a bytearray): built each time
        return null_opening(socket_type, identity, metadata)
    if opening is None:
        if len(_null_openings) >= _NULL_OPENINGS_MAX:
            _null_openings.clear()
        opening = _null_openings[key] = null_opening(socket_type, identity, metadata)
    return opening


class _Closed(Exception):
    """Internal: unwinds the parser after the connection closed itself."""


class Connection:
    """One ZMTP 3.1 connection, either end (spec/zmtp.md#state-machine)."""

    #: slots: a node holds hundreds of connections (about 1.4 KB less each than a __dict__)
    __slots__ = (
        "_arm", "_budget", "_curve", "_curve_hs", "_greeting_major", "_greeting_rest",
        "_handshake_deadline", "_heartbeats", "_held", "_major", "_msg_bytes", "_out", "_out_big",
        "_partial_asked", "_partial_deadline", "_partial_mark", "_parts", "_parts_big",
        "_publisher", "_reads", "_rx", "_user_id", "closed_event", "eager", "handshake_timeout",
        "heartbeat", "identity", "max_message_frames", "max_message_size", "mechanism", "metadata",
        "partial_timeout", "peer_greeting", "peer_identity", "peer_metadata", "peer_socket_type",
        "peer_version", "socket_type", "state", "trace", "zero_copy",
    )

    def __init__(
        self,
        socket_type: str,
        *,
        identity: bytes = b"",
        mechanism: Mechanism | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_message_frames: int = MAX_MESSAGE_FRAMES,
        heartbeat: Heartbeat | None = None,
        handshake_timeout: float | None = HANDSHAKE_TIMEOUT,
        partial_timeout: float | None = PARTIAL_TIMEOUT,
        metadata: Mapping[str, bytes] | None = None,
        zero_copy: bool = False,
        receive_buffer: ReadBuffer | None = None,
        budget: ReceiveBudget | None = None,
        eager: bool = False,
        now: float | None = None,
    ) -> None:
        """``zero_copy``: a frame of BIG_FRAME bytes or more that spans reads arrives as the
        bytearray it was read into, handed over (never reused, never copied).
        ``receive_buffer``: the read buffer get_buffer hands out, shareable between
        connections whose buffer_updated always follows their own get_buffer at once.
        ``budget``: bytes the unfinished messages of this and other connections may hold
        together; a connection that would go over it is closed (code ``over-budget``).
        ``eager``: send the whole greeting at once and, with NULL, READY right behind it,
        instead of libzmq's three stages (spec/zmtp.md#staging).
        ``now``: the clock when the connection starts; the handshake deadline is set from it
        at once (without it, the first handle_timer call sets it)."""
        check_socket_settings(socket_type, identity)
        self.socket_type = socket_type
        self.identity = bytes(identity)
        self.mechanism: Mechanism = mechanism if mechanism is not None else NULL
        self.max_message_size = max_message_size
        self.max_message_frames = max_message_frames
        self.heartbeat = heartbeat
        self.handshake_timeout = handshake_timeout
        self.partial_timeout = partial_timeout
        self.metadata = dict(metadata or {})
        self.zero_copy = zero_copy
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
        self._rx = Receiver(receive_buffer)
        self._parts: list[bytes | bytearray] = []  # frames of the message being received
        self._msg_bytes = 0  # their sizes summed
        self._parts_big = False  # some frame in _parts is a bytearray (zero_copy)
        self._budget = budget
        self._held = 0  # bytes taken from the budget for the unfinished message
        # timers: None = not armed; _arm = "call handle_timer soon"
        self._arm = handshake_timeout is not None and now is None
        self._handshake_deadline: float | None = (
            None if handshake_timeout is None or now is None else now + handshake_timeout)
        self._partial_deadline: float | None = None
        self._partial_asked = False  # _account saw an unfinished message: start the interval
        self._partial_mark: list[bytes | bytearray] | None = None  # _parts when it was armed
        #: made on first need (a heartbeat config, or the peer's PING with a TTL): most links have none
        self._heartbeats = Heartbeats(heartbeat) if heartbeat is not None else None
        self._reads = 0  # reads so far: a heartbeat deadline is met if this moved on
        self.eager = eager
        if eager and isinstance(self.mechanism, Null):
            # greeting + READY: the same bytes on every connection of a socket (built once)
            self._greeting_major = self._greeting_rest = b""
            self._out.append(cached_null_opening(socket_type, self.identity, self.metadata))
            return
        stages = greeting_stages(
            self.mechanism.name, as_server=self.mechanism.as_server,
            identity_length=len(self.identity),
        )
        if eager:  # nothing waits for the peer: two round trips fewer per connection
            self._greeting_major = self._greeting_rest = b""
            self._out.append(b"".join(stages))
        else:
            self._greeting_major, self._greeting_rest = stages[1], stages[2]
            self._out.append(stages[0])

    # -- queries ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.state is _OPEN

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    @property
    def wants_flush(self) -> bool:
        """Bytes are queued for the peer (take them with data_to_send or output_chunks)."""
        return bool(self._out) or (self._curve is not None and self._curve.queued > 0)

    @property
    def wants_timer(self) -> bool:
        """handle_timer should be called soon (a timer must be armed or re-armed). Otherwise
        next_deadline() changes only in handle_timer and when the handshake completes."""
        return self._arm

    @property
    def at_frame_boundary(self) -> bool:
        """Past the greeting, and no frame is half-received."""
        return self.state not in GREETING_STATES and self._rx.at_frame_boundary

    @property
    def held_bytes(self) -> int:
        """Bytes the unfinished message holds (as counted against the budget)."""
        return self._held

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
        big, self._out_big = self._out_big, False
        return output_chunks(out, big)

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
        self._rx.clear()
        self._parts = []
        self._parts_big = False
        self._msg_bytes = 0
        if self._held and self._budget is not None:
            self._budget.give(self._held)
        self._held = 0
        ev = ConnectionClosed(code, reason, error)
        self.closed_event = ev
        events.append(ev)

    def _close_invalid(self, events: list[Event], exc: DecodeError | ProtocolError) -> None:
        """Bad input from the peer closes the connection (spec/zmtp.md#state-machine)."""
        code = "decode-error" if isinstance(exc, DecodeError) else "protocol-error"
        log.debug("zmtp: closing (%s): %s", code, exc)
        self._close(events, Input.INVALID, code, str(exc), exc)

    # -- receiving: one path for receive_data and get_buffer/buffer_updated -------------------
    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer (b"" = EOF); returns the events they complete."""
        if not data:
            return self._eof()
        return self._receive(data)

    def get_buffer(self) -> memoryview:
        """Where the next bytes from the socket should be written (then call buffer_updated)."""
        return self._rx.get_buffer()

    def buffer_updated(self, nbytes: int) -> list[Event]:
        """``nbytes`` were written into the view from :meth:`get_buffer`; returns events."""
        if self.state is _CLOSED or nbytes <= 0:
            return []
        rx = self._rx
        data = rx.buffer_updated(nbytes)
        if data is None and rx.body_missing and not rx.regrown:
            # more of a large body, into the buffer it already had: nothing else changes
            self._reads += 1
            return []
        events = self._receive(b"" if data is None else data)
        if rx.body_pending and not rx.body_missing and self.state is not _CLOSED:
            # a whole-frame read (zmtp/receiver.py): the frame the read began is complete too
            events += self._receive(b"")
        return events

    def _eof(self) -> list[Event]:
        events: list[Event] = []
        if self.state is _CLOSED:
            return events
        if self.state in GREETING_STATES:
            where = " during the greeting"
        elif self.state is not _OPEN:
            where = f" during the handshake (state {self.state.value})"
        elif not self._rx.at_frame_boundary or self._parts:
            where = " inside a message"
        else:
            where = ""
        self._close(events, Input.EOF, "eof", f"the peer closed the connection{where}")
        return events

    def _receive(self, data: bytes) -> list[Event]:
        """Parse ``data`` (new bytes; b"" when they went into a large body) after the rest."""
        events: list[Event] = []
        if self.state is _CLOSED:
            return events
        self._reads += 1
        rx = self._rx
        try:
            if self._curve is not None:  # CURVE after READY: every byte is sealed
                self._receive_sealed(data, events)
                self._account(events)
                return events
            body: tuple[int, bytes | bytearray, int] | None = None
            if rx.body_pending:
                used = rx.feed_body(data) if data else 0
                if rx.body_missing:
                    self._account(events)
                    return events
                buf = rx.take_body()
                body = (rx.body_flags, buf if self.zero_copy else bytes(buf), rx.body_offset)
                data = data[used:] if used else data
            if rx.rest:
                data = rx.rest + data
                rx.rest = b""
            pos = 0
            state = self.state  # (identity tests first: an Enum's hash is a Python call)
            if state is not _OPEN and state in GREETING_STATES:
                pos = self._parse_greeting(data, events)
                state = self.state
            if state is _OPEN or (state not in GREETING_STATES and self.state is not _CLOSED):
                pos = self._parse_frames(data, pos, events, body)
                if self._curve is not None and self.state is not _CLOSED:  # READY, then sealed bytes
                    self._receive_sealed(data[pos:], events)
                    self._account(events)
                    return events
            if self.state is _CLOSED:
                return events
            if rx.body_pending:  # a large body started: all of data is taken
                rx.offset += len(data)
            else:
                rx.offset += pos
                if pos < len(data):
                    rx.rest = data[pos:]
            if self._held or self._parts or rx.rest or rx.body_pending:
                self._account(events)
        except (DecodeError, ProtocolError) as exc:
            self._close_invalid(events, exc)
        except _Closed:
            pass
        return events

    def _account(self, events: list[Event]) -> None:
        """Charge what the unfinished message holds to the budget (closing the connection if it
        is over), and make sure the partial-message timer runs while one is unfinished."""
        self._rx.regrown = False
        held = (self._msg_bytes + len(self._parts) * FRAME_OVERHEAD + self._rx.held_bytes()
                + (self._curve.held if self._curve is not None else 0))
        more = held - self._held
        budget = self._budget
        if budget is not None and more:
            if more > 0 and not budget.take(more):
                self._close(events, Input.INVALID, "over-budget",
                            f"an unfinished message of {held} bytes is over the socket's "
                            f"receive budget ({budget.limit} bytes)")
                return
            if more < 0:
                budget.give(-more)
        self._held = held
        if held and self._partial_deadline is None and self.partial_timeout is not None \
                and self.state is _OPEN:
            self._arm = self._partial_asked = True

    def _parse_greeting(self, data: bytes, events: list[Event]) -> int:
        """The peer's greeting (spec/zmtp.md#greeting): in one step when all 64 bytes are here
        and it is a common one (:func:`~zre_ref.zmtp.greeting.known_greeting`; an eager peer
        sends it so), else in libzmq's stages, which decide every error; returns the bytes
        used."""
        if self.state is State.SIGNATURE:
            known = known_greeting(data)
            if known is not None:
                return self._greeting_at_once(known, events)
        return self._parse_greeting_staged(data, events)

    def _greeting_at_once(self, greeting: Greeting, events: list[Event]) -> int:
        """What :meth:`_parse_greeting_staged` does with a whole valid greeting, in one step."""
        self._step(Input.SIGNATURE)
        self._step(Input.MAJOR)
        if not self.eager:
            self._out += (self._greeting_major, self._greeting_rest)
        self._major = greeting.major
        self._greeting_complete(greeting, events)
        return GREETING_SIZE

    def _parse_greeting_staged(self, data: bytes, events: list[Event]) -> int:
        """The greeting stage by stage (spec/zmtp.md#staging): the signature's 10 bytes, the
        major version, the rest; returns the bytes used."""
        pos, end = 0, len(data)
        base = self._rx.offset
        if self.state is State.SIGNATURE:
            check_signature(data[: SIGNATURE_SIZE], base)
            if end < SIGNATURE_SIZE:
                return 0
            self._step(Input.SIGNATURE)
            if not self.eager:
                self._out.append(self._greeting_major)
            pos = SIGNATURE_SIZE
        if self.state is State.MAJOR:
            if end - pos < 1:
                return pos
            check_major(data[pos], base - SIGNATURE_SIZE + pos)
            self._major = data[pos]
            self._step(Input.MAJOR)
            if not self.eager:
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
            pos += need
            self._greeting_complete(Greeting(self._major, minor, mech, as_server == 1), events)
        return pos

    def _greeting_complete(self, greeting: Greeting, events: list[Event]) -> None:
        """The whole greeting is in: check the mechanism, then the mechanism's first step."""
        self.peer_greeting = greeting
        self.peer_version = (3, 0) if greeting.major == 3 and greeting.minor == 0 else (3, 1)
        mechanism = self.mechanism
        if greeting.mechanism != mechanism.name:
            self._close(events, Input.INVALID, "mechanism-mismatch",
                        f"peer offers mechanism {greeting.mechanism}, we use {mechanism.name}")
            raise _Closed
        self._step(GREETING_INPUT[(mechanism.name, mechanism.as_server)])
        if isinstance(mechanism, Null):
            if not self.eager:  # else sent with the greeting
                self._send_command(Ready(self._our_metadata()))
        elif isinstance(mechanism, PlainClient):
            self._send_command(Hello(mechanism.username, mechanism.password))
        elif isinstance(mechanism, CurveClient):
            self._curve_hs = CurveClientHandshake(
                mechanism, encode_metadata(self._our_metadata()))
            self._send_body(self._curve_hs.hello())
        elif isinstance(mechanism, CurveServer):
            self._curve_hs = CurveServerHandshake(mechanism)

    def _parse_frames(self, data: bytes, pos: int, events: list[Event],
                      body: tuple[int, bytes | bytearray, int] | None = None,
                      base: int | None = None) -> int:
        """Frames from ``data[pos:]`` (after ``body``, a large frame that just completed);
        returns where parsing stopped (spec/zmtp.md#frames). ``base``: the stream offset of
        ``data[0]`` (default: the receiver's; CURVE plaintext counts from 0). Stops where a
        CURVE handshake ends: what follows READY is sealed."""
        end = len(data)
        parts = self._parts
        mbytes = self._msg_bytes
        parts_big = self._parts_big
        is_open = self.state is _OPEN
        limit = self.max_message_size if is_open else MAX_HANDSHAKE_COMMAND
        max_frames = self.max_message_frames
        publisher = self._publisher
        append = events.append
        new_event = object.__new__  # one event per message: its slots set here (hot path)
        if base is None:
            base = self._rx.offset  # stream offset of data[0]
        sealed = self._curve is not None  # parsing CURVE plaintext already
        try:
            while True:
                if body is not None:
                    flags, frame, offset = body
                    body = None
                    size = len(frame)
                    start = offset - base
                    if type(frame) is bytearray and not flags & COMMAND:
                        parts_big = True
                else:
                    if end - pos < 2:
                        break
                    flags = data[pos]
                    if flags <= (MORE | LONG) and is_open:  # a message frame: the common case
                        if flags <= MORE:
                            size = data[pos + 1]
                            start = pos + 2
                        elif end - pos < 9:
                            break
                        else:
                            size = int.from_bytes(data[pos + 1 : pos + 9], "big")
                            start = pos + 9
                        if size > limit - mbytes:
                            parse_header(data, pos, limit - mbytes, base)  # raises
                    else:
                        head = parse_header(data, pos, limit - mbytes, base)
                        if head is None:
                            break
                        flags, size, hlen = head
                        if not is_open and not flags & COMMAND:
                            raise ProtocolError(
                                f"a message frame arrived in state {self.state.value}")
                        start = pos + hlen
                    stop = start + size
                    if stop > end:  # incomplete: a large one is collected in a body buffer
                        if size >= BIG_FRAME:
                            self._rx.start_body(flags, size, data, start)
                            pos = end
                        break
                    frame = data[start:stop]
                    pos = stop
                if flags & COMMAND:
                    self._on_command(frame, base + start, events)
                    is_open = self.state is _OPEN
                    limit = self.max_message_size if is_open else MAX_HANDSHAKE_COMMAND
                    if self._curve is not None and not sealed:  # the rest of the read is sealed
                        break
                    continue
                # a message frame (only ever parsed once the connection is open)
                parts.append(frame)
                if flags & MORE:
                    mbytes += size
                    if len(parts) > max_frames:
                        self._too_many_frames(base + start, len(parts))
                    continue
                if publisher:
                    self._publisher_message(parts, events)
                else:  # MessageReceived(parts, parts_big, mbytes + size), without the call
                    msg = new_event(MessageReceived)
                    msg.frames, msg.buffers, msg.nbytes = parts, parts_big, mbytes + size
                    append(msg)
                parts = []
                mbytes = 0
                parts_big = False
        finally:
            if self.state is not _CLOSED:
                self._parts, self._msg_bytes, self._parts_big = parts, mbytes, parts_big
        return pos

    def _too_many_frames(self, offset: int, nframes: int) -> None:
        raise LengthOverflow(f"message of {nframes} frames is over the limit of "
                             f"{self.max_message_frames}", protocol="zmtp-frame",
                             field="frames", offset=offset, spec_anchor="spec/zmtp.md#limits")

    def _publisher_message(self, parts: list[bytes | bytearray], events: list[Event]) -> None:
        """On PUB/XPUB, a message from a subscriber is a 3.0-style (un)subscription (spec/zmtp.md#subscriptions)."""
        first = parts[0]
        if first[:1] == b"\x01":
            events.append(Subscribed(bytes(first[1:])))
        elif first[:1] == b"\x00":
            events.append(Unsubscribed(bytes(first[1:])))
        else:
            log.debug("zmtp: %s dropped a message from its subscriber", self.socket_type)

    def _on_command(self, frame: bytes | bytearray, offset: int, events: list[Event]) -> None:
        """A command frame (spec/zmtp.md#commands): the state table first, then the decoder."""
        body = bytes(frame)
        if self._curve_hs is not None and self.state is not State.OPEN:
            self._on_curve_command(body, events)
            return
        if self.state is State.EXPECT_READY:  # the READY of a common handshake, in one step
            props = common_ready(body)
            if props is not None:
                self._on_ready(props, events)
                return
        name = peek_name(body)
        if name is None:
            decode_command(body, offset)  # raises the DecodeError that says what is wrong
            raise ProtocolError("malformed command")  # pragma: no cover - decode raised
        state = self.state
        if not command_expected(state, name):
            raise ProtocolError(
                f"{name.decode('latin-1')} is not expected in state {state.value}")
        if name in (b"READY", b"INITIATE"):
            check_metadata_bounds(body, 1 + len(name), offset)
        cmd = decode_command(body, offset)
        if isinstance(cmd, Error):
            text = cmd.reason.decode("utf-8", "replace")
            self._close(events, Input.ERROR, "peer-error", f"the peer sent ERROR {text!r}")
            raise _Closed
        if isinstance(cmd, Hello):
            self._on_hello(cmd, events)
        elif isinstance(cmd, Welcome):
            self._step(Input.WELCOME)
            self._send_command(Initiate(self._our_metadata()))
        elif isinstance(cmd, Ready):
            self._on_ready(cmd.properties, events)
        elif isinstance(cmd, Initiate):
            if not self._accept_metadata(cmd.properties, events):
                raise _Closed
            self._send_command(Ready(self._our_metadata()))
            self._step(Input.INITIATE)
            self._opened(events)
        elif isinstance(cmd, Ping):
            self._trace_open(Input.PING)
            self._send_command(Pong(cmd.context[:MAX_PING_CONTEXT]))
            if cmd.ttl:
                if self._heartbeats is None:
                    self._heartbeats = Heartbeats(None)
                self._heartbeats.peer_ttl(cmd.ttl / 10.0)
                self._arm = True
        elif isinstance(cmd, Pong):
            self._trace_open(Input.PONG)
            events.append(PongReceived(cmd.context))
        elif isinstance(cmd, Subscribe):
            self._trace_open(Input.SUBSCRIBE)
            if self._publisher:
                events.append(Subscribed(cmd.topic))
        elif isinstance(cmd, Cancel):
            self._trace_open(Input.CANCEL)
            if self._publisher:
                events.append(Unsubscribed(cmd.topic))
        else:
            self._trace_open(Input.UNKNOWN_COMMAND)
            log.debug("zmtp: ignoring command %s", name.decode("latin-1"))

    def _on_ready(self, properties: Mapping[str, bytes], events: list[Event]) -> None:
        """READY in clear (spec/zmtp.md#null, #plain): the peer's metadata, then open."""
        if not self._accept_metadata(properties, events):
            raise _Closed
        self._step(Input.READY)
        self._opened(events)

    def _trace_open(self, inp: Input) -> None:
        """An input that keeps an open connection open (a step only when tracing)."""
        if self.trace is not None:
            self._step(inp)

    def _on_hello(self, cmd: Hello, events: list[Event]) -> None:
        """PLAIN HELLO (spec/zmtp.md#plain): WELCOME if the server takes the credentials, else
        ERROR and close."""
        mech = self.mechanism
        if not (isinstance(mech, PlainServer) and mech.accepts(cmd.username, cmd.password)):
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
                props = decode_bounded_metadata(hs.on_ready(body))
                if not self._accept_metadata(props, events):
                    raise _Closed
                self._step(Input.READY)
            elif isinstance(hs, CurveServerHandshake):
                if self.state is State.EXPECT_HELLO:
                    self._send_body(hs.on_hello(body))
                    self._step(Input.HELLO_ACCEPTED)
                    return
                client_key, metadata = hs.on_initiate(body)
                if not self._accept_metadata(decode_bounded_metadata(metadata), events):
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
            log.debug("zmtp: closing: %s", exc)
            raise _Closed from None
        self._curve = CurveTransport(hs.cipher(), self.max_message_size)
        self._curve_hs = None
        self._opened(events)

    def _receive_sealed(self, data: bytes, events: list[Event]) -> None:
        """CURVE after READY: open every MESSAGE, then parse the plaintext frames as usual."""
        assert self._curve is not None
        plain, error = self._curve.feed(data)
        if plain:  # offsets of plaintext errors count from this read's plaintext
            rest = self._parse_frames(plain, 0, events, base=0)
            if (rest != len(plain) or self._rx.body_pending) and not self.closed:
                raise ProtocolError("CURVE: a MESSAGE held part of a frame")
        if error is not None and not self.closed:
            raise error

    def _accept_metadata(self, props: Mapping[str, bytes], events: list[Event]) -> bool:
        """Check the peer's Socket-Type and Identity and keep its metadata (spec/zmtp.md#metadata)."""
        peer_type, identity = peer_type_and_identity(props)
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
        return our_metadata(self.socket_type, self.identity, self.metadata)

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
        if self.state is not _OPEN:
            raise ProtocolError(f"cannot send in state {self.state.value}")

    def send_message(self, frames: Sequence[bytes]) -> None:
        """Queue a multipart message (spec/zmtp.md#frames). Frames are bytes-like."""
        if self.state is not _OPEN:
            self._need_open()
        if self._curve is not None:
            queue_sealed(self._curve, frames)
        elif queue_message(self._out, frames):
            self._out_big = True

    def send_messages(self, messages: Iterable[Sequence[bytes]]) -> None:
        """:meth:`send_message` for each of ``messages``, in order (one state check)."""
        if self.state is not State.OPEN:
            self._need_open()
        if self._curve is not None:
            for frames in messages:
                queue_sealed(self._curve, frames)
        elif queue_messages(self._out, messages):
            self._out_big = True

    def send_subscribe(self, topic: bytes) -> None:
        """Subscribe: a SUBSCRIBE command to a 3.1 peer, a 0x01 message to 3.0 (spec/zmtp.md#subscriptions)."""
        self._send_subscription(True, bytes(topic))

    def send_cancel(self, topic: bytes) -> None:
        """Unsubscribe: CANCEL to 3.1, a 0x00 message to 3.0 (spec/zmtp.md#subscriptions)."""
        self._send_subscription(False, bytes(topic))

    def _send_subscription(self, subscribe: bool, topic: bytes) -> None:
        self._need_open()
        if self.peer_version == (3, 0):
            self.send_message([(b"\x01" if subscribe else b"\x00") + topic])
        else:
            self._send_command(Subscribe(topic) if subscribe else Cancel(topic))

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
        times = [t for t in (self._handshake_deadline, self._partial_deadline) if t is not None]
        if self._heartbeats is not None:
            times += self._heartbeats.deadlines()
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
        if self.partial_timeout is not None and not self._partial_timer(now, events):
            return events
        heartbeats = self._heartbeats
        if heartbeats is None:
            return events
        if heartbeats.ping_due(now, self._reads):
            self.send_ping(heartbeats.config.ttl if heartbeats.config is not None else 0.0)
        expiry = heartbeats.expired(now, self._reads)
        if expiry is not None:
            self._close(events, Input.TIMEOUT, expiry, _EXPIRY_REASONS[expiry])
        return events

    def _partial_timer(self, now: float, events: list[Event]) -> bool:
        """Close if the same message stayed unfinished from one deadline to the next (at least
        partial_timeout s); False if it closed (spec/zmtp.md#limits). The deadline stays set
        until it passes, so a stream of large messages arms one timer per interval, not one
        per message."""
        timeout = self.partial_timeout
        assert timeout is not None
        unfinished = self._held > 0
        deadline = self._partial_deadline
        if deadline is None:
            if unfinished or self._partial_asked:  # start an interval, even if it completed
                self._partial_deadline = now + timeout
                self._partial_mark = self._parts if unfinished else None
            self._partial_asked = False
            return True
        if now < deadline:
            return True
        if not unfinished:
            self._partial_deadline = None
            self._partial_mark = None
        elif self._partial_mark is self._parts:
            self._close(events, Input.TIMEOUT, "partial-timeout",
                        f"a message stayed unfinished for more than {timeout} s")
            return False
        else:  # another message is unfinished now: its own interval starts
            self._partial_deadline = now + timeout
            self._partial_mark = self._parts
        return True

