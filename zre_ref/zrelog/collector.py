"""ZRE/LOG collecting as a sans-IO core: records to JSON, level filter, rotation plan, rates.

A collector binds a SUB socket, advertises it in its ZRE HELLO as ``X-ZRELOG``, and turns every
LOG record into one JSON object (spec/zrelog.md#collector)::

    {"node": "6FC8", "peer": "6FC9", "level": "INFO", "event": "ENTER",
     "time": "2014-05-13T16:53:20Z", "time_s": 1400000000, "data": "",
     "received": "2024-01-01T00:00:00.123Z"}
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import DecodeError
from ..lograte import DEFAULT_INTERVAL, RateLimitedLog
from . import messages as m
from .messages import Event, Level

log = logging.getLogger(__name__)

#: Nodes the ``--follow`` table tracks per tenth of a window; more count as "(other)"
DEFAULT_MAX_RATE_NODES = 256
OTHER_NODE = "(other)"
#: Largest message the collector's SUB socket accepts: a LOG record is at most 273 bytes
#: (spec/zrelog.md#log); the rest is room for ZMTP commands (READY, PING)
MAX_RECORD_MESSAGE = 4096
#: Messages the collector's SUB socket queues before it stops reading (spec/zrelog.md#collector)
DEFAULT_RCVHWM = 1000

#: Names accepted by ``--level`` and the highest level number each keeps (spec/zrelog.md#levels)
LEVEL_NAMES = {"error": Level.ERROR, "warning": Level.WARNING, "info": Level.INFO}


def iso_time(seconds: float) -> str:
    """UTC ISO 8601 with a Z; milliseconds only when the value has a fraction."""
    try:
        dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return f"@{seconds}"  # beyond what datetime can show (u64 seconds)
    if seconds == int(seconds):
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _name(enum: type[Level] | type[Event], value: int, prefix: str) -> str:
    try:
        return enum(value).name
    except ValueError:
        return f"{prefix}-{value}"


def record_to_json(msg: m.Log, received: float) -> dict[str, Any]:
    """One LOG record as the collector writes it (spec/zrelog.md#collector)."""
    return {
        "node": f"{msg.node:04X}",
        "peer": f"{msg.peer:04X}",
        "level": _name(Level, msg.level, "LEVEL"),
        "event": _name(Event, msg.event, "EVENT"),
        "time": iso_time(msg.time),
        "time_s": msg.time,
        "data": msg.data,
        "received": iso_time(received),
    }


class CollectorCore:
    """Decode, filter and convert records; count what was refused (spec/zrelog.md#collector)."""

    def __init__(self, *, max_level: int = Level.INFO,
                 log_interval: float = DEFAULT_INTERVAL) -> None:
        self.max_level = max_level
        self.received = 0
        self.filtered = 0
        self.malformed = 0
        #: malformed records are logged through this: a line per interval, the rest counted
        self.log = RateLimitedLog(log, interval=log_interval)

    def handle_frames(self, frames: Sequence[bytes], received: float) -> dict[str, Any] | None:
        """A message from the SUB socket: its JSON object, or None (malformed or filtered).
        ``received`` is the wall-clock time (seconds) it arrived."""
        try:
            msg = m.decode(list(frames))
        except DecodeError as exc:
            self.malformed += 1
            self.log.warning(received, "malformed", "zrelog collector: malformed record: %s", exc)
            return None
        self.received += 1
        if msg.level > self.max_level or msg.level == 0:
            self.filtered += 1
            return None
        return record_to_json(msg, received)


def rotation_plan(path: str, backups: int) -> list[tuple[str, str | None]]:
    """File moves that rotate ``path``: (src, dst) renames, newest last; dst None = delete.

    ``path.N`` is the N-th most recent full file; ``path.{backups}`` falls off the end. With
    ``backups`` 0 the current file is deleted (spec/zrelog.md#rotation)."""
    if backups <= 0:
        return [(path, None)]
    plan: list[tuple[str, str | None]] = [(f"{path}.{backups}", None)]
    for i in range(backups - 1, 0, -1):
        plan.append((f"{path}.{i}", f"{path}.{i + 1}"))
    plan.append((path, f"{path}.1"))
    return plan


class RotationPolicy:
    """When to rotate: before a line that would take the file past ``max_bytes`` (a line longer
    than ``max_bytes`` still goes into a file of its own, so no record is ever split or lost)."""

    def __init__(self, max_bytes: int, current_size: int = 0) -> None:
        self.max_bytes = max_bytes
        self.size = current_size

    def should_rotate(self, line_bytes: int) -> bool:
        return self.max_bytes > 0 and self.size > 0 and self.size + line_bytes > self.max_bytes

    def rotated(self) -> None:
        self.size = 0

    def wrote(self, line_bytes: int) -> None:
        self.size += line_bytes


class RateTable:
    """Events per node per second over a sliding window, for ``--follow`` (spec/zrelog.md#collector).

    Memory is bounded whatever the record rate: counts are kept per tenth of the window (the
    window slides in those steps), for at most ``max_nodes`` nodes per step; records of further
    nodes count under ``"(other)"``.
    """

    #: steps per window
    STEPS = 10

    def __init__(self, window: float = 1.0, *, max_nodes: int = DEFAULT_MAX_RATE_NODES) -> None:
        self.window = window
        self.max_nodes = max_nodes
        self._step = window / self.STEPS
        #: (step number, {node: {event: count}}), oldest first; at most STEPS + 1 of them
        self._steps: deque[tuple[int, dict[str, dict[str, int]]]] = deque()

    def _step_of(self, now: float) -> int:
        return math.floor(now / self._step + 1e-9)

    def _drop_old(self, now: float) -> None:
        first = math.ceil((now - self.window) / self._step - 1e-9)  # steps after now - window
        while self._steps and self._steps[0][0] < first:
            self._steps.popleft()

    def add(self, record: dict[str, Any], now: float) -> None:
        step = self._step_of(now)
        if not self._steps or self._steps[-1][0] != step:
            self._drop_old(now)
            self._steps.append((step, {}))
        counts = self._steps[-1][1]
        node = str(record["node"])
        if node not in counts and len(counts) >= self.max_nodes:
            node = OTHER_NODE
        events = counts.setdefault(node, {})
        event = str(record["event"])
        events[event] = events.get(event, 0) + 1

    def counters(self) -> int:
        """Counters held (bounded by (STEPS + 1) x (max_nodes + 1) x events)."""
        return sum(len(events) for _, counts in self._steps for events in counts.values())

    def rates(self, now: float) -> dict[str, dict[str, float]]:
        self._drop_old(now)
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for _, counts in self._steps:
            for node, events in counts.items():
                for event, n in events.items():
                    out[node][event] = out[node].get(event, 0.0) + n / self.window
        return dict(out)

    def render(self, now: float) -> str:
        rates = self.rates(now)
        events = [e.name for e in Event if e is not Event.NONE] + ["NONE"]
        lines = ["node  " + " ".join(f"{e:>6}" for e in events)]
        for node in sorted(rates):
            lines.append(f"{node}  " + " ".join(f"{rates[node].get(e, 0):6.1f}" for e in events))
        return "\n".join(lines)
