"""ZRE/LOG publishing as a sans-IO core: which collectors to feed, and the records to send.

A node learns of collectors from its peers' HELLO header ``X-ZRELOG = tcp://host:port``
(spec/zrelog.md#discovery). It connects one PUB socket to every such endpoint (once per
endpoint), publishes a LOG record for every ENTER, EXIT, JOIN and LEAVE it sees (and SEND/RECV
at the verbose level), and disconnects from a collector whose node EXITs. Records wait in a
bounded outbox; when it is full the newest record is dropped and counted, so logging never
holds up the node (spec/zrelog.md#publishing).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..lograte import RateLimitedLog
from ..zre.events import PeerEntered, PeerExited, PeerJoined, PeerLeft, ZreEvent
from ..zre.messages import ZRE
from . import messages as m
from .messages import Event, Level, endpoint_hash

log = logging.getLogger(__name__)

#: The HELLO header naming a collector's SUB endpoint (spec/zrelog.md#discovery)
ZRELOG_HEADER = "X-ZRELOG"
#: Records held for the PUB socket before new ones are dropped (spec/zrelog.md#publishing)
DEFAULT_MAX_OUTBOX = 1000
#: Distinct collector endpoints a node feeds at once; further ones that peers advertise are
#: ignored (counted and logged), so forged peers cannot make the PUB dial without bound
#: (spec/zrelog.md#publishing)
DEFAULT_MAX_COLLECTORS = 16


@dataclass(frozen=True, slots=True)
class ConnectCollector:
    """Connect the PUB socket to this collector endpoint."""

    endpoint: str


@dataclass(frozen=True, slots=True)
class DisconnectCollector:
    """Disconnect the PUB socket from this collector endpoint."""

    endpoint: str


PublisherEffect = ConnectCollector | DisconnectCollector


class PublisherCore:
    """Collector bookkeeping and LOG records for one node (spec/zrelog.md#publishing).

    ``own_endpoint`` is the node's ROUTER endpoint; its hash is the ``node`` of every record.
    ``now`` arguments are wall-clock seconds since the epoch (records carry whole seconds)."""

    def __init__(self, own_endpoint: str, *, enabled: bool = True, verbose: bool = False,
                 max_outbox: int = DEFAULT_MAX_OUTBOX,
                 max_collectors: int = DEFAULT_MAX_COLLECTORS) -> None:
        self.own_endpoint = own_endpoint
        self.node_id = endpoint_hash(own_endpoint)
        self.enabled = enabled
        self.verbose = verbose
        self.max_outbox = max_outbox
        self.max_collectors = max_collectors
        self.dropped = 0
        #: collectors advertised while ``max_collectors`` were already fed (not connected)
        self.ignored_collectors = 0
        self._outbox: deque[list[bytes]] = deque()
        self._collector_of: dict[str, str] = {}  # peer uuid -> collector endpoint it advertises
        self._endpoint_of: dict[str, str] = {}  # peer uuid -> its ZRE endpoint (for hashes)
        self._connected: set[str] = set()
        self._users: dict[str, int] = {}  # collector endpoint -> peers advertising it
        #: what peers can cause is logged through this (rate-limited, aggregated); the time is
        #: the wall clock passed to handle_event
        self.log = RateLimitedLog(log)
        self._last_now = 0.0

    # -- collectors ------------------------------------------------------------------------
    @property
    def collectors(self) -> list[str]:
        return sorted(self._connected)

    def learn_peer(self, peer_uuid: str, endpoint: str,
                   headers: Mapping[str, str]) -> list[PublisherEffect]:
        """Track a peer (its endpoint, and the collector its headers name) without recording it:
        for peers that entered before publishing was switched on (spec/zrelog.md#publishing)."""
        self._endpoint_of[peer_uuid] = endpoint
        collector = headers.get(ZRELOG_HEADER, "").strip()
        if not collector or self._collector_of.get(peer_uuid) == collector:
            return []
        effects = self._forget_collector_of(peer_uuid)
        if collector not in self._connected and len(self._connected) >= self.max_collectors:
            self.ignored_collectors += 1
            self.log.warning(self._last_now, "too many", "zrelog: collector %s (peer %s) ignored: "
                             "already feeding %d collectors", collector, peer_uuid,
                             self.max_collectors)
            return effects
        self._collector_of[peer_uuid] = collector
        self._users[collector] = self._users.get(collector, 0) + 1
        if collector in self._connected:
            return effects
        self._connected.add(collector)
        self.log.info(self._last_now, "found", "zrelog: collector %s (peer %s) found", collector,
                      peer_uuid)
        return [*effects, ConnectCollector(collector)]

    def _forget_collector_of(self, peer_uuid: str) -> list[PublisherEffect]:
        """The peer no longer advertises its collector: disconnect when nobody else does."""
        collector = self._collector_of.pop(peer_uuid, "")
        if not collector:
            return []
        left = self._users.pop(collector, 1) - 1
        if left:
            self._users[collector] = left
            return []
        self._connected.discard(collector)
        self.log.info(self._last_now, "gone", "zrelog: collector %s (peer %s) gone", collector,
                      peer_uuid)
        return [DisconnectCollector(collector)]

    def handle_event(self, ev: ZreEvent, now: float) -> list[PublisherEffect]:
        """A ZRE event seen by the node: record it, and track collectors."""
        effects: list[PublisherEffect] = []
        self._last_now = now
        if isinstance(ev, PeerEntered):
            effects = self.learn_peer(ev.peer_uuid, ev.endpoint, ev.headers)
            self.record(Event.ENTER, ev.endpoint, "", now)
        elif isinstance(ev, PeerExited):
            self.record(Event.EXIT, self._endpoint_of.pop(ev.peer_uuid, ""), "", now)
            effects = self._forget_collector_of(ev.peer_uuid)
        elif isinstance(ev, PeerJoined):
            self.record(Event.JOIN, self._endpoint_of.get(ev.peer_uuid, ""), ev.group, now)
        elif isinstance(ev, PeerLeft):
            self.record(Event.LEAVE, self._endpoint_of.get(ev.peer_uuid, ""), ev.group, now)
        return effects

    # -- records ---------------------------------------------------------------------------
    def record(self, event: Event, peer: str, data: str, now: float,
               level: Level = Level.INFO) -> None:
        """Queue one LOG record (``peer`` is hashed; "" gives 0). SEND/RECV need ``verbose``."""
        if not self.enabled or not self._connected:
            return
        if event in (Event.SEND, Event.RECV) and not self.verbose:
            return
        text = _clip_utf8(data, m.MAX_DATA_BYTES)
        frames = m.encode(m.Log(level=int(level), event=int(event), node=self.node_id,
                                peer=endpoint_hash(peer) if peer else 0,
                                time=max(0, int(now)), data=text))
        if len(self._outbox) >= self.max_outbox:
            self.dropped += 1
            self.log.warning(now, "outbox full", "zrelog: outbox full, %d records dropped so far",
                             self.dropped)
            return
        self._outbox.append(frames)

    def record_send(self, peer_uuid: str, command: str, sequence: int, now: float) -> None:
        """Verbose: a ZRE message went to a peer (data as zyre wrote it)."""
        self.record(Event.SEND, peer_uuid, f"seq={sequence} command={command}", now)

    def record_recv(self, peer_uuid: str, command: str, sequence: int, now: float) -> None:
        """Verbose: a ZRE message came from a peer (peer = the sender's UUID, not ours)."""
        self.record(Event.RECV, peer_uuid, f"seq={sequence} command={command}", now)

    def warning(self, text: str, now: float, peer: str = "") -> None:
        self.record(Event.NONE, peer, text, now, Level.WARNING)

    def error(self, text: str, now: float, peer: str = "") -> None:
        self.record(Event.NONE, peer, text, now, Level.ERROR)

    @property
    def pending(self) -> int:
        """Records waiting in the outbox."""
        return len(self._outbox)

    def drain(self) -> list[list[bytes]]:
        """Every queued record's frames, oldest first (the shell publishes them)."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def count_dropped(self, n: int = 1) -> None:
        """The shell could not publish ``n`` records (a slow collector): count them."""
        self.dropped += n


def zre_summary(frames: Sequence[bytes]) -> tuple[int, str] | None:
    """(sequence, command name) of a ZRE message's frames, for SEND/RECV data; None if the first
    frame is not a ZRE v2 data frame (spec/zrelog.md#events)."""
    data = frames[0] if frames else b""
    if len(data) < 6 or data[:2] != ZRE.signature_bytes:
        return None
    spec = ZRE.by_id.get(data[2])
    return (data[4] << 8) | data[5], spec.name if spec is not None else f"ID-{data[2]}"


def _clip_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")
