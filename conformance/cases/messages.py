"""SHOUT and WHISPER both ways with empty, single and multi-frame content (spec/zre.md#shout)."""

from __future__ import annotations

from collections.abc import Callable

from zre_ref.zre import messages as zm

from ..verdicts import Level
from . import CaseFunc, case
from .common import iut_joins, msg_as, ready
from .context import Ctx, frames_of, hexframes

#: Content shapes every direction is tried with
SHAPES = ("empty", "single", "multi")


def content_for(ctx: Ctx, shape: str) -> list[bytes]:
    """Seeded content: no frames, one frame, or several frames (one of them empty, one binary)."""
    if shape == "empty":
        return []
    if shape == "single":
        return [b"hello " + ctx.random_bytes(6).hex().encode()]
    return [b"part-1", b"", ctx.random_bytes(40), bytes(range(256)), b"last"]


def same_content(got: list[bytes], sent: list[bytes]) -> bool:
    """Equal content; an empty message may arrive as no frame or one empty frame (zyre)."""
    if not sent:
        return got in ([], [b""])
    return got == sent


def _shout_send(shape: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        group = ctx.random_name("ss")
        _iut, peer, _hello = await ready(ctx, peer_groups=[group])
        mark = peer.mark()
        await iut_joins(ctx, peer, group, mark)
        content = content_for(ctx, shape)
        await ctx.agent.request("shout", group=group, content=hexframes(content))
        got = await ctx.expect_msg(peer, "SHOUT", since=mark,
                                   what=f"no SHOUT on the wire within {ctx.t_react:.1f} s")
        shout = msg_as(ctx, got, zm.Shout)
        ctx.check(shout.group == group, f"SHOUT group {shout.group!r}, expected {group!r}")
        ctx.check(same_content(list(shout.content), content),
                  f"SHOUT content {hexframes(shout.content)}, sent {hexframes(content)}")
    return run


def _shout_recv(shape: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        group = ctx.random_name("sr")
        _iut, peer, _hello = await ready(ctx, iut_groups=[group])
        mark = ctx.agent.mark()
        content = content_for(ctx, shape)
        await peer.join(group)
        await peer.shout(group, content)
        ev = await ctx.expect_event("SHOUT", peer.uuid_hex, since=mark,
                                    what=f"no SHOUT event within {ctx.t_react:.1f} s")
        ctx.check(ev.data.get("group") == group, f"SHOUT event group {ev.data.get('group')!r}")
        ctx.check(same_content(frames_of(ev), content),
                  f"SHOUT event content {ev.data.get('content')}, sent {hexframes(content)}")
    return run


def _whisper_send(shape: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        _iut, peer, _hello = await ready(ctx)
        mark = peer.mark()
        content = content_for(ctx, shape)
        await ctx.agent.request("whisper", peer=peer.uuid_hex, content=hexframes(content))
        got = await ctx.expect_msg(peer, "WHISPER", since=mark,
                                   what=f"no WHISPER on the wire within {ctx.t_react:.1f} s")
        whisper = msg_as(ctx, got, zm.Whisper)
        ctx.check(same_content(list(whisper.content), content),
                  f"WHISPER content {hexframes(whisper.content)}, sent {hexframes(content)}")
    return run


def _whisper_recv(shape: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        _iut, peer, _hello = await ready(ctx)
        mark = ctx.agent.mark()
        content = content_for(ctx, shape)
        await peer.whisper(content)
        ev = await ctx.expect_event("WHISPER", peer.uuid_hex, since=mark,
                                    what=f"no WHISPER event within {ctx.t_react:.1f} s")
        ctx.check(same_content(frames_of(ev), content),
                  f"WHISPER event content {ev.data.get('content')}, sent {hexframes(content)}")
    return run


_MAKERS: tuple[tuple[str, str, str, Callable[[str], CaseFunc]], ...] = (
    ("shout.send", "spec/zre.md#shout", "the IUT's SHOUT reaches a member with {} content", _shout_send),
    ("shout.recv", "spec/zre.md#shout", "a SHOUT with {} content gives a SHOUT event", _shout_recv),
    ("whisper.send", "spec/zre.md#whisper", "the IUT's WHISPER carries {} content", _whisper_send),
    ("whisper.recv", "spec/zre.md#whisper", "a WHISPER with {} content gives a WHISPER event",
     _whisper_recv),
)

for _prefix, _anchor, _title, _maker in _MAKERS:
    for _shape in SHAPES:
        _label = {"empty": "empty", "single": "single-frame", "multi": "multi-frame"}[_shape]
        case(f"{_prefix}.{_shape}", Level.MUST, _anchor, _title.format(_label),
             two_party=True)(_maker(_shape))


@case("shout.only-members", Level.MUST, "spec/zre.md#shout",
      "the IUT sends a SHOUT only to peers in that group")
async def shout_only_members(ctx: Ctx) -> None:
    group = ctx.random_name("om")
    await ctx.start_iut()
    member = await ctx.new_peer(groups=[group], label="Pin")
    other = await ctx.new_peer(label="Pout")
    await ctx.meet(member)
    await ctx.meet(other)
    m1, m2 = member.mark(), other.mark()
    await iut_joins(ctx, member, group, m1)
    await ctx.agent.request("shout", group=group, content=hexframes([b"members only"]))
    await ctx.expect_msg(member, "SHOUT", since=m1)
    await other.ping()
    await ctx.expect_msg(other, "PING-OK", since=m2)
    iut_uuid = ctx.iut.uuid if ctx.iut else b""
    leaked = [r for r in other.messages_from(iut_uuid, m2) if r.kind == "SHOUT"]
    ctx.check(not leaked, "a peer outside the group received the SHOUT")
