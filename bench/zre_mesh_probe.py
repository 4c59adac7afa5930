"""Probes of a full ZRE mesh formed in one process (bench/RESULTS.md, "Objects per connection").

    python bench/zre_mesh_probe.py [--port P] [--timeout S] [--tree DIR] mesh N [--no-gc] [--profile]
    python bench/zre_mesh_probe.py [--port P] [--timeout S] [--tree DIR] objects N [--top K]
    python bench/zre_mesh_probe.py [--port P] [--timeout S] [--tree DIR] calls N SECONDS [--settle S]
    python bench/zre_mesh_probe.py [--port P] [--timeout S] [--tree DIR] sample N SECONDS [--top K]
    python bench/zre_mesh_probe.py [--port P] [--timeout S] [--tree DIR] idle N SECONDS [--settle S]

Every subcommand starts N ZreNodes (``interface="lo"``, 1 s beacons) in one asyncio loop, waits
(bounded by --timeout) until each has seen N-1 ENTER events, measures, and stops every node.

- ``mesh``: wall and CPU time from the first start to the full mesh, with the garbage
  collector's passes (full = generation 2) and the time spent in them (``gc.callbacks``).
  ``--no-gc`` disables the collector; ``--profile`` prints the top cProfile entries by
  cumulative time of the formation.
- ``objects``: GC-tracked objects added by the mesh (``gc.get_objects()`` before and after,
  after a collection), per directed link (N*(N-1)), with the most common types.
- ``calls``: cProfile call counts while forming, per directed link, then while idle for SECONDS
  (events read) after ``--settle`` seconds (default 6), per TCP message sent (``socket.send``
  calls): all calls, asyncio handles run, ``send`` and ``recv_into`` calls, the idle calls by
  layer (``layer_of``) and asyncio's busiest functions. The connections' handshake deadlines
  (30 s, aio/loopshared.py's CoarseDeadlines) stay in asyncio's timer heap for 30 s after the
  mesh forms: ``--settle 35`` counts the idle mesh without them.
- ``sample``: a sampling profile (SIGPROF every 0.5 ms of process CPU time) of SECONDS idle
  after forming: the share of samples per function, self and inclusive.
- ``idle``: CPU per node over SECONDS idle (after ``--settle`` seconds), as bench/zre_node.py's
  mesh row measures it, with the garbage collector's passes and the mean CPU time of one
  ``ZreNode`` timer callback (beacon + reap tick + what they send). Two trees measured at the same
  time, each in its own network namespace, see the same host load: the fairest comparison here.

Stdlib only. Figures of one process: run it on a quiet machine and compare trees in turns
(``--tree DIR`` measures the zre_ref of another checkout with this script).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import importlib
import pstats
import resource
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zre_ref.aio.zre import ZreNode

ROOT = Path(__file__).resolve().parents[1]

SOCKET_SEND = "<method 'send' of '_socket.socket' objects>"
SOCKET_RECV_INTO = "<method 'recv_into' of '_socket.socket' objects>"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class GcClock:
    """Counts collector passes and the wall time spent in them, via ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.passes += 1
        self.full += info["generation"] == 2


@asynccontextmanager
async def mesh(n: int, port: int, timeout: float) -> AsyncIterator[list[ZreNode]]:
    """Start N nodes and wait until each has entered the other N-1; stop them all on exit."""
    from zre_ref.aio.zre import ZreNode
    from zre_ref.zre.events import PeerEntered

    nodes = [ZreNode(f"m{i}", interface="lo", port=port, beacon_interval=1.0) for i in range(n)]
    started: list[ZreNode] = []

    async def entered_all(node: ZreNode) -> None:
        seen = 0
        while seen < n - 1:
            if isinstance(await node.recv(), PeerEntered):
                seen += 1

    try:
        for node in nodes:
            await node.start()
            started.append(node)
        await asyncio.wait_for(asyncio.gather(*(entered_all(node) for node in nodes)), timeout)
        yield nodes
    finally:
        for node in started:
            await node.stop()


async def reading_events(nodes: list[ZreNode], seconds: float) -> None:
    """Let the mesh idle for SECONDS while an application reads every node's events."""

    async def consume(node: ZreNode) -> None:
        async for _ in node.events():
            pass

    readers = [asyncio.create_task(consume(node)) for node in nodes]
    try:
        await asyncio.sleep(seconds)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def probe_mesh(args: argparse.Namespace) -> None:
    clock = GcClock()
    profile = cProfile.Profile() if args.profile else None
    if args.no_gc:
        gc.disable()
    gc.callbacks.append(clock)
    wall0, cpu0 = time.perf_counter(), cpu_s()
    if profile:
        profile.enable()
    try:
        async with mesh(args.n, args.port, args.timeout):
            if profile:
                profile.disable()
            wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
            gc.callbacks.remove(clock)
    finally:
        gc.enable()
        if clock in gc.callbacks:
            gc.callbacks.remove(clock)
    print(f"mesh {args.n}: {wall:.2f} s wall, {cpu:.2f} s cpu, "
          f"gc {clock.seconds:.2f} s in {clock.passes} passes ({clock.full} full)")
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(30)


