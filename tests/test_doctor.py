"""`zre-ref doctor` in network namespaces made here: the doctor's namespace has two veth links,
one to a namespace with an honest node, one to a namespace with a node whose HELLO advertises an
address nobody can reach. Nothing leaves the namespaces."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid as uuid_mod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_aio_zre import _kernel_has_ipv6, expect, free_udp_port
from zre_ref.aio.zre import ZreNode
from zre_ref.curve.keys import curve_keypair
from zre_ref.doctor import (
    CURVE_NEEDS_KEY,
    Heard,
    Report,
    conclude,
    diagnose,
    interface_notes,
    looks_like,
    read_greeting,
    render_text,
)
from zre_ref.errors import DecodeError
from zre_ref.zre.beacon import Beacon, encode_beacon
from zre_ref.zre.events import PeerEntered

ROOT = Path(__file__).resolve().parent.parent

LIAR = """
import asyncio, contextlib, sys
from zre_ref.aio.zre import ZreNode
async def main():
    iface, port, mailbox = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    async with ZreNode("liar", port=port, interface=iface, beacon_interval=0.2,
                       bind=f"tcp://10.71.2.2:{mailbox}", advertise=f"tcp://10.9.9.9:{mailbox}") as n:
        print("READY", n.endpoint, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):  # lives at most 30 s
            await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, sys.stdin.read), 30)
asyncio.run(main())
"""

SIX = """
import asyncio, contextlib, sys
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import PeerEntered, PeerExited
async def main():
    iface, port, mailbox = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    async with ZreNode("six", ipv6=True, interface=iface, port=port, beacon_interval=0.2,
                       bind=f"tcp://[fe80::2%{iface}]:{mailbox}") as n:
        print("READY", n.endpoint, flush=True)
        async def report():
            while True:
                ev = await n.recv()
                if isinstance(ev, (PeerEntered, PeerExited)):
                    print(type(ev).__name__, ev.peer_uuid, flush=True)
        with contextlib.suppress(asyncio.TimeoutError):  # lives at most 30 s
            await asyncio.wait_for(report(), 30)
asyncio.run(main())
"""


def _need_root() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None or not sys.platform.startswith("linux"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the doctor test needs root and iproute2 under CI")
        pytest.skip("needs root and iproute2 (it creates network namespaces)")


def _sh(*cmd: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, f"{' '.join(cmd)}: {done.stderr.strip()}"


@pytest.fixture
def network() -> Iterator[dict[str, str]]:
    """Namespaces D (doctor), A (10.71.1.2, honest) and B (10.71.2.2, liar), veth D-A and D-B."""
    _need_root()
    tag = f"{os.getpid() % 10000}{uuid_mod.uuid4().hex[:3]}"
    ns = {k: f"zdoc{k}{tag}" for k in "DAB"}
    links = {"DA": f"zd{tag}a", "AD": f"za{tag}d", "DB": f"zd{tag}b", "BD": f"zb{tag}d"}
    try:
        for name in ns.values():
            _sh("ip", "netns", "add", name)
            _sh("ip", "-n", name, "link", "set", "lo", "up")
        for far, subnet in (("A", 1), ("B", 2)):
            near_if, far_if = links["D" + far], links[far + "D"]
            _sh("ip", "-n", ns["D"], "link", "add", near_if, "type", "veth", "peer", "name", far_if,
                "netns", ns[far])
            _sh("ip", "-n", ns["D"], "addr", "add", f"10.71.{subnet}.1/24", "brd", "+", "dev", near_if)
            _sh("ip", "-n", ns[far], "addr", "add", f"10.71.{subnet}.2/24", "brd", "+", "dev", far_if)
            _sh("ip", "-n", ns["D"], "link", "set", near_if, "up")
            _sh("ip", "-n", ns[far], "link", "set", far_if, "up")
        yield {**ns, **links}
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def _start(ns: str, argv: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _line(proc: subprocess.Popen[str], want: str, timeout: float = 15.0) -> str:
    """The first stdout line containing ``want`` (the process must print it within ``timeout``;
    a read cannot block longer than the process lives, at most 30 s)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if want in line:
            return line
    raise AssertionError(f"no {want!r} from {proc.args}: {proc.stderr.read() if proc.stderr else ''}")


