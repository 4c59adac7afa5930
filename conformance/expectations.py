"""Expectations files: known failures of an implementation, with reasons (spec/conformance.md#expectations).

One entry per line: an id pattern (fnmatch glob), whitespace, an optional reason. ``#`` starts a
comment. A failing case matching an entry becomes XFAIL; a passing one becomes XPASS, which fails
the run (the entry is stale). ``--update-expectations`` rewrites the file from the run's results.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .verdicts import CaseResult, Verdict


@dataclass
class Expectation:
    """One entry of an expectations file."""

    pattern: str
    reason: str
    line: int = 0

    def matches(self, case_id: str) -> bool:
        return fnmatch.fnmatchcase(case_id, self.pattern)


class ExpectationsError(ValueError):
    """The expectations file cannot be parsed (usage error, exit 2)."""


def parse(text: str) -> list[Expectation]:
    """Entries of an expectations file, in order."""
    out: list[Expectation] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        pattern = parts[0]
        if not all(c.isalnum() or c in "._-*?[]!" for c in pattern):
            raise ExpectationsError(f"line {n}: bad id pattern {pattern!r}")
        out.append(Expectation(pattern, parts[1].strip() if len(parts) > 1 else "", n))
    return out


def load(path: str | Path) -> list[Expectation]:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ExpectationsError(f"cannot read {path}: {exc}") from exc
    return parse(text)


def match(entries: Iterable[Expectation], case_id: str) -> Expectation | None:
    for e in entries:
        if e.matches(case_id):
            return e
    return None


def apply(result: CaseResult, entries: list[Expectation]) -> CaseResult:
    """Turn a raw verdict into XFAIL/XPASS when an entry covers the case."""
    result.raw_verdict = result.verdict
    entry = match(entries, result.case_id)
    if entry is None:
        return result
    result.expectation_reason = entry.reason
    if result.verdict.bad:
        result.verdict = Verdict.XFAIL
    elif result.verdict is Verdict.PASS:
        result.verdict = Verdict.XPASS
        note = f"expectations file: expected to fail ({entry.reason or 'no reason given'}) " \
               f"but passed: stale expectation {entry.pattern!r} (line {entry.line})"
        result.message = note if not result.message else f"{note}; {result.message}"
    return result


def unused(entries: Iterable[Expectation], case_ids: Iterable[str]) -> list[Expectation]:
    """Entries that match none of the known case ids (probably a typo)."""
    ids = list(case_ids)
    return [e for e in entries if not any(e.matches(i) for i in ids)]


def updated_text(old_text: str, results: list[CaseResult]) -> str:
    """The file rewritten for ``--update-expectations``.

    Comments and entries for cases that were not run stay. Entries whose cases all pass now are
    dropped; cases that fail now without an entry get one (the failure message as the reason).
    """
    ran = {r.case_id: r for r in results}
    bad = {r.case_id for r in results if (r.raw_verdict or r.verdict).bad}
    out: list[str] = []
    covered: set[str] = set()
    for raw in old_text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            out.append(raw)
            continue
        entry = parse(raw)[0]
        hits = [i for i in ran if entry.matches(i)]
        if hits and not any(i in bad for i in hits):
            continue  # stale: everything it covers passes (or is unsupported) now
        covered.update(i for i in hits if i in bad)
        out.append(raw)
    for case_id in sorted(bad - covered):
        r = ran[case_id]
        reason = (r.message or (r.raw_verdict or r.verdict).value).splitlines()[0][:160]
        out.append(f"{case_id}  {(r.raw_verdict or r.verdict).value}: {reason}")
    return "\n".join(out).rstrip("\n") + "\n"
