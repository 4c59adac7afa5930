"""The ZPIPES broker as a sans-IO core: the pipe table and true named-pipe semantics.

Theory of operation (spec/zpipes.md#broker-semantics). The broker sees clients only by their
ROUTER routing id. Each client has a *session*: START (no pipe), READING (it is a pipe's
reader) or WRITING (a pipe's writer), plus a FIFO of pending READ or WRITE requests, so a
client may pipeline requests; replies come back in request order (PING-OK excepted, it is
answered at once). A pipe holds one reader, one writer and the bytes written but not yet read.

* Bytes enter a pipe only while it has a reader. A WRITE with no reader waits (up to its
  timeout) for one; a WRITE to a pipe holding ``max_pipe_bytes`` waits for room (backpressure).
  WRITE-OK means "queued for the reader". WRITE-TIMEOUT means the chunk, and every WRITE the
  client pipelined behind it, was *not* written.
* READ(size) answers exactly ``size`` bytes, joining and splitting chunks. It answers fewer only
  when the writer has closed (what is left, then READ-END on the next READ), or when the writer
  is held back by the byte limit (all that is buffered, so a big READ never deadlocks against a
  full pipe). READ-TIMEOUT consumes nothing. No byte is ever dropped while the reader is there.
* When the reader goes (CLOSE or expiry) the writer's pending and later WRITEs fail
  (WRITE-FAILED, like EPIPE). When the writer goes, the reader drains what is left, then READ-END.
* A pipe with neither reader nor writer is deleted with its data (flushed).
* A client silent for ``expiry`` seconds is dropped and its pipe end closed as above.
* Memory is bounded in bytes (spec/zpipes.md#limits): a pipe holds at most ``max_pipe_bytes``
  (one chunk more when empty), a client's pending WRITEs at most ``max_client_bytes``; a WRITE
  beyond its client's budget is refused (WRITE-FAILED), never queued.
* A reader that does not read its socket is held back: a READ-OK goes out only while the bytes
  still waiting to go to that client (``reply_backlog(client)``, the transport's count, plus
  what this call produced) are at most ``max_reply_bytes``. Its READs wait, its bytes stay in the
  pipe (so its writer waits too); :meth:`Broker.handle_writable` serves it again once the
  backlog has fallen. Nothing is dropped (spec/zpipes.md#slow-reader).
* Timers live in a heap (one expiry entry per session, one entry per waiting queue head), so
  :meth:`Broker.next_deadline` and a disconnect cost O(log n), not a scan of every session.

Input: :meth:`Broker.handle_frames` / :meth:`Broker.handle_message` / :meth:`Broker.handle_timer`
/ :meth:`Broker.handle_writable`, each with ``now`` (seconds, any monotonic origin). Output: a list of effects (:class:`Send`,
:class:`ClientExpired`) and :meth:`Broker.next_deadline`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from ..errors import DecodeError
from ..lograte import DEFAULT_INTERVAL, RateLimitedLog
from . import messages as m
from .chunks import ChunkBuffer

log = logging.getLogger(__name__)

#: A client silent this long (seconds) is dropped; zbroker.cfg shipped 10 s (spec/zpipes.md#expiry)
DEFAULT_EXPIRY = 10.0
#: Bytes a pipe may hold before WRITEs wait for the reader (spec/zpipes.md#backpressure)
DEFAULT_MAX_PIPE_BYTES = 1024 * 1024
#: READ/WRITE requests one client may have pending at once (spec/zpipes.md#pipelining)
DEFAULT_MAX_PENDING = 64
#: Bytes of WRITE chunks one client may have pending (received, not yet in the pipe); also the
#: largest chunk a WRITE may carry (spec/zpipes.md#limits)
DEFAULT_MAX_CLIENT_BYTES = 8 * 1024 * 1024
#: Bytes of replies that may wait to go to one client before its READs are held back
#: (spec/zpipes.md#slow-reader)
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
#: Bytes a WRITE message adds to its chunk: signature, id, version, chunk length, timeout
WRITE_OVERHEAD = len(m.encode(m.Write(chunk=b"", timeout=0))[0])
#: Bytes a READ-OK message adds to its chunk: signature, id, chunk length
READ_OK_OVERHEAD = len(m.encode(m.ReadOk(chunk=b""))[0])
#: The longest reason a reply carries (a zproto string); longer ones are cut to fit
MAX_REASON_BYTES = 255
#: The largest reply that carries no pipe data: one with a reason of MAX_REASON_BYTES
MAX_SMALL_REPLY = len(m.encode(m.InputFailed(reason="x" * MAX_REASON_BYTES))[0])
#: Longest pipe name: a zproto string (spec/zpipes.md#input)
MAX_PIPE_NAME_BYTES = 255


class SessionState(Enum):
    """A client's state (spec/zpipes.md#session-state-machines)."""

    START = "start"
    READING = "reading"
    WRITING = "writing"


