"""The ZRE node's accelerations, beside the readable path (spec/zre.md#message-layout).

:class:`~zre_ref.zre.node.NodeCore` is the executable spec: every message goes through
``ZRE.decode`` and :meth:`~zre_ref.zre.node.NodeCore.handle_message`. This module holds the
shortcuts a busy node takes, each with the same interface as the readable code it stands for,
and each checked against it by the property tests in tests/test_zre_node.py:

* :func:`handle_messages` is :meth:`NodeCore.handle_messages` (same arguments, same effects,
  same peer state afterwards) with SHOUT, WHISPER, PING and PING-OK from a ready peer handled
  without the generic codec; everything else goes through ``core.handle_message``.
* :func:`decode_fast` is ``ZRE.decode(frames, strict=False)`` for the hot messages, else None.
* :func:`with_sequence` re-numbers an encoded message.
* :class:`Encoder` is ``ZRE.encode`` for the SHOUT and WHISPER a node sends, from cached data
  frames; ``Encoder.numbered`` makes each peer's copy with its next sequence number (encode
  once, send to many).
* :func:`reap` is ``NodeCore._reap`` (the reap tick, for ``NodeCore.handle_timer``) looking
  only at the peers that can be due, through ``core.silence_order``.
* :func:`shout` is ``NodeCore.shout`` for the common case, from the encoder's cache.
* :func:`whisper` is ``NodeCore.whisper`` for the common case (a connected peer, bytes content).
* :func:`handle_beacon_datagram` is :meth:`NodeCore.handle_beacon_datagram` with the beacons
  that change nothing (ours, a known peer's) answered without decoding, and remembered in
  ``core.no_op_beacons``.

Nothing is typed by hand: the header bytes and field offsets below are computed from the ZRE
message declarations in :mod:`zre_ref.zre.messages` and the beacon's in :mod:`zre_ref.zre.beacon`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from struct import Struct
from typing import TYPE_CHECKING

from ..codec import STRING, U16
from .admission import NO_OP_BEACONS_MAX
from .beacon import BEACON_PREFIX, BEACON_SIZE, BEACON_VERSION, LEAVING_PORT, UUID_SIZE, field_span
from .effects import SendToPeer
from .events import PeerEvasive, PeerSilent, ShoutReceived, WhisperReceived
from .messages import (
    SEQUENCE_MODULUS,
    ZRE,
    Ping,
    PingOk,
    Shout,
    Whisper,
    ZreMessage,
    encode_identity,
)

if TYPE_CHECKING:  # pragma: no cover - typing only (node imports this module)
    from .node import Effect, NodeCore
    from .peer import Peer

__all__ = [
    "SEQUENCE_AT",
    "SHOUT_GROUP_AT",
    "Encoder",
    "Sends",
    "decode_fast",
    "group_of",
    "handle_beacon_datagram",
    "handle_messages",
    "header",
    "reap",
    "shout",
    "whisper",
    "with_sequence",
]


def header(cls: type[ZreMessage]) -> bytes:
    """The bytes every ``cls`` data frame starts with: signature, id, version."""
    spec = ZRE.by_class[cls]
    assert ZRE.version is not None  # ZRE v2 declares its version byte
    return ZRE.signature_bytes + bytes((spec.id, ZRE.version))


def _field_offset(cls: type[ZreMessage], name: str) -> int:
    """Where field ``name`` of ``cls`` starts, for the fixed-size fields before it."""
    at = len(header(cls))
    for f in ZRE.by_class[cls].fields:
        if f.name == name:
            return at
        size = getattr(f.kind, "size", None)  # the unsigned integer types
        if not isinstance(size, int):
            raise TypeError(f"{cls.__name__}.{f.name} has no fixed size")
        at += size
    raise LookupError(f"{cls.__name__} has no field {name}")


#: Offset of the u16 sequence number in every ZRE data frame
SEQUENCE_AT = _field_offset(Whisper, "sequence")
_SEQUENCE_END = SEQUENCE_AT + U16.size
#: Offset of SHOUT's group (a ``string``: u8 length, then UTF-8) in its data frame
SHOUT_GROUP_AT = _field_offset(Shout, "group")
assert [f.kind for f in ZRE.by_class[Shout].fields] == [U16, STRING]
assert all(_field_offset(cls, "sequence") == SEQUENCE_AT for cls in ZRE.by_class)

HEAD_WHISPER = header(Whisper)
HEAD_SHOUT = header(Shout)
HEAD_PING = header(Ping)
HEAD_PING_OK = header(PingOk)
#: ``pack(head, sequence)``: the data frame of PING or PING-OK (nothing after the sequence
#: number) from its header bytes and its sequence number, in one call
_pack_head_sequence = Struct(f">{SEQUENCE_AT}sH").pack
assert all(ZRE.encode(cls(sequence=0)) == [header(cls) + bytes(U16.size)] for cls in (Ping, PingOk))


def with_sequence(frames: Sequence[bytes], sequence: int) -> list[bytes]:
    """``frames`` (an encoded ZRE message) with its sequence number set to ``sequence``."""
    data = frames[0]
    out = [data[:SEQUENCE_AT] + sequence.to_bytes(2, "big") + data[_SEQUENCE_END:]]
    if len(frames) > 1:
        out.extend(frames[1:])
    return out


@lru_cache(maxsize=512)
def _pack_around(tail: int) -> Callable[[bytes, int, bytes], bytes]:
    """``pack(head, sequence, tail_bytes)``: a data frame from the bytes before its sequence
    number, the number, and the ``tail`` bytes after it, in one call."""
    return Struct(f">{SEQUENCE_AT}sH{tail}s").pack


#: a data frame split around its sequence number: ``(pack, before, after)``, where
#: ``pack(before, sequence, after)`` is the data frame with that sequence number
Split = tuple[Callable[[bytes, int, bytes], bytes], bytes, bytes]


def _split(data: bytes) -> Split:
    """``data`` (a ZRE data frame) split around its sequence number."""
    return _pack_around(len(data) - _SEQUENCE_END), data[:SEQUENCE_AT], data[_SEQUENCE_END:]


class Encoder:
    """``ZRE.encode(Shout(sequence=0, ...))`` and ``ZRE.encode(Whisper(sequence=0, ...))``, the
    same frames, with the data frame built once (per group for SHOUT, up to ``MAX_GROUPS``
    groups) instead of per message. Content that is not all ``bytes`` goes through ``ZRE.encode``,
    which checks it; each peer's copy gets its sequence number from :meth:`numbered`."""

    MAX_GROUPS = 1024

    def __init__(self) -> None:
        self._shout_heads: dict[str, bytes] = {}
        self._whisper_head = ZRE.encode(Whisper(sequence=0, content=(b"",)))[0]
        #: WHISPER's data frame split around its sequence number, as :meth:`numbered` splits
        self.whisper_split = _split(self._whisper_head)
        #: data frame -> (pack, the bytes before its sequence number, the bytes after it)
        self._splits: dict[bytes, Split] = {}
        #: group -> its SHOUT data frame split so, for each group in ``_shout_heads``
        self.shout_splits: dict[str, Split] = {}

    def numbered(self, frames: Sequence[bytes], peers: Iterable[Peer]) -> list[tuple[bytes, ...]]:
        """Each peer's next message: ``with_sequence(frames, peer.next_sequence())`` for each
        of ``peers`` in turn, for SHOUT or WHISPER frames from this encoder (encode once, send
        to many). The data frame is split once (and the split kept for the next message), each
        copy's data frame is one ``struct`` call, every copy shares the content frames, and the
        sequence is bumped here as ``Peer.next_sequence`` does (spec/zre.md#sequence). Each
        copy is a tuple: the garbage collector stops tracking a tuple of bytes, not a list."""
        data = frames[0]
        split = self._splits.get(data)
        if split is None:
            split = _split(data)
            if len(self._splits) <= self.MAX_GROUPS:  # every group's SHOUT, and WHISPER
                self._splits[data] = split
        pack, head, tail = split
        modulus = SEQUENCE_MODULUS
        out: list[tuple[bytes, ...]] = []
        append = out.append
        if len(frames) == 2:  # the common case: one content frame
            content = frames[1]
            for peer in peers:
                sequence = peer.sent_sequence = (peer.sent_sequence + 1) % modulus
                append((pack(head, sequence, tail), content))
        else:
            rest = frames[1:]
            for peer in peers:
                sequence = peer.sent_sequence = (peer.sent_sequence + 1) % modulus
                append((pack(head, sequence, tail), *rest))
        return out

    def shout(self, group: str, content: tuple[bytes, ...]) -> list[bytes]:
        """The frames of SHOUT(group, content) with sequence 0."""
        head = self._shout_heads.get(group)
        if head is None or not (type(content[0]) is bytes if len(content) == 1
                                else all(type(c) is bytes for c in content)):
            frames = ZRE.encode(Shout(sequence=0, group=group, content=content))  # validates
            if len(self._shout_heads) < self.MAX_GROUPS:
                self._shout_heads[group] = frames[0]
                self.shout_splits[group] = _split(frames[0])
            return frames
        return [head, *content]

    def whisper(self, content: tuple[bytes, ...]) -> list[bytes]:
        """The frames of WHISPER(content) with sequence 0."""
        if any(type(c) is not bytes for c in content):
            return ZRE.encode(Whisper(sequence=0, content=content))  # validates
        return [self._whisper_head, *content]


