"""Helpers shared by the case modules (spec/conformance.md#cases)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

from zre_ref.zre import messages as zm

from ..peer import Received, WirePeer
from . import CaseFailed
from .context import Ctx, Iut, Timers

M = TypeVar("M", bound=zm.ZreMessage)


async def ready(ctx: Ctx, *, iut_groups: Sequence[str] = (), peer_groups: Sequence[str] = (),
                beacon: bool = True, headers: dict[str, str] | None = None,
                timers: Timers | None = None) -> tuple[Iut, WirePeer, zm.Hello]:
    """Start the IUT (with ``timers`` instead of the case's, if given), open one wire peer and
    let them meet; returns the IUT's HELLO."""
    iut = await ctx.start_iut(groups=iut_groups, headers=headers, timers=timers)
    peer = await ctx.new_peer(groups=peer_groups)
    got = await ctx.meet(peer, beacon=beacon)
    if not isinstance(got.msg, zm.Hello):
        ctx.fail("the IUT's first message did not decode as HELLO")
    return iut, peer, got.msg


async def iut_joins(ctx: Ctx, peer: WirePeer, group: str, since: int) -> Received:
    """Ask the IUT to join ``group``; its JOIN as ``peer`` receives it (spec/zre.md#join)."""
    await ctx.agent.request("join", group=group)
    return await ctx.expect_msg(peer, "JOIN", since=since)


async def still_works(ctx: Ctx, why: str) -> None:
    """The IUT survived: a brand-new peer can still meet it (beacon, HELLO both ways, ENTER)."""
    ctx.alive()
    fresh = await ctx.new_peer(label="Pcheck")
    try:
        await ctx.meet(fresh)
    except CaseFailed as exc:  # slow (CaseSlow) and a dead agent keep their own verdicts
        ctx.fail(f"after {why}, a new peer could not meet the IUT: {exc}")


async def ping_roundtrip(ctx: Ctx, peer: WirePeer, why: str, timeout: float | None = None) -> None:
    """The IUT still answers ``peer``'s PING with PING-OK."""
    mark = peer.mark()
    await peer.ping()
    t = ctx.t_react if timeout is None else timeout
    await ctx.expect_msg(peer, "PING-OK", t, mark,
                         what=f"after {why}, the IUT no longer answered {peer.label}'s PING with "
                              f"PING-OK within {t:.1f} s")


async def settle(ctx: Ctx, peer: WirePeer, budget: float) -> None:
    """Wait (up to ``budget`` s) until the IUT has worked through what ``peer`` sent: a PING sent
    now is answered, or the IUT dropped ``peer``. Checks timed after this do not count the
    IUT's backlog (spec/conformance.md#deadlines). Silence is no verdict here."""
    mark, mark_ev = peer.mark(), ctx.agent.mark()
    try:
        await peer.ping()
    except Exception as exc:  # our DEALER is gone: nothing to wait for
        ctx.note("note", f"settle: {peer.label} cannot PING: {exc}")
        return
    sent = time.monotonic()
    answered = await pong_or_exit(ctx, peer, budget, mark, mark_ev)
    if answered is None:
        ctx.note("note", f"settle: no PING-OK or EXIT for {peer.label} within {budget:.1f} s")
    else:
        ctx.measured_lag(answered - sent)  # a busy IUT widens every later window


async def pong_or_exit(ctx: Ctx, peer: WirePeer, window: float, mark: int,
                       mark_ev: int) -> float | None:
    """When (monotonic) the IUT answered ``peer``'s PING with PING-OK (inbox after ``mark``) or
    reported EXIT for it (events after ``mark_ev``), whichever came first; None if neither
    within ``window`` seconds."""
    deadline = time.monotonic() + window
    while True:
        pong = peer.messages_from(ctx.started_iut().uuid, mark)
        pong = [r for r in pong if r.kind == "PING-OK"]
        gone = ctx.agent.find_events(lambda e: e.peer == peer.uuid_hex and e.kind == "EXIT", mark_ev)
        if pong or gone:
            return min([r.t for r in pong] + [e.t for e in gone])
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await peer.wait_msg(ctx.from_iut("PING-OK"), min(left, 0.1), mark)


def msg_as(ctx: Ctx, got: Received, kind: type[M]) -> M:
    """The decoded message of ``got`` as ``kind``, or FAIL saying what the IUT sent instead."""
    if not isinstance(got.msg, kind):
        ctx.fail(f"expected {kind.__name__} from the IUT, got {got.kind or 'an undecodable message'}")
    return got.msg


def raw_data_frame(msg_id: int, sequence: int, body: bytes = b"", *, version: int = 2,
                   signature: bytes = b"\xaa\xa1") -> bytes:
    """A hand-built ZRE data frame for fault injection (spec/zre.md#message-layout)."""
    return signature + bytes((msg_id, version)) + sequence.to_bytes(2, "big") + body


def upcoming_seq(peer: WirePeer) -> int:
    """The sequence number the IUT expects next from ``peer`` (without consuming it)."""
    return zm.next_sequence(peer.seq)
