"""ZRE v2 messages (RFC 36, plus zyre's ELECT/LEADER/GOODBYE extensions), each declared once.

Layout of the data frame (spec/zre.md#message-layout)::

    AA A1 | id (1) | version = 2 (1) | sequence (2, BE) | fields...

WHISPER and SHOUT carry their content as the frames after the data frame (0..n).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codec import FRAMES, HASH, STRING, STRINGS, U8, U16, Protocol, wire

#: ZRE protocol: signature AA A1, message version 2 (spec/zre.md#message-layout)
ZRE = Protocol("zre", signature=0xAAA1, version=2, spec="spec/zre.md#message-layout")

#: Sequence numbers are u16 and wrap 65535 -> 0 (spec/zre.md#sequence)
SEQUENCE_MODULUS = 0x1_0000


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
    challenger_id: str = wire(STRING, doc="challenger's UUID, 32 hex chars")


@ZRE.message(9, "LEADER", anchor="spec/zre.md#leader", extension=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Leader(ZreMessage):
    """zyre extension: announce the elected leader of a group."""

    group: str = wire(STRING, doc="group name")
    leader_id: str = wire(STRING, doc="leader's UUID, 32 hex chars")


@ZRE.message(10, "GOODBYE", anchor="spec/zre.md#goodbye", extension=True)
@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye(ZreMessage):
    """zyre extension (gossip mode): the sender is leaving."""


def encode(msg: ZreMessage) -> list[bytes]:
    """Frames of a ZRE message: data frame, then content frames."""
    return ZRE.encode(msg)


def decode(frames: list[bytes] | tuple[bytes, ...]) -> ZreMessage:
    """Decode a ZRE message (without the ROUTER identity frame)."""
    msg: ZreMessage = ZRE.decode(frames)
    return msg
