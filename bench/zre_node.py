"""ZRE node benchmarks: zre_ref's ZreNode against pyre and zyre C, in one run (issues 4, 17).

    sudo python bench/zre_node.py [--quick] [--repeat N] [--only enter,...] [--out FILE]

UDP beacons never leave loopback: when run as root with iproute2, the script re-runs itself
inside a fresh network namespace that holds only ``lo`` with the route
``224.0.0.0/4 dev lo src 127.0.0.1`` (as the interop runner makes it), so pyre and zyre (which
beacon on the first real interface otherwise) can be measured too. Without that, pyre and zyre
are skipped and zre_ref uses ``interface="lo"``.

zyre C runs through bench/zyre_bench.c, compiled here against the prebuilt libzyre of
.interop-zyre (tests/interop/setup-zyre.sh) and Debian's libczmq.

Figures: start -> ENTER latency, SHOUT 64 B to 1 peer and to 20 peers, WHISPER round trip
between two processes, a full mesh of N nodes in one process with RSS and CPU per idle node,
and the simulator (100-node Guide tester for 10 virtual minutes; 2000 nodes in 20 segments).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from zre_ref.zre.events import PeerEntered, PeerJoined, ShoutReceived, WhisperReceived  # noqa: E402

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


def within(timeout: float) -> Any:
    """A deadline around awaiting ``node.recv()`` directly, as an application does: Python
    3.11's asyncio.timeout costs one timer; asyncio.wait_for runs the awaitable in a task of
    its own, which adds two loop turns to every event received (3.10 has only that)."""
    if hasattr(asyncio, "timeout"):
        return asyncio.timeout(timeout)
    return _deadline_310(timeout)


@contextlib.asynccontextmanager
async def _deadline_310(timeout: float) -> Any:
    """asyncio.timeout's effect on 3.10: cancel the waiting task at the deadline."""
    task = asyncio.current_task()
    assert task is not None
    fired: list[bool] = []

    def expire() -> None:
        fired.append(True)
        task.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        yield
    except asyncio.CancelledError:
        if not fired:
            raise
        raise TimeoutError from None
    finally:
        timer.cancel()


async def wait_for(node: ZreNode, kind: type, count: int = 1, timeout: float = 30.0) -> float:
    n = 0
    async with within(timeout):
        while n < count:
            if isinstance(await node.recv(), kind):
                n += 1
    return asyncio.get_running_loop().time()


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


async def ref_whisper_child(role: str, port: int, rounds: int) -> float:
    """One side of the WHISPER round trip between two processes (beacons on lo)."""
    async with ZreNode(role, **node_kw(port)) as node:
        peer = (await wait_event(node, PeerEntered)).peer_uuid
        if role == "echo":
            print(json.dumps({"ready": True}), flush=True)
            while True:
                ev = await wait_event(node, WhisperReceived, timeout=120)
                await node.whisper(peer, *ev.content)
        await asyncio.sleep(0.2)  # let the echo side see our HELLO too (its ENTER)
        samples = []
        for i in range(rounds + 10):  # 10 warm-up rounds
            t0 = time.perf_counter()
            await node.whisper(peer, PAYLOAD)
            await wait_event(node, WhisperReceived, timeout=10)
            if i >= 10:
                samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def wait_event(node: ZreNode, kind: type, timeout: float = 30.0) -> Any:
    async with within(timeout):
        while True:
            ev = await node.recv()
            if isinstance(ev, kind):
                return ev


