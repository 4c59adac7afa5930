"""Run cases against one agent: deadlines, restarts, verdicts (spec/conformance.md#running).

Each case gets a fresh seeded RNG, its own beacon port and wire peers, a hard deadline derived
from the IUT's timers, and a clean agent (restarted after an ERROR or TIMEOUT). The run has a
global deadline too; cases left when it passes are reported as TIMEOUT without running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .agent import (
    AgentClient,
    AgentCommandFailed,
    AgentCrashed,
    AgentError,
    AgentHello,
    AgentProtocolError,
    AgentTimeout,
    AgentUnsupported,
    Violation,
)
from .captures import CaseCapture, keep_pcap, pcap_name
from .cases import Case, CaseFailed, CaseSlow, CaseUnsupported
from .cases.context import DEFAULT_TIMERS, CaseConfig, Ctx, Timers, fast_timers
from .expectations import Expectation, apply
from .verdicts import CaseResult, Level, Party, Verdict, WireEntry, blamed

log = logging.getLogger(__name__)

#: Fixed part of every case's hard deadline, seconds (spec/conformance.md#deadlines)
CASE_BASE_DEADLINE = 20.0
#: Default deadline for a whole run, seconds
RUN_DEADLINE = 1800.0
#: Range the seeded beacon ports are drawn from (below Linux's ephemeral range)
BEACON_PORT_RANGE = (20000, 30000)


class HarnessError(Exception):
    """The run cannot go on: bad usage, or an agent that cannot even start (exit 2)."""


@dataclass
class RunOptions:
    """Everything `zre-conformance run` was asked to do."""

    agent_argv: list[str]
    agent_display: str
    seed: str
    strict: bool = False
    expectations: list[Expectation] = field(default_factory=list)
    netns: bool = False
    beacon_port: int | None = None
    beacon_targets: list[str] = field(default_factory=lambda: ["127.255.255.255"])
    beacon_interface: str = "127.0.0.1"
    global_timeout: float = RUN_DEADLINE
    slack: float = 1.0
    fast_timers: bool = True
    reply_timeout: float = 5.0
    #: run each case this many times (fresh seed each); differing verdicts give FLAKY
    repeat: int = 1
    #: write each case's traffic to <pcap_dir>/<case id>.pcap (conformance/captures.py)
    pcap_dir: str | None = None


@dataclass
class RunResult:
    """All case results plus the agent's hello and timing."""

    results: list[CaseResult]
    hello: dict[str, Any] | None
    started: float
    duration: float
    timers: dict[str, int] = field(default_factory=dict)
    harness_errors: list[str] = field(default_factory=list)


def repro_command(opts: RunOptions, case_id: str, seed: str | None = None) -> str:
    parts = ["zre-conformance", "run"]
    if opts.agent_display:
        parts += ["--agent", opts.agent_display]
    parts += ["--case", case_id, "--seed", seed or opts.seed]
    if opts.strict:
        parts.append("--strict")
    if opts.netns:
        parts.append("--netns")
    return shlex.join(parts)


def case_rng(seed: str, case_id: str) -> random.Random:
    """The RNG of one case: the same seed and id give the same UUIDs, payloads and ports."""
    return random.Random(f"{seed}/{case_id}")


def attempt_seed(seed: str, attempt: int) -> str:
    """The seed of run ``attempt`` (0-based) of a case under `--repeat`: the first keeps it."""
    return seed if attempt == 0 else f"{seed}r{attempt}"


def timer_resolution(hello: AgentHello | None) -> float:
    """The IUT's declared timer resolution in seconds (0 = fine; spec/conformance.md#timer-resolution)."""
    return (hello.timers.get("resolution_ms", 0) if hello else 0) / 1000


