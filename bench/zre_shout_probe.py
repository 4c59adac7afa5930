"""Where the sender's time goes in bench/zre_node.py's SHOUT to 1 peer: each layer of the send
path timed alone, in bursts like the benchmark's.

    python bench/zre_shout_probe.py [--bursts N] [--tree DIR] [--calls]

Node ``s`` shouts 64 B to one peer ``r`` on the same loop (``beacon=False``, direct connect, as
``ref_shout``). Each burst calls one layer 2,048 times (``YIELD_MESSAGES``: what the benchmark
queues between two loop turns), then lets the loop write and deliver them; the minimum over the
bursts is kept, in ns per message (the minimum drops bursts a GC pass or another process hit).
Layers, outermost first: ``await s.shout(...)``; the same without the coroutine
(``fastpath.shout`` then ``s._send_now``; ``s._send_message`` before branch sendpath);
``fastpath.shout`` (numbering and framing the message); ``s._send_now`` (the node's send of
what ``fastpath.shout`` gives, with the DEALER's send inside) and ``s._send`` (the loop
``_apply`` uses); ``Socket.send_frames_nowait`` (routing
and queueing); and the end-of-turn flush (``Output._flush``: the ZMTP framing of the batch and
the send syscall), per message flushed. Every message is numbered by the node's own fast path
in order, so the receiver sees no sequence gap. ``--tree`` measures another checkout.
``--calls`` times nothing and counts instead, with cProfile, the Python calls (functions and
builtins) per ``await s.shout(...)`` in the benchmark's bursts, the end-of-turn flush excluded,
then the same per ``await s.whisper(...)`` to that peer.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--bursts", type=int, default=60)
ap.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
ap.add_argument("--calls", action="store_true", help="count calls per SHOUT (cProfile)")
args = ap.parse_args()
sys.path.insert(0, args.tree)

import callcount  # noqa: E402  (bench/callcount.py)

from zre_ref.aio import zmtp_flow  # noqa: E402
from zre_ref.aio.zre import ZreNode  # noqa: E402
from zre_ref.zre import fastpath  # noqa: E402
from zre_ref.zre.events import PeerEntered, PeerJoined  # noqa: E402

BURST = 2048
PAYLOAD = b"x" * 64
flushed = [0.0]  # seconds in Output._flush
real_flush = zmtp_flow.Output._flush


def timed_flush(self: Any) -> None:
    t0 = time.perf_counter()
    real_flush(self)
    flushed[0] += time.perf_counter() - t0


zmtp_flow.Output._flush = timed_flush  # type: ignore[method-assign]


def numbered(core: Any, content: tuple[bytes, ...], into: list[Any] | None = None) -> list[Any]:
    """A burst of SHOUTs numbered and framed by the node's fast path (appended to ``into``)."""
    sends = [fastpath.shout(core, "G", content) for _ in range(BURST)]
    assert all(x is not None for x in sends), "the fast path did not take the SHOUT"
    if into is not None:
        into.extend(sends)
    return sends


def without_coroutine(s: ZreNode, content: tuple[bytes, ...]) -> None:
    """What ``await s.shout("G", *content)`` runs in the common case, without the coroutine."""
    if hasattr(s, "_send_message"):  # main before branch sendpath
        for _ in range(BURST):
            s._send_message(fastpath.shout, s._core.shout, "G", content)
        return
    for _ in range(BURST):
        sends = None if s._applying or s.verbose else fastpath.shout(s._core, "G", content)
        if sends is not None:
            s._send_now(sends)


def links_messages(sends: Any) -> tuple[list[str], list[tuple[bytes, ...]]]:
    """What fastpath.shout gave, as ``_send``'s arguments (it gives them so before sendpath)."""
    if isinstance(sends, tuple):
        return sends
    return [link for link, _ in sends], [message for _, message in sends]


def send_each(send: Callable[..., object], items: list[Any], spread: bool = True) -> None:
    for item in items:
        if spread:
            send(*item)
        else:
            send(item)


