"""Gossip discovery and elections between zre-ref and zyre (C) 2.0.1 (prebuilt libzyre.so through
ctypes; see tests/interop/zyre_lib.py), UDP beacons off, on loopback (spec/zgossip.md#zyre,
spec/election.md). zyre's events are read in a thread (200 ms receive timeout); every wait is
bounded.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.interop import zyre_lib
from tests.interop.zyre_lib import Event, ZyreNode
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import (
    ShoutReceived,
    WhisperReceived,
    ZreEvent,
)

pytestmark = pytest.mark.interop

WAIT = 15.0
FAST = {"evasive": 1.0, "expired": 3.0}


@pytest.fixture(scope="module", autouse=True)
def _zyre_built() -> None:
    if not zyre_lib.ensure_built():
        pytest.skip("libzyre not available (tests/interop/setup-zyre.sh failed)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def zyre_nodes(*names: str) -> Iterator[list[ZyreNode]]:
    nodes = [ZyreNode(n) for n in names]
    try:
        yield nodes
    finally:
        for n in nodes:
            n.stop()
        for n in nodes:
            n.destroy()


def zyre_start(z: ZyreNode, *, bind: str | None = None, connect: str | None = None,
               contest: str | None = None) -> None:
    z.set_endpoint(f"tcp://127.0.0.1:{free_port()}")  # else zyre publishes tcp://<hostname>:port
    if bind:
        z.gossip_bind(bind)
    if connect:
        z.gossip_connect(connect)
    if contest:
        z.set_contest_in_group(contest)
    z.start()


class Watch:
    """Everything zyre nodes and zre-ref nodes have reported, and bounded waits on it."""

    def __init__(self, zyre: list[ZyreNode], ours: list[ZreNode]) -> None:
        self.zyre = zyre
        self.ours = ours
        self.seen: dict[str, list[Event | ZreEvent]] = {n.uuid: [] for n in [*zyre, *ours]}

    async def pump(self) -> None:
        events = await asyncio.gather(*(asyncio.to_thread(z.event) for z in self.zyre))
        for z, ev in zip(self.zyre, events, strict=True):
            if ev is not None:
                self.seen[z.uuid].append(ev)
        for n in self.ours:
            while (e := n.recv_nowait()) is not None:
                self.seen[n.uuid].append(e)

    async def until(self, cond: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.seen}")
            await self.pump()

    def has(self, node: str, kind: str, peer: str | None = None, **fields: str) -> bool:
        for ev in self.seen[node]:
            etype = ev.type
            if etype == kind and (peer is None or ev.peer_uuid == peer) and all(
                    _field(ev, k) == v for k, v in fields.items()):
                return True
        return False

    def entered_all(self) -> bool:
        everyone = list(self.seen)
        return all(self.has(a, "ENTER", b) for a in everyone for b in everyone if a != b)

    def last_leader(self, node: str, group: str) -> str | None:
        leaders = [ev.peer_uuid for ev in self.seen[node]
                   if ev.type == "LEADER" and _field(ev, "group") == group]
        return leaders[-1] if leaders else None


def _field(ev: Event | ZreEvent, name: str) -> str:
    if name == "text":
        if isinstance(ev, (ShoutReceived, WhisperReceived)):
            return ev.content[0].decode() if ev.content else ""
        return getattr(ev, "text", "")
    return str(getattr(ev, name, ""))


def run(coro: Callable[[], Any]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 90))


async def _talk(w: Watch, z: ZyreNode, ours: ZreNode) -> None:
    """JOIN, SHOUT and WHISPER both ways between one zyre node and one zre-ref node."""
    z.join("G")
    await ours.join("G")
    await w.until(lambda: w.has(z.uuid, "JOIN", ours.uuid) and w.has(ours.uuid, "JOIN", z.uuid),
                  "JOIN both ways")
    z.shout("G", "from zyre")
    await ours.shout("G", b"from zre-ref")
    z.whisper(ours.uuid, "psst from zyre")
    await ours.whisper(z.uuid, b"psst from zre-ref")
    await w.until(lambda: w.has(ours.uuid, "SHOUT", z.uuid, text="from zyre")
                  and w.has(z.uuid, "SHOUT", ours.uuid, text="from zre-ref")
                  and w.has(ours.uuid, "WHISPER", z.uuid, text="psst from zyre")
                  and w.has(z.uuid, "WHISPER", ours.uuid, text="psst from zre-ref"),
                  "SHOUT and WHISPER both ways")


def test_zyre_hub_with_zre_ref_nodes() -> None:
    async def main() -> None:
        hub_gossip = f"tcp://127.0.0.1:{free_port()}"
        with zyre_nodes("zhub") as (hub,):
            zyre_start(hub, bind=hub_gossip)
            a = ZreNode("a", gossip_connect=[hub_gossip], **FAST)
            b = ZreNode("b", gossip_connect=[hub_gossip], **FAST)
            await a.start()
            await b.start()
            try:
                assert not a.core.beaconing and not b.core.beaconing
                w = Watch([hub], [a, b])
                await w.until(w.entered_all, "ENTER between all three")
                await _talk(w, hub, a)
                await a.stop()
                await w.until(lambda: w.has(hub.uuid, "EXIT", a.uuid)
                              and w.has(b.uuid, "EXIT", a.uuid), "EXIT of a stopped zre-ref node")
                hub.stop()
                await w.until(lambda: w.has(b.uuid, "EXIT", hub.uuid), "EXIT of the stopped zyre hub")
            finally:
                await a.stop()
                await b.stop()

    run(main)


def test_zre_ref_hub_with_zyre_nodes() -> None:
    async def main() -> None:
        hub = ZreNode("hub", gossip_bind="tcp://127.0.0.1:*", **FAST)
        await hub.start()
        assert hub.gossip is not None
        (ep,) = hub.gossip.endpoints
        try:
            with zyre_nodes("z1", "z2") as (z1, z2):
                zyre_start(z1, connect=ep)
                zyre_start(z2, connect=ep)
                w = Watch([z1, z2], [hub])
                await w.until(w.entered_all, "ENTER between all three")
                await _talk(w, z2, hub)
                z1.stop()
                await w.until(lambda: w.has(hub.uuid, "EXIT", z1.uuid), "EXIT of a stopped zyre node")
                await hub.stop()
                await w.until(lambda: w.has(z2.uuid, "EXIT", hub.uuid), "EXIT of the zre-ref hub")
        finally:
            await hub.stop()

    run(main)


def test_mixed_chain_of_hubs() -> None:
    """zyre hub <- zre-ref hub (which is also a node); a zre-ref node on the zyre hub, a zyre
    node on the zre-ref hub: everyone meets everyone."""
    async def main() -> None:
        zyre_gossip = f"tcp://127.0.0.1:{free_port()}"
        with zyre_nodes("zhub", "znode") as (zhub, znode):
            zyre_start(zhub, bind=zyre_gossip)
            rhub = ZreNode("rhub", gossip_bind="tcp://127.0.0.1:*", gossip_connect=[zyre_gossip],
                           **FAST)
            await rhub.start()
            rnode = ZreNode("rnode", gossip_connect=[zyre_gossip], **FAST)
            await rnode.start()
            try:
                assert rhub.gossip is not None
                (rhub_ep,) = rhub.gossip.endpoints
                zyre_start(znode, connect=rhub_ep)
                w = Watch([zhub, znode], [rhub, rnode])
                await w.until(w.entered_all, "ENTER between all four")
                await _talk(w, znode, rnode)
            finally:
                await rnode.stop()
                await rhub.stop()

    run(main)


def test_election_with_zyre_and_zre_ref_contesting() -> None:
    """Both kinds contest. Each JOIN starts an election among the members already there (the
    joiner does not stand: zyre's rule), so the members join one by one and every node must report
    the pick zyre makes. Then the leader LEAVEs (zyre re-elects on the leader's LEAVE only, not
    on its stop: spec/election.md#triggers) and the others agree on the next one."""
    async def main() -> None:
        hub_gossip = f"tcp://127.0.0.1:{free_port()}"
        with zyre_nodes("z1", "z2") as (z1, z2):
            zyre_start(z1, bind=hub_gossip, contest="BOSS")
            zyre_start(z2, connect=hub_gossip, contest="BOSS")
            ours = [ZreNode(f"r{i}", gossip_connect=[hub_gossip], **FAST) for i in range(2)]
            for n in ours:
                n.set_contest_in_group("BOSS")
                await n.start()
            try:
                w = Watch([z1, z2], ours)
                await w.until(w.entered_all, "ENTER between all four")
                order: list[Any] = [z1, z2, ours[0], ours[1]]
                members: list[str] = []
                for node in order:
                    w.seen = {u: [] for u in w.seen}
                    if isinstance(node, ZyreNode):
                        node.join("BOSS")
                    else:
                        await node.join("BOSS")
                    # the next one joins once this JOIN reached everyone: a JOIN that crosses
                    # another (the joiner not yet knowing a member) makes zyre pick by a race
                    await w.until(lambda j=node.uuid: all(
                        w.has(u, "JOIN", j) for u in w.seen if u != j), "JOIN seen by all")
                    if members:  # the members before this one start an election
                        pick = min(members)
                        voters = [*members, node.uuid]
                        await w.until(lambda p=pick, v=voters: all(
                            w.last_leader(u, "BOSS") == p for u in v),
                            f"{len(voters)} members reporting leader {pick}")
                    members.append(node.uuid)
                assert all(n.leader("BOSS") == min(members[:3]) for n in ours)
                # the leader leaves the group: the others stand again
                leader_uuid = min(members[:3])
                leader = next(x for x in order if x.uuid == leader_uuid)
                w.seen = {u: [] for u in w.seen}
                if isinstance(leader, ZyreNode):
                    leader.leave("BOSS")
                else:
                    await leader.leave("BOSS")
                rest = [u for u in members if u != leader_uuid]
                await w.until(lambda: all(w.last_leader(u, "BOSS") == min(rest) for u in rest),
                              f"the other three reporting leader {min(rest)}")
            finally:
                for n in ours:
                    await n.stop()

    # zyre's own election can stall for good when a wave and a JOIN cross (its echo count is
    # compared with == against the group's size: spec/election.md#zyre-stalls); that is zyre's race, not a
    # disagreement, so a stalled attempt is run once more with fresh nodes. Two stalls fail.
    try:
        run(main)
    except AssertionError as first:
        if "reporting leader" not in str(first):
            raise
        print(f"first attempt stalled, retrying once: {str(first)[:300]}")
        run(main)
