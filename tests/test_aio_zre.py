"""ZreNode on loopback: several nodes in one process, direct mode and real UDP beacons."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import (
    NodeStopped,
    PeerEntered,
    PeerEvasive,
    PeerExited,
    PeerJoined,
    PeerLeft,
    ShoutReceived,
    WhisperReceived,
    ZreEvent,
)

pytestmark = pytest.mark.net
T = TypeVar("T", bound=ZreEvent)
TIMEOUT = 5.0


def free_udp_port() -> int:
    """A random high UDP port nobody on this host is bound to (tests run in parallel)."""
    for _ in range(50):
        port = random.randrange(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port")


async def expect(node: ZreNode, kind: type[T], pred: Callable[[T], bool] = lambda e: True,
                 timeout: float = TIMEOUT) -> T:
    """Read events until one of ``kind`` matching ``pred`` arrives (others are skipped)."""
    async def wait() -> T:
        while True:
            ev = await node.recv()
            if isinstance(ev, kind) and pred(ev):
                return ev
    return await asyncio.wait_for(wait(), timeout)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 30))


def test_direct_mode_pair_enter_join_shout_whisper_exit() -> None:
    async def main() -> None:
        async with ZreNode("a", {"X-A": "1"}, beacon=False) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            enter = await expect(b, PeerEntered)
            assert (enter.peer_uuid, enter.peer_name, enter.headers, enter.endpoint) == (
                a.uuid, "a", {"X-A": "1"}, a.endpoint)
            await expect(a, PeerEntered, lambda e: e.peer_uuid == b.uuid)
            assert a.peers() == [b.uuid] and b.peers() == [a.uuid]
            assert b.peer_name(a.uuid) == "a" and b.peer_header_value(a.uuid, "X-A") == "1"
            assert b.peer_address(a.uuid) == a.endpoint

            await a.join("G")
            await expect(b, PeerJoined, lambda e: e.group == "G")
            assert b.peers_by_group("G") == [a.uuid] and b.peer_groups() == ["G"]
            assert a.own_groups() == ["G"]
            await b.shout("G", b"hello", "world")
            shout = await expect(a, ShoutReceived)
            assert (shout.group, shout.content) == ("G", (b"hello", b"world"))
            await a.whisper(b.uuid, b"psst")
            assert (await expect(b, WhisperReceived)).content == (b"psst",)
            await a.leave("G")
            await expect(b, PeerLeft, lambda e: e.group == "G")

            await a.stop()  # direct mode: GOODBYE
            await expect(b, PeerExited, lambda e: e.peer_uuid == a.uuid)
            assert b.peers() == []
            assert isinstance(await expect(a, NodeStopped), NodeStopped)
            with pytest.raises(EOFError):
                await asyncio.wait_for(a.recv(), 1)
    run(main)


def test_udp_beacons_on_loopback_find_each_other_and_port0_exits() -> None:
    async def main() -> None:
        port = free_udp_port()
        kw: dict[str, Any] = {"interface": "lo", "port": port, "beacon_interval": 0.2}
        nodes = [ZreNode(f"n{i}", **kw) for i in range(3)]
        for n in nodes:
            await n.start()
        try:
            for n in nodes:
                others = {m.uuid for m in nodes if m is not n}
                seen: set[str] = set()
                while seen != others:
                    seen.add((await expect(n, PeerEntered)).peer_uuid)
                assert n.endpoint.startswith("tcp://127.0.0.1:")
            await nodes[0].stop()  # port-0 beacon
            for n in nodes[1:]:
                await expect(n, PeerExited, lambda e: e.peer_uuid == nodes[0].uuid, timeout=3)
        finally:
            for n in nodes:
                await n.stop()
    run(main)


def test_direct_endpoint_list_and_events_iterator() -> None:
    async def main() -> None:
        async with ZreNode("a", beacon=False) as a:
            b = ZreNode("b", beacon=False, connect=[a.endpoint])
            async with b:
                got = []
                async for ev in a.events():
                    got.append(ev)
                    if isinstance(ev, PeerEntered):
                        break
                assert got[-1].peer_uuid == b.uuid
    run(main)


def test_evasive_ping_and_expiry_with_short_timers() -> None:
    async def main() -> None:
        kw: dict[str, Any] = {"beacon": False, "evasive": 0.2, "expired": 0.6}
        async with ZreNode("a", **kw) as a, ZreNode("b", **kw) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            await expect(b, PeerEntered)
            # a PING/PING-OK exchange keeps them alive well past `expired`
            await asyncio.sleep(1.0)
            assert a.peers() == [b.uuid] and b.peers() == [a.uuid]
            # now silence b (stop reading its ROUTER) by closing its sockets abruptly
            assert b.core.peer(a.uuid) is not None
            b._running = False  # simulate a hung peer: no timers, no replies
            if b._router is not None:
                b._router.close(linger=False)
            await expect(a, PeerEvasive, lambda e: e.peer_uuid == b.uuid, timeout=2)
            await expect(a, PeerExited, lambda e: e.peer_uuid == b.uuid, timeout=2)
            b._running = True
    run(main)


def test_send_blocked_at_hwm_disconnects_that_peer() -> None:
    async def main() -> None:
        async with ZreNode("a", beacon=False, sndhwm=10) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            # 100 whispers without yielding: the DEALER queue passes its HWM of 10
            for i in range(100):
                a._apply(a.core.whisper(b.uuid, [str(i).encode()]))
            assert a.core.stats.send_blocked >= 1
            peer = a.core.peer(b.uuid)
            assert peer is not None and not peer.connected
            assert a.peers() == [b.uuid]  # kept until it expires
    run(main)


def test_many_nodes_full_mesh_direct() -> None:
    async def main() -> None:
        nodes = [ZreNode(f"m{i}", beacon=False) for i in range(8)]
        for n in nodes:
            await n.start()
        try:
            for i, n in enumerate(nodes):
                for m in nodes[i + 1:]:
                    await n.connect_peer(m.endpoint)
            for n in nodes:
                want = {m.uuid for m in nodes if m is not n}
                seen: set[str] = set()
                while seen != want:
                    seen.add((await expect(n, PeerEntered)).peer_uuid)
            await nodes[0].join("ALL")
            for n in nodes[1:]:
                await expect(n, PeerJoined)
            for n in nodes[1:]:
                await n.shout("ALL", b"x")  # nobody but node 0 is in ALL
            for _ in nodes[1:]:
                await expect(nodes[0], ShoutReceived)
        finally:
            for n in nodes:
                await n.stop()
    run(main)


def test_cli_listen_json_and_shout() -> None:
    import json
    import subprocess
    import sys

    port = str(free_udp_port())
    common = ["--interface", "lo", "--port", port, "--beacon-interval", "0.2"]
    listen = subprocess.Popen(
        [sys.executable, "-m", "zre_ref.cli", "listen", "--json", "--group", "G", "--count", "3",
         "--timeout", "15", *common], stdout=subprocess.PIPE, text=True)
    try:
        assert listen.stdout is not None
        ready = json.loads(listen.stdout.readline())
        assert ready["event"] == "READY"
        shout = subprocess.run(
            [sys.executable, "-m", "zre_ref.cli", "shout", "G", "hi there", "--name", "cli",
             "--wait", "10", *common], capture_output=True, text=True, timeout=20)
        assert shout.returncode == 0, shout.stderr
        out, _ = listen.communicate(timeout=15)
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["ENTER", "SHOUT", "EXIT"]
    assert events[1]["content"] == ["hi there"] and events[0]["peer_name"] == "cli"


def test_beacon_plans() -> None:
    from zre_ref.aio.beacon import LOOPBACK_BROADCAST, MULTICAST_GROUP, plan

    for name in ("lo", "127.0.0.1"):
        p = plan(name)
        assert p.loopback and p.host == "127.0.0.1"
        assert set(p.destinations) == {LOOPBACK_BROADCAST, MULTICAST_GROUP}
        assert p.multicast_groups == (MULTICAST_GROUP,)
    assert plan("*").destinations == ("255.255.255.255",)
    with pytest.raises(ValueError):
        plan("no-such-interface0")
