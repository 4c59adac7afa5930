"""The runner's side of the agent protocol v1: spawn, handshake, commands, events (spec/conformance.md#agent-protocol).

An agent is a child process speaking newline-delimited JSON on stdin/stdout; stderr is captured
for the report. Every command has a deadline; a dead process, a broken line or a reply that breaks
the schema is reported as :class:`AgentProtocolError` / :class:`AgentCrashed`, never a hang.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zre_ref.aio import cancel_and_wait

from .schema_lite import Schema
from .waiting import first_match

log = logging.getLogger(__name__)

#: Agent protocol version this runner speaks (spec/conformance.md#agent-protocol)
PROTOCOL_VERSION = 1
#: Longest line we accept from an agent (spec/conformance.md#transport)
MAX_LINE = 64 * 1024 * 1024
#: Lines of agent stderr kept for the report
STDERR_KEEP = 400
#: Default deadline for a command reply, seconds (spec/conformance.md#deadlines)
DEFAULT_REPLY_TIMEOUT = 5.0
#: Deadline for the agent to start and answer `hello`, seconds
HELLO_TIMEOUT = 15.0

_SCHEMA: Schema | None = None


def schema() -> Schema:
    """The agent protocol JSON Schema (conformance/agent-protocol.schema.json)."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = Schema.load("agent-protocol.schema.json")
    return _SCHEMA


class AgentError(Exception):
    """Something is wrong with the agent itself (verdict ERROR or TIMEOUT)."""


class AgentCrashed(AgentError):
    """The agent process exited (spec/conformance.md#verdicts: ERROR)."""


class AgentProtocolError(AgentError):
    """The agent wrote something the agent protocol does not allow (ERROR)."""


class AgentTimeout(AgentError):
    """The agent did not answer a command in time (TIMEOUT)."""


class AgentUnsupported(Exception):
    """The agent answered ``{"ok": false, "unsupported": true}`` (UNSUPPORTED); the message names
    the argument it could not do (its own ``argument`` field, else what the command carried)."""

    def __init__(self, cmd: str, args: dict[str, Any] | None = None,
                 argument: str | None = None) -> None:
        args = args or {}
        if argument == "cmd":
            what = f"the command {cmd!r}"
        elif argument:
            what = f"{cmd!r} with this {argument!r} ({_describe_arg(argument, args.get(argument))})" \
                if argument in args else f"{cmd!r}: {argument}"
        elif args:
            what = f"{cmd!r} with " + ", ".join(f"{k}={_describe_arg(k, v)}" for k, v in args.items())
        else:
            what = repr(cmd)
        super().__init__(f"does not support {what}")
        self.cmd = cmd
        self.argument = argument


def _describe_arg(name: str, value: Any) -> str:
    """A short form of a command argument for an UNSUPPORTED message."""
    if name == "content" and isinstance(value, list):
        sizes = [len(h) // 2 for h in value if isinstance(h, str)]
        if not sizes:
            return "no frames (empty content)"
        return f"{len(sizes)} frame{'s' if len(sizes) != 1 else ''} of {sizes} bytes"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Violation:
    """One agent line that broke the agent protocol: what, the parsed object (if any), and the
    top-level fields the schema rejected (spec/conformance.md#blame)."""

    text: str
    obj: dict[str, Any] | None = None
    fields: frozenset[str] = frozenset()


#: Lines in an agent's stderr that say why it died (Go panic, C assert, Python exception, Node)
_CRASH_PATTERNS = (
    re.compile(r"^panic: "),
    re.compile(r"[Aa]ssertion .*failed|Assertion failed"),
    re.compile(r"^(fatal error|FATAL|Segmentation fault|Aborted)"),
    re.compile(r"^([A-Za-z_][\w.]*)?(Error|Exception|Interrupt|Exit)(: |$)"),
    re.compile(r"^\s*(Uncaught )?\w*Error: "),
)


def crash_line(stderr: Sequence[str], returncode: int | None) -> str:
    """The line that names an agent's crash: the last panic / assert / exception line of its
    stderr, and the signal that killed it (spec/conformance.md#reports)."""
    found = ""
    for line in reversed(list(stderr)[-200:]):
        if any(p.search(line) for p in _CRASH_PATTERNS):
            found = line.strip()[:300]
            break
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        found = f"{found} (killed by {name})" if found else f"killed by {name}"
    return found


def _violated_fields(problems: Sequence[str]) -> frozenset[str]:
    """Top-level fields named by schema_lite problems (``$.peer: ...``); "" for the whole line."""
    out = set()
    for p in problems:
        m = re.match(r"\$\.([A-Za-z_]\w*)", p)
        out.add(m.group(1) if m else "")
    return frozenset(out)


class AgentCommandFailed(Exception):
    """The agent answered ``{"ok": false, "error": ...}``."""

    def __init__(self, cmd: str, error: str) -> None:
        super().__init__(f"agent refused {cmd!r}: {error}")
        self.cmd = cmd
        self.error = error


@dataclass
class AgentHello:
    """What an agent declares in its `hello` reply (spec/conformance.md#hello)."""

    implementation: str
    version: str
    protocols: list[str]
    capabilities: frozenset[str]
    timers: dict[str, int]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Event:
    """One unsolicited event from the agent, with its arrival time (monotonic seconds)."""

    t: float
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("event", ""))

    @property
    def peer(self) -> str:
        return str(self.data.get("peer", ""))


