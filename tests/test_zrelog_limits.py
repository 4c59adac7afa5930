"""ZRE/LOG cores under hostile load (spec/zrelog.md#limits): the collector's rate table and log
stay bounded whatever arrives; a publisher feeds at most ``max_collectors`` collectors however
many forged peers advertise one, and forgets them in O(1) per EXIT."""

from __future__ import annotations

import logging
import time

import pytest

from tests.test_zrelog_core import ME, entered
from zre_ref.zre.events import PeerExited
from zre_ref.zrelog import messages as m
from zre_ref.zrelog.collector import (
    MAX_RECORD_MESSAGE,
    OTHER_NODE,
    CollectorCore,
    RateTable,
)
from zre_ref.zrelog.publisher import ConnectCollector, DisconnectCollector, PublisherCore


def test_largest_record_fits_the_socket_limit() -> None:
    biggest = m.encode(m.Log(level=1, event=1, node=0xFFFF, peer=0xFFFF, time=2**64 - 1,
                             data="x" * m.MAX_DATA_BYTES))
    assert len(biggest) == 1 and len(biggest[0]) == 273 <= MAX_RECORD_MESSAGE


def test_rate_table_memory_is_bounded_under_a_flood() -> None:
    t = RateTable(window=1.0, max_nodes=8)
    for i in range(200_000):  # 100,000 records a second from 65,536 forged node ids
        t.add({"node": f"{i % 65536:04X}", "event": "ENTER"}, 10.0 + i / 100_000)
    assert t.counters() <= (RateTable.STEPS + 1) * 9  # 8 nodes + "(other)" per step, 1 event
    rates = t.rates(12.0)
    assert OTHER_NODE in rates
    assert sum(r["ENTER"] for r in rates.values()) == pytest.approx(100_000, rel=0.01)


def test_rate_table_slides_in_tenths_of_the_window() -> None:
    t = RateTable(window=1.0)
    t.add({"node": "0001", "event": "JOIN"}, 10.0)
    t.add({"node": "0001", "event": "JOIN"}, 10.55)
    assert t.rates(10.95) == {"0001": {"JOIN": 2.0}}
    assert t.rates(11.05) == {"0001": {"JOIN": 1.0}}
    assert t.rates(11.6) == {}


def test_malformed_records_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="zre_ref.zrelog.collector")
    core = CollectorCore(log_interval=10.0)
    for i in range(50_000):
        assert core.handle_frames([b"\xaa\xa2\x09garbage"], 1000.0 + i * 1e-4) is None
    assert core.malformed == 50_000
    assert len(caplog.records) == 1
    assert core.log.next_flush() == 1010.0
    core.log.flush(1010.0)
    assert caplog.records[-1].getMessage().startswith("49,999 more in the last 10.0 s like: "
                                                      "zrelog collector: malformed record")


def test_publisher_feeds_a_bounded_number_of_collectors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="zre_ref.zrelog.publisher")
    core = PublisherCore(ME, max_collectors=3)
    effects = []
    for i in range(1_000):  # forged peers, each naming a collector of its own
        effects += core.handle_event(entered(f"{i:032X}", f"tcp://10.0.0.1:{i + 1}",
                                             f"tcp://10.9.9.9:{i + 1}"), 100.0)
    assert effects == [ConnectCollector(f"tcp://10.9.9.9:{i}") for i in (1, 2, 3)]
    assert core.ignored_collectors == 997
    assert len(caplog.records) < 10
    # the first one leaves: its collector is dropped, and a later advertiser can take the place
    assert core.handle_event(PeerExited(peer_uuid=f"{0:032X}", peer_name="x"), 101.0) == [
        DisconnectCollector("tcp://10.9.9.9:1")]
    assert core.handle_event(entered("F" * 32, "tcp://10.0.0.2:1", "tcp://10.9.9.9:77"),
                             102.0) == [ConnectCollector("tcp://10.9.9.9:77")]


def test_peer_exits_cost_constant_work() -> None:
    """Every EXIT counted the peers still advertising its collector, a scan of every peer
    (quadratic under a flood of forged peers). Relative timing: 4x the peers, not 16x the work."""

    def exits(n: int) -> float:
        core = PublisherCore(ME)
        for i in range(n):
            core.handle_event(entered(f"{i:032X}", f"tcp://10.0.0.1:{i + 1}", "tcp://10.9.9.9:1"),
                              100.0)
        start = time.process_time()
        for i in range(n):
            core.handle_event(PeerExited(peer_uuid=f"{i:032X}", peer_name="x"), 101.0)
        assert core.collectors == []
        return time.process_time() - start

    small = min(exits(2_000) for _ in range(3))
    big = min(exits(8_000) for _ in range(2))
    assert big < 8 * max(small, 1e-4), (small, big)
