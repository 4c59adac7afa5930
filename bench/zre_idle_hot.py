"""Hot cost of the ZRE node's idle path, one core function at a time (bench/RESULTS.md, "idle path").

    python bench/zre_idle_hot.py [--tree DIR]

On one ``NodeCore`` (no I/O): ``fastpath.handle_messages`` on one-message batches of PING (the
answer is built) and PING-OK, on a batch of 1000 SHOUTs, and one reap tick
(``handle_timer(now, fastpath.reap)``) of a node with 98 ready peers of which 10 are due.
Best of 7 runs (of 50 for the tick), in µs. These are the costs with warm caches; in a 99-node
mesh the same work costs several times more (bench/zre_mesh_probe.py ``idle`` and ``calls``).
Compare trees in turns (``--tree`` imports the zre_ref of another checkout).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7


def best_us(run: Any, count: int, runs: int = RUNS) -> float:
    """Best of ``runs`` of ``run()`` (which returns the seconds it measured), per item, in µs."""
    return min(run() for _ in range(runs)) / count * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=ROOT, help="import zre_ref from this tree")
    args = ap.parse_args()
    sys.path.insert(0, str(args.tree))
    from zre_ref.zre import fastpath
    from zre_ref.zre.beacon import Beacon
    from zre_ref.zre.messages import ZRE, Hello, Ping, PingOk, Shout
    from zre_ref.zre.node import NodeCore

    def node_with(peers: range, heard: float = 0.0) -> NodeCore:
        """A started node and ready peers (beacon, then HELLO), peer n heard at n * heard."""
        node = NodeCore(bytes(16), "me", endpoint="tcp://127.0.0.1:5670")
        node.start(0.0)
        for n in peers:
            uuid = bytes([n]) * 16
            node.handle_beacon(Beacon(uuid=uuid, port=6000), f"127.0.0.{n}", n * heard)
            node.handle_message(b"\x01" + uuid, ZRE.encode(Hello(
                sequence=1, endpoint=f"tcp://127.0.0.{n}:6000", groups=("G",), status=0,
                name=f"p{n}", headers={})), n * heard)
        return node

    node = node_with(range(7, 8))
    peer = node.peer((bytes([7]) * 16).hex())
    assert peer is not None
    identity = b"\x01" + bytes([7]) * 16

    def in_sequence(make: Any, count: int) -> list[list[bytes]]:
        assert peer is not None
        return [[identity, *ZRE.encode(make((peer.want_sequence + 1 + i) % 65536))]
                for i in range(count)]

    def one_message_batches(make: Any, count: int = 20000) -> float:
        batches = [[m] for m in in_sequence(make, count)]
        handle = fastpath.handle_messages
        t0 = time.perf_counter()
        for batch in batches:
            handle(node, batch, 3.0)
        return time.perf_counter() - t0

    def shout_batch(count: int = 1000) -> float:
        batch = in_sequence(lambda s: Shout(sequence=s, group="G", content=(b"x" * 64,)), count)
        t0 = time.perf_counter()
        fastpath.handle_messages(node, batch, 3.0)
        return time.perf_counter() - t0

    def reap_tick() -> float:
        ticked = node_with(range(20, 118), heard=0.1)  # peer n evasive at n / 10 + 5
        t0 = time.perf_counter()
        ticked.handle_timer(7.95, fastpath.reap)  # peers 20-29 due
        return time.perf_counter() - t0

    pings = best_us(lambda: one_message_batches(lambda s: Ping(sequence=s)), 20000)
    ping_oks = best_us(lambda: one_message_batches(lambda s: PingOk(sequence=s)), 20000)
    print(f"{args.tree}:")
    print(f"  PING received (one-message batch, answer built)  {pings:.2f} us")
    print(f"  PING-OK received (one-message batch)             {ping_oks:.2f} us")
    print(f"  SHOUT received, batch of 1000                    {best_us(shout_batch, 1000):.3f} us/msg")
    print(f"  reap tick, 98 peers, 10 due                      {best_us(reap_tick, 1, 50):.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
