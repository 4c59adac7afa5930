"""Helpers shared by the case modules (spec/conformance.md#cases)."""

from __future__ import annotations

from collections.abc import Sequence

from zre_ref.zre import messages as zm

from ..peer import Received, WirePeer
from .context import Ctx, Iut


async def ready(ctx: Ctx, *, iut_groups: Sequence[str] = (), peer_groups: Sequence[str] = (),
                beacon: bool = True, headers: dict[str, str] | None = None
                ) -> tuple[Iut, WirePeer, zm.Hello]:
    """Start the IUT, open one wire peer and let them meet; returns the IUT's HELLO."""
    iut = await ctx.start_iut(groups=iut_groups, headers=headers)
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
    except Exception as exc:
        ctx.fail(f"after {why}, a new peer could not meet the IUT: {exc}")


async def ping_roundtrip(ctx: Ctx, peer: WirePeer, why: str) -> None:
    """The IUT still answers ``peer``'s PING with PING-OK."""
    mark = peer.mark()
    await peer.ping()
    got = await peer.wait_msg(ctx.from_iut("PING-OK"), ctx.t_react, mark)
    if got is None:
        ctx.fail(f"after {why}, the IUT no longer answered PING with PING-OK "
                 f"within {ctx.t_react:.1f} s")


def raw_data_frame(msg_id: int, sequence: int, body: bytes = b"", *, version: int = 2,
                   signature: bytes = b"\xaa\xa1") -> bytes:
    """A hand-built ZRE data frame for fault injection (spec/zre.md#message-layout)."""
    return signature + bytes((msg_id, version)) + sequence.to_bytes(2, "big") + body


def upcoming_seq(peer: WirePeer) -> int:
    """The sequence number the IUT expects next from ``peer`` (without consuming it)."""
    return zm.next_sequence(peer.seq)
