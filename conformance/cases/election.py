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
