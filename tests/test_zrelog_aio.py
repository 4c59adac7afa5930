"""ZRE/LOG over loopback: 5 publishing nodes, 2 collectors (one late, one stopped), rotation.

The nodes' ZRE events are fed by hand (the same events a ZreNode emits), so this checks the
publisher/collector plumbing and the PUB->SUB delivery; every wait is bounded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from zre_ref.aio.zrelog import JsonLines, LogCollector, LogPublisher
from zre_ref.zre.events import PeerEntered, PeerExited, PeerJoined, PeerLeft
from zre_ref.zrelog.messages import endpoint_hash

from .waiting import until

pytestmark = pytest.mark.net
NODES = [f"tcp://127.0.0.1:{6000 + i}" for i in range(5)]


def uuid(i: int) -> str:
    return f"{i:032X}"


def test_five_nodes_two_collectors_late_and_stopped(tmp_path: Path) -> None:
    async def main() -> None:
        got1: list[dict[str, Any]] = []
        got2: list[dict[str, Any]] = []
        out = tmp_path / "c1.jsonl"
        c1 = LogCollector(JsonLines(str(out), max_bytes=2000, backups=1000), on_record=got1.append)
        c2 = LogCollector(JsonLines(None, stream=open(tmp_path / "c2.out", "w")),  # noqa: SIM115
                          on_record=got2.append)
        ep1, ep2 = await c1.bind(), await c2.bind()
        c1.start()
        c2.start()
        pubs = [LogPublisher(ep) for ep in NODES]
        try:
            # every node meets collector 1's node, then every other node, who join and leave
            for p in pubs:
                await p.handle_event(PeerEntered(peer_uuid=uuid(100), peer_name="c1",
                                                 headers={"X-ZRELOG": ep1}, endpoint="tcp://c1:1"))
            for i, p in enumerate(pubs):
                for j, ep in enumerate(NODES):
                    if i != j:
                        await p.handle_event(PeerEntered(peer_uuid=uuid(j), peer_name=str(j),
                                                         endpoint=ep))
                        await p.handle_event(PeerJoined(peer_uuid=uuid(j), peer_name=str(j),
                                                        group="G"))
            await until(lambda: len(got1) == 5 * (1 + 4 * 2))
            assert got2 == []
            # collector 2 starts late: discovered, and gets everything from then on
            for p in pubs:
                await p.handle_event(PeerEntered(peer_uuid=uuid(200), peer_name="c2",
                                                 headers={"X-ZRELOG": ep2}, endpoint="tcp://c2:1"))
            for i, p in enumerate(pubs):
                for j in range(5):
                    if i != j:
                        await p.handle_event(PeerLeft(peer_uuid=uuid(j), peer_name=str(j), group="G"))
            await until(lambda: len(got2) == 5 * (1 + 4) and len(got1) == 45 + 25)
            # collector 2 stops: its node EXITs, the publishers disconnect and carry on
            await c2.close()
            for p in pubs:
                await p.handle_event(PeerExited(peer_uuid=uuid(200), peer_name="c2"))
                assert p.core.collectors == [ep1]
            for i, p in enumerate(pubs):
                for j in range(5):
                    if i != j:
                        await p.handle_event(PeerExited(peer_uuid=uuid(j), peer_name=str(j)))
            await until(lambda: len(got1) == 70 + 5 + 20)
            assert all(p.dropped == 0 for p in pubs)
        finally:
            for p in pubs:
                p.close()
            await c1.close()
            await c2.close()

        # every node's ENTER/JOIN/LEAVE/EXIT of every other node reached collector 1
        for i, ep in enumerate(NODES):
            mine = [r for r in got1 if r["node"] == f"{endpoint_hash(ep):04X}"]
            for j, other in enumerate(NODES):
                if i == j:
                    continue
                peer = f"{endpoint_hash(other):04X}"
                events = sorted(r["event"] for r in mine if r["peer"] == peer)
                assert events == ["ENTER", "EXIT", "JOIN", "LEAVE"], (i, j, events)
        assert {r["event"] for r in got2} == {"ENTER", "LEAVE"}
        # rotation kept every record, in order, across many files
        files = [*sorted(tmp_path.glob("c1.jsonl.*"), key=lambda f: -int(f.suffix[1:])), out]
        assert len(files) > 3
        lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
        assert lines == got1
        assert all(f.stat().st_size <= 2000 for f in files)

    asyncio.run(asyncio.wait_for(main(), 30))
