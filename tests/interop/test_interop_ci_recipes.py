"""The CI recipes in conformance/ci/ parse (PyYAML, an interop-env-only dependency), have the
steps the README promises, and their `zre-conformance run` line works (against the built-in
agent, one case), writing JUnit, Markdown, JSON and pcaps."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI"):
    import yaml  # tox.ini's interop env installs PyYAML; zre-ref does not depend on it
else:
    yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.interop

CI = Path(__file__).resolve().parents[2] / "conformance" / "ci"


def _load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CI / name).read_text())
    assert isinstance(doc, dict)
    return doc


def _run_lines(validate: str, script: str, tmp_path: Path) -> None:
    """Run the recipe's validate-agent line, then its run line (one case), in bash, with the
    built-in agent standing in for the port's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, module in (("zre-conformance", "zre_conformance.cli"), ("zre-ref", "zre_ref.cli")):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "AGENT": "zre-ref",
           "EXPECTATIONS": "", "GITHUB_RUN_ID": "7", "CI_PIPELINE_ID": "7"}
    for line in (validate, script + " --case hello.fields"):
        done = subprocess.run(["bash", "-ec", line], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    suite = ET.parse(tmp_path / "zre-conformance.xml").getroot()
    assert [c.get("name") for c in suite.iter("testcase")] == ["hello.fields"]
    assert "hello.fields" in (tmp_path / "zre-conformance.md").read_text()
    assert (tmp_path / "zre-conformance.json").is_file()
    assert (tmp_path / "pcaps" / "hello.fields.pcap").stat().st_size > 100


def test_github_actions_recipe(tmp_path: Path) -> None:
    doc = _load("github-actions.yml")
    triggers = doc.get("on", doc.get(True))  # PyYAML reads the key `on` as YAML 1.1's true
    assert set(triggers) == {"push", "pull_request"}
    steps = doc["jobs"]["zre-conformance"]["steps"]
    runs = [s.get("run", "") for s in steps]
    run = next(r for r in runs if r.startswith("zre-conformance run"))
    validate = next(r for r in runs if r.startswith("zre-conformance validate-agent"))
    for flag in ("--junit", "--markdown", "--pcap", "--report-json"):
        assert flag in run
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert summary["if"] == upload["if"] == "always()"
    assert "pcaps/" in upload["with"]["path"] and "zre-conformance.xml" in upload["with"]["path"]
    _run_lines(validate, run, tmp_path)


def test_gitlab_recipe(tmp_path: Path) -> None:
    job = _load("gitlab-ci.yml")["zre-conformance"]
    run = next(s for s in job["script"] if s.startswith("zre-conformance run"))
    validate = next(s for s in job["script"] if s.startswith("zre-conformance validate-agent"))
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "zre-conformance.xml"
    assert "pcaps/" in job["artifacts"]["paths"]
    _run_lines(validate, run, tmp_path)
