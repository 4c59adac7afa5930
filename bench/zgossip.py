"""Gossip discovery against UDP beacons, and election time (issue 14), zre_ref only, one process.

    python bench/zgossip.py [--sizes 10,50,99] [--elect 10,50] [--out FILE]

Discovery: N ZreNodes on loopback, started together; the figure is the time from the first start
until every node has had N-1 ENTER events. "gossip": node 0 binds the gossip service, the others
connect to it (beacons off). "beacons": every node beacons on ``lo`` every second (zyre's
default interval) on one random UDP port. Election: N nodes in gossip mode, all contesting; N-1
join the group and settle; the figure is the time from the last JOIN until every node has
reported the leader (LeaderElected).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zre_ref.aio.zre import ZreNode  # noqa: E402
from zre_ref.zre.events import LeaderElected, PeerEntered, PeerJoined  # noqa: E402

lines: list[str] = []


def say(text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def count_until(nodes: list[ZreNode], kind: type, want: int, timeout: float,
                      pred: object = None) -> None:
    """Every node reads its events until it has seen ``want`` events of ``kind``."""
    async def one(n: ZreNode) -> None:
        seen = 0
        while seen < want:
            ev = await n.recv()
            if isinstance(ev, kind) and (pred is None or pred(ev)):  # type: ignore[operator]
                seen += 1
    await asyncio.wait_for(asyncio.gather(*(one(n) for n in nodes)), timeout)


async def discovery(n: int, mode: str) -> float:
    if mode == "gossip":
        hub_ep = f"tcp://127.0.0.1:{free_port()}"
        nodes = [ZreNode(f"g{i}", gossip_bind=hub_ep if i == 0 else None,
                         gossip_connect=[] if i == 0 else [hub_ep]) for i in range(n)]
    else:
        port = free_port(socket.SOCK_DGRAM)
        nodes = [ZreNode(f"b{i}", interface="lo", port=port) for i in range(n)]
    t0 = time.perf_counter()
    try:
        for node in nodes:
            await node.start()
        await count_until(nodes, PeerEntered, n - 1, 120)
        return time.perf_counter() - t0
    finally:
        for node in nodes:
            await node.stop()


async def election(n: int) -> float:
    hub_ep = f"tcp://127.0.0.1:{free_port()}"
    nodes = [ZreNode(f"e{i}", gossip_bind=hub_ep if i == 0 else None,
                     gossip_connect=[] if i == 0 else [hub_ep]) for i in range(n)]
    try:
        for node in nodes:
            node.set_contest_in_group("BOSS")
            await node.start()
        await count_until(nodes, PeerEntered, n - 1, 120)
        first, last = nodes[:-1], nodes[-1]
        for node in first:
            await node.join("BOSS")
        await count_until(nodes, PeerJoined, n - 2, 120)  # each of the first sees n-2 others
        await asyncio.sleep(2.5)  # the partial elections the first JOINs started settle
        pick = min(x.uuid for x in first)
        t0 = time.perf_counter()
        await last.join("BOSS")
        await count_until(nodes, LeaderElected, 1, 60, lambda e: e.peer_uuid == pick)
        return time.perf_counter() - t0
    finally:
        for node in nodes:
            await node.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10,50,99")
    ap.add_argument("--elect", default="10,50")
    ap.add_argument("--out")
    args = ap.parse_args()
    random.seed()
    say("| N | gossip: full mesh | beacons (1 s): full mesh |")
    say("|---:|---:|---:|")
    for n in (int(x) for x in args.sizes.split(",") if x):
        g = asyncio.run(discovery(n, "gossip"))
        b = asyncio.run(discovery(n, "beacons"))
        say(f"| {n} | {g:.2f} s | {b:.2f} s |")
    say("")
    say("| N | election (last JOIN -> every node reports the leader) |")
    say("|---:|---:|")
    for n in (int(x) for x in args.elect.split(",") if x):
        say(f"| {n} | {asyncio.run(election(n)) * 1000:.0f} ms |")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
