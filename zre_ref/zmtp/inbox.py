"""A socket's received messages waiting for the application, bounded (spec/zmtp.md#limits).

Sans-IO: the asyncio socket puts what its connections deliver and takes what the application
asks for; the inbox keeps the count and the bytes, and says when reading should pause
(``full``: ``hwm`` messages or ``hwm_bytes`` bytes) and when it may resume (``drained``: under
half of both). What one message costs: its bytes, ``FRAME_OVERHEAD`` per frame and one more for
the message's list.
"""

from __future__ import annotations

from collections import deque
from typing import Any, cast

from .receiver import FRAME_OVERHEAD

__all__ = ["NO_QUEUE", "Buffers", "Inbox"]


class _NoQueue(deque[Any]):
    """The shared stand-in for a queue nothing was put in yet (an empty deque is ~630 bytes,
    and a ZRE node's ROUTER pipes never send, its DEALERs never receive); never appended to."""

    __slots__ = ()

    def append(self, *args: Any) -> None:
        raise RuntimeError("zmtp: an item put in the shared empty queue (a bug)")

    appendleft = extend = extendleft = insert = append


#: the one empty queue every idle pipe and unused inbox points at (a deque of its own on first use)
NO_QUEUE: deque[Any] = _NoQueue()


class Buffers(list[bytes | bytearray]):
    """A received message holding bytearray frames (taken with ``copy=True`` they become bytes)."""

    __slots__ = ()


class Inbox:
    """Received messages, oldest first, with their cost; ``hwm``/``hwm_bytes`` of 0 = no limit."""

    __slots__ = ("_messages", "_sizes", "hwm", "hwm_bytes", "nbytes")

    def __init__(self, hwm: int, hwm_bytes: int) -> None:
        self.hwm = hwm
        self.hwm_bytes = hwm_bytes
        self._messages: deque[list[bytes | bytearray]] = NO_QUEUE  # its own from the first put
        self._sizes: deque[int] = NO_QUEUE
        #: what the waiting messages cost together (their bytes and the overheads above)
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def allocated(self) -> bool:
        """Whether a queue of its own exists (it does from the first message on)."""
        return self._messages is not NO_QUEUE

    def put(self, frames: list[bytes | bytearray], nbytes: int) -> None:
        """Queue one message whose frames hold ``nbytes`` bytes."""
        if self._messages is NO_QUEUE:
            self._messages = deque()
            self._sizes = deque()
        self._messages.append(frames)
        cost = nbytes + FRAME_OVERHEAD * (len(frames) + 1)
        self._sizes.append(cost)
        self.nbytes += cost

    def take(self, copy: bool) -> list[bytes] | list[bytes | bytearray] | None:
        """The oldest message, None if none waits; ``copy``: bytearray frames become bytes."""
        if not self._messages:
            return None
        msg = self._messages.popleft()
        self.nbytes -= self._sizes.popleft()
        if type(msg) is Buffers:
            return [bytes(f) for f in msg] if copy else list(msg)
        return msg

    def take_many(self, limit: int | None, copy: bool
                  ) -> list[list[bytes]] | list[list[bytes | bytearray]]:
        """Up to ``limit`` messages (all when None), oldest first, each as :meth:`take` gives it."""
        messages = self._messages
        if limit is None or limit >= len(messages):
            out = list(messages)
            messages.clear()
            self._sizes.clear()
            self.nbytes = 0
        else:
            pop, pop_size = messages.popleft, self._sizes.popleft
            out = [pop() for _ in range(max(0, limit))]
            self.nbytes -= sum(pop_size() for _ in out)
        if copy:
            return cast(list[list[bytes]],
                        [[bytes(f) for f in msg] if type(msg) is Buffers else msg for msg in out])
        return out

    @property
    def full(self) -> bool:
        """Reading pauses: ``hwm`` messages or ``hwm_bytes`` bytes wait."""
        hwm = self.hwm
        return bool((hwm and len(self._messages) >= hwm)
                    or (self.hwm_bytes and self.nbytes >= self.hwm_bytes))

    @property
    def drained(self) -> bool:
        """Reading resumes: under half of ``hwm`` messages and of ``hwm_bytes`` bytes wait."""
        hwm, hwm_bytes = self.hwm, self.hwm_bytes
        return (not hwm or len(self._messages) < hwm // 2 + 1) and (
            not hwm_bytes or self.nbytes < hwm_bytes // 2 + 1)
