"""ZreNode in gossip mode (spec/zgossip.md#zyre) and elections on asyncio (spec/election.md), on
loopback, without UDP beacons. Every wait is bounded."""

from __future__ import annotations

import asyncio

from tests.test_aio_zre import expect, run
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import (
    LeaderElected,
    PeerEntered,
    PeerExited,
    PeerJoined,
    ShoutReceived,
    WhisperReceived,
)


async def _entered_all(nodes: list[ZreNode]) -> None:
    for n in nodes:
        others = {m.uuid for m in nodes if m is not n}
        seen: set[str] = set()
        while seen != others:
            seen.add((await expect(n, PeerEntered, lambda e, o=others: e.peer_uuid in o)).peer_uuid)


def test_gossip_hub_and_nodes_full_mesh_shout_whisper_exit() -> None:
    async def main() -> None:
        hub = ZreNode("hub", gossip_bind="tcp://127.0.0.1:*")
        await hub.start()
        assert hub.gossip is not None and not hub.core.beaconing
        (gossip_ep,) = hub.gossip.endpoints
        assert not gossip_ep.endswith(":*")
        nodes = [ZreNode(f"n{i}", gossip_connect=[gossip_ep]) for i in range(3)]
        try:
            for n in nodes:
                await n.start()
                assert not n.core.beaconing
            await _entered_all([hub, *nodes])
            await nodes[0].join("G")
            await expect(hub, PeerJoined, lambda e: e.peer_uuid == nodes[0].uuid)
            await hub.shout("G", b"to the group")
            assert (await expect(nodes[0], ShoutReceived)).content == (b"to the group",)
            await nodes[2].whisper(hub.uuid, b"hi hub")
            assert (await expect(hub, WhisperReceived)).content == (b"hi hub",)
            await nodes[1].stop()
            for n in (hub, nodes[0], nodes[2]):
                await expect(n, PeerExited, lambda e: e.peer_uuid == nodes[1].uuid)
        finally:
            for n in (*nodes, hub):
                await n.stop()

    run(main)


def test_gossip_connect_after_construction_and_late_joiner_learns_everyone() -> None:
    async def main() -> None:
        async with ZreNode("hub", beacon=False) as hub:
            ep = await hub.gossip_bind("tcp://127.0.0.1:*")
            async with ZreNode("early", beacon=False) as early:
                await early.gossip_connect(ep)
                await _entered_all([hub, early])
                async with ZreNode("late", gossip_connect=[ep]) as late:
                    for n in (hub, early):
                        await expect(n, PeerEntered, lambda e: e.peer_uuid == late.uuid)
                    seen = {(await expect(late, PeerEntered)).peer_uuid for _ in range(2)}
                    assert seen == {hub.uuid, early.uuid}

    run(main)


def test_election_on_asyncio_nodes() -> None:
    async def main() -> None:
        hub = ZreNode("hub", gossip_bind="tcp://127.0.0.1:*")
        await hub.start()
        assert hub.gossip is not None
        (ep,) = hub.gossip.endpoints
        nodes = [hub] + [ZreNode(f"n{i}", gossip_connect=[ep]) for i in range(3)]
        try:
            for n in nodes[1:]:
                await n.start()
            await _entered_all(nodes)
            for n in nodes:
                n.set_contest_in_group("BOSS")
            first, last = nodes[1:], nodes[0]
            for n in first:
                await n.join("BOSS")
            for n in nodes:
                for m in first:
                    if m is not n:
                        await expect(n, PeerJoined, lambda e, m=m: e.peer_uuid == m.uuid)
            # the hub's JOIN starts the election; zyre's rule: the joiner itself does not stand
            await last.join("BOSS")
            want = min(n.uuid for n in first)
            for n in nodes:
                ev = await expect(n, LeaderElected, lambda e: e.peer_uuid == want)
                assert ev.group == "BOSS"
                assert n.leader("BOSS") == want
        finally:
            for n in nodes:
                await n.stop()

    run(main)


def test_cli_listen_as_gossip_hub() -> None:
    """`zre-ref listen --gossip-bind`: a node of ours finds it through its gossip service."""
    import json
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gossip = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    cmd = [sys.executable, "-m", "zre_ref.cli", "listen", "--json", "--gossip-bind", gossip,
           "--bind", "tcp://127.0.0.1:*", "--count", "1", "--timeout", "15"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as listen:
        assert listen.stdout is not None
        assert json.loads(listen.stdout.readline())["event"] == "READY"

        async def main() -> str:
            async with ZreNode("me", gossip_connect=[gossip]):
                assert listen.stdout is not None  # the listener's ENTER, read while we are there
                line: str = await asyncio.wait_for(asyncio.to_thread(listen.stdout.readline), 15)
                return line  # (--count 1: the listener may exit before its own HELLO reaches us)

        try:
            out = run(main)
            listen.wait(timeout=15)  # --count 1: it exits after that line
        except BaseException:
            listen.kill()
            raise
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["ENTER"] and events[0]["peer_name"] == "me"
