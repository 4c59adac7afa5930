"""ZRE/LOG publisher and collector cores (sans-IO): discovery, records, filter, rotation, rates."""

from __future__ import annotations

from typing import Any

from zre_ref.zre.events import PeerEntered, PeerExited, PeerJoined, PeerLeft
from zre_ref.zrelog import messages as m
from zre_ref.zrelog.collector import (
    CollectorCore,
    RateTable,
    RotationPolicy,
    iso_time,
    record_to_json,
    rotation_plan,
)
from zre_ref.zrelog.messages import Event, Level, endpoint_hash
from zre_ref.zrelog.publisher import ConnectCollector, DisconnectCollector, PublisherCore

ME = "tcp://127.0.0.1:5670"
PEER_EP = "tcp://127.0.0.1:5671"
COLL = "tcp://127.0.0.1:9999"


def entered(uuid: str, endpoint: str, collector: str | None = None) -> PeerEntered:
    headers = {"X-ZRELOG": collector} if collector else {}
    return PeerEntered(peer_uuid=uuid, peer_name=uuid[:6], headers=headers, endpoint=endpoint)


def records(core: PublisherCore) -> list[m.Log]:
    return [m.decode(f) for f in core.drain()]


def test_collector_found_from_hello_header_and_dropped_on_exit() -> None:
    core = PublisherCore(ME)
    assert core.handle_event(entered("A" * 32, "tcp://127.0.0.1:7000", COLL), 100.0) == [
        ConnectCollector(COLL)]
    assert core.collectors == [COLL]
    # a second peer advertising the same collector: connect once only
    assert core.handle_event(entered("B" * 32, "tcp://127.0.0.1:7001", COLL), 100.0) == []
    assert core.handle_event(PeerExited(peer_uuid="A" * 32, peer_name="A"), 101.0) == []
    assert core.handle_event(PeerExited(peer_uuid="B" * 32, peer_name="B"), 102.0) == [
        DisconnectCollector(COLL)]
    assert core.collectors == []


def test_records_for_enter_join_leave_exit() -> None:
    core = PublisherCore(ME)
    core.handle_event(entered("C" * 32, COLL.replace("9999", "7000"), COLL), 1400000000.7)
    core.handle_event(entered("D" * 32, PEER_EP), 1400000001.0)
    core.handle_event(PeerJoined(peer_uuid="D" * 32, peer_name="D", group="GLOBAL"), 1400000002.0)
    core.handle_event(PeerLeft(peer_uuid="D" * 32, peer_name="D", group="GLOBAL"), 1400000003.0)
    core.handle_event(PeerExited(peer_uuid="D" * 32, peer_name="D"), 1400000004.0)
    got = records(core)
    assert [r.event for r in got] == [Event.ENTER, Event.ENTER, Event.JOIN, Event.LEAVE, Event.EXIT]
    assert all(r.node == endpoint_hash(ME) == 0x6FC8 and r.level == Level.INFO for r in got)
    assert got[0].time == 1400000000  # whole seconds
    assert got[1].peer == endpoint_hash(PEER_EP) and got[4].peer == endpoint_hash(PEER_EP)
    assert got[2].data == "GLOBAL"


def test_no_collector_no_records_and_disabled_switch() -> None:
    core = PublisherCore(ME)
    core.handle_event(entered("D" * 32, PEER_EP), 1.0)
    assert records(core) == []
    core.handle_event(entered("C" * 32, "tcp://x:1", COLL), 1.0)
    core.enabled = False
    core.handle_event(PeerJoined(peer_uuid="C" * 32, peer_name="C", group="G"), 2.0)
    assert [r.event for r in records(core)] == [Event.ENTER]
    core.enabled = True
    core.handle_event(PeerJoined(peer_uuid="C" * 32, peer_name="C", group="G"), 2.0)
    assert [r.event for r in records(core)] == [Event.JOIN]


