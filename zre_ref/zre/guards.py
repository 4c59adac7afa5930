"""The Harmony guards: endpoint claims and restarts (spec/zre.md#endpoint-claims, #restarts).

Both keep two live nodes from rebuilding each other forever on a forged or crossed message:

* **Endpoint claims** (spec/zre.md#endpoint-claims): a new UUID at an endpoint where our link
  to a connected peer (the *holder*) goes does not disturb that peer. We PING the holder; the
  claim is refused if it answers, granted if its connection to us closed or it stays silent
  for ``timeout``. After a refusal, beacon claims on that endpoint are ignored for ``holdoff``.
* **Restarts** (spec/zre.md#restarts): a HELLO from a ready peer less than ``restart_holdoff``
  after we rebuilt it answers our HELLO; it is not a restart again.

:class:`EndpointClaims` keeps the claim state and decides; :class:`~zre_ref.zre.node.NodeCore`
carries the decisions out (PING, EXIT, opening the parked claimant's link).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .peer import Peer

__all__ = [
    "CLAIM_HOLDOFF",
    "CLAIM_TIMEOUT",
    "RESTART_HOLDOFF",
    "Claim",
    "EndpointClaims",
    "Verdict",
    "answers_rebuild",
]

#: A connected peer whose endpoint a new UUID claims must answer within this many seconds, or
#: it is taken for gone (spec/zre.md#endpoint-claims)
CLAIM_TIMEOUT = 2.0
#: After a claim was refused (the holder answered), beacons naming that endpoint from other
#: UUIDs are ignored for this long (spec/zre.md#endpoint-claims)
CLAIM_HOLDOFF = 10.0
#: A HELLO from a ready peer less than this long after we rebuilt it (for its last restart)
#: answers our HELLO; it is not a restart again (spec/zre.md#restarts)
RESTART_HOLDOFF = 2.0

_NEVER = -math.inf

#: how a claim stands: "pending" (wait for the holder), "refused" (the holder answered),
#: "silent" (the holder did not answer in time: remove it) or "free" (the holder is gone)
Verdict = Literal["pending", "refused", "silent", "free"]


@dataclass(slots=True, eq=False)
class Claim:
    """A new UUID names an endpoint a connected peer holds (spec/zre.md#endpoint-claims)."""

    endpoint: str
    holder: Peer
    claimant: str
    since: float
    parked: Peer | None = None
    """the claimant, if its HELLO arrived: ready, but without a link until the claim settles"""


class EndpointClaims:
    """Which peer holds each endpoint, and the claims on them (spec/zre.md#endpoint-claims)."""

    def __init__(self, timeout: float = CLAIM_TIMEOUT, holdoff: float = CLAIM_HOLDOFF) -> None:
        self.timeout = float(timeout)
        self.holdoff = float(holdoff)
        self._holders: dict[str, Peer] = {}  # endpoint -> the peer our open link there belongs to
        self._claims: dict[str, Claim] = {}  # endpoint -> claim in progress
        self._refused: dict[str, float] = {}  # endpoint -> beacon claims ignored until then

    # -- holders -------------------------------------------------------------------------------
    def holder(self, endpoint: str) -> Peer | None:
        """The peer our open link to ``endpoint`` belongs to, if any."""
        return self._holders.get(endpoint)

    def hold(self, peer: Peer) -> None:
        """Our link to ``peer.endpoint`` is open and belongs to ``peer``."""
        self._holders[peer.endpoint] = peer

    def release(self, peer: Peer) -> None:
        """Our link to ``peer`` closed (if ``peer`` held its endpoint, nobody does now)."""
        if self._holders.get(peer.endpoint) is peer:
            del self._holders[peer.endpoint]

    # -- claims --------------------------------------------------------------------------------
    def get(self, endpoint: str) -> Claim | None:
        """The claim in progress on ``endpoint``, if any."""
        return self._claims.get(endpoint)

    def pending(self) -> list[Claim]:
        """Every claim in progress (a copy: settling one removes it)."""
        return list(self._claims.values())

    def refusing(self, endpoint: str, now: float) -> bool:
        """True while beacon claims on ``endpoint`` are ignored after a refusal."""
        return self._refused.get(endpoint, _NEVER) > now

    def open(self, endpoint: str, holder: Peer, claimant: str, now: float) -> Claim:
        """Start a claim: the caller asks ``holder`` (PING) whether it is still there."""
        claim = self._claims[endpoint] = Claim(endpoint, holder, claimant, now)
        return claim

    def park(self, endpoint: str, claimant: Peer) -> None:
        """The claimant's HELLO arrived while the claim on ``endpoint`` is pending: it waits,
        ready but without a link, until the claim settles."""
        self._claims[endpoint].parked = claimant

    def decide(self, claim: Claim, now: float, *, holder_linked: bool) -> Verdict:
        """How ``claim`` stands now; ``holder_linked``: the holder is still in the peer table
        with an open link. Anything but "pending" ends the claim (a refusal starts the holdoff)."""
        holder = claim.holder
        if holder_linked:
            if holder.heard_at >= claim.since:
                self._end(claim)
                self._refused[claim.endpoint] = now + self.holdoff
                return "refused"
            if now < claim.since + self.timeout and holder.dropped_at <= holder.heard_at:
                return "pending"
            self._end(claim)
            return "silent"
        self._end(claim)
        return "free"

    def forget(self, peer: Peer) -> None:
        """``peer`` left the table: a claim it was parked in goes on without it."""
        claim = self._claims.get(peer.endpoint)
        if claim is not None and claim.parked is peer:
            claim.parked = None

    def expire(self, now: float) -> None:
        """End the holdoffs whose time has come."""
        for endpoint, until in list(self._refused.items()):
            if until <= now:
                del self._refused[endpoint]

    def clear(self) -> None:
        """Forget everything (the node stopped)."""
        self._holders.clear()
        self._claims.clear()
        self._refused.clear()

    def _end(self, claim: Claim) -> None:
        del self._claims[claim.endpoint]


def answers_rebuild(peer: Peer, now: float, restart_holdoff: float) -> bool:
    """A HELLO from ready ``peer`` answers our greeting rather than announcing a restart: we
    rebuilt it less than ``restart_holdoff`` ago, or have not greeted it yet (it is parked)
    (spec/zre.md#restarts)."""
    return peer.ready and (peer.parked or now - peer.rebuilt_at < restart_holdoff)