# -- effects -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to the client with this routing id."""

    client: bytes
    message: m.ZpipesMessage


@dataclass(frozen=True, slots=True)
class ClientExpired:
    """The client was silent for the expiry time and has been forgotten (spec/zpipes.md#expiry)."""

    client: bytes
    pipe: str | None


Effect = Send | ClientExpired


@dataclass(frozen=True, slots=True)
class PipeInfo:
    """A snapshot of one pipe, for tests, logs and the CLI."""

    name: str
    reader: bytes | None
    writer: bytes | None
    buffered: int
    writer_closed: bool


# -- internal state ----------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class _Pending:
    request: m.Read | m.Write
    deadline: float | None


@dataclass(slots=True, eq=False)
class _Session:
    client: bytes
    last_seen: float
    state: SessionState = SessionState.START
    pipe: _Pipe | None = None
    queue: deque[_Pending] = field(default_factory=deque)
    #: why every WRITE of this writer now fails (the reader went away), or None
    broken: str | None = None
    #: bytes of the WRITE chunks in ``queue`` (bounded by ``max_client_bytes``)
    pending_bytes: int = 0
    #: a reader whose replies wait in the transport beyond ``max_reply_bytes``: its READs
    #: are not answered until :meth:`Broker.handle_writable` finds the backlog has fallen
    held_back: bool = False


@dataclass(slots=True, eq=False)
class _Pipe:
    name: str
    reader: _Session | None = None
    writer: _Session | None = None
    data: ChunkBuffer = field(default_factory=ChunkBuffer)
    #: a writer was attached and has gone: once drained, READ answers READ-END
    writer_closed: bool = False

    @property
    def buffered(self) -> int:
        return len(self.data)


def _deadline(now: float, timeout_ms: int) -> float | None:
    return None if timeout_ms == m.WAIT_FOREVER else now + timeout_ms / 1000.0


def _head_due(s: _Session, now: float) -> bool:
    if not s.queue:
        return False
    deadline = s.queue[0].deadline
    return deadline is not None and now >= deadline


def _request_size(p: _Pending) -> int:
    req = p.request
    return req.size if isinstance(req, m.Read) else len(req.chunk)


def _write_bytes(req: m.Read | m.Write) -> int:
    """Bytes a request makes the broker hold: a WRITE's chunk (a READ holds none)."""
    return len(req.chunk) if isinstance(req, m.Write) else 0


def _reason(text: str) -> str:
    """``text`` cut to MAX_REASON_BYTES of UTF-8 (a reason naming a long pipe would not fit)."""
    data = text.encode("utf-8")
    return text if len(data) <= MAX_REASON_BYTES else \
        data[:MAX_REASON_BYTES].decode("utf-8", "ignore")


def no_backlog(client: bytes) -> int:
    """The reply backlog of a transport that takes everything at once (the core's default)."""
    return 0


#: A timer: (when, tie-break, session, the queue head it times out or None for expiry)
_Timer = tuple[float, int, _Session, _Pending | None]


