"""The deterministic simulator and the Guide's tester on it (spec/zre.md#simulator)."""

from __future__ import annotations

import pytest

from zre_ref.sim import Simulation, run_tester
from zre_ref.sim.network import SimNode
from zre_ref.zre.beacon import Beacon
from zre_ref.zre.events import PeerEntered, PeerExited, ShoutReceived, WhisperReceived
from zre_ref.zre.messages import ZRE, Hello


def test_guide_tester_100_nodes_60_virtual_seconds() -> None:
    report = run_tester(100, 60.0, seed=1)
    assert report.toggles > 50 and report.live_at_end > 30
    assert report.counters["messages_delivered"] > 10_000
    assert report.group_view_errors == []
    assert report.lost_messages == []
    assert report.core_stats["sequence_gaps"] == 0
    assert report.core_stats["status_mismatches"] == 0


def test_tester_is_reproducible_from_its_seed() -> None:
    a = run_tester(20, 15.0, seed=7, settle=35.0)
    b = run_tester(20, 15.0, seed=7, settle=35.0)
    c = run_tester(20, 15.0, seed=8, settle=35.0)
    assert a.ok and c.ok
    assert (a.counters, a.toggles, a.nodes_created) == (b.counters, b.toggles, b.nodes_created)
    assert a.counters != c.counters


def test_tester_with_latency_jitter_and_beacon_loss() -> None:
    report = run_tester(30, 20.0, seed=3, latency=0.02, jitter=0.05, beacon_loss=0.3)
    assert report.ok, (report.group_view_errors[:3], report.lost_messages[:3])


def _mesh(sim: Simulation, n: int, **kw: object) -> list:  # type: ignore[type-arg]
    nodes = [sim.add_node(name=f"n{i}", **kw) for i in range(n)]  # type: ignore[arg-type]
    sim.run_for(2.0)
    return nodes


def test_partition_drops_peers_and_heal_rebuilds_consistent_views() -> None:
    sim = Simulation(seed=2, record_events=True)
    nodes = _mesh(sim, 6)
    for n in nodes:
        sim.apply(n, n.core.join("ALL"))
    sim.run_for(1.0)
    left, right = nodes[:3], nodes[3:]
    sim.partition(left, right)
    for n in left:  # traffic into the cut is lost, so the far side sees a gap later
        sim.apply(n, n.core.shout("ALL", [b"lost"]))
    sim.apply(right[0], right[0].core.join("RIGHT"))
    sim.run_for(35.0)  # expired: each side EXITs the other
    for n in left:
        assert sorted(n.core.ready_peers()) == sorted(m.uuid for m in left if m is not n)
    sim.heal()
    sim.run_for(5.0)
    assert sim.group_view_errors() == []
    exits = [e for n in nodes if n.events for e in n.events if isinstance(e, PeerExited)]
    assert len(exits) >= 18  # 3 x 3 in each direction
    assert sim.lost_messages() == []


def test_short_partition_sequence_gap_exits_and_recovers() -> None:
    sim = Simulation(seed=4, record_events=True)
    a, b = _mesh(sim, 2)
    sim.partition([a], [b])
    sim.apply(a, a.core.whisper(b.uuid, [b"into the void"]))
    sim.run_for(0.5)
    sim.heal()
    sim.apply(a, a.core.whisper(b.uuid, [b"after"]))  # arrives with a sequence gap
    sim.run_for(3.0)
    assert b.core.stats.sequence_gaps == 1
    assert b.events is not None
    kinds = [type(e).__name__ for e in b.events if isinstance(e, (PeerEntered, PeerExited))]
    assert kinds == ["PeerEntered", "PeerExited", "PeerEntered"]  # dropped, then rebuilt
    assert sim.group_view_errors() == []


def _exits(node: SimNode, name: str) -> int:
    assert node.events is not None
    return sum(isinstance(e, PeerExited) and e.peer_name == name for e in node.events)


def _pair(seed: int) -> tuple[Simulation, SimNode, SimNode]:
    sim = Simulation(seed=seed, record_events=True)
    a = sim.add_node(name="a", ip="10.0.0.1", port=50000)
    b = sim.add_node(name="b", ip="10.0.0.2", port=50000)
    for n in (a, b):
        sim.apply(n, n.core.join("G"))
    sim.run_for(2.0)
    assert sim.group_view_errors() == []
    return sim, a, b


def test_crash_then_restart_on_the_same_endpoint_with_a_new_uuid() -> None:
    """The old peer stops answering: after claim_timeout it is removed (EXIT) and the new one,
    at the same endpoint, is connected (spec/zre.md#endpoint-claims)."""
    sim, a, b = _pair(5)
    sim.crash_node(b)
    b2 = sim.add_node(name="b2", ip="10.0.0.2", port=50000)
    sim.apply(b2, b2.core.join("G"))
    sim.run_for(a.core.claim_timeout + 2.0)
    assert a.core.stats.purges == 1 and a.core.peer(b.uuid) is None
    assert _exits(a, "b") == 1
    assert sim.group_view_errors() == []
    sim.apply(a, a.core.shout("G", [b"to b2"]))
    sim.run_for(0.1)
    assert b2.received.get(a.uuid) == {b"to b2"}
    assert sim.lost_messages() == []


