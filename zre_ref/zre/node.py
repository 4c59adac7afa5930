"""The sans-IO ZRE node: discovery, Harmony, groups and presence as zyre does them (spec/zre.md#node).

:class:`NodeCore` never does I/O and never reads the clock. Feed it what happened
(:meth:`~NodeCore.handle_beacon`, :meth:`~NodeCore.handle_message`, :meth:`~NodeCore.handle_timer`,
:meth:`~NodeCore.handle_send_blocked`) and what the application wants (:meth:`~NodeCore.join`,
:meth:`~NodeCore.shout` ...); each call returns a list of *effects* for the shell to carry out in
order, and :meth:`~NodeCore.next_deadline` says when to call ``handle_timer`` next.

Theory of operation (zyre src/zyre_node.c; spec/zre.md#harmony):

* Every peer gets one DEALER from us (a *link*, identity 0x01 + our UUID) to its ROUTER, and the
  first thing on it is our HELLO (sequence 1). The peer is *ready* once its HELLO reaches our
  ROUTER; anything else it sends before that is dropped.
* A new UUID at an endpoint a connected peer holds does not disturb that peer: we PING it, and
  only if it stays silent for ``claim_timeout`` is it removed and the newcomer connected
  (spec/zre.md#endpoint-claims).
* A HELLO from a ready peer means it restarted: EXIT, then build it again -- unless we rebuilt
  it less than ``restart_holdoff`` ago: then it answers our HELLO (spec/zre.md#restarts).
* Sequence numbers run per direction, u16; a gap drops the peer (EXIT). The group status counts
  JOIN/LEAVE (u8); a mismatch drops the peer (zyre aborts the process instead).
* Presence: each reap tick, a peer silent past ``evasive`` gets a PING (and EVASIVE, then
  SILENT); past ``expired`` it is removed (EXIT). Beacons do not refresh a peer; messages do.
* Direct mode (:meth:`~NodeCore.connect_peer`): a link to an endpoint whose UUID we do not know
  yet sends HELLO at once and is adopted by the peer whose HELLO or beacon names that endpoint.
* Input is bounded: peers, not-ready peers, groups, headers and HELLO size have named limits
  (spec/zre.md#limits); whatever breaks one only affects the peer that sent it.

:mod:`zre_ref.zre.fastpath` holds the accelerations (the batch receive path, sequence splicing),
beside this readable path and checked against it. Beside it too, each with its spec section:
:mod:`~zre_ref.zre.effects` (what the shell is asked to do), :mod:`~zre_ref.zre.admission` (limits
and HELLO checks), :mod:`~zre_ref.zre.guards` (endpoint claims and restarts),
:mod:`~zre_ref.zre.direct` (direct-mode links), :mod:`~zre_ref.zre.election_glue` and
:mod:`~zre_ref.zre.gossip`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..curve.z85 import z85_encode
from ..errors import DecodeError
from ..lograte import RateLimitedLog
from .admission import (
    MAX_DATA_FRAME,
    MAX_GROUP_NAME,
    MAX_HEADERS,
    MAX_PEER_GROUPS,
    MAX_PEERS,
    MAX_UNREADY_PEERS,
    NO_OP_BEACONS_MAX,
    PUBLICKEY_HEADER,
    NoOpBeacons,
    endpoint_problem,
    hello_key,
    hello_problem,
)
from .beacon import (
    BEACON_VERSION,
    BEACON_VERSION_CURVE,
    Beacon,
    decode_beacon,
    encode_beacon,
)
from .direct import DirectLinks
from .effects import ConnectPeer, DisconnectPeer, Effect, SendBeacon, SendToPeer, SendToPeers
from .election import ElectionEffect, Elections, LeaderDecided
from .election_glue import election_input, election_message
from .events import (
    LeaderElected,
    NodeStopped,
    PeerEntered,
    PeerEvasive,
    PeerExited,
    PeerJoined,
    PeerLeft,
    PeerSilent,
    ShoutReceived,
    WhisperReceived,
)
from .fastpath import Encoder, decode_fast, with_sequence
from .gossip import gossiped_peer
from .group import Group
from .guards import (
    CLAIM_HOLDOFF,
    CLAIM_TIMEOUT,
    RESTART_HOLDOFF,
    Claim,
    EndpointClaims,
    answers_rebuild,
)
from .messages import (
    IDENTITY_SIZE,
    ZRE,
    Elect,
    Goodbye,
    Hello,
    Join,
    Leader,
    Leave,
    Ping,
    PingOk,
    Shout,
    Whisper,
    ZreMessage,
    encode_identity,
    next_sequence,
    next_status,
)
from .peer import Peer

log = logging.getLogger(__name__)

#: zyre's default timers, in seconds (spec/zre.md#presence; zyre_node_new, s_reap_interval).
#: Every other default in zre_ref refers to these.
EVASIVE_TIMEOUT = 5.0
EXPIRED_TIMEOUT = 30.0
REAP_INTERVAL = 1.0
BEACON_INTERVAL = 1.0
#: DEALER send high-water mark per second of ``expired`` (RFC 36: 100 msg/s x 30 s = 3000)
SNDHWM_PER_SECOND = 100

#: what does a reap tick: ``reap(core, now, out)`` (NodeCore._reap, or fastpath.reap)
Reap = Callable[["NodeCore", float, list[Effect]], None]

#: the limits (admission.py) and Harmony guards (guards.py) stay importable from here, where
#: they were defined before those modules were split out
__all__ = [
    "BEACON_INTERVAL",
    "CLAIM_HOLDOFF",
    "CLAIM_TIMEOUT",
    "EVASIVE_TIMEOUT",
    "EXPIRED_TIMEOUT",
    "MAX_DATA_FRAME",
    "MAX_GROUP_NAME",
    "MAX_HEADERS",
    "MAX_PEERS",
    "MAX_PEER_GROUPS",
    "MAX_UNREADY_PEERS",
    "NO_OP_BEACONS_MAX",
    "PUBLICKEY_HEADER",
    "REAP_INTERVAL",
    "RESTART_HOLDOFF",
    "ConnectPeer",
    "DisconnectPeer",
    "Effect",
    "NodeCore",
    "SendBeacon",
    "SendToPeer",
    "SendToPeers",
    "decode_fast",
    "endpoint_problem",
    "uuid_hex",
]


def uuid_hex(uuid: bytes) -> str:
    """A UUID as zyre prints it: 32 upper-case hex characters (spec/zre.md#identity)."""
    return uuid.hex().upper()


@dataclass(slots=True)
class _Stats:
    """Counters for tests and benchmarks."""

    dropped_malformed: int = 0
    dropped_not_ready: int = 0
    sequence_gaps: int = 0
    status_mismatches: int = 0
    send_blocked: int = 0
    hello_rebuilds: int = 0
    regreetings: int = 0
    purges: int = 0
    claims: int = 0
    claims_refused: int = 0
    refused_peers: int = 0
    link_failures: int = 0


class NodeCore:
    """One ZRE node without I/O (spec/zre.md#node). Every method returns effects in order.

    ``beacon_interval=None`` turns UDP discovery off (direct mode only). ``endpoint`` is our
    ROUTER's advertised endpoint; it must be set (here or via :attr:`endpoint`) before start.
    ``claim_timeout``, ``claim_holdoff`` and ``restart_holdoff`` are the Harmony guards of
    spec/zre.md#endpoint-claims and #restarts; ``max_peers`` and ``max_unready_peers`` bound
    the peer table (spec/zre.md#limits).

    The methods follow spec/zre.md#node-behaviour: start, discovery, Harmony, endpoint claims,
    groups, presence, failures; then the application's calls, direct mode, elections, leaving,
    queries, and the sending helpers everything above uses.
    """

    def __init__(
        self,
        uuid: bytes | str | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        endpoint: str = "",
        evasive: float = EVASIVE_TIMEOUT,
        expired: float = EXPIRED_TIMEOUT,
        reap_interval: float = REAP_INTERVAL,
        beacon_interval: float | None = BEACON_INTERVAL,
        sndhwm: int | None = None,
        goodbye: bool = False,
        claim_timeout: float = CLAIM_TIMEOUT,
        claim_holdoff: float = CLAIM_HOLDOFF,
        restart_holdoff: float = RESTART_HOLDOFF,
        max_peers: int = MAX_PEERS,
        max_unready_peers: int = MAX_UNREADY_PEERS,
        public_key: bytes | None = None,
    ) -> None:
        raw = bytes.fromhex(uuid) if isinstance(uuid, str) else (
            bytes(uuid) if uuid is not None else os.urandom(16))
        if len(raw) != 16:
            raise ValueError("uuid must be 16 bytes or 32 hex characters")
        #: our UUID as the public API spells every UUID: 32 upper-case hex (spec/zre.md#identity)
        self.uuid = uuid_hex(raw)
        #: the same as the 16 bytes on the wire (beacons, the ROUTER identity)
        self.uuid_bytes = raw
        self.identity = encode_identity(raw)
        self.name = name if name is not None else self.uuid[:6]
        self.headers: dict[str, str] = dict(headers or {})
        #: CURVE mode: our public key, beaconed (version 3) and sent as HELLO's X-PUBLICKEY;
        #: peers' keys, from their beacons or HELLOs (spec/zre.md#curve-mode-zyre)
        self.public_key = bytes(public_key) if public_key is not None else None
        self._peer_keys: dict[str, bytes] = {}
        if self.public_key is not None:
            if len(self.public_key) != 32:
                raise ValueError("public_key must be 32 bytes")
            self.headers[PUBLICKEY_HEADER] = z85_encode(self.public_key).decode("ascii")
        self.endpoint = endpoint
        if not evasive > 0 or not expired > 0 or not reap_interval > 0:
            raise ValueError("timers must be positive")
        self.evasive = float(evasive)
        self.expired = float(expired)
        #: zyre ticks at min(evasive, expired, 1 s) (spec/zre.md#presence)
        self.reap_interval = min(float(reap_interval), self.evasive, self.expired)
        self.beacon_interval = beacon_interval
        self.sndhwm = sndhwm if sndhwm is not None else max(1, int(self.expired * SNDHWM_PER_SECOND))
        self.goodbye = goodbye
        #: the Harmony guards (spec/zre.md#endpoint-claims, #restarts)
        self.claims = EndpointClaims(claim_timeout, claim_holdoff)
        self.restart_holdoff = float(restart_holdoff)
        self.max_peers = max_peers
        self.max_unready_peers = max_unready_peers
        self.status = 0
        self.own_groups: dict[str, None] = {}
        self.peers: dict[str, Peer] = {}
        #: the same peers, longest silent first, each with its place in ``peers`` (the order
        #: they were added): a peer moves to the end when its presence timers are set (created,
        #: or heard from), so while the timeouts stay as they are and ``now`` never goes back
        #: they are in the order of their deadlines (zre/fastpath.py's reap stops at the
        #: first one not due)
        self.silence_order: dict[Peer, int] = {}
        self._peers_added = 0
        self.groups: dict[str, Group] = {}
        self.stats = _Stats()
        self.started = False
        self.stopped = False
        self._by_link: dict[str, Peer] = {}
        #: the same peers by the ROUTER identity they send with, 0x01 + UUID (spec/zre.md#identity)
        self._by_identity: dict[bytes, Peer] = {}
        self._unready = 0  # peers in the table that are not ready
        #: direct mode: endpoints we keep linked, probes open to them (spec/zre.md#direct)
        self.direct = DirectLinks()
        self._reap_at: float | None = None
        self._beacon_at: float | None = None
        self._link_serial = 0
        self._beacon_memo: tuple[str, int | None, bytes] | None = None  # (endpoint, port, datagram)
        self._hello_memo: tuple[ZreMessage, list[bytes]] | None = None  # (HELLO, its frames)
        #: beacon datagrams known to change nothing (ours, or a known peer's), filled by
        #: fastpath.handle_beacon_datagram: a shared beacon socket may skip handing them to this
        #: node. Emptied whenever a peer leaves the table;
        #: at most NO_OP_BEACONS_MAX entries (forged ports of a known UUID cannot grow it).
        self.no_op_beacons = NoOpBeacons()
        #: SHOUT/WHISPER frames as ZRE.encode makes them, from cached data frames (fastpath)
        self._encode = Encoder()
        self._ping = ZRE.encode(Ping(sequence=0))
        self._ping_ok = ZRE.encode(PingOk(sequence=0))
        #: what peers can trigger is logged through this, rate-limited (spec/zre.md#limits)
        self.warnings = RateLimitedLog(log)
        #: leader elections per group (spec/election.md); ``_clock``: the last ``now`` seen
        self.elections = Elections(self.uuid)
        self._clock = 0.0

    # -- properties --------------------------------------------------------------------------------

    @property
    def uuid_hex(self) -> str:
        """Deprecated: the same as :attr:`uuid` (32 upper-case hex); the bytes are :attr:`uuid_bytes`."""
        warnings.warn("NodeCore.uuid_hex is deprecated: NodeCore.uuid is the 32-hex string now "
                      "(the 16 bytes are NodeCore.uuid_bytes)", DeprecationWarning, stacklevel=2)
        return self.uuid

    @property
    def claim_timeout(self) -> float:
        """Seconds a claimed endpoint's holder has to answer (spec/zre.md#endpoint-claims)."""
        return self.claims.timeout

    @property
    def claim_holdoff(self) -> float:
        """Seconds beacon claims on an endpoint are ignored after a refusal (spec/zre.md#endpoint-claims)."""
        return self.claims.holdoff

    @property
    def beaconing(self) -> bool:
        """True when UDP discovery is on."""
        return self.beacon_interval is not None

    @property
    def port(self) -> int:
        """The TCP port of our endpoint (what the beacon announces)."""
        try:
            return int(self.endpoint.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            return 0

    @property
    def beacon_version(self) -> int:
        """1, or 3 in CURVE mode; beacons of the other version are ignored, as zyre does."""
        return BEACON_VERSION if self.public_key is None else BEACON_VERSION_CURVE

    def beacon(self, port: int | None = None) -> bytes:
        """Our beacon datagram; port 0 says we are leaving (spec/zre.md#beacon). The same bytes
        every interval: encoded again only when the endpoint or ``port`` changes."""
        memo = self._beacon_memo
        if memo is not None and memo[0] == self.endpoint and memo[1] == port:
            return memo[2]
        data = encode_beacon(Beacon(version=self.beacon_version, uuid=self.uuid_bytes,
                                    port=self.port if port is None else port,
                                    public_key=self.public_key))
        self._beacon_memo = (self.endpoint, port, data)
        return data

    # -- lifecycle (spec/zre.md#node) --------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Start: beacon at once (if discovery is on) and arm the reap timer (spec/zre.md#beacon)."""
        if self.started:
            return []
        if not self.endpoint:
            raise ValueError("set the endpoint before starting")
        self.started = True
        out: list[Effect] = []
        self._reap_at = now + self.reap_interval
        if self.beacon_interval is not None:
            out.append(SendBeacon(self.beacon()))
            self._beacon_at = now + self.beacon_interval
        for endpoint in self.direct.wanted():
            self._open_probe(endpoint, out)
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next (None when stopped)."""
        if self._reap_at is None:
            return None
        if self._beacon_at is None:
            return self._reap_at
        return min(self._reap_at, self._beacon_at)

    # -- discovery (spec/zre.md#beacon) ------------------------------------------------------------

    def handle_beacon(self, beacon: Beacon, source_ip: str, now: float) -> list[Effect]:
        """A decoded UDP beacon from ``source_ip`` (spec/zre.md#beacon; zyre_node_recv_beacon)."""
        out: list[Effect] = []
        if not self.started:
            return out
        if beacon.version != self.beacon_version:
            log.debug("(%s) beacon version %d ignored", self.name, beacon.version)
            return out
        if beacon.uuid == self.uuid_bytes:
            return out
        peer_uuid = uuid_hex(beacon.uuid)
        if beacon.port:
            host = f"[{source_ip}]" if ":" in source_ip else source_ip
            endpoint = f"tcp://{host}:{beacon.port}"
            if endpoint == self.endpoint:  # another UUID with our endpoint: forged, or a clone
                self._warn(now, ("own-endpoint", peer_uuid), "beacon from %s names our own "
                           "endpoint: ignored", peer_uuid)
                return out
            self._require_keyed(peer_uuid, endpoint, beacon.public_key, now, out, hello=False)
        else:
            peer = self.peers.get(peer_uuid)
            if peer is not None:
                self._remove_peer(peer, out, "port-0 beacon")
        return out

    def handle_beacon_datagram(self, data: bytes, source_ip: str, now: float) -> list[Effect]:
        """A raw UDP datagram: decoded, then :meth:`handle_beacon`; a datagram that is not a
        beacon is dropped (spec/zre.md#beacon). (:func:`zre_ref.zre.fastpath.handle_beacon_datagram`
        does the same, faster, and fills ``no_op_beacons``.)"""
        try:
            beacon = decode_beacon(data)
        except DecodeError as exc:
            log.debug("(%s) bad beacon from %s: %s", self.name, source_ip, exc)
            return []
        return self.handle_beacon(beacon, source_ip, now)

    # -- Harmony (spec/zre.md#harmony): meeting a peer, its messages -------------------------------

    def _require_peer(self, peer_uuid: str, endpoint: str, now: float, out: list[Effect], *,
                      hello: bool) -> Peer | None:
        """zyre_node_require_peer: find, or create + connect + HELLO (spec/zre.md#harmony).

        Returns None when the peer is refused: a limit is reached (spec/zre.md#limits) or its
        endpoint belongs to a live peer (spec/zre.md#endpoint-claims). ``hello``: the peer's
        own HELLO asks (else a beacon or a claim that settled)."""
        peer = self.peers.get(peer_uuid)
        if peer is not None:
            return peer
        if len(self.peers) >= self.max_peers or (
                not hello and self._unready >= self.max_unready_peers):
            self.stats.refused_peers += 1
            self._warn(now, "peer-limit", "peer table full (%d peers, %d not ready): %s at %s "
                       "ignored", len(self.peers), self._unready, peer_uuid, endpoint)
            return None
        parked = False
        holder = self.claims.holder(endpoint)
        if holder is not None:
            verdict = self._claim(endpoint, holder, peer_uuid, now, out, hello=hello)
            if verdict == "refused" or (verdict == "pending" and not hello):
                return None
            parked = verdict == "pending"
        probe = None if parked else self.direct.take(endpoint)  # direct mode adopts its link
        if probe is not None:
            peer = Peer(uuid=peer_uuid, endpoint=probe.endpoint, link=probe.link,
                        sent_sequence=probe.sent_sequence, connected=probe.connected)
            if peer.connected:
                self.claims.hold(peer)
        else:
            peer = Peer(uuid=peer_uuid, endpoint=endpoint, link=self._new_link(peer_uuid),
                        connected=False, parked=parked)
        self.peers[peer_uuid] = peer
        self._by_link[peer.link] = peer
        self._by_identity[encode_identity(bytes.fromhex(peer_uuid))] = peer
        self._unready += 1
        peer.start_timers(now, self.evasive, self.expired)
        self._peers_added += 1
        self.silence_order[peer] = self._peers_added
        if parked:
            self.claims.park(endpoint, peer)
        elif probe is None:
            self._open_link(peer, now, out)
        return peer

    def _require_keyed(self, peer_uuid: str, endpoint: str, key: bytes | None, now: float,
                       out: list[Effect], *, hello: bool) -> Peer | None:
        """_require_peer, remembering the peer's CURVE key for our DEALER (CURVE mode); a key
        is kept only for a peer in the table, so spoofed beacons cannot grow the key table."""
        if self.public_key is None or key is None or peer_uuid in self.peers:
            return self._require_peer(peer_uuid, endpoint, now, out, hello=hello)
        self._peer_keys[peer_uuid] = key
        peer = self._require_peer(peer_uuid, endpoint, now, out, hello=hello)
        if peer is None:
            self._peer_keys.pop(peer_uuid, None)
        return peer

    def _open_link(self, peer: Peer, now: float, out: list[Effect]) -> None:
        """Connect our DEALER to the peer and greet it (spec/zre.md#harmony)."""
        out.append(ConnectPeer(peer.link, peer.endpoint, self.identity, self.sndhwm,
                               self._peer_keys.get(peer.uuid)))
        peer.connected = True
        peer.parked = False
        self.claims.hold(peer)
        self._send(peer, self._hello_frames(), out)
        held, peer.held = peer.held, []
        for frames in held:
            self._send(peer, frames, out)

    def _close_link(self, peer: Peer, out: list[Effect]) -> None:
        if peer.connected:
            peer.connected = False
            out.append(DisconnectPeer(peer.link))
        self.claims.release(peer)

    def handle_message(self, identity: bytes, frames: list[bytes], now: float) -> list[Effect]:
        """Frames from our ROUTER, after the identity (spec/zre.md#harmony; zyre_node_recv_peer)."""
        out: list[Effect] = []
        if not self.started:
            return out
        self._clock = now
        if len(identity) != IDENTITY_SIZE:
            log.debug("(%s) identity of %d bytes dropped", self.name, len(identity))
            self.stats.dropped_malformed += 1
            return out
        if frames and len(frames[0]) > MAX_DATA_FRAME:  # refused before any decoding
            self.stats.dropped_malformed += 1
            self._warn(now, ("big", identity), "data frame of %d bytes from %s dropped (limit "
                       "%d)", len(frames[0]), identity[1:].hex().upper(), MAX_DATA_FRAME)
            return out
        try:
            msg = ZRE.decode(frames, strict=False)
        except DecodeError as exc:
            self._warn(now, ("malformed", identity), "malformed message dropped: %s", exc)
            self.stats.dropped_malformed += 1
            return out
        peer_uuid = uuid_hex(identity[1:])
        peer = self.peers.get(peer_uuid)
        if isinstance(msg, Hello):
            self._on_hello(peer_uuid, peer, msg, now, out)
            return out
        if peer is None or not peer.ready:
            self.stats.dropped_not_ready += 1
            return out
        if not peer.sequence_ok(msg.sequence, False):
            self._sequence_gap(peer, msg.sequence, now, out)
            return out
        if isinstance(msg, Shout):
            out.append(ShoutReceived(peer_uuid, peer.name, msg.group, msg.content))
        elif isinstance(msg, Whisper):
            out.append(WhisperReceived(peer_uuid, peer.name, msg.content))
        elif isinstance(msg, Ping):
            self._send(peer, self._ping_ok, out)
        elif isinstance(msg, PingOk):
            pass
        elif isinstance(msg, (Join, Leave)):
            if isinstance(msg, Join):
                if msg.group not in peer.groups and len(peer.groups) >= MAX_PEER_GROUPS:
                    self._refuse(peer, now, out, f"more than {MAX_PEER_GROUPS} groups")
                    return out
                self._peer_join(peer, msg.group, out)
            else:
                self._peer_leave(peer, msg.group, out)
            if msg.status != peer.status:
                self._warn(now, ("status", peer.uuid), "status mismatch from %s: expected %d, "
                           "got %d", peer.name, peer.status, msg.status)
                self.stats.status_mismatches += 1
                self._remove_peer(peer, out, "group status mismatch")
                return out
            self._election_input(msg, peer_uuid, now, out)
        elif isinstance(msg, Goodbye):
            if not self.beaconing:
                self._remove_peer(peer, out, "GOODBYE")
                return out
        elif isinstance(msg, (Elect, Leader)):
            self._election_input(msg, peer_uuid, now, out)
        self._heard(peer, now)
        return out

    def handle_messages(self, messages: Iterable[Sequence[bytes]], now: float,
                        budget: int | None = None) -> list[Effect]:
        """Many ROUTER messages (``[identity, data frame, content...]``) that arrived together:
        :meth:`handle_message` on each in turn. With a ``budget``, stop taking messages once the
        effects reach it: pass an iterator, and what it still holds was not handled (one HELLO
        can fan out into up to 2 + MAX_PEER_GROUPS effects; spec/zre.md#limits).
        (:func:`zre_ref.zre.fastpath.handle_messages` does the same, faster.)"""
        out: list[Effect] = []
        for msg in messages:
            out.extend(self.handle_message(msg[0] if msg else b"", list(msg[1:]), now))
            if budget is not None and len(out) >= budget:
                break
        return out

    def _on_hello(self, peer_uuid: str, peer: Peer | None, msg: Hello, now: float,
                  out: list[Effect]) -> None:
        """A HELLO: a new peer, the answer to our greeting, or a restart (spec/zre.md#restarts)."""
        if peer_uuid == self.uuid:
            return
        problem = hello_problem(msg, self.endpoint, curve=self.public_key is not None)
        if problem is not None:
            self.stats.refused_peers += 1
            self._warn(now, ("hello", peer_uuid), "HELLO from %s refused: %s", peer_uuid, problem)
            if peer is not None:
                self._remove_peer(peer, out, problem)
            return
        if peer is not None:
            if answers_rebuild(peer, now, self.restart_holdoff):  # not a restart
                self.stats.regreetings += 1
                if not peer.sequence_ok(msg.sequence, True):
                    self._sequence_gap(peer, msg.sequence, now, out)
                    return
                self._take_hello(peer, msg, out)
                self._heard(peer, now)
                return
            if peer.ready:
                self.stats.hello_rebuilds += 1
                self._remove_peer(peer, out, "HELLO from a ready peer: restarted")
                rebuilt = self._require_keyed(peer_uuid, msg.endpoint, hello_key(msg), now,
                                              out, hello=True)
                if rebuilt is not None:
                    rebuilt.rebuilt_at = now
                peer = rebuilt
            elif peer.endpoint == self.endpoint:
                return
        else:
            peer = self._require_keyed(peer_uuid, msg.endpoint, hello_key(msg), now, out,
                                       hello=True)
        if peer is None:
            return
        peer.ready = True
        self._unready -= 1
        if not peer.sequence_ok(msg.sequence, True):
            self._sequence_gap(peer, msg.sequence, now, out)
            return
        peer.name = msg.name
        peer.headers = dict(msg.headers)
        peer.entered = True
        out.append(PeerEntered(peer_uuid, peer.name, dict(msg.headers), msg.endpoint))
        for name in msg.groups:
            self._peer_join(peer, name, out)
        peer.status = msg.status
        self._heard(peer, now)

    def _take_hello(self, peer: Peer, msg: Hello, out: list[Effect]) -> None:
        """A second HELLO from a ready peer that is not a restart: take its name, headers,
        groups (JOIN/LEAVE for what changed) and status; no EXIT/ENTER."""
        peer.name = msg.name
        peer.headers = dict(msg.headers)
        wanted = dict.fromkeys(msg.groups)
        for name in sorted(peer.groups - wanted.keys()):
            self._peer_leave(peer, name, out)
        for name in wanted:
            if name not in peer.groups:
                self._peer_join(peer, name, out)
        peer.status = msg.status

    def _sequence_gap(self, peer: Peer, got: int, now: float, out: list[Effect]) -> None:
        self._warn(now, ("gap", peer.uuid), "sequence gap from %s: expected %d, got %d",
                   peer.name or peer.uuid, peer.expected_sequence(False), got)
        self.stats.sequence_gaps += 1
        self._remove_peer(peer, out, "messages lost")

    def _refuse(self, peer: Peer, now: float, out: list[Effect], why: str) -> None:
        self.stats.refused_peers += 1
        self._warn(now, ("refuse", peer.uuid), "dropping %s: %s", peer.name or peer.uuid, why)
        self._remove_peer(peer, out, why)

    # -- endpoint claims (spec/zre.md#endpoint-claims; decided by guards.EndpointClaims) -----------

    def _claim(self, endpoint: str, holder: Peer, claimant: str, now: float, out: list[Effect], *,
               hello: bool) -> str:
        """``claimant`` names ``endpoint``, where our link to ``holder`` goes: "free" (the holder
        is gone and removed), "pending" (we asked it; wait) or "refused" (it is alive)."""
        claim = self.claims.get(endpoint)
        if claim is None:
            if holder.dropped_at > holder.heard_at:  # its connection to us closed: gone
                self.stats.purges += 1
                self._remove_peer(holder, out, f"its connection closed and {claimant} claims "
                                  "its endpoint")
                return "free"
            if not hello and self.claims.refusing(endpoint, now):
                return "refused"
            self.claims.open(endpoint, holder, claimant, now)
            self.stats.claims += 1
            self._warn(now, ("claim", endpoint), "%s claims %s, where %s is: asking that one",
                       claimant, endpoint, holder.name or holder.uuid)
            self._send(holder, self._ping, out)
            return "pending"
        if claim.claimant != claimant:
            if not (hello and claim.parked is None):
                return "refused"  # one claim per endpoint at a time; a HELLO beats a beacon
            claim.claimant = claimant
        return self._settle(claim, now, out)

    def _settle(self, claim: Claim, now: float, out: list[Effect]) -> str:
        """Carry out a claim's verdict: the holder answered, went away, or stayed silent too long."""
        holder = claim.holder
        linked = self.peers.get(holder.uuid) is holder and holder.connected
        verdict = self.claims.decide(claim, now, holder_linked=linked)
        if verdict == "pending":
            return "pending"
        if verdict == "refused":
            self.stats.claims_refused += 1
            self._warn(now, ("claim-refused", claim.endpoint), "%s answered: claim of %s on %s "
                       "refused", holder.name or holder.uuid, claim.claimant, claim.endpoint)
            if claim.parked is not None:
                self._remove_peer(claim.parked, out, "its endpoint belongs to a live peer")
            return "refused"
        if verdict == "silent":
            self.stats.purges += 1
            self._remove_peer(holder, out, f"silent while {claim.claimant} claims its endpoint")
        if claim.parked is not None:
            self._open_link(claim.parked, now, out)
        return "free"

    def _settle_claims(self, now: float, out: list[Effect]) -> None:
        for claim in self.claims.pending():
            claimant, endpoint = claim.claimant, claim.endpoint
            was_parked = claim.parked is not None
            if self._settle(claim, now, out) == "free" and not was_parked:
                self._require_peer(claimant, endpoint, now, out, hello=False)
        self.claims.expire(now)

    # -- groups (spec/zre.md#groups) ---------------------------------------------------------------

    def _peer_join(self, peer: Peer, name: str, out: list[Effect]) -> None:
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = Group(name)
        g.join(peer)
        peer.bump_status()
        out.append(PeerJoined(peer.uuid, peer.name, name))

    def _peer_leave(self, peer: Peer, name: str, out: list[Effect]) -> None:
        g = self.groups.get(name)
        if g is not None:
            g.leave(peer)
            if not g.peers:
                del self.groups[name]
        peer.groups.discard(name)
        peer.bump_status()
        out.append(PeerLeft(peer.uuid, peer.name, name))

    # -- presence (spec/zre.md#presence) -----------------------------------------------------------

    def handle_timer(self, now: float, reap: Reap | None = None) -> list[Effect]:
        """Run whatever is due: the beacon, the reap tick and election restarts (spec/zre.md#presence).
        ``reap(self, now, out)`` does the reap tick instead of :meth:`_reap` (zre/fastpath.py's
        ``reap``: the same effects, faster)."""
        out: list[Effect] = []
        if not self.started:
            return out
        self._clock = now
        if self._beacon_at is not None and self.beacon_interval is not None and now >= self._beacon_at:
            out.append(SendBeacon(self.beacon()))
            self._beacon_at = max(self._beacon_at + self.beacon_interval, now)
        if self._reap_at is not None and now >= self._reap_at:
            # on the grid set at start (so with zyre's equal intervals, one wake-up does the
            # beacon and the reap), or a full interval from now after a stall
            self._reap_at += self.reap_interval
            if self._reap_at <= now:
                self._reap_at = now + self.reap_interval
            (reap or NodeCore._reap)(self, now, out)
            self._elect(self.elections.tick(now, self._members), out)
        return out

    def _heard(self, peer: Peer, now: float) -> None:
        """An accepted message: reset the peer's presence timers (spec/zre.md#presence), and
        move it to the end of silence_order (if it is still in the table)."""
        peer.refresh(now, self.evasive, self.expired)
        place = self.silence_order.pop(peer, None)
        if place is not None:  # (still in the table)
            self.silence_order[peer] = place

    def _reap(self, now: float, out: list[Effect]) -> None:
        """zyre_node_ping_peer for every peer, settle endpoint claims, re-open direct links."""
        for peer in list(self.peers.values()):
            self._ping_peer(peer, now, out)
        self._after_reap(now, out)

    def _ping_peer(self, peer: Peer, now: float, out: list[Effect]) -> None:
        """zyre_node_ping_peer: EXIT after expired, PING (and EVASIVE) after evasive, SILENT too
        from the tick after that (spec/zre.md#presence)."""
        if now >= peer.expired_at:
            self._remove_peer(peer, out, "expired")
        elif now >= peer.evasive_at:
            self._send(peer, self._ping, out)
            if peer.entered:
                out.append(PeerEvasive(peer.uuid, peer.name))
                if now >= peer.evasive_at + self.reap_interval:
                    out.append(PeerSilent(peer.uuid, peer.name))

    def _after_reap(self, now: float, out: list[Effect]) -> None:
        """The rest of a reap tick: endpoint claims, direct links, held-back warnings."""
        self._settle_claims(now, out)
        for endpoint in self.direct.wanted():
            self._open_probe(endpoint, out)
        self.warnings.flush(now)  # "N more like: ..." lines for what was held back

    # -- failures: dropped connections, HWM, links that fail (spec/zre.md#hwm) ---------------------

    def handle_peer_disconnected(self, identity: bytes, now: float) -> list[Effect]:
        """The connection a peer opened to our ROUTER closed (and no newer one took over its
        identity): if another UUID claims its endpoint, that claim is granted now
        (spec/zre.md#endpoint-claims). Nothing else changes: the peer may reconnect."""
        out: list[Effect] = []
        peer = self.peer_of_identity(identity)
        if peer is None:
            return out
        peer.dropped_at = now
        claim = self.claims.get(peer.endpoint)
        if claim is not None and claim.holder is peer:
            claimant, was_parked = claim.claimant, claim.parked is not None
            if self._settle(claim, now, out) == "free" and not was_parked:
                self._require_peer(claimant, claim.endpoint, now, out, hello=False)
        return out

    def handle_send_blocked(self, link: str, now: float) -> list[Effect]:
        """A send on ``link`` hit the HWM: disconnect that peer; it expires later (spec/zre.md#hwm)."""
        out: list[Effect] = []
        self.stats.send_blocked += 1
        peer = self._by_link.pop(link, None)
        if peer is not None and peer.connected:
            self._warn(now, ("blocked", peer.uuid), "send to %s would block: disconnecting",
                       peer.name or peer.uuid)
            self._close_link(peer, out)
        else:
            self._drop_probe(link, out)
        return out

    def handle_link_failed(self, link: str, now: float, why: str) -> list[Effect]:
        """The shell could not carry out an effect for ``link`` (e.g. its endpoint cannot be
        connected): remove that peer (EXIT if it entered) or direct link; nothing else changes."""
        out: list[Effect] = []
        self.stats.link_failures += 1
        peer = self._by_link.get(link)
        if peer is not None and self.peers.get(peer.uuid) is peer:
            self._remove_peer(peer, out, f"link failed: {why}")
        else:
            self._drop_probe(link, out)
        return out

    def _drop_probe(self, link: str, out: list[Effect]) -> None:
        for dropped in self.direct.drop(link):
            out.append(DisconnectPeer(dropped))

    def _remove_peer(self, peer: Peer, out: list[Effect], why: str) -> None:
        """zyre_node_remove_peer: EXIT (if it ENTERed), leave its groups, close its link."""
        self._peer_keys.pop(peer.uuid, None)
        log.info("(%s) removing peer %s (%s): %s", self.name, peer.name or peer.uuid,
                 peer.endpoint, why)
        if peer.entered:
            out.append(PeerExited(peer.uuid, peer.name))
        was_in = list(peer.groups)
        for name in was_in:
            g = self.groups.get(name)
            if g is not None:
                g.leave(peer)
                if not g.peers:
                    del self.groups[name]
        for name in was_in:
            self._elect(self.elections.peer_exited(name, peer.uuid, self._members(name),
                                                   in_group=name in self.own_groups,
                                                   now=self._clock), out)
        if self._by_link.get(peer.link) is peer:
            del self._by_link[peer.link]
        self._close_link(peer, out)
        self.claims.forget(peer)
        if not peer.ready:
            self._unready -= 1
        del self.peers[peer.uuid]
        del self._by_identity[encode_identity(bytes.fromhex(peer.uuid))]
        del self.silence_order[peer]
        self.no_op_beacons.clear()  # its beacon means something again

    # -- application API (spec/zre.md#node) --------------------------------------------------------

    def join(self, group: str) -> list[Effect]:
        """Join ``group``: status +1, JOIN to every peer; no-op if already in (spec/zre.md#join)."""
        out: list[Effect] = []
        if group in self.own_groups:
            return out
        status = next_status(self.status)
        frames = ZRE.encode(Join(sequence=0, group=group, status=status))  # validates first
        self.status = status
        self.own_groups[group] = None
        self._send_all(frames, out)
        return out

    def leave(self, group: str) -> list[Effect]:
        """Leave ``group``: status +1, LEAVE to every peer; no-op if not in (spec/zre.md#leave)."""
        out: list[Effect] = []
        if group not in self.own_groups:
            return out
        status = next_status(self.status)
        frames = ZRE.encode(Leave(sequence=0, group=group, status=status))
        self.status = status
        del self.own_groups[group]
        self.elections.left(group)
        self._send_all(frames, out)
        return out

    def shout(self, group: str, content: Iterable[bytes]) -> list[Effect]:
        """SHOUT to every peer we know in ``group`` (at least one content frame, as zyre).

        Encoded once: each peer's data frame is the same bytes around its own sequence number,
        and every peer's message shares the content frames (spec/zre.md#shout)."""
        frames = self._encode.shout(group, tuple(content) or (b"",))
        out: list[Effect] = []
        g = self.groups.get(group)
        if g is None:
            return out
        links: list[str] = []
        targets: list[Peer] = []
        for peer in g.peers.values():
            if peer.connected:
                links.append(peer.link)
                targets.append(peer)
            elif peer.parked:
                self._hold(peer, frames)
        if targets:
            out.append(SendToPeers(links, self._encode.numbered(frames, targets)))
        return out

    def whisper(self, peer_uuid: str, content: Iterable[bytes]) -> list[Effect]:
        """WHISPER to one peer (by 32-hex UUID); unknown peers are ignored, as in zyre."""
        frames = self._encode.whisper(tuple(content) or (b"",))
        out: list[Effect] = []
        peer = self.peers.get(peer_uuid) or self.peers.get(peer_uuid.upper())
        if peer is not None and peer.parked:
            self._hold(peer, frames)
        elif peer is not None:
            self._send(peer, frames, out)
        return out

    def set_header(self, key: str, value: str) -> None:
        """Set a header for HELLOs sent from now on."""
        self.headers[key] = value

    # -- direct mode and gossip (spec/zre.md#direct) -----------------------------------------------

    def connect_peer(self, endpoint: str) -> list[Effect]:
        """Direct mode: keep a link to ``endpoint`` and greet whoever is there (spec/zre.md#direct).

        The link is adopted by the peer whose HELLO (or beacon) names this endpoint. If that peer
        goes away, the next reap tick opens a new link to the endpoint.
        """
        if endpoint == self.endpoint:
            return []
        self.direct.want(endpoint)
        out: list[Effect] = []
        if self.started:
            self._open_probe(endpoint, out)
        return out

    def _open_probe(self, endpoint: str, out: list[Effect]) -> None:
        """Open a probe to ``endpoint`` unless one is open or a peer there is known (spec/zre.md#direct)."""
        if self.direct.probing(endpoint) or any(p.endpoint == endpoint for p in self.peers.values()):
            return
        probe = self.direct.add(endpoint, self._new_link(f"direct:{endpoint}"))
        out.append(ConnectPeer(probe.link, endpoint, self.identity, self.sndhwm))
        probe.sent_sequence = 1
        out.append(SendToPeer(probe.link, with_sequence(self._hello_frames(), 1)))

    def discover(self, peer_uuid: str, endpoint: str, now: float) -> list[Effect]:
        """A peer learned by gossip, ``uuid = endpoint``: connect and say HELLO, as for a beacon
        (zyre_node_recv_gossip; spec/zgossip.md#zyre). ``endpoint|key`` (CURVE) keeps the endpoint."""
        out: list[Effect] = []
        found = gossiped_peer(peer_uuid, endpoint)
        if not self.started or found is None or found[0] == self.uuid or found[1] == self.endpoint:
            return out
        self._require_peer(*found, now, out, hello=False)  # as a beacon
        return out

    # -- elections (spec/election.md) --------------------------------------------------------------

    def set_contest_in_group(self, group: str) -> None:
        """Stand for leader in ``group`` (zyre_set_contest_in_group)."""
        self.elections.set_contest(group)

    def leader(self, group: str) -> str | None:
        """UUID of ``group``'s elected leader (maybe ours), or None."""
        return self.elections.leader(group)

    def _members(self, group: str) -> set[str]:
        g = self.groups.get(group)
        return set(g.peers) if g is not None else set()

    def _election_input(self, msg: Join | Leave | Elect | Leader, sender: str, now: float,
                        out: list[Effect]) -> None:
        """What a peer's JOIN, LEAVE, ELECT or LEADER means to the election in its group."""
        group = msg.group
        self._elect(election_input(self.elections, msg, sender, self._members(group),
                                   in_group=group in self.own_groups, now=now), out)

    def _elect(self, effects: list[ElectionEffect], out: list[Effect]) -> None:
        """Carry out the election core's effects: ELECT/LEADER to peers, the LEADER event."""
        for e in effects:
            if isinstance(e, LeaderDecided):
                peer = self.peers.get(e.leader)
                name = self.name if e.leader == self.uuid else (peer.name if peer else "")
                out.append(LeaderElected(e.leader, name, e.group))
                continue
            frames = ZRE.encode(election_message(e))
            for uuid in e.to:
                peer = self.peers.get(uuid)
                if peer is not None:
                    self._send(peer, frames, out)

    # -- leaving (spec/zre.md#leaving) -------------------------------------------------------------

    def stop(self, now: float) -> list[Effect]:
        """Stop: port-0 beacon (or GOODBYEs), close every link, then STOP (spec/zre.md#leaving)."""
        if not self.started:
            return []
        out: list[Effect] = []
        if self.beaconing:
            out.append(SendBeacon(self.beacon(port=0)))
        if self.goodbye:
            frames = ZRE.encode(Goodbye(sequence=0))
            for peer in self.peers.values():
                self._send(peer, frames, out)
        for peer in self.peers.values():
            if peer.connected:
                out.append(DisconnectPeer(peer.link))
        for link in self.direct.close_all():
            out.append(DisconnectPeer(link))
        self.peers.clear()
        self.no_op_beacons.clear()
        self._by_link.clear()
        self.claims.clear()
        self._unready = 0
        self.groups.clear()
        self.started = False
        self.stopped = True
        self._reap_at = self._beacon_at = None
        out.append(NodeStopped(self.uuid, self.name))
        return out

    # -- queries -----------------------------------------------------------------------------------

    def peer_uuids(self) -> list[str]:
        """UUIDs of every peer in the table (zyre_peers), ready or not."""
        return list(self.peers)

    def ready_peers(self) -> list[str]:
        """UUIDs of peers whose HELLO arrived (those the application has seen ENTER)."""
        return [u for u, p in self.peers.items() if p.entered]

    def peer_groups(self) -> list[str]:
        """Groups any peer is in (zyre_peer_groups)."""
        return [name for name, g in self.groups.items() if g.peers]

    def peers_by_group(self, group: str) -> list[str]:
        """UUIDs of the peers in ``group`` (zyre_peers_by_group)."""
        g = self.groups.get(group)
        return list(g.peers) if g is not None else []

    def peer(self, peer_uuid: str) -> Peer | None:
        """The peer with this 32-hex UUID, if known."""
        return self.peers.get(peer_uuid.upper())

    def peer_key_count(self) -> int:
        """CURVE public keys held for connecting to peers: only peers in the table keep one, so
        spoofed version 3 beacons cannot grow this past the table (spec/zre.md#curve-mode-zyre)."""
        return len(self._peer_keys)

    def peer_of_link(self, link: str) -> Peer | None:
        """The peer whose DEALER is ``link`` (the id in Connect/Send effects), if any."""
        return self._by_link.get(link)

    def peer_of_identity(self, identity: bytes) -> Peer | None:
        """The peer that sends with this ROUTER identity (0x01 + UUID), if known. Receivers
        ignore the first octet (spec/zre.md#identity): any other one names the same peer."""
        peer = self._by_identity.get(identity)
        if peer is None and len(identity) == IDENTITY_SIZE:
            peer = self.peers.get(uuid_hex(identity[1:]))
        return peer

    # -- sending -----------------------------------------------------------------------------------

    def _hello(self) -> ZreMessage:
        return Hello(sequence=0, endpoint=self.endpoint, groups=tuple(self.own_groups),
                     status=self.status, name=self.name, headers=dict(self.headers))

    def _hello_frames(self) -> list[bytes]:
        """Our HELLO encoded (sequence 0; senders set theirs on a copy): encoded again only
        when what it says changed, so greeting many peers encodes it once."""
        msg = self._hello()
        memo = self._hello_memo
        if memo is None or memo[0] != msg:
            memo = self._hello_memo = (msg, ZRE.encode(msg))
        return memo[1]

    def _send(self, peer: Peer, frames: list[bytes], out: list[Effect]) -> None:
        """zyre_peer_send: only while connected; the sequence is bumped first."""
        if peer.connected:
            out.append(SendToPeer(peer.link, with_sequence(frames, peer.next_sequence())))

    def _hold(self, peer: Peer, frames: list[bytes]) -> None:
        """A WHISPER or SHOUT for a parked peer waits for its link, up to sndhwm of them
        (spec/zre.md#endpoint-claims); JOIN/LEAVE need not: its HELLO will carry our groups."""
        if len(peer.held) < self.sndhwm:
            peer.held.append(frames)
        else:
            self.stats.send_blocked += 1

    def _send_all(self, frames: list[bytes], out: list[Effect]) -> None:
        """To every peer, and to every direct link whose peer has not said HELLO yet (so the
        status it will count from our HELLO stays in step, as zyre's not-ready peers do)."""
        for peer in self.peers.values():
            self._send(peer, frames, out)
        for probe in self.direct.open():
            probe.sent_sequence = next_sequence(probe.sent_sequence)
            out.append(SendToPeer(probe.link, with_sequence(frames, probe.sent_sequence)))

    def _new_link(self, base: str) -> str:
        self._link_serial += 1
        return f"{base}#{self._link_serial}"

    def _warn(self, now: float, key: object, fmt: str, *args: object) -> None:
        self.warnings.warning(now, key, "(%s) " + fmt, self.name, *args)