def _doctor(ns: str, *args: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "zre_ref.cli", "doctor",
                           "--json", *args], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def test_doctor_finds_the_liar_and_the_second_interface(network: dict[str, str]) -> None:
    port = free_udp_port()
    mailbox = str(free_udp_port())
    honest = _start(network["A"], ["-m", "zre_ref.cli", "listen", "--json", "--name", "honest",
                                   "--interface", network["AD"], "--port", str(port),
                                   "--beacon-interval", "0.2", "--group", "G", "--header", "K=V",
                                   "--timeout", "30"])
    liar = _start(network["B"], ["-c", LIAR, network["BD"], str(port), mailbox])
    try:
        _line(honest, '"READY"')
        _line(liar, "READY")
        doc = _doctor(network["D"], "--port", str(port), "--duration", "1.5")
        nodes = {n["hello"]["name"]: n for n in doc["nodes"]}  # type: ignore[attr-defined]
        assert sorted(nodes) == ["honest", "liar"], doc
        good, bad = nodes["honest"], nodes["liar"]
        assert good["interfaces"] == [network["DA"]] and good["sources"] == ["10.71.1.2"]
        assert good["beacon_version"] == "plain" and good["beacon_size"] == 22
        assert good["hello"]["groups"] == ["G"] and good["hello"]["headers"] == {"K": "V"}
        assert good["endpoint_agrees"] is True and good["reachable"] is True
        assert good["issues"] == [] and good["looks_like"] == "unknown"
        assert bad["interfaces"] == [network["DB"]] and bad["sources"] == ["10.71.2.2"]
        assert bad["hello"]["endpoint"] == f"tcp://10.9.9.9:{mailbox}"
        assert bad["endpoint_agrees"] is False and bad["reachable"] is False
        assert any("advertises tcp://10.9.9.9" in i for i in bad["issues"])
        assert any("not reachable" in i for i in bad["issues"])
        # the honest node saw exactly what the doctor promises: its HELLO, then its leaving beacon
        entered = json.loads(_line(honest, '"ENTER"'))
        assert entered["peer_name"] == "zre-ref-doctor"
        exited = json.loads(_line(honest, '"EXIT"'))
        assert exited["peer_uuid"] == entered["peer_uuid"]
        # one interface only
        only_b = _doctor(network["D"], "--port", str(port), "--duration", "1",
                         "--interface", network["DB"])
        assert [n["hello"]["name"] for n in only_b["nodes"]] == ["liar"]  # type: ignore[attr-defined]
    finally:
        for proc in (honest, liar):
            proc.kill()
            proc.wait(10)


def test_looks_like_and_known_issues() -> None:
    uuid = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
    assert looks_like(uuid, "0a1b2c") == "pyre"
    assert looks_like(uuid, "0a1b2c3d4e5f") == "zyre.js"
    assert looks_like(uuid, "0A1B2C") == "zyre or zre-ref"
    assert looks_like(uuid, "alice") == "unknown"
    digits = "0123456789ABCDEF0123456789ABCDEF"  # its first six characters have no letter
    assert looks_like(digits, "012345") == "pyre, zyre or zre-ref"
    assert looks_like(digits, "0123456789ab") == "zyre.js"
    report = Report([5670], None, 1.0)
    pyre = Heard("0A1B2C3D4E5F60718293A4B5C6D7E8F9", 5670, 1, 22, mailbox_port=50000, beacons=3,
                 sources=["10.0.0.2"], interfaces=["eth0"],
                 hello={"name": "0a1b2c", "endpoint": "tcp://10.0.0.2:50000", "groups": [],
                        "headers": {}, "status": 0, "sequence": 1})
    curve = Heard("FFEEDDCCBBAA99887766554433221100", 5670, 3, 54, mailbox_port=40000,
                  sources=["10.0.0.3", "10.0.1.3"], interfaces=["eth0", "eth1"])
    other_port = Heard("11111111111111111111111111111111", 5671, 1, 22, mailbox_port=1,
                       sources=["10.0.0.4"], interfaces=["eth0"])
    report.nodes = {("a", 5670): pyre, ("b", 5670): curve, ("c", 5671): other_port}
    conclude(report)
    assert pyre.looks_like == "pyre" and any("65535" in i for i in pyre.issues)
    assert any("54-byte" in i for i in curve.issues) and any("several interfaces" in i for i in curve.issues)
    assert any("pyre nodes will stop" in n for n in report.notes)
    assert any("different ports" in n for n in report.notes)
    text = render_text(report)
    assert "CURVE (54 bytes, v3)" in text and "looks like pyre" in text


