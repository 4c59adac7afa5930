"""One loop timer for every ZRE node on an event loop (issue 17's "timer wheel per event loop").

Each :class:`~zre_ref.aio.zre.ZreNode` has one deadline at a time (``NodeCore.next_deadline``).
Held as one asyncio ``TimerHandle`` per node, a mesh of N nodes in one process keeps N handles in
the loop's heap, whose ordering (``TimerHandle.__lt__``) is Python code. :class:`TimerWheel` keeps
the nodes' deadlines in its own heap of plain tuples (compared in C) and arms exactly one loop
timer, at the earliest of them. Deadlines are kept exactly, never rounded into slots: every
node's timer runs when its own timer would have run (only the order of owners due at the same
instant is fixed: the order their deadlines were set in).

A deadline that moves leaves its old entry in the heap, marked stale by its sequence number
(lazy invalidation). Bound: after every call outside a firing the heap holds at most
``2 * L`` entries for ``L`` owners with a deadline -- it is compacted (O(heap)) as soon as stale
entries outnumber live ones, which takes at least ``L + 1`` moves since the last compaction, so
moves cost O(log heap) amortised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from heapq import heapify, heappop, heappush

__all__ = ["TimerWheel"]

#: (deadline, sequence, owner, callback): the unique sequence decides ties, so the owner and the
#: callback are never compared
_Entry = tuple[float, int, Hashable, Callable[[], None]]


class TimerWheel:
    """Deadlines of many owners on ``loop``, one loop timer for all of them (see the module
    text). ``set(owner, when, callback)`` gives ``owner`` its one deadline (``remove(owner)``:
    none); ``callback()`` runs once ``loop.time()`` reaches it, after which the owner has no
    deadline until it sets one again. A callback that raises goes to the loop's exception handler; the
    other owners due still run."""

    __slots__ = ("_armed_at", "_firing", "_handle", "_heap", "_live", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[_Entry] = []
        self._live: dict[Hashable, int] = {}  # owner -> sequence number of its live entry
        self._seq = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None  # when _handle fires
        self._firing = False  # in _fire: it arms the loop timer once, when the callbacks are done

    def set(self, owner: Hashable, when: float, callback: Callable[[], None]) -> None:
        """``owner``'s deadline is now ``when`` (loop time): ``callback()`` runs then."""
        self._seq += 1
        self._live[owner] = self._seq
        heappush(self._heap, (when, self._seq, owner, callback))
        if len(self._heap) > 2 * len(self._live):  # _settle, inline: a node sets once per tick
            self._compact()
        if not self._firing:
            self._arm()

    def remove(self, owner: Hashable) -> None:
        """``owner`` has no deadline any more (a stopped node)."""
        if self._live.pop(owner, None) is not None:
            self._settle()

    def _settle(self) -> None:
        """After a change: compact if stale entries outnumber live ones, re-arm the loop timer."""
        if len(self._heap) > 2 * len(self._live):
            self._compact()
        if not self._firing:
            self._arm()

    def deadline_count(self) -> int:
        """How many owners have a deadline."""
        return len(self._live)

    def entry_count(self) -> int:
        """Entries in the heap, stale ones included (at most ``2 * deadline_count()``)."""
        return len(self._heap)

    def armed_at(self) -> float | None:
        """When the one loop timer fires (None: not armed)."""
        return self._armed_at

    def _compact(self) -> None:
        """Drop the stale entries, in place (``_fire`` holds the list)."""
        live = self._live
        self._heap[:] = [entry for entry in self._heap if live.get(entry[2]) == entry[1]]
        heapify(self._heap)

    def _arm(self) -> None:
        """The loop timer at the earliest live deadline (stale entries on top are dropped)."""
        heap, live = self._heap, self._live
        while heap and live.get(heap[0][2]) != heap[0][1]:
            heappop(heap)
        when = heap[0][0] if heap else None
        if when == self._armed_at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = None if when is None else self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        """Run every owner due. "Due" is ``deadline <= max(now, the time the timer was armed
        at)``: asyncio runs a timer up to its clock resolution early, and the owner it was armed
        for is due then. Deadlines set by the callbacks run in a later loop turn, never in this
        call, as with one loop timer each."""
        loop = self._loop
        cutoff = loop.time()
        if self._armed_at is not None and self._armed_at > cutoff:
            cutoff = self._armed_at
        self._handle = None
        self._armed_at = None
        heap, live = self._heap, self._live
        due: list[_Entry] = []
        while heap and heap[0][0] <= cutoff:
            entry = heappop(heap)
            if live.get(entry[2]) == entry[1]:
                due.append(entry)
        self._firing = True
        done = 0
        try:
            for _, seq, owner, callback in due:
                done += 1
                if live.get(owner) != seq:  # moved or removed by an earlier callback
                    continue
                del live[owner]
                try:
                    callback()
                except Exception as exc:  # one owner's failure is its own: the rest still run
                    loop.call_exception_handler(
                        {"message": "timer callback failed", "exception": exc, "callback": callback})
        finally:
            for entry in due[done:]:  # only after a BaseException: still owed
                heappush(heap, entry)
            self._firing = False
            self._settle()

