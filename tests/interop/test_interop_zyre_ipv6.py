"""IPv6 discovery between zyre (C) and zre_ref: both beacon to ff02::1 on one veth end in a
namespace made here, whose addresses are those of tests/test_aio_zre.py's IPV6_ADDRESS_CASES (a
ULA alone, a link-local and a ULA, a link-local alone). tests/interop/zyre_ipv6_node.c (built
here against the prebuilt libzyre.so of tests/interop/setup-zyre.sh) is a zyre node with
zsys_set_ipv6 and zsys_set_interface; tests/interop/zyre_ipv6_pair.py runs it beside a ZreNode.

Each must ENTER at the other; and both send their beacons from the address their mailbox is bound
to, the ULA when there is one (spec/zre.md#node-discovery, D11): zyre because czmq binds its
beacon-sending socket to the interface address it binds the ROUTER to, zre_ref likewise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid as uuid_mod
from pathlib import Path

import pytest

from tests.interop.test_interop_zyre_c import BUILD, ROOT, SETUP, _usable
from tests.test_aio_zre import IPV6_ADDRESS_CASES, ipv6_namespace_commands

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not _usable(), reason="needs x86-64 Linux, root and ip netns")]
SOURCE = ROOT / "tests" / "interop" / "zyre_ipv6_node.c"
DRIVER = ROOT / "tests" / "interop" / "zyre_ipv6_pair.py"


@pytest.fixture(scope="module")
def zyre_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/interop/zyre_ipv6_node.c built against the libzyre.so setup-zyre.sh fetched (the
    same flags as the agent: conformance/agent_setup.py setup_zyre)."""
    setup = subprocess.run(["bash", str(SETUP), str(BUILD)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    exe = tmp_path_factory.mktemp("zyre6") / "zyre_ipv6_node"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libczmq", "libzmq"],
                           capture_output=True, text=True, check=True, timeout=30).stdout.split()
    lib = BUILD.resolve() / "lib"
    built = subprocess.run(["cc", "-std=gnu11", "-O2", "-Wall", "-o", str(exe), str(SOURCE),
                            f"-L{lib}", "-lzyre", *flags, "-ldl", f"-Wl,-rpath,{lib}",
                            "-Wl,--allow-shlib-undefined", "-Wl,-z,lazy"],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return exe


@pytest.mark.parametrize("case", list(IPV6_ADDRESS_CASES))
def test_zyre_and_zre_ref_find_each_other_over_ipv6(zyre_node: Path, case: str) -> None:
    ns = f"zre6z{os.getpid()}{uuid_mod.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        for cmd in ipv6_namespace_commands(ns, case):
            subprocess.run(cmd, capture_output=True, check=True, timeout=10)
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(DRIVER),
                               str(zyre_node), "zv0", "5670"],
                              capture_output=True, text=True, timeout=60, env=env)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.splitlines()[-1])
    address = IPV6_ADDRESS_CASES[case][-1].split("/")[0]  # the ULA when there is one
    # both beacon from the address their mailbox is bound to
    assert got["zyre_beacon_source"] == got["ref_beacon_source"] == address, got
    assert got["ref_endpoint"].startswith(f"tcp://[{address}]:"), got
    # ENTER both ways: zre_ref saw zyre, zyre saw zre_ref (its HELLO endpoint, and the endpoint
    # zyre connected to: the beacon's source, without brackets, a link-local one with its zone)
    assert got["ref_saw"][0] == got["zyre_uuid"], got
    ref_port = got["ref_endpoint"].rsplit(":", 1)[1]
    zone = "%zv0" if address.startswith("fe80") else ""
    assert got["zyre_saw"] == [got["ref_uuid"], got["ref_endpoint"],
                               f"tcp://{address}{zone}:{ref_port}"], got
