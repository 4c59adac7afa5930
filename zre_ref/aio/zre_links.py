"""A ZreNode's ZMTP sockets: its CURVE options and one DEALER per peer link (spec/zre.md#node).

The core names links and says when to open (``ConnectPeer``) and close (``DisconnectPeer``)
them; :class:`PeerLinks` holds the DEALER behind each name. What a failed send means for the
peer stays with the node, which asks the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..curve.keys import SecretKey
from ..zmtp.receiver import ReceiveBudget
from ..zre.node import ConnectPeer
from .beacon import BeaconPlan, link_local_zone
from .zmtp import MAX_UNFINISHED_BYTES, Socket

__all__ = ["PeerLinks", "curve_options"]


def curve_options(curve: tuple[bytes, SecretKey] | None, server_key: bytes | None
                  ) -> dict[str, Any]:
    """Socket options in CURVE mode (``curve``: our public and secret key): the ROUTER
    (server_key None) is a CURVE server, a DEALER a CURVE client of the peer's key; without the
    peer's key, a plain DEALER (the peer's CURVE ROUTER then refuses it)."""
    if curve is None:
        return {}
    public, secret = curve
    if server_key is None:
        return {"curve_server": True, "curve_publickey": public, "curve_secretkey": secret.raw}
    return {"curve_serverkey": server_key, "curve_publickey": public,
            "curve_secretkey": secret.raw}


class PeerLinks:
    """The DEALERs towards peers, by the core's link name. They share one
    :class:`~zre_ref.zmtp.receiver.ReceiveBudget` (``receive_budget``): what peers' unfinished
    messages hold on all of them together is ``MAX_UNFINISHED_BYTES``, whatever their number
    (a ZRE peer sends nothing on our DEALER; only a hostile one would)."""

    __slots__ = ("curve", "receive_budget", "send_filter", "sockets")

    def __init__(self, curve: tuple[bytes, SecretKey] | None,
                 send_filter: Callable[[list[bytes]], list[bytes] | None] | None) -> None:
        self.curve = curve
        #: applied to every message the DEALERs send (fault injection; None = none)
        self.send_filter = send_filter
        #: the DEALER of each open link (read it; open and close change it)
        self.sockets: dict[str, Socket] = {}
        self.receive_budget = ReceiveBudget(MAX_UNFINISHED_BYTES)

    def __len__(self) -> int:
        return len(self.sockets)

    def get(self, link: str) -> Socket | None:
        return self.sockets.get(link)

    def open(self, eff: ConnectPeer, plan: BeaconPlan | None, reconnect_ivl_max: float) -> None:
        """A DEALER with the identity and HWM the core chose, connecting in the background
        (a link-local IPv6 endpoint gets our interface as its zone)."""
        sock = Socket("DEALER", identity=eff.identity, sndhwm=eff.sndhwm,
                      reconnect_ivl_max=reconnect_ivl_max, send_filter=self.send_filter,
                      receive_budget=self.receive_budget,
                      raw_transport=True,  # aio/rawstream.py: spec/zmtp.md#raw-transport
                      eager_handshake=True, **curve_options(self.curve, eff.server_key))
        self.sockets[eff.link] = sock
        endpoint = eff.endpoint
        if plan is not None and plan.ipv6:
            endpoint = link_local_zone(endpoint, plan.interface)
        sock.connect_nowait(endpoint)

    def close(self, link: str) -> None:
        """Close the link's DEALER, if it is open (what was queued is still written)."""
        sock = self.sockets.pop(link, None)
        if sock is not None:
            sock.close()

    def close_all(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
