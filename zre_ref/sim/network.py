"""A deterministic virtual network for ZRE node cores (spec/zre.md#simulator).

Many :class:`~zre_ref.zre.node.NodeCore` objects run on one virtual clock. Effects become
scheduled deliveries: beacons go to every live node in the same segment (with optional loss),
DEALER links deliver frames in order after a latency to whichever node listens on the endpoint
*at delivery time* (so a restarted node on a reused endpoint gets the old peer's traffic, as it
would over a reconnecting ZeroMQ socket). Partitions drop both. Everything random comes from one
seeded :class:`random.Random`, so a run is reproducible from its seed.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import DecodeError
from ..zre.beacon import Beacon, decode_beacon
from ..zre.events import ShoutReceived, WhisperReceived, ZreEvent
from ..zre.node import (
    ConnectPeer,
    DisconnectPeer,
    Effect,
    NodeCore,
    SendBeacon,
    SendToPeer,
    SendToPeers,
)

log = logging.getLogger(__name__)

#: ZRE message ids whose content the loss check follows (spec/zre.md#message-layout)
_WHISPER_ID = 2
_SHOUT_ID = 3

EventHook = Callable[["SimNode", ZreEvent], None]


@dataclass(slots=True, eq=False)
class Conn:
    """One virtual DEALER link: ordered, from ``src`` to whoever listens on ``endpoint``."""

    src: SimNode
    link: str
    endpoint: str
    identity: bytes
    open: bool = True
    last_at: float = 0.0
    #: listener when the first WHISPER/SHOUT was sent, and their content tokens
    target: SimNode | None = None
    tokens: list[bytes] = field(default_factory=list)
    #: something sent on this link was dropped on purpose (partition, dead or changed receiver)
    broken: bool = False


@dataclass(slots=True, eq=False)
class SimNode:
    """A node core plus its virtual host: address, links and what it received."""

    index: int
    core: NodeCore
    ip: str
    segment: int = 0
    alive: bool = True
    links: dict[str, Conn] = field(default_factory=dict)
    on_event: EventHook | None = None
    events: list[ZreEvent] | None = None
    #: sender uuid -> content tokens (last content frame) of WHISPERs/SHOUTs received
    received: dict[str, set[bytes]] = field(default_factory=dict)
    timer_gen: int = 0
    timer_at: float | None = None
    #: effects are applied in order, never re-entered: an event hook's effects wait here
    applying: bool = False
    deferred: list[Effect] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        return self.core.uuid

    @property
    def endpoint(self) -> str:
        return self.core.endpoint


class Simulation:
    """Virtual clock + network running node cores (spec/zre.md#simulator)."""

    def __init__(
        self,
        seed: int = 0,
        *,
        latency: float = 0.0005,
        jitter: float = 0.0005,
        beacon_loss: float = 0.0,
        record_events: bool = False,
        track_content: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.latency = latency
        self.jitter = jitter
        self.beacon_loss = beacon_loss
        self.record_events = record_events
        self.track_content = track_content
        self.nodes: list[SimNode] = []
        self._segments: dict[int, list[SimNode]] = {}
        self.listeners: dict[str, SimNode] = {}
        self._queue: list[tuple[float, int, Callable[..., object], tuple[Any, ...]]] = []
        self._serial = 0
        self._cut: set[frozenset[int]] = set()  # partitioned node index pairs
        self.counters: dict[str, int] = {
            "beacons_sent": 0, "beacons_delivered": 0, "beacons_lost": 0,
            "messages_sent": 0, "messages_delivered": 0, "messages_dropped": 0,
            "events": 0,
        }

    # -- scheduling ---------------------------------------------------------------------------
    def at(self, when: float, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` at virtual time ``when``."""
        self._serial += 1
        heapq.heappush(self._queue, (when, self._serial, fn, args))

    def run_until(self, until: float) -> None:
        """Process everything scheduled up to and including ``until``."""
        q = self._queue
        while q and q[0][0] <= until:
            when, _, fn, args = heapq.heappop(q)
            self.now = when
            fn(*args)
        self.now = max(self.now, until)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def _delay(self) -> float:
        return self.latency + self.rng.random() * self.jitter

    # -- nodes ----------------------------------------------------------------------------------
    def add_node(
        self,
        *,
        ip: str | None = None,
        port: int | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        segment: int = 0,
        on_event: EventHook | None = None,
        uuid: bytes | str | None = None,
        **core_kwargs: Any,
    ) -> SimNode:
        """Create a node core (with a seeded UUID unless ``uuid`` is given), listen on its
        endpoint and start it."""
        index = len(self.nodes)
        ip = ip or f"10.{segment % 256}.{index // 250 % 256}.{index % 250 + 1}"
        port = port or 49152 + self.rng.randrange(16384)
        seeded = self.rng.getrandbits(128).to_bytes(16, "big")
        core = NodeCore(uuid if uuid is not None else seeded, name, headers, endpoint=f"tcp://{ip}:{port}", **core_kwargs)
        node = SimNode(index, core, ip, segment, on_event=on_event,
                       events=[] if self.record_events else None)
        self.nodes.append(node)
        self._segments.setdefault(segment, []).append(node)
        self.listeners[core.endpoint] = node
        self.apply(node, core.start(self.now))
        return node

    def stop_node(self, node: SimNode) -> None:
        """Stop the core (port-0 beacon, links closed) and take the host off the network."""
        if not node.alive:
            return
        self.apply(node, node.core.stop(self.now))
        node.alive = False
        node.timer_gen += 1
        if self.listeners.get(node.endpoint) is node:
            del self.listeners[node.endpoint]

    def crash_node(self, node: SimNode) -> None:
        """Take the host off the network without a word (no port-0 beacon); the connections
        its links had open close, which their receivers notice (a TCP reset)."""
        node.alive = False
        node.timer_gen += 1
        for conn in node.links.values():
            conn.open = False
            target = self.listeners.get(conn.endpoint)
            if target is not None and target.alive and not self._blocked(node, target):
                self.at(self.now + self._delay(), self._disconnected, target, conn.identity)
        if self.listeners.get(node.endpoint) is node:
            del self.listeners[node.endpoint]

    def _disconnected(self, node: SimNode, identity: bytes) -> None:
        if node.alive:
            self.apply(node, node.core.handle_peer_disconnected(identity, self.now))

    def live_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes if n.alive]

    # -- partitions ------------------------------------------------------------------------------
    def partition(self, side_a: Iterable[SimNode], side_b: Iterable[SimNode]) -> None:
        """Drop all traffic (beacons and links) between the two sides until :meth:`heal`."""
        b = list(side_b)
        for x in side_a:
            for y in b:
                self._cut.add(frozenset((x.index, y.index)))

    def heal(self) -> None:
        self._cut.clear()

    def _blocked(self, x: SimNode, y: SimNode) -> bool:
        return bool(self._cut) and frozenset((x.index, y.index)) in self._cut

    # -- forged input (hostile-peer tests) -------------------------------------------------------
    def forge_beacon(self, node: SimNode, beacon: Beacon, source_ip: str) -> None:
        """Deliver a beacon nobody in the simulation sent (spec/zre.md#endpoint-claims)."""
        self.at(self.now + self._delay(), self._deliver_forged_beacon, node, beacon, source_ip)

    def _deliver_forged_beacon(self, node: SimNode, beacon: Beacon, source_ip: str) -> None:
        if node.alive:
            self.apply(node, node.core.handle_beacon(beacon, source_ip, self.now))

    def forge_message(self, node: SimNode, identity: bytes, frames: list[bytes]) -> None:
        """Deliver ``frames`` to ``node``'s ROUTER as if a DEALER with ``identity`` sent them."""
        self.at(self.now + self._delay(), self._deliver_forged, node, identity, frames)

    def _deliver_forged(self, node: SimNode, identity: bytes, frames: list[bytes]) -> None:
        if node.alive:
            self.apply(node, node.core.handle_message(identity, frames, self.now))

    # -- effects ---------------------------------------------------------------------------------
    def apply(self, node: SimNode, effects: list[Effect]) -> None:
        """Carry out a core's effects, in order, on the virtual network. Effects an event hook
        causes meanwhile run after these, as ZreNode does (never re-entered)."""
        if node.applying:
            node.deferred.extend(effects)
            return
        node.applying = True
        try:
            while True:
                for eff in effects:
                    self._apply_one(node, eff)
                if not node.deferred:
                    break
                effects, node.deferred = node.deferred, []
        finally:
            node.applying = False
        self._arm(node)

    def _apply_one(self, node: SimNode, eff: Effect) -> None:
        if isinstance(eff, SendToPeer):
            self._send(node, eff.link, eff.frames)
        elif isinstance(eff, SendToPeers):
            for link, frames in zip(eff.links, eff.messages, strict=True):
                self._send(node, link, list(frames))
        elif isinstance(eff, ZreEvent):
            self._event(node, eff)
        elif isinstance(eff, SendBeacon):
            self._beacon(node, eff.data)
        elif isinstance(eff, ConnectPeer):
            node.links[eff.link] = Conn(node, eff.link, eff.endpoint, eff.identity,
                                        last_at=self.now)
        elif isinstance(eff, DisconnectPeer):
            conn = node.links.pop(eff.link, None)
            if conn is not None:
                conn.open = False

    def _arm(self, node: SimNode) -> None:
        if not node.alive:
            return
        deadline = node.core.next_deadline()
        if deadline is None or deadline == node.timer_at:
            return
        node.timer_gen += 1
        node.timer_at = deadline
        self.at(deadline, self._timer, node, node.timer_gen)

    def _timer(self, node: SimNode, gen: int) -> None:
        if not node.alive or gen != node.timer_gen:
            return
        node.timer_at = None
        self.apply(node, node.core.handle_timer(self.now))

    def _event(self, node: SimNode, event: ZreEvent) -> None:
        self.counters["events"] += 1
        if node.events is not None:
            node.events.append(event)
        if self.track_content and isinstance(event, (WhisperReceived, ShoutReceived)) and event.content:
            node.received.setdefault(event.peer_uuid, set()).add(event.content[-1])
        if node.on_event is not None and node.alive:
            node.on_event(node, event)

    def _beacon(self, node: SimNode, data: bytes) -> None:
        self.counters["beacons_sent"] += 1
        self.at(self.now + self._delay(), self._deliver_beacon, node, data)

    def _deliver_beacon(self, sender: SimNode, data: bytes) -> None:
        try:
            beacon = decode_beacon(data)
        except DecodeError:
            log.exception("simulated node sent a bad beacon")
            raise
        loss = self.beacon_loss
        rand = self.rng.random
        now = self.now
        ip = sender.ip
        members = self._segments[sender.segment]
        if any(not n.alive for n in members):
            members[:] = [n for n in members if n.alive or n is sender]
        delivered = 0
        for node in members:
            if node is sender or not node.alive:
                continue
            if (loss and rand() < loss) or self._blocked(sender, node):
                self.counters["beacons_lost"] += 1
                continue
            delivered += 1
            effects = node.core.handle_beacon(beacon, ip, now)
            if effects:
                self.apply(node, effects)
        self.counters["beacons_delivered"] += delivered

    def _send(self, node: SimNode, link: str, frames: list[bytes]) -> None:
        conn = node.links.get(link)
        if conn is None:
            raise RuntimeError(f"core sent on unknown link {link}")
        self.counters["messages_sent"] += 1
        if self.track_content and len(frames) > 1 and frames[0][2] in (_WHISPER_ID, _SHOUT_ID):
            target = self.listeners.get(conn.endpoint)
            if conn.target is None:
                conn.target = target
            elif conn.target is not target:
                conn.broken = True
            conn.tokens.append(frames[-1])
        when = max(self.now + self._delay(), conn.last_at)
        conn.last_at = when
        self.at(when, self._deliver, conn, frames)

    def _deliver(self, conn: Conn, frames: list[bytes]) -> None:
        target = self.listeners.get(conn.endpoint)
        if not conn.open or target is None or self._blocked(conn.src, target):
            self.counters["messages_dropped"] += 1
            conn.broken = True
            return
        self.counters["messages_delivered"] += 1
        self.apply(target, target.core.handle_message(conn.identity, frames, self.now))

    # -- checks ----------------------------------------------------------------------------------
    def lost_messages(self) -> list[str]:
        """WHISPER/SHOUT content sent between two live nodes on a link that stayed open and
        unbroken, yet never reached the receiver's application."""
        lost: list[str] = []
        for node in self.live_nodes():
            for conn in node.links.values():
                target = conn.target
                if (target is None or not conn.open or conn.broken or not target.alive
                        or self.listeners.get(conn.endpoint) is not target):
                    continue
                got = target.received.get(node.uuid, set())
                missing = [t for t in conn.tokens if t not in got]
                if missing:
                    lost.append(f"{node.core.name} -> {target.core.name}: {len(missing)} of "
                                f"{len(conn.tokens)} lost, e.g. {missing[0]!r}")
        return lost

    def group_view_errors(self, *, require_full_mesh: bool = True) -> list[str]:
        """Every live node's view of every live peer's groups must equal that peer's own groups."""
        errors: list[str] = []
        live = self.live_nodes()
        for node in live:
            for other in live:
                if other is node or other.segment != node.segment:
                    continue
                peer = node.core.peer(other.uuid)
                if peer is None or not peer.entered:
                    if require_full_mesh:
                        errors.append(f"{node.core.name} does not know {other.core.name}")
                    continue
                own = set(other.core.own_groups)
                if peer.groups != own:
                    errors.append(f"{node.core.name} sees {other.core.name} in "
                                  f"{sorted(peer.groups)}, it is in {sorted(own)}")
        return errors
