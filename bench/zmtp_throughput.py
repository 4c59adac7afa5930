"""ZMTP throughput and latency: zre_ref's asyncio sockets against pyzmq (libzmq), same run.

    python bench/zmtp_throughput.py              # full run (~1 min)
    python bench/zmtp_throughput.py --quick      # a few seconds
    python bench/zmtp_throughput.py --repeat 3   # each figure the median of 3 runs

DEALER -> ROUTER over loopback TCP at 64 B, 1 KiB, 64 KiB and 1 MiB (messages/s and MB/s at the
receiver), and a 64 B DEALER/ROUTER ping-pong (round-trip time). Sender and receiver run in two
processes for both implementations (libzmq has its own I/O threads; asyncio has one loop each).
From 64 KiB up both receivers take frames without a copy: pyzmq ``copy=False`` (zmq.Frame),
zre_ref ``recv_multipart(copy=False)`` (bytearray); senders pass the same bytes object each time.
The cpu column is the CPU time (user + sys, all threads) of sender and receiver per message,
which says more than the rate when other jobs share the machine. Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from multiprocessing.connection import Connection

SIZES = [64, 1024, 64 * 1024, 1024 * 1024]
# total bytes per size-run (full, quick)
VOLUME = {64: (40_000_000, 6_000_000), 1024: (400_000_000, 60_000_000),
          64 * 1024: (2_000_000_000, 300_000_000), 1024 * 1024: (4_000_000_000, 600_000_000)}
MIN_MSGS = 200
RTT_COUNT = (20_000, 3_000)
#: receivers take frames of this size or more without a copy (both implementations)
NO_COPY = 64 * 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _hwm(size: int) -> int:
    return 1000 if size <= 64 * 1024 else 100


# -- zre_ref ------------------------------------------------------------------------------------
def _ours_sender(endpoint: str, size: int, count: int, report: Connection) -> None:
    from zre_ref.aio.zmtp import Socket

    async def run() -> None:
        s = Socket("DEALER", identity=b"sender", sndhwm=_hwm(size))
        await s.connect(endpoint)
        msg = [b"x" * size]
        send = s.send_multipart
        c0 = _cpu()
        for _ in range(count):
            await send(msg)
        await s.recv_multipart()  # the receiver's "done": keeps the socket open until drained
        report.send(_cpu() - c0)
        s.close()

    asyncio.run(run())


def _ours_throughput(size: int, count: int) -> tuple[float, float]:
    """(seconds for count - 1 messages, CPU seconds of both processes)."""
    from zre_ref.aio.zmtp import Socket

    async def run() -> tuple[float, float]:
        r = Socket("ROUTER", rcvhwm=_hwm(size))
        endpoint = await r.bind("tcp://127.0.0.1:*")
        mine, theirs = mp.Pipe()
        proc = mp.Process(target=_ours_sender, args=(endpoint, size, count, theirs))
        proc.start()
        copy = size < NO_COPY
        recv = r.recv_multipart
        first = await recv(copy=copy)
        t0 = time.perf_counter()
        c0 = _cpu()
        for _ in range(count - 1):
            await recv(copy=copy)
        dt = time.perf_counter() - t0
        cpu = _cpu() - c0
        await r.send_multipart([bytes(first[0]), b"done"])
        loop = asyncio.get_running_loop()
        cpu += await loop.run_in_executor(None, mine.recv)
        await asyncio.sleep(0.05)
        r.close()
        await loop.run_in_executor(None, proc.join)
        return dt, cpu

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
def _zmq_sender(endpoint: str, size: int, count: int, report: Connection) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.sndhwm = _hwm(size)
    s.identity = b"sender"
    s.connect(endpoint)
    msg = b"x" * size
    copy = size < NO_COPY
    c0 = _cpu()
    for _ in range(count):
        s.send(msg, copy=copy)
    s.recv()
    report.send(_cpu() - c0)
    s.close(0)
    ctx.term()


def _zmq_throughput(size: int, count: int) -> tuple[float, float]:
    import zmq

    ctx = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    r.rcvhwm = _hwm(size)
    port = r.bind_to_random_port("tcp://127.0.0.1")
    mine, theirs = mp.Pipe()
    proc = mp.Process(target=_zmq_sender, args=(f"tcp://127.0.0.1:{port}", size, count, theirs))
    proc.start()
    copy = size < NO_COPY
    first = r.recv_multipart()
    t0 = time.perf_counter()
    c0 = _cpu()
    for _ in range(count - 1):
        r.recv_multipart(copy=copy)
    dt = time.perf_counter() - t0
    cpu = _cpu() - c0
    r.send_multipart([first[0], b"done"])
    cpu += mine.recv()
    proc.join()
    r.close(0)
    ctx.term()
    return dt, cpu


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


def _rate_cell(rate: float | None, size: int) -> str:
    if rate is None:
        return "-"
    return f"{rate:>10,.0f} msg/s {rate * size / 1e6:>7,.0f}MB/s"


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours and theirs else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run")
    ap.add_argument("--only", choices=["ours", "pyzmq"], help="run one side only")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run every test N times (alternating sides); report medians")
    ap.add_argument("--sizes", help="comma-separated message sizes in bytes (default: "
                    + ",".join(map(str, SIZES)) + ")")
    ap.add_argument("--no-rtt", action="store_true", help="skip the ping-pong test")
    args = ap.parse_args(argv)
    q = 1 if args.quick else 0
    try:
        import zmq  # noqa: F401
    except ImportError:
        if args.only != "ours":
            print("pyzmq is not installed: pip install pyzmq (or --only ours)", file=sys.stderr)
            return 2
    sides = [s for s in ("ours", "pyzmq") if not args.only or args.only == s]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  python "
          f"{sys.version.split()[0]}  cpus {os.cpu_count()}  load {os.getloadavg()[0]:.2f}"
          f"  repeat {args.repeat}", flush=True)
    print(f"{'test':<24}{'zre_ref':>26}{'pyzmq':>26}{'ratio':>8}"
          f"{'cpu us/msg ours':>17}{'pyzmq':>8}")
    for size in sizes:
        count = max(MIN_MSGS, VOLUME.get(size, (400_000_000, 60_000_000))[q] // size)
        rates: dict[str, list[float]] = {s: [] for s in sides}
        cpus: dict[str, list[float]] = {s: [] for s in sides}
        for _ in range(args.repeat):
            for name in sides:
                fn = _ours_throughput if name == "ours" else _zmq_throughput
                dt, cpu = fn(size, count)
                rates[name].append((count - 1) / dt)
                cpus[name].append(cpu / count * 1e6)
        med = {s: statistics.median(rates[s]) for s in sides}
        cpu_med = {s: statistics.median(cpus[s]) for s in sides}
        line = (f"{'DEALER->ROUTER ' + _label(size):<24}{_rate_cell(med.get('ours'), size):>26}"
                f"{_rate_cell(med.get('pyzmq'), size):>26}"
                f"{_ratio(med.get('ours'), med.get('pyzmq')):>8}"
                f"{cpu_med.get('ours', 0):>17.1f}{cpu_med.get('pyzmq', 0):>8.1f}")
        print(line, flush=True)
        if args.repeat > 1:
            for s in sides:
                runs = ", ".join(f"{r:,.0f}" for r in rates[s])
                print(f"    {s} runs (msg/s): {runs}", flush=True)
    if not args.no_rtt:
        count = RTT_COUNT[q]
        rtts: dict[str, list[float]] = {s: [] for s in sides}
        for _ in range(args.repeat):
            for name in sides:
                rtts[name].append((_ours_rtt if name == "ours" else _zmq_rtt)(count))
        rtt = {s: statistics.median(rtts[s]) for s in sides}
        cells = [f"{rtt[n] * 1e6:>14.1f} us" if n in rtt else "-" for n in ("ours", "pyzmq")]
        ratio = _ratio(rtt.get("ours"), rtt.get("pyzmq"))
        print(f"{'ping-pong 64 B RTT':<24}{cells[0]:>26}{cells[1]:>26}{ratio:>8}")
        if args.repeat > 1:
            for s in sides:
                print(f"    {s} runs (us): " + ", ".join(f"{r * 1e6:.1f}" for r in rtts[s]))
    print("ratio = zre_ref / pyzmq (throughput: higher is better; RTT: lower is better)"
          + (f"; figures are medians of {args.repeat} runs" if args.repeat > 1 else ""))
    return 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
