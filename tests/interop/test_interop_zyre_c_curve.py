"""A zyre (C) node in CURVE mode (zyre_set_zcert) and a zre_ref ZreNode in CURVE mode, both in a
lo-only network namespace (tests/interop/zyre_curve_pair.py runs the pair).

The libzyre.so under test (zyre 2.0.x from the sha256-pinned pyzyre wheel,
tests/interop/setup-zyre.sh) is built without assertions, and zyre decodes its own key pair inside
``assert (zmq_z85_decode (...))`` (zyre_node_start, zyre_peer_connect): compiled out, so it hands
libczmq's ``zcert_new_from`` 32 zero bytes for both keys (spec/zre.md#curve-mode-zyre). The agent
interposes ``zcert_new_from`` and substitutes the key pair `start` gave for exactly that all-zero
pair; ZRE_ZYRE_NO_KEY_FIX=1 turns the substitution off. With it: the full exchange (ENTER both
ways, JOIN, SHOUT and WHISPER both ways, EXIT on stop). Without it (the library as shipped): zyre's
DEALER names C = 32 zero bytes in INITIATE, which zre_ref refuses, and nobody enters.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from zre_conformance.agent_setup import KEY_SHIM_SYMBOL

from tests.interop.test_interop_zyre_c import BUILD, ROOT, SETUP, _usable

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not _usable(), reason="needs x86-64 Linux, root and ip netns")]
DRIVER = ROOT / "tests" / "interop" / "zyre_curve_pair.py"
AGENT = BUILD / "zyre_agent"
#: What the agent writes to stderr when its shim substitutes the key pair
SHIM_LOG = "zyre-agent: zyre passed an all-zero key pair"
FULL_EXCHANGE = {
    "agent-has-curve": True, "zyre-sends-all-zero-key": False,
    "enter-at-zre-ref": True, "zyre-hello-has-its-key": True, "enter-at-zyre": True,
    "our-hello-has-our-key": True, "join-both-ways": True, "shout-to-zyre": True,
    "shout-from-zyre": True, "whisper-to-zyre": True, "whisper-from-zyre": True,
    "plaintext-closed-without-error": True, "plaintext-gets-signature-only": True,
    "short-hello-closed-without-error": True, "exit-on-stop": True,
}


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """The built agent and a network namespace holding only lo (multicast routed to it)."""
    setup = subprocess.run(["bash", str(SETUP), str(BUILD)], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    assert setup.returncode == 0, setup.stdout + setup.stderr
    ns = f"zrecurve{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run(["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo", "src",
                        "127.0.0.1"], check=True, timeout=10)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=10)


def _pair(ns: str, *flags: str) -> tuple[dict[str, bool], str]:
    """One run of the driver: its observations and the agent's stderr."""
    port = str(random.randrange(20000, 60000))
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(DRIVER), str(AGENT),
                           port, *flags], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_agent_exports_the_key_shim(namespace: str) -> None:
    """libzyre calls zcert_new_from through its PLT; the agent's definition is in its dynamic
    symbol table, so the dynamic linker binds libzyre's call to it ahead of libczmq's."""
    nm = shutil.which("nm")
    assert nm is not None, "nm (binutils) is installed with the agent's compiler"
    dynsym = subprocess.run([nm, "-D", "--defined-only", str(AGENT)], capture_output=True,
                            text=True, check=True, timeout=10).stdout.split()
    assert KEY_SHIM_SYMBOL in dynsym
    undefined = subprocess.run([nm, "-D", "--undefined-only", str(BUILD / "lib" / "libzyre.so")],
                               capture_output=True, text=True, check=True, timeout=10).stdout
    assert KEY_SHIM_SYMBOL in undefined.split()


def test_zyre_c_curve_pair_with_key_shim(namespace: str) -> None:
    observed, stderr = _pair(namespace)
    assert observed == FULL_EXCHANGE, stderr[-2000:]
    assert SHIM_LOG in stderr  # the substitution really happened


def test_zyre_c_curve_pair_as_shipped(namespace: str) -> None:
    """ZRE_ZYRE_NO_KEY_FIX=1: the prebuilt library's own behaviour, pinned."""
    observed, stderr = _pair(namespace, "--no-key-fix")
    assert observed == {"agent-has-curve": True, "enter-at-zre-ref": False,
                        "enter-at-zyre": False, "zyre-sends-all-zero-key": True}, stderr[-2000:]
    assert SHIM_LOG not in stderr