#: what :func:`shout` and :func:`whisper` give: (link, message) for each peer, in order
Sends = list[tuple[str, tuple[bytes, ...]]]


def shout(core: NodeCore, group: str, content: tuple[bytes, ...]) -> Sends | None:
    """``core.shout(group, content)``, faster, for the common case: the link and message of
    each peer in the one ``SendToPeers`` it gives, in its order. None, with nothing changed,
    where the readable path must run: no or not only ``bytes`` content, a group not in the
    encoder's cache yet, no such group, a parked member (its message is held) or no member
    connected. Each copy is built as :meth:`Encoder.numbered` builds it, from the split
    :meth:`Encoder.shout` keeps per group, in one pass over the members: a parked member found
    after some were numbered takes their numbers back."""
    split = core._encode.shout_splits.get(group)
    members = core.groups.get(group)
    if split is None or members is None or not content:
        return None
    single = len(content) == 1
    if not (type(content[0]) is bytes if single else all(type(c) is bytes for c in content)):
        return None
    only = content[0]
    pack, before, after = split
    modulus = SEQUENCE_MODULUS
    sends: Sends = []
    for peer in members.peers.values():
        if peer.connected:
            sequence = peer.sent_sequence = (peer.sent_sequence + 1) % modulus
            sends.append((peer.link, (pack(before, sequence, after), only) if single
                          else (pack(before, sequence, after), *content)))
        elif peer.parked:
            for numbered in members.peers.values():
                if numbered is peer:
                    return None
                if numbered.connected:
                    numbered.sent_sequence = (numbered.sent_sequence - 1) % modulus
    return sends or None


