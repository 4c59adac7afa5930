"""A bad value from one peer only affects that peer; nothing is lost silently (issue 10 item 3;
spec/zre.md#limits)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.test_aio_zre import expect, run
from tests.waiting import until
from zre_ref.aio.zmtp import Socket
from zre_ref.aio.zre import ZreNode
from zre_ref.zmtp.commands import Ready, encode_command
from zre_ref.zmtp.frames import encode_frame
from zre_ref.zmtp.greeting import greeting_stages
from zre_ref.zmtp.receiver import FRAME_OVERHEAD
from zre_ref.zre.events import PeerEntered, WhisperReceived
from zre_ref.zre.messages import ZRE, Hello, Whisper
from zre_ref.zre.node import MAX_PEER_GROUPS

pytestmark = pytest.mark.net

BAD_ENDPOINTS = ["garbage", "tcp://*:5", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999",
                 "ipc:///tmp/zre-hostile", "udp://127.0.0.1:5670", ""]


def _hello(endpoint: str, name: str) -> list[bytes]:
    return ZRE.encode(Hello(sequence=1, endpoint=endpoint, groups=(), status=0, name=name,
                            headers={}))


def test_2000_whispers_from_a_good_peer_arrive_while_a_bad_one_sends_garbage_endpoints() -> None:
    async def main() -> None:
        async with ZreNode("victim", beacon=False) as victim, Socket("ROUTER") as inbox:
            good_uuid = os.urandom(16)
            inbox_ep = await inbox.bind("tcp://127.0.0.1:*")
            async with Socket("DEALER", identity=b"\x01" + good_uuid, sndhwm=10_000) as good:
                await good.connect(victim.endpoint)
                await good.send_multipart(_hello(inbox_ep, "good"))
                await expect(victim, PeerEntered, lambda e: e.peer_uuid == good_uuid.hex().upper())
                bad = [Socket("DEALER", identity=b"\x01" + os.urandom(16), sndhwm=10_000)
                       for _ in range(3)]
                try:
                    for b in bad:
                        await b.connect(victim.endpoint)
                    for i in range(2000):
                        if i % 5 == 0:  # a bad HELLO, then good WHISPERs in the same batch
                            endpoint = BAD_ENDPOINTS[i // 5 % len(BAD_ENDPOINTS)]
                            bad[i % 3].send_multipart_nowait(_hello(endpoint, "bad"))
                        good.send_multipart_nowait(ZRE.encode(Whisper(
                            sequence=i + 2, content=(i.to_bytes(2, "big"),))))
                        if i % 5 == 4:
                            await asyncio.sleep(0.001)  # the senders' pace (was: 0-1,200 of 2,000)
                    got: set[int] = set()
                    while len(got) < 2000:
                        ev = await expect(victim, WhisperReceived, timeout=10)
                        got.add(int.from_bytes(ev.content[0], "big"))
                finally:
                    for b in bad:
                        b.close()
            assert got == set(range(2000))
            assert victim.peers() == [good_uuid.hex().upper()]
            assert victim.core.stats.refused_peers >= 100
            assert victim.core.stats.sequence_gaps == 0
    run(main)


def test_an_effect_that_fails_only_drops_its_own_link(caplog: Any) -> None:
    """Direct endpoints given by the application are not checked by the core: one that cannot
    be connected fails when its ConnectPeer is applied; the rest of that batch (the good link,
    the timer) still happens, and the failure is logged once."""
    async def main() -> None:
        async with ZreNode("b", beacon=False) as b:
            a = ZreNode("a", beacon=False, connect=["tcp://*:5", "ipc://", b.endpoint],
                        evasive=0.2, expired=0.6)
            async with a:
                await expect(a, PeerEntered, lambda e: e.peer_uuid == b.uuid)
                assert a.core.stats.link_failures == 2
                assert a.core.next_deadline() is not None
                for _ in range(3):  # the reap tick re-opens direct links: still logged once
                    await a.connect_peer("tcp://*:5")
            failures = [r for r in caplog.records if "link" in r.getMessage()
                        and "failed" in r.getMessage() and r.levelno >= logging.WARNING]
            assert 1 <= len(failures) <= 2, [r.getMessage() for r in failures]
    with caplog.at_level(logging.WARNING):
        run(main)


def test_pending_events_are_bounded_in_bytes_and_nothing_is_lost() -> None:
    """An application that reads slowly: the node stops reading its ROUTER once the pending
    events pass max_pending_bytes, and every message still arrives, in order."""
    async def main() -> None:
        budget = 256 * 1024
        async with ZreNode("victim", beacon=False, max_pending_bytes=budget) as victim, \
                Socket("ROUTER") as inbox:
            inbox_ep = await inbox.bind("tcp://127.0.0.1:*")
            uuid = os.urandom(16)
            async with Socket("DEALER", identity=b"\x01" + uuid, sndhwm=10_000) as peer:
                await peer.connect(victim.endpoint)
                await peer.send_multipart(_hello(inbox_ep, "big-sender"))
                await expect(victim, PeerEntered)
                chunk = 32 * 1024
                for i in range(200):  # 6.4 MB, 25 times the budget
                    await peer.send_multipart(ZRE.encode(Whisper(
                        sequence=i + 2, content=(i.to_bytes(2, "big") + bytes(chunk),))))
                highest = 0
                got: list[int] = []
                while len(got) < 200:
                    highest = max(highest, victim.pending_bytes)
                    ev = await expect(victim, WhisperReceived, timeout=10)
                    got.append(int.from_bytes(ev.content[0][:2], "big"))
                    await asyncio.sleep(0)  # a slow reader
                assert got == list(range(200))
                assert highest <= budget + chunk + 1024, highest
    run(main)


def test_hellos_that_fan_out_cannot_pass_max_pending_events() -> None:
    """HELLOs listing 4096 groups, alternating between two sets (each a restart or an answer
    with 8192 JOIN/LEAVE events), sent to a node whose application does not read: the events
    waiting stay within max_pending_events plus one message's fan-out, and the view of the
    peer's groups ends right."""
    async def main() -> None:
        limit = 1000
        fan_out = 2 + 2 * MAX_PEER_GROUPS
        async with ZreNode("victim", beacon=False, max_pending_events=limit) as victim, \
                Socket("ROUTER") as inbox:
            inbox_ep = await inbox.bind("tcp://127.0.0.1:*")
            uuid = os.urandom(16)
            sets = [tuple(f"a{i}" for i in range(MAX_PEER_GROUPS)),
                    tuple(f"b{i}" for i in range(MAX_PEER_GROUPS))]
            async with Socket("DEALER", identity=b"\x01" + uuid) as peer:
                await peer.connect(victim.endpoint)
                for n in range(20):
                    await peer.send_multipart(ZRE.encode(Hello(
                        sequence=1, endpoint=inbox_ep, groups=sets[n % 2], status=n % 256,
                        name="fan", headers={})))
                highest = 0
                loop = asyncio.get_running_loop()
                until = loop.time() + 10
                while loop.time() < until:
                    await asyncio.sleep(0.01)  # let the node read, as a slow application would
                    highest = max(highest, victim.pending_events)
                    while victim.recv_nowait() is not None:
                        pass
                    view = victim.core.peer(uuid.hex().upper())
                    if view is not None and view.groups == set(sets[1]) and \
                            victim.core.stats.hello_rebuilds + victim.core.stats.regreetings >= 19:
                        break
                assert highest <= limit + fan_out, highest
                assert view is not None and view.groups == set(sets[1])
    run(main)


