"""A group as seen by our node: the ready peers that told us they joined it (spec/zre.md#groups)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .peer import Peer


@dataclass(slots=True, eq=False)
class Group:
    """Peers in one group, keyed by UUID (zyre_group)."""

    name: str
    peers: dict[str, Peer] = field(default_factory=dict)

    def join(self, peer: Peer) -> None:
        """Add ``peer``; a duplicate JOIN is harmless here (its status still counts)."""
        self.peers[peer.uuid] = peer
        peer.groups.add(self.name)

    def leave(self, peer: Peer) -> None:
        """Remove ``peer`` if it is a member."""
        self.peers.pop(peer.uuid, None)
        peer.groups.discard(self.name)
