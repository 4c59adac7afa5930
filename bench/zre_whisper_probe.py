"""Where a WHISPER round trip goes: per-call times on the echo side of bench/zre_node.py's
WHISPER figure.

    python bench/zre_whisper_probe.py [--rounds N] [--tree DIR] [--calls]

Two processes, as in ``ref_whisper_child``: a ping node whispers 64 B and waits for the answer,
an echo node whispers every WHISPER back. The echo process wraps a few methods (each wrapper
costs about half a microsecond) and prints, per method, the median time of one call and the
calls per message, and its loop turns (selector polls) per message; the ping process prints the
round trip's median. ``--tree`` measures another checkout with this same probe. ``--calls``
wraps nothing and counts instead, with cProfile, the echo side's Python calls per message
(deterministic, unlike the times), with the functions called most.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import selectors
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WARM_UP = 300

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--rounds", type=int, default=3000)
ap.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
ap.add_argument("--calls", action="store_true", help="count the echo side's calls (cProfile)")
ap.add_argument("--role", default="", help=argparse.SUPPRESS)
ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
args = ap.parse_args()


def run_pair() -> None:
    port = 20000 + os.getpid() % 20000
    me = [sys.executable, __file__, "--tree", args.tree, "--rounds", str(args.rounds),
          "--port", str(port), *(["--calls"] if args.calls else [])]
    echo = subprocess.Popen([*me, "--role", "echo"], stdout=subprocess.PIPE, text=True)
    try:
        ping = subprocess.run([*me, "--role", "ping"], capture_output=True, text=True,
                              timeout=120)
        report, _ = echo.communicate(timeout=30)
    finally:
        echo.kill()
        echo.wait()
    print(f"tree {args.tree}, {args.rounds} round trips")
    print(report, end="")
    print(ping.stdout, end="")


async def child() -> None:
    sys.path.insert(0, args.tree)
    import asyncio.selector_events as selector_events

    from zre_ref.aio import zmtp_flow
    from zre_ref.aio.zre import ZreNode
    from zre_ref.zmtp.connection import Connection
    from zre_ref.zre import fastpath
    from zre_ref.zre.events import PeerEntered, WhisperReceived

    times: dict[str, list[float]] = {}
    recording = False
    polls = 0

    def wrap(owner: Any, name: str) -> None:
        real = getattr(owner, name)
        label = f"{getattr(owner, '__name__', owner)}.{name}"

        def wrapped(*a: Any, **k: Any) -> Any:
            if not recording:
                return real(*a, **k)
            t = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                times.setdefault(label, []).append(time.perf_counter() - t)
        setattr(owner, name, wrapped)

    profile = cProfile.Profile() if args.calls else None
    if args.role == "echo" and profile is None:
        for owner, name in [
                (selector_events._SelectorSocketTransport, "_read_ready"),
                (Connection, "buffer_updated"), (ZreNode, "_on_inbox"),
                (fastpath, "handle_messages"), (ZreNode, "_apply"),
                (zmtp_flow.Output, "enqueue"),
                (selector_events._SelectorSocketTransport, "write")]:
            wrap(owner, name)
        real_select = selectors.EpollSelector.select

        def counting_select(self: Any, timeout: float | None = None) -> Any:
            nonlocal polls
            if recording:
                polls += 1
            return real_select(self, timeout)
        selectors.EpollSelector.select = counting_select  # type: ignore[method-assign]

    async with ZreNode(args.role, interface="lo", port=args.port, beacon_interval=1.0) as node:
        while True:
            ev = await node.recv()
            if isinstance(ev, PeerEntered):
                peer = ev.peer_uuid
                break
        if args.role == "echo":
            answered = 0
            whisper_s: list[float] = []
            while answered < WARM_UP + args.rounds:
                ev = await node.recv()
                if isinstance(ev, WhisperReceived):
                    answered += 1
                    recording = WARM_UP < answered <= WARM_UP + args.rounds
                    if profile is not None and answered == WARM_UP + 1:
                        profile.enable()
                    t = time.perf_counter()
                    await node.whisper(peer, *ev.content)
                    if recording:
                        whisper_s.append(time.perf_counter() - t)
            recording = False
            if profile is not None:
                profile.disable()
                stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
                print(f"Python calls per message {sum(r[1] for r in stats.values()) / args.rounds:.1f}"
                      " (echo side, cProfile)")
                for (file, line, fn), row in sorted(stats.items(), key=lambda kv: -kv[1][1])[:25]:
                    print(f"{row[1] / args.rounds:8.2f}  {Path(file).name}:{line}({fn})")
                return
            times["ZreNode.whisper"] = whisper_s
            print(f"{'median us':>10} {'per msg':>8}  echo side")
            for label, v in sorted(times.items(), key=lambda kv: -statistics.median(kv[1])):
                print(f"{statistics.median(v) * 1e6:10.1f} {len(v) / args.rounds:8.2f}  {label}")
            print(f"loop turns per message {polls / args.rounds:.2f}")
            return
        await asyncio.sleep(0.3)  # the echo side's ENTER too
        rtt = []
        for i in range(WARM_UP + args.rounds):
            t = time.perf_counter()
            await node.whisper(peer, b"x" * 64)
            while not isinstance(await node.recv(), WhisperReceived):
                pass
            if i >= WARM_UP:
                rtt.append(time.perf_counter() - t)
        print(f"round trip median {statistics.median(rtt) * 1e6:.1f} us")


if args.role:
    asyncio.run(child())
else:
    run_pair()
