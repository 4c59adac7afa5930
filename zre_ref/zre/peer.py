"""What a node knows about one remote peer (spec/zre.md#peers).

A peer is created from a beacon, a HELLO or a direct endpoint; we connect one DEALER (the
*link*) to its ROUTER and send HELLO at once. It is *ready* once its own HELLO arrived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .messages import SEQUENCE_MODULUS, STATUS_MODULUS, next_sequence, next_status

#: Deprecated spellings of the wrap moduli (use messages.SEQUENCE_MODULUS / STATUS_MODULUS)
SEQUENCE_MASK = SEQUENCE_MODULUS - 1
STATUS_MASK = STATUS_MODULUS - 1

_NEVER = -math.inf


@dataclass(slots=True, eq=False)
class Peer:
    """State of one remote peer as seen by our node (zyre_peer)."""

    uuid: str
    """32 upper-case hex characters"""
    endpoint: str
    """the endpoint our DEALER connects to"""
    link: str
    """opaque id of our DEALER towards this peer, used in effects"""
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    connected: bool = True
    ready: bool = False
    entered: bool = False
    """ENTER was emitted, so EXIT will be"""
    parked: bool = False
    """its endpoint is held by another live peer: no link yet (spec/zre.md#endpoint-claims)"""
    status: int = 0
    sent_sequence: int = 0
    want_sequence: int = 0
    evasive_at: float = 0.0
    expired_at: float = 0.0
    heard_at: float = _NEVER
    """when the last accepted message from this peer arrived"""
    rebuilt_at: float = _NEVER
    """when we last rebuilt this peer after it restarted (spec/zre.md#restarts)"""
    dropped_at: float = _NEVER
    """when its connection to our ROUTER last closed (spec/zre.md#endpoint-claims)"""
    held: list[list[bytes]] = field(default_factory=list)
    """messages for a parked peer, sent (numbered then) once its link opens"""
    groups: set[str] = field(default_factory=set)
    """groups this peer is in, as far as we know"""

    def next_sequence(self) -> int:
        """Bump and return the sequence of our next message to this peer (spec/zre.md#sequence)."""
        self.sent_sequence = next_sequence(self.sent_sequence)
        return self.sent_sequence

    def expected_sequence(self, is_hello: bool) -> int:
        """The sequence the next message must carry: 1 for HELLO, else one more than the last."""
        return 1 if is_hello else next_sequence(self.want_sequence)

    def sequence_ok(self, sequence: int, is_hello: bool) -> bool:
        """Check a received sequence and, if it is the expected one, count it
        (spec/zre.md#sequence). A wrong one changes nothing: the peer is dropped anyway."""
        want = 1 if is_hello else next_sequence(self.want_sequence)
        if sequence != want:
            return False
        self.want_sequence = want
        return True

    def start_timers(self, now: float, evasive: float, expired: float) -> None:
        """A new peer gets the full presence timers before anything is heard from it."""
        self.evasive_at = now + evasive
        self.expired_at = now + expired

    def refresh(self, now: float, evasive: float, expired: float) -> None:
        """Any accepted message resets the presence timers (spec/zre.md#presence)."""
        self.heard_at = now
        self.evasive_at = now + evasive
        self.expired_at = now + expired

    def bump_status(self) -> int:
        """JOIN/LEAVE each add one to the peer's status, wrapping at 256 (spec/zre.md#status)."""
        self.status = next_status(self.status)
        return self.status
