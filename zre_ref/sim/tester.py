"""The Guide's Zyre tester on the simulator (spec/zre.md#simulator; zyre src/ztester_beacon.c).

Behaviour per node, as in the tester: say hello (WHISPER) to every peer that ENTERs or EXITs;
answer a WHISPER half the time; answer a SHOUT with a WHISPER a third of the time and a SHOUT to
the group a third of the time; once a second join a random one of the groups (1 in 4), or else
leave one (1 in 3), or else (our addition, so SHOUT traffic starts somewhere) shout to one of
ours (1 in 2). Only such original SHOUTs are answered (the tester never starts a SHOUT, and
answering answers would grow without bound in groups of more than three). Every 0.5-1.0 s a random node slot is toggled: stopped if running, else started
with a fresh UUID (a quarter of the stops are crashes: no port-0 beacon). At the end the churn stops, the network settles, and the checks run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..zre.events import PeerEntered, PeerExited, ShoutReceived, WhisperReceived, ZreEvent
from .network import SimNode, Simulation


@dataclass
class TesterReport:
    """What a tester run did and what its checks found."""

    seed: int
    slots: int
    virtual_seconds: float
    wall_seconds: float = 0.0
    toggles: int = 0
    live_at_end: int = 0
    nodes_created: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    core_stats: dict[str, int] = field(default_factory=dict)
    group_view_errors: list[str] = field(default_factory=list)
    lost_messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.group_view_errors and not self.lost_messages

    def summary(self) -> str:
        return (f"seed={self.seed} slots={self.slots} virtual={self.virtual_seconds:.0f}s "
                f"wall={self.wall_seconds:.2f}s toggles={self.toggles} live={self.live_at_end} "
                f"created={self.nodes_created} msgs={self.counters.get('messages_delivered', 0)} "
                f"beacons={self.counters.get('beacons_delivered', 0)} "
                f"events={self.counters.get('events', 0)} stats={self.core_stats} "
                f"view_errors={len(self.group_view_errors)} lost={len(self.lost_messages)}")


class Tester:
    """Drive a :class:`Simulation` the way the Guide's tester drives real zyre nodes."""

    def __init__(self, slots: int = 100, *, groups: int = 10, seed: int = 1,
                 segments: int = 1, crash_ratio: float = 0.25, **sim_kwargs: Any) -> None:
        self.sim = Simulation(seed, **sim_kwargs)
        self.rng = self.sim.rng
        self.slots: list[SimNode | None] = [None] * slots
        self.groups = [f"GROUP{i:03d}" for i in range(groups)]
        self.segments = segments
        self.crash_ratio = crash_ratio
        self.churning = True
        self.toggles = 0
        self.created = 0

    # -- node behaviour ----------------------------------------------------------------------
    def _token(self, node: SimNode, kind: str = "r") -> bytes:
        n = node.state["counter"] = node.state.get("counter", 0) + 1
        return f"{kind}:{node.core.name}:{n}".encode()

    def _on_event(self, node: SimNode, event: ZreEvent) -> None:
        rng = self.rng
        core = node.core
        effects = []
        if isinstance(event, (PeerEntered, PeerExited)):
            effects += core.whisper(event.peer_uuid, [self._token(node)])
        elif isinstance(event, WhisperReceived):
            if rng.randrange(2) == 0:
                effects += core.whisper(event.peer_uuid, [self._token(node)])
        elif isinstance(event, ShoutReceived) and event.content[-1].startswith(b"o:"):
            if rng.randrange(3) == 0:
                effects += core.whisper(event.peer_uuid, [self._token(node)])
            if rng.randrange(3) == 0:
                effects += core.shout(event.group, [self._token(node)])
        if effects:
            self.sim.apply(node, effects)

    def _tick(self, node: SimNode) -> None:
        if not node.alive or not self.churning:
            return
        rng = self.rng
        core = node.core
        group = self.groups[rng.randrange(len(self.groups))]
        if rng.randrange(4) == 0:
            effects = core.join(group)
        elif rng.randrange(3) == 0:
            effects = core.leave(group)
        elif rng.randrange(2) == 0 and core.own_groups:
            mine = list(core.own_groups)
            effects = core.shout(mine[rng.randrange(len(mine))], [self._token(node, "o")])
        else:
            effects = []
        if effects:
            self.sim.apply(node, effects)
        self.sim.at(self.sim.now + 1.0, self._tick, node)

    # -- churn ---------------------------------------------------------------------------------
    def start_slot(self, i: int) -> SimNode:
        segment = i % self.segments
        node = self.sim.add_node(ip=f"10.{segment}.{i // 250}.{i % 250 + 1}",
                                 port=49152 + self.rng.randrange(2),  # reuse endpoints at times
                                 segment=segment, on_event=self._on_event)
        self.slots[i] = node
        self.created += 1
        self.sim.at(self.sim.now + self.rng.random(), self._tick, node)
        return node

    def _toggle(self) -> None:
        if not self.churning:
            return
        i = self.rng.randrange(len(self.slots))
        node = self.slots[i]
        if node is not None:
            if self.rng.random() < self.crash_ratio:
                self.sim.crash_node(node)  # gone without a port-0 beacon: peers must expire it
            else:
                self.sim.stop_node(node)
            self.slots[i] = None
        else:
            self.start_slot(i)
        self.toggles += 1
        self.sim.at(self.sim.now + 0.5 + self.rng.random() * 0.5, self._toggle)

    # -- run -----------------------------------------------------------------------------------
    def run(self, duration: float, *, settle: float = 40.0, initial: int | None = None) -> TesterReport:
        """Start ``initial`` slots (default: all), churn for ``duration``, settle, check."""
        t0 = time.perf_counter()
        sim = self.sim
        count = len(self.slots) if initial is None else initial
        for i in range(count):
            sim.at(self.rng.random(), self.start_slot, i)
        sim.at(1.0, self._toggle)
        sim.run_until(duration)
        self.churning = False
        sim.run_until(duration + settle)
        report = TesterReport(seed=0, slots=len(self.slots), virtual_seconds=duration + settle)
        report.wall_seconds = time.perf_counter() - t0
        report.toggles = self.toggles
        report.nodes_created = self.created
        report.live_at_end = len(sim.live_nodes())
        report.counters = dict(sim.counters)
        stats: dict[str, int] = {}
        for node in sim.nodes:
            for key in ("sequence_gaps", "status_mismatches", "dropped_malformed", "purges",
                        "hello_rebuilds", "send_blocked"):
                stats[key] = stats.get(key, 0) + getattr(node.core.stats, key)
        report.core_stats = stats
        report.group_view_errors = sim.group_view_errors()
        report.lost_messages = sim.lost_messages()
        return report


def run_tester(slots: int = 100, duration: float = 60.0, *, seed: int = 1, settle: float = 40.0,
               **kwargs: Any) -> TesterReport:
    """One seeded tester run; see :class:`Tester`."""
    tester = Tester(slots, seed=seed, **kwargs)
    report = tester.run(duration, settle=settle)
    report.seed = seed
    return report
