"""Waiting for an event, with a deadline: the one polling helper the tests share.

The project's rule is "never synchronise with sleep: wait for the event, with a deadline". Where
the event is a future or a message, tests await it directly; where it is only visible as a state
(a counter, ``Socket.peers()``, ``Socket.stats()``, a line in a file) they poll it here, every
``POLL`` seconds, until it holds or the deadline passes. Child processes started by the hostile
tests import this module too (their working directory is the repository root).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: Seconds between two looks at a condition nothing can signal
POLL = 0.01


async def holds_within(pred: Callable[[], object], timeout: float) -> bool:
    """Whether ``pred()`` became true within ``timeout`` seconds (polled every POLL)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL)  # a look at a state nothing signals, bounded by the deadline
    return True


async def until(pred: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """Wait until ``pred()`` is true; AssertionError naming ``what`` after ``timeout`` seconds."""
    if not await holds_within(pred, timeout):
        raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}")


def until_sync(pred: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    """:func:`until` for code without an event loop (a thread, a blocking test)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or pred}")
        time.sleep(POLL)  # a look at a state nothing signals, bounded by the deadline