def whisper(core: NodeCore, peer_uuid: str, content: tuple[bytes, ...]) -> Sends | None:
    """``core.whisper(peer_uuid, content)``, faster, for the common case: the link and message
    of the one ``SendToPeer`` it gives, as ``shout`` gives them. None, with nothing changed,
    where the readable path must run: no or not only ``bytes`` content, a UUID not found as
    given (the readable path also tries it upper-cased), a peer that is parked (its message is
    held) or not connected. The data frame is packed from the split the encoder keeps, as
    :meth:`Encoder.numbered` packs it."""
    peer = core.peers.get(peer_uuid)
    if peer is None or not peer.connected or peer.parked or not content:
        return None
    single = len(content) == 1
    if not (type(content[0]) is bytes if single else all(type(c) is bytes for c in content)):
        return None
    pack, before, after = core._encode.whisper_split
    sequence = peer.sent_sequence = (peer.sent_sequence + 1) % SEQUENCE_MODULUS
    data = pack(before, sequence, after)
    return [(peer.link, (data, content[0]) if single else (data, *content))]


def group_of(data: bytes) -> str | None:
    """The group of a SHOUT data frame, else None (let the codec say what is wrong)."""
    if len(data) <= SHOUT_GROUP_AT:
        return None
    end = SHOUT_GROUP_AT + 1 + data[SHOUT_GROUP_AT]
    if len(data) < end:
        return None
    try:
        return data[SHOUT_GROUP_AT + 1:end].decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_fast(frames: Sequence[bytes]) -> ZreMessage | None:
    """``ZRE.decode(frames, strict=False)`` for WHISPER, SHOUT, PING and PING-OK; None for
    anything else (other messages, or input the codec must judge)."""
    data = frames[0] if frames else b""
    if len(data) < _SEQUENCE_END or type(data) is not bytes:
        return None
    head = data[:SEQUENCE_AT]
    seq = int.from_bytes(data[SEQUENCE_AT:_SEQUENCE_END], "big")
    if head == HEAD_WHISPER:
        return Whisper(sequence=seq, content=tuple(frames[1:]))
    if head == HEAD_SHOUT:
        group = group_of(data)
        if group is None:
            return None
        return Shout(sequence=seq, group=group, content=tuple(frames[1:]))
    if head == HEAD_PING:
        return Ping(sequence=seq)
    if head == HEAD_PING_OK:
        return PingOk(sequence=seq)
    return None


