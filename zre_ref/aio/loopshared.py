"""What every socket and beacon on one event loop shares, in one visible place.

Two things are cheaper shared per event loop than held per object, and both are safe to share
because one loop runs one callback at a time:

* ``read_buffer`` -- the :class:`~zre_ref.zmtp.receiver.ReadBuffer` every ZMTP connection reads
  into: asyncio calls ``buffer_updated`` right after the same protocol's ``get_buffer``, so reads
  never interleave, and a node with hundreds of DEALERs holds one read buffer, not one each.
* ``beacon_sockets`` -- one UDP socket per (port, plan), joined by every
  :class:`~zre_ref.aio.beacon.UdpBeacon` on the loop that uses them: each datagram is read once
  and handed to all of them (many nodes in one process cost one socket, not one each).

``LoopShared.of()`` gives the running loop's (made on first use, gone with the loop). Sockets
and beacons take it by default; pass ``shared=LoopShared()`` to give one object its own.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, ClassVar

from ..zmtp.receiver import ReadBuffer

if TYPE_CHECKING:
    from .beacon import BeaconPlan, BeaconSocket

__all__ = ["LoopShared"]


class LoopShared:
    """The shared read buffer and beacon sockets of one event loop (see the module text)."""

    __slots__ = ("__weakref__", "beacon_sockets", "read_buffer")

    #: the one per loop, made by ``of`` on first use, dropped with the loop
    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopShared]] = (
        weakref.WeakKeyDictionary())

    def __init__(self) -> None:
        self.read_buffer = ReadBuffer()
        self.beacon_sockets: dict[tuple[int, BeaconPlan], BeaconSocket] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> LoopShared:
        """The one for ``loop`` (default: the running loop)."""
        if loop is None:
            loop = asyncio.get_running_loop()
        shared = cls._by_loop.get(loop)
        if shared is None:
            shared = cls._by_loop[loop] = cls()
        return shared
