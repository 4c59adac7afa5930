"""ZRE v2 messages (RFC 36, plus zyre's ELECT/LEADER/GOODBYE extensions), each declared once.

Layout of the data frame (spec/zre.md#message-layout)::

    AA A1 | id (1) | version = 2 (1) | sequence (2, BE) | fields...

WHISPER and SHOUT carry their content as the frames after the data frame (0..n). Through a
ROUTER socket one more frame comes first: the sender's 17-byte identity, 0x01 + its UUID
(spec/zre.md#identity); :func:`decode_routed` and :func:`encode_identity` handle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..codec import FRAMES, HASH, STRING, STRINGS, U8, U16, Protocol, wire
from ..errors import DecodeError, EncodeError, FrameCount, register_decode_error

#: ZRE protocol: signature AA A1, message version 2 (spec/zre.md#message-layout)
ZRE = Protocol("zre", signature=0xAAA1, version=2, spec="spec/zre.md#message-layout")

#: The message version byte every v2 message carries (spec/zre.md#message-layout)
ZRE_VERSION = 2

#: Sequence numbers are u16 and wrap 65535 -> 0 (spec/zre.md#sequence)
SEQUENCE_MODULUS = 0x1_0000

#: Group status is u8, +1 per JOIN/LEAVE, and wraps 255 -> 0 (spec/zre.md#status)
STATUS_MODULUS = 0x100

#: A ZRE identity frame: 0x01 then the sender's 16-byte UUID (spec/zre.md#identity)
IDENTITY_PREFIX = 0x01
UUID_SIZE = 16
IDENTITY_SIZE = 1 + UUID_SIZE


@register_decode_error
class BadIdentity(DecodeError):
    """The ROUTER identity frame is not 17 bytes (spec/zre.md#identity)."""

    code = "bad-identity"


def next_sequence(sequence: int) -> int:
    """The sequence number after ``sequence``: 65535 is followed by 0 (spec/zre.md#sequence)."""
    return (sequence + 1) % SEQUENCE_MODULUS


def next_status(status: int) -> int:
    """The group status after one JOIN or LEAVE: 255 is followed by 0 (spec/zre.md#status)."""
    return (status + 1) % STATUS_MODULUS


@dataclass(frozen=True, slots=True, kw_only=True)
class ZreMessage:
    """Fields every ZRE message carries after the version byte."""

    sequence: int = wire(U16, doc="per-direction counter; HELLO carries 1")


@ZRE.message(1, "HELLO", anchor="spec/zre.md#hello")
@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(ZreMessage):
    """Greet a peer; always the first message on a new connection."""

    endpoint: str = wire(STRING, doc="sender's ROUTER endpoint, tcp://host:port")
    groups: tuple[str, ...] = wire(STRINGS, doc="groups the sender is in (longstr each)")
    status: int = wire(U8, doc="sender's group status, +1 per JOIN/LEAVE, wraps at 256")
    name: str = wire(STRING, doc="sender's public name")
    headers: dict[str, str] = wire(HASH, doc="key string, value longstr")


@ZRE.message(2, "WHISPER", anchor="spec/zre.md#whisper")
@dataclass(frozen=True, slots=True, kw_only=True)
class Whisper(ZreMessage):
    """Send a message to one peer."""

    content: tuple[bytes, ...] = wire(FRAMES, doc="0..n frames; zyre sends at least 1")


@ZRE.message(3, "SHOUT", anchor="spec/zre.md#shout")
@dataclass(frozen=True, slots=True, kw_only=True)
class Shout(ZreMessage):
    """Send a message to a group."""

    group: str = wire(STRING, doc="group name")
    content: tuple[bytes, ...] = wire(FRAMES, doc="0..n frames; zyre sends at least 1")


@ZRE.message(4, "JOIN", anchor="spec/zre.md#join")
@dataclass(frozen=True, slots=True, kw_only=True)
class Join(ZreMessage):
    """The sender joined a group."""

    group: str = wire(STRING, doc="group name")
    status: int = wire(U8, doc="sender's status after the change")


@ZRE.message(5, "LEAVE", anchor="spec/zre.md#leave")
@dataclass(frozen=True, slots=True, kw_only=True)
class Leave(ZreMessage):
    """The sender left a group."""

    group: str = wire(STRING, doc="group name")
    status: int = wire(U8, doc="sender's status after the change")


@ZRE.message(6, "PING", anchor="spec/zre.md#ping")
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(ZreMessage):
    """Are you still there? (sent to an evasive peer)"""


@ZRE.message(7, "PING-OK", anchor="spec/zre.md#ping-ok")
@dataclass(frozen=True, slots=True, kw_only=True)
class PingOk(ZreMessage):
    """Answer to PING."""


@ZRE.message(8, "ELECT", anchor="spec/zre.md#elect", extension=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Elect(ZreMessage):
    """zyre extension: leader election challenge in a group."""

    group: str = wire(STRING, doc="group name")
    challenger_id: str = wire(STRING, doc="challenger's UUID as zyre prints it: 32 upper-case hex "
                              "chars (not checked by decoders)")


@ZRE.message(9, "LEADER", anchor="spec/zre.md#leader", extension=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Leader(ZreMessage):
    """zyre extension: announce the elected leader of a group."""

    group: str = wire(STRING, doc="group name")
    leader_id: str = wire(STRING, doc="leader's UUID, 32 upper-case hex chars (not checked by "
                          "decoders)")


@ZRE.message(10, "GOODBYE", anchor="spec/zre.md#goodbye", extension=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye(ZreMessage):
    """zyre extension (gossip mode): the sender is leaving."""


def encode(msg: ZreMessage) -> list[bytes]:
    """Frames of a ZRE message: data frame, then content frames (spec/zre.md#message-layout)."""
    return ZRE.encode(msg)


def decode(frames: Sequence[bytes], *, strict: bool = True) -> ZreMessage:
    """Decode a ZRE message (without the ROUTER identity frame); raise DecodeError.

    ``strict=False`` ignores trailing bytes and undeclared frames, as zyre does (spec/zre.md#strictness).
    """
    msg: ZreMessage = ZRE.decode(list(frames), strict=strict)
    return msg


def encode_identity(uuid: bytes) -> bytes:
    """The DEALER identity a node with this 16-byte UUID uses: 0x01 + UUID (spec/zre.md#identity)."""
    if not isinstance(uuid, (bytes, bytearray)) or len(uuid) != UUID_SIZE:
        raise EncodeError(f"uuid: expected {UUID_SIZE} bytes")
    return bytes((IDENTITY_PREFIX,)) + bytes(uuid)


def decode_identity(frame: bytes) -> bytes:
    """The sender's 16-byte UUID from a ROUTER identity frame (spec/zre.md#identity).

    The frame must be 17 bytes; like zyre, the first byte is not checked.
    """
    if len(frame) != IDENTITY_SIZE:
        raise BadIdentity(f"identity frame is {len(frame)} bytes, expected {IDENTITY_SIZE}",
                          protocol=ZRE.name, field="identity", offset=min(len(frame), IDENTITY_SIZE),
                          spec_anchor="spec/zre.md#identity")
    return bytes(frame[1:])


def decode_routed(frames: Sequence[bytes], *, strict: bool = True) -> tuple[bytes, ZreMessage]:
    """Split what a ROUTER delivers into (sender UUID, message) (spec/zre.md#identity).

    Errors in the message frames report frame indexes counted without the identity frame.
    """
    if not frames:
        raise FrameCount("no frames", protocol=ZRE.name, field="identity", offset=0,
                         spec_anchor="spec/zre.md#identity")
    uuid = decode_identity(frames[0])
    return uuid, decode(frames[1:], strict=strict)
