"""ZPIPES throughput: MB/s through the broker for 64 KiB writes, against a plain TCP copy of the
same bytes in the same run (target: ratio >= 0.5). Writer, broker and reader share one event loop,
as do the two ends of the TCP copy, so both sides pay the same scheduling costs.

    python bench/zpipes_throughput.py [--mb 100] [--rounds 3] [--out /tmp/bench-zpipes.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from zre_ref.aio import zpipes

CHUNK = 64 * 1024


async def tcp_copy(data: bytes) -> float:
    """Seconds to copy ``data`` over one loopback TCP connection (asyncio streams)."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        n = 0
        while chunk := await r.read(CHUNK):
            n += len(chunk)
        done.set_result(n)
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    t = time.perf_counter()
    _, w = await asyncio.open_connection("127.0.0.1", port)
    for i in range(0, len(data), CHUNK):
        w.write(data[i:i + CHUNK])
        await w.drain()
    w.close()
    n = await done
    dt = time.perf_counter() - t
    srv.close()
    if n != len(data):
        raise SystemExit(f"tcp copy lost bytes: {n} != {len(data)}")
    return dt


async def zpipes_copy(data: bytes) -> float:
    """Seconds to move ``data`` writer -> broker -> reader, 64 KiB writes, 64 KiB reads."""
    broker = zpipes.ZpipesBroker()
    ep = await broker.bind("tcp://127.0.0.1:*")
    broker.start()
    try:
        async def writer() -> None:
            async with zpipes.open(ep, "bench", "w") as p:
                for i in range(0, len(data), CHUNK):
                    await p.write(data[i:i + CHUNK])

        async def reader() -> int:
            n = 0
            async with zpipes.open(ep, "bench", "r") as p:
                while chunk := await p.read(CHUNK):
                    n += len(chunk)
            return n

        t = time.perf_counter()
        _, n = await asyncio.gather(writer(), reader())
        dt = time.perf_counter() - t
        if n != len(data):
            raise SystemExit(f"zpipes lost bytes: {n} != {len(data)}")
        return dt
    finally:
        await broker.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100, help="megabytes per round (default 100)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="/tmp/bench-zpipes.txt")
    args = ap.parse_args(argv)
    data = os.urandom(args.mb * 1_000_000)
    tcp, zp = [], []
    for _ in range(args.rounds):
        tcp.append(len(data) / asyncio.run(tcp_copy(data)) / 1e6)
        zp.append(len(data) / asyncio.run(zpipes_copy(data)) / 1e6)
    t, z = statistics.median(tcp), statistics.median(zp)
    cmd = "python bench/zpipes_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"command: {cmd.strip()}\n"
            f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.mb} MB x {args.rounds} rounds, "
            f"64 KiB writes, medians\n"
            f"plain TCP copy (asyncio streams): {t:8.1f} MB/s  rounds {[round(x) for x in tcp]}\n"
            f"ZPIPES via broker:                {z:8.1f} MB/s  rounds {[round(x) for x in zp]}\n"
            f"ratio ZPIPES / TCP: {z / t:.2f} (target >= 0.5)\n")
    print(text, end="")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
