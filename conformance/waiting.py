"""Bounded waits on the runner's growing logs: agent events, beacons, wire messages.

Every wait has a deadline, so a silent IUT never stalls a case (spec/conformance.md#deadlines).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def first_match(items: Sequence[T], changed: asyncio.Event, pred: Callable[[T], bool],
                      timeout: float, since: int = 0, *, check: Callable[[], None] | None = None,
                      poll: float | None = None) -> T | None:
    """The first entry of ``items`` at index >= ``since`` matching ``pred``, or None after
    ``timeout`` seconds. ``items`` only grows and ``changed`` is set when it does; ``check`` runs
    every round and raises to abort (a dead agent); ``poll`` caps each sleep so it runs that often."""
    deadline = time.monotonic() + timeout
    index = since
    while True:
        while index < len(items):
            item = items[index]
            index += 1
            if pred(item):
                return item
        if check is not None:
            check()
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), left if poll is None else min(left, poll))
