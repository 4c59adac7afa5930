"""The events a :class:`~zre_ref.aio.zre.ZreNode` holds for its application (spec/zre.md#limits).

Events wait here, counted in events and in bytes: each is charged ``EVENT_BYTES``, and a batch
of events is charged the frames of the messages it came from, released when the batch's last
event is read. The node stops reading its ROUTER while there is no ``room`` and reads again
once the queue is ``half_empty`` (the same hysteresis as a ZMTP socket's inbox).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..zre.events import ZreEvent

__all__ = ["EVENT_BYTES", "MAX_PENDING_BYTES", "MAX_PENDING_EVENTS", "EventQueue"]

#: events waiting for the application before the node stops reading its ROUTER (back-pressure)
MAX_PENDING_EVENTS = 10_000
#: ... and their bytes (content frames, plus EVENT_BYTES each): the same back-pressure, in bytes
MAX_PENDING_BYTES = 64 * 1024 * 1024
#: what one pending event is counted as, on top of its content and headers (the objects)
EVENT_BYTES = 256


class EventQueue:
    """Events for the application, oldest first, bounded by ``max_events`` and ``max_bytes``."""

    __slots__ = ("_charges", "_consumed", "_emitted", "_events", "_waiter", "append",
                 "max_bytes", "max_events", "nbytes")

    def __init__(self, max_events: int = MAX_PENDING_EVENTS,
                 max_bytes: int = MAX_PENDING_BYTES) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._events: deque[ZreEvent] = deque()
        #: what the events waiting are charged (see the module text)
        self.nbytes = 0
        self._charges: deque[tuple[int, int]] = deque()  # (events emitted up to, bytes) per batch
        self._emitted = 0  # events ever emitted to the application
        self._consumed = 0  # ... and read by it
        self._waiter: asyncio.Future[None] | None = None
        #: queue one event, :meth:`charge` the batch once it is complete (the deque's own
        #: append: a node calls it once per event)
        self.append: Callable[[ZreEvent], None] = self._events.append

    def __len__(self) -> int:
        return len(self._events)

    def charge(self, count: int, message_bytes: int) -> None:
        """The last ``count`` events appended form one batch, from messages of ``message_bytes``
        bytes: charge them and wake a waiting reader."""
        if count <= 0:
            return
        self._emitted += count
        cost = count * EVENT_BYTES + message_bytes
        self._charges.append((self._emitted, cost))
        self.nbytes += cost
        self.wake()

    def pop(self) -> ZreEvent | None:
        """The oldest event (releasing its batch's charge after the batch's last), or None."""
        if not self._events:
            return None
        ev = self._events.popleft()
        self._consumed += 1
        if self._charges[0][0] <= self._consumed:
            self.nbytes -= self._charges.popleft()[1]
        return ev

    def wait(self) -> asyncio.Future[None]:
        """Await it: until an event is charged or :meth:`wake` is called. (A future, not a
        coroutine: a reader waits once per event, and this spares a coroutine each time.)"""
        w = self._waiter
        if w is None or w.done():
            w = self._waiter = asyncio.get_running_loop().create_future()
        return w

    def waiting(self) -> bool:
        """A reader waits in :meth:`wait`."""
        w = self._waiter
        return w is not None and not w.done()

    def wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def room(self) -> tuple[int, int]:
        """Events and bytes that may still be queued (either may be 0 or less: full)."""
        return self.max_events - len(self._events), self.max_bytes - self.nbytes

    @property
    def half_empty(self) -> bool:
        """Under half of ``max_events`` and of ``max_bytes`` wait: reading may resume."""
        return (len(self._events) < self.max_events // 2 + 1
                and self.nbytes < self.max_bytes // 2 + 1)
