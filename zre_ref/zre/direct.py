"""Direct mode: links to endpoints whose UUID we do not know yet (spec/zre.md#direct).

A *probe* is a DEALER :meth:`~zre_ref.zre.node.NodeCore.connect_peer` opened to an endpoint; it
greets whoever is there and is adopted by the peer whose HELLO (or beacon) names that endpoint.
:class:`DirectLinks` keeps the endpoints we keep connecting to and the probes open now;
:class:`~zre_ref.zre.node.NodeCore` makes the effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DirectLinks", "Probe"]


@dataclass(slots=True, eq=False)
class Probe:
    """A link opened by :meth:`~zre_ref.zre.node.NodeCore.connect_peer` before we know who is there."""

    endpoint: str
    link: str
    sent_sequence: int = 0
    connected: bool = True


class DirectLinks:
    """Endpoints we keep connecting to, and the probes open to them (spec/zre.md#direct)."""

    def __init__(self) -> None:
        self._wanted: dict[str, None] = {}  # endpoints we keep connecting to, in order
        self._probes: dict[str, Probe] = {}  # endpoint -> probe

    def want(self, endpoint: str) -> None:
        """Keep a link to ``endpoint`` from now on."""
        self._wanted[endpoint] = None

    def wanted(self) -> list[str]:
        """The endpoints we keep connecting to."""
        return list(self._wanted)

    def probing(self, endpoint: str) -> bool:
        """A probe to ``endpoint`` is open."""
        return endpoint in self._probes

    def add(self, endpoint: str, link: str) -> Probe:
        """A new probe to ``endpoint`` on ``link``."""
        probe = self._probes[endpoint] = Probe(endpoint, link)
        return probe

    def open(self) -> Iterator[Probe]:
        """The probes whose link is connected."""
        return (p for p in self._probes.values() if p.connected)

    def links(self) -> list[str]:
        """The links of every probe."""
        return [p.link for p in self._probes.values()]

    def take(self, endpoint: str) -> Probe | None:
        """The probe a peer at ``endpoint`` adopts, removed from here. zyre with interface "*"
        advertises tcp://<hostname>:<port>: failing an exact match, a single probe to the same
        port is taken."""
        probe = self._probes.pop(endpoint, None)
        if probe is not None:
            return probe
        port = endpoint.rsplit(":", 1)[-1]
        same = [p for p in self._probes.values() if p.endpoint.rsplit(":", 1)[-1] == port]
        if len(same) == 1:
            return self._probes.pop(same[0].endpoint)
        return None

    def drop(self, link: str) -> list[str]:
        """Forget the probes on ``link``; returns their links (to disconnect)."""
        dropped = []
        for endpoint, probe in list(self._probes.items()):
            if probe.link == link:
                probe.connected = False
                del self._probes[endpoint]
                dropped.append(link)
        return dropped

    def close_all(self) -> list[str]:
        """Forget every probe (the node stopped; the wanted endpoints stay); returns their links."""
        links = self.links()
        self._probes.clear()
        return links
