"""ZMTP throughput and latency: zre_ref's asyncio sockets against pyzmq (libzmq), same run.

    python bench/zmtp_throughput.py            # full run (~1 min)
    python bench/zmtp_throughput.py --quick    # a few seconds

DEALER -> ROUTER over loopback TCP at 64 B, 1 KiB, 64 KiB and 1 MiB (messages/s and MB/s at the
receiver), and a 64 B DEALER/ROUTER ping-pong (round-trip time). Sender and receiver run in two
processes for both implementations (libzmq has its own I/O threads; asyncio has one loop each).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import time
from typing import Any

SIZES = [64, 1024, 64 * 1024, 1024 * 1024]
# total bytes per size-run (full, quick)
VOLUME = {64: (40_000_000, 6_000_000), 1024: (400_000_000, 60_000_000),
          64 * 1024: (2_000_000_000, 300_000_000), 1024 * 1024: (4_000_000_000, 600_000_000)}
MIN_MSGS = 200
RTT_COUNT = (20_000, 3_000)


# -- zre_ref ------------------------------------------------------------------------------------
def _ours_sender(endpoint: str, size: int, count: int, hwm: int) -> None:
    from zre_ref.aio.zmtp import Socket

    async def run() -> None:
        s = Socket("DEALER", identity=b"sender", sndhwm=hwm)
        await s.connect(endpoint)
        msg = [b"x" * size]
        send = s.send_multipart
        for _ in range(count):
            await send(msg)
        await s.recv_multipart()  # the receiver's "done": keeps the socket open until drained
        s.close()

    asyncio.run(run())


def _ours_throughput(size: int, count: int) -> float:
    from zre_ref.aio.zmtp import Socket

    hwm = 1000 if size <= 64 * 1024 else 100

    async def run() -> float:
        r = Socket("ROUTER", rcvhwm=hwm)
        endpoint = await r.bind("tcp://127.0.0.1:*")
        proc = mp.Process(target=_ours_sender, args=(endpoint, size, count, hwm))
        proc.start()
        recv = r.recv_multipart
        first = await recv()
        t0 = time.perf_counter()
        for _ in range(count - 1):
            await recv()
        dt = time.perf_counter() - t0
        await r.send_multipart([first[0], b"done"])
        await asyncio.sleep(0.05)
        r.close()
        await asyncio.get_running_loop().run_in_executor(None, proc.join)
        return dt

    return asyncio.run(run())


def _ours_echo(endpoint: str, count: int) -> None:
    from zre_ref.aio.zmtp import Socket

    async def run() -> None:
        s = Socket("DEALER", identity=b"echo")
        await s.connect(endpoint)
        for _ in range(count):
            await s.send_multipart(await s.recv_multipart())
        await asyncio.sleep(0.05)
        s.close()

    asyncio.run(run())


def _ours_rtt(count: int) -> float:
    from zre_ref.aio.zmtp import Socket

    async def run() -> float:
        r = Socket("ROUTER")
        endpoint = await r.bind("tcp://127.0.0.1:*")
        proc = mp.Process(target=_ours_echo, args=(endpoint, count + 100))
        proc.start()
        # wait for the peer, warm up
        while True:
            await r.send_multipart([b"echo", b"x" * 64])
            try:
                await asyncio.wait_for(r.recv_multipart(), 0.05)
                break
            except asyncio.TimeoutError:
                continue
        for _ in range(98):
            await r.send_multipart([b"echo", b"x" * 64])
            await r.recv_multipart()
        t0 = time.perf_counter()
        for _ in range(count):
            await r.send_multipart([b"echo", b"x" * 64])
            await r.recv_multipart()
        dt = time.perf_counter() - t0
        r.close()
        await asyncio.get_running_loop().run_in_executor(None, proc.join, 5)
        if proc.is_alive():
            proc.kill()
        return dt / count

    return asyncio.run(run())


# -- pyzmq --------------------------------------------------------------------------------------
def _zmq_sender(endpoint: str, size: int, count: int, hwm: int) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.sndhwm = hwm
    s.identity = b"sender"
    s.connect(endpoint)
    msg = b"x" * size
    for _ in range(count):
        s.send(msg, copy=size < 65536)
    s.recv()
    s.close(0)
    ctx.term()


def _zmq_throughput(size: int, count: int) -> float:
    import zmq

    hwm = 1000 if size <= 64 * 1024 else 100
    ctx = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    r.rcvhwm = hwm
    port = r.bind_to_random_port("tcp://127.0.0.1")
    proc = mp.Process(target=_zmq_sender, args=(f"tcp://127.0.0.1:{port}", size, count, hwm))
    proc.start()
    first = r.recv_multipart()
    t0 = time.perf_counter()
    for _ in range(count - 1):
        r.recv_multipart(copy=size < 65536)
    dt = time.perf_counter() - t0
    r.send_multipart([first[0], b"done"])
    proc.join()
    r.close(0)
    ctx.term()
    return dt


def _zmq_echo(endpoint: str, count: int) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.identity = b"echo"
    s.connect(endpoint)
    for _ in range(count):
        s.send_multipart(s.recv_multipart())
    time.sleep(0.05)
    s.close(0)
    ctx.term()


def _zmq_rtt(count: int) -> float:
    import zmq

    ctx = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    port = r.bind_to_random_port("tcp://127.0.0.1")
    proc = mp.Process(target=_zmq_echo, args=(f"tcp://127.0.0.1:{port}", count + 100))
    proc.start()
    r.rcvtimeo = 50
    while True:
        r.send_multipart([b"echo", b"x" * 64])
        try:
            r.recv_multipart()
            break
        except zmq.Again:
            continue
    r.rcvtimeo = -1
    for _ in range(98):
        r.send_multipart([b"echo", b"x" * 64])
        r.recv_multipart()
    t0 = time.perf_counter()
    for _ in range(count):
        r.send_multipart([b"echo", b"x" * 64])
        r.recv_multipart()
    dt = time.perf_counter() - t0
    proc.join(5)
    if proc.is_alive():
        proc.kill()
    r.close(0)
    ctx.term()
    return dt / count


# -- report -------------------------------------------------------------------------------------
def _label(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size >= 1 << 20 else (
        f"{size // 1024} KiB" if size >= 1024 else f"{size} B")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument("--only", choices=["ours", "pyzmq"], help="run one side only")
    args = ap.parse_args(argv)
    q = 1 if args.quick else 0
    try:
        import zmq  # noqa: F401
    except ImportError:
        if args.only != "ours":
            print("pyzmq is not installed: pip install pyzmq (or --only ours)", file=sys.stderr)
            return 2
    rows: list[tuple[str, Any, Any, str]] = []
    print(f"{'test':<24}{'zre_ref':>22}{'pyzmq':>22}{'ratio':>8}")
    for size in SIZES:
        count = max(MIN_MSGS, VOLUME[size][q] // size)
        res = {}
        for name, fn in (("ours", _ours_throughput), ("pyzmq", _zmq_throughput)):
            if args.only and args.only != name:
                continue
            dt = fn(size, count)
            res[name] = (count - 1) / dt
        cells = []
        for name in ("ours", "pyzmq"):
            if name in res:
                rate = res[name]
                cells.append(f"{rate:>10,.0f} msg/s {rate * size / 1e6:>7,.0f}MB/s")
            else:
                cells.append("-")
        ratio = f"{res['ours'] / res['pyzmq']:.2f}x" if len(res) == 2 else "-"
        line = f"{'DEALER->ROUTER ' + _label(size):<24}{cells[0]:>22}{cells[1]:>22}{ratio:>8}"
        print(line, flush=True)
        rows.append((_label(size), res.get("ours"), res.get("pyzmq"), ratio))
    count = RTT_COUNT[q]
    rtt = {}
    for name, rfn in (("ours", _ours_rtt), ("pyzmq", _zmq_rtt)):
        if args.only and args.only != name:
            continue
        rtt[name] = rfn(count)
    cells = [f"{rtt[n] * 1e6:>12.1f} us" if n in rtt else "-" for n in ("ours", "pyzmq")]
    ratio = f"{rtt['ours'] / rtt['pyzmq']:.2f}x" if len(rtt) == 2 else "-"
    print(f"{'ping-pong 64 B RTT':<24}{cells[0]:>22}{cells[1]:>22}{ratio:>8}")
    print("ratio = zre_ref / pyzmq (throughput: higher is better; RTT: lower is better)")
    return 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