def effective_timers(hello: AgentHello | None, opts: RunOptions) -> tuple[Timers, bool]:
    """Timers the IUT will run with, and whether `start` sets them (spec/conformance.md#deadlines)."""
    caps = hello.capabilities if hello else frozenset()
    declared = hello.timers if hello else {}
    base = Timers(
        beacon_interval=declared.get("beacon_interval_ms", 1000) / 1000,
        evasive=declared.get("evasive_ms", round(DEFAULT_TIMERS.evasive * 1000)) / 1000,
        expired=declared.get("expired_ms", round(DEFAULT_TIMERS.expired * 1000)) / 1000,
        reap=declared.get("reap_interval_ms", 1000) / 1000)
    if opts.fast_timers and "timers" in caps:
        resolution = timer_resolution(hello)
        fast = fast_timers(resolution)
        bi = fast.beacon_interval if "beacon-interval" in caps else base.beacon_interval
        # `start` cannot set the reap interval: zyre keeps its own, zre_ref and pyre shorten it
        # to the evasive timer; a declared resolution is the IUT's own word for it
        reap = fast.reap if resolution else min(base.reap, fast.evasive)
        return Timers(bi, fast.evasive, fast.expired, reap), True
    return base, False


def case_deadline(case: Case, timers: Timers, slack: float) -> float:
    """The hard deadline of one case, seconds (spec/conformance.md#deadlines)."""
    return (CASE_BASE_DEADLINE + 6 * timers.beacon_interval + case.expired_budget * timers.expired
            + case.extra_seconds + 4 * slack)


