"""Flow of messages through an asyncio ZMTP socket's pipes (spec/zmtp.md#sockets, #limits).

The small units :class:`~zre_ref.aio.zmtp.Socket` uses and does not reimplement:

* :class:`Pipe` -- one peer: its send queue (bounded by ``sndhwm`` through the routing policy),
  its live connection and transport when there is one, and its timer.
* :class:`Output` -- the send side: messages go into a pipe's queue and are written once per
  loop turn, coalesced (the first of a turn at once, for latency); a large body is written only
  into an empty transport buffer, straight from the caller's bytes.
* :class:`ReadPause` -- the receive side's back-pressure: while the socket's
  :class:`~zre_ref.zmtp.inbox.Inbox` is full (or the application asked), every connection stops
  reading, so TCP holds the rest.
* :class:`SubscriberTopics` -- PUB: what every subscriber's topics cost together, within
  ``max_subscription_bytes``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from ..zmtp.connection import Connection
from ..zmtp.inbox import NO_QUEUE
from ..zmtp.receiver import BIG_FRAME
from ..zmtp.routing import Subscriptions
from .loopshared import LoopShared, TurnEnd
from .rawstream import Connecting, RawStreamTransport

__all__ = ["NO_SUBSCRIPTIONS", "SUBSCRIPTION_OVERHEAD", "WRITE_HIGH_WATER", "Output", "OutputOwner",
           "Pipe", "ReadPause", "SubscriberTopics"]

#: bytes moved from a peer's queue into one transport write
FLUSH_CHUNK = 256 * 1024
#: transport write buffer high-water mark (asyncio's default is 64 KiB)
WRITE_HIGH_WATER = 1024 * 1024
#: what one subscription costs beyond its topic (dict and set entries, the bytes object),
#: counted against max_subscription_bytes (about 108 bytes traced in CPython 3.11)
SUBSCRIPTION_OVERHEAD = 128
#: a pipe's subscriptions until the first one arrives (PUB); never added to
NO_SUBSCRIPTIONS = Subscriptions()
#: the empty state of a pipe's ``held`` output, of Output's and ReadPause's lists of pipes:
#: shared, never appended to (a list of its own is made for the first entry), so an idle
#: link holds no list of its own
NO_HELD: list[bytes] = []
NO_PIPES: list[Pipe] = []

_pipe_ids = itertools.count(1)


class Pipe:
    """One peer: its queue of outgoing messages, and the live connection when there is one."""

    __slots__ = (
        "conn", "connections", "connector", "dirty", "draining", "endpoint", "held", "id",
        "identity", "paused", "peer", "persistent", "proto", "queue", "reading_paused", "ready", "subs",
        "timer", "timer_at", "transport", "wrote_in",
    )

    def __init__(self, endpoint: str, persistent: bool) -> None:
        self.id = next(_pipe_ids)
        self.endpoint = endpoint
        self.persistent = persistent  # a connect() pipe: outlives its connections
        self.queue: deque[Sequence[bytes]] = NO_QUEUE  # a deque of its own from the first message
        self.conn: Connection | None = None
        self.connections = 0  # how many connections this pipe has had (reconnects + 1)
        self.transport: asyncio.Transport | None = None
        self.proto: asyncio.BaseProtocol | None = None
        self.ready = False  # handshake done, connection open
        self.paused = False  # the transport asked us to stop writing
        self.reading_paused = False
        self.dirty = False  # waits in Output's list for this turn's flush
        self.wrote_in = -1  # the loop turn (TurnEnd.number) of its last unqueued write
        # encoded output held back until the transport's buffer is empty: a large body is
        # written only then, straight from the caller's bytes (asyncio copies what it buffers)
        self.held = NO_HELD
        self.draining = False
        self.identity = b""
        self.peer = ""
        self.subs = NO_SUBSCRIPTIONS  # PUB: its own Subscriptions once one arrives
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = -1.0
        #: a connect() pipe: its connect attempts (a task, or a raw connect in progress) or
        #: the wait for the next (a timer)
        self.connector: asyncio.Task[None] | asyncio.TimerHandle | Connecting | None = None

    def __repr__(self) -> str:
        return f"<pipe {self.id} {self.peer or self.endpoint}>"

    def stop_connecting(self) -> None:
        if self.connector is not None:
            self.connector.cancel()
            self.connector = None

    def forget_output(self) -> None:
        """The connection is gone: what was encoded for it goes too (the queue stays)."""
        self.held = NO_HELD
        self.draining = False


class OutputOwner(Protocol):
    """What Output asks of its socket (held as one reference, not three bound methods)."""

    def _get_loop(self) -> asyncio.AbstractEventLoop: ...

    def _get_shared(self) -> LoopShared: ...

    def _wake_tx(self) -> None: ...


class Output:
    """Write coalescing for one socket's pipes.

    ``enqueue`` is what the routing policy calls per message and peer: a pipe's first message
    of a loop turn is written at once (latency), later ones wait in its queue and are written
    together at the end of the turn (throughput; one :class:`~zre_ref.aio.loopshared.TurnEnd`
    callback per turn for the whole loop; on a raw transport "a turn" is counted as TurnEnd
    says). ``mark_dirty`` asks for a flush of a pipe in this
    turn; the owner's ``_wake_tx`` is called after each flush (room was made).
    """

    __slots__ = ("_dirty", "_owner", "_scheduled", "_turn")

    def __init__(self, owner: OutputOwner) -> None:
        self._owner = owner  # its loop, and the loop's TurnEnd, asked for on first use
        self._turn: TurnEnd | None = None
        self._dirty = NO_PIPES
        self._scheduled = False

    def enqueue(self, pipe: Pipe, frames: Sequence[bytes]) -> None:
        """Queue ``frames`` for ``pipe`` (the routing policy checked its room)."""
        if not pipe.dirty and pipe.ready:
            conn = pipe.conn
            transport = pipe.transport
            turn = self._turn or self._bind_turn()
            if pipe.wrote_in != turn.number and not (pipe.queue or pipe.paused or pipe.held) \
                    and conn is not None and transport is not None:
                conn.send_message(frames)
                chunks = conn.output_chunks()
                if len(chunks) == 1 and len(chunks[0]) < BIG_FRAME:
                    transport.write(chunks[0])
                else:
                    self._write(pipe, transport, chunks)
                pipe.wrote_in = turn.number  # the next message of this turn is queued
                if type(transport) is not RawStreamTransport:  # its reactor moves the number
                    turn.ensure(self._owner._get_loop())
                return
            self.mark_dirty(pipe)
        q = pipe.queue
        if q is NO_QUEUE:
            q = pipe.queue = deque()
        q.append(frames)

    def mark_dirty(self, pipe: Pipe) -> None:
        """Flush ``pipe`` at the end of this loop turn (once, however often asked)."""
        if not pipe.dirty:
            pipe.dirty = True
            if self._dirty is NO_PIPES:
                self._dirty = [pipe]
            else:
                self._dirty.append(pipe)
            if not self._scheduled:
                self._scheduled = True
                (self._turn or self._bind_turn()).at_end(self._owner._get_loop(), self._flush)

    def _bind_turn(self) -> TurnEnd:
        self._turn = self._owner._get_shared().turn
        return self._turn

    def _flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, NO_PIPES
        for pipe in dirty:
            pipe.dirty = False
            self.flush_pipe(pipe)
        self._owner._wake_tx()

    def flush_pipe(self, pipe: Pipe, force: bool = False) -> None:
        """Write what ``pipe`` holds and has queued, as far as the transport takes it
        (``force``: all of it, whatever the transport's buffer holds -- used on close)."""
        conn = pipe.conn
        transport = pipe.transport
        if conn is None or transport is None or conn.closed:
            return
        if pipe.held:
            if not force and pipe.draining:
                return  # resume_writing writes them
            held, pipe.held = pipe.held, NO_HELD
            self._write(pipe, transport, held, force)
        q = pipe.queue
        if pipe.ready and q:
            pop = q.popleft
            while q and (force or not (pipe.paused or pipe.held)):
                # a batch of about FLUSH_CHUNK bytes, sized from the first message
                n = min(len(q), max(1, FLUSH_CHUNK // (len(q[0][-1]) + 64)))
                if n == len(q):
                    batch = list(q)
                    q.clear()
                else:
                    batch = [pop() for _ in range(n)]
                conn.send_messages(batch)
                self._write(pipe, transport, conn.output_chunks(), force)
            if not q:
                pipe.queue = NO_QUEUE  # drained: an idle pipe holds no deque
        if conn.pending_output():
            self._write(pipe, transport, conn.output_chunks(), force)

    def _write(self, pipe: Pipe, transport: asyncio.Transport, chunks: list[bytes],
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

    def resumed(self, pipe: Pipe) -> None:
        """The transport's resume_writing: write what waited."""
        pipe.paused = False
        if not pipe.draining:
            self.mark_dirty(pipe)
            return
        # the buffer is empty after a drain wait: restore the limits, write the held body now
        pipe.draining = False
        transport = pipe.transport
        if transport is None:
            return
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.flush_pipe(pipe)
        self._owner._wake_tx()


class ReadPause:
    """Which connections stopped reading (``pipes``) because the inbox is full or the
    application asked (``held``); ``resume`` starts them all again."""

    __slots__ = ("held", "pipes")

    def __init__(self) -> None:
        #: the connections paused now (read on every message taken: an attribute, not a call)
        self.pipes = NO_PIPES
        #: the application paused reading (Socket.pause_reading) until it resumes
        self.held = False

    def pause(self, pipes: Iterable[Pipe]) -> None:
        for p in pipes:
            if p.transport is not None and not p.reading_paused:
                p.reading_paused = True
                p.transport.pause_reading()
                if self.pipes is NO_PIPES:
                    self.pipes = [p]
                else:
                    self.pipes.append(p)

    def resume(self) -> None:
        for p in self.pipes:
            if p.reading_paused and p.transport is not None:
                p.reading_paused = False
                p.transport.resume_reading()
        self.pipes = NO_PIPES


class SubscriberTopics:
    """PUB: the topics of every subscriber (each pipe's ``subs``), costed together against
    ``limit`` bytes (0 = no limit): a topic costs its length and ``SUBSCRIPTION_OVERHEAD``."""

    __slots__ = ("limit", "nbytes")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.nbytes = 0  # what every pipe's subscriptions cost together

    def add(self, pipe: Pipe, topic: bytes) -> bool:
        """Subscribe ``pipe`` to ``topic``; False (and every topic of the pipe forgotten) when
        that would pass the limit: the caller closes the subscriber's link."""
        cost = len(topic) + SUBSCRIPTION_OVERHEAD
        if self.limit and self.nbytes + cost > self.limit:
            self.forget(pipe)
            return False
        subs = pipe.subs
        if subs is NO_SUBSCRIPTIONS:
            subs = pipe.subs = Subscriptions()
        if subs.add(topic):
            self.nbytes += cost
        return True

    def remove(self, pipe: Pipe, topic: bytes) -> None:
        if pipe.subs.remove(topic):
            self.nbytes -= len(topic) + SUBSCRIPTION_OVERHEAD

    def forget(self, pipe: Pipe) -> None:
        """The pipe's topics are gone (a new connection, or it closed)."""
        subs = pipe.subs
        self.nbytes -= subs.nbytes + len(subs) * SUBSCRIPTION_OVERHEAD
        pipe.subs = NO_SUBSCRIPTIONS
