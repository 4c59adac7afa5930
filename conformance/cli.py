"""`zre-conformance`: run the ZRE conformance suite against an implementation (spec/conformance.md).

    zre-conformance run                          # the built-in reference agent (zre-ref agent)
    zre-conformance run --agent "python3 my_agent.py" --junit report.xml
    zre-conformance run --agent pyre             # a shipped agent, with its expectations file
    zre-conformance list                         # the case catalogue
    zre-conformance validate-agent --agent "./my-agent"
    zre-conformance matrix --agent zre-ref --agent pyre --agent zyre.js

Exit status: 0 conformant, 1 failures, 2 usage or harness error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import agent_setup
from . import expectations as exp
from .cases import all_cases, select
from .report import (
    junit_xml,
    markdown,
    progress_line,
    stream_is_tty,
    summary_text,
    to_json,
    write_json,
)
from .runner import HarnessError, Runner, RunOptions

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class AgentChoice:
    """An agent command line, how to show it, and its shipped expectations file (if any)."""

    argv: list[str]
    display: str
    label: str
    expectations: str | None
    #: a shipped agent that picks its own beacon interface: runs in lo-only namespaces
    needs_netns: bool = False


def builtin_agent() -> AgentChoice:
    return AgentChoice([sys.executable, "-m", "zre_ref.agent"], "", "zre-ref", None)


def resolve_agent(text: str | None) -> AgentChoice:
    """`--agent` value -> argv. Short names pick a shipped agent (spec/conformance.md#agents)."""
    if text is None or text in ("zre-ref", "builtin", "zre_ref"):
        return builtin_agent() if text is None else AgentChoice(
            builtin_agent().argv, text, "zre-ref", None)
    if agent_setup.canonical(text) is not None:
        try:
            found = agent_setup.find(text)
        except agent_setup.Missing as exc:
            raise HarnessError(str(exc)) from None
        return AgentChoice(found.argv, text, found.label, found.expectations, found.needs_netns)
    if "=" in text.split()[0] and not text.startswith(("/", ".")):
        label, _, cmd = text.partition("=")
        inner = resolve_agent(cmd)
        return AgentChoice(inner.argv, text, label, inner.expectations, inner.needs_netns)
    argv = shlex.split(text)
    if not argv:
        raise HarnessError("--agent: empty command")
    return AgentChoice(argv, text, Path(argv[-1]).stem or argv[0], None)


def _add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", action="append", default=[], metavar="PATTERN",
                   help="run only cases whose id matches (glob, e.g. 'hello.*'); repeatable")
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="skip cases whose id matches (glob); repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zre-conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run cases against one agent")
    p.add_argument("--agent", metavar="CMD",
                   help="agent command line, or pyre / zyre.js / zre-ref (default: built-in)")
    p.add_argument("--agent-argv-json", help=argparse.SUPPRESS)
    p.add_argument("--agent-display", help=argparse.SUPPRESS)
    _add_selection(p)
    p.add_argument("--seed", help="seed for UUIDs, payloads and ports (default: random, printed)")
    p.add_argument("--strict", action="store_true", help="SHOULD cases are required (NON-STRICT -> FAIL)")
    p.add_argument("--expectations", metavar="FILE", help="known failures, one id pattern per line")
    p.add_argument("--no-expectations", action="store_true",
                   help="ignore the shipped expectations file of a named agent")
    p.add_argument("--update-expectations", action="store_true",
                   help="rewrite the expectations file from this run's results")
    p.add_argument("--report-json", metavar="FILE", help="write the JSON report (report.schema.json)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary (CI step summary)")
    p.add_argument("--pcap", metavar="DIR", help="write each case's traffic to DIR/<case>.pcap")
    p.add_argument("--netns", action="store_true",
                   help="run each case in a fresh lo-only network namespace (root, Linux)")
    p.add_argument("--beacon-port", type=int, help="fixed UDP beacon port (default: seeded per case)")
    p.add_argument("--beacon-target", action="append", default=[], metavar="ADDR",
                   help="where the runner sends beacons (default 127.255.255.255); repeatable")
    p.add_argument("--interface", default="127.0.0.1",
                   help="beacon interface passed to the agent (default 127.0.0.1)")
    p.add_argument("--timeout", type=float, default=1800.0, help="global run deadline, seconds")
    p.add_argument("--slack", type=float, default=1.0,
                   help="seconds added to every wait window (slow machines)")
    p.add_argument("--no-fast-timers", action="store_true",
                   help="do not shorten the IUT's timers through `start`")
    p.add_argument("--reply-timeout", type=float, default=5.0,
                   help="seconds the agent has to answer one command")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each case N times, a fresh seed each; differing verdicts are FLAKY")
    p.add_argument("--quiet", action="store_true", help="no progress lines, summary only")
    p.add_argument("--no-color", action="store_true")
    p.set_defaults(func=cmd_run)

    agent_setup.add_setup_command(sub)

    p = sub.add_parser("list", help="list the cases (id, level, spec anchor, title)")
    _add_selection(p)
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("validate-agent", help="check that an agent speaks the agent protocol")
    p.add_argument("--agent", metavar="CMD", help="agent command line (default: built-in)")
    p.add_argument("--beacon-port", type=int, default=0)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("matrix", help="two-party scenarios between every pair of agents")
    p.add_argument("--agent", action="append", default=[], metavar="[LABEL=]CMD", required=True,
                   help="an agent (repeat; at least one); pyre / zyre.js / zre-ref are short names")
    p.add_argument("--seed")
    p.add_argument("--netns", action="store_true", help="run each pair in a fresh lo-only namespace")
    p.add_argument("--report-json", metavar="FILE")
    p.add_argument("--markdown", metavar="FILE")
    p.add_argument("--slack", type=float, default=1.0)
    p.set_defaults(func=cmd_matrix)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    cases = select(all_cases(), args.case, args.exclude)
    if args.json:
        print(json.dumps([{"id": c.id, "level": c.level.value, "spec": c.spec, "title": c.title,
                           "needs": sorted(c.needs)} for c in cases], indent=2))
        return EXIT_OK
    width = max((len(c.id) for c in cases), default=10)
    for c in cases:
        print(f"{c.id:<{width}}  {c.level.value:<6}  {c.spec:<32}  {c.title}")
    print(f"{len(cases)} cases")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    if args.agent_argv_json:
        argv = json.loads(args.agent_argv_json)
        choice = AgentChoice(argv, args.agent_display or "", "agent", None)
    else:
        choice = resolve_agent(args.agent)
    cases = select(all_cases(), args.case, args.exclude)
    if not cases:
        print("zre-conformance: no case matches the --case/--exclude patterns "
              "(see `zre-conformance list`)", file=sys.stderr)
        return EXIT_USAGE
    exp_path = args.expectations or (None if args.no_expectations else choice.expectations)
    entries: list[exp.Expectation] = []
    if exp_path:
        if args.update_expectations and not os.path.exists(exp_path):
            Path(exp_path).write_text("", "utf-8")
        entries = exp.load(exp_path)
        for e in exp.unused(entries, [c.id for c in all_cases()]):
            print(f"zre-conformance: warning: expectation {e.pattern!r} (line {e.line}) matches no "
                  f"case", file=sys.stderr)
    elif args.update_expectations:
        print("zre-conformance: --update-expectations needs --expectations FILE", file=sys.stderr)
        return EXIT_USAGE
    seed = args.seed or secrets.token_hex(4)
    if args.repeat < 1:
        print("zre-conformance: --repeat needs N >= 1", file=sys.stderr)
        return EXIT_USAGE
    if choice.needs_netns and not args.netns:  # pyre, zyre: only a lo-only namespace works
        if os.geteuid() != 0:
            print(f"zre-conformance: the {choice.label} agent picks its own beacon interface and "
                  "runs only with --netns, which needs root; fix: sudo zre-conformance run "
                  f"--agent {choice.display} --netns", file=sys.stderr)
            return EXIT_USAGE
        args.netns = True
    if args.netns and os.geteuid() != 0:
        print("zre-conformance: --netns needs root (it creates network namespaces)", file=sys.stderr)
        return EXIT_USAGE
    opts = RunOptions(
        agent_argv=choice.argv, agent_display=choice.display, seed=seed, strict=args.strict,
        expectations=entries, netns=args.netns, beacon_port=args.beacon_port,
        beacon_targets=args.beacon_target or ["127.255.255.255"], beacon_interface=args.interface,
        global_timeout=args.timeout, slack=args.slack, fast_timers=not args.no_fast_timers,
        reply_timeout=args.reply_timeout, repeat=args.repeat, pcap_dir=args.pcap)
    colour = not args.no_color and stream_is_tty(sys.stdout) and "NO_COLOR" not in os.environ
    if not args.quiet:
        print(f"zre-conformance: {len(cases)} cases against {choice.display or 'the built-in agent'}"
              f" (seed {seed}{', netns' if args.netns else ''})", flush=True)

    def progress(n: int, total: int, r: object) -> None:
        if not args.quiet:
            print(progress_line(n, total, r, colour=colour), flush=True)  # type: ignore[arg-type]

    try:
        run = asyncio.run(Runner(opts).run(cases, progress))
    except HarnessError as exc:
        print(f"zre-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("zre-conformance: interrupted", file=sys.stderr)
        return EXIT_USAGE
    doc = to_json(run, opts, argv=sys.argv[1:])
    if args.report_json:
        write_json(args.report_json, doc)
    if args.junit:
        Path(args.junit).write_text(junit_xml(run, opts), "utf-8")
    if args.markdown:
        Path(args.markdown).write_text(markdown(run, opts), "utf-8")
    if args.update_expectations and exp_path:
        old = Path(exp_path).read_text("utf-8")
        new = exp.updated_text(old, run.results)
        if new != old:
            Path(exp_path).write_text(new, "utf-8")
            print(f"zre-conformance: updated {exp_path}", file=sys.stderr)
    print(summary_text(run, opts, colour=colour), flush=True)
    if args.update_expectations:
        return EXIT_OK
    return int(doc["summary"]["exit_code"])


def cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_agent

    choice = resolve_agent(args.agent)
    try:
        ok = asyncio.run(validate_agent(choice.argv, beacon_port=args.beacon_port))
    except HarnessError as exc:
        print(f"zre-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK if ok else EXIT_FAIL


def cmd_matrix(args: argparse.Namespace) -> int:
    from .matrix import run_matrix

    choices = [resolve_agent(a) for a in args.agent]
    seed = args.seed or secrets.token_hex(4)
    try:
        return asyncio.run(run_matrix(choices, seed=seed, netns=args.netns, slack=args.slack,
                                      report_json=args.report_json, markdown_path=args.markdown))
    except HarnessError as exc:
        print(f"zre-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except (HarnessError, exp.ExpectationsError) as exc:
        print(f"zre-conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
