"""The runner must be able to fail: deliberately broken agents give FAIL/ERROR/TIMEOUT on the cases
each fault touches and PASS elsewhere (spec/conformance.md#agents). Also: a clean run passes, the
CLI writes valid reports, and expectations turn failures into XFAIL / stale entries into XPASS."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("zre_ref.aio.zre")

from zre_conformance.cases import all_cases, select
from zre_conformance.runner import Runner, RunOptions
from zre_conformance.schema_lite import Schema
from zre_conformance.verdicts import Verdict

pytestmark = pytest.mark.net

BAD = {Verdict.FAIL, Verdict.ERROR, Verdict.TIMEOUT}


def _run(fault: str, patterns: list[str], *, reply_timeout: float = 5.0) -> dict[str, Verdict]:
    argv = [sys.executable, "-m", "zre_ref.agent", "--fault", fault]
    opts = RunOptions(agent_argv=argv, agent_display=f"zre-ref agent --fault {fault}", seed="t1",
                      reply_timeout=reply_timeout, slack=0.5, global_timeout=120)
    cases = select(all_cases(), patterns, [])
    assert len(cases) == len(patterns), patterns
    run = asyncio.run(asyncio.wait_for(Runner(opts).run(cases), 150))
    return {r.case_id: r.verdict for r in run.results}


FAULTS = [
    # fault, cases it must break, cases that must still pass
    ("skip-hello", ["hello.first", "ping.reply"], ["beacon.format"]),
    ("status-off-by-one", ["group.join-wire", "group.leave-wire"], ["hello.fields", "ping.reply"]),
    ("no-ping-ok", ["ping.reply", "robust.bad-version"], ["hello.fields", "group.join-wire"]),
    ("bad-version", ["hello.version", "ping.reply"], ["beacon.format"]),
    ("bad-sequence-start", ["hello.sequence", "sequence.increments"], ["hello.fields"]),
    ("crash-on-shout", ["shout.send.single"], ["hello.fields", "whisper.send.single"]),
    ("hang-on-join", ["group.join-wire"], ["ping.reply", "whisper.recv.single"]),
    ("gap-stall", ["sequence.gap-served"], ["ping.reply"]),
    ("short-beacon-exit", ["robust.beacon-short-known"], ["robust.beacon-short"]),
    ("early-expiry", ["expired.exit", "evasive.ping"], ["ping.reply"]),
    ("deaf-after-forged-endpoint", ["hostile.endpoint-forgery"], ["ping.reply"]),
    ("deaf-after-bad-endpoint", ["hostile.unconnectable-endpoint"], ["ping.reply"]),
    ("deaf-after-huge-hello", ["hostile.huge-hello"], ["ping.reply"]),
    ("deaf-after-huge-frame", ["hostile.huge-frame-header"], ["ping.reply"]),
    ("deaf-after-beacon-flood", ["hostile.beacon-flood"], ["ping.reply"]),
    ("curve-wrong-beacon-key", ["curve.handshake"], ["ping.reply"]),
    ("curve-accept-null", ["curve.plaintext-refused"], ["ping.reply"]),
    ("deaf-after-bad-box", ["curve.tampered-box"], ["curve.handshake"]),
    ("deaf-after-bad-handshake", ["curve.handshake-garbage"], ["curve.handshake"]),
]


@pytest.mark.parametrize(("fault", "broken", "fine"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_caught(fault: str, broken: list[str], fine: list[str]) -> None:
    t0 = time.monotonic()
    got = _run(fault, broken + fine, reply_timeout=1.5)
    for case_id in broken:
        assert got[case_id] in BAD, (fault, case_id, got[case_id])
    for case_id in fine:
        assert got[case_id] is Verdict.PASS, (fault, case_id, got[case_id])
    assert time.monotonic() - t0 < 60


def test_every_fault_has_a_test() -> None:
    from zre_ref.agent import FAULTS as AGENT_FAULTS

    assert {f[0] for f in FAULTS} == set(AGENT_FAULTS) - {"none"}


def test_fault_kinds() -> None:
    got = _run("crash-on-shout", ["shout.send.single"])
    assert got["shout.send.single"] is Verdict.ERROR
    got = _run("hang-on-join", ["group.join-wire"], reply_timeout=1.0)
    assert got["group.join-wire"] is Verdict.TIMEOUT


def test_clean_agent_passes_a_sample() -> None:
    sample = ["beacon.format", "hello.fields", "group.join-event", "shout.send.multi",
              "whisper.recv.empty", "ping.reply", "robust.bad-signature", "peer.restart-hello",
              "evasive.event", "expired.exit"]
    got = _run("none", sample)
    assert all(v is Verdict.PASS for v in got.values()), got


def test_cli_reports_and_expectations(tmp_path: Path) -> None:
    exp_file = tmp_path / "exp.txt"
    exp_file.write_text("hello.version  known: writes version 3\nbeacon.format  stale entry\n")
    report, junit, md = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "s.md"
    cmd = [sys.executable, "-m", "zre_conformance.cli", "run", "--agent",
           f"{sys.executable} -m zre_ref.agent --fault bad-version", "--case", "hello.version",
           "--case", "beacon.format", "--seed", "s1", "--expectations", str(exp_file),
           "--report-json", str(report), "--junit", str(junit), "--markdown", str(md)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the stale entry XPASSes
    doc = json.loads(report.read_text())
    assert Schema.load("report.schema.json").errors(doc) == []
    verdicts = {c["id"]: c["verdict"] for c in doc["cases"]}
    assert verdicts == {"hello.version": "XFAIL", "beacon.format": "XPASS"}
    assert "repro: zre-conformance run --agent" in proc.stdout and "--seed s1" in proc.stdout
    assert junit.read_text().startswith("<?xml") and "XPASS" in md.read_text()
    # --update-expectations drops the stale entry and keeps the real one
    proc = subprocess.run([*cmd, "--update-expectations", "--quiet"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = exp_file.read_text()
    assert "hello.version  known" in text and "beacon.format" not in text
    proc = subprocess.run([*cmd[:-6], "--quiet"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_repeat(tmp_path: Path) -> None:
    """`--repeat N` runs a case N times with fresh seeds and lists every run in the report."""
    report = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "zre_conformance.cli", "run", "--agent",
           f"{sys.executable} -m zre_ref.agent --fault bad-version", "--case", "hello.version",
           "--case", "beacon.format", "--seed", "rp", "--repeat", "2", "--report-json", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(report.read_text())
    assert Schema.load("report.schema.json").errors(doc) == [] and doc["run"]["repeat"] == 2
    by_id = {c["id"]: c for c in doc["cases"]}
    assert by_id["hello.version"]["verdict"] == "FAIL" and by_id["beacon.format"]["verdict"] == "PASS"
    assert [a["seed"] for a in by_id["hello.version"]["attempts"]] == ["rp", "rpr1"]
    assert "run with seed rpr1: FAIL" in proc.stdout
    assert by_id["hello.version"]["message"].startswith("IUT: ")
    bad = subprocess.run([*cmd[:-4], "--repeat", "0"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert bad.returncode == 2 and "--repeat" in bad.stderr
