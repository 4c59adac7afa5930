"""Logs that stay useful under attack: one line now, then a count per interval.

A misbehaving peer must not be able to flood the log (spec/README.md#hostile-input). Every place
that logs something a peer can cause goes through a :class:`RateLimitedLog`: the first report of a
kind (a *key*, usually ``(what, peer)``) is logged at once; further reports of that key within
``interval`` seconds are only counted, and the next report after the interval (or :meth:`flush`,
due at :meth:`next_flush`) logs one aggregated line:
``"1,234 more in the last 10.0 s like: zpipes: malformed message from 0a1b2c3d: ..."``.

Memory is bounded: at most ``max_keys`` keys are tracked; reports for further keys fold into one
``"(other)"`` key. A suppressed report keeps only its format and arguments (formatted once, when
the summary is written). The clock is passed in (``now``), so sans-IO cores can use it too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

DEFAULT_INTERVAL = 10.0
"""Seconds between two lines for the same key."""
DEFAULT_MAX_KEYS = 256
"""Keys tracked at once; more fold into one ``(other)`` key."""
OTHER = "(other)"


@dataclass
class _Window:
    started: float
    level: int
    suppressed: int = 0
    last_fmt: str = ""
    last_args: tuple[object, ...] = ()


class RateLimitedLog:
    """Rate-limited, aggregating front of a :class:`logging.Logger`."""

    def __init__(self, logger: logging.Logger, *, interval: float = DEFAULT_INTERVAL,
                 max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if interval <= 0 or max_keys < 1:
            raise ValueError("interval and max_keys must be positive")
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[object, _Window] = {}
        #: earliest time a window holding suppressed reports may be summarised, or None
        self._due: float | None = None
        self.total = 0
        """Every report ever made, logged or counted (for tests and stats)."""
        self.written = 0
        """Lines written to the logger (first reports and summaries)."""

    def report(self, now: float, level: int, key: object, fmt: str, *args: object) -> bool:
        """Log ``fmt % args`` unless ``key`` was logged less than ``interval`` ago.

        Returns True when a line was written.
        """
        self.total += 1
        if not self.logger.isEnabledFor(level):
            return False
        if key not in self._windows and len(self._windows) >= self.max_keys:
            self.flush(now)
            if len(self._windows) >= self.max_keys:
                key = OTHER
        window = self._windows.get(key)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            window.level = max(window.level, level)
            window.last_fmt, window.last_args = fmt, args
            due = window.started + self.interval
            if self._due is None or due < self._due:
                self._due = due
            return False
        if window is not None:
            self._summarise(window, now)
        self._windows[key] = _Window(now, level)
        self.logger.log(level, fmt, *args)
        self.written += 1
        return True

    def warning(self, now: float, key: object, fmt: str, *args: object) -> bool:
        return self.report(now, logging.WARNING, key, fmt, *args)

    def info(self, now: float, key: object, fmt: str, *args: object) -> bool:
        return self.report(now, logging.INFO, key, fmt, *args)

    def debug(self, now: float, key: object, fmt: str, *args: object) -> bool:
        return self.report(now, logging.DEBUG, key, fmt, *args)

    def next_flush(self) -> float | None:
        """When :meth:`flush` has a summary to write (None: nothing is suppressed)."""
        return self._due

    def flush(self, now: float) -> None:
        """Summarise every key whose interval has passed, and forget it."""
        due: float | None = None
        for key, window in list(self._windows.items()):
            end = window.started + self.interval
            if now >= end:
                self._summarise(window, now)
                del self._windows[key]
            elif window.suppressed and (due is None or end < due):
                due = end
        self._due = due

    def _summarise(self, window: _Window, now: float) -> None:
        if window.suppressed:
            line = window.last_fmt % window.last_args if window.last_args else window.last_fmt
            self.logger.log(window.level, "%s more in the last %.1f s like: %s",
                            f"{window.suppressed:,}", now - window.started, line)
            self.written += 1
