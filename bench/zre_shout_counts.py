"""What one SHOUT to one peer costs: bench/zre_node.py's SHOUT-to-1 figure in a probe that can
count.

    python bench/zre_shout_counts.py [--messages N] [--tree DIR] [--calls [--top K]]

One process, one loop, as ``ref_shout``: node s shouts N x 64 B to group G, node r's
application reads them with ``await r.recv()``. Prints messages per second, the process's CPU
(user + sys) per message and the garbage collector's passes per generation; ``--calls`` counts
Python calls per message with cProfile instead (deterministic, unlike the times). ``--tree``
measures another checkout with this same probe.

The instructions per message are steadier still on a shared host (valgrind; the difference
of two runs cancels start-up):

    for n in 10000 30000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/zre_shout_counts.py --messages $n 2>&1 | grep Collected; done
    # (Ir(30000) - Ir(10000)) / 20000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
ap.add_argument("--messages", type=int, default=50_000)
ap.add_argument("--calls", action="store_true", help="count Python calls per message (cProfile)")
ap.add_argument("--top", type=int, default=25, help="with --calls: the functions called most")
args = ap.parse_args()
sys.path.insert(0, args.tree)

from zre_ref.aio.zre import ZreNode  # noqa: E402
from zre_ref.zre.events import PeerEntered, PeerJoined, ShoutReceived  # noqa: E402


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def wait_for(node: ZreNode, kind: type, count: int = 1) -> None:
    n = 0
    while n < count:
        if isinstance(await asyncio.wait_for(node.recv(), 10), kind):
            n += 1


async def main() -> None:
    m = args.messages
    s = ZreNode("s", beacon=False, sndhwm=max(3000, m))
    await s.start()
    r = ZreNode("r", beacon=False)
    await r.start()
    await r.join("G")
    await s.connect_peer(r.endpoint)
    await wait_for(s, PeerJoined)
    await wait_for(r, PeerEntered)

    async def drain() -> None:
        got = 0
        while got < m:
            if isinstance(await r.recv(), ShoutReceived):
                got += 1

    profile = cProfile.Profile() if args.calls else None
    gc0 = [g["collections"] for g in gc.get_stats()]
    t0, c0 = time.perf_counter(), cpu_s()
    if profile is not None:
        profile.enable()
    task = asyncio.create_task(drain())
    for _ in range(m):
        await s.shout("G", b"x" * 64)
    await asyncio.wait_for(task, 120)
    if profile is not None:
        profile.disable()
    dt, cpu = time.perf_counter() - t0, cpu_s() - c0
    gc1 = [g["collections"] for g in gc.get_stats()]
    await s.stop()
    await r.stop()
    if profile is None:
        print(f"tree {args.tree}: {m / dt:,.0f} msg/s, {1e6 * cpu / m:.2f} us CPU/msg, "
              f"gc passes by generation {[b - a for a, b in zip(gc0, gc1, strict=True)]}")
        return
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    # (dataclass __init__s all share the label <string>:2: pstats keeps one of them)
    print(f"tree {args.tree}: Python calls per message "
          f"{sum(row[1] for row in stats.values()) / m:.2f} (cProfile)")
    for (file, line, fn), row in sorted(stats.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f"{row[1] / m:8.3f}  {Path(file).name}:{line}({fn})")


asyncio.run(main())
