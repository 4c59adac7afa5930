"""`zre-conformance setup` and how `run --agent pyre|zyre.js|zyre` finds a set-up agent.

The installs themselves (pip, npm, cc) run in the interop env (tests/interop/setup-*.sh call the
same code, and tests/interop/test_interop_agent_setup.py sets pyre up from scratch); here the
lookups, the cache layout and every "missing prerequisite" path, which must be one line + exit 2.
"""

from __future__ import annotations

import os
import platform
import stat
import sys
from pathlib import Path

import pytest
from zre_conformance import agent_setup
from zre_conformance.cli import main, resolve_agent
from zre_conformance.runner import HarnessError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ZRE_CONFORMANCE_CACHE", str(root))
    monkeypatch.chdir(tmp_path)  # no ./node_modules or ./.interop-* here
    monkeypatch.delenv("ZYRE_JS_PATH", raising=False)
    return root


def _one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], fix: str) -> str:
    assert main(argv) == 2
    _out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "|" not in err, err
    assert fix in lines[0], lines[0]
    return lines[0]


def test_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZRE_CONFORMANCE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert agent_setup.cache_dir("pyre") == tmp_path / "zre-conformance" / "pyre"
    monkeypatch.setenv("ZRE_CONFORMANCE_CACHE", str(tmp_path / "own"))
    assert agent_setup.cache_dir("zyre") == tmp_path / "own" / "zyre"


def test_pyre_missing_is_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(agent_setup, "_has_modules", lambda *names: False)
    line = _one_line_exit_2(capsys, ["run", "--agent", "pyre"], "fix: zre-conformance setup pyre")
    assert "pyzmq and zeromq-pyre" in line


def test_pyre_found_in_cache_venv(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_setup, "_has_modules", lambda *names: False)
    py = cache / "pyre" / "venv" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text("")
    with pytest.raises(HarnessError, match="setup pyre"):  # a setup that stopped half-way
        resolve_agent("pyre")
    (cache / "pyre" / agent_setup.READY).write_text("")
    choice = resolve_agent("pyre")
    assert choice.argv[0] == str(py) and Path(choice.argv[1]).name == "pyre_agent.py"
    assert Path(choice.argv[1]).is_file() and choice.needs_netns
    assert choice.expectations is not None and choice.expectations.endswith("pyre.txt")
    assert Path(choice.expectations).is_file()


def test_pyre_from_this_interpreter_when_no_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_setup, "_has_modules", lambda *names: True)
    choice = resolve_agent("pyre")
    assert choice.argv == [sys.executable, "-m", "zre_conformance.agents.pyre_agent"]


def test_netns_agent_without_root_is_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(agent_setup, "_has_modules", lambda *names: True)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    _one_line_exit_2(capsys, ["run", "--agent", "pyre"], "--netns")


def test_zyre_js_without_node_is_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(cache))  # nothing on it
    _one_line_exit_2(capsys, ["run", "--agent", "zyre.js"], "apt-get install -y nodejs npm")


def test_zyre_js_not_installed_then_found_in_cache(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(agent_setup.shutil, "which", lambda name: "/usr/bin/" + name)
    _one_line_exit_2(capsys, ["run", "--agent", "zyre-js"], "fix: zre-conformance setup zyre.js")
    module = cache / "zyre.js" / "node_modules" / "zyre.js"
    module.mkdir(parents=True)
    (module / "package.json").write_text("{}")
    choice = resolve_agent("zyre.js")
    assert choice.argv[:2] == ["env", f"ZYRE_JS_PATH={module}"]
    assert choice.argv[2] == "node" and choice.argv[3].endswith("zyre_js_agent.js")
    assert choice.expectations is not None and choice.expectations.endswith("zyre-js.txt")


def test_zyre_c_not_built_then_found(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _one_line_exit_2(capsys, ["run", "--agent", "zyre"], "fix: zre-conformance setup zyre")
    exe = cache / "zyre" / "zyre_agent"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    choice = resolve_agent("zyre-c")
    assert choice.argv == [str(exe)] and choice.needs_netns
    assert choice.expectations is not None and choice.expectations.endswith("zyre-c.txt")


@pytest.mark.skipif(platform.machine() != "x86_64" or not sys.platform.startswith("linux"),
                    reason="the prebuilt libzyre is x86-64 Linux only")
def test_setup_zyre_missing_build_deps_is_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(agent_setup, "_pkg_config", lambda name: False)
    monkeypatch.setattr(agent_setup, "_is_root", lambda: False)
    line = _one_line_exit_2(capsys, ["setup", "zyre"], "sudo apt-get install -y libczmq-dev")
    assert "libjansson-dev" in line and not (cache / "zyre" / "zyre_agent").exists()


def test_setup_pyre_reports_a_failed_pip(cache: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[list[str]] = []

    class FakeBuilder:
        def __init__(self, **kw: object) -> None:
            pass

        def create(self, path: Path) -> None:
            agent_setup.venv_python(path.parent).parent.mkdir(parents=True)
            agent_setup.venv_python(path.parent).write_text("")

    def fake_run(cmd: list[str], **kw: object) -> object:
        calls.append(cmd)
        return type("P", (), {"returncode": 1, "stdout": "", "stderr": "ERROR: no network"})()

    monkeypatch.setattr(agent_setup.venv, "EnvBuilder", FakeBuilder)
    monkeypatch.setattr(agent_setup.subprocess, "run", fake_run)
    line = _one_line_exit_2(capsys, ["setup", "pyre"], "zre-conformance setup pyre")
    assert "no network" in line and calls[0][1:4] == ["-m", "pip", "install"]


def test_unknown_agent_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["setup", "pyre2"])
    assert exc.value.code == 2
