"""Group cases: JOIN/LEAVE on the wire with status counting, and as events (spec/zre.md#join)."""

from __future__ import annotations

from collections.abc import Callable

from zre_ref.zre import messages as zm

from ..agent import Event
from ..verdicts import Level
from . import case
from .common import iut_joins, msg_as, ready
from .context import Ctx


@case("group.join-wire", Level.MUST, "spec/zre.md#join",
      "when the IUT joins a group it sends JOIN with the group and its status + 1")
async def group_join_wire(ctx: Ctx) -> None:
    group = ctx.random_name("join")
    _iut, peer, hello = await ready(ctx)
    mark = peer.mark()
    join = msg_as(ctx, await iut_joins(ctx, peer, group, mark), zm.Join)
    ctx.check(join.group == group, f"JOIN group {join.group!r}, expected {group!r}")
    want = zm.next_status(hello.status)
    ctx.check(join.status == want,
              f"JOIN status {join.status}, expected {want} (HELLO status {hello.status} + 1)")


@case("group.leave-wire", Level.MUST, "spec/zre.md#leave",
      "when the IUT leaves a group it sends LEAVE with the group and its status + 1")
async def group_leave_wire(ctx: Ctx) -> None:
    group = ctx.random_name("leave")
    _iut, peer, hello = await ready(ctx)
    mark = peer.mark()
    await iut_joins(ctx, peer, group, mark)
    await ctx.agent.request("leave", group=group)
    leave = msg_as(ctx, await ctx.expect_msg(peer, "LEAVE", since=mark), zm.Leave)
    ctx.check(leave.group == group, f"LEAVE group {leave.group!r}, expected {group!r}")
    want = zm.next_status(zm.next_status(hello.status))
    ctx.check(leave.status == want,
              f"LEAVE status {leave.status}, expected {want} (HELLO status {hello.status} + 2)")


@case("group.status-after-hello-groups", Level.MUST, "spec/zre.md#status",
      "a JOIN after a HELLO that listed groups continues the HELLO's status")
async def group_status_hello_groups(ctx: Ctx) -> None:
    pre = [ctx.random_name("pre1"), ctx.random_name("pre2")]
    group = ctx.random_name("after")
    _iut, peer, hello = await ready(ctx, iut_groups=pre)
    mark = peer.mark()
    join = msg_as(ctx, await iut_joins(ctx, peer, group, mark), zm.Join)
    want = zm.next_status(hello.status)
    ctx.check(join.status == want,
              f"JOIN status {join.status} after HELLO status {hello.status}; expected {want}")


@case("group.status-wrap", Level.MUST, "spec/zre.md#status",
      "the IUT's status is a u8: after 256 JOIN/LEAVEs it wraps 255 -> 0, and every JOIN/LEAVE "
      "on the wire carries the previous status + 1 (mod 256)")
async def group_status_wrap(ctx: Ctx) -> None:
    group = ctx.random_name("wrap")
    _iut, peer, hello = await ready(ctx)
    status = hello.status
    for i in range(258):  # alternate, so every command changes the group set exactly once
        kind = "JOIN" if i % 2 == 0 else "LEAVE"
        mark = peer.mark()
        await ctx.agent.request(kind.lower(), group=group)
        got = await ctx.expect_msg(peer, kind, since=mark,
                                   what=f"no {kind} from the IUT for change {i + 1} of 258")
        change: zm.Join | zm.Leave = (msg_as(ctx, got, zm.Join) if kind == "JOIN"
                                      else msg_as(ctx, got, zm.Leave))
        want = zm.next_status(status)
        ctx.check(change.status == want,
                  f"change {i + 1}: {kind} status {change.status} after {status}; expected {want}"
                  + (" (the status must wrap 255 -> 0)" if status >= 254 else ""))
        status = want


@case("group.duplicate-join", Level.SHOULD, "spec/zre.md#join",
      "joining a group twice sends one JOIN; leaving a group not joined sends no LEAVE")
async def group_duplicate_join(ctx: Ctx) -> None:
    group = ctx.random_name("dup")
    _iut, peer, _hello = await ready(ctx)
    mark = peer.mark()
    await iut_joins(ctx, peer, group, mark)
    await ctx.agent.request("join", group=group)
    await ctx.agent.request("leave", group=ctx.random_name("never"))
    await peer.ping()
    await ctx.expect_msg(peer, "PING-OK", since=mark)
    kinds = [r.kind for r in peer.messages_from(ctx.iut.uuid if ctx.iut else b"", mark)]
    ctx.check(kinds.count("JOIN") == 1, f"the IUT sent {kinds.count('JOIN')} JOINs for one group")
    ctx.check(kinds.count("LEAVE") == 0, "the IUT sent LEAVE for a group it never joined")


@case("group.join-event", Level.MUST, "spec/zre.md#join",
      "a JOIN from a peer gives a JOIN event with the group", two_party=True)
async def group_join_event(ctx: Ctx) -> None:
    group = ctx.random_name("pj")
    _iut, peer, _hello = await ready(ctx)
    mark = ctx.agent.mark()
    await peer.join(group)
    await ctx.expect_event("JOIN", peer.uuid_hex, since=mark,
                           pred=_group_is(group),
                           what=f"no JOIN event for group {group!r} within {ctx.t_react:.1f} s")


@case("group.leave-event", Level.MUST, "spec/zre.md#leave",
      "a LEAVE from a peer gives a LEAVE event with the group", two_party=True)
async def group_leave_event(ctx: Ctx) -> None:
    group = ctx.random_name("pl")
    _iut, peer, _hello = await ready(ctx)
    mark = ctx.agent.mark()
    await peer.join(group)
    await ctx.expect_event("JOIN", peer.uuid_hex, since=mark)
    await peer.leave(group)
    await ctx.expect_event("LEAVE", peer.uuid_hex, since=mark,
                           pred=_group_is(group),
                           what=f"no LEAVE event for group {group!r} within {ctx.t_react:.1f} s")


@case("group.hello-groups-event", Level.MUST, "spec/zre.md#hello",
      "groups listed in a peer's HELLO give JOIN events", two_party=True)
async def group_hello_groups_event(ctx: Ctx) -> None:
    groups = [ctx.random_name("hg1"), ctx.random_name("hg2")]
    mark = ctx.agent.mark()
    _iut, peer, _hello = await ready(ctx, peer_groups=groups)
    for g in groups:
        await ctx.expect_event("JOIN", peer.uuid_hex, since=mark, pred=_group_is(g),
                               what=f"no JOIN event for HELLO group {g!r}")


def _group_is(group: str) -> Callable[[Event], bool]:
    return lambda e: e.data.get("group") == group
