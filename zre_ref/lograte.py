"""Logs that stay useful under attack: one line now, then a count per interval.

A misbehaving peer must not be able to flood the log (spec/README.md#hostile-input). Every place
that logs something a peer can cause goes through a :class:`RateLimitedLog`: the first report of a
kind (a *key*, usually ``(what, peer)``) is logged at once; further reports of that key within
``interval`` seconds are only counted, and the next report after the interval (or :meth:`flush`)
logs one aggregated line: ``"1,234 more: malformed message from 127.0.0.1:5555 in the last 10.0 s"``.

Memory is bounded: at most ``max_keys`` keys are tracked; reports for further keys fold into one
``"(other)"`` key. The clock is passed in (``now``), so sans-IO cores can use it too.
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
    suppressed: int
    last_message: str


class RateLimitedLog:
    """Rate-limited, aggregating front of a :class:`logging.Logger`."""

    def __init__(self, logger: logging.Logger, *, interval: float = DEFAULT_INTERVAL,
                 max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[object, _Window] = {}
        self.total = 0
        """Every report ever made, logged or counted (for tests and stats)."""

    def report(self, now: float, level: int, key: object, fmt: str, *args: object) -> bool:
        """Log ``fmt % args`` unless ``key`` was logged less than ``interval`` ago.

        Returns True when a line was written.
        """
        self.total += 1
        if key not in self._windows and len(self._windows) >= self.max_keys:
            self._expire(now)
            if len(self._windows) >= self.max_keys:
                key = OTHER
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now, 0, "")
            self.logger.log(level, fmt, *args)
            return True
        if now - window.started < self.interval:
            window.suppressed += 1
            window.last_message = fmt % args if args else fmt
            return False
        self._emit_summary(level, window, now)
        self._windows[key] = _Window(now, 0, "")
        self.logger.log(level, fmt, *args)
        return True

    def warning(self, now: float, key: object, fmt: str, *args: object) -> bool:
        return self.report(now, logging.WARNING, key, fmt, *args)

    def info(self, now: float, key: object, fmt: str, *args: object) -> bool:
        return self.report(now, logging.INFO, key, fmt, *args)

    def flush(self, now: float, level: int = logging.WARNING) -> None:
        """Write the pending counts of every key whose interval has passed, and forget them."""
        for key, window in list(self._windows.items()):
            if now - window.started >= self.interval:
                self._emit_summary(level, window, now)
                del self._windows[key]

    def _expire(self, now: float) -> None:
        self.flush(now)

    def _emit_summary(self, level: int, window: _Window, now: float) -> None:
        if window.suppressed:
            self.logger.log(level, "%s more like: %s (in the last %.1f s)",
                            f"{window.suppressed:,}", window.last_message, now - window.started)
