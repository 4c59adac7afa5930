"""A zyre (C) node in CURVE mode (zyre_set_zcert) and a zre_ref ZreNode in CURVE mode, both in a
lo-only network namespace (tests/interop/zyre_curve_pair.py runs the pair).

What this pins (spec/zre.md#curve-mode-zyre): the libzyre.so under test (zyre 2.0.x from the
sha256-pinned pyzyre wheel, tests/interop/setup-zyre.sh) is built without assertions, and zyre
decodes its own key pair inside ``assert (zmq_z85_decode (...))`` (zyre_node_start,
zyre_peer_connect): compiled out, so its ROUTER and DEALERs run CURVE with an all-zero key pair.
Its DEALER's INITIATE then carries C = 32 zero bytes, which zre_ref refuses (a small-order key,
as libsodium refuses it) and no peer ever enters. A zyre built with assertions would pass the full
exchange the driver also checks (ENTER, JOIN, SHOUT and WHISPER both ways, EXIT on stop).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from tests.interop.test_interop_zyre_c import BUILD, ROOT, SETUP, _usable

pytestmark = pytest.mark.interop
DRIVER = ROOT / "tests" / "interop" / "zyre_curve_pair.py"


@pytest.mark.skipif(not _usable(), reason="needs x86-64 Linux, root and ip netns")
def test_zyre_c_curve_pair() -> None:
    setup = subprocess.run(["bash", str(SETUP), str(BUILD)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    ns = f"zrecurve{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run(["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo", "src",
                        "127.0.0.1"], check=True, timeout=10)
        port = str(random.randrange(20000, 60000))
        proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(DRIVER),
                               str(BUILD / "zyre_agent"), port], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    observed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert observed == {"agent-has-curve": True, "enter-at-zre-ref": False,
                        "zyre-sends-all-zero-key": True}, proc.stderr[-2000:]