async def wait_for(node: ZreNode, kind: type) -> None:
    while not isinstance(await node.recv(), kind):
        pass


async def main() -> None:
    s = ZreNode("s", beacon=False, sndhwm=1_000_000)
    r = ZreNode("r", beacon=False)
    await s.start()
    await r.start()
    await r.join("G")
    await s.connect_peer(r.endpoint)
    await wait_for(s, PeerJoined)
    await wait_for(r, PeerEntered)
    await s.shout("G", PAYLOAD)  # the readable path once: the group's frames are cached then
    core, content = s._core, (PAYLOAD,)

    async def settle() -> None:  # the flush, the receiver's reads, its events taken
        for _ in range(4):
            await asyncio.sleep(0)
            while r._events.pop() is not None:
                pass

    def burst(fn: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) / BURST

    best: dict[str, float] = {}

    def keep(name: str, per_message: float) -> None:
        best[name] = min(best.get(name, 1.0), per_message)

    if args.calls:
        await count_calls(s, r.uuid, settle)
        await s.stop()
        await r.stop()
        return
    sent = 0
    flushed[0] = 0.0
    for _ in range(args.bursts):
        t0 = time.perf_counter()
        for _ in range(BURST - 1):  # the last one would yield: the benchmark's burst
            await s.shout("G", PAYLOAD)
        keep("await node.shout(...)", (time.perf_counter() - t0) / (BURST - 1))
        s._unflushed = s._unflushed_messages = 0
        await settle()
        keep("the same without the coroutine", burst(partial(without_coroutine, s, content)))
        s._unflushed = s._unflushed_messages = 0
        await settle()
        sends: list[Any] = []
        keep("fastpath.shout", burst(partial(numbered, core, content, sends)))
        keep("node._send_now(what fastpath.shout gave)", burst(partial(
            send_each, s._send_now, sends, spread=isinstance(sends[0], tuple))))
        s._unflushed = s._unflushed_messages = 0
        await settle()
        sends = [links_messages(x) for x in numbered(core, content)]
        if len(inspect.signature(s._send).parameters) == 1:  # _send(pairs), since the fold
            pairs = [list(zip(*x, strict=True)) for x in sends]
            keep("node._send(links, messages)", burst(partial(send_each, s._send, pairs,
                                                              spread=False)))
        else:
            keep("node._send(links, messages)", burst(partial(send_each, s._send, sends)))
        await settle()
        sends = [links_messages(x) for x in numbered(core, content)]
        sock = s._links.sockets[sends[0][0][0]]
        keep("Socket.send_frames_nowait", burst(partial(
            send_each, sock.send_frames_nowait, [x[1][0] for x in sends], spread=False)))
        await settle()
        sent += 6 * BURST - 1
    print(f"tree {args.tree}, {args.bursts} bursts of {BURST}: ns per message, best burst")
    for name, per in best.items():
        print(f"{per * 1e9:8.0f}  {name}")
    print(f"{flushed[0] / sent * 1e9:8.0f}  Output._flush, per message flushed (mean)")
    await s.stop()
    await r.stop()


async def count_calls(s: ZreNode, to: str, settle: Callable[[], Any]) -> None:
    """Python calls per ``await s.shout(...)``, then per ``await s.whisper(...)`` to the same
    peer (``to``), over the bursts, with the functions called most."""
    for what, send, where in (("SHOUT", s.shout, "G"), ("WHISPER", s.whisper, to)):
        profile = cProfile.Profile()
        for _ in range(args.bursts):
            profile.enable()
            for _ in range(BURST - 1):
                await send(where, PAYLOAD)
            profile.disable()
            s._unflushed = s._unflushed_messages = 0
            await settle()
        callcount.report_calls(profile, args.bursts * (BURST - 1), f"tree {args.tree}: Python "
                               f"calls per {what} (cProfile, functions and builtins)", top=12)


asyncio.run(main())