class Broker:
    """The pipe table and every client session; pure, time passed in (spec/zpipes.md#broker)."""

    def __init__(
        self,
        *,
        expiry: float = DEFAULT_EXPIRY,
        max_pipe_bytes: int = DEFAULT_MAX_PIPE_BYTES,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_client_bytes: int = DEFAULT_MAX_CLIENT_BYTES,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        reply_backlog: Callable[[bytes], int] = no_backlog,
        log_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if min(expiry, max_pipe_bytes, max_pending, max_client_bytes, max_reply_bytes,
               log_interval) <= 0:
            raise ValueError("expiry, max_pipe_bytes, max_pending, max_client_bytes, "
                             "max_reply_bytes and log_interval must be positive")
        self.expiry = expiry
        self.max_pipe_bytes = max_pipe_bytes
        self.max_pending = max_pending
        self.max_client_bytes = max_client_bytes
        self.max_reply_bytes = max_reply_bytes
        #: bytes of replies still waiting to go to a client (its transport's count): READ-OKs
        #: go out only while this, plus what the current call produced, is <= max_reply_bytes
        self.reply_backlog = reply_backlog
        #: what clients can cause is logged through this, at most a line per kind per interval
        self.log = RateLimitedLog(log, interval=log_interval)
        self._sessions: dict[bytes, _Session] = {}
        self._pipes: dict[str, _Pipe] = {}
        self._out: list[Effect] = []
        #: bytes of READ-OK chunks in ``_out`` per client (not yet in its reply_backlog)
        self._replied: dict[bytes, int] = {}
        #: readers held back by their reply backlog, in the order they were (handle_writable)
        self._held_back: dict[_Session, None] = {}
        self._timers: list[_Timer] = []
        self._tie = itertools.count()

    # -- inspection ------------------------------------------------------------------------
    def pipe_names(self) -> list[str]:
        return sorted(self._pipes)

    def pipe_info(self, name: str) -> PipeInfo | None:
        p = self._pipes.get(name)
        if p is None:
            return None
        return PipeInfo(p.name, p.reader.client if p.reader else None,
                        p.writer.client if p.writer else None, p.buffered, p.writer_closed)

    def session_state(self, client: bytes) -> SessionState | None:
        s = self._sessions.get(client)
        return s.state if s else None

    def clients(self) -> list[bytes]:
        return list(self._sessions)

    def pending_bytes(self, client: bytes) -> int:
        """Bytes of WRITE chunks ``client`` has waiting (0 for an unknown client)."""
        s = self._sessions.get(client)
        return s.pending_bytes if s else 0

    def held_back(self) -> list[bytes]:
        """Readers whose READs wait for their replies to drain (spec/zpipes.md#slow-reader)."""
        return [s.client for s in self._held_back]

    def holding_back(self) -> bool:
        """Whether any reader is held back (:meth:`handle_writable` has work)."""
        return bool(self._held_back)

    def pending_requests(self, client: bytes) -> int:
        """READs or WRITEs ``client`` has waiting for an answer (0 for an unknown client)."""
        s = self._sessions.get(client)
        return len(s.queue) if s else 0

    def armed_timers(self) -> int:
        """Timers in the heap, stale ones included (bounded by 4 x sessions + 64)."""
        return len(self._timers)

    def held_bytes(self) -> int:
        """Every byte of client data the broker holds: pending WRITEs plus pipe buffers."""
        return (sum(s.pending_bytes for s in self._sessions.values())
                + sum(p.buffered for p in self._pipes.values()))

    # -- inputs ----------------------------------------------------------------------------
    def handle_frames(self, client: bytes, frames: Sequence[bytes], now: float) -> list[Effect]:
        """Decode one message from ``client`` and handle it; malformed input gets INVALID."""
        try:
            msg = m.decode(list(frames))
        except DecodeError as exc:
            self.log.warning(now, ("malformed", client), "zpipes: malformed message from %s: %s",
                             client.hex(), exc)
            s = self._sessions.get(client)
            if s is not None:
                s.last_seen = now
            return [Send(client, m.Invalid())]
        return self.handle_message(client, msg, now)

    def handle_message(self, client: bytes, msg: m.ZpipesMessage, now: float) -> list[Effect]:
        """Handle one decoded message from ``client`` (spec/zpipes.md#session-state-machines)."""
        s = self._sessions.get(client)
        if s is not None:
            s.last_seen = now
        if isinstance(msg, m.Ping):
            self._send(client, m.PingOk())
        elif isinstance(msg, (m.Input, m.Output)):
            if s is None:
                s = self._sessions[client] = _Session(client, now)
                self._arm(now + self.expiry, s, None)
            self._open(s, msg, now)
        elif s is None or s.state is SessionState.START or not isinstance(
                msg, (m.Read, m.Write, m.Close)):
            self._invalid(client, msg, s, now)
        elif isinstance(msg, m.Close):
            self._close(s, now, reply=True)
        elif isinstance(msg, m.Read):
            self._read(s, msg, now)
        else:
            self._write(s, msg, now)
        return self._flush()

    def handle_disconnect(self, client: bytes, now: float) -> list[Effect]:
        """The transport lost this client: close its pipe end as if it had expired."""
        s = self._sessions.pop(client, None)
        if s is not None:
            self._close(s, now, reply=False)
        return self._flush()

    def handle_timer(self, now: float) -> list[Effect]:
        """Expire silent clients and time out waiting requests due at ``now``."""
        timers = self._timers
        while True:
            self._settle()
            if not timers or timers[0][0] > now:
                break
            _, _, s, head = heapq.heappop(timers)
            if head is None:
                pipe = s.pipe.name if s.pipe else None
                self.log.info(now, "expired", "zpipes: client %s silent for %.1f s, dropped "
                              "(pipe %r)", s.client.hex(), now - s.last_seen, pipe)
                del self._sessions[s.client]
                self._close(s, now, reply=False)
                self._out.append(ClientExpired(s.client, pipe))
            elif s.pipe is not None:
                self._pump(s.pipe, now)
        due = self.log.next_flush()
        if due is not None and now >= due:
            self.log.flush(now)
        return self._flush()

    def handle_writable(self, now: float) -> list[Effect]:
        """The transport made room: serve again each held-back reader whose backlog is now at
        most ``max_reply_bytes`` (spec/zpipes.md#slow-reader). O(readers held back)."""
        if not self._held_back:
            return []
        held, self._held_back = self._held_back, {}
        for s in held:
            s.held_back = False
            if self._sessions.get(s.client) is s and s.pipe is not None:
                self._pump(s.pipe, now)  # holds it back again if its backlog is still too big
        return self._flush()

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or None if nothing is waiting."""
        self._settle()
        best = self._timers[0][0] if self._timers else None
        due = self.log.next_flush()
        if due is not None and (best is None or due < best):
            best = due
        return best

    # -- timers ----------------------------------------------------------------------------
    def _arm(self, when: float, s: _Session, head: _Pending | None) -> None:
        heapq.heappush(self._timers, (when, next(self._tie), s, head))
        if len(self._timers) > 4 * len(self._sessions) + 64:
            self._compact()

    def _current(self, timer: _Timer) -> bool:
        """Whether a timer still stands: its session is live and, for a request timeout, the
        request is still its queue's head."""
        _, _, s, head = timer
        if self._sessions.get(s.client) is not s:
            return False
        return head is None or (bool(s.queue) and s.queue[0] is head)

    def _settle(self) -> None:
        """Make the heap's top exact: drop stale timers, move expiry timers of sessions heard
        from since they were armed to their real time. Each step is O(log n), and a session's
        expiry timer moves at most once per time it reaches the top."""
        timers = self._timers
        while timers:
            when, _, s, head = timer = timers[0]
            if not self._current(timer):
                heapq.heappop(timers)
            elif head is None and s.last_seen + self.expiry > when:
                heapq.heapreplace(timers, (s.last_seen + self.expiry, next(self._tie), s, None))
            else:
                return

    def _compact(self) -> None:
        """Drop every stale timer (amortised O(1) per timer armed)."""
        self._timers[:] = [t for t in self._timers if self._current(t)]  # in place: callers
        heapq.heapify(self._timers)                                       # may hold the list

    def _pop_head(self, s: _Session) -> _Pending:
        """Remove ``s``'s oldest request; arm the timeout of the one behind it, if any."""
        done = s.queue.popleft()
        s.pending_bytes -= _write_bytes(done.request)
        if s.queue and s.queue[0].deadline is not None:
            self._arm(s.queue[0].deadline, s, s.queue[0])
        return done

    # -- commands --------------------------------------------------------------------------
    def _send(self, client: bytes, msg: m.ZpipesMessage) -> None:
        self._out.append(Send(client, msg))

    def _flush(self) -> list[Effect]:
        out, self._out = self._out, []
        if self._replied:
            self._replied = {}
        return out

    def _may_reply(self, r: _Session, size: int) -> bool:
        """Whether reader ``r`` may be sent a READ-OK now; if not, it is held back."""
        if r.held_back:
            return False
        if self.reply_backlog(r.client) + self._replied.get(r.client, 0) <= self.max_reply_bytes:
            self._replied[r.client] = self._replied.get(r.client, 0) + size + READ_OK_OVERHEAD
            return True
        r.held_back = True
        self._held_back[r] = None
        return False

    def _invalid(self, client: bytes, msg: m.ZpipesMessage, s: _Session | None,
                 now: float) -> None:
        state = s.state.value if s else "unknown client"
        self.log.info(now, ("invalid", client), "zpipes: %s from %s invalid in state %s",
                      m.ZPIPES.spec_of(msg).name, client.hex(), state)
        self._send(client, m.Invalid())

    def _open(self, s: _Session, msg: m.Input | m.Output, now: float) -> None:
        reading = isinstance(msg, m.Input)
        fail: type[m.InputFailed] | type[m.OutputFailed] = m.InputFailed if reading else m.OutputFailed
        if s.state is not SessionState.START:
            self._invalid(s.client, msg, s, now)
            return
        name = msg.pipename
        if not name:
            self._send(s.client, fail(reason="the pipe name must not be empty"))
            return
        p = self._pipes.get(name)
        if p is None:
            p = self._pipes[name] = _Pipe(name)
        if reading:
            if p.reader is not None:
                self._send(s.client, fail(reason=_reason(f"pipe {name!r} already has a reader")))
                return
            p.reader = s
            s.state = SessionState.READING
            self._send(s.client, m.InputOk())
        else:
            if p.writer is not None:
                self._send(s.client, fail(reason=_reason(f"pipe {name!r} already has a writer")))
                return
            p.writer = s
            p.writer_closed = False
            s.state = SessionState.WRITING
            s.broken = None
            self._send(s.client, m.OutputOk())
        s.pipe = p
        self.log.debug(now, "opened", "zpipes: %s opened %r for %s", s.client.hex(), name,
                       "reading" if reading else "writing")
        self._pump(p, now)

    def _enqueue(self, s: _Session, req: m.Read | m.Write, now: float) -> bool:
        size = _write_bytes(req)
        if len(s.queue) >= self.max_pending:
            reason = f"more than {self.max_pending} requests pending"
        elif s.pending_bytes + size > self.max_client_bytes:
            reason = f"more than {self.max_client_bytes} bytes pending"
        else:
            pending = _Pending(req, _deadline(now, req.timeout))
            s.queue.append(pending)
            s.pending_bytes += size
            if len(s.queue) == 1 and pending.deadline is not None:
                self._arm(pending.deadline, s, pending)
            return True
        self.log.info(now, ("refused", s.client), "zpipes: %s from %s refused: %s",
                      m.ZPIPES.spec_of(req).name, s.client.hex(), reason)
        self._send(s.client, m.ReadFailed(reason=reason) if isinstance(req, m.Read)
                   else m.WriteFailed(reason=reason))
        return False

    def _read(self, s: _Session, msg: m.Read, now: float) -> None:
        if s.state is not SessionState.READING:
            self._invalid(s.client, msg, s, now)
            return
        if msg.size == 0:
            self._send(s.client, m.ReadFailed(reason="READ size must be at least 1"))
            return
        if self._enqueue(s, msg, now) and s.pipe is not None:
            self._pump(s.pipe, now)

    def _write(self, s: _Session, msg: m.Write, now: float) -> None:
        if s.state is not SessionState.WRITING:
            self._invalid(s.client, msg, s, now)
            return
        if s.broken is not None:
            self._send(s.client, m.WriteFailed(reason=s.broken))
            return
        if self._enqueue(s, msg, now) and s.pipe is not None:
            self._pump(s.pipe, now)

    def _close(self, s: _Session, now: float, *, reply: bool) -> None:
        """Detach ``s`` from its pipe; pending requests fail; the other end learns of it."""
        p = s.pipe
        while s.queue:
            req = s.queue.popleft().request
            s.pending_bytes -= _write_bytes(req)
            if reply:
                self._send(s.client, m.ReadFailed(reason="closed by the client")
                           if isinstance(req, m.Read) else m.WriteFailed(reason="closed by the client"))
        if reply:
            self._send(s.client, m.CloseOk())
        s.state, s.pipe, s.broken = SessionState.START, None, None
        if s.held_back:
            s.held_back = False
            del self._held_back[s]
        if p is None:
            return
        if p.reader is s:
            p.reader = None
            w = p.writer
            if w is not None:
                w.broken = _reason(f"the reader of pipe {p.name!r} has gone")
                while w.queue:
                    self._pop_head(w)
                    self._send(w.client, m.WriteFailed(reason=w.broken))
        elif p.writer is s:
            p.writer = None
            p.writer_closed = True
        if p.reader is None and p.writer is None:
            if p.buffered:
                self.log.info(now, "flushed", "zpipes: pipe %r flushed with %d unread bytes",
                              p.name, p.buffered)
            del self._pipes[p.name]
        else:
            self._pump(p, now)

    # -- moving bytes ----------------------------------------------------------------------
    def _expire_heads(self, p: _Pipe, now: float) -> None:
        r, w = p.reader, p.writer
        while r is not None and _head_due(r, now):
            self._pop_head(r)
            self._send(r.client, m.ReadTimeout())
        if w is not None and _head_due(w, now):
            # The head was not written in time: neither is anything pipelined behind it.
            while w.queue:
                self._pop_head(w)
                self._send(w.client, m.WriteTimeout())

    def _pump(self, p: _Pipe, now: float) -> None:
        """Move bytes writer -> pipe -> reader as far as the rules allow right now."""
        self._expire_heads(p, now)
        while True:
            progressed = False
            r, w = p.reader, p.writer
            if r is not None and w is not None:
                while w.queue:
                    head = w.queue[0].request
                    if not isinstance(head, m.Write):
                        raise RuntimeError("a READ in a writer's queue")  # internal bug
                    if p.buffered and p.buffered + len(head.chunk) > self.max_pipe_bytes:
                        break
                    self._pop_head(w)
                    p.data.feed(head.chunk)
                    self._send(w.client, m.WriteOk())
                    progressed = True
            if r is not None and r.queue:
                size = _request_size(r.queue[0])
                eof = w is None and p.writer_closed
                held_back = w is not None and bool(w.queue)
                if (p.buffered >= size or (p.buffered and (eof or held_back))) \
                        and self._may_reply(r, min(size, p.buffered)):
                    self._pop_head(r)
                    self._send(r.client, m.ReadOk(chunk=p.data.take(size)))
                    progressed = True
                elif eof and not p.buffered:
                    self._pop_head(r)
                    self._send(r.client, m.ReadEnd())
                    progressed = True
            if not progressed:
                return