def handle_messages(core: NodeCore, messages: Iterable[Sequence[bytes]], now: float,
                    budget: int | None = None) -> list[Effect]:
    """:meth:`NodeCore.handle_messages`, faster: a SHOUT or WHISPER in sequence from a ready
    peer becomes its event here, a PING its PING-OK, a PING-OK only a refresh; anything else
    goes to ``core.handle_message``. Same arguments
    (``budget`` included), same effects. This runs once per message a node receives: keep it
    lean. Three things the readable path does per message are done more cheaply here, with the
    same result: the sequence check is ``Peer.sequence_ok``'s arithmetic inline, what
    ``Peer.refresh`` sets is set once per run of messages from one peer (``now`` is the batch's,
    so a second time would change nothing), and the two events are built by setting their
    slots (what their ``__init__`` does, without the call), as is the PING-OK a PING is
    answered with (its one data frame packed from the header and the next sequence number)."""
    out: list[Effect] = []
    if not core.started:
        return out
    append = out.append
    slow = core.handle_message
    peer_of_identity = core._by_identity.get  # a miss (unknown, or another first octet): slow path
    order = core.silence_order
    evasive_at, expired_at = now + core.evasive, now + core.expired  # as Peer.refresh sets them
    head_shout, head_whisper, head_ping, head_ping_ok = HEAD_SHOUT, HEAD_WHISPER, HEAD_PING, HEAD_PING_OK
    seq_at, group_at, min_size, modulus = SEQUENCE_AT, SHOUT_GROUP_AT, _SEQUENCE_END, SEQUENCE_MODULUS
    new, shout_event, whisper_event = object.__new__, ShoutReceived, WhisperReceived
    send_to_peer, pack_ping_ok = SendToPeer, _pack_head_sequence
    limit = budget if budget is not None else sys.maxsize
    group_raw = b""  # the last group seen in this batch: u8 length + UTF-8 name
    group = ""
    last: bytes | None = None  # identity object of `peer` (ROUTERs reuse it per connection)
    peer = None
    refreshed = None  # the peer refreshed at `now` since the slow path last ran
    for msg in messages:
        identity = msg[0] if msg else b""
        if identity is not last or peer is None:
            peer = peer_of_identity(identity)
            last = identity if peer is not None and peer.ready else None
        data = msg[1] if last is not None and len(msg) > 1 else None
        accepted: Peer | None = None  # the message was handled here (else: the slow path below)
        if peer is None or data is None or type(data) is not bytes or len(data) < min_size:
            pass
        elif (data[seq_at] << 8) | data[seq_at + 1] != (want := (peer.want_sequence + 1) % modulus):
            pass  # out of sequence (the readable path drops the peer)
        elif data.startswith(head_shout):
            if not (group_raw and data.startswith(group_raw, group_at)):
                named = group_of(data)
                if named is not None:
                    group, group_raw = named, data[group_at:group_at + 1 + data[group_at]]
                else:
                    group_raw = b""
            if group_raw:
                shout = new(shout_event)
                shout.peer_uuid, shout.peer_name, shout.group = peer.uuid, peer.name, group
                shout.content = (msg[2],) if len(msg) == 3 else tuple(msg[2:])
                append(shout)
                accepted = peer
        elif data.startswith(head_whisper):
            whisper = new(whisper_event)
            whisper.peer_uuid, whisper.peer_name, whisper.content = peer.uuid, peer.name, tuple(msg[2:])
            append(whisper)
            accepted = peer
        elif len(data) == min_size and len(msg) == 2 and (
                data.startswith(head_ping) or data.startswith(head_ping_ok)):
            if data.startswith(head_ping) and peer.connected:  # answered as NodeCore._send does
                sequence = peer.sent_sequence = (peer.sent_sequence + 1) % modulus
                answer = new(send_to_peer)
                answer.link, answer.frames = peer.link, [pack_ping_ok(head_ping_ok, sequence)]
                append(answer)
            accepted = peer
        if accepted is not None:
            accepted.want_sequence = want
            if accepted is not refreshed:  # Peer.refresh, then to the end (as NodeCore._heard)
                accepted.heard_at, accepted.evasive_at, accepted.expired_at = now, evasive_at, expired_at
                order[accepted] = order.pop(accepted)
                refreshed = accepted
        else:
            last = peer = refreshed = None  # the slow path may change or remove any peer
            out.extend(slow(identity, list(msg[1:]), now))
        if len(out) >= limit:
            break
    return out


