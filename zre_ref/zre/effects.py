"""What :class:`~zre_ref.zre.node.NodeCore` asks its shell to do (spec/zre.md#node).

Every ``NodeCore`` method returns a list of these, to be carried out in order: open or close a
peer's DEALER, send on it, broadcast a beacon, or hand a
:class:`~zre_ref.zre.events.ZreEvent` to the application.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import ZreEvent

__all__ = ["ConnectPeer", "DisconnectPeer", "Effect", "SendBeacon", "SendToPeer", "SendToPeers"]


@dataclass(frozen=True, slots=True)
class ConnectPeer:
    """Open a DEALER with ``identity`` and SNDHWM ``sndhwm``, connect it to ``endpoint``; with
    ``server_key`` (CURVE mode), as a CURVE client of that key (spec/zre.md#curve-mode-zyre)."""

    link: str
    endpoint: str
    identity: bytes
    sndhwm: int
    server_key: bytes | None = None


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
    messages: list[tuple[bytes, ...]]

    def split(self) -> list[SendToPeer]:
        """The same, as one SendToPeer per link."""
        return [SendToPeer(link, list(frames))
                for link, frames in zip(self.links, self.messages, strict=True)]


@dataclass(frozen=True, slots=True)
class SendBeacon:
    """Broadcast this UDP beacon datagram now."""

    data: bytes


#: What the shell must do. A :class:`~zre_ref.zre.events.ZreEvent` among them is handed to the
#: application as it is.
Effect = ConnectPeer | DisconnectPeer | SendToPeer | SendToPeers | SendBeacon | ZreEvent
