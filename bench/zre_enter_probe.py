"""Where start -> ENTER goes: stage stamps over many rounds of bench/zre_node.py's ENTER figure.

    python bench/zre_enter_probe.py [--rounds N] [--tree DIR] [--plain-recv] [--calls | --bare]

Node ``a`` runs; each round starts node ``b`` on the same loop (``interface="lo"``) and waits
for a's PeerEntered, as ``ref_enter_latency`` does. The probe wraps a few methods (wrappers
cost a few microseconds each, so the total is a little above the benchmark's) and prints, per
stage, the median time since ``b.start()`` was called, the median step from the stage before,
and how many loop turns (selector polls) a round takes. ``--tree`` measures another checkout
(e.g. a detached worktree of an older commit) with this same probe; ``--plain-recv`` waits with
``await a.recv()`` instead of ``asyncio.wait_for(a.recv(), 5)`` (a task and two turns more on
Python 3.11). ``--calls`` wraps nothing and counts instead, with cProfile, the Python calls
from ``b.start()`` to a's ENTER per round (deterministic, unlike the timings on a shared host),
and lists the functions called most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import selectors
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--rounds", type=int, default=200)
ap.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
ap.add_argument("--plain-recv", action="store_true")
ap.add_argument("--calls", action="store_true", help="count Python calls per round (cProfile)")
ap.add_argument("--bare", action="store_true",
                help="no stamps, no counting: only the totals (for instruction counts under "
                     "valgrind --tool=callgrind, taken as a difference of two --rounds)")
args = ap.parse_args()
sys.path.insert(0, args.tree)

import callcount  # noqa: E402  (bench/callcount.py)

from zre_ref.aio import beacon as aio_beacon  # noqa: E402
from zre_ref.aio import zmtp as aio_zmtp  # noqa: E402
from zre_ref.aio.zre import ZreNode  # noqa: E402
from zre_ref.zre.events import PeerEntered  # noqa: E402
from zre_ref.zre.node import ConnectPeer  # noqa: E402

stamps: list[tuple[str, float]] = []
recording = False
polls = 0
who: dict[int, str] = {}  # id(node or ROUTER) -> "a"/"b"; DEALERs are told by their identity
uuids: dict[bytes, str] = {}


def stamp(label: str) -> None:
    if recording:
        stamps.append((label, time.perf_counter()))


def around(cls: Any, name: str, label: Callable[..., str | None], after: bool = False) -> None:
    """Stamp ``label(self, *args)`` when ``cls.name`` is entered (or when it returns)."""
    real = getattr(cls, name)
    if asyncio.iscoroutinefunction(real):
        async def wrapped_async(self: Any, *a: Any, **k: Any) -> Any:
            result = await real(self, *a, **k)
            text = label(self, *a)
            if text:
                stamp(text)
            return result
        setattr(cls, name, wrapped_async)
        return

    def wrapped(self: Any, *a: Any, **k: Any) -> Any:
        text = None if after else label(self, *a)
        if text:
            stamp(text)
        result = real(self, *a, **k)
        if after:
            text = label(self, *a)
            if text:
                stamp(text)
        return result
    setattr(cls, name, wrapped)


def side(sock: Any) -> str:
    if sock.socket_type == "ROUTER":
        return f"{who.get(id(sock), '?')}.ROUTER"
    return f"{uuids.get(bytes(sock.identity)[1:], '?')}.DEALER"


def on_apply(node: Any, effects: list[Any], *rest: Any) -> str | None:
    name = who.get(id(node), "?")
    entered = any(isinstance(e, PeerEntered) for e in effects)
    opens = any(isinstance(e, ConnectPeer) for e in effects)
    if entered or opens:
        return f"{name}: " + " + ".join((["ENTER queued"] if entered else []) + (
            ["opens its link (HELLO queued)"] if opens else []))
    return None


def install_stamps() -> None:
    """The wrappers that stamp each stage (not with --calls: they would be counted)."""
    around(aio_zmtp.Socket, "bind", lambda s, *a: "b: ROUTER bound")
    around(aio_beacon.UdpBeacon, "open", lambda s, *a: "b: beacon socket joined")
    around(ZreNode, "_on_datagram", lambda n, data, host: (
        f"{who.get(id(n), '?')}: hears the other's beacon" if data[-2:] != b"\0\0" else None))
    around(aio_zmtp.Socket, "_attach", lambda s, *a: f"{side(s)} connected (greeting written)",
           after=True)
    around(aio_zmtp.Socket, "_on_handshake", lambda s, *a: f"{side(s)} handshake done")
    around(ZreNode, "_apply", on_apply)


real_select = selectors.EpollSelector.select


def counting_select(self: Any, timeout: float | None = None) -> Any:
    global polls
    if recording:
        polls += 1
    return real_select(self, timeout)


if args.calls:
    profile: cProfile.Profile | None = cProfile.Profile()
else:
    profile = None
if not args.calls and not args.bare:
    install_stamps()
    selectors.EpollSelector.select = counting_select  # type: ignore[method-assign]


async def main() -> None:
    global recording, polls
    kw: dict[str, Any] = {"interface": "lo", "port": 20000 + os.getpid() % 20000,
                          "beacon_interval": 1.0}
    per_stage: dict[str, list[float]] = {}
    totals: list[float] = []
    turns: list[int] = []
    async with ZreNode("a", **kw) as a:
        who[id(a)] = who[id(a._router)] = "a"  # _router: older trees have no .router
        uuids[bytes.fromhex(a.uuid)] = "a"
        for i in range(args.rounds + 10):  # 10 warm-up rounds
            b = ZreNode("b", **kw)
            who[id(b)] = "b"
            uuids[bytes.fromhex(b.uuid)] = "b"
            stamps.clear()
            polls = 0
            recording = i >= 10
            t0 = time.perf_counter()
            if profile is not None and recording:
                profile.enable()
            await b.start()
            who[id(b._router)] = "b"
            stamp("b: start() returned")
            while True:
                ev = await (a.recv() if args.plain_recv else asyncio.wait_for(a.recv(), 5))
                if isinstance(ev, PeerEntered):
                    break
            stamp("a: recv() returned ENTER")
            if profile is not None and recording:
                profile.disable()
            if recording:
                totals.append(time.perf_counter() - t0)
                turns.append(polls)
                seen: set[str] = set()
                for label, t in stamps:
                    if label not in seen:
                        seen.add(label)
                        per_stage.setdefault(label, []).append((t - t0) * 1e6)
            recording = False
            await b.stop()
            while True:  # drain the EXIT
                ev = await asyncio.wait_for(a.recv(), 5)
                if ev.type == "EXIT":
                    break
            await asyncio.sleep(0.005)
    if profile is not None:
        report_calls(profile)
        return
    print(f"tree {args.tree}, {args.rounds} rounds, "
          f"{'await a.recv()' if args.plain_recv else 'asyncio.wait_for(a.recv(), 5)'}")
    print(f"{'since start':>12} {'step':>7}  stage (medians, us)")
    before = 0.0
    for label in sorted(per_stage, key=lambda k: statistics.median(per_stage[k])):
        at = statistics.median(per_stage[label])
        print(f"{at:12.0f} {at - before:7.0f}  {label}  (n={len(per_stage[label])})")
        before = at
    print(f"total median {statistics.median(totals) * 1e6:.0f} us" + (
        "" if args.bare else f", loop turns per round median {statistics.median(turns):.0f}"))


def report_calls(profile: cProfile.Profile) -> None:
    callcount.report_calls(profile, args.rounds, f"tree {args.tree}, {args.rounds} rounds: calls per "
                           "round (Python functions and builtins)", top=25)


asyncio.run(main())
