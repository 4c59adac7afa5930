"""zyre's ELECT / LEADER (spec/election.md): what every implementation must survive, and what a
node taking part in elections answers (spec/conformance.md#cases)."""

from __future__ import annotations

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