def test_interface_notes_name_vpn_like_links() -> None:
    up, bcast, lo, p2p = 0x1, 0x2, 0x8, 0x10
    found = [("lo", up | lo, "127.0.0.1", None), ("eth0", up | bcast, "10.0.0.2", "10.0.0.255"),
             ("tun0", up | p2p, "10.8.0.6", None), ("wg0", up, "10.9.0.2", None),
             ("down0", p2p, "10.7.0.1", None)]
    notes = interface_notes(found)
    assert [n.split(" ")[0] for n in notes] == ["tun0", "wg0"]
    assert interface_notes(found, only="eth0") == []


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _beacon_to(address: tuple[str, int], data: bytes, stop: asyncio.Event) -> None:
    """Send ``data`` to ``address`` every 0.1 s until ``stop`` (a beacon's own pace)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        for _ in range(300):  # at most 30 s
            s.sendto(data, address)
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
                return
            except asyncio.TimeoutError:
                pass


def test_doctor_ipv6_hears_a_unicast_beacon_on_loopback_and_greets_over_ipv6() -> None:
    """--ipv6 on lo: Linux loopback has no IPv6 multicast, so the node's beacon comes to the
    doctor's port on ::1 directly; the doctor greets it over IPv6 and it connects back over IPv6
    (the ff02::1 path is test_doctor_ipv6_multicast_beacon_across_a_veth). The node beacons on
    another port: a unicast datagram to a port several sockets share (SO_REUSEPORT) reaches
    only one of them."""
    if not _kernel_has_ipv6():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the IPv6 doctor test needs IPv6 on loopback under CI")
        pytest.skip("no IPv6 on loopback")
    port = free_udp_port()
    node_port = free_udp_port()

    async def main() -> None:
        async with ZreNode("six", {"X-6": "yes"}, ipv6=True, interface="lo", port=node_port,
                           beacon_interval=0.2) as node:
            assert node.endpoint.startswith("tcp://[::1]:")
            mailbox = int(node.endpoint.rsplit(":", 1)[1])
            stop = asyncio.Event()
            beacon = encode_beacon(Beacon(uuid=bytes.fromhex(node.uuid), port=mailbox))
            sender = asyncio.create_task(_beacon_to(("::1", port), beacon, stop))
            try:
                report = await diagnose([port], ipv6=True, duration=1.0)
            finally:
                stop.set()
                await sender
            [heard] = report.nodes.values()
            assert (heard.uuid, heard.sources, heard.interfaces) == (node.uuid, ["::1"], ["lo"])
            assert heard.hello is not None and heard.hello["name"] == "six"
            assert heard.hello["endpoint"] == node.endpoint and heard.hello["headers"] == {"X-6": "yes"}
            assert heard.endpoint_agrees is True and heard.reachable is True
            assert heard.zmtp == {"version": "3.1", "mechanism": "NULL", "as_server": False}
            assert report.to_json()["ipv6"] is True
            entered = await expect(node, PeerEntered)  # from the doctor's HELLO, over IPv6
            assert entered.peer_name == "zre-ref-doctor" and entered.endpoint.startswith("tcp://[::1]:")
            assert "(IPv4 and IPv6)" in render_text(report)
    _run(main())


def test_doctor_reads_a_curve_mailbox_greeting() -> None:
    """A node in CURVE mode (zyre_set_zcert's): 54-byte beacons with its key, a CURVE server
    mailbox. The doctor does not greet it, but reads its greeting: CURVE, as server."""
    port = free_udp_port()
    public, secret = curve_keypair()

    async def main() -> None:
        async with ZreNode("sealed", interface="lo", port=port, beacon_interval=0.2,
                           curve_publickey=public, curve_secretkey=secret) as node:
            report = await diagnose([port], duration=1.0)
            [heard] = report.nodes.values()
            assert heard.uuid == node.uuid and heard.version == 3 and heard.size == 54
            assert heard.public_key == public.decode()
            assert heard.hello is None and heard.hello_error.startswith("not greeted")
            assert heard.zmtp == {"version": "3.1", "mechanism": CURVE_NEEDS_KEY, "as_server": True}
            assert not any("mailbox" in i for i in heard.issues)  # beacon and mailbox agree
            text = render_text(report)
            assert f"ZMTP   3.1 {CURVE_NEEDS_KEY}, as-server 1" in text
            assert f"public key (from its beacon) {public.decode()}" in text
            assert node.peers() == []  # a greeting is not a peer
    _run(main())


def test_read_greeting_of_something_else_and_greeting_issues() -> None:
    async def main() -> None:
        async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(40))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(http, "127.0.0.1", 0)
        async with server:
            with pytest.raises(DecodeError) as caught:
                await read_greeting("127.0.0.1", server.sockets[0].getsockname()[1])
            assert caught.value.field == "signature"
    _run(main())
    report = Report([5670], None, 1.0)
    plain = Heard("A" * 32, 5670, 1, 22, mailbox_port=1, sources=["10.0.0.2"],
                  zmtp={"version": "3.1", "mechanism": CURVE_NEEDS_KEY, "as_server": True})
    curve = Heard("B" * 32, 5670, 3, 54, mailbox_port=2, sources=["10.0.0.3"],
                  zmtp={"version": "3.0", "mechanism": "NULL", "as_server": False})
    libzmq = Heard("C" * 32, 5670, 3, 54, mailbox_port=3, sources=["10.0.0.4"],
                   zmtp={"version": "3.1", "mechanism": CURVE_NEEDS_KEY, "as_server": False})
    fine = Heard("D" * 32, 5670, 1, 22, mailbox_port=4, sources=["10.0.0.5"],
                 zmtp={"version": "3.1", "mechanism": "NULL", "as_server": False})
    report.nodes = {(n.uuid, 5670): n for n in (plain, curve, libzmq, fine)}
    conclude(report)
    assert any("beacon is plain" in i and "wants CURVE" in i for i in plain.issues)
    assert any("greets with NULL" in i for i in curve.issues)
    assert not any("mailbox" in i for i in fine.issues + libzmq.issues)  # libzmq: as-server 0
    assert f"ZMTP   3.1 {CURVE_NEEDS_KEY}, as-server 0 (libzmq's in every role)" in render_text(report)


def test_doctor_ipv6_multicast_beacon_across_a_veth() -> None:
    """--ipv6 hears a node's beacons to ff02::1 (czmq's group) arriving on a veth, in
    namespaces made here (D: the doctor, fe80::1 and fd5a:5246::1; A: the node, fe80::2 and
    fd5a:5246::2; no duplicate address detection). The node binds its mailbox to its link-local
    address, so its beacons leave from there (spec/zre.md#node-discovery, D11) although the
    interface has a ULA too; the doctor greets it at fe80::2 with the zone of the veth it heard
    it on, and finds the endpoint it advertises (without the zone, D8) agrees. Its port-0 beacon,
    sent to the zoned link-local address and the discovery port, makes the node drop the doctor."""
    _need_root()
    if not _kernel_has_ipv6():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the IPv6 doctor test needs IPv6 under CI")
        pytest.skip("no IPv6")
    tag = f"{os.getpid() % 10000}{uuid_mod.uuid4().hex[:3]}"
    doctor_ns, node_ns, near, far = f"zdoc6D{tag}", f"zdoc6A{tag}", f"zd6{tag}a", f"za6{tag}d"
    port = free_udp_port()
    node = None
    try:
        for ns in (doctor_ns, node_ns):
            _sh("ip", "netns", "add", ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "-n", doctor_ns, "link", "add", near, "type", "veth", "peer", "name", far,
            "netns", node_ns)
        for ns, link, host in ((doctor_ns, near, "1"), (node_ns, far, "2")):
            _sh("ip", "-n", ns, "link", "set", link, "addrgenmode", "none")
            for prefix in ("fd5a:5246::", "fe80::"):
                _sh("ip", "-n", ns, "addr", "add", f"{prefix}{host}/64", "dev", link, "nodad")
            _sh("ip", "-n", ns, "link", "set", link, "up")
        node = _start(node_ns, ["-c", SIX, far, str(port), str(free_udp_port())])
        endpoint = _line(node, "READY").split()[1]
        assert endpoint.startswith("tcp://[fe80::2]:")
        doc = _doctor(doctor_ns, "--ipv6", "--port", str(port), "--duration", "1.5")
        [heard] = doc["nodes"]  # type: ignore[misc]
        assert heard["sources"] == [f"fe80::2%{near}"] and heard["interfaces"] == [near], heard
        assert heard["hello"] is not None, (heard["hello_error"], heard["zmtp"], heard["zmtp_error"])
        assert heard["hello"]["name"] == "six" and heard["hello"]["endpoint"] == endpoint
        assert heard["endpoint_agrees"] is True and heard["reachable"] is True
        assert not any("advertises" in issue for issue in heard["issues"]), heard["issues"]
        assert heard["zmtp"]["mechanism"] == "NULL" and doc["ipv6"] is True
        entered = _line(node, "PeerEntered").split()[1]
        assert _line(node, "PeerExited").split()[1] == entered  # the doctor's port-0 beacon
    finally:
        if node is not None:
            node.kill()
            node.wait(10)
        for ns in (doctor_ns, node_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_doctor_names_a_mailbox_that_refuses_at_the_beacon_source() -> None:
    """A beacon whose mailbox port nobody listens on at its source address (a node bound to
    another address than its beacons come from): no HELLO, and the issue says why."""
    port = free_udp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        mailbox = closed.getsockname()[1]  # bound, never listening: connections are refused
        uuid = os.urandom(16)
        beacon = encode_beacon(Beacon(uuid=uuid, port=mailbox))

        async def main() -> Report:
            stop = asyncio.Event()
            sender = asyncio.create_task(_beacon_to(("127.0.0.1", port), beacon, stop))
            try:
                return await diagnose([port], duration=0.6, hello_wait=0.5)
            finally:
                stop.set()
                await sender

        report = _run(main())
    [heard] = report.nodes.values()
    assert heard.uuid == uuid.hex().upper() and heard.hello is None and heard.zmtp is None
    assert any(f"nothing listens on its mailbox port {mailbox} at 127.0.0.1" in i
               for i in heard.issues), heard.issues
