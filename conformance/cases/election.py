"""zyre's ELECT / LEADER (spec/election.md): what every implementation must survive, and what a
node taking part in elections answers (spec/conformance.md#cases)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from zre_ref.zre import messages as zm

from ..verdicts import Level
from . import case
from .common import msg_as, ping_roundtrip, ready
from .context import Ctx


@case("elect.survives", Level.MUST, "spec/election.md#messages",
      "ELECT and LEADER from a peer, in a shared group and in an unknown one, do not cost that "
      "peer its place: PING still works")
async def elect_survives(ctx: Ctx) -> None:
    group = ctx.random_name("el")
    _iut, peer, _hello = await ready(ctx, iut_groups=[group], peer_groups=[group])
    other = ctx.random_name("nobody")
    for msg in (zm.Elect(sequence=peer.next_seq(), group=other, challenger_id=peer.uuid_hex),
                zm.Leader(sequence=peer.next_seq(), group=other, leader_id=peer.uuid_hex),
                zm.Elect(sequence=peer.next_seq(), group=group, challenger_id=peer.uuid_hex),
                zm.Leader(sequence=peer.next_seq(), group=group, leader_id=peer.uuid_hex)):
        await peer.send(msg)
    await ping_roundtrip(ctx, peer, "ELECT and LEADER")


@case("elect.echo", Level.SHOULD, "spec/election.md#state-machine",
      "in a group where the peer is the only other member, ELECT(peer) is echoed back at once")
async def elect_echo(ctx: Ctx) -> None:
    group = ctx.random_name("ee")
    _iut, peer, _hello = await ready(ctx, iut_groups=[group], peer_groups=[group])
    mark = peer.mark()
    await peer.send(zm.Elect(sequence=peer.next_seq(), group=group, challenger_id=peer.uuid_hex))
    got = await ctx.expect_msg(peer, "ELECT", since=mark,
                               what=f"no ELECT echo within {ctx.t_react:.1f} s")
    echo = msg_as(ctx, got, zm.Elect)
    ctx.check(echo.group == group and echo.challenger_id == peer.uuid_hex,
              f"echo ELECT({echo.group!r}, {echo.challenger_id!r}), expected "
              f"ELECT({group!r}, {peer.uuid_hex!r})")


@case("elect.contest", Level.MUST, "spec/election.md#state-machine",
      "an IUT contesting in a group starts an election on a peer's JOIN, leads it to the end and "
      "reports itself with a LEADER event", needs=("election",))
async def elect_contest(ctx: Ctx) -> None:
    group = ctx.random_name("ec")
    iut = await ctx.start_iut(groups=[group], contest=[group])
    peer = await ctx.new_peer()
    await ctx.meet(peer)
    mark, mark_ev = peer.mark(), ctx.agent.mark()
    await peer.join(group)  # the IUT's trigger; the runner's peer does not stand, it relays
    got = await ctx.expect_msg(peer, "ELECT", since=mark,
                               what=f"no ELECT after the peer's JOIN within {ctx.t_react:.1f} s")
    elect = msg_as(ctx, got, zm.Elect)
    ctx.check(elect.group == group and elect.challenger_id == iut.uuid_hex,
              f"ELECT({elect.group!r}, {elect.challenger_id!r}), expected its own UUID")
    mark = peer.mark()
    await peer.send(zm.Elect(sequence=peer.next_seq(), group=group, challenger_id=iut.uuid_hex))
    got = await ctx.expect_msg(peer, "LEADER", since=mark,
                               what=f"no LEADER after the echo within {ctx.t_react:.1f} s")
    leader = msg_as(ctx, got, zm.Leader)
    ctx.check(leader.group == group and leader.leader_id == iut.uuid_hex,
              f"LEADER({leader.group!r}, {leader.leader_id!r}), expected its own UUID")
    await peer.send(zm.Leader(sequence=peer.next_seq(), group=group, leader_id=iut.uuid_hex))
    ev = await ctx.expect_event("LEADER", iut.uuid_hex, since=mark_ev,
                                what=f"no LEADER event within {ctx.t_react:.1f} s")
    ctx.check(ev.data.get("group") == group, f"LEADER event group {ev.data.get('group')!r}")


async def _run_wave(ctx: Ctx, iut_uuid: str, group: str, relay: Any, mark: int) -> None:
    """The IUT's ELECT reaches ``relay``; the relay echoes it, passes the LEADER on."""
    await ctx.expect_msg(relay, "ELECT", since=mark, what=f"no ELECT to {relay.label}")
    mark = relay.mark()
    await relay.send(zm.Elect(sequence=relay.next_seq(), group=group, challenger_id=iut_uuid))
    await ctx.expect_msg(relay, "LEADER", since=mark, what=f"no LEADER to {relay.label}")
    await relay.send(zm.Leader(sequence=relay.next_seq(), group=group, leader_id=iut_uuid))


@case("elect.member-crash", Level.SHOULD, "spec/election.md#when-an-election-starts",
      "a member that crashes in the middle of an election does not leave the group without a "
      "leader: once it has expired, the contesting IUT runs the election again and leads it",
      needs=("election",), expired_budget=1.5)
async def elect_member_crash(ctx: Ctx) -> None:
    group = ctx.random_name("mc")
    iut = await ctx.start_iut(groups=[group], contest=[group])
    p1, p2 = await ctx.new_peer(), await ctx.new_peer()
    await ctx.meet(p1)
    await ctx.meet(p2)
    await p1.join(group)
    mark_ev = ctx.agent.mark()
    await p2.join(group)  # the IUT stands: ELECT to P1 and P2
    await ctx.expect_msg(p2, "ELECT", since=0, what="no ELECT to P2 after its JOIN")
    await p2.close()  # P2 crashes without answering
    mark = p1.mark()
    await p1.send(zm.Elect(sequence=p1.next_seq(), group=group, challenger_id=iut.uuid_hex))
    alive = asyncio.create_task(_answer_pings(ctx, p1))  # P1 stays, P2 expires
    try:
        await ctx.expect_event("EXIT", p2.uuid_hex, ctx.t_expired, mark_ev,
                               what=f"no EXIT of the crashed P2 within {ctx.t_expired:.1f} s")
        await _run_wave(ctx, iut.uuid_hex, group, p1, mark)
        await ctx.expect_event("LEADER", iut.uuid_hex, since=mark_ev,
                               what="no LEADER event: the election never finished")
    finally:
        alive.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await alive


async def _answer_pings(ctx: Ctx, peer: Any) -> None:
    """Answer every PING the IUT sends ``peer`` (until cancelled)."""
    since = peer.mark()
    while (ping := await peer.wait_msg(ctx.from_iut("PING"), 3600.0, since)) is not None:
        since = peer.inbox.index(ping) + 1
        await peer.send(zm.PingOk(sequence=peer.next_seq()))
