"""Elections on a deterministic virtual network (spec/election.md#simulator).

Each node has what the election needs from a ZRE node and nothing else: the peers it knows, which
groups it is in, which groups each peer is in *as it has heard* (JOIN / LEAVE messages, in order per
link) and an :class:`~zre_ref.zre.election.Elections` core. Links deliver in order after a random
latency; a crashed node's peers hear of it (EXIT) after a detection delay, longer than any latency
(ZRE's expiry), and drop its later traffic. Entering is instant: the newcomer learns the others'
groups as from their HELLO (which starts no election in zyre) and has none itself, so its every
membership change is a JOIN or LEAVE message. Reproducible from the seed.
"""

from __future__ import annotations

import heapq
import random
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..zre.election import ElectionEffect, Elections, LeaderDecided, SendElect, SendLeader


@dataclass(eq=False)
class ElectionNode:
    """One node: its UUID (as zyre prints it), membership views and its election core."""

    uuid: str
    elections: Elections
    alive: bool = True
    own_groups: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)
    views: dict[str, set[str]] = field(default_factory=dict)  # group -> peers in it
    decided: list[tuple[float, str, str]] = field(default_factory=list)  # (time, group, leader)
    timer_gen: int = 0
    timer_at: float | None = None

    def members(self, group: str) -> set[str]:
        return self.views.setdefault(group, set())

    def leader(self, group: str) -> str | None:
        return self.elections.leader(group)