def whisper_pair(echo: list[str], ping: list[str], env: dict[str, str] | None = None) -> float:
    """Run an echo process and a ping process; the ping's median round trip in seconds."""
    server = subprocess.Popen(echo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        done = subprocess.run(ping, capture_output=True, text=True, timeout=120, env=env)
    finally:
        server.kill()
        server.wait()
    if done.returncode != 0:
        raise RuntimeError(f"whisper run failed: {done.stderr[-2000:]}")
    return float(json.loads(done.stdout.splitlines()[-1])["whisper_rtt"])


def child(*argv: str) -> list[str]:
    return [sys.executable, __file__, *argv]


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


def pyre_whisper_child(role: str, rounds: int) -> float:
    import zmq
    from pyre import Pyre

    node = Pyre(role)
    node.start()
    poller = zmq.Poller()
    poller.register(node.socket(), zmq.POLLIN)

    def wait(kind: bytes, timeout_ms: int) -> list[bytes]:
        while True:
            if not poller.poll(timeout_ms):
                raise TimeoutError(f"pyre {kind!r}")
            frames: list[bytes] = node.recv()
            if frames[0] == kind:
                return frames

    peer = uuid.UUID(bytes=wait(b"ENTER", 30000)[1])
    if role == "echo":
        print(json.dumps({"ready": True}), flush=True)
        while True:
            node.whisper(peer, wait(b"WHISPER", 120000)[3])
    time.sleep(0.2)
    samples = []
    for i in range(rounds + 10):
        t0 = time.perf_counter()
        node.whisper(peer, PAYLOAD)
        wait(b"WHISPER", 10000)
        if i >= 10:
            samples.append(time.perf_counter() - t0)
    node.stop()
    return statistics.median(samples)


def pyre_mesh(n: int, idle: float) -> dict[str, float]:
    """n pyre nodes in this (fresh) process: mesh time, then idle RSS and CPU per node."""
    import zmq
    from pyre import Pyre

    rss0 = rss_kb()
    nodes = [Pyre(f"m{i}") for i in range(n)]
    poller = zmq.Poller()
    for node in nodes:
        poller.register(node.socket(), zmq.POLLIN)
    t0 = time.perf_counter()
    for node in nodes:
        node.start()
    entered = {node.socket(): 0 for node in nodes}
    by_socket = {node.socket(): node for node in nodes}
    while min(entered.values()) < n - 1:
        if time.perf_counter() - t0 > 60:
            raise TimeoutError("pyre mesh")
        for sock, _ in poller.poll(1000):
            if by_socket[sock].recv()[0] == b"ENTER":
                entered[sock] += 1
    mesh = time.perf_counter() - t0
    rss1 = rss_kb()
    c0, w0 = cpu_s(), time.perf_counter()
    while time.perf_counter() - w0 < idle:
        for sock, _ in poller.poll(100):
            by_socket[sock].recv()
    cpu = (cpu_s() - c0) / (time.perf_counter() - w0)
    for node in nodes:
        node.stop()
    return {"mesh_s": mesh, "rss_kb_per_node": (rss1 - rss0) / n, "cpu_pct_per_node": 100 * cpu / n}


# -- zyre C (bench/zyre_bench.c on the interop env's prebuilt libzyre) -----------------------------
ZYRE_DIR = ROOT / ".interop-zyre"
#: zyre beacons on ZSYS_INTERFACE; in the lo-only namespace on a multicast group, as the interop
#: runner's zyre agent does (conformance/agents/zyre_agent.c)
ZYRE_ENV = {"ZSYS_INTERFACE": "*", "ZSYS_IPV4_MCAST_ADDRESS": "225.25.25.25"}


def build_zyre_driver() -> Path | None:
    """Compile bench/zyre_bench.c into .interop-zyre (None when libzyre or a compiler is missing)."""
    source, exe, lib = ROOT / "bench" / "zyre_bench.c", ZYRE_DIR / "zyre_bench", ZYRE_DIR / "lib"
    if exe.exists() and exe.stat().st_mtime >= source.stat().st_mtime:
        return exe
    if not (lib / "libzyre.so").exists() or not shutil.which("cc") or not shutil.which("pkg-config"):
        return None
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libczmq", "libzmq"],
                           capture_output=True, text=True).stdout.split()
    # the prebuilt libzyre.so leaves its unused Python-2 module init undefined (agent_setup.py)
    built = subprocess.run(["cc", "-std=gnu11", "-O2", "-Wall", "-o", str(exe), str(source), f"-L{lib}",
                            "-lzyre", *flags, f"-Wl,-rpath,{lib}", "-Wl,--allow-shlib-undefined",
                            "-Wl,-z,lazy"], capture_output=True, text=True)
    if built.returncode != 0:
        print(f"zyre driver not built: {built.stderr[-1000:]}", file=sys.stderr)
        return None
    return exe


def zyre_env() -> dict[str, str]:
    return {**os.environ, **ZYRE_ENV}


