"""ZMTP CURVE cost: zre_ref's pure-Python CurveZMQ against pyzmq (libzmq + libsodium), same run.

    python bench/zmtp_curve.py            # full run (~1 min)
    python bench/zmtp_curve.py --quick    # a few seconds

* handshake, per side: CPU time of zre_ref's client and server handshake steps (sans-IO, HELLO
  to READY: key generation, four X25519 each, the boxes), median of N;
* handshake, live: wall time from connect() to the first reply over loopback TCP (both ends in
  one process), median of N, zre_ref and pyzmq, CURVE and NULL;
* DEALER -> ROUTER throughput at 64 B (msg/s) and 64 KiB (MB/s at the receiver), sender and
  receiver in two processes, zre_ref and pyzmq, CURVE and NULL.

Floors (issue 13): handshake <= 50 ms per side, >= 10,000 msg/s at 64 B, >= 2 MB/s at 64 KiB.
Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

SIZES = (64, 64 * 1024)
#: messages per throughput run (full, quick)
COUNTS = {64: (40_000, 8_000), 64 * 1024: (600, 150)}
HANDSHAKES = (30, 8)
HWM = 1000


def _keys() -> dict[str, bytes]:
    from zre_ref.curve import curve_keypair

    sp, ss = curve_keypair()
    cp, cs = curve_keypair()
    return {"sp": sp, "ss": ss, "cp": cp, "cs": cs}


def _ours_opts(keys: dict[str, bytes] | None, server: bool) -> dict[str, Any]:
    if keys is None:
        return {}
    if server:
        return {"curve_server": True, "curve_publickey": keys["sp"], "curve_secretkey": keys["ss"]}
    return {"curve_serverkey": keys["sp"], "curve_publickey": keys["cp"],
            "curve_secretkey": keys["cs"]}


def _zmq_setup(sock: Any, keys: dict[str, bytes] | None, server: bool) -> None:
    if keys is None:
        return
    if server:
        sock.curve_server = True
        sock.curve_secretkey = keys["ss"]
        sock.curve_publickey = keys["sp"]
    else:
        sock.curve_serverkey = keys["sp"]
        sock.curve_publickey = keys["cp"]
        sock.curve_secretkey = keys["cs"]


# -- handshake ----------------------------------------------------------------------------------
def handshake_cpu(n: int) -> tuple[float, float]:
    """Median CPU seconds of (client side, server side) of one sans-IO CURVE handshake."""
    from zre_ref.zmtp import curve as zc
    from zre_ref.zmtp.commands import encode_metadata

    k = _keys()
    client_s = zc.CurveClient.from_keys(k["sp"], k["cp"], k["cs"])
    server_s = zc.CurveServer.from_keys(k["sp"], k["ss"])
    md_c = encode_metadata({"Socket-Type": b"DEALER", "Identity": b""})
    md_s = encode_metadata({"Socket-Type": b"ROUTER", "Identity": b""})
    cl, sv = [], []
    for _ in range(n):
        t = time.process_time()
        client = zc.CurveClientHandshake(client_s, md_c)
        hello = client.hello()
        tc = time.process_time() - t
        t = time.process_time()
        server = zc.CurveServerHandshake(server_s)
        welcome = server.on_hello(hello)
        ts = time.process_time() - t
        t = time.process_time()
        initiate = client.on_command(welcome)
        tc += time.process_time() - t
        t = time.process_time()
        server.on_initiate(initiate)
        ready = server.ready(md_s)
        server.cipher()
        ts += time.process_time() - t
        t = time.process_time()
        client.on_ready(ready)
        client.cipher()
        tc += time.process_time() - t
        cl.append(tc)
        sv.append(ts)
    return statistics.median(cl), statistics.median(sv)


def ours_handshake_live(n: int, curve: bool) -> float:
    from zre_ref.aio.zmtp import Socket

    async def one(keys: dict[str, bytes] | None) -> float:
        r = Socket("ROUTER", **_ours_opts(keys, True))
        endpoint = await r.bind("tcp://127.0.0.1:*")
        d = Socket("DEALER", **_ours_opts(keys, False))
        t0 = time.perf_counter()
        await d.connect(endpoint)
        await d.send_multipart([b"x"])
        ident, _ = await asyncio.wait_for(r.recv_multipart(), 10)
        await r.send_multipart([ident, b"y"])
        await asyncio.wait_for(d.recv_multipart(), 10)
        dt = time.perf_counter() - t0
        d.close()
        r.close()
        return dt

    async def run() -> float:
        keys = _keys() if curve else None
        return statistics.median([await one(keys) for _ in range(n)])

    return asyncio.run(run())


def zmq_handshake_live(n: int, curve: bool) -> float:
    import zmq

    ctx = zmq.Context()
    keys = _keys() if curve else None
    times = []
    for _ in range(n):
        r = ctx.socket(zmq.ROUTER)
        _zmq_setup(r, keys, True)
        port = r.bind_to_random_port("tcp://127.0.0.1")
        d = ctx.socket(zmq.DEALER)
        _zmq_setup(d, keys, False)
        t0 = time.perf_counter()
        d.connect(f"tcp://127.0.0.1:{port}")
        d.send(b"x")
        ident, _ = r.recv_multipart()
        r.send_multipart([ident, b"y"])
        d.recv()
        times.append(time.perf_counter() - t0)
        d.close(0)
        r.close(0)
    ctx.term()
    return statistics.median(times)


# -- throughput ---------------------------------------------------------------------------------
def _ours_sender(endpoint: str, size: int, count: int, keys: dict[str, bytes] | None) -> None:
    from zre_ref.aio.zmtp import Socket

    async def run() -> None:
        s = Socket("DEALER", identity=b"sender", sndhwm=HWM, **_ours_opts(keys, False))
        await s.connect(endpoint)
        msg = [b"x" * size]
        for _ in range(count):
            await s.send_multipart(msg)
        await s.recv_multipart()  # the receiver's "done"
        s.close()

    asyncio.run(run())


def ours_throughput(size: int, count: int, curve: bool) -> float:
    from zre_ref.aio.zmtp import Socket

    async def run() -> float:
        keys = _keys() if curve else None
        r = Socket("ROUTER", rcvhwm=HWM, **_ours_opts(keys, True))
        endpoint = await r.bind("tcp://127.0.0.1:*")
        proc = mp.Process(target=_ours_sender, args=(endpoint, size, count, keys))
        proc.start()
        recv = r.recv_multipart
        first = await recv()
        t0 = time.perf_counter()
        for _ in range(count - 1):
            await recv()
        dt = time.perf_counter() - t0
        await r.send_multipart([bytes(first[0]), b"done"])
        await asyncio.get_running_loop().run_in_executor(None, proc.join, 30)
        r.close()
        return (count - 1) / dt

    return asyncio.run(run())


def _zmq_sender(endpoint: str, size: int, count: int, keys: dict[str, bytes] | None) -> None:
    import zmq

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    _zmq_setup(s, keys, False)
    s.sndhwm = HWM
    s.connect(endpoint)
    msg = b"x" * size
    for _ in range(count):
        s.send(msg)
    s.recv()
    s.close(0)
    ctx.term()


def zmq_throughput(size: int, count: int, curve: bool) -> float:
    import zmq

    keys = _keys() if curve else None
    ctx = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    _zmq_setup(r, keys, True)
    r.rcvhwm = HWM
    port = r.bind_to_random_port("tcp://127.0.0.1")
    proc = mp.Process(target=_zmq_sender, args=(f"tcp://127.0.0.1:{port}", size, count, keys))
    proc.start()
    first = r.recv_multipart()
    t0 = time.perf_counter()
    for _ in range(count - 1):
        r.recv_multipart()
    dt = time.perf_counter() - t0
    r.send_multipart([first[0], b"done"])
    proc.join(30)
    r.close(0)
    ctx.term()
    return (count - 1) / dt


# -- report -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run")
    args = ap.parse_args(argv)
    q = 1 if args.quick else 0
    try:
        import zmq
    except ImportError:
        print("pyzmq is not installed: pip install pyzmq", file=sys.stderr)
        return 2
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}  python "
          f"{sys.version.split()[0]}  libzmq {zmq.zmq_version()}  cpus {os.cpu_count()}  "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    client, server = handshake_cpu(HANDSHAKES[q])
    print(f"{'CURVE handshake CPU, sans-IO':<34} client {client * 1e3:6.1f} ms   "
          f"server {server * 1e3:6.1f} ms   (floor 50 ms per side)", flush=True)
    print(f"{'test':<34}{'zre_ref CURVE':>16}{'pyzmq CURVE':>14}{'ratio':>8}"
          f"{'zre_ref NULL':>15}{'pyzmq NULL':>13}", flush=True)
    n = HANDSHAKES[q]
    live = {(impl, curve): fn(n, curve) for impl, fn in (("ours", ours_handshake_live),
                                                         ("zmq", zmq_handshake_live))
            for curve in (True, False)}
    print(f"{'connect -> first reply (ms)':<34}{live['ours', True] * 1e3:>16.1f}"
          f"{live['zmq', True] * 1e3:>14.2f}{live['ours', True] / live['zmq', True]:>7.0f}x"
          f"{live['ours', False] * 1e3:>15.1f}{live['zmq', False] * 1e3:>13.2f}", flush=True)
    for size in SIZES:
        count = COUNTS[size][q]
        rates = {(impl, curve): fn(size, count, curve)
                 for impl, fn in (("ours", ours_throughput), ("zmq", zmq_throughput))
                 for curve in (True, False)}
        unit, scale, fmt = ("msg/s", 1.0, "{:,.0f}") if size < 1024 else ("MB/s", size / 1e6,
                                                                          "{:,.1f}")
        cell = {k: fmt.format(v * scale) for k, v in rates.items()}
        ratio = rates["ours", True] / rates["zmq", True]
        print(f"{f'DEALER->ROUTER {size} B ({unit})':<34}{cell['ours', True]:>16}"
              f"{cell['zmq', True]:>14}{ratio:>8.3f}{cell['ours', False]:>15}"
              f"{cell['zmq', False]:>13}", flush=True)
    print("ratio = zre_ref CURVE / pyzmq CURVE (live handshake: how many times slower; "
          "throughput: fraction of libzmq's rate)")
    return 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
