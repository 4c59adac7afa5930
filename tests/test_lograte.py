"""zre_ref.lograte.RateLimitedLog: one line now, then one aggregated line per key and interval
(spec/README.md#hostile-input)."""

from __future__ import annotations

import logging

import pytest

from zre_ref.lograte import OTHER, RateLimitedLog


@pytest.fixture
def logger(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.DEBUG, logger="test.lograte")
    return logging.getLogger("test.lograte")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [rec.getMessage() for rec in caplog.records]


def test_first_report_logged_then_counted_then_summarised(
        logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    rl = RateLimitedLog(logger, interval=10.0)
    assert rl.warning(0.0, "k", "bad message from %s", "A") is True
    for i in range(1, 1235):
        assert rl.warning(i / 1000, "k", "bad message from %s (%d)", "A", i) is False
    assert _lines(caplog) == ["bad message from A"]
    assert rl.next_flush() == 10.0
    rl.flush(9.9)  # not yet
    assert len(caplog.records) == 1
    rl.flush(12.0)
    assert _lines(caplog)[1] == "1,234 more in the last 12.0 s like: bad message from A (1234)"
    assert caplog.records[1].levelno == logging.WARNING
    assert rl.next_flush() is None
    assert rl.total == 1235 and rl.written == 2
    # the key was forgotten: the next report is logged at once
    assert rl.warning(13.0, "k", "again") is True


def test_report_after_the_interval_summarises_and_logs(
        logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    rl = RateLimitedLog(logger, interval=1.0)
    rl.info(0.0, "k", "one")
    rl.info(0.5, "k", "two")
    assert rl.info(1.5, "k", "three") is True
    assert _lines(caplog) == ["one", "1 more in the last 1.5 s like: two", "three"]


def test_keys_are_independent(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    rl = RateLimitedLog(logger)
    rl.warning(0.0, ("malformed", b"a"), "from a")
    rl.warning(0.0, ("malformed", b"b"), "from b")
    rl.warning(0.1, ("malformed", b"a"), "from a")
    assert _lines(caplog) == ["from a", "from b"]


def test_tracked_keys_are_bounded(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    rl = RateLimitedLog(logger, interval=10.0, max_keys=4)
    for i in range(10_000):  # an attacker with many identities
        rl.warning(0.0, ("malformed", i), "from %d", i)
    assert len(caplog.records) == 5  # 4 keys, then one line for every other key
    assert _lines(caplog)[-1] == "from 4"
    rl.flush(10.0)
    assert _lines(caplog)[-1] == "9,995 more in the last 10.0 s like: from 9999"
    assert len(caplog.records) == 6
    assert OTHER == "(other)"


def test_full_table_makes_room_once_windows_have_passed(
        logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    rl = RateLimitedLog(logger, interval=1.0, max_keys=2)
    rl.info(0.0, "a", "a")
    rl.info(0.0, "b", "b")
    assert rl.info(5.0, "c", "c") is True  # a and b have expired: c gets its own key
    assert rl.info(5.1, "d", "d") is True
    assert rl.info(5.2, "e", "e") is True  # full again: e opens the shared "(other)" key
    assert rl.info(5.3, "f", "f") is False  # ... which f shares: counted, not logged


def test_disabled_level_costs_nothing(logger: logging.Logger,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="test.lograte")
    rl = RateLimitedLog(logger)
    for i in range(100):
        assert rl.info(0.0, ("k", i), "quiet") is False
    assert caplog.records == [] and rl.next_flush() is None and rl.total == 100


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        RateLimitedLog(logging.getLogger("x"), interval=0)
    with pytest.raises(ValueError):
        RateLimitedLog(logging.getLogger("x"), max_keys=0)
