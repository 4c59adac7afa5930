"""ZGOSSIP: the five messages of czmq's gossip protocol, each declared once (spec/zgossip.md).

Layout of the single frame, as czmq's ``zgossip_msg`` codec writes it
(spec/zgossip.md#message-layout)::

    AA A0 | id (1) | version = 1 (1) | fields...

The version byte comes after the id, in every message. A client is a DEALER, a server a ROUTER.
ZGOSSIP shares its signature AA A0 with ZPIPES; only the id and version tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codec import LONGSTR, STRING, U32, Protocol, wire

#: ZGOSSIP protocol: signature AA A0, version 1 (spec/zgossip.md#message-layout)
ZGOSSIP = Protocol("zgossip", signature=0xAAA0, version=1, spec="spec/zgossip.md#message-layout")

#: The version byte every message carries (spec/zgossip.md#message-layout)
ZGOSSIP_VERSION = 1

#: A PUBLISH ttl of 0 means "never expires"; czmq always sends it that way or stale
#: (spec/zgossip.md#ttl)
TTL_FOREVER = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ZgossipMessage:
    """Base of every ZGOSSIP message (no common fields after the version byte)."""


@ZGOSSIP.message(1, "HELLO", anchor="spec/zgossip.md#hello")
@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(ZgossipMessage):
    """Client opens the conversation; the server answers with every tuple it holds."""


@ZGOSSIP.message(2, "PUBLISH", anchor="spec/zgossip.md#publish")
@dataclass(frozen=True, slots=True, kw_only=True)
class Publish(ZgossipMessage):
    """A tuple key = value, sent by a client or a server."""

    key: str = wire(STRING, doc="tuple key (zyre: a peer's UUID, 32 hex digits)")
    value: str = wire(LONGSTR, doc="tuple value (zyre: the peer's ZRE endpoint)")
    ttl: int = wire(U32, doc="time to live in ms, 0 = forever (czmq: see #ttl)")


@ZGOSSIP.message(3, "PING", anchor="spec/zgossip.md#ping")
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(ZgossipMessage):
    """Client liveness; answered with PONG in any state."""


@ZGOSSIP.message(4, "PONG", anchor="spec/zgossip.md#ping")
@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(ZgossipMessage):
    """Server answer to PING (not correlated with a particular PING)."""


@ZGOSSIP.message(5, "INVALID", anchor="spec/zgossip.md#invalid")
@dataclass(frozen=True, slots=True, kw_only=True)
class Invalid(ZgossipMessage):
    """Server refuses a message; it has forgotten the client, which must say HELLO again."""


def encode(msg: ZgossipMessage) -> list[bytes]:
    """Frames of a ZGOSSIP message (always one, without the ROUTER routing id)."""
    return ZGOSSIP.encode(msg)


def decode(frames: list[bytes] | tuple[bytes, ...]) -> ZgossipMessage:
    """Decode a ZGOSSIP message (without the ROUTER routing id); raises DecodeError."""
    msg: ZgossipMessage = ZGOSSIP.decode(frames)
    return msg
