"""The ZPIPES client as a sans-IO core: request bookkeeping, heartbeats and broker liveness.

A client pipelines requests on one DEALER; the broker answers them in order (PING-OK aside,
which may come at any time). :class:`ClientCore` numbers every request, matches each reply to
the oldest unanswered one, sends a PING every ``heartbeat`` seconds so the broker can tell it is
alive, and declares the broker lost when nothing has come back for ``broker_timeout`` seconds
(spec/zpipes.md#client). Time is passed in as ``now``.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from ..errors import DecodeError, ZreRefError
from ..lograte import RateLimitedLog
from . import messages as m
from .chunks import ChunkBuffer

log = logging.getLogger(__name__)

#: Seconds between client PINGs; well below the broker's 10 s expiry (spec/zpipes.md#client)
DEFAULT_HEARTBEAT = 1.0
#: Seconds without any message from the broker before it is declared lost (spec/zpipes.md#client)
DEFAULT_BROKER_TIMEOUT = 5.0
#: Bytes per WRITE when a large buffer is written (spec/zpipes.md#client)
DEFAULT_CHUNK = 64 * 1024
#: WRITEs (or READs) a client keeps in flight when no timeout is asked for (spec/zpipes.md#client)
DEFAULT_WINDOW = 8


class PipeError(ZreRefError):
    """A ZPIPES operation failed; the message says why (spec/zpipes.md#client)."""


class PipeRefused(PipeError):
    """INPUT-FAILED / OUTPUT-FAILED: the pipe could not be opened (e.g. it has a reader)."""


class PipeTimeout(PipeError, TimeoutError):
    """The operation did not complete in time. Nothing was lost: for a write, ``written`` bytes
    were written and the rest were not; for a read, no byte was consumed."""

    def __init__(self, message: str, written: int = 0) -> None:
        super().__init__(message)
        self.written = written


class PipeBroken(PipeError):
    """WRITE-FAILED / READ-FAILED: the other end went away or the broker refused the request."""


class BrokerLost(PipeError):
    """The broker stopped answering, the connection dropped, or it forgot our session (INVALID)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A broker reply matched to the request numbered ``token``."""

    token: int
    request: m.ZpipesMessage
    message: m.ZpipesMessage


#: Which replies answer which request (spec/zpipes.md#message-layout)
_REPLIES: dict[type[m.ZpipesMessage], tuple[type[m.ZpipesMessage], ...]] = {
    m.Input: (m.InputOk, m.InputFailed),
    m.Output: (m.OutputOk, m.OutputFailed),
    m.Read: (m.ReadOk, m.ReadEnd, m.ReadTimeout, m.ReadFailed),
    m.Write: (m.WriteOk, m.WriteTimeout, m.WriteFailed),
    m.Close: (m.CloseOk, m.CloseFailed),
}


class ClientCore:
    """Request numbering, reply matching, heartbeats and liveness for one client connection."""

    def __init__(self, *, heartbeat: float = DEFAULT_HEARTBEAT,
                 broker_timeout: float = DEFAULT_BROKER_TIMEOUT, now: float = 0.0) -> None:
        if heartbeat <= 0 or broker_timeout <= heartbeat:
            raise ValueError("need 0 < heartbeat < broker_timeout")
        self.heartbeat = heartbeat
        self.broker_timeout = broker_timeout
        self._pending: deque[tuple[int, m.ZpipesMessage]] = deque()
        self._next_token = 1
        self.last_recv = now
        self.last_ping = now
        self.lost: str | None = None
        #: what the broker can cause is logged through this (rate-limited, aggregated)
        self.log = RateLimitedLog(log)

    def request(self, msg: m.ZpipesMessage, now: float) -> tuple[int, list[bytes]]:
        """Number a request and return (token, frames to send)."""
        if self.lost is not None:
            raise BrokerLost(self.lost)
        if type(msg) not in _REPLIES:
            raise ValueError(f"{type(msg).__name__} is not a request")
        token = self._next_token
        self._next_token += 1
        self._pending.append((token, msg))
        return token, m.encode(msg)

    def handle_frames(self, frames: list[bytes], now: float) -> Reply | None:
        """A message from the broker: the Reply it completes, or None (PING-OK).

        INVALID completes the oldest request; an unexpected or malformed message is logged and
        ignored (spec/zpipes.md#client)."""
        self.last_recv = now
        try:
            msg = m.decode(frames)
        except DecodeError as exc:
            self.log.warning(now, "malformed", "zpipes client: malformed message from the "
                             "broker: %s", exc)
            return None
        if isinstance(msg, m.PingOk):
            return None
        if not self._pending:
            self.log.warning(now, "unexpected", "zpipes client: unexpected %s with no request "
                             "pending", m.ZPIPES.spec_of(msg).name)
            return None
        token, req = self._pending[0]
        if not isinstance(msg, m.Invalid) and not isinstance(msg, _REPLIES[type(req)]):
            self.log.warning(now, "mismatch", "zpipes client: %s does not answer %s; ignored",
                             m.ZPIPES.spec_of(msg).name, m.ZPIPES.spec_of(req).name)
            return None
        self._pending.popleft()
        return Reply(token, req, msg)

    def handle_timer(self, now: float) -> list[list[bytes]]:
        """Frames to send now (a PING when due); raises BrokerLost when the broker is silent."""
        due = self.log.next_flush()
        if due is not None and now >= due:
            self.log.flush(now)
        if self.lost is not None:
            raise BrokerLost(self.lost)
        if now - self.last_recv >= self.broker_timeout:
            self.lose(f"no answer from the broker for {now - self.last_recv:.1f} s")
            raise BrokerLost(self.lost or "")
        if now - self.last_ping >= self.heartbeat:
            self.last_ping = now
            return [m.encode(m.Ping())]
        return []

    def next_deadline(self) -> float:
        return min(self.last_ping + self.heartbeat, self.last_recv + self.broker_timeout)

    def lose(self, reason: str) -> list[int]:
        """Mark the broker lost; return the tokens of every request that will never be answered."""
        if self.lost is None:
            self.lost = reason
        tokens = [t for t, _ in self._pending]
        self._pending.clear()
        return tokens


class ReadBuffer(ChunkBuffer):
    """Bytes a reader has received but not yet handed out; ``eof`` once READ-END came.

    Chunks are kept as received and handed out without copying when a read takes a whole one."""

    __slots__ = ("eof",)

    def __init__(self) -> None:
        super().__init__()
        self.eof = False
