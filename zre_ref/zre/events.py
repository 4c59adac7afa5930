"""Events a ZRE node hands to its application, mirroring zyre's (spec/zre.md#events).

Peers are named by their UUID as 32 upper-case hex characters (``peer_uuid``), as zyre does.
Every event is a slotted dataclass with a ``type`` (zyre's event name), ``to_json()`` (plain data for
the CLI and agents) and ``to_frames()`` (the frames zyre puts on its application socket). Events are
values: equal when their fields are, hashable, and to be treated as read-only (they are not frozen
only because a frozen dataclass costs twice as much to build, and a node builds one per message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..wire import pack_u32

__all__ = [
    "LeaderElected",
    "NodeStopped",
    "PeerEntered",
    "PeerEvasive",
    "PeerExited",
    "PeerJoined",
    "PeerLeft",
    "PeerSilent",
    "ShoutReceived",
    "WhisperReceived",
    "ZreEvent",
    "content_to_json",
    "new_shout_received",
    "new_whisper_received",
    "pack_headers",
]


def pack_headers(headers: dict[str, str]) -> bytes:
    """zhash_pack form of the ENTER headers frame: u32 count, {u8 key len, key, u32 len, value}."""
    out = [pack_u32(len(headers))]
    for key, value in headers.items():
        k = key.encode("utf-8")
        v = value.encode("utf-8")
        out += [bytes((len(k) & 0xFF,)), k, pack_u32(len(v)), v]
    return b"".join(out)


def content_to_json(content: tuple[bytes, ...]) -> dict[str, Any]:
    """Content frames as JSON: always hex, plus text when every frame is valid UTF-8."""
    out: dict[str, Any] = {"content_hex": [c.hex() for c in content]}
    try:
        out["content"] = [c.decode("utf-8") for c in content]
    except UnicodeDecodeError:  # binary content: the hex form above is the whole story
        return out
    return out


@dataclass(slots=True, unsafe_hash=True)
class ZreEvent:
    """Common shape: which peer (32 upper-case hex UUID) and its name."""

    type: ClassVar[str] = ""
    peer_uuid: str
    peer_name: str

    def _extra_json(self) -> dict[str, Any]:
        return {}

    def _extra_frames(self) -> list[bytes]:
        return []

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON-able data (spec/zre.md#events)."""
        return {"event": self.type, "peer_uuid": self.peer_uuid, "peer_name": self.peer_name,
                **self._extra_json()}

    def to_frames(self) -> list[bytes]:
        """zyre's application-socket form: event name, uuid, name, then per-event frames."""
        return [self.type.encode(), self.peer_uuid.encode(), self.peer_name.encode("utf-8"),
                *self._extra_frames()]


@dataclass(slots=True, unsafe_hash=True)
class PeerEntered(ZreEvent):
    """ENTER: a peer's HELLO arrived (spec/zre.md#events)."""

    type: ClassVar[str] = "ENTER"
    headers: dict[str, str] = field(default_factory=dict)
    endpoint: str = ""

    def _extra_json(self) -> dict[str, Any]:
        return {"headers": dict(self.headers), "endpoint": self.endpoint}

    def _extra_frames(self) -> list[bytes]:
        return [pack_headers(self.headers), self.endpoint.encode("utf-8")]


@dataclass(slots=True, unsafe_hash=True)
class PeerExited(ZreEvent):
    """EXIT: a peer left, expired, or was dropped (spec/zre.md#events)."""

    type: ClassVar[str] = "EXIT"


@dataclass(slots=True, unsafe_hash=True)
class _GroupEvent(ZreEvent):
    """A peer's group change: JOIN or LEAVE, with the group's name."""

    group: str = ""

    def _extra_json(self) -> dict[str, Any]:
        return {"group": self.group}

    def _extra_frames(self) -> list[bytes]:
        return [self.group.encode("utf-8")]


@dataclass(slots=True, unsafe_hash=True)
class PeerJoined(_GroupEvent):
    """JOIN: a peer joined a group (spec/zre.md#events)."""

    type: ClassVar[str] = "JOIN"


@dataclass(slots=True, unsafe_hash=True)
class PeerLeft(_GroupEvent):
    """LEAVE: a peer left a group (spec/zre.md#events)."""

    type: ClassVar[str] = "LEAVE"


@dataclass(slots=True, unsafe_hash=True)
class LeaderElected(_GroupEvent):
    """LEADER: the election in ``group`` is over; the leader's UUID and name (spec/election.md)."""

    type: ClassVar[str] = "LEADER"


@dataclass(slots=True, unsafe_hash=True)
class WhisperReceived(ZreEvent):
    """WHISPER: a message for us alone (spec/zre.md#events)."""

    type: ClassVar[str] = "WHISPER"
    content: tuple[bytes, ...] = ()

    def _extra_json(self) -> dict[str, Any]:
        return content_to_json(self.content)

    def _extra_frames(self) -> list[bytes]:
        return list(self.content)


@dataclass(slots=True, unsafe_hash=True)
class ShoutReceived(ZreEvent):
    """SHOUT: a message to a group we are in (spec/zre.md#events)."""

    type: ClassVar[str] = "SHOUT"
    group: str = ""
    content: tuple[bytes, ...] = ()

    def _extra_json(self) -> dict[str, Any]:
        return {"group": self.group, **content_to_json(self.content)}

    def _extra_frames(self) -> list[bytes]:
        return [self.group.encode("utf-8"), *self.content]


@dataclass(slots=True, unsafe_hash=True)
class PeerEvasive(ZreEvent):
    """EVASIVE: the peer has been silent longer than the evasive timeout (spec/zre.md#presence)."""

    type: ClassVar[str] = "EVASIVE"


@dataclass(slots=True, unsafe_hash=True)
class PeerSilent(ZreEvent):
    """SILENT: still silent one reap tick after going evasive (spec/zre.md#presence)."""

    type: ClassVar[str] = "SILENT"


@dataclass(slots=True, unsafe_hash=True)
class NodeStopped(ZreEvent):
    """STOP: our own node stopped; peer_uuid/peer_name are our own (spec/zre.md#events)."""

    type: ClassVar[str] = "STOP"


def new_shout_received(peer_uuid: str, peer_name: str, group: str,
                       content: tuple[bytes, ...]) -> ShoutReceived:
    """``ShoutReceived(peer_uuid, peer_name, group, content)`` (kept for older callers)."""
    return ShoutReceived(peer_uuid, peer_name, group, content)


def new_whisper_received(peer_uuid: str, peer_name: str,
                         content: tuple[bytes, ...]) -> WhisperReceived:
    """``WhisperReceived(peer_uuid, peer_name, content)`` (kept for older callers)."""
    return WhisperReceived(peer_uuid, peer_name, content)