#: Callback for the wire log: (channel, text, data)
LogHook = Callable[[str, str, "dict[str, Any] | None"], None]


class AgentClient:
    """One running agent process (spec/conformance.md#agent-protocol)."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str] | None = None,
                 reply_timeout: float = DEFAULT_REPLY_TIMEOUT) -> None:
        self.argv = list(argv)
        self.env = env
        self.reply_timeout = reply_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.hello: AgentHello | None = None
        self.events: list[Event] = []
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_KEEP)
        self.violations: list[Violation] = []
        self.log_hook: LogHook | None = None
        self._next_id = 1
        self._pending: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._exit_reason = ""

    # -- life cycle -----------------------------------------------------------------------
    async def spawn(self) -> AgentHello:
        """Start the process and do the `hello` handshake (spec/conformance.md#hello)."""
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self.env, limit=MAX_LINE,
                start_new_session=True)
        except OSError as exc:
            raise AgentCrashed(f"cannot start agent {self.argv!r}: {exc}") from exc
        self._tasks = [asyncio.create_task(self._read_stdout()),
                       asyncio.create_task(self._read_stderr())]
        reply = await self.request("hello", timeout=HELLO_TIMEOUT, protocol=PROTOCOL_VERSION)
        problems = schema().errors(reply, schema().sub("reply_hello"))
        if problems:
            raise AgentProtocolError("bad hello reply: " + "; ".join(problems[:5]))
        self.hello = AgentHello(
            implementation=reply["implementation"], version=reply["version"],
            protocols=list(reply["protocols"]), capabilities=frozenset(reply["capabilities"]),
            timers={k: int(v) for k, v in reply.get("timers", {}).items()}, raw=reply)
        return self.hello

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def close(self, grace: float = 2.0) -> None:
        """Close stdin (the agent should exit), then terminate and kill if it does not."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            if proc.stdin is not None:
                with contextlib.suppress(Exception):
                    proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except asyncio.TimeoutError:
                self._signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 1.0)
                except asyncio.TimeoutError:
                    self._signal(signal.SIGKILL)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(proc.wait(), 2.0)
        await cancel_and_wait(*self._tasks, errors_too=True)
        self._tasks = []
        self._fail_pending(AgentCrashed("agent closed"))

    def _signal(self, sig: int) -> None:
        """Signal the agent's own process group (it was started in a new session)."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    # -- commands -------------------------------------------------------------------------
    async def request(self, cmd: str, *, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send a command and wait for its reply; raise on error/unsupported/timeout/crash."""
        if self.proc is None or self.proc.stdin is None:
            raise AgentCrashed("agent not started")
        if not self.alive:
            raise AgentCrashed(self.crash_text())
        cid = self._next_id
        self._next_id += 1
        msg = {"id": cid, "cmd": cmd, **args}
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cid] = (cmd, fut)
        line = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
        self._log("agent-cmd", line, None)
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._pending.pop(cid, None)
            raise AgentCrashed(f"cannot write to agent: {exc}; " + self.crash_text()) from exc
        limit = self.reply_timeout if timeout is None else timeout
        try:
            reply = await asyncio.wait_for(asyncio.shield(fut), limit)
        except asyncio.TimeoutError:
            self._pending.pop(cid, None)
            if not self.alive:
                raise AgentCrashed(self.crash_text()) from None
            raise AgentTimeout(f"no reply to {cmd!r} (id {cid}) within {limit:.1f} s") from None
        if reply.get("ok") is True:
            return reply
        if reply.get("unsupported") is True:
            argument = reply.get("argument")
            raise AgentUnsupported(cmd, args, argument if isinstance(argument, str) else None)
        raise AgentCommandFailed(cmd, str(reply.get("error", "")))

    # -- events ---------------------------------------------------------------------------
    def mark(self) -> int:
        """A cursor: events after this index are new."""
        return len(self.events)

    async def wait_event(self, pred: Callable[[Event], bool], timeout: float,
                         since: int = 0) -> Event | None:
        """The first event at index >= since that matches, or None after ``timeout`` seconds."""
        return await first_match(self.events, self._changed, pred, timeout, since,
                                 check=self._raise_if_crashed)

    def _raise_if_crashed(self) -> None:
        if not self.alive and self.proc is not None:
            raise AgentCrashed(self.crash_text())

    def find_events(self, pred: Callable[[Event], bool], since: int = 0) -> list[Event]:
        return [e for e in self.events[since:] if pred(e)]

    def take_violations(self) -> list[Violation]:
        out, self.violations = self.violations, []
        return out

    # -- readers --------------------------------------------------------------------------
    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None  # set in spawn()
        stream = self.proc.stdout
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # line longer than MAX_LINE: asyncio dropped it, go on
                self._violation(f"stdout line longer than {MAX_LINE} bytes")
                continue
            except (ConnectionResetError, OSError) as exc:
                log.debug("agent stdout closed: %s", exc)
                break
            if not raw:
                break
            self._handle_line(raw)
        # EOF: the agent is gone (or closed stdout, which it must not do)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 2.0)
        self._exit_reason = self.crash_text()
        self._fail_pending(AgentCrashed(self._exit_reason))
        self._changed.set()

    def _handle_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.strip():
            return
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            self._violation(f"stdout line is not JSON: {text[:200]!r}")
            return
        if not isinstance(obj, dict):
            self._violation(f"stdout line is not a JSON object: {text[:200]!r}")
            return
        if "event" in obj and "id" not in obj:
            problems = schema().errors(obj, schema().sub("event"))
            if problems:
                self._violation(f"bad event {text[:200]}: {'; '.join(problems[:3])}", obj,
                                _violated_fields(problems))
                return
            self._log("agent-event", text, None)
            self.events.append(Event(time.monotonic(), obj))
            self._changed.set()
            return
        problems = schema().errors(obj, schema().sub("reply"))
        cid = obj.get("id")
        pending = self._pending.pop(cid, None) if isinstance(cid, int) else None
        if pending is None:
            self._violation(f"reply to unknown or late id: {text[:200]}")
            return
        cmd, fut = pending
        if not problems and obj.get("ok") is True:
            sub = {"start": "reply_start", "peers": "reply_peers"}.get(cmd)
            if sub is not None:
                problems = schema().errors(obj, schema().sub(sub))
        self._log("agent-reply", text, None)
        if problems:
            msg = f"bad reply to {cmd!r}: {'; '.join(problems[:3])}"
            self._violation(msg)
            if not fut.done():
                fut.set_exception(AgentProtocolError(msg))
            return
        if not fut.done():
            fut.set_result(obj)

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None  # set in spawn()
        stream = self.proc.stderr
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                self.stderr_lines.append("<stderr line too long, dropped>")
                continue
            except (ConnectionResetError, OSError):
                break
            if not raw:
                break
            self.stderr_lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def _violation(self, text: str, obj: dict[str, Any] | None = None,
                   fields: frozenset[str] = frozenset()) -> None:
        log.warning("agent protocol violation: %s", text)
        self.violations.append(Violation(text, obj, fields))
        self._log("note", f"agent protocol violation: {text}", None)

    def _fail_pending(self, exc: Exception) -> None:
        for _cmd, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: the waiter may already be gone
        self._pending.clear()

    def crash_line(self) -> str:
        """The panic / assert / exception / signal line of a dead agent ("" if none)."""
        return crash_line(self.stderr_lines, None if self.proc is None else self.proc.returncode)

    def crash_text(self) -> str:
        code = None if self.proc is None else self.proc.returncode
        tail = " | ".join(list(self.stderr_lines)[-5:])
        what = "process exited" if code is not None else "closed its stdout"
        line = self.crash_line()
        return (f"{what} (code {code})" + (f": {line}" if line else "")
                + (f"; stderr: {tail}" if tail else ""))

    def _log(self, channel: str, text: str, data: dict[str, Any] | None) -> None:
        if self.log_hook is not None:
            self.log_hook(channel, text, data)