class ElectionNet:
    """Nodes, links and a clock (spec/election.md#simulator)."""

    def __init__(self, *, seed: int = 1, latency: tuple[float, float] = (0.001, 0.02),
                 exit_detection: tuple[float, float] = (0.1, 1.0), zyre_strict: bool = False,
                 restart_after: float = 2.0, max_events: int = 1_000_000) -> None:
        self.rng = random.Random(seed)
        self.latency = latency
        self.exit_detection = exit_detection
        self.zyre_strict = zyre_strict
        self.restart_after = restart_after
        self.max_events = max_events
        self.now = 0.0
        self.nodes: dict[str, ElectionNode] = {}
        self.messages = 0
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._link_last: dict[tuple[str, str], float] = {}

    # -- scheduling -------------------------------------------------------------------------------
    def at(self, when: float, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, fn, args))

    def run(self, until: float | None = None) -> None:
        """Run until nothing is left to happen (the network is quiet) or ``until``."""
        events = 0
        while self._queue and (until is None or self._queue[0][0] <= until):
            when, _, fn, args = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            fn(*args)
            events += 1
            if events > self.max_events:
                raise RuntimeError("election simulation did not go quiet")
        if until is not None:
            self.now = max(self.now, until)

    def quiet(self) -> bool:
        return not self._queue

    # -- the scenario -----------------------------------------------------------------------------
    def add_node(self, *, uuid: str | None = None, contest: tuple[str, ...] = ()) -> ElectionNode:
        """A node enters: every live node knows it at once (no groups yet)."""
        name = uuid or uuidlib.UUID(int=self.rng.getrandbits(128)).hex.upper()
        node = ElectionNode(name, Elections(name, zyre_strict=self.zyre_strict,
                                            restart_after=self.restart_after))
        for g in contest:
            node.elections.set_contest(g)
        for other in self.live():  # both say HELLO: the newcomer learns the groups (no election)
            other.known.add(name)
            node.known.add(other.uuid)
            for g in other.own_groups:
                node.members(g).add(other.uuid)
        self.nodes[name] = node
        return node

    def live(self) -> list[ElectionNode]:
        return [n for n in self.nodes.values() if n.alive]

    def join(self, node: ElectionNode, group: str) -> None:
        if node.alive and group not in node.own_groups:
            node.own_groups.add(group)
            for peer in sorted(node.known):
                self._send(node, peer, ("JOIN", group))

    def leave(self, node: ElectionNode, group: str) -> None:
        if node.alive and group in node.own_groups:
            node.own_groups.discard(group)
            node.elections.left(group)
            for peer in sorted(node.known):
                self._send(node, peer, ("LEAVE", group))

    def crash(self, node: ElectionNode) -> None:
        """The node dies; each peer notices after its own detection delay."""
        if not node.alive:
            return
        node.alive = False
        lo, hi = self.exit_detection
        for peer in sorted(node.known):
            self.at(self.now + self.rng.uniform(lo, hi), self._exit, peer, node.uuid)

    # -- delivery ---------------------------------------------------------------------------------
    def _send(self, src: ElectionNode, dst: str, msg: tuple[str, ...]) -> None:
        lo, hi = self.latency
        key = (src.uuid, dst)
        when = max(self.now + self.rng.uniform(lo, hi), self._link_last.get(key, 0.0) + 1e-9)
        self._link_last[key] = when
        self.messages += 1
        self.at(when, self._deliver, src.uuid, dst, msg)

    def _deliver(self, src: str, dst: str, msg: tuple[str, ...]) -> None:
        node = self.nodes[dst]
        if not node.alive or src not in node.known:
            return  # dead receiver, or a sender it already saw exit
        kind, group = msg[0], msg[1]
        members = node.members(group)
        core = node.elections
        in_group = group in node.own_groups
        if kind == "JOIN":
            members.add(src)
            self._apply(node, core.peer_joined(group, src, set(members), in_group=in_group,
                                                       now=self.now))
        elif kind == "LEAVE":
            members.discard(src)
            self._apply(node, core.peer_left(group, src, set(members), in_group=in_group,
                                                     now=self.now))
        elif kind == "ELECT":
            self._apply(node, core.on_elect(group, src, msg[2], set(members), self.now,
                                              in_group=in_group))
        elif kind == "LEADER":
            self._apply(node, core.on_leader(group, src, msg[2], set(members), self.now,
                                               in_group=in_group))

    def _exit(self, at: str, gone: str) -> None:
        node = self.nodes[at]
        if not node.alive or gone not in node.known:
            return
        node.known.discard(gone)
        for group, members in sorted(node.views.items()):
            if gone in members:
                members.discard(gone)
                self._apply(node, node.elections.peer_exited(
                    group, gone, set(members), in_group=group in node.own_groups, now=self.now))

    def _apply(self, node: ElectionNode, effects: list[ElectionEffect]) -> None:
        for e in effects:
            if isinstance(e, SendElect):
                for peer in e.to:
                    if peer in node.known:
                        self._send(node, peer, ("ELECT", e.group, e.challenger))
            elif isinstance(e, SendLeader):
                for peer in e.to:
                    if peer in node.known:
                        self._send(node, peer, ("LEADER", e.group, e.leader))
            elif isinstance(e, LeaderDecided):
                node.decided.append((self.now, e.group, e.leader))
        self._arm(node)

    def _arm(self, node: ElectionNode) -> None:
        """Schedule the core's next tick (an older schedule is void: ``timer_gen``)."""
        when = node.elections.next_deadline()
        if when is not None and when != node.timer_at:
            node.timer_gen += 1
            node.timer_at = when
            self.at(max(when, self.now), self._tick, node, node.timer_gen)

    def _tick(self, node: ElectionNode, gen: int) -> None:
        if not node.alive or gen != node.timer_gen:
            return
        node.timer_at = None
        members = {g: set(m) for g, m in node.views.items()}
        self._apply(node, node.elections.tick(self.now, lambda g: members.get(g, set())))

    # -- checks -----------------------------------------------------------------------------------
    def members_of(self, group: str) -> list[ElectionNode]:
        """Live nodes in ``group``."""
        return [n for n in self.live() if group in n.own_groups]

    def leaders(self, group: str) -> dict[str, str | None]:
        """Each live member's leader of ``group``."""
        return {n.uuid: n.leader(group) for n in self.members_of(group)}