class Runner:
    """Runs cases against one agent (spec/conformance.md#running)."""

    def __init__(self, opts: RunOptions) -> None:
        self.opts = opts
        self.agent: AgentClient | None = None
        self.hello: AgentHello | None = None
        self.restarts = 0

    async def _ensure_agent(self) -> AgentClient:
        if self.agent is not None and self.agent.alive:
            return self.agent
        if self.agent is not None:
            await self.agent.close(grace=0.5)
            self.restarts += 1
        agent = AgentClient(self.opts.agent_argv, reply_timeout=self.opts.reply_timeout)
        self.agent = agent
        try:
            self.hello = await agent.spawn()
        except BaseException:
            await agent.close(grace=0.5)
            raise
        return agent

    async def _drop_agent(self) -> None:
        if self.agent is not None:
            await self.agent.close(grace=1.0)
            self.agent = None

    async def probe(self) -> AgentHello:
        """Start the agent once and return its hello (a failure here is a harness error)."""
        try:
            await self._ensure_agent()
        except (AgentError, OSError) as exc:
            stderr = " | ".join(list(self.agent.stderr_lines)[-8:]) if self.agent else ""
            await self._drop_agent()
            raise HarnessError(f"agent {self.opts.agent_display!r} did not start: {exc}"
                               + (f"; stderr: {stderr}" if stderr else "")) from exc
        assert self.hello is not None  # set by a successful spawn
        return self.hello

    async def run(self, cases: Sequence[Case],
                  progress: Callable[[int, int, CaseResult], None] | None = None) -> RunResult:
        started = time.time()
        t0 = time.monotonic()
        results: list[CaseResult] = []
        hello_json: dict[str, Any] | None = None
        timers_ms: dict[str, int] = {}
        try:
            if not self.opts.netns:
                hello = await self.probe()
                hello_json = hello.raw
                timers_ms = effective_timers(hello, self.opts)[0].to_ms()
            for i, case in enumerate(cases):
                left = self.opts.global_timeout - (time.monotonic() - t0)
                if left <= 0:
                    result = self._result(case, Verdict.TIMEOUT, "global run deadline passed; "
                                          "case not run", 0.0, [], [])
                else:
                    attempts: list[CaseResult] = []
                    for k in range(max(1, self.opts.repeat)):
                        left = self.opts.global_timeout - (time.monotonic() - t0)
                        seed = attempt_seed(self.opts.seed, k)
                        if self.opts.netns:
                            one, child_hello = await self._run_in_netns(case, left, seed)
                            if child_hello is not None:
                                hello_json = child_hello.get("hello", hello_json)
                                timers_ms = child_hello.get("timers", timers_ms)
                        else:
                            one = await self.run_case(case, left, seed)
                        attempts.append(one)
                    result = combine_attempts(attempts)
                apply(result, self.opts.expectations)
                results.append(result)
                if progress is not None:
                    progress(i + 1, len(cases), result)
        finally:
            await self._drop_agent()
        return RunResult(results, hello_json, started, time.monotonic() - t0, timers_ms)

    def _result(self, case: Case, verdict: Verdict, message: str, duration: float,
                wire: list[WireEntry], stderr: list[str], *, party: Party = Party.NONE,
                seed: str | None = None, crash: str = "") -> CaseResult:
        seed = seed or self.opts.seed
        return CaseResult(case.id, case.level, case.spec, verdict, blamed(party, message), duration,
                          seed, None, None, wire, stderr, repro_command(self.opts, case.id, seed),
                          party=party, crash=crash)

    async def run_case(self, case: Case, time_left: float = RUN_DEADLINE,
                       seed: str | None = None) -> CaseResult:
        """Run one case in this process; never raises for anything the IUT or agent does."""
        seed = seed or self.opts.seed
        t0 = time.monotonic()
        try:
            agent = await self._ensure_agent()
        except (AgentError, OSError) as exc:
            stderr = list(self.agent.stderr_lines) if self.agent else []
            crash = self.agent.crash_line() if self.agent else ""
            await self._drop_agent()
            return self._result(case, Verdict.ERROR, f"did not (re)start: {exc}",
                                time.monotonic() - t0, [], stderr, party=Party.AGENT, seed=seed,
                                crash=crash)
        hello = self.hello
        missing = sorted(case.needs - (hello.capabilities if hello else frozenset()))
        if missing:
            return self._result(case, Verdict.UNSUPPORTED,
                                f"lacks capability {', '.join(missing)}", 0.0, [], [],
                                party=Party.AGENT, seed=seed)
        timers, use_timers = effective_timers(hello, self.opts)
        rng = case_rng(seed, case.id)
        port = self.opts.beacon_port or rng.randrange(*BEACON_PORT_RANGE)
        cfg = CaseConfig(port, list(self.opts.beacon_targets), self.opts.beacon_interface,
                         timers, use_timers, seed, self.opts.slack, timer_resolution(hello))
        ctx = Ctx(agent=agent, cfg=cfg, rng=rng)
        agent.log_hook = ctx.note
        agent.events.clear()
        agent.stderr_lines.clear()
        agent.take_violations()
        deadline = min(case_deadline(case, timers, self.opts.slack), max(time_left, 1.0))
        capture = CaseCapture(self.opts.pcap_dir, pcap_name(case.id, seed, self.opts.seed)).start()
        verdict, message, party, restart = Verdict.PASS, "", Party.NONE, False
        try:
            await asyncio.wait_for(case.func(ctx), deadline)
        except CaseFailed as exc:
            strict = case.level is Level.MUST or self.opts.strict
            verdict, message, party = (Verdict.FAIL if strict else Verdict.NON_STRICT), str(exc), Party.IUT
        except CaseSlow as exc:
            verdict, message, party = Verdict.TIMEOUT, f"slow: {exc}", Party.IUT
        except CaseUnsupported as exc:
            verdict, message, party = Verdict.UNSUPPORTED, str(exc), Party.AGENT
        except AgentUnsupported as exc:
            verdict, message, party = Verdict.UNSUPPORTED, str(exc), Party.AGENT
        except AgentTimeout as exc:
            verdict, message, party, restart = Verdict.TIMEOUT, str(exc), Party.AGENT, True
        except asyncio.TimeoutError:
            verdict, party, restart = Verdict.TIMEOUT, Party.IUT, True
            message = (f"case hit its hard deadline ({deadline:.1f} s) while the IUT and its agent "
                       f"kept it waiting")
        except (AgentCrashed, AgentProtocolError) as exc:
            verdict, message, party, restart = Verdict.ERROR, str(exc), Party.AGENT, True
        except AgentCommandFailed as exc:
            verdict, message, party = Verdict.ERROR, str(exc), Party.AGENT
        except Exception as exc:  # a bug in the runner or a case: report it, keep going
            log.error("case %s crashed the harness:\n%s", case.id, traceback.format_exc())
            verdict, party, restart = Verdict.ERROR, Party.RUNNER, True
            message = f"harness error: {type(exc).__name__}: {exc}"
        # tidy up: stop the IUT (an agent that cannot stop is restarted), close the wire
        if ctx.started and agent.alive and not restart:
            try:
                await ctx.stop_iut()
            except (AgentError, AgentCommandFailed, AgentUnsupported) as exc:
                ctx.note("note", f"stop failed: {exc} (the agent is restarted before the next case)")
                restart = True
        with contextlib.suppress(Exception):
            await ctx.cleanup()
        capture.stop()
        violations = agent.take_violations()
        if violations and verdict in (Verdict.PASS, Verdict.FAIL, Verdict.NON_STRICT):
            iut_fault = blame_violations(violations, ctx.iut_output_fields)
            if iut_fault is not None:
                verdict, party = Verdict.FAIL, Party.IUT
                message = iut_fault + (f" (case said: {message})" if message else "")
            else:
                verdict, party, restart = Verdict.ERROR, Party.AGENT, True
                message = "protocol violation: " + "; ".join(v.text for v in violations[:3]) + (
                    f" (case said: {message})" if message else "")
        crash = ""
        if not agent.alive:
            crash = agent.crash_line()
            if verdict is not Verdict.ERROR:
                verdict, party = Verdict.ERROR, Party.AGENT
                message = agent.crash_text() + (f" (case said: {message})" if message else "")
        stderr = list(agent.stderr_lines)[-60:] if verdict.bad else []
        agent.log_hook = None
        if restart or not agent.alive:
            await self._drop_agent()
        return self._result(case, verdict, message, time.monotonic() - t0, ctx.log, stderr,
                            party=party, seed=seed, crash=crash)

    async def _run_in_netns(self, case: Case, time_left: float,
                            seed: str | None = None) -> tuple[CaseResult, dict[str, Any] | None]:
        """Run one case in a child process inside a fresh lo-only namespace (spec/conformance.md#netns)."""
        t0 = time.monotonic()
        name = f"zrecf{os.getpid()}x{abs(hash(case.id)) % 100000}"
        ip = "ip"
        try:
            _sh([ip, "netns", "add", name])
        except (OSError, subprocess.CalledProcessError) as exc:
            raise HarnessError(f"--netns: cannot create a network namespace (root and iproute2 "
                               f"needed): {exc}") from exc
        try:
            _sh([ip, "-n", name, "link", "set", "lo", "up"])
            # multicast beacons (pyre's fallback) need a route on an lo-only host (spec/deviations.md#one-host)
            _sh([ip, "-n", name, "route", "add", "224.0.0.0/4", "dev", "lo", "src", "127.0.0.1"])
            with tempfile.TemporaryDirectory() as tmp:
                report = os.path.join(tmp, "case.json")
                cmd = [ip, "netns", "exec", name, sys.executable, "-m", "zre_conformance.cli", "run",
                       "--agent-argv-json", json.dumps(self.opts.agent_argv),
                       "--agent-display", self.opts.agent_display,
                       "--case", case.id, "--seed", seed or self.opts.seed, "--report-json", report,
                       "--quiet", "--slack", str(self.opts.slack),
                       "--beacon-target", "127.255.255.255", "--beacon-target", "225.25.25.25"]
                if self.opts.strict:
                    cmd.append("--strict")
                if not self.opts.fast_timers:
                    cmd.append("--no-fast-timers")
                if self.opts.beacon_port:
                    cmd += ["--beacon-port", str(self.opts.beacon_port)]
                if self.opts.pcap_dir:  # the child's pcap is moved to its name under --repeat
                    cmd += ["--pcap", os.path.join(tmp, "pcap")]
                limit = min(time_left, 3600.0) + 30.0
                proc = await asyncio.create_subprocess_exec(
                    *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    start_new_session=True)
                try:
                    _out, err = await asyncio.wait_for(proc.communicate(), limit)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, 9)
                    await proc.wait()
                    return self._result(case, Verdict.TIMEOUT, f"netns child exceeded {limit:.0f} s",
                                        time.monotonic() - t0, [], [], party=Party.RUNNER,
                                        seed=seed), None
                if self.opts.pcap_dir:
                    keep_pcap(os.path.join(tmp, "pcap", f"{case.id}.pcap"), self.opts.pcap_dir,
                              pcap_name(case.id, seed or self.opts.seed, self.opts.seed))
                try:
                    with open(report, encoding="utf-8") as fh:
                        doc = json.load(fh)
                    entry = doc["cases"][0]
                except (OSError, ValueError, KeyError, IndexError):
                    tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
                    return self._result(case, Verdict.ERROR, f"netns child failed (exit "
                                        f"{proc.returncode}): {' | '.join(tail)}",
                                        time.monotonic() - t0, [], [], party=Party.RUNNER,
                                        seed=seed), None
                result = self._result(
                    case, Verdict(entry["raw_verdict"]), entry.get("message", ""),
                    float(entry.get("duration", 0.0)),
                    [WireEntry(e["t"], e["channel"], e["text"], e.get("data"))
                     for e in entry.get("wire_log", [])], entry.get("agent_stderr", []),
                    party=Party(entry.get("party", "")), seed=seed, crash=entry.get("crash", ""))
                return result, {"hello": doc.get("agent", {}).get("hello"),
                                "timers": doc.get("run", {}).get("timers", {})}
        finally:
            with contextlib.suppress(OSError, subprocess.CalledProcessError):
                _sh([ip, "netns", "del", name])


