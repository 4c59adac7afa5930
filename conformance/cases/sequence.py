"""Sequence cases: increments per message, wraps at 65535, gaps (spec/zre.md#sequence)."""

from __future__ import annotations

import asyncio
import itertools
import time

from zre_ref.zre import messages as zm

from ..verdicts import Level
from . import case
from .common import (
    iut_joins,
    ping_roundtrip,
    pong_or_exit,
    raw_data_frame,
    ready,
    settle,
    still_works,
)
from .context import Ctx, hexframes

#: Messages sent in the wrap case: enough to pass 65535 -> 0 in both directions
WRAP_COUNT = 65536 + 8
#: PINGs sent per burst in the wrap case; it waits for most answers before the next burst, so
#: at most ~1.25 x this many are in flight (zyre's send HWM is expired x 100, 120 at 1.2 s)
WRAP_WINDOW = 64


@case("sequence.increments", Level.MUST, "spec/zre.md#sequence",
      "each message the IUT sends to a peer carries the previous sequence + 1")
async def sequence_increments(ctx: Ctx) -> None:
    group = ctx.random_name("seq")
    _iut, peer, hello = await ready(ctx, peer_groups=[group])
    mark = peer.mark()
    await iut_joins(ctx, peer, group, mark)
    await ctx.agent.request("shout", group=group, content=hexframes([b"one"]))
    await ctx.agent.request("whisper", peer=peer.uuid_hex, content=hexframes([b"two"]))
    await ctx.agent.request("leave", group=group)
    await ctx.expect_msg(peer, "LEAVE", since=mark)
    await peer.ping()
    await ctx.expect_msg(peer, "PING-OK", since=mark)
    got = [r for r in peer.messages_from(ctx.iut.uuid if ctx.iut else b"", mark) if r.msg]
    seqs = [r.msg.sequence for r in got if r.msg is not None]
    want = list(range(hello.sequence + 1, hello.sequence + 1 + len(seqs)))
    ctx.check(len(seqs) >= 5, f"expected 5 messages (JOIN SHOUT WHISPER LEAVE PING-OK), got "
              f"{[r.kind for r in got]}")
    ctx.check(seqs == want, f"sequences after HELLO were {seqs}, expected {want}")


@case("sequence.wrap", Level.MUST, "spec/zre.md#sequence",
      "sequence numbers wrap 65535 -> 0 both ways without dropping the peer",
      extra_seconds=120.0)
async def sequence_wrap(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    peer.stop_beacon()
    iut_uuid = ctx.iut.uuid if ctx.iut else b""
    mark_ev = ctx.agent.mark()
    mark = peer.mark()
    ctx.note("note", f"sending {WRAP_COUNT} PINGs (wire log quiet while they run)")
    peer.log_in = False
    sent = 0
    while sent < WRAP_COUNT:
        burst = min(WRAP_WINDOW, WRAP_COUNT - sent)
        for _ in range(burst):
            await peer.send(zm.Ping(sequence=peer.next_seq()), quiet=True)
        sent += burst
        # wait until the IUT has answered most of what we sent (bounded)
        deadline = time.monotonic() + 5.0 + ctx.cfg.slack
        while len(peer.inbox) - mark < sent - WRAP_WINDOW // 4 and time.monotonic() < deadline:
            ctx.alive()
            await asyncio.sleep(0.01)
        if len(peer.inbox) - mark < sent - WRAP_WINDOW // 4:
            ctx.fail(f"the IUT stopped answering PINGs after {len(peer.inbox) - mark} of {sent} "
                     f"(our sequence was {peer.seq})")
        exit_ev = ctx.agent.find_events(lambda e: e.kind == "EXIT" and e.peer == peer.uuid_hex, mark_ev)
        if exit_ev:
            ctx.fail(f"the IUT dropped us (EXIT) after {sent} PINGs, our sequence at {peer.seq}")
    deadline = time.monotonic() + 5.0 + ctx.cfg.slack
    while len(peer.inbox) - mark < WRAP_COUNT and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    peer.log_in = True
    answers = [r for r in peer.inbox[mark:] if r.uuid == iut_uuid]
    ctx.note("note", f"{len(answers)} answers to {WRAP_COUNT} PINGs; the last ones carried "
             f"{[r.msg.sequence for r in answers[-4:] if r.msg is not None]}")
    seqs = [r.msg.sequence for r in answers if r.msg is not None]
    for a, b in itertools.pairwise(seqs):
        if b != zm.next_sequence(a):
            ctx.fail(f"the IUT's sequence went {a} -> {b}; after 65535 comes 0")
    if ctx.agent.find_events(lambda e: e.kind == "EXIT" and e.peer == peer.uuid_hex, mark_ev):
        last = seqs[-1] if seqs else None
        ctx.fail(f"the IUT dropped us (EXIT) around our sequence 65535 -> 0; its last PING-OK "
                 f"carried {last}")
    ctx.check(len(answers) >= WRAP_COUNT, f"only {len(answers)} PING-OKs for {WRAP_COUNT} PINGs")
    ctx.check(65535 in seqs and 0 in seqs[1:], "the IUT's sequence never passed 65535 -> 0")
    await ping_roundtrip(ctx, peer, "the wrap")


@case("sequence.gap-exit", Level.SHOULD, "spec/zre.md#sequence",
      "a sequence gap from a peer makes the IUT drop it (EXIT)", two_party=True)
async def sequence_gap_exit(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    mark = ctx.agent.mark()
    peer.next_seq()  # skip one number
    await peer.send(zm.Whisper(sequence=peer.next_seq(), content=(b"after-gap",)))
    await ctx.expect_event("EXIT", peer.uuid_hex, ctx.t_react, mark,
                           what=f"no EXIT within {ctx.t_react:.1f} s after a sequence gap")
    whisper = ctx.agent.find_events(lambda e: e.kind == "WHISPER" and e.peer == peer.uuid_hex, mark)
    ctx.check(not whisper, "the IUT delivered the message after the gap as WHISPER")


@case("robust.sequence-gap", Level.MUST, "spec/zre.md#sequence",
      "a sequence gap does not crash the IUT")
async def robust_sequence_gap(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    peer.next_seq()
    peer.next_seq()
    await peer.send_frames([raw_data_frame(6, peer.next_seq())], text="PING with a sequence gap")
    await settle(ctx, peer, ctx.t_react)
    await still_works(ctx, "a sequence gap")


@case("sequence.gap-served", Level.MUST, "spec/zre.md#sequence",
      "after a sequence gap the IUT drops the peer (EXIT) or keeps serving it: a peer that still "
      "beacons and sends a correctly numbered PING gets PING-OK or EXIT, never silence")
async def sequence_gap_served(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)  # the peer keeps beaconing: it is alive
    mark_ev = ctx.agent.mark()
    peer.next_seq()  # skip one number
    await peer.send(zm.Whisper(sequence=peer.next_seq(), content=(b"after-gap",)))
    mark = peer.mark()
    began = time.monotonic()
    await peer.ping()  # numbered after the WHISPER, as the peer counts
    window = ctx.t_react
    if await pong_or_exit(ctx, peer, window, mark, mark_ev) is not None:
        return
    late = await pong_or_exit(ctx, peer, ctx.late_grace(window), mark, mark_ev)
    if late is not None:
        ctx.came_late("PING-OK or EXIT", window, began, late)
    ctx.fail(f"after a sequence gap the IUT neither dropped the peer (no EXIT) nor answered its "
             f"next PING within {window:.1f} s, while the peer kept beaconing: it stalls the "
             f"peer silently")