def test_crash_then_restart_with_the_same_uuid_rebuilds_once() -> None:
    sim, a, b = _pair(6)
    sim.crash_node(b)
    sim.run_for(0.5)
    b_again = sim.add_node(name="b", ip="10.0.0.2", port=50000, uuid=b.core.uuid)
    sim.apply(b_again, b_again.core.join("G"))
    sim.run_for(3.0)
    assert a.core.stats.hello_rebuilds == 1 and _exits(a, "b") == 1
    assert sim.group_view_errors() == []


def test_new_node_on_a_departed_nodes_port() -> None:
    sim, a, b = _pair(7)
    sim.stop_node(b)  # port-0 beacon: a removes b at once
    sim.run_for(0.5)
    c = sim.add_node(name="c", ip="10.0.0.2", port=50000)
    sim.run_for(1.5)
    assert a.core.stats.claims == 0  # nobody held the endpoint any more
    assert a.core.peer(c.uuid) is not None and a.core.peer(c.uuid).entered  # type: ignore[union-attr]
    assert sim.group_view_errors() == []


FORGED = bytes(range(100, 116))


@pytest.mark.parametrize("attack", ["beacon", "hello", "hello-as-b", "hello-as-a"])
def test_forged_packets_cannot_make_two_nodes_rebuild_each_other(attack: str) -> None:
    """A beacon or HELLO from a new UUID naming b's endpoint (or a HELLO claiming to come from
    b itself), sent to a ten times a second for 20 s: a and b stay together; a spoofed HELLO
    costs at most one rebuild on each side per restart_holdoff (spec/zre.md#restarts)."""
    sim, a, b = _pair(8)
    forged_hello = ZRE.encode(Hello(sequence=1, endpoint=b.endpoint, groups=("G",), status=1,
                                    name="forged", headers={}))
    for _ in range(200):
        when = sim.now + 0.1
        if attack == "beacon":
            sim.forge_beacon(a, Beacon(uuid=FORGED, port=50000), "10.0.0.2")
        elif attack == "hello":
            sim.forge_message(a, b"\x01" + FORGED, forged_hello)
        elif attack == "hello-as-b":
            sim.forge_message(a, b"\x01" + b.core.uuid_bytes, forged_hello)
        else:  # to b, claiming to be a, naming a's endpoint
            sim.forge_message(b, b"\x01" + a.core.uuid_bytes, ZRE.encode(Hello(
                sequence=1, endpoint=a.endpoint, groups=("G",), status=1, name="a", headers={})))
        sim.run_until(when)
    sim.run_for(5.0)
    rebuilds = a.core.stats.hello_rebuilds + b.core.stats.hello_rebuilds
    if attack in ("beacon", "hello"):
        assert rebuilds == 0 and _exits(a, "b") == 0 and _exits(b, "a") == 0
        assert a.core.stats.claims_refused >= 1 and a.core.stats.purges == 0
    else:  # 200 spoofed HELLOs over 20 s: at most one rebuild per holdoff and side
        bound = 2 * (20.0 / a.core.restart_holdoff + 1)
        assert rebuilds <= bound, rebuilds
    assert sim.group_view_errors() == []
    sim.apply(a, a.core.whisper(b.uuid, [b"still there"]))
    sim.run_for(0.1)
    assert b"still there" in b.received.get(a.uuid, set())


def test_direct_mode_without_beacons() -> None:
    sim = Simulation(seed=6, record_events=True)
    nodes = [sim.add_node(name=f"d{i}", beacon_interval=None) for i in range(3)]
    for n in nodes:
        for m in nodes:
            if m is not n:
                sim.apply(n, n.core.connect_peer(m.endpoint))
    sim.run_for(1.0)
    assert sim.group_view_errors() == []
    assert sim.counters["beacons_sent"] == 0
    a, b, _ = nodes
    sim.apply(a, a.core.join("G"))
    sim.apply(b, b.core.join("G"))
    sim.run_for(0.1)
    sim.apply(a, a.core.shout("G", [b"hi"]))
    sim.apply(a, a.core.whisper(b.uuid, [b"psst"]))
    sim.run_for(0.1)
    assert b.events is not None
    got = [e for e in b.events if isinstance(e, (ShoutReceived, WhisperReceived))]
    assert [e.content for e in got] == [(b"hi",), (b"psst",)]
    # direct links come back after the peer restarts elsewhere... here: after it stops
    sim.stop_node(b)
    sim.run_for(31.0)
    assert a.core.peer(b.uuid) is None
