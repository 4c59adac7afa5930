"""`zre-ref doctor` against real pyre and zyre.js nodes in a lo-only namespace made here: it
reads their HELLOs and recognises each from its default name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid as uuid_mod
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
ZYRE_JS = ROOT / ".interop-js" / "node_modules" / "zyre.js"

PYRE_NODE = """
import sys
from pyre import Pyre
n = Pyre()
n.set_header("X-P", "1")
n.join("CHAT")
n.start()
print("started", flush=True)
sys.stdin.read()
n.stop()
"""

ZYRE_JS_NODE = """
const Zyre = require(process.env.ZYRE_JS_PATH);
const z = new Zyre({iface: '127.0.0.1', headers: {'X-J': '2'}});
z.start().then(() => { z.join('CHAT'); console.log('started'); });
process.stdin.on('end', () => z.stop().then(() => process.exit(0)));
process.stdin.resume();
"""


def _usable() -> bool:
    ok = (sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("ip") is not None
          and shutil.which("node") is not None and ZYRE_JS.is_dir())
    if not ok and os.environ.get("CI"):
        raise AssertionError("CI=true but the doctor interop test needs root, ip, node and zyre.js")
    return ok


@pytest.mark.skipif(not _usable(), reason="needs root, ip netns, node and .interop-js")
def test_doctor_recognises_pyre_and_zyre_js() -> None:
    pytest.importorskip("pyre")
    ns = f"zdocint{os.getpid() % 10000}{uuid_mod.uuid4().hex[:4]}"
    env = {**os.environ, "ZYRE_JS_PATH": str(ZYRE_JS),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs: list[subprocess.Popen[str]] = []
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        # pyre beacons by multicast on a lo-only host (spec/deviations.md#notes: src 127.0.0.1)
        subprocess.run(["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo", "src",
                        "127.0.0.1"], check=True, timeout=10)
        for argv in ([sys.executable, "-c", PYRE_NODE], ["node", "-e", ZYRE_JS_NODE]):
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env)
            procs.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started", (
                proc.stderr.read() if proc.stderr else "")
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "zre_ref.cli",
                               "doctor", "--json", "--duration", "2.5"], capture_output=True,
                              text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        nodes = {n["looks_like"]: n for n in json.loads(done.stdout)["nodes"]}
        assert sorted(nodes) == ["pyre", "zyre.js"], done.stdout
        assert nodes["pyre"]["hello"]["headers"] == {"X-P": "1"}
        assert nodes["zyre.js"]["hello"]["headers"] == {"X-J": "2"}
        for node in nodes.values():
            assert node["hello"]["groups"] == ["CHAT"] and node["interfaces"] == ["lo"]
            assert node["endpoint_agrees"] is True and node["reachable"] is True
            assert any("65535" in issue for issue in node["issues"])
    finally:
        for proc in procs:
            with_stdin = proc.stdin
            if with_stdin is not None:
                with_stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
