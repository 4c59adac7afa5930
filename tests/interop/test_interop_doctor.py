"""`zre-ref doctor` against real pyre, zyre.js and zyre (C) nodes in a lo-only namespace made here:
it reads their HELLOs, recognises each from its default name, and notices that zyre advertises
its host name rather than an address (spec/deviations.md#zyre-hostname); reads each mailbox's
ZMTP greeting, and reports a second zyre in CURVE mode (zyre_set_zcert, beaconing on 5671) as
CURVE with the key its beacon carries. Beside them: a libzmq (pyzmq) CURVE server."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import uuid as uuid_mod
from pathlib import Path

import pytest

from tests.test_aio_zre import free_udp_port
from zre_ref.curve.keys import curve_keypair
from zre_ref.curve.z85 import z85_decode
from zre_ref.doctor import AMBIGUOUS, CURVE_NEEDS_KEY, diagnose, read_greeting, render_text
from zre_ref.zre.beacon import BEACON_VERSION_CURVE, Beacon, encode_beacon

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
ZYRE_JS = ROOT / ".interop-js" / "node_modules" / "zyre.js"
ZYRE_C = ROOT / ".interop-zyre"
#: the zyre agent's commands: hello, then start without a name (zyre's default name)
ZYRE_C_START = ('{"id":1,"cmd":"hello","protocol":1}\n'
                '{"id":2,"cmd":"start","beacon":{"port":5670,"interval_ms":200},'
                '"headers":{"X-Z":"3"},"groups":["CHAT"]}\n')
#: a second zyre in CURVE mode (zyre_set_zcert), beaconing on 5671: its 54-byte beacons would
#: stop the pyre node on 5670 (spec/deviations.md#pyre-beacon)
CURVE_PUBLIC, CURVE_SECRET = (k.decode() for k in curve_keypair())
ZYRE_C_CURVE_START = ('{"id":1,"cmd":"hello","protocol":1}\n'
                      '{"id":2,"cmd":"start","beacon":{"port":5671,"interval_ms":200},'
                      f'"curve":{{"public":"{CURVE_PUBLIC}","secret":"{CURVE_SECRET}"}}}}\n')

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
def test_doctor_recognises_pyre_zyre_js_and_zyre() -> None:
    pytest.importorskip("pyre")
    from zre_conformance import agent_setup

    with_zyre_c = platform.machine() == "x86_64"  # the prebuilt libzyre is x86-64 only
    if with_zyre_c:
        agent_setup.setup("zyre", ZYRE_C)
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
        nodes_to_start = [([sys.executable, "-c", PYRE_NODE], "", "started"),
                          (["node", "-e", ZYRE_JS_NODE], "", "started")]
        if with_zyre_c:
            nodes_to_start.append(([str(ZYRE_C / "zyre_agent")], ZYRE_C_START, '"id":2,"ok":true'))
            nodes_to_start.append(([str(ZYRE_C / "zyre_agent")], ZYRE_C_CURVE_START,
                                   '"id":2,"ok":true'))
        for argv, commands, ready in nodes_to_start:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env)
            procs.append(proc)
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(commands)
            proc.stdin.flush()
            for _ in range(5):  # the ready line comes within the first few
                line = proc.stdout.readline()
                if ready in line or not line:
                    break
            assert ready in line, proc.stderr.read() if proc.stderr else ""
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "zre_ref.cli",
                               "doctor", "--json", "--duration", "2.5", "--port", "5670", "--port",
                               "5671"], capture_output=True,
                              text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        # each node by the header it was started with; its default name says who it is,
        # unless the name has no letter (then pyre's and zyre's defaults look alike)
        by_header = {"X-P": "pyre", "X-J": "zyre.js", "X-Z": "zyre or zre-ref"}
        heard = json.loads(done.stdout)["nodes"]
        nodes = {by_header[next(iter(n["hello"]["headers"]))]: n for n in heard if n["hello"]}
        want = ["pyre", "zyre or zre-ref", "zyre.js"] if with_zyre_c else ["pyre", "zyre.js"]
        assert sorted(nodes) == want, done.stdout
        for label, node in nodes.items():
            ambiguous = label != "zyre.js" and node["hello"]["name"].isdigit()
            assert node["looks_like"] == (AMBIGUOUS if ambiguous else label), node
        assert nodes["pyre"]["hello"]["headers"] == {"X-P": "1"}
        assert nodes["zyre.js"]["hello"]["headers"] == {"X-J": "2"}
        for node in nodes.values():
            assert node["hello"]["groups"] == ["CHAT"] and node["interfaces"] == ["lo"]
            # each mailbox's greeting, read by the doctor: libzmq's NULL, as-server 0
            assert node["zmtp"] == {"version": "3.1", "mechanism": "NULL", "as_server": False}, node
        for name in ("pyre", "zyre.js"):
            node = nodes[name]
            assert node["endpoint_agrees"] is True and node["reachable"] is True
            if node["looks_like"] != AMBIGUOUS:
                assert any("65535" in issue for issue in node["issues"])
        if with_zyre_c:  # zyre_set_zcert: a CURVE beacon with its key, a libzmq CURVE mailbox
            [curve] = [n for n in heard if n["udp_port"] == 5671]
            assert curve["beacon_version"] == "curve" and curve["public_key"] == CURVE_PUBLIC
            assert curve["hello"] is None and curve["hello_error"].startswith("not greeted")
            assert curve["zmtp"] == {"version": "3.1", "mechanism": CURVE_NEEDS_KEY,
                                     "as_server": False}, curve
            assert not any("mailbox" in issue for issue in curve["issues"])
        if with_zyre_c:  # ZSYS_INTERFACE=*: zyre puts its host name in HELLO, not an address
            zyre = nodes["zyre or zre-ref"]
            assert zyre["hello"]["headers"] == {"X-Z": "3"} and zyre["endpoint_agrees"] is False
            assert not zyre["hello"]["endpoint"].startswith("tcp://127.")
            assert any("advertises" in issue for issue in zyre["issues"])
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


def test_doctor_reads_a_libzmq_curve_server_greeting() -> None:
    """A libzmq (pyzmq) ROUTER that is a CURVE server, announced by a 54-byte beacon with its
    key: the doctor reports its mailbox as CURVE (needs the server's public key) -- what a zyre
    node after zyre_set_zcert shows, its inbox being such a socket. libzmq's greeting says
    as-server 0 even here (spec/curve.md#greeting), and the doctor reports it as sent."""
    zmq = pytest.importorskip("zmq")
    public, secret = zmq.curve_keypair()
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.curve_server = True
    router.curve_publickey, router.curve_secretkey = public, secret
    router.linger = 0
    try:
        mailbox = router.bind_to_random_port("tcp://127.0.0.1")
        port = free_udp_port()
        uuid = os.urandom(16)
        beacon = encode_beacon(Beacon(version=BEACON_VERSION_CURVE, uuid=uuid, port=mailbox,
                                      public_key=z85_decode(public)))

        async def main() -> None:
            greeting = await read_greeting("127.0.0.1", mailbox)
            assert (greeting.major, greeting.mechanism, greeting.as_server) == (3, "CURVE", False)
            loop = asyncio.get_running_loop()
            task = loop.create_task(diagnose([port], duration=1.0))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(100):  # a beacon's pace, until the doctor is done listening
                    s.sendto(beacon, ("127.0.0.1", port))
                    done, _ = await asyncio.wait({task}, timeout=0.1)
                    if done:
                        break
            report = await task
            [heard] = report.nodes.values()
            assert heard.uuid == uuid.hex().upper() and heard.public_key == public.decode()
            assert heard.zmtp is not None and heard.zmtp["mechanism"] == CURVE_NEEDS_KEY
            assert heard.zmtp["as_server"] is False and heard.zmtp_error == ""
            assert not any("mailbox" in issue for issue in heard.issues)
            assert f"{CURVE_NEEDS_KEY}, as-server 0 (libzmq's in every role)" in render_text(report)

        asyncio.run(asyncio.wait_for(main(), 20))
    finally:
        router.close()
        ctx.term()
