"""The sans-IO ZRE node: discovery, Harmony, groups and presence as zyre does them (spec/zre.md#node).

:class:`NodeCore` never does I/O and never reads the clock. Feed it what happened
(:meth:`~NodeCore.handle_beacon`, :meth:`~NodeCore.handle_message`, :meth:`~NodeCore.handle_timer`,
:meth:`~NodeCore.handle_send_blocked`) and what the application wants (:meth:`~NodeCore.join`,
:meth:`~NodeCore.shout` ...); each call returns a list of *effects* for the shell to carry out in
order, and :meth:`~NodeCore.next_deadline` says when to call ``handle_timer`` next.

Theory of operation (zyre src/zyre_node.c; wire-facts §2-§4):

* Every peer gets one DEALER from us (a *link*, identity 0x01 + our UUID) to its ROUTER, and the
  first thing on it is our HELLO (sequence 1). The peer is *ready* once its HELLO reaches our
  ROUTER; anything else it sends before that is dropped.
* A HELLO from a peer that is already ready means it restarted: EXIT, then build it again.
* A new UUID at an endpoint some other peer uses disconnects that older peer (it expires later).
* Sequence numbers run per direction, u16; a gap drops the peer (EXIT). The group status counts
  JOIN/LEAVE (u8); a mismatch drops the peer (zyre aborts the process instead).
* Presence: each reap tick, a peer silent past ``evasive`` gets a PING (and EVASIVE, then
  SILENT); past ``expired`` it is removed (EXIT). Beacons do not refresh a peer; messages do.
* Direct mode (:meth:`~NodeCore.connect_peer`): a link to an endpoint whose UUID we do not know
  yet sends HELLO at once and is adopted by the peer whose HELLO or beacon names that endpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import DecodeError
from ..wire import pack_u16
from .beacon import BEACON_PREFIX, BEACON_SIZE, BEACON_VERSION, Beacon, decode_beacon, encode_beacon
from .election import ElectionEffect, Elections, LeaderDecided, SendElect
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
    ZreEvent,
    new_shout_received,
    new_whisper_received,
)
from .group import Group
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
)
from .peer import SEQUENCE_MASK, STATUS_MASK, Peer

log = logging.getLogger(__name__)

#: zyre's default timers, in seconds (spec/zre.md#presence; zyre_node_new, s_reap_interval)
EVASIVE_TIMEOUT = 5.0
EXPIRED_TIMEOUT = 30.0
REAP_INTERVAL = 1.0
BEACON_INTERVAL = 1.0
#: DEALER send high-water mark per second of ``expired`` (RFC 36: 100 msg/s x 30 s = 3000)
SNDHWM_PER_SECOND = 100
#: Offset of the u16 sequence in every ZRE data frame: AA A1 id version | seq (spec/zre.md#message-layout)
_SEQ_AT = 4
#: The 4 bytes before the sequence, for the messages :func:`decode_fast` handles
_HEAD_WHISPER = b"\xaa\xa1\x02\x02"
_HEAD_SHOUT = b"\xaa\xa1\x03\x02"
_HEAD_PING = b"\xaa\xa1\x06\x02"
_HEAD_PING_OK = b"\xaa\xa1\x07\x02"
#: PING and PING-OK data frames with sequence 0 (patched per peer) (spec/zre.md#ping)
_PING_DATA = _HEAD_PING + b"\x00\x00"
_PING_OK_DATA = _HEAD_PING_OK + b"\x00\x00"
#: a plain (version 1) beacon: "ZRE" 01 | UUID | port (spec/zre.md#beacon)
_BEACON_V1_HEAD = BEACON_PREFIX + bytes((BEACON_VERSION,))
_BEACON_V1_SIZE = BEACON_SIZE

__all__ = [
    "BEACON_INTERVAL",
    "EVASIVE_TIMEOUT",
    "EXPIRED_TIMEOUT",
    "REAP_INTERVAL",
    "ConnectPeer",
    "DisconnectPeer",
    "Effect",
    "NodeCore",
    "SendBeacon",
    "SendToPeer",
    "SendToPeers",
    "decode_fast",
    "uuid_hex",
]


def uuid_hex(uuid: bytes) -> str:
    """A UUID as zyre prints it: 32 upper-case hex characters (spec/zre.md#identity)."""
    return uuid.hex().upper()


#: stands for "no peer yet" in NodeCore.handle_messages
_NOBODY = Peer(uuid="", endpoint="", link="")


def _group_of(data: bytes) -> str | None:
    """The group of a SHOUT data frame (u8 length + UTF-8 after the sequence), else None."""
    if len(data) < 7:
        return None
    end = 7 + data[6]
    if len(data) < end:
        return None
    try:
        return data[7:end].decode("utf-8")
    except UnicodeDecodeError:  # the codec will say why
        return None


def decode_fast(frames: list[bytes]) -> ZreMessage | None:
    """The hot messages (WHISPER, SHOUT, PING, PING-OK) decoded without the generic codec.

    Returns exactly what ``ZRE.decode(frames, strict=False)`` would, or None for anything else
    (other messages, or input the codec must judge); tests check the two agree.
    """
    data = frames[0] if frames else b""
    if len(data) < 6 or type(data) is not bytes:
        return None
    head = data[:4]
    seq = (data[4] << 8) | data[5]
    if head == _HEAD_WHISPER:
        return Whisper(sequence=seq, content=tuple(frames[1:]))
    if head == _HEAD_SHOUT:
        group = _group_of(data)
        if group is None:
            return None
        return Shout(sequence=seq, group=group, content=tuple(frames[1:]))
    if head == _HEAD_PING:
        return Ping(sequence=seq)
    if head == _HEAD_PING_OK:
        return PingOk(sequence=seq)
    return None


# -- effects ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnectPeer:
    """Open a DEALER with ``identity`` and SNDHWM ``sndhwm``, connect it to ``endpoint``."""

    link: str
    endpoint: str
    identity: bytes
    sndhwm: int


@dataclass(frozen=True, slots=True)
class DisconnectPeer:
    """Close the DEALER ``link`` (pending output may be dropped, as with linger 0)."""

    link: str


@dataclass(slots=True)
class SendToPeer:
    """Send ``frames`` on the DEALER ``link`` without blocking; report a full queue back
    with :meth:`NodeCore.handle_send_blocked`. (Not frozen: one is made per message sent,
    and a frozen dataclass costs twice as much to build.)"""

    link: str
    frames: list[bytes]


@dataclass(slots=True)
class SendToPeers:
    """One message to many links (a SHOUT): ``messages[i]`` goes on ``links[i]``, exactly as
    SendToPeer would send it. The messages differ only in their sequence number and share
    their content frames (spec/zre.md#shout)."""

    links: list[str]
    messages: list[list[bytes]]

    def split(self) -> list[SendToPeer]:
        """The same, as one SendToPeer per link."""
        return [SendToPeer(link, frames) for link, frames in zip(self.links, self.messages, strict=True)]


@dataclass(frozen=True, slots=True)
class SendBeacon:
    """Broadcast this UDP beacon datagram now."""

    data: bytes


#: What the shell must do. A :class:`~zre_ref.zre.events.ZreEvent` among them is handed to the
#: application as it is.
Effect = ConnectPeer | DisconnectPeer | SendToPeer | SendToPeers | SendBeacon | ZreEvent


@dataclass(slots=True, eq=False)
class _Probe:
    """A link opened by :meth:`NodeCore.connect_peer` before we know who is there."""

    endpoint: str
    link: str
    sent_sequence: int = 0
    connected: bool = True


@dataclass(slots=True)
class _Stats:
    """Counters for tests and benchmarks."""

    dropped_malformed: int = 0
    dropped_not_ready: int = 0
    sequence_gaps: int = 0
    status_mismatches: int = 0
    send_blocked: int = 0
    hello_rebuilds: int = 0
    purges: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class NodeCore:
    """One ZRE node without I/O (spec/zre.md#node). Every method returns effects in order.

    ``beacon_interval=None`` turns UDP discovery off (direct mode only). ``endpoint`` is our
    ROUTER's advertised endpoint; it must be set (here or via :attr:`endpoint`) before start.
    """

    def __init__(
        self,
        uuid: bytes | None = None,
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
    ) -> None:
        self.uuid = bytes(uuid) if uuid is not None else os.urandom(16)
        if len(self.uuid) != 16:
            raise ValueError("uuid must be 16 bytes")
        self.uuid_hex = uuid_hex(self.uuid)
        self.identity = encode_identity(self.uuid)
        self.name = name if name is not None else self.uuid_hex[:6]
        self.headers: dict[str, str] = dict(headers or {})
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
        self.status = 0
        self.own_groups: dict[str, None] = {}
        self.peers: dict[str, Peer] = {}
        self.groups: dict[str, Group] = {}
        self.stats = _Stats()
        self.started = False
        self.stopped = False
        self._by_link: dict[str, Peer] = {}
        self._probes: dict[str, _Probe] = {}  # endpoint -> probe
        self._direct: dict[str, None] = {}  # endpoints we keep connecting to
        self._reap_at: float | None = None
        self._beacon_at: float | None = None
        self._link_serial = 0
        self._uuid_cache: dict[bytes, str] = {}
        self._shout_heads: dict[str, bytes] = {}
        #: leader elections per group (spec/election.md); ``_clock``: the last ``now`` seen
        self.elections = Elections(self.uuid_hex)
        self._clock = 0.0

    # -- helpers ---------------------------------------------------------------------------------
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

    def beacon(self, port: int | None = None) -> bytes:
        """Our beacon datagram; port 0 says we are leaving (spec/zre.md#beacon)."""
        return encode_beacon(Beacon(version=BEACON_VERSION, uuid=self.uuid,
                                    port=self.port if port is None else port))

    def _hello(self) -> ZreMessage:
        return Hello(sequence=0, endpoint=self.endpoint, groups=tuple(self.own_groups),
                     status=self.status, name=self.name, headers=dict(self.headers))

    @staticmethod
    def _with_sequence(frames: list[bytes], sequence: int) -> list[bytes]:
        data = frames[0]
        out = [data[:_SEQ_AT] + pack_u16(sequence) + data[_SEQ_AT + 2:]]
        if len(frames) > 1:
            out.extend(frames[1:])
        return out

    def _send(self, peer: Peer, frames: list[bytes], out: list[Effect]) -> None:
        """zyre_peer_send: only while connected; the sequence is bumped first."""
        if peer.connected:
            out.append(SendToPeer(peer.link, self._with_sequence(frames, peer.next_sequence())))

    def _send_all(self, frames: list[bytes], out: list[Effect]) -> None:
        """To every peer, and to every direct link whose peer has not said HELLO yet (so the
        status it will count from our HELLO stays in step, as zyre's not-ready peers do)."""
        for peer in self.peers.values():
            self._send(peer, frames, out)
        for probe in self._probes.values():
            if probe.connected:
                probe.sent_sequence = (probe.sent_sequence + 1) & SEQUENCE_MASK
                out.append(SendToPeer(probe.link, self._with_sequence(frames, probe.sent_sequence)))

    def _new_link(self, base: str) -> str:
        self._link_serial += 1
        return f"{base}#{self._link_serial}"

    def _emit(self, out: list[Effect], event: ZreEvent) -> None:
        out.append(event)

    # -- lifecycle ---------------------------------------------------------------------------------
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
        for endpoint in self._direct:
            self._open_probe(endpoint, out)
        return out

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
            out.append(DisconnectPeer(peer.link))
        for probe in self._probes.values():
            out.append(DisconnectPeer(probe.link))
        self.peers.clear()
        self._by_link.clear()
        self._probes.clear()
        self.groups.clear()
        self.started = False
        self.stopped = True
        self._reap_at = self._beacon_at = None
        self._emit(out, NodeStopped(self.uuid_hex, self.name))
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next (None when stopped)."""
        if self._reap_at is None:
            return None
        if self._beacon_at is None:
            return self._reap_at
        return min(self._reap_at, self._beacon_at)

    # -- application API -------------------------------------------------------------------------
    def join(self, group: str) -> list[Effect]:
        """Join ``group``: status +1, JOIN to every peer; no-op if already in (spec/zre.md#join)."""
        out: list[Effect] = []
        if group in self.own_groups:
            return out
        status = (self.status + 1) & STATUS_MASK
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
        status = (self.status + 1) & STATUS_MASK
        frames = ZRE.encode(Leave(sequence=0, group=group, status=status))
        self.status = status
        del self.own_groups[group]
        self.elections.left(group)
        self._send_all(frames, out)
        return out

    def _shout_frames(self, group: str, content: Iterable[bytes]) -> list[bytes]:
        body = tuple(content) or (b"",)
        head = self._shout_heads.get(group)
        if head is None or not (type(body[0]) is bytes if len(body) == 1
                                else all(type(c) is bytes for c in body)):
            frames = ZRE.encode(Shout(sequence=0, group=group, content=body))  # validates
            if len(self._shout_heads) < 1024:
                self._shout_heads[group] = frames[0]
            return frames
        return [head, *body]

    def shout(self, group: str, content: Iterable[bytes]) -> list[Effect]:
        """SHOUT to every peer we know in ``group`` (at least one content frame, as zyre).

        Encoded once: each peer's data frame is the same bytes around its own sequence number,
        and every peer's message shares the content frames (spec/zre.md#shout)."""
        frames = self._shout_frames(group, content)
        out: list[Effect] = []
        g = self.groups.get(group)
        if g is None:
            return out
        data = frames[0]
        head, tail, body = data[:_SEQ_AT], data[_SEQ_AT + 2:], frames[1:]
        one = body[0] if len(body) == 1 else None
        links: list[str] = []
        messages: list[list[bytes]] = []
        for peer in g.peers.values():
            if peer.connected:
                seq = peer.sent_sequence = (peer.sent_sequence + 1) & SEQUENCE_MASK
                first = head + seq.to_bytes(2, "big") + tail
                links.append(peer.link)
                messages.append([first, one] if one is not None else [first, *body])
        if links:
            out.append(SendToPeers(links, messages))
        return out

    def whisper(self, peer_uuid: str, content: Iterable[bytes]) -> list[Effect]:
        """WHISPER to one peer (by 32-hex UUID); unknown peers are ignored, as in zyre."""
        body = tuple(content) or (b"",)
        if any(type(c) is not bytes for c in body):
            frames = ZRE.encode(Whisper(sequence=0, content=body))  # validates
        else:
            frames = [_HEAD_WHISPER + b"\x00\x00", *body]
        out: list[Effect] = []
        peer = self.peers.get(peer_uuid) or self.peers.get(peer_uuid.upper())
        if peer is not None:
            self._send(peer, frames, out)
        return out

    def set_header(self, key: str, value: str) -> None:
        """Set a header for HELLOs sent from now on."""
        self.headers[key] = value

    def connect_peer(self, endpoint: str) -> list[Effect]:
        """Direct mode: keep a link to ``endpoint`` and greet whoever is there (spec/zre.md#direct).

        The link is adopted by the peer whose HELLO (or beacon) names this endpoint. If that peer
        goes away, the next reap tick opens a new link to the endpoint.
        """
        if endpoint == self.endpoint:
            return []
        self._direct[endpoint] = None
        out: list[Effect] = []
        if self.started:
            self._open_probe(endpoint, out)
        return out

    def _open_probe(self, endpoint: str, out: list[Effect]) -> None:
        if endpoint in self._probes or any(p.endpoint == endpoint for p in self.peers.values()):
            return
        probe = _Probe(endpoint=endpoint, link=self._new_link(f"direct:{endpoint}"))
        self._probes[endpoint] = probe
        out.append(ConnectPeer(probe.link, endpoint, self.identity, self.sndhwm))
        probe.sent_sequence = 1
        out.append(SendToPeer(probe.link, self._with_sequence(ZRE.encode(self._hello()), 1)))

    def _take_probe(self, endpoint: str) -> _Probe | None:
        probe = self._probes.pop(endpoint, None)
        if probe is not None:
            return probe
        # zyre with interface "*" advertises tcp://<hostname>:<port>: fall back to the port alone
        port = endpoint.rsplit(":", 1)[-1]
        same = [p for p in self._probes.values() if p.endpoint.rsplit(":", 1)[-1] == port]
        if len(same) == 1:
            return self._probes.pop(same[0].endpoint)
        return None

    def discover(self, peer_uuid: str, endpoint: str, now: float) -> list[Effect]:
        """A peer learned by gossip, ``uuid = endpoint``: connect and say HELLO, as for a beacon
        (zyre_node_recv_gossip; spec/zgossip.md#zyre). ``endpoint|key`` (CURVE) keeps the endpoint."""
        out: list[Effect] = []
        endpoint = endpoint.split("|", 1)[0]
        key = peer_uuid.upper()
        if (not self.started or key == self.uuid_hex or endpoint == self.endpoint
                or len(key) != 32 or not all(c in "0123456789ABCDEF" for c in key)):
            return out
        self._require_peer(key, endpoint, now, out)
        return out

    # -- elections (spec/election.md) ------------------------------------------------------------
    def set_contest_in_group(self, group: str) -> None:
        """Stand for leader in ``group`` (zyre_set_contest_in_group)."""
        self.elections.set_contest(group)

    def leader(self, group: str) -> str | None:
        """UUID of ``group``'s elected leader (maybe ours), or None."""
        return self.elections.leader(group)

    def _members(self, group: str) -> set[str]:
        g = self.groups.get(group)
        return set(g.peers) if g is not None else set()

    def _elect(self, effects: list[ElectionEffect], out: list[Effect]) -> None:
        """Carry out the election core's effects: ELECT/LEADER to peers, the LEADER event."""
        for e in effects:
            if isinstance(e, LeaderDecided):
                peer = self.peers.get(e.leader)
                name = self.name if e.leader == self.uuid_hex else (peer.name if peer else "")
                self._emit(out, LeaderElected(e.leader, name, e.group))
                continue
            msg = (Elect(sequence=0, group=e.group, challenger_id=e.challenger)
                   if isinstance(e, SendElect) else
                   Leader(sequence=0, group=e.group, leader_id=e.leader))
            frames = ZRE.encode(msg)
            for uuid in e.to:
                peer = self.peers.get(uuid)
                if peer is not None:
                    self._send(peer, frames, out)

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

    # -- discovery -----------------------------------------------------------------------------------
    def handle_beacon(self, beacon: Beacon, source_ip: str, now: float) -> list[Effect]:
        """A decoded UDP beacon from ``source_ip`` (spec/zre.md#beacon; zyre_node_recv_beacon)."""
        out: list[Effect] = []
        if not self.started:
            return out
        if beacon.version != BEACON_VERSION:
            log.debug("(%s) beacon version %d ignored", self.name, beacon.version)
            return out
        if beacon.uuid == self.uuid:
            return out
        peer_id = uuid_hex(beacon.uuid)
        if beacon.port:
            host = f"[{source_ip}]" if ":" in source_ip else source_ip
            self._require_peer(peer_id, f"tcp://{host}:{beacon.port}", now, out)
        else:
            peer = self.peers.get(peer_id)
            if peer is not None:
                self._remove_peer(peer, out, "port-0 beacon")
        return out

    def handle_beacon_datagram(self, data: bytes, source_ip: str, now: float) -> list[Effect]:
        """A raw UDP datagram: decoded, then :meth:`handle_beacon`. A plain beacon (22 bytes,
        port != 0) from ourselves or from a peer we know changes nothing (wire-facts §2.2), so
        that common case is answered without decoding (spec/zre.md#beacon)."""
        if len(data) == _BEACON_V1_SIZE and data.startswith(_BEACON_V1_HEAD) and data[20:22] != b"\0\0":
            if data[4:20] == self.uuid:
                return []
            peer_id = self._uuid_cache.get(data[3:20])  # 01 + UUID: the identity form
            if peer_id is not None and peer_id in self.peers:
                return []
        try:
            beacon = decode_beacon(data)
        except DecodeError as exc:
            log.debug("(%s) bad beacon from %s: %s", self.name, source_ip, exc)
            return []
        return self.handle_beacon(beacon, source_ip, now)

    def _require_peer(self, peer_id: str, endpoint: str, now: float, out: list[Effect]) -> Peer:
        """zyre_node_require_peer: find, or create + connect + HELLO (spec/zre.md#harmony)."""
        peer = self.peers.get(peer_id)
        if peer is not None:
            return peer
        for other in self.peers.values():
            if other.endpoint == endpoint and other.connected:
                log.info("(%s) new peer %s at %s: disconnecting %s", self.name, peer_id,
                         endpoint, other.uuid)
                self.stats.purges += 1
                other.connected = False
                out.append(DisconnectPeer(other.link))
                del self._by_link[other.link]
        probe = self._take_probe(endpoint)
        if probe is not None:
            peer = Peer(uuid=peer_id, endpoint=probe.endpoint, link=probe.link,
                        sent_sequence=probe.sent_sequence, connected=probe.connected)
        else:
            peer = Peer(uuid=peer_id, endpoint=endpoint, link=self._new_link(peer_id))
            out.append(ConnectPeer(peer.link, endpoint, self.identity, self.sndhwm))
        self.peers[peer_id] = peer
        self._by_link[peer.link] = peer
        if probe is None:
            self._send(peer, ZRE.encode(self._hello()), out)
        peer.refresh(now, self.evasive, self.expired)
        return peer

    def _remove_peer(self, peer: Peer, out: list[Effect], why: str) -> None:
        """zyre_node_remove_peer: EXIT (if it ENTERed), leave its groups, close its link."""
        log.info("(%s) removing peer %s (%s): %s", self.name, peer.name or peer.uuid,
                 peer.endpoint, why)
        if peer.entered:
            self._emit(out, PeerExited(peer.uuid, peer.name))
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
        if peer.connected:
            peer.connected = False
            out.append(DisconnectPeer(peer.link))
        del self.peers[peer.uuid]

    # -- Harmony -----------------------------------------------------------------------------------
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
        try:
            msg = decode_fast(frames) or ZRE.decode(frames, strict=False)
        except DecodeError as exc:
            log.info("(%s) malformed message dropped: %s", self.name, exc)
            self.stats.dropped_malformed += 1
            return out
        peer_id = self._uuid_cache.get(identity)
        if peer_id is None:
            peer_id = uuid_hex(identity[1:])
            if len(self._uuid_cache) > 4096:
                self._uuid_cache.clear()
            self._uuid_cache[identity] = peer_id
        peer = self.peers.get(peer_id)
        is_hello = isinstance(msg, Hello)
        if isinstance(msg, Hello):
            if peer is not None:
                if peer.ready:
                    self.stats.hello_rebuilds += 1
                    self._remove_peer(peer, out, "HELLO from a ready peer: restarted")
                    peer = None
                elif peer.endpoint == self.endpoint:
                    return out
            if peer_id == self.uuid_hex:
                return out
            peer = self._require_peer(peer_id, msg.endpoint, now, out)
            peer.ready = True
        if peer is None or not peer.ready:
            self.stats.dropped_not_ready += 1
            return out
        if not peer.sequence_ok(msg.sequence, is_hello):
            log.warning("(%s) sequence gap from %s: expected %d, got %d", self.name,
                        peer.name or peer.uuid, peer.want_sequence, msg.sequence)
            self.stats.sequence_gaps += 1
            self._remove_peer(peer, out, "messages lost")
            return out
        if isinstance(msg, Shout):
            self._emit(out, ShoutReceived(peer_id, peer.name, msg.group, msg.content))
        elif isinstance(msg, Whisper):
            self._emit(out, WhisperReceived(peer_id, peer.name, msg.content))
        elif isinstance(msg, Ping):
            self._send(peer, [_PING_OK_DATA], out)
        elif isinstance(msg, PingOk):
            pass
        elif isinstance(msg, Hello):
            peer.name = msg.name
            peer.headers = dict(msg.headers)
            peer.entered = True
            self._emit(out, PeerEntered(peer_id, peer.name, dict(msg.headers), msg.endpoint))
            for name in msg.groups:
                self._peer_join(peer, name, out)
            peer.status = msg.status & STATUS_MASK
        elif isinstance(msg, (Join, Leave)):
            if isinstance(msg, Join):
                self._peer_join(peer, msg.group, out)
            else:
                self._peer_leave(peer, msg.group, out)
            if msg.status != peer.status:
                log.warning("(%s) status mismatch from %s: expected %d, got %d", self.name,
                            peer.name, peer.status, msg.status)
                self.stats.status_mismatches += 1
                self._remove_peer(peer, out, "group status mismatch")
                return out
            hook = (self.elections.peer_joined if isinstance(msg, Join)
                    else self.elections.peer_left)
            self._elect(hook(msg.group, peer.uuid, self._members(msg.group),
                             in_group=msg.group in self.own_groups, now=now), out)
        elif isinstance(msg, Goodbye):
            if not self.beaconing:
                self._remove_peer(peer, out, "GOODBYE")
                return out
        elif isinstance(msg, Elect):
            self._elect(self.elections.on_elect(
                msg.group, peer_id, msg.challenger_id, self._members(msg.group), now,
                in_group=msg.group in self.own_groups), out)
        elif isinstance(msg, Leader):
            self._elect(self.elections.on_leader(
                msg.group, peer_id, msg.leader_id, self._members(msg.group), now,
                in_group=msg.group in self.own_groups), out)
        peer.refresh(now, self.evasive, self.expired)
        return out

    def handle_messages(self, messages: Iterable[Sequence[bytes]], now: float) -> list[Effect]:
        """Many ROUTER messages (``[identity, data frame, content...]``) that arrived together:
        the same effects as :meth:`handle_message` on each in turn, with a short path for the
        common cases, a SHOUT, WHISPER, PING or PING-OK in sequence from a ready peer
        (spec/zre.md#harmony). This runs once per message received: keep it lean."""
        out: list[Effect] = []
        if not self.started:
            return out
        append = out.append
        slow = self.handle_message
        ids = self._uuid_cache
        peers = self.peers
        evasive_at = now + self.evasive
        expired_at = now + self.expired
        head_shout, head_whisper = _HEAD_SHOUT, _HEAD_WHISPER
        new_shout, new_whisper = new_shout_received, new_whisper_received
        group_raw = b""  # the last group seen in this batch: u8 length + UTF-8 name
        group = ""
        last: bytes | None = None  # identity object of the peer below (ROUTERs reuse it)
        peer = _NOBODY
        peer_id = ""
        for msg in messages:
            if len(msg) < 2:
                continue
            identity = msg[0]
            if identity is not last:
                found = ids.get(identity)
                if found is None or (p := peers.get(found)) is None or not p.ready:
                    last = None
                    out.extend(slow(identity, list(msg[1:]), now))
                    continue
                last, peer, peer_id = identity, p, found
            data = msg[1]
            want = (peer.want_sequence + 1) & SEQUENCE_MASK
            if len(data) < 6 or ((data[4] << 8) | data[5]) != want or type(data) is not bytes:
                last = None  # the slow path may change or remove any peer
                out.extend(slow(identity, list(msg[1:]), now))
                continue
            if data.startswith(head_shout):
                if not (group_raw and data.startswith(group_raw, 6)):
                    name = _group_of(data)
                    if name is None:
                        last = None
                        out.extend(slow(identity, list(msg[1:]), now))
                        continue
                    group, group_raw = name, data[6:7 + data[6]]
                append(new_shout(peer_id, peer.name, group,
                                 (msg[2],) if len(msg) == 3 else tuple(msg[2:])))
            elif data.startswith(head_whisper):
                append(new_whisper(peer_id, peer.name, tuple(msg[2:])))
            elif data.startswith(_HEAD_PING_OK):
                pass
            elif data.startswith(_HEAD_PING):
                self._send(peer, [_PING_OK_DATA], out)
            else:
                last = None
                out.extend(slow(identity, list(msg[1:]), now))
                continue
            peer.want_sequence = want
            peer.evasive_at = evasive_at
            peer.expired_at = expired_at
        return out

    def _peer_join(self, peer: Peer, name: str, out: list[Effect]) -> None:
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = Group(name)
        g.join(peer)
        peer.bump_status()
        self._emit(out, PeerJoined(peer.uuid, peer.name, name))

    def _peer_leave(self, peer: Peer, name: str, out: list[Effect]) -> None:
        g = self.groups.get(name)
        if g is not None:
            g.leave(peer)
            if not g.peers:
                del self.groups[name]
        peer.groups.discard(name)
        peer.bump_status()
        self._emit(out, PeerLeft(peer.uuid, peer.name, name))

    def handle_send_blocked(self, link: str, now: float) -> list[Effect]:
        """A send on ``link`` hit the HWM: disconnect that peer; it expires later (spec/zre.md#hwm)."""
        out: list[Effect] = []
        self.stats.send_blocked += 1
        peer = self._by_link.pop(link, None)
        if peer is not None and peer.connected:
            log.warning("(%s) send to %s would block: disconnecting", self.name, peer.name)
            peer.connected = False
            out.append(DisconnectPeer(link))
        else:
            for endpoint, probe in list(self._probes.items()):
                if probe.link == link:
                    probe.connected = False
                    del self._probes[endpoint]
                    out.append(DisconnectPeer(link))
        return out

    # -- presence ---------------------------------------------------------------------------------
    def handle_timer(self, now: float) -> list[Effect]:
        """Run whatever is due: the beacon, the reap tick and election restarts (spec/zre.md#presence)."""
        out: list[Effect] = []
        if not self.started:
            return out
        self._clock = now
        if self._beacon_at is not None and self.beacon_interval is not None and now >= self._beacon_at:
            out.append(SendBeacon(self.beacon()))
            self._beacon_at = max(self._beacon_at + self.beacon_interval, now)
        if self._reap_at is not None and now >= self._reap_at:
            self._reap_at = now + self.reap_interval
            self._reap(now, out)
            self._elect(self.elections.tick(now, self._members), out)
        return out

    def _reap(self, now: float, out: list[Effect]) -> None:
        """zyre_node_ping_peer for every peer, then re-open lost direct links."""
        ping = [_PING_DATA]
        for peer in list(self.peers.values()):
            if now >= peer.expired_at:
                self._remove_peer(peer, out, "expired")
            elif now >= peer.evasive_at:
                self._send(peer, ping, out)
                if peer.entered:
                    self._emit(out, PeerEvasive(peer.uuid, peer.name))
                    if now >= peer.evasive_at + self.reap_interval:
                        self._emit(out, PeerSilent(peer.uuid, peer.name))
        for endpoint in self._direct:
            self._open_probe(endpoint, out)

