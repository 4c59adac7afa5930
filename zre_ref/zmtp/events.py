"""What a :class:`~zre_ref.zmtp.connection.Connection` reports (spec/zmtp.md#state-machine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ZreRefError


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The peer's READY/INITIATE arrived and its socket type fits ours (spec/zmtp.md#null)."""

    peer_socket_type: str
    peer_identity: bytes
    peer_metadata: Mapping[str, bytes]
    version: tuple[int, int]
    mechanism: str
    user_id: bytes = b""


@dataclass(slots=True)
class MessageReceived:
    """A complete multipart message (spec/zmtp.md#frames). Frames are bytes, except that a
    ``zero_copy`` connection hands large frames over as the bytearray they were read into
    (the connection keeps no reference to it: the buffer is the receiver's from then on).

    Not frozen, unlike the other events: one is built per message on the hot path, and a frozen
    dataclass's ``__init__`` costs three times as much; its ``frames`` list is handed over to the
    receiver anyway."""

    frames: list[bytes | bytearray]
    #: True if some frame is a bytearray (only on a zero_copy connection)
    buffers: bool = False
    #: the sum of the frame sizes
    nbytes: int = 0


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A subscriber asked for ``topic`` (3.1 SUBSCRIBE or a 3.0 0x01 message)."""

    topic: bytes


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """A subscriber cancelled ``topic`` (3.1 CANCEL or a 3.0 0x00 message)."""

    topic: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The peer answered a PING (spec/zmtp.md#heartbeats)."""

    context: bytes


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is over. ``code`` is stable (eof, decode-error, ...); ``reason`` is prose."""

    code: str
    reason: str
    error: ZreRefError | None = field(default=None, compare=False)


Event = (
    HandshakeCompleted | MessageReceived | Subscribed | Unsubscribed | PongReceived
    | ConnectionClosed
)