def test_send_recv_only_when_verbose() -> None:
    core = PublisherCore(ME)
    core.handle_event(entered("C" * 32, "tcp://x:1", COLL), 1.0)
    core.drain()
    core.record_send("C" * 32, "SHOUT", 3, 2.0)
    assert records(core) == []
    core.verbose = True
    core.record_send("C" * 32, "SHOUT", 3, 2.0)
    core.record_recv("C" * 32, "PING", 4, 2.0)
    a, b = records(core)
    assert (a.event, a.data, a.peer) == (Event.SEND, "seq=3 command=SHOUT", endpoint_hash("C" * 32))
    assert b.event == Event.RECV


def test_full_outbox_drops_and_counts() -> None:
    core = PublisherCore(ME, max_outbox=3)
    core.handle_event(entered("C" * 32, "tcp://x:1", COLL), 1.0)
    for i in range(10):
        core.warning(f"w{i}", 2.0)
    assert len(core.drain()) == 3 and core.dropped == 8  # the ENTER + 2 warnings kept


def test_long_data_clipped_to_255_bytes() -> None:
    core = PublisherCore(ME)
    core.handle_event(entered("C" * 32, "tcp://x:1", COLL), 1.0)
    core.drain()
    core.error("é" * 200, 1.0)
    (rec,) = records(core)
    assert len(rec.data.encode()) <= 255 and rec.level == Level.ERROR and rec.event == 0


def test_collector_core_json_and_level_filter() -> None:
    msg = m.Log(level=Level.INFO, event=Event.ENTER, node=0x6FC8, peer=1, time=1400000000, data="")
    obj = record_to_json(msg, 1400000000.25)
    assert obj == {"node": "6FC8", "peer": "0001", "level": "INFO", "event": "ENTER",
                   "time": "2014-05-13T16:53:20Z", "time_s": 1400000000, "data": "",
                   "received": "2014-05-13T16:53:20.250Z"}
    core = CollectorCore(max_level=Level.WARNING)
    assert core.handle_frames(m.encode(msg), 0.0) is None and core.filtered == 1
    warn = m.Log(level=Level.WARNING, event=0, node=1, peer=2, time=3, data="careful")
    assert core.handle_frames(m.encode(warn), 0.0)["event"] == "NONE"  # type: ignore[index]
    assert core.handle_frames([b"\xaa\xa1junk"], 0.0) is None and core.malformed == 1
    odd = record_to_json(m.Log(level=9, event=42, node=0, peer=0, time=2**64 - 1, data=""), 0)
    assert odd["level"] == "LEVEL-9" and odd["event"] == "EVENT-42" and odd["time"].startswith("@")


def test_iso_time() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time(1.5) == "1970-01-01T00:00:01.500Z"


def test_rotation_plan_and_policy(tmp_path: Any) -> None:
    p = str(tmp_path / "log.jsonl")
    assert rotation_plan(p, 2) == [(p + ".2", None), (p + ".1", p + ".2"), (p, p + ".1")]
    assert rotation_plan(p, 0) == [(p, None)]
    pol = RotationPolicy(100)
    assert not pol.should_rotate(500)  # an empty file takes any line
    pol.wrote(60)
    assert not pol.should_rotate(40) and pol.should_rotate(41)
    pol.rotated()
    assert pol.size == 0
    assert not RotationPolicy(0, 10**9).should_rotate(10)  # 0 = never


def test_rate_table() -> None:
    t = RateTable(window=1.0)
    for i in range(4):
        t.add({"node": "6FC8", "event": "ENTER"}, 10.0 + i * 0.1)
    t.add({"node": "0001", "event": "JOIN"}, 10.5)
    assert t.rates(10.6) == {"6FC8": {"ENTER": 4.0}, "0001": {"JOIN": 1.0}}
    assert t.rates(11.25) == {"6FC8": {"ENTER": 1.0}, "0001": {"JOIN": 1.0}}
    assert "6FC8" in t.render(10.6)
