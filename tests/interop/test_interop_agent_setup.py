"""`zre-conformance setup pyre` from an empty cache, then `run --agent pyre` uses that venv.

(zyre.js and zyre (C) are set up by the same code through tests/interop/setup-js.sh, run by tox
before the interop tests, and setup-zyre.sh, run by test_interop_zyre_c.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from zre_conformance import agent_setup

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


def _usable() -> bool:
    ok = sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("ip") is not None
    if not ok and os.environ.get("CI"):
        raise AssertionError("CI=true but pyre's conformance run needs root and ip netns")
    return ok


@pytest.mark.skipif(not _usable(), reason="pyre runs in lo-only namespaces (root, ip netns)")
def test_setup_pyre_then_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "ZRE_CONFORMANCE_CACHE": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "zre_conformance.cli"]
    setup = subprocess.run([*cli, "setup", "pyre"], capture_output=True, text=True, timeout=600,
                           env=env, cwd=tmp_path)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    venv_python = tmp_path / "cache" / "pyre" / "venv" / "bin" / "python"
    assert str(venv_python) in setup.stdout
    monkeypatch.setenv("ZRE_CONFORMANCE_CACHE", str(tmp_path / "cache"))
    assert agent_setup.find("pyre").argv[0] == str(venv_python)  # what `run` below starts
    report = tmp_path / "report.json"
    run = subprocess.run([*cli, "run", "--agent", "pyre", "--case", "hello.*", "--seed", "setup",
                          "--report-json", str(report), "--quiet"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(report.read_text())
    assert doc["agent"]["hello"]["implementation"] == "pyre"
    assert all(c["verdict"] in ("PASS", "XFAIL") for c in doc["cases"])