def type_counts() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(obj).__name__ for obj in gc.get_objects())


async def probe_objects(args: argparse.Namespace) -> None:
    before = type_counts()
    async with mesh(args.n, args.port, args.timeout):
        await asyncio.sleep(0.5)  # let the last handshakes' transient objects go
        added = type_counts() - before
    links = args.n * (args.n - 1)
    print(f"mesh {args.n}: GC-tracked objects per directed link: {sum(added.values()) / links:.1f}")
    for name, count in added.most_common(args.top):
        print(f"  {count / links:6.2f} {name}")


def call_counts(profile: cProfile.Profile, unit: int, label: str) -> None:
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def calls(match: Callable[[tuple[str, int, str]], bool]) -> int:
        return sum(row[1] for key, row in stats.items() if match(key))

    total = calls(lambda key: True)
    handles = calls(lambda key: key[2] == "_run" and key[0].endswith("asyncio/events.py"))
    sends = calls(lambda key: key[2] == SOCKET_SEND)
    receives = calls(lambda key: key[2] == SOCKET_RECV_INTO)
    print(f"{label}: per {unit:,}: calls {total / unit:.0f}, handles {handles / unit:.2f}, "
          f"send {sends / unit:.2f}, recv_into {receives / unit:.2f}")


#: the timer work ``calls`` counts per second: (label, file name ending, function name)
TIMER_WORK = (
    ("node ticks", "aio/zre.py", "_on_timer"),
    ("loop timers armed", "asyncio/base_events.py", "call_at"),
    ("TimerHandle.__lt__", "asyncio/events.py", "__lt__"),
    ("node timer firings", "aio/timerwheel.py", "_fire"),
)


def calls_of(stats: dict[tuple[str, int, str], tuple[Any, ...]], where: str, name: str) -> int:
    """Calls of the functions ``name`` in files ending with ``where`` (pstats rows)."""
    return sum(row[1] for key, row in stats.items() if key[2] == name and key[0].endswith(where))


def layer_of(filename: str) -> str:
    """Which layer a cProfile entry's file belongs to: the ZRE node (zre/*, aio/zre.py,
    aio/zre_events.py, aio/timerwheel.py: the nodes' shared timer), the rest of zre_ref (ZMTP
    and the transport), dataclass ``__init__`` code (``<string>``: the node's effects and
    events, ZMTP's frames), asyncio, C functions (``~``), other."""
    path = filename.replace("\\", "/")
    if filename in ("~", "<string>"):
        return {"~": "C", "<string>": "dataclass init"}[filename]
    if "/zre_ref/zre/" in path or path.endswith(
            ("/zre_ref/aio/zre.py", "/zre_ref/aio/zre_events.py", "/zre_ref/aio/timerwheel.py")):
        return "ZRE node"
    if "/zre_ref/" in path:
        return "ZMTP+transport"
    if "/asyncio/" in path or path.endswith("/selectors.py"):
        return "asyncio"
    return "other"


async def probe_calls(args: argparse.Namespace) -> None:
    profile = cProfile.Profile()
    profile.enable()
    async with mesh(args.n, args.port, args.timeout) as nodes:
        profile.disable()
        call_counts(profile, args.n * (args.n - 1), f"mesh {args.n} forming, directed link")
        await reading_events(nodes, args.settle)  # past the burst of the last ENTERs
        idle = cProfile.Profile()
        idle.enable()
        await reading_events(nodes, args.seconds)
        idle.disable()
    stats = pstats.Stats(idle).stats  # type: ignore[attr-defined]
    sent = sum(row[1] for key, row in stats.items() if key[2] == SOCKET_SEND)
    if sent:
        call_counts(idle, sent, f"idle {args.seconds:g} s ({sent / args.seconds:.0f} msg/s), message sent")
        by_layer: collections.Counter[str] = collections.Counter()
        in_asyncio: collections.Counter[str] = collections.Counter()
        for entry in idle.getstats():  # per code object (pstats merges every dataclass __init__)
            code = entry.code
            layer = layer_of(code.co_filename if not isinstance(code, str) else "~")
            by_layer[layer] += entry.callcount
            if layer == "asyncio" and not isinstance(code, str):
                in_asyncio[f"{Path(code.co_filename).name}:{code.co_name}"] += entry.callcount
        print("  per message sent, by layer: " + ", ".join(
            f"{name} {count / sent:.1f}" for name, count in sorted(by_layer.items())))
        print("  asyncio's, per message sent: " + ", ".join(
            f"{name} {count / sent:.2f}" for name, count in in_asyncio.most_common(14)))
        print("  timers, per second: " + ", ".join(
            f"{label} {calls_of(stats, where, name) / args.seconds:.0f}" for label, where, name in TIMER_WORK))
    else:
        print(f"idle {args.seconds:g} s: no TCP message sent")


