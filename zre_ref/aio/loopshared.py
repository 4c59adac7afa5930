"""What every socket and beacon on one event loop shares, in one visible place.

Two things are cheaper shared per event loop than held per object, and both are safe to share
because one loop runs one callback at a time:

* ``read_buffer`` -- the :class:`~zre_ref.zmtp.receiver.ReadBuffer` every ZMTP connection reads
  into: asyncio calls ``buffer_updated`` right after the same protocol's ``get_buffer``, so reads
  never interleave, and a node with hundreds of DEALERs holds one read buffer, not one each.
* ``beacon_sockets`` -- one UDP socket per (port, plan), joined by every
  :class:`~zre_ref.aio.beacon.UdpBeacon` on the loop that uses them: each datagram is read once
  and handed to all of them (many nodes in one process cost one socket, not one each).
* ``handshakes`` -- a :class:`CoarseDeadlines`: the handshake deadlines of every connection on
  the loop, one loop timer per ``RESOLUTION``-wide slot instead of one per connection (a mesh
  forming opens hundreds of connections whose deadline is cancelled a moment later).
* ``stream_reactor(loop)`` -- the :class:`~zre_ref.aio.rawstream.StreamReactor` (one epoll
  watched by the loop as one descriptor) that sockets made with ``raw_transport=True`` put
  their TCP connections on; None where it cannot run (then they use asyncio's transports).
* ``node_timers(loop)`` -- the :class:`~zre_ref.aio.timerwheel.TimerWheel` holding every ZRE
  node's deadline on the loop: one loop timer for all of them.

``LoopShared.of()`` gives the running loop's (made on first use, gone with the loop). Sockets
and beacons take it by default; pass ``shared=LoopShared()`` to give one object its own.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from ..zmtp.receiver import ReadBuffer
from .rawstream import StreamReactor, reactor_supported
from .timerwheel import TimerWheel

if TYPE_CHECKING:
    from .beacon import BeaconPlan, BeaconSocket

__all__ = ["CoarseDeadlines", "DeadlineOwner", "LoopShared", "TurnEnd"]


class TurnEnd:
    """One loop callback at the end of each loop turn, for everything on the loop that asks:
    each socket's write coalescing (what its pipes queued in this turn is flushed then) costs
    one callback per turn for the whole loop, not one per socket. ``number`` counts the turns
    ended -- and the loop's raw stream reactor moves it on at each of its dispatches
    (``StreamReactor``'s ``turn``) --, so a pipe can tell whether it already wrote in this one.

    A pipe on asyncio's transports that writes at once asks for the end of the turn
    (:meth:`ensure`), so that its next turn has a new number. A pipe on a raw transport does
    not: on a ZRE link the next message follows a read, whose dispatch moves the number on,
    and a turn that only answered what it read ends without a callback. Without such a read
    in between, its next message waits for the end of its turn (the same one callback) instead
    of going at once: coalescing, never order, depends on the number."""

    __slots__ = ("_pending", "_scheduled", "number")

    def __init__(self) -> None:
        self.number = 0
        self._pending: list[Callable[[], None]] = []
        self._scheduled = False

    def ensure(self, loop: asyncio.AbstractEventLoop) -> None:
        """This turn ends with a callback (``number`` moves on then)."""
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._end)

    def at_end(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
        """Call ``fn`` once at the end of this turn."""
        self._pending.append(fn)
        self.ensure(loop)

    def _end(self) -> None:
        self._scheduled = False
        self.number += 1
        pending, self._pending = self._pending, []
        for fn in pending:
            try:
                fn()
            except Exception as exc:  # one socket's failure is its own: the rest still run
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "end-of-turn callback failed", "exception": exc})


class DeadlineOwner(Protocol):
    def deadline_due(self, slot: int) -> None: ...


class CoarseDeadlines:
    """Deadlines kept at ``RESOLUTION`` s, for many owners at once: one loop timer per slot of
    that width, not one per deadline. ``add(loop, when, owner)`` calls ``owner.deadline_due(slot)``
    once the slot holding ``when`` has passed (at most ``RESOLUTION`` s late). Entries are never
    taken out: an owner whose deadline moved or went away checks ``slot_of`` itself and does
    nothing. An entry lasts until its slot passes (one per ``add``)."""

    __slots__ = ("_slots",)

    #: seconds: how late a deadline may be met
    RESOLUTION = 0.1

    def __init__(self) -> None:
        self._slots: dict[int, list[DeadlineOwner]] = {}

    @classmethod
    def slot_of(cls, when: float) -> int:
        return math.ceil(when / cls.RESOLUTION)

    def add(self, loop: asyncio.AbstractEventLoop, when: float, owner: DeadlineOwner) -> None:
        slot = self.slot_of(when)
        owners = self._slots.get(slot)
        if owners is None:
            owners = self._slots[slot] = []
            loop.call_at(slot * self.RESOLUTION, self._due, slot)
        owners.append(owner)

    def _due(self, slot: int) -> None:
        for owner in self._slots.pop(slot, ()):
            try:
                owner.deadline_due(slot)
            except Exception as exc:  # one owner's failure is its own: the rest still run
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "deadline callback failed", "exception": exc})


class LoopShared:
    """The shared read buffer and beacon sockets of one event loop (see the module text)."""

    __slots__ = ("__weakref__", "_node_timers", "_reactor", "beacon_sockets", "handshakes",
                 "raw_streams", "read_buffer", "turn")

    #: the one per loop, made by ``of`` on first use, dropped with the loop
    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopShared]] = (
        weakref.WeakKeyDictionary())

    def __init__(self) -> None:
        self.read_buffer = ReadBuffer()
        self.turn = TurnEnd()
        self.handshakes = CoarseDeadlines()
        self.beacon_sockets: dict[tuple[int, BeaconPlan], BeaconSocket] = {}
        self._reactor: StreamReactor | None = None
        self._node_timers: TimerWheel | None = None
        #: whether new connections may use the stream reactor (a LoopCapture turns it off
        #: while installed: it records what goes through asyncio's transports)
        self.raw_streams = True

    def stream_reactor(self, loop: asyncio.AbstractEventLoop) -> StreamReactor | None:
        """The raw stream reactor on ``loop`` (made on first use), or None where epoll or the
        loop's add_reader is missing, when ``raw_streams`` is off -- or when this object already
        serves another loop."""
        if not self.raw_streams:
            return None
        reactor = self._reactor
        if reactor is None:
            if not reactor_supported(loop):
                return None
            reactor = self._reactor = StreamReactor(loop, self.turn)
        return reactor if reactor.serves(loop) else None

    def node_timers(self, loop: asyncio.AbstractEventLoop) -> TimerWheel:
        """The ZRE nodes' one timer on ``loop``, the loop this object serves (made on first use)."""
        if self._node_timers is None:
            self._node_timers = TimerWheel(loop)
        return self._node_timers

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> LoopShared:
        """The one for ``loop`` (default: the running loop)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        shared = cls._by_loop.get(loop)
        if shared is None:
            shared = cls._by_loop[loop] = cls()
        return shared
