"""What a node knows about one remote peer (spec/zre.md#peers).

A peer is created from a beacon, a HELLO or a direct endpoint; we connect one DEALER (the
*link*) to its ROUTER and send HELLO at once. It is *ready* once its own HELLO arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Sequence numbers are u16 and wrap 65535 -> 0 (spec/zre.md#sequence)
SEQUENCE_MASK = 0xFFFF
#: Group status is a u8 that wraps 255 -> 0 (spec/zre.md#status)
STATUS_MASK = 0xFF


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
    status: int = 0
    sent_sequence: int = 0
    want_sequence: int = 0
    evasive_at: float = 0.0
    expired_at: float = 0.0
    groups: set[str] = field(default_factory=set)
    """groups this peer is in, as far as we know"""

    def next_sequence(self) -> int:
        """Bump and return the sequence of our next message to this peer (spec/zre.md#sequence)."""
        self.sent_sequence = (self.sent_sequence + 1) & SEQUENCE_MASK
        return self.sent_sequence

    def sequence_ok(self, sequence: int, is_hello: bool) -> bool:
        """Check a received sequence: HELLO must carry 1, then +1 each (spec/zre.md#sequence)."""
        self.want_sequence = 1 if is_hello else (self.want_sequence + 1) & SEQUENCE_MASK
        return sequence == self.want_sequence

    def refresh(self, now: float, evasive: float, expired: float) -> None:
        """Any accepted message resets the presence timers (spec/zre.md#presence)."""
        self.evasive_at = now + evasive
        self.expired_at = now + expired

    def bump_status(self) -> int:
        """JOIN/LEAVE each add one to the peer's status, wrapping at 256 (spec/zre.md#status)."""
        self.status = (self.status + 1) & STATUS_MASK
        return self.status