class Sampler:
    """Counts, per function, the SIGPROF samples it was running in (self) or on the stack of."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.samples = 0
        self.own: collections.Counter[str] = collections.Counter()
        self.inclusive: collections.Counter[str] = collections.Counter()

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        self.samples += 1
        on_stack: set[str] = set()
        while frame is not None:
            code = frame.f_code
            name = f"{'/'.join(Path(code.co_filename).parts[-2:])}:{code.co_name}"
            if not on_stack:
                self.own[name] += 1
            on_stack.add(name)
            frame = frame.f_back
        self.inclusive.update(on_stack)

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def report(self, top: int) -> None:
        print(f"{self.samples} samples, every {self.interval * 1e3:g} ms of CPU time")
        for title, counts in (("self", self.own), ("inclusive", self.inclusive)):
            print(f"-- {title} --")
            for name, count in counts.most_common(top):
                print(f"  {100 * count / max(self.samples, 1):5.1f} %  {name}")


async def probe_sample(args: argparse.Namespace) -> None:
    sampler = Sampler()
    async with mesh(args.n, args.port, args.timeout) as nodes:
        await reading_events(nodes, 6.0)  # past the burst of the last ENTERs
        sampler.start()
        try:
            await reading_events(nodes, args.seconds)
        finally:
            sampler.stop()
    print(f"mesh {args.n}, idle {args.seconds:g} s:")
    sampler.report(args.top)


async def probe_idle(args: argparse.Namespace) -> None:
    from zre_ref.aio.zre import ZreNode

    clock = GcClock()
    ticks = [0, 0.0]  # timer callbacks, their CPU seconds
    on_timer = ZreNode._on_timer

    def timed(node: ZreNode) -> None:
        c0 = time.thread_time()
        on_timer(node)
        ticks[0] += 1
        ticks[1] += time.thread_time() - c0

    async with mesh(args.n, args.port, args.timeout) as nodes:
        if args.settle:
            await reading_events(nodes, args.settle)
        ZreNode._on_timer = timed  # type: ignore[method-assign]
        gc.callbacks.append(clock)
        wall0, cpu0 = time.perf_counter(), cpu_s()
        try:
            await reading_events(nodes, args.seconds)
        finally:
            cpu, wall = cpu_s() - cpu0, time.perf_counter() - wall0
            gc.callbacks.remove(clock)
            ZreNode._on_timer = on_timer  # type: ignore[method-assign]
    print(f"mesh {args.n}, idle {args.seconds:g} s after {args.settle:g} s: "
          f"{100 * cpu / wall / args.n:.4f} % CPU per node; timer callback "
          f"{1e6 * ticks[1] / max(ticks[0], 1):.0f} us CPU ({ticks[0]} calls); "
          f"gc {clock.seconds:.3f} s in {clock.passes} passes ({clock.full} full)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=25711, help="beacon port (default 25711)")
    ap.add_argument("--timeout", type=float, default=120.0, help="bound on forming the mesh, s")
    ap.add_argument("--tree", type=Path, default=ROOT,
                    help="import zre_ref from this tree (default: this script's repository)")
    sub = ap.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("mesh", help="formation time with GC passes and GC time")
    p.add_argument("n", type=int)
    p.add_argument("--no-gc", action="store_true", help="disable the garbage collector")
    p.add_argument("--profile", action="store_true", help="print cProfile of the formation")
    p.set_defaults(run=probe_mesh)
    p = sub.add_parser("objects", help="GC-tracked objects per directed link")
    p.add_argument("n", type=int)
    p.add_argument("--top", type=int, default=40, help="types to list (default 40)")
    p.set_defaults(run=probe_objects)
    p = sub.add_parser("calls", help="cProfile call counts per link and per message")
    p.add_argument("n", type=int)
    p.add_argument("seconds", type=float, help="idle time profiled after forming")
    p.add_argument("--settle", type=float, default=6.0, help="idle seconds before counting")
    p.set_defaults(run=probe_calls)
    p = sub.add_parser("sample", help="sampling profile (SIGPROF) of the idle mesh")
    p.add_argument("n", type=int)
    p.add_argument("seconds", type=float, help="idle time sampled after forming")
    p.add_argument("--top", type=int, default=30, help="functions to list (default 30)")
    p.set_defaults(run=probe_sample)
    p = sub.add_parser("idle", help="idle CPU per node, timer callback cost, GC passes")
    p.add_argument("n", type=int)
    p.add_argument("seconds", type=float, help="idle time measured after forming")
    p.add_argument("--settle", type=float, default=0.0, help="idle seconds before measuring")
    p.set_defaults(run=probe_idle)
    args = ap.parse_args()
    if args.n < 2:
        ap.error("a mesh needs at least 2 nodes")
    sys.path.insert(0, str(args.tree))
    for module in ("zre_ref.aio.zre", "zre_ref.zre.events"):  # loaded before any measurement
        importlib.import_module(module)
    asyncio.run(args.run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
