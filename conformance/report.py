"""Reports: live progress, summary table, JSON (versioned schema), JUnit XML, Markdown (spec/conformance.md#reports)."""

from __future__ import annotations

import datetime
import json
import platform
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from .runner import RunOptions, RunResult
from .verdicts import VERDICT_ORDER, CaseResult, Verdict

#: Version of the JSON report format (conformance/report.schema.json); 2 added FLAKY, `party`,
#: `crash`, `attempts` and `run.repeat`
REPORT_VERSION = 2
#: Wire-log lines shown per failing case on the terminal (the JSON report has them all)
TERMINAL_LOG_LINES = 40

_COLOURS = {
    Verdict.PASS: "32", Verdict.NON_STRICT: "33", Verdict.XFAIL: "36", Verdict.UNSUPPORTED: "2",
    Verdict.FAIL: "31", Verdict.XPASS: "35", Verdict.ERROR: "31;1", Verdict.TIMEOUT: "31",
    Verdict.FLAKY: "35;1",
}


def _paint(text: str, verdict: Verdict, colour: bool) -> str:
    return f"\x1b[{_COLOURS[verdict]}m{text}\x1b[0m" if colour else text


def progress_line(n: int, total: int, r: CaseResult, *, colour: bool = False) -> str:
    """One line per finished case: `[ 3/45] PASS        hello.version  0.21 s  message`."""
    width = len(str(total))
    head = f"[{n:>{width}}/{total}] " + _paint(f"{r.verdict.value:<11}", r.verdict, colour)
    msg = f"  {r.message.splitlines()[0][:140]}" if r.message and r.verdict is not Verdict.PASS else ""
    return f"{head} {r.case_id:<34} {r.duration:6.2f} s{msg}"


def counts(results: Sequence[CaseResult]) -> Counter[Verdict]:
    return Counter(r.verdict for r in results)


def exit_code(results: Sequence[CaseResult]) -> int:
    """0 conformant, 1 failures (spec/conformance.md#exit-codes)."""
    return 1 if any(r.verdict.failing for r in results) else 0


def summary_text(run: RunResult, opts: RunOptions, *, colour: bool = False) -> str:
    """The final summary: failing cases with wire logs and repro lines, then a count table."""
    out: list[str] = []
    bad = [r for r in run.results if r.verdict.failing]
    for r in bad:
        out.append("")
        out.append(_paint(f"== {r.verdict.value} {r.case_id}", r.verdict, colour)
                   + f"  [{r.level.value}, {r.spec}]")
        if r.message:
            out.append(f"   {r.message}")
        if r.crash:
            out.append(f"   crash: {r.crash}")
        for v, seed, msg in r.attempts:
            out.append(f"   run with seed {seed}: {v.value}" + (f" ({msg.splitlines()[0][:160]})" if msg else ""))
        if r.wire_log:
            out.append("   wire log (t s, channel, what):")
            lines = r.wire_log[-TERMINAL_LOG_LINES:]
            if len(r.wire_log) > len(lines):
                out.append(f"     ... {len(r.wire_log) - len(lines)} earlier lines in the JSON report")
            out += ["     " + e.line()[:200] for e in lines]
        if r.agent_stderr:
            out.append("   agent stderr (last lines):")
            out += ["     " + line[:200] for line in r.agent_stderr[-8:]]
        out.append(f"   repro: {r.repro}")
    c = counts(run.results)
    hello = run.hello or {}
    out.append("")
    impl = f"{hello.get('implementation', '?')} {hello.get('version', '')}".strip()
    out.append(f"zre-conformance: {impl} via {opts.agent_display or 'built-in agent'}, "
               f"{len(run.results)} cases in {run.duration:.1f} s, seed {opts.seed}"
               + (" (strict)" if opts.strict else ""))
    out.append("  " + "  ".join(_paint(f"{v.value} {c[v]}", v, colour) for v in VERDICT_ORDER if c[v]))
    code = exit_code(run.results)
    out.append("  result: " + ("CONFORMANT" if code == 0 else "NOT CONFORMANT"))
    return "\n".join(out)


