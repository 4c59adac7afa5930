"""ZRE node benchmarks: zre_ref's ZreNode against pyre, in one run (issue 4).

    sudo python bench/zre_node.py [--quick] [--out FILE]

UDP beacons never leave loopback: when run as root with iproute2, the script re-runs itself
inside a fresh network namespace that holds only ``lo`` (wire-facts §10), so pyre (which
beacons on the first real interface otherwise) can be measured too. Without that, pyre is
skipped and zre_ref uses ``interface="lo"``.

Figures: start -> ENTER latency, SHOUT 64 B to 1 peer and to 20 peers, a full mesh of N nodes
in one process, RSS and CPU per idle node, and the simulator (100-node Guide tester for 10
virtual minutes; 2000 nodes in 20 beacon segments).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zre_ref.aio.zre import ZreNode  # noqa: E402
from zre_ref.sim import Simulation, run_tester  # noqa: E402
from zre_ref.zre.events import PeerEntered, PeerJoined, ShoutReceived  # noqa: E402

PAYLOAD = b"x" * 64
lines: list[str] = []


def say(text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- zre_ref -------------------------------------------------------------------------------------
def node_kw(port: int) -> dict[str, Any]:
    return {"interface": "lo", "port": port, "beacon_interval": 1.0}


async def wait_for(node: ZreNode, kind: type, count: int = 1, timeout: float = 30.0) -> float:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    n = 0
    while n < count:
        ev = await asyncio.wait_for(node.recv(), deadline - loop.time())
        if isinstance(ev, kind):
            n += 1
    return loop.time()


async def ref_enter_latency(port: int, rounds: int) -> float:
    samples = []
    async with ZreNode("a", **node_kw(port)) as a:
        for _ in range(rounds):
            b = ZreNode("b", **node_kw(port))
            t0 = time.perf_counter()
            await b.start()
            await wait_for(a, PeerEntered)
            samples.append(time.perf_counter() - t0)
            await b.stop()
            while True:  # drain the EXIT
                ev = await asyncio.wait_for(a.recv(), 5)
                if ev.type == "EXIT":
                    break
    return statistics.median(samples)


async def ref_shout(port: int, receivers: int, messages: int) -> float:
    """Deliveries per second: one node shouts ``messages`` x 64 B to ``receivers`` peers."""
    sender = ZreNode("s", beacon=False, sndhwm=max(3000, messages))
    await sender.start()
    rx = [ZreNode(f"r{i}", beacon=False) for i in range(receivers)]
    for r in rx:
        await r.start()
        await r.join("G")
        await sender.connect_peer(r.endpoint)
    await wait_for(sender, PeerJoined, receivers)
    for r in rx:
        await wait_for(r, PeerEntered)

    async def drain(r: ZreNode) -> None:
        got = 0
        while got < messages:
            ev = await r.recv()
            if isinstance(ev, ShoutReceived):
                got += 1

    t0, c0 = time.perf_counter(), cpu_s()
    tasks = [asyncio.create_task(drain(r)) for r in rx]
    for _ in range(messages):
        await sender.shout("G", PAYLOAD)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    dt, cpu = time.perf_counter() - t0, cpu_s() - c0
    for n in [sender, *rx]:
        await n.stop()
    SHOUT_CPU_US[receivers] = 1e6 * cpu / (receivers * messages)
    return receivers * messages / dt


#: CPU time (user + sys) per delivery in the last ref_shout run, by number of receivers
SHOUT_CPU_US: dict[int, float] = {}


async def ref_mesh(port: int, n: int, idle: float) -> dict[str, float]:
    rss0 = rss_kb()
    nodes = [ZreNode(f"m{i}", **node_kw(port)) for i in range(n)]
    t0 = time.perf_counter()
    for node in nodes:
        await node.start()
    await asyncio.gather(*(wait_for(node, PeerEntered, n - 1, timeout=60) for node in nodes))
    mesh = time.perf_counter() - t0
    rss1 = rss_kb()

    async def consume(node: ZreNode) -> None:  # an application reads its events (EVASIVE ...)
        async for _ in node.events():
            pass

    readers = [asyncio.create_task(consume(node)) for node in nodes]
    c0, w0 = cpu_s(), time.perf_counter()
    await asyncio.sleep(idle)
    cpu = (cpu_s() - c0) / (time.perf_counter() - w0)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for node in nodes:
        await node.stop()
    return {"mesh_s": mesh, "rss_kb_per_node": (rss1 - rss0) / n, "cpu_pct_per_node": 100 * cpu / n}


# -- pyre (in the same namespace) -------------------------------------------------------------------
def pyre_available() -> bool:
    try:
        import pyre  # noqa: F401
        import zmq  # noqa: F401
    except ImportError:
        return False
    return True


def pyre_enter_latency(rounds: int) -> float:
    import zmq
    from pyre import Pyre

    a = Pyre("a")
    a.start()
    poller = zmq.Poller()
    poller.register(a.socket(), zmq.POLLIN)
    samples = []
    for _ in range(rounds):
        b = Pyre("b")
        t0 = time.perf_counter()
        b.start()
        while True:
            if not poller.poll(10000):
                raise TimeoutError("pyre ENTER")
            if a.recv()[0] == b"ENTER":
                break
        samples.append(time.perf_counter() - t0)
        b.stop()
        while True:
            if not poller.poll(10000):
                raise TimeoutError("pyre EXIT")
            if a.recv()[0] == b"EXIT":
                break
    a.stop()
    return statistics.median(samples)


def pyre_shout(receivers: int, messages: int) -> float:
    import zmq
    from pyre import Pyre

    sender = Pyre("s")
    sender.start()
    rx = []
    for i in range(receivers):
        r = Pyre(f"r{i}")
        r.join("G")
        r.start()
        rx.append(r)
    poller = zmq.Poller()
    poller.register(sender.socket(), zmq.POLLIN)
    joined = 0
    while joined < receivers:
        if not poller.poll(20000):
            raise TimeoutError("pyre JOIN")
        if sender.recv()[0] == b"JOIN":
            joined += 1
    time.sleep(0.5)
    for r in rx:  # drop their ENTER/JOIN events
        while r.socket().poll(0):
            r.recv()
    rpoll = zmq.Poller()
    for r in rx:
        rpoll.register(r.socket(), zmq.POLLIN)
    t0 = time.perf_counter()
    got = 0
    want = receivers * messages
    sent = 0
    while got < want:
        if sent < messages:
            for _ in range(min(100, messages - sent)):
                sender.shout("G", PAYLOAD)
            sent = min(messages, sent + 100)
        for sock, _ in rpoll.poll(0 if sent < messages else 10000):
            while sock.poll(0):
                if sock.recv_multipart()[0] == b"SHOUT":
                    got += 1
        if sent >= messages and time.perf_counter() - t0 > 120:
            break
    dt = time.perf_counter() - t0
    for n in [sender, *rx]:
        n.stop()
    return got / dt


# -- simulator ------------------------------------------------------------------------------------
def sim_figures(quick: bool) -> None:
    minutes = 2 if quick else 10
    report = run_tester(100, 60.0 * minutes, seed=1)
    say(f"sim: Guide tester 100 nodes x {minutes} virtual min (+40 s settle): "
        f"{report.wall_seconds:.1f} s wall, ok={report.ok}, "
        f"{report.counters['messages_delivered']} messages, {report.toggles} start/stops")
    t0 = time.perf_counter()
    sim = Simulation(seed=2, track_content=False)
    for i in range(2000):
        sim.add_node(segment=i % 20)
    sim.run_for(30.0)
    wall = time.perf_counter() - t0
    errors = sim.group_view_errors()
    say(f"sim: 2000 nodes in 20 beacon segments of 100, 30 virtual s: {wall:.1f} s wall, "
        f"view errors={len(errors)}, beacons={sim.counters['beacons_delivered']}, "
        f"messages={sim.counters['messages_delivered']}")


# -- main -------------------------------------------------------------------------------------------
async def ref_all(args: argparse.Namespace, port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    if "enter" in args.only:
        out["enter"] = await ref_enter_latency(port, args.rounds)
    if "shout1" in args.only:
        out["shout1"] = await ref_shout(port, 1, args.messages)
        out["shout1_cpu_us"] = SHOUT_CPU_US[1]
    if "shout20" in args.only:
        out["shout20"] = await ref_shout(port, 20, args.messages // 10)
        out["shout20_cpu_us"] = SHOUT_CPU_US[20]
    if "mesh" in args.only:
        out.update(mesh_in_child(args, port))
    return out


def mesh_in_child(args: argparse.Namespace, port: int) -> dict[str, float]:
    """The mesh in a fresh interpreter: RSS growth is only meaningful in a process whose
    allocator has not kept memory from an earlier run."""
    done = subprocess.run([sys.executable, __file__, "--mesh-child", str(port), "--mesh", str(args.mesh),
                           *(["--quick"] if args.quick else [])],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"mesh run failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def pyre_all(args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    if "enter" in args.only:
        out["enter"] = pyre_enter_latency(min(args.rounds, 10))
    if "shout1" in args.only:
        out["shout1"] = pyre_shout(1, args.messages // 5)
    if "shout20" in args.only:
        out["shout20"] = pyre_shout(20, args.messages // 50)
    return out


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else {}


FIGURES = ("enter", "shout1", "shout20", "mesh", "sim")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-netns", action="store_true", help="do not make a namespace (skips pyre)")
    ap.add_argument("--out", default="", help="also write the figures to this file")
    ap.add_argument("--mesh", type=int, default=0, help="nodes in the full mesh (default 99, quick 30)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each figure; the median is reported")
    ap.add_argument("--mesh-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--only", default=",".join(FIGURES),
                    help=f"comma-separated figures to run (default all: {','.join(FIGURES)})")
    args = ap.parse_args()
    args.only = set(args.only.split(","))
    if not args.only <= set(FIGURES):
        ap.error(f"--only takes {','.join(FIGURES)}")
    args.rounds = 5 if args.quick else 20
    args.messages = 20_000 if args.quick else 100_000
    args.mesh = args.mesh or (30 if args.quick else 99)
    args.idle = 3.0 if args.quick else 10.0
    if args.mesh_child:
        print(json.dumps(asyncio.run(ref_mesh(args.mesh_child, args.mesh, args.idle))))
        return 0

    if not args.inside and not args.no_netns and os.geteuid() == 0 and shutil.which("ip"):
        ns = f"zrebench{os.getpid()}{uuid.uuid4().hex[:4]}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "netns", "exec", ns, "ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
                           check=True)
            return subprocess.call(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside",
                                    *sys.argv[1:]])
        finally:
            subprocess.run(["ip", "netns", "del", ns])

    say(f"# bench/zre_node.py {' '.join(sys.argv[1:])} (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, netns={'yes' if args.inside else 'no'}, "
        f"load {os.getloadavg()[0]:.2f})")
    have_pyre = args.inside and pyre_available()
    ref_runs: list[dict[str, float]] = []
    py_runs: list[dict[str, float]] = []
    for n in range(args.repeat):
        port = 20000 + (os.getpid() + n) % 30000
        ref_runs.append(asyncio.run(ref_all(args, port)))
        if have_pyre:
            py_runs.append(pyre_all(args))
        if args.repeat > 1:
            say(f"run {n + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in ref_runs[-1].items())
                + ("; pyre " + ", ".join(f"{k}={v:.4g}" for k, v in py_runs[-1].items())
                   if py_runs and py_runs[-1] else ""))
    ref, py = medians(ref_runs), medians(py_runs)
    of = f" (median of {args.repeat} runs)" if args.repeat > 1 else ""

    def ratio(key: str, higher_better: bool) -> str:
        if key not in py:
            return ""
        r = ref[key] / py[key] if higher_better else py[key] / ref[key]
        return f"  (pyre {py[key]:,.0f}; zre_ref is {r:.2f}x pyre)"

    if "enter" in ref:
        say(f"start -> ENTER (median of {args.rounds} starts){of}: {ref['enter'] * 1000:.2f} ms"
            + (f"  (pyre {py['enter'] * 1000:.2f} ms; {py['enter'] / ref['enter']:.1f}x faster)"
               if "enter" in py else ""))
    if "shout1" in ref:
        say(f"SHOUT 64 B to 1 peer{of}: {ref['shout1']:,.0f} msg/s, "
            f"{ref['shout1_cpu_us']:.2f} us CPU/msg" + ratio("shout1", True))
    if "shout20" in ref:
        say(f"SHOUT 64 B to 20 peers{of}: {ref['shout20']:,.0f} deliveries/s, "
            f"{ref['shout20_cpu_us']:.2f} us CPU/delivery" + ratio("shout20", True))
    if "mesh_s" in ref:
        say(f"full mesh of {args.mesh} nodes (beacons on lo, 1 s interval){of}: {ref['mesh_s']:.2f} s; "
            f"idle: {ref['rss_kb_per_node'] / 1024:.2f} MB RSS/node, "
            f"{ref['cpu_pct_per_node']:.3f} % CPU/node")
    if "sim" in args.only:
        sim_figures(args.quick)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