def combine_attempts(attempts: Sequence[CaseResult]) -> CaseResult:
    """One result for the runs of a case under `--repeat`: their verdict if all agree, else
    FLAKY, naming each run's verdict and seed (spec/conformance.md#repeat)."""
    first = attempts[0]
    if len(attempts) == 1:
        return first
    first.attempts = [(a.verdict, a.seed, a.message) for a in attempts]
    first.duration = sum(a.duration for a in attempts)
    verdicts = {a.verdict for a in attempts}
    if len(verdicts) == 1:
        return first
    odd = next(a for a in attempts if a.verdict is not first.verdict)
    pick = odd if odd.verdict.bad else first  # show the log of a run that went wrong
    runs = ", ".join(f"{a.verdict.value} (seed {a.seed})" for a in attempts)
    flaky = CaseResult(first.case_id, first.level, first.spec, Verdict.FLAKY,
                       blamed(Party.IUT, f"verdicts differ between runs: {runs}; "
                              f"{pick.verdict.value}: {pick.message}"),
                       first.duration, pick.seed, None, None, pick.wire_log, pick.agent_stderr,
                       pick.repro, party=Party.IUT, attempts=first.attempts, crash=pick.crash)
    return flaky


def blame_violations(violations: Sequence[Violation], rules: Sequence[tuple[str, str]]) -> str | None:
    """The IUT's fault, if every agent protocol violation is an event whose only bad fields are
    ones the case told us carry the IUT's answer to injected input; else None (agent ERROR)
    (spec/conformance.md#blame)."""
    if not rules or not violations:
        return None
    why = dict(rules)
    reasons: list[str] = []
    for v in violations:
        if not v.fields or v.obj is None or "event" not in v.obj or not v.fields <= why.keys():
            return None
        for name in sorted(v.fields):
            reasons.append(f"it reported {v.obj.get('event')} with {name} {v.obj.get(name)!r}: "
                           f"{why[name]}")
    return "; ".join(dict.fromkeys(reasons))


def _sh(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
