"""Presence cases: PING/PING-OK, evasive and silent peers, expiry, stop (spec/zre.md#presence)."""

from __future__ import annotations

import asyncio
import contextlib

from zre_ref.zre import messages as zm

from ..peer import WirePeer
from ..verdicts import Level
from . import case
from .common import ready
from .context import Ctx


@case("ping.reply", Level.MUST, "spec/zre.md#ping",
      "the IUT answers PING with PING-OK", two_party=True)
async def ping_reply(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    mark = peer.mark()
    await peer.ping()
    await ctx.expect_msg(peer, "PING-OK", since=mark,
                         what=f"no PING-OK within {ctx.t_react:.1f} s of our PING")


async def _go_silent(ctx: Ctx) -> tuple[WirePeer, int]:
    """Meet the IUT, then stop beaconing and say nothing more; returns (peer, event mark).
    ``peer.last_sent`` is when the silence began (spec/zre.md#presence)."""
    _iut, peer, _hello = await ready(ctx)
    peer.stop_beacon()  # beacons refresh peers in some implementations (pyre)
    return peer, ctx.agent.mark()


@case("evasive.ping", Level.MUST, "spec/zre.md#presence",
      "the IUT PINGs a peer that has been silent longer than its evasive timeout, not before",
      expired_budget=1.0)
async def evasive_ping(ctx: Ctx) -> None:
    peer, _mark = await _go_silent(ctx)
    mark = peer.mark()
    got = await ctx.expect_msg(peer, "PING", ctx.t_evasive, mark,
                               what=f"no PING from the IUT within {ctx.t_evasive:.1f} s of silence "
                                    f"(evasive timeout {ctx.timers.evasive:.1f} s)")
    ctx.too_early("the IUT's PING", ctx.timers.evasive, peer.last_sent, got.t)


@case("evasive.event", Level.SHOULD, "spec/zre.md#presence",
      "the IUT reports EVASIVE for a silent peer, not before its evasive timeout",
      needs=("evasive-events",), expired_budget=1.0)
async def evasive_event(ctx: Ctx) -> None:
    peer, mark = await _go_silent(ctx)
    ev = await ctx.expect_event("EVASIVE", peer.uuid_hex, ctx.t_evasive, mark,
                                what=f"no EVASIVE event within {ctx.t_evasive:.1f} s of silence")
    ctx.too_early("EVASIVE", ctx.timers.evasive, peer.last_sent, ev.t)


@case("silent.event", Level.SHOULD, "spec/zre.md#presence",
      "the IUT reports SILENT for a peer still silent after EVASIVE, not before",
      needs=("evasive-events",), expired_budget=1.0)
async def silent_event(ctx: Ctx) -> None:
    peer, mark = await _go_silent(ctx)
    ev = await ctx.expect_event("SILENT", peer.uuid_hex, ctx.t_evasive + ctx.t_tick, mark,
                                what="no SILENT event after EVASIVE")
    ctx.too_early("SILENT", ctx.timers.evasive, peer.last_sent, ev.t)


@case("expired.exit", Level.MUST, "spec/zre.md#presence",
      "the IUT reports EXIT for a peer silent past its expired timeout, and not before",
      expired_budget=1.5)
async def expired_exit(ctx: Ctx) -> None:
    peer, mark = await _go_silent(ctx)
    ev = await ctx.expect_event("EXIT", peer.uuid_hex, ctx.t_expired, mark,
                                what=f"no EXIT within {ctx.t_expired:.1f} s of silence "
                                     f"(expired timeout {ctx.timers.expired:.1f} s)")
    ctx.too_early("EXIT", ctx.timers.expired, peer.last_sent, ev.t)


@case("ping.keeps-alive", Level.MUST, "spec/zre.md#presence",
      "a peer that answers PING with PING-OK is not expired", expired_budget=2.5)
async def ping_keeps_alive(ctx: Ctx) -> None:
    peer, mark = await _go_silent(ctx)

    async def answer() -> None:
        index = peer.mark()
        while True:
            got = await peer.wait_msg(ctx.from_iut("PING"), 3600.0, index)
            if got is None:
                return
            index = peer.inbox.index(got) + 1
            await peer.send(zm.PingOk(sequence=peer.next_seq()))

    task = asyncio.create_task(answer())
    try:
        window = 2 * ctx.timers.expired + ctx.t_tick
        bad = await ctx.no_event("EXIT", peer.uuid_hex, window, mark)
        ctx.check(bad is None, "the IUT expired a peer that answered every PING")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@case("stop.event", Level.SHOULD, "spec/zre.md#events",
      "`stop` gives a STOP event naming the IUT itself", needs=("stop-event",))
async def stop_event(ctx: Ctx) -> None:
    iut = await ctx.start_iut()
    await ctx.iut_beacon()
    mark = ctx.agent.mark()
    await ctx.stop_iut()
    await ctx.expect_event("STOP", iut.uuid_hex, ctx.t_react, mark,
                           what="no STOP event after `stop`")