def test_a_nodes_dealers_share_one_receive_budget_and_only_the_link_over_it_closes() -> None:
    """A ZRE peer never sends on our DEALER; two that do, each leaving a message unfinished,
    share the node's one DEALER budget (zre_links.PeerLinks): the link that would pass it is
    closed, the other keeps what it holds, and a good peer is served throughout."""
    limit = 64 * 1024
    part = encode_frame(b"x" * 10_000, more=True)  # under BIG_FRAME: counted as it arrives

    async def main() -> None:
        async with ZreNode("victim", beacon=False) as victim, ZreNode("good", beacon=False) as good:
            budget = victim._links.receive_budget
            budget.limit = limit  # test-sized; the default is MAX_UNFINISHED_BYTES
            await victim.connect_peer(good.endpoint)
            await expect(victim, PeerEntered, lambda e: e.peer_uuid == good.uuid)
            closed = [asyncio.Event(), asyncio.Event()]

            def hostile(i: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                            Awaitable[None]]:
                async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    await reader.readexactly(64)  # the victim DEALER's greeting
                    writer.write(b"".join(greeting_stages("NULL")) + encode_frame(
                        encode_command(Ready({"Socket-Type": b"ROUTER"})), command=True))
                    writer.write(part * 4)  # 40 KB + overhead of one unfinished message
                    while await reader.read(65536):
                        pass
                    closed[i].set()
                    writer.close()
                return serve

            servers = [await asyncio.start_server(hostile(i), "127.0.0.1", 0) for i in range(2)]
            senders = [Socket("DEALER", identity=b"\x01" + os.urandom(16)) for _ in range(2)]
            try:
                for i, (server, sender) in enumerate(zip(servers, senders, strict=True)):
                    port = server.sockets[0].getsockname()[1]
                    await sender.connect(victim.endpoint)
                    await sender.send_multipart(_hello(f"tcp://127.0.0.1:{port}", f"h{i}"))
                    if i == 0:
                        await until(lambda: budget.used == 4 * (10_000 + FRAME_OVERHEAD), 10.0)
                await asyncio.wait_for(closed[1].wait(), 10.0)  # over the shared budget
                assert not closed[0].is_set()
                assert budget.used == 4 * (10_000 + FRAME_OVERHEAD) <= limit
                assert len(victim._links) == 3
                assert all(s._budget is budget for s in victim._links.sockets.values())
                await victim.whisper(good.uuid, b"still served")
                ev = await expect(good, WhisperReceived)
                assert ev.content == (b"still served",)
            finally:
                for sender in senders:
                    sender.close()
                for server in servers:
                    server.close()
    run(main)
