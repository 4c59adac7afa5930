"""Peers learned by ZGOSSIP: the tuples a zyre node publishes (spec/zgossip.md#zyre).

Each node publishes one tuple, ``its UUID = its endpoint`` (zyre_node_start); in CURVE mode the
value is ``endpoint|public key``. :func:`gossiped_peer` reads a delivered tuple for
:meth:`~zre_ref.zre.node.NodeCore.discover`.
"""

from __future__ import annotations

__all__ = ["gossiped_peer"]

_HEX = frozenset("0123456789ABCDEF")


def gossiped_peer(key: str, value: str) -> tuple[str, str] | None:
    """``(UUID as 32 upper-case hex, endpoint)`` of a gossip tuple, or None if its key is not a
    UUID. ``endpoint|key`` (CURVE) keeps the endpoint."""
    uuid = key.upper()
    if len(uuid) != 32 or not _HEX.issuperset(uuid):
        return None
    return uuid, value.split("|", 1)[0]
