"""Verdicts and case results (spec/conformance.md#verdicts).

A case ends in exactly one :class:`Verdict`. Expectations (spec/conformance.md#expectations) may
turn a failing verdict into XFAIL, or a PASS into XPASS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Level(str, Enum):
    """Requirement level of a case, as in RFC 2119 (spec/conformance.md#cases)."""

    MUST = "MUST"
    SHOULD = "SHOULD"


class Verdict(str, Enum):
    """How one case ended (spec/conformance.md#verdicts)."""

    #: the implementation did what the spec says
    PASS = "PASS"
    #: a MUST (or, with --strict, a SHOULD) was not met
    FAIL = "FAIL"
    #: a SHOULD was not met; still conformant
    NON_STRICT = "NON-STRICT"
    #: the agent lacks a capability the case needs, or answered "unsupported"
    UNSUPPORTED = "UNSUPPORTED"
    #: the agent crashed or broke the agent protocol (it is restarted)
    ERROR = "ERROR"
    #: the case hit its hard deadline, or the agent did not answer a command in time
    TIMEOUT = "TIMEOUT"
    #: failed, and an expectations entry says it is known to fail
    XFAIL = "XFAIL"
    #: passed, but an expectations entry says it should fail: a stale expectation
    XPASS = "XPASS"
    #: `--repeat N` runs of the case ended in different verdicts
    FLAKY = "FLAKY"

    @property
    def failing(self) -> bool:
        """Verdicts that make the run exit 1."""
        return self in _FAILING

    @property
    def bad(self) -> bool:
        """Verdicts an expectation can excuse (turn into XFAIL)."""
        return self in _EXCUSABLE


_FAILING = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.TIMEOUT, Verdict.XPASS, Verdict.FLAKY})
_EXCUSABLE = frozenset({Verdict.FAIL, Verdict.ERROR, Verdict.TIMEOUT, Verdict.NON_STRICT})

#: Display order in summaries
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.PASS, Verdict.NON_STRICT, Verdict.XFAIL, Verdict.UNSUPPORTED,
    Verdict.FAIL, Verdict.XPASS, Verdict.ERROR, Verdict.TIMEOUT, Verdict.FLAKY,
)


class Party(str, Enum):
    """Who a verdict blames (spec/conformance.md#blame)."""

    #: the implementation under test, judged by what it did on the wire or reported
    IUT = "IUT"
    #: the agent program: crashed, broke the agent protocol, hung, or lacks a capability
    AGENT = "agent"
    #: zre-conformance itself (a bug in a case or the runner, the run deadline)
    RUNNER = "runner"
    #: nobody (PASS)
    NONE = ""


def blamed(party: Party, message: str) -> str:
    """``message`` prefixed with the party it blames, once (spec/conformance.md#blame)."""
    if party is Party.NONE or not message:
        return message
    prefix = f"{party.value}: "
    return message if message.startswith(prefix) else prefix + message


@dataclass
class WireEntry:
    """One line of a case's wire log: what crossed the wire or the agent pipe, and when."""

    t: float  # seconds since the case started
    channel: str  # udp-in, udp-out, tcp-in, tcp-out, agent-cmd, agent-reply, agent-event, note
    text: str
    data: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 4), "channel": self.channel, "text": self.text}
        if self.data is not None:
            out["data"] = self.data
        return out

    def line(self) -> str:
        return f"{self.t:8.3f}  {self.channel:<11} {self.text}"


@dataclass
class CaseResult:
    """The outcome of one case (spec/conformance.md#report-json)."""

    case_id: str
    level: Level
    spec: str
    verdict: Verdict
    message: str = ""
    duration: float = 0.0
    seed: str = ""
    #: the verdict before expectations were applied
    raw_verdict: Verdict | None = None
    expectation_reason: str | None = None
    wire_log: list[WireEntry] = field(default_factory=list)
    agent_stderr: list[str] = field(default_factory=list)
    repro: str = ""
    #: who the verdict blames (spec/conformance.md#blame)
    party: Party = Party.NONE
    #: the verdict of each run under `--repeat N` (with its seed), when N > 1
    attempts: list[tuple[Verdict, str, str]] = field(default_factory=list)
    #: the agent's crash line (panic, assert, exception, signal), when it died
    crash: str = ""

    def to_json(self, *, full_log: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.case_id,
            "level": self.level.value,
            "spec": self.spec,
            "verdict": self.verdict.value,
            "raw_verdict": (self.raw_verdict or self.verdict).value,
            "message": self.message,
            "duration": round(self.duration, 4),
            "seed": self.seed,
        }
        if self.party is not Party.NONE:
            out["party"] = self.party.value
        if self.expectation_reason is not None:
            out["expectation"] = self.expectation_reason
        if self.crash:
            out["crash"] = self.crash
        if self.attempts:
            out["attempts"] = [{"verdict": v.value, "seed": seed, "message": msg}
                               for v, seed, msg in self.attempts]
        if full_log or self.verdict.failing or self.verdict.bad or self.verdict is Verdict.XFAIL:
            out["wire_log"] = [e.to_json() for e in self.wire_log]
            out["agent_stderr"] = self.agent_stderr
            out["repro"] = self.repro
        return out
