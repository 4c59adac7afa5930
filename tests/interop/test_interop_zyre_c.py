"""zre-conformance against zyre (C): the prebuilt libzyre.so from PyPI pyzyre 0.0a28.

tests/interop/setup-zyre.sh builds conformance/agents/zyre_agent.c against it (and Debian's libczmq)
into .interop-zyre/; the suite must end with only the documented expectations failing (exit 0).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "tests" / "interop" / "setup-zyre.sh"
BUILD = ROOT / ".interop-zyre"
EXPECTATIONS = ROOT / "conformance" / "expectations" / "zyre-c.txt"


def _usable() -> bool:
    """zyre beacons on lo only in a netns (root); the prebuilt library is x86-64 Linux."""
    ok = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
          and os.geteuid() == 0 and shutil.which("ip") is not None)
    if not ok and os.environ.get("CI"):
        raise AssertionError("CI=true but zyre (C) interop needs x86-64 Linux, root and ip netns")
    return ok


@pytest.mark.skipif(not _usable(), reason="needs x86-64 Linux, root and ip netns")
def test_zyre_c_suite(tmp_path: Path) -> None:
    setup = subprocess.run(["bash", str(SETUP), str(BUILD)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "zre_conformance.cli", "run", "--agent", str(BUILD / "zyre_agent"),
           "--netns", "--expectations", str(EXPECTATIONS), "--seed", "interop",
           "--report-json", str(report), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    doc = json.loads(report.read_text())
    verdicts = {c["id"]: c["verdict"] for c in doc["cases"]}
    assert doc["agent"]["hello"]["implementation"] == "zyre", out
    assert verdicts["hello.sequence"] == "PASS" and verdicts["shout.recv.multi"] == "PASS", out
    assert verdicts["robust.truncated"] == "XFAIL" and verdicts["stop.event"] == "PASS", out
    assert verdicts["hostile.endpoint-forgery"] == "XFAIL", out
    assert verdicts["hostile.huge-frame-header"] == "PASS" and verdicts["expired.exit"] == "PASS", out
    # CURVE with the agent's key-pair shim for this NDEBUG build (spec/zre.md#curve-mode-zyre)
    curve = {case: verdict for case, verdict in verdicts.items() if case.startswith("curve.")}
    assert curve and set(curve.values()) == {"PASS"}, curve