def to_json(run: RunResult, opts: RunOptions, *, argv: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON report (conformance/report.schema.json, version REPORT_VERSION)."""
    c = counts(run.results)
    return {
        "report_version": REPORT_VERSION,
        "tool": {"name": "zre-conformance", "version": _tool_version()},
        "run": {
            "started": datetime.datetime.fromtimestamp(run.started, datetime.timezone.utc)
            .isoformat(timespec="seconds"),
            "duration": round(run.duration, 3),
            "seed": opts.seed,
            "strict": opts.strict,
            "netns": opts.netns,
            "argv": list(argv),
            "repeat": opts.repeat,
            "python": platform.python_version(),
            "platform": sys.platform,
            "timers": run.timers,
        },
        "agent": {"command": opts.agent_display, "hello": run.hello},
        "summary": {
            "total": len(run.results),
            "counts": {v.value: c[v] for v in VERDICT_ORDER},
            "exit_code": exit_code(run.results),
            "conformant": exit_code(run.results) == 0,
        },
        "cases": [r.to_json(full_log=False) for r in run.results],
    }


def _tool_version() -> str:
    try:
        from importlib.metadata import version

        return version("zre-ref")
    except Exception:  # not installed: running from a checkout
        return "0+unknown"


def write_json(path: str, doc: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def junit_xml(run: RunResult, opts: RunOptions) -> str:
    """JUnit XML: one testcase per case; FAIL/XPASS -> failure, ERROR/TIMEOUT -> error,
    UNSUPPORTED/XFAIL -> skipped (spec/conformance.md#reports)."""
    c = counts(run.results)
    suite = ET.Element("testsuite", {
        "name": "zre-conformance",
        "tests": str(len(run.results)),
        "failures": str(c[Verdict.FAIL] + c[Verdict.XPASS]),
        "errors": str(c[Verdict.ERROR] + c[Verdict.TIMEOUT]),
        "skipped": str(c[Verdict.UNSUPPORTED] + c[Verdict.XFAIL]),
        "time": f"{run.duration:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    hello = run.hello or {}
    for key, value in (("agent", opts.agent_display), ("seed", opts.seed),
                       ("implementation", str(hello.get("implementation", ""))),
                       ("implementation_version", str(hello.get("version", "")))):
        ET.SubElement(props, "property", {"name": key, "value": value})
    for r in run.results:
        classname = "zre." + r.case_id.split(".", 1)[0]
        tc = ET.SubElement(suite, "testcase", {"classname": classname, "name": r.case_id,
                                               "time": f"{r.duration:.3f}"})
        detail = _detail_text(r)
        if r.verdict in (Verdict.FAIL, Verdict.XPASS, Verdict.FLAKY):
            el = ET.SubElement(tc, "failure", {"message": r.message[:500], "type": r.verdict.value})
            el.text = detail
        elif r.verdict in (Verdict.ERROR, Verdict.TIMEOUT):
            el = ET.SubElement(tc, "error", {"message": r.message[:500], "type": r.verdict.value})
            el.text = detail
        elif r.verdict in (Verdict.UNSUPPORTED, Verdict.XFAIL):
            text = r.message if r.verdict is Verdict.UNSUPPORTED else \
                f"expected failure: {r.expectation_reason or ''} ({r.message})"
            ET.SubElement(tc, "skipped", {"message": text[:500]})
        elif r.verdict is Verdict.NON_STRICT:
            out = ET.SubElement(tc, "system-out")
            out.text = f"NON-STRICT (a SHOULD was not met): {r.message}"
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _detail_text(r: CaseResult) -> str:
    lines = [f"{r.verdict.value} {r.case_id} [{r.level.value}, {r.spec}]", r.message]
    if r.crash:
        lines.append(f"crash: {r.crash}")
    lines += [f"run with seed {seed}: {v.value} {msg}".rstrip() for v, seed, msg in r.attempts]
    lines += ["", "wire log:"]
    lines += [e.line() for e in r.wire_log]
    if r.agent_stderr:
        lines += ["", "agent stderr:", *r.agent_stderr]
    lines += ["", f"repro: {r.repro}"]
    return "\n".join(lines)


def markdown(run: RunResult, opts: RunOptions) -> str:
    """A Markdown summary for a CI step summary (spec/conformance.md#reports)."""
    c = counts(run.results)
    hello = run.hello or {}
    code = exit_code(run.results)
    lines = [
        f"## zre-conformance: {'✅ conformant' if code == 0 else '❌ not conformant'}",
        "",
        f"Implementation **{hello.get('implementation', '?')} {hello.get('version', '')}** via "
        f"`{opts.agent_display or 'built-in agent'}` — {len(run.results)} cases in "
        f"{run.duration:.1f} s, seed `{opts.seed}`{' (strict)' if opts.strict else ''}.",
        "",
        "| " + " | ".join(v.value for v in VERDICT_ORDER) + " |",
        "|" + "---|" * len(VERDICT_ORDER),
        "| " + " | ".join(str(c[v]) for v in VERDICT_ORDER) + " |",
        "",
        "| case | level | verdict | time | message |",
        "|---|---|---|---|---|",
    ]
    for r in run.results:
        text = r.message or r.expectation_reason or ""
        if r.crash and r.crash not in text:
            text += f" — crash: {r.crash}"
        msg = text.replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| `{r.case_id}` | {r.level.value} | {r.verdict.value} | "
                     f"{r.duration:.2f} s | {msg} |")
    for r in run.results:
        if not r.verdict.failing:
            continue
        lines += ["", f"<details><summary>{r.verdict.value} <code>{r.case_id}</code>: "
                  f"{_html(r.message[:200])}</summary>", ""]
        if r.crash:
            lines += [f"Crash: `{r.crash.replace('`', chr(39))}`", ""]
        if r.attempts:
            lines += ["Runs: " + ", ".join(f"{v.value} (seed `{seed}`)" for v, seed, _m in r.attempts), ""]
        lines += ["```"]
        lines += [e.line() for e in r.wire_log] or ["(no wire traffic)"]
        lines += ["```", "", f"Repro: `{r.repro}`", "", "</details>"]
    return "\n".join(lines) + "\n"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def matrix_text(names: Sequence[str], cells: dict[tuple[str, str], Counter[Verdict]]) -> str:
    """The interop matrix: rows = IUT, columns = peer agent, each cell passed/total."""
    width = max([len(n) for n in names] + [8])
    head = " " * (width + 2) + "  ".join(f"{n:>{width}}" for n in names)
    lines = ["interop matrix (row = first node, column = second node; passed/run, unsupported not counted)", head]
    for a in names:
        cells_txt = []
        for b in names:
            cnt = cells.get((a, b))
            if cnt is None:
                cells_txt.append(f"{'—':>{width}}")
                continue
            total = sum(cnt.values()) - cnt[Verdict.UNSUPPORTED]
            good = cnt[Verdict.PASS] + cnt[Verdict.XFAIL] + cnt[Verdict.NON_STRICT]
            cells_txt.append(f"{f'{good}/{total}':>{width}}")
        lines.append(f"{a:<{width}}  " + "  ".join(cells_txt))
    return "\n".join(lines)


def stream_is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
