"""The conformance runner's own machinery: catalogue, schemas, expectations, reports, agent client.

No ZRE node is needed here (see test_conformance_faults.py for runs against the built-in agent).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from zre_conformance import expectations as exp
from zre_conformance.agent import (
    AgentClient,
    AgentCommandFailed,
    AgentCrashed,
    AgentProtocolError,
    AgentTimeout,
    AgentUnsupported,
    schema,
)
from zre_conformance.cases import all_cases, select
from zre_conformance.cli import main
from zre_conformance.report import exit_code, junit_xml, markdown, summary_text, to_json
from zre_conformance.runner import RunOptions, RunResult
from zre_conformance.schema_lite import Schema
from zre_conformance.verdicts import CaseResult, Level, Verdict, WireEntry

ROOT = Path(__file__).resolve().parent.parent


# -- catalogue ---------------------------------------------------------------------------------
def test_catalogue_ids_are_stable_and_anchored() -> None:
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)) >= 50
    for c in cases:
        assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9-]+)+", c.id), c.id
        doc, _, anchor = c.spec.partition("#")
        text = (ROOT / doc).read_text("utf-8")
        headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                    for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
        assert anchor in headings, f"{c.id}: {c.spec} has no heading"


def test_select_patterns() -> None:
    cases = all_cases()
    hello = select(cases, ["hello.*"], [])
    assert hello and all(c.id.startswith("hello.") for c in hello)
    assert not any(c.id == "hello.groups" for c in select(cases, ["hello.*"], ["hello.groups"]))
    assert select(cases, [], []) == cases


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--case", "beacon.*"]) == 0
    out = capsys.readouterr().out
    assert "beacon.format" in out and "MUST" in out and "spec/zre.md#beacon" in out
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {c["id"] for c in listed} == {c.id for c in all_cases()}


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--case", "no.such.case"]) == 2
    assert main(["run", "--agent", "/nonexistent/agent-binary", "--case", "hello.first",
                 "--quiet"]) == 2
    assert "did not start" in capsys.readouterr().err


# -- schemas -----------------------------------------------------------------------------------
GOOD_LINES = [
    {"id": 1, "cmd": "hello", "protocol": 1},
    {"id": 2, "cmd": "start", "name": "n", "beacon": {"port": 5670, "interval_ms": 100}},
    {"id": 3, "cmd": "shout", "group": "g", "content": ["", "00ff"]},
    {"id": 3, "ok": True},
    {"id": 4, "ok": False, "error": "nope"},
    {"id": 5, "ok": False, "unsupported": True},
    {"event": "ENTER", "peer": "A" * 32, "name": "x", "headers": {}, "endpoint": "tcp://1.2.3.4:5"},
    {"event": "SHOUT", "peer": "0" * 32, "name": "x", "group": "g", "content": []},
]
BAD_LINES = [
    {"id": 1, "cmd": "hello"},  # no protocol
    {"id": 0, "cmd": "join", "group": "g"},  # ids start at 1
    {"id": 3, "cmd": "shout", "group": "g", "content": ["xyz"]},  # not hex
    {"id": 4, "ok": False},  # neither error nor unsupported
    {"event": "ENTER", "peer": "a" * 32, "name": "x", "headers": {}, "endpoint": "e"},  # lower case
    {"event": "SHOUT", "peer": "0" * 32, "name": "x"},  # no group/content
    {"event": "BOOM", "peer": "0" * 32},
]


@pytest.mark.parametrize("line", GOOD_LINES)
def test_schema_accepts(line: dict[str, object]) -> None:
    assert schema().errors(line) == []


@pytest.mark.parametrize("line", BAD_LINES)
def test_schema_refuses(line: dict[str, object]) -> None:
    assert schema().errors(line)


def test_schema_lite_agrees_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads((ROOT / "conformance" / "agent-protocol.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(doc)
    v = jsonschema.Draft202012Validator(doc)
    for line in GOOD_LINES:
        assert v.is_valid(line), line
    for line in BAD_LINES:
        assert not v.is_valid(line), line
    hello = {"id": 1, "ok": True, "implementation": "x", "version": "1", "protocol": 1,
             "protocols": ["zre/2"], "capabilities": ["beacon"]}
    sub = Schema(doc).sub("reply_hello")
    assert Schema(doc).errors(hello, sub) == []
    assert Schema(doc).errors({**hello, "protocols": ["zre/1"]}, sub)
    assert Schema(doc).errors({**hello, "capabilities": ["flying"]}, sub)


# -- expectations ------------------------------------------------------------------------------
def _result(case_id: str, verdict: Verdict, msg: str = "") -> CaseResult:
    return CaseResult(case_id, Level.MUST, "spec/zre.md#hello", verdict, msg, 0.1, "s")


def test_expectations_xfail_xpass() -> None:
    entries = exp.parse("# comment\nhello.* known broken # not a comment\nping.reply\n")
    assert [e.pattern for e in entries] == ["hello.*", "ping.reply"]
    assert entries[0].reason == "known broken # not a comment"
    r = exp.apply(_result("hello.first", Verdict.FAIL, "boom"), entries)
    assert r.verdict is Verdict.XFAIL and r.raw_verdict is Verdict.FAIL
    r = exp.apply(_result("ping.reply", Verdict.PASS), entries)
    assert r.verdict is Verdict.XPASS and "stale" in r.message and r.verdict.failing
    r = exp.apply(_result("ping.reply", Verdict.TIMEOUT), entries)
    assert r.verdict is Verdict.XFAIL
    r = exp.apply(_result("ping.reply", Verdict.UNSUPPORTED), entries)
    assert r.verdict is Verdict.UNSUPPORTED
    r = exp.apply(_result("beacon.format", Verdict.FAIL), entries)
    assert r.verdict is Verdict.FAIL
    assert [e.pattern for e in exp.unused(entries + exp.parse("nope.x"), ["hello.a", "ping.reply"])] \
        == ["nope.x"]
    with pytest.raises(exp.ExpectationsError):
        exp.parse("bad/pattern reason")


def test_update_expectations_text() -> None:
    old = "# header\nhello.first  still fails\nping.reply  fixed now\nbeacon.*  not run\n"
    results = [exp.apply(_result("hello.first", Verdict.FAIL, "x"), exp.parse(old)),
               exp.apply(_result("ping.reply", Verdict.PASS), exp.parse(old)),
               exp.apply(_result("group.join-wire", Verdict.FAIL, "status 3, expected 2"), [])]
    new = exp.updated_text(old, results)
    assert "# header" in new and "hello.first  still fails" in new and "beacon.*  not run" in new
    assert "ping.reply" not in new
    assert "group.join-wire  FAIL: status 3, expected 2" in new


# -- reports -----------------------------------------------------------------------------------
def _run() -> tuple[RunResult, RunOptions]:
    opts = RunOptions(agent_argv=["x"], agent_display="my-agent --flag", seed="abc")
    log = [WireEntry(0.01, "tcp-in", "HELLO seq=1"), WireEntry(0.5, "agent-event", '{"event":"ENTER"}')]
    rs = [_result("hello.first", Verdict.PASS),
          _result("hello.version", Verdict.FAIL, "version byte 3, expected 2"),
          _result("ping.reply", Verdict.TIMEOUT, "no reply"),
          _result("group.join-wire", Verdict.XFAIL, "known"),
          _result("evasive.event", Verdict.UNSUPPORTED, "no cap"),
          _result("beacon.interval", Verdict.NON_STRICT, "slow")]
    for r in rs:
        r.wire_log = list(log)
        r.repro = f"zre-conformance run --agent 'my-agent --flag' --case {r.case_id} --seed abc"
    return RunResult(rs, {"implementation": "fake", "version": "1"}, time.time(), 1.5,
                     {"evasive_ms": 400}), opts


def test_report_json_matches_its_schema() -> None:
    run, opts = _run()
    doc = to_json(run, opts, argv=["run"])
    problems = Schema.load("report.schema.json").errors(doc)
    assert problems == []
    jsonschema = pytest.importorskip("jsonschema")
    schema_doc = json.loads((ROOT / "conformance" / "report.schema.json").read_text("utf-8"))
    jsonschema.validate(doc, schema_doc)
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["counts"]["FAIL"] == 1
    failing = next(c for c in doc["cases"] if c["id"] == "hello.version")
    assert failing["wire_log"][0]["text"] == "HELLO seq=1" and "--seed abc" in failing["repro"]
    assert "wire_log" not in next(c for c in doc["cases"] if c["id"] == "hello.first")


def test_junit_and_markdown() -> None:
    run, opts = _run()
    root = ET.fromstring(junit_xml(run, opts).split("\n", 1)[1])
    assert root.tag == "testsuite" and root.get("tests") == "6"
    assert root.get("failures") == "1" and root.get("errors") == "1" and root.get("skipped") == "2"
    by_name = {tc.get("name"): tc for tc in root.iter("testcase")}
    fail = by_name["hello.version"].find("failure")
    assert fail is not None and "HELLO seq=1" in (fail.text or "") and "repro:" in (fail.text or "")
    assert by_name["ping.reply"].find("error") is not None
    assert by_name["evasive.event"].find("skipped") is not None
    md = markdown(run, opts)
    assert "| `hello.version` | MUST | FAIL |" in md and "<details>" in md
    text = summary_text(run, opts)
    assert "repro: zre-conformance run" in text and "NOT CONFORMANT" in text
    assert exit_code(run.results) == 1
    assert exit_code([_result("a.b", Verdict.PASS), _result("a.c", Verdict.XFAIL)]) == 0


# -- agent client against scripted fake agents ---------------------------------------------------
FAKE = textwrap.dedent('''
    import json, sys, time
    mode = sys.argv[1]
    for line in sys.stdin:
        msg = json.loads(line)
        cid, cmd = msg["id"], msg["cmd"]
        if cmd == "hello":
            print(json.dumps({"id": cid, "ok": True, "implementation": "fake", "version": "0",
                              "protocol": 1, "protocols": ["zre/2"], "capabilities": []}), flush=True)
        elif mode == "crash":
            print("dying", file=sys.stderr, flush=True)
            sys.exit(3)
        elif mode == "hang":
            time.sleep(60)  # the scenario: a hung agent, killed by the client (not a synchronisation)
        elif mode == "garbage":
            print("this is not json", flush=True)
            print(json.dumps({"id": cid, "ok": True}), flush=True)
        elif mode == "badreply":
            print(json.dumps({"id": cid, "ok": False}), flush=True)
        elif mode == "unsupported":
            print(json.dumps({"id": cid, "ok": False, "unsupported": True}), flush=True)
        elif mode == "error":
            print(json.dumps({"id": cid, "ok": False, "error": "refused"}), flush=True)
        elif mode == "events":
            print(json.dumps({"event": "JOIN", "peer": "B" * 32, "name": "n", "group": "g"}), flush=True)
            print(json.dumps({"event": "JOIN", "peer": "bad"}), flush=True)
            print(json.dumps({"id": cid, "ok": True}), flush=True)
        elif mode == "timers":  # the node rounds the timers it was given, and says so
            if cmd == "start":
                print(json.dumps({"id": cid, "ok": True, "uuid": "A" * 32,
                                  "endpoint": "tcp://127.0.0.1:5",
                                  "timers": {"evasive_ms": 1000, "expired_ms": 3000,
                                             "resolution_ms": 500}}), flush=True)
            else:
                print(json.dumps({"id": cid, "ok": True}), flush=True)
        elif mode == "badpeer":
            print(json.dumps({"event": "JOIN", "peer": "B" * 32, "name": "n", "group": "g"}), flush=True)
            print(json.dumps({"event": "JOIN", "peer": "bad", "name": "n", "group": "g"}), flush=True)
            print(json.dumps({"id": cid, "ok": True}), flush=True)
''')


def _fake(tmp_path: Path, mode: str) -> AgentClient:
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE, "utf-8")
    return AgentClient([sys.executable, str(script), mode], reply_timeout=1.0)


@pytest.mark.parametrize(("mode", "exc"), [
    ("crash", AgentCrashed), ("hang", AgentTimeout), ("badreply", AgentProtocolError),
    ("unsupported", AgentUnsupported), ("error", AgentCommandFailed),
])
def test_agent_client_failures(tmp_path: Path, mode: str, exc: type[BaseException]) -> None:
    async def go() -> None:
        agent = _fake(tmp_path, mode)
        try:
            hello = await asyncio.wait_for(agent.spawn(), 10)
            assert hello.implementation == "fake"
            t0 = time.monotonic()
            with pytest.raises(exc):
                await agent.request("join", group="g")
            assert time.monotonic() - t0 < 5
            if mode == "crash":
                assert not agent.alive and "dying" in "\n".join(agent.stderr_lines)
        finally:
            await asyncio.wait_for(agent.close(grace=0.5), 10)
        assert not agent.alive

    asyncio.run(go())


def test_agent_client_events_and_violations(tmp_path: Path) -> None:
    async def go() -> None:
        for mode in ("events", "garbage"):
            agent = _fake(tmp_path, mode)
            try:
                await agent.spawn()
                await agent.request("join", group="g")
                if mode == "events":
                    ev = await agent.wait_event(lambda e: e.kind == "JOIN", 2.0)
                    assert ev is not None and ev.peer == "B" * 32
                    assert len(agent.events) == 1  # the bad event is not an event
                violations = agent.take_violations()
                assert len(violations) == 1, violations
            finally:
                await agent.close(grace=0.5)

    asyncio.run(go())


# -- repeat, blame, crash lines, timer resolution -------------------------------------------------
def test_repeat_combines_into_flaky() -> None:
    from zre_conformance.runner import attempt_seed, combine_attempts

    same = [_result("ping.reply", Verdict.PASS) for _ in range(3)]
    for k, r in enumerate(same):
        r.seed = attempt_seed("abc", k)
    one = combine_attempts(same)
    assert one.verdict is Verdict.PASS and [a[1] for a in one.attempts] == ["abc", "abcr1", "abcr2"]
    mixed = [_result("ping.reply", Verdict.PASS), _result("ping.reply", Verdict.FAIL, "IUT: late")]
    mixed[1].seed = "abcr1"
    flaky = combine_attempts(mixed)
    assert flaky.verdict is Verdict.FLAKY and flaky.verdict.failing and not flaky.verdict.bad
    assert "PASS (seed s)" in flaky.message and "FAIL (seed abcr1)" in flaky.message
    assert flaky.seed == "abcr1" and flaky.message.startswith("IUT: ")
    # FLAKY is listed in every report format, and the report still matches its schema
    run, opts = _run()
    run.results.append(flaky)
    doc = to_json(run, opts)
    assert Schema.load("report.schema.json").errors(doc) == []
    entry = next(c for c in doc["cases"] if c["verdict"] == "FLAKY")
    assert [a["verdict"] for a in entry["attempts"]] == ["PASS", "FAIL"]
    assert doc["summary"]["counts"]["FLAKY"] == 1 and doc["summary"]["exit_code"] == 1
    root = ET.fromstring(junit_xml(run, opts).split("\n", 1)[1])
    tc = next(t for t in root.iter("testcase") if t.get("name") == "ping.reply"
              and t.find("failure") is not None and t.find("failure").get("type") == "FLAKY")  # type: ignore[union-attr]
    assert tc is not None
    assert "FLAKY" in markdown(run, opts) and "FLAKY 1" in summary_text(run, opts)


def test_blame_rules() -> None:
    from zre_conformance.agent import Violation
    from zre_conformance.runner import blame_violations

    short = Violation("bad event", {"event": "ENTER", "peer": "73686F7274"}, frozenset({"peer"}))
    rules = [("peer", "the 6-byte identity the case sent")]
    why = blame_violations([short], rules)
    assert why is not None and "ENTER" in why and "73686F7274" in why and "6-byte" in why
    assert blame_violations([short], []) is None  # no rule: the agent's fault
    other = Violation("bad event", {"event": "ENTER", "peer": "73686F7274", "name": 5},
                      frozenset({"peer", "name"}))
    assert blame_violations([other], rules) is None  # a field the IUT did not answer with
    assert blame_violations([Violation("not JSON")], rules) is None


def test_crash_lines() -> None:
    from zre_conformance.agent import crash_line

    assert crash_line(["ok", "panic: runtime error: index out of range", "goroutine 1"], 2) \
        == "panic: runtime error: index out of range"
    assert "Assertion failed" in crash_line(
        ["Assertion failed: !more (src/pipe.cpp:200)"], -6) and "SIGABRT" in crash_line(
        ["Assertion failed: !more (src/pipe.cpp:200)"], -6)
    assert crash_line(["Traceback (most recent call last):", '  File "x"', "KeyError: 'uuid'"],
                      1) == "KeyError: 'uuid'"
    assert crash_line(["zyre_agent: zyre.c:12: main: Assertion `x' failed."], -6).startswith(
        "zyre_agent: zyre.c:12")
    assert crash_line([], -9) == "killed by SIGKILL" and crash_line(["bye"], 0) == ""
    node = ["node:events:502", "      throw er; // Unhandled 'error' event", "Error: Invalid argument",
            "    at Socket.connect (index.js:519:13)", "Emitted 'error' event on  instance at:",
            "Node.js v20.20.2"]
    assert crash_line(node, 1) == "Error: Invalid argument"
    # quoted in the console and Markdown summaries
    run, opts = _run()
    run.results[2].crash = "panic: boom"
    assert "crash: panic: boom" in summary_text(run, opts) and "panic: boom" in markdown(run, opts)


def test_unsupported_names_the_argument() -> None:
    content = ["00", "0102"]
    assert "content" in str(AgentUnsupported("shout", {"group": "g", "content": content}, "content"))
    assert "2 frames" in str(AgentUnsupported("shout", {"group": "g", "content": content}))
    assert "empty content" in str(AgentUnsupported("whisper", {"peer": "A" * 32, "content": []}))
    assert str(AgentUnsupported("fly", {}, "cmd")) == "does not support the command 'fly'"


def test_timer_resolution() -> None:
    from zre_conformance.cases.context import FAST_TIMERS, fast_timers
    from zre_conformance.runner import effective_timers

    assert fast_timers(0.0) == FAST_TIMERS and fast_timers(0.05) == FAST_TIMERS
    coarse = fast_timers(1.0)
    assert coarse.evasive == 4.0 and coarse.expired == 12.0 and coarse.reap == 1.0
    hello = AgentClient(["x"]).hello
    assert hello is None
    from zre_conformance.agent import AgentHello

    declared = AgentHello("x", "1", ["zre/2"], frozenset({"beacon", "timers"}),
                          {"resolution_ms": 1000})
    timers, use = effective_timers(declared, RunOptions(agent_argv=["x"], agent_display="", seed="s"))
    assert use and timers.evasive == 4.0 and timers.reap == 1.0
    assert schema().errors({"id": 1, "ok": True, "implementation": "x", "version": "1",
                            "protocol": 1, "protocols": ["zre/2"], "capabilities": [],
                            "timers": {"resolution_ms": 1000}}, schema().sub("reply_hello")) == []


def test_builtin_agent_answers_bad_arguments() -> None:
    """The built-in agent answers every parseable line; schema-violating commands get an error."""
    import subprocess

    bad = [{"id": 2, "cmd": "start", "name": "x", "beacon": None, "evasive_ms": None},
           {"id": 3, "cmd": "join"},
           {"id": 4, "cmd": "shout", "group": "g", "content": "zz"},
           {"id": 5, "cmd": "whisper", "peer": 5, "content": [1]},
           {"id": 6, "cmd": "start", "name": None, "beacon": {"port": "x"}},
           {"id": 7, "cmd": "connect", "endpoint": 7},
           {"id": 8, "cmd": "fly"},
           {"id": 9, "cmd": "stop"}]
    for line in bad[:-2]:
        assert schema().errors(line), line  # each one breaks the agent protocol schema
    lines = [json.dumps({"id": 1, "cmd": "hello", "protocol": 1}), "[1, 2]", '{"cmd": "stop"}']
    lines += [json.dumps(b) for b in bad]
    proc = subprocess.run([sys.executable, "-m", "zre_ref.agent"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    replies = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(replies) == set(range(1, 10))
    for r in replies.values():
        assert schema().errors(r) == [], r
    assert replies[2]["error"].startswith("bad argument 'evasive_ms'")
    assert "missing argument 'group'" in replies[3]["error"]
    assert replies[8] == {"id": 8, "ok": False, "unsupported": True, "argument": "cmd"}


def _fake_case(case_id: str, func: object) -> object:
    from zre_conformance.cases import Case

    return Case(case_id, Level.MUST, "spec/zre.md#hello", "t", func, frozenset(), False, 0.0, 0.0)  # type: ignore[arg-type]


def test_runner_blames_the_right_party(tmp_path: Path) -> None:
    """Slow is TIMEOUT (IUT), a bad event is the agent's unless the case injected it, a runner
    bug is the runner's; every message names the party (spec/conformance.md#blame)."""
    from zre_conformance.runner import Runner
    from zre_conformance.verdicts import Party

    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE, "utf-8")

    async def slow(ctx: object) -> None:
        ctx.slow("PING-OK came 3.0 s after the wait began")  # type: ignore[attr-defined]

    async def wrong(ctx: object) -> None:
        ctx.fail("HELLO version 3")  # type: ignore[attr-defined]

    async def buggy(ctx: object) -> None:
        raise KeyError("oops")

    async def bad_event(ctx: object) -> None:
        await ctx.agent.request("join", group="g")  # type: ignore[attr-defined]
        await ctx.agent.wait_event(lambda e: e.kind == "JOIN", 2.0)  # type: ignore[attr-defined]
        # the fake agent writes the bad event line before its reply to `join`, and lines are
        # read in order: by now the runner has seen it (no wait needed)

    async def injected(ctx: object) -> None:
        ctx.blame_iut_for("peer", "the IUT named a peer after the bad identity we sent")  # type: ignore[attr-defined]
        await bad_event(ctx)

    cases = [_fake_case(f"fake.{n}", f) for n, f in
             (("slow", slow), ("wrong", wrong), ("buggy", buggy), ("agentbad", bad_event),
              ("iutbad", injected))]
    opts = RunOptions(agent_argv=[sys.executable, str(script), "badpeer"], agent_display="fake",
                      seed="b1", reply_timeout=2.0)
    run = asyncio.run(asyncio.wait_for(Runner(opts).run(cases), 60))  # type: ignore[arg-type]
    got = {r.case_id: r for r in run.results}
    expect = {"fake.slow": (Verdict.TIMEOUT, Party.IUT), "fake.wrong": (Verdict.FAIL, Party.IUT),
              "fake.buggy": (Verdict.ERROR, Party.RUNNER),
              "fake.agentbad": (Verdict.ERROR, Party.AGENT),
              "fake.iutbad": (Verdict.FAIL, Party.IUT)}
    for case_id, (verdict, party) in expect.items():
        r = got[case_id]
        assert (r.verdict, r.party) == (verdict, party), (case_id, r.verdict, r.message)
        assert r.message.startswith(f"{party.value}: "), r.message
    assert "slow" in got["fake.slow"].message
    assert "named a peer after the bad identity" in got["fake.iutbad"].message
    assert "'bad'" in got["fake.iutbad"].message
    doc = to_json(run, opts)
    assert {c["id"]: c.get("party") for c in doc["cases"]}["fake.agentbad"] == "agent"


def test_start_reply_timers_are_used(tmp_path: Path) -> None:
    """The timers a `start` reply reports are the ones every later window uses
    (spec/conformance.md#start)."""
    from zre_conformance.cases.context import FAST_TIMERS, CaseConfig, Ctx

    async def go() -> None:
        agent = _fake(tmp_path, "timers")
        try:
            await asyncio.wait_for(agent.spawn(), 10)
            ctx = Ctx(agent=agent, cfg=CaseConfig(1, [], "", FAST_TIMERS, True, "s"),
                      rng=__import__("random").Random(1))
            assert ctx.timers.evasive != 1.0
            await ctx.start_iut(beacon=False)
            assert ctx.timers.evasive == 1.0 and ctx.timers.expired == 3.0
            assert ctx.cfg.resolution == 0.5
            assert ctx.t_expired >= 3.0 + 0.5 and any("start reply" in e.text for e in ctx.log)
        finally:
            await asyncio.wait_for(agent.close(grace=0.5), 10)

    asyncio.run(go())
