"""ZMTP 3.1 heartbeats: our PING timer, the PONG timeout, the peer's TTL (spec/zmtp.md#heartbeats).

:class:`Heartbeats` keeps the deadlines of one connection; the connection says how many reads it
has had (``reads``), so a deadline is met by anything at all arriving after it was set, as in
libzmq. When one is missed, the connection closes (the ``timeout`` input of its state table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Expiry", "Heartbeat", "Heartbeats"]

#: why a heartbeat deadline closes a connection (the ConnectionClosed code)
Expiry = Literal["heartbeat-timeout", "ttl-expired"]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Send PING every ``interval`` s with TTL ``ttl`` s; close if nothing arrives ``timeout`` s
    after a PING (default: ``interval``), like ZMQ_HEARTBEAT_IVL/TTL/TIMEOUT (spec/zmtp.md#heartbeats)."""

    interval: float
    ttl: float = 0.0
    timeout: float | None = None


class Heartbeats:
    """The heartbeat deadlines of one open connection; ``config`` None: we send no PINGs (the
    peer's TTL is still kept)."""

    __slots__ = ("_pong_mark", "_ttl_mark", "config", "next_ping", "pong_deadline", "ttl_deadline",
                 "ttl_pending")

    def __init__(self, config: Heartbeat | None) -> None:
        self.config = config
        self.next_ping: float | None = None
        self.pong_deadline: float | None = None
        self.ttl_pending: float | None = None  # a PING's TTL, armed at the next tick
        self.ttl_deadline: float | None = None
        self._pong_mark = 0  # reads when the PONG deadline was set
        self._ttl_mark = 0  # reads when the TTL deadline was set

    def deadlines(self) -> list[float]:
        """The deadlines that are set."""
        return [t for t in (self.next_ping, self.pong_deadline, self.ttl_deadline) if t is not None]

    def peer_ttl(self, ttl: float) -> None:
        """The peer's PING asks to be dropped if nothing arrives from it for ``ttl`` s."""
        self.ttl_pending = ttl

    def ping_due(self, now: float, reads: int) -> bool:
        """Start our PING timer, or say a PING is due now (its PONG deadline then starts)."""
        cfg = self.config
        if cfg is None:
            return False
        if self.next_ping is None:
            self.next_ping = now + cfg.interval
            return False
        if now < self.next_ping:
            return False
        self.next_ping = now + cfg.interval
        if self.pong_deadline is None:
            self.pong_deadline = now + (cfg.timeout if cfg.timeout is not None else cfg.interval)
            self._pong_mark = reads
        return True

    def expired(self, now: float, reads: int) -> Expiry | None:
        """A deadline that passed with nothing read since it was set, else None; a deadline
        met is cleared, and a pending TTL starts."""
        if self.pong_deadline is not None and now >= self.pong_deadline:
            if reads == self._pong_mark:
                return "heartbeat-timeout"
            self.pong_deadline = None
        if self.ttl_pending is not None:
            self.ttl_deadline = now + self.ttl_pending
            self.ttl_pending = None
            self._ttl_mark = reads
        elif self.ttl_deadline is not None and now >= self.ttl_deadline:
            if reads == self._ttl_mark:
                return "ttl-expired"
            self.ttl_deadline = None
        return None