def reap(core: NodeCore, now: float, out: list[Effect]) -> None:
    """``NodeCore._reap``, faster (pass it to ``NodeCore.handle_timer``): the readable reap looks
    at every peer; this one walks ``core.silence_order`` (longest silent first) and stops at the
    first peer that is not due, since every later one was heard from after it. That holds
    while the timeouts do not change and ``now`` never goes back (as in ZreNode, on the loop's
    clock). The due peers are handled as the readable reap handles them, in the order of
    ``core.peers``; the others give no effect there, so the effects are the same. A due peer
    that has not expired gets what ``NodeCore._ping_peer`` gives it, built here: the PING (its
    sequence bumped as ``Peer.next_sequence`` does, its data frame packed in one call) and the
    EVASIVE and SILENT events, each made by setting its slots (what ``__init__`` does)."""
    due: list[Peer] = []
    for peer in core.silence_order:
        if now < peer.evasive_at and now < peer.expired_at:
            break
        due.append(peer)
    if len(due) > 1:
        due.sort(key=core.silence_order.__getitem__)  # as they stand in core.peers
    new, append = object.__new__, out.append
    reap_interval = core.reap_interval
    for peer in due:
        if now >= peer.expired_at:
            core._ping_peer(peer, now, out)  # EXIT: the readable path
            continue
        if peer.connected:  # NodeCore._send
            sequence = peer.sent_sequence = (peer.sent_sequence + 1) % SEQUENCE_MODULUS
            ping = new(SendToPeer)
            ping.link, ping.frames = peer.link, [_pack_head_sequence(HEAD_PING, sequence)]
            append(ping)
        if peer.entered:
            evasive = new(PeerEvasive)
            evasive.peer_uuid, evasive.peer_name = peer.uuid, peer.name
            append(evasive)
            if now >= peer.evasive_at + reap_interval:
                silent = new(PeerSilent)
                silent.peer_uuid, silent.peer_name = peer.uuid, peer.name
                append(silent)
    core._after_reap(now, out)


#: a plain (version 1) beacon starts with these bytes (spec/zre.md#beacon)
PLAIN_BEACON_HEAD = BEACON_PREFIX + bytes((BEACON_VERSION,))
_BEACON_UUID = field_span("uuid")
_BEACON_PORT = field_span("port")
_LEAVING = LEAVING_PORT.to_bytes(_BEACON_PORT.stop - _BEACON_PORT.start, "big")
#: a plain beacon's version byte and UUID, side by side, are the sender's ROUTER identity
#: (0x01 + UUID), what NodeCore.peer_of_identity looks up
_BEACON_IDENTITY = slice(field_span("version").start, _BEACON_UUID.stop)
assert _BEACON_IDENTITY.stop - _BEACON_IDENTITY.start == 1 + UUID_SIZE
assert encode_identity(bytes(UUID_SIZE))[:1] == bytes((BEACON_VERSION,))


def handle_beacon_datagram(core: NodeCore, data: bytes, source_ip: str, now: float) -> list[Effect]:
    """:meth:`NodeCore.handle_beacon_datagram`, faster: a plain beacon that is not leaving,
    from ``core`` itself or from a peer in its table (on a port other than ours, which the
    readable path would warn about), changes nothing, so it is answered without decoding and
    added to ``core.no_op_beacons`` (emptied at NO_OP_BEACONS_MAX), which a shared beacon
    socket reads to skip it next time; anything else goes to ``core.handle_beacon_datagram``."""
    if (len(data) == BEACON_SIZE and data.startswith(PLAIN_BEACON_HEAD)
            and data[_BEACON_PORT] != _LEAVING
            and (data[_BEACON_UUID] == core.uuid_bytes
                 or (core.peer_of_identity(data[_BEACON_IDENTITY]) is not None
                     and int.from_bytes(data[_BEACON_PORT], "big") != core.port))):
        no_op = core.no_op_beacons
        if len(no_op) >= NO_OP_BEACONS_MAX:
            no_op.clear()
        no_op.add(data)
        return []
    return core.handle_beacon_datagram(data, source_ip, now)