def zyre_run(exe: Path, *argv: object) -> dict[str, float]:
    done = subprocess.run([str(exe), *map(str, argv)], capture_output=True, text=True, timeout=300,
                          env=zyre_env())
    if done.returncode != 0:
        raise RuntimeError(f"zyre_bench {argv} failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return result


def zyre_all(args: argparse.Namespace, exe: Path, port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    if "enter" in args.only:
        out["enter"] = zyre_run(exe, "enter", args.rounds, port)["enter"]
    for key, receivers, messages in (("shout1", 1, args.messages), ("shout20", 20, args.messages // 10)):
        if key in args.only:
            r = zyre_run(exe, "shout", receivers, messages, port + min(receivers, 2))
            if r["delivered"] < r["wanted"]:
                raise RuntimeError(f"zyre {key}: {r['delivered']:.0f} of {r['wanted']:.0f} delivered")
            out[key], out[f"{key}_cpu_us"] = r["deliveries_per_s"], r["cpu_us"]
    if "whisper" in args.only:
        out["whisper"] = whisper_pair([str(exe), "whisper-echo", str(port + 3)],
                                      [str(exe), "whisper-ping", str(args.rounds * 50), str(port + 3)],
                                      env=zyre_env())
    if "mesh" in args.only:
        r = zyre_run(exe, "mesh", args.zyre_mesh, args.idle, port + 4)
        out.update({f"mesh_{k}": v for k, v in r.items()})
    return out


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
    if "whisper" in args.only:
        out["whisper"] = whisper_pair(child("--whisper-child", "echo", "--port", str(port + 3)),
                                      child("--whisper-child", "ping", "--port", str(port + 3),
                                            "--rounds", str(args.rounds * 50)))
    if "mesh" in args.only:
        out.update(mesh_in_child(args, port))
    return out


def mesh_in_child(args: argparse.Namespace, port: int) -> dict[str, float]:
    """The mesh in a fresh interpreter: RSS growth is only meaningful in a process whose
    allocator has not kept memory from an earlier run."""
    done = subprocess.run([sys.executable, __file__, "--mesh-child", str(port), "--mesh", str(args.mesh),
                           "--idle", str(args.idle), *(["--quick"] if args.quick else [])],
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
    if "whisper" in args.only:
        out["whisper"] = whisper_pair(child("--whisper-child", "pyre-echo"),
                                      child("--whisper-child", "pyre-ping", "--rounds", str(args.rounds * 50)))
    if "mesh" in args.only:
        done = subprocess.run(child("--pyre-mesh-child", str(args.pyre_mesh), "--idle", str(args.idle)),
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"pyre mesh failed: {done.stderr[-2000:]}")
        out.update({f"mesh_{k}": v for k, v in json.loads(done.stdout.splitlines()[-1]).items()})
    return out


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else {}


FIGURES = ("enter", "shout1", "shout20", "whisper", "mesh", "sim")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller counts")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-netns", action="store_true", help="do not make a namespace (skips pyre)")
    ap.add_argument("--out", default="", help="also write the figures to this file")
    ap.add_argument("--mesh", type=int, default=0, help="nodes in the full mesh (default 99, quick 30)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each figure; the median is reported")
    ap.add_argument("--zyre-mesh", type=int, default=25,
                    help="zyre nodes in its mesh (its default socket cap allows ~29)")
    ap.add_argument("--pyre-mesh", type=int, default=10, help="pyre nodes in its mesh")
    ap.add_argument("--idle", type=float, default=0.0, help="idle seconds measured (default 10, quick 3)")
    ap.add_argument("--mesh-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--pyre-mesh-child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--whisper-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=5670, help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--only", default=",".join(FIGURES),
                    help=f"comma-separated figures to run (default all: {','.join(FIGURES)})")
    args = ap.parse_args()
    args.only = set(args.only.split(","))
    if not args.only <= set(FIGURES):
        ap.error(f"--only takes {','.join(FIGURES)}")
    args.messages = 20_000 if args.quick else 100_000
    args.mesh = args.mesh or (30 if args.quick else 99)
    args.idle = args.idle or (3.0 if args.quick else 10.0)
    if args.whisper_child:
        role = args.whisper_child
        rtt = (pyre_whisper_child(role[5:], args.rounds) if role.startswith("pyre-")
               else asyncio.run(ref_whisper_child(role, args.port, args.rounds)))
        print(json.dumps({"whisper_rtt": rtt}))
        return 0
    args.rounds = args.rounds or (5 if args.quick else 20)
    if args.mesh_child:
        print(json.dumps(asyncio.run(ref_mesh(args.mesh_child, args.mesh, args.idle))))
        return 0
    if args.pyre_mesh_child:
        print(json.dumps(pyre_mesh(args.pyre_mesh_child, args.idle)))
        return 0

    if not args.inside and not args.no_netns and os.geteuid() == 0 and shutil.which("ip"):
        ns = f"zrebench{os.getpid()}{uuid.uuid4().hex[:4]}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "netns", "exec", ns, "ip", "route", "add", "224.0.0.0/4", "dev", "lo",
                            "src", "127.0.0.1"], check=True)
            return subprocess.call(["ip", "netns", "exec", ns, sys.executable, __file__, "--inside",
                                    *sys.argv[1:]])
        finally:
            subprocess.run(["ip", "netns", "del", ns])

    say(f"# bench/zre_node.py {' '.join(sys.argv[1:])} (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, netns={'yes' if args.inside else 'no'}, "
        f"load {os.getloadavg()[0]:.2f})")
    have_pyre = args.inside and pyre_available()
    zyre_exe = build_zyre_driver() if args.inside and args.only != {"sim"} else None
    if args.only != {"sim"} and not (have_pyre and zyre_exe):
        say(f"(skipped: {'pyre ' if not have_pyre else ''}{'zyre C ' if not zyre_exe else ''}- they need "
            "root and ip netns; pyre needs pyzmq + zeromq-pyre, zyre C tests/interop/setup-zyre.sh)")
    runs: dict[str, list[dict[str, float]]] = {"zre_ref": [], "pyre": [], "zyre": []}
    for n in range(args.repeat):
        port = 20000 + (os.getpid() + 10 * n) % 30000
        runs["zre_ref"].append(asyncio.run(ref_all(args, port)))
        if have_pyre:
            runs["pyre"].append(pyre_all(args))
        if zyre_exe:
            runs["zyre"].append(zyre_all(args, zyre_exe, port + 5))
        if args.repeat > 1:
            say(f"run {n + 1}: " + "; ".join(
                f"{who} " + ", ".join(f"{k}={v:.4g}" for k, v in rs[-1].items())
                for who, rs in runs.items() if rs and rs[-1]))
    ref, py, zy = (medians(runs[who]) for who in ("zre_ref", "pyre", "zyre"))
    of = f" (median of {args.repeat} runs)" if args.repeat > 1 else ""

    def others(key: str, fmt: str, higher_better: bool, scale: float = 1.0) -> str:
        """The same figure for pyre and zyre C, with zre_ref's ratio to each (>1: zre_ref better)."""
        parts = []
        for who, fig in (("pyre", py), ("zyre C", zy)):
            if fig.get(key):
                r = ref[key] / fig[key] if higher_better else fig[key] / ref[key]
                parts.append(f"{who} {fmt.format(fig[key] * scale)}, zre_ref {r:.2f}x")
        return f"  ({'; '.join(parts)})" if parts else ""

    if "enter" in ref:
        say(f"start -> ENTER (median of {args.rounds} starts){of}: {ref['enter'] * 1000:.2f} ms"
            + others("enter", "{:.2f} ms", False, 1e3))
    if "shout1" in ref:
        say(f"SHOUT 64 B to 1 peer{of}: {ref['shout1']:,.0f} msg/s, "
            f"{ref['shout1_cpu_us']:.2f} us CPU/msg" + others("shout1", "{:,.0f}/s", True)
            + (f" [zyre C {zy['shout1_cpu_us']:.2f} us CPU/msg]" if "shout1_cpu_us" in zy else ""))
    if "shout20" in ref:
        say(f"SHOUT 64 B to 20 peers{of}: {ref['shout20']:,.0f} deliveries/s, "
            f"{ref['shout20_cpu_us']:.2f} us CPU/delivery" + others("shout20", "{:,.0f}/s", True)
            + (f" [zyre C {zy['shout20_cpu_us']:.2f} us CPU/delivery]" if "shout20_cpu_us" in zy else ""))
    if "whisper" in ref:
        say(f"WHISPER 64 B round trip, two processes (median of {args.rounds * 50}){of}: "
            f"{ref['whisper'] * 1e6:.0f} us" + others("whisper", "{:.0f} us", False, 1e6))
    if "mesh_s" in ref:
        say(f"full mesh of {args.mesh} nodes (beacons on lo, 1 s interval){of}: {ref['mesh_s']:.2f} s; "
            f"idle over {args.idle:.0f} s: {ref['rss_kb_per_node'] / 1024:.2f} MB RSS/node, "
            f"{ref['cpu_pct_per_node']:.3f} % CPU/node")
        for who, fig, count in (("pyre", py, args.pyre_mesh), ("zyre C", zy, args.zyre_mesh)):
            if "mesh_mesh_s" in fig:
                say(f"  {who}: full mesh of {count} nodes {fig['mesh_mesh_s']:.2f} s; idle: "
                    f"{fig['mesh_rss_kb_per_node'] / 1024:.2f} MB RSS/node, "
                    f"{fig['mesh_cpu_pct_per_node']:.3f} % CPU/node")
    say(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "sim" in args.only:
        sim_figures(args.quick)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
