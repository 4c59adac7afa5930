"""HELLO cases: first message, version, sequence 1, identity, fields, ENTER (spec/zre.md#hello)."""

from __future__ import annotations

from zre_ref.zre import messages as zm

from ..verdicts import Level
from . import case
from .context import Ctx


async def _first_from_iut(ctx: Ctx, *, groups: tuple[str, ...] = ()) -> tuple[zm.Hello | None, bytes, list[bytes], str]:
    """Start the IUT, beacon at it, return its first message (decoded or not) to our ROUTER."""
    iut = await ctx.start_iut(groups=groups)
    peer = await ctx.new_peer()
    await ctx.iut_beacon()
    mark = peer.mark()
    peer.start_beacon(ctx.timers.beacon_interval)
    got = await peer.wait_msg(lambda r: len(r.identity) != zm.IDENTITY_SIZE or r.uuid == iut.uuid,
                              ctx.t_discover, mark)
    if got is None:
        ctx.fail(f"the IUT sent nothing to our beacon within {ctx.t_discover:.1f} s")
    desc = got.kind or (f"an undecodable message ({got.error.reason})" if got.error else "?")
    return (got.msg if isinstance(got.msg, zm.Hello) else None), got.identity, got.frames, desc


@case("hello.first", Level.MUST, "spec/zre.md#hello",
      "the first message on a new connection is HELLO", two_party=True)
async def hello_first(ctx: Ctx) -> None:
    hello, _identity, frames, desc = await _first_from_iut(ctx)
    if hello is None and frames and len(frames[0]) >= 4 and frames[0][:3] == b"\xaa\xa1\x01":
        return  # a HELLO with some other defect: hello.version/hello.fields report it
    ctx.check(hello is not None, f"the first message was {desc}, not HELLO")


@case("hello.version", Level.MUST, "spec/zre.md#message-layout",
      "the IUT's messages carry signature AA A1 and version 2")
async def hello_version(ctx: Ctx) -> None:
    _hello, _identity, frames, _desc = await _first_from_iut(ctx)
    ctx.check(bool(frames) and len(frames[0]) >= 4, "first message too short to hold a header")
    data = frames[0]
    ctx.check(data[:2] == b"\xaa\xa1", f"signature {data[:2].hex()}, expected aaa1")
    ctx.check(data[3] == zm.ZRE_VERSION, f"version byte {data[3]}, expected {zm.ZRE_VERSION}")


@case("hello.sequence", Level.MUST, "spec/zre.md#sequence",
      "HELLO carries sequence number 1")
async def hello_sequence(ctx: Ctx) -> None:
    _hello, _identity, frames, _desc = await _first_from_iut(ctx)
    ctx.check(bool(frames) and len(frames[0]) >= 6, "first message too short to hold a sequence")
    seq = int.from_bytes(frames[0][4:6], "big")
    ctx.check(seq == 1, f"the first message carries sequence {seq}, expected 1")


@case("hello.identity", Level.MUST, "spec/zre.md#identity",
      "the IUT's DEALER identity is 17 bytes: 0x01 then its 16-byte UUID")
async def hello_identity(ctx: Ctx) -> None:
    _hello, identity, _frames, _desc = await _first_from_iut(ctx)
    iut = ctx.started_iut()
    ctx.check(len(identity) == zm.IDENTITY_SIZE,
              f"identity is {len(identity)} bytes ({identity.hex()}), expected 17")
    ctx.check(identity[0] == zm.IDENTITY_PREFIX, f"identity starts with {identity[0]:#04x}, expected 0x01")
    ctx.check(identity[1:] == iut.uuid,
              f"identity UUID {identity[1:].hex().upper()} is not the IUT's ({iut.uuid_hex})")


@case("hello.fields", Level.MUST, "spec/zre.md#hello",
      "HELLO carries the IUT's endpoint, name, headers, no groups and status 0")
async def hello_fields(ctx: Ctx) -> None:
    hello, _identity, _frames, desc = await _first_from_iut(ctx)
    iut = ctx.started_iut()
    if hello is None:
        ctx.fail(f"the first message was {desc}, not a decodable HELLO")
    ctx.check(hello.endpoint in (iut.endpoint, ctx.iut_beacon_endpoint),
              f"HELLO endpoint {hello.endpoint!r}; the IUT listens at {iut.endpoint!r}")
    ctx.check(hello.name == iut.name, f"HELLO name {hello.name!r}, `start` said {iut.name!r}")
    ctx.check(hello.groups == (), f"HELLO groups {list(hello.groups)}, expected none")
    ctx.check(hello.status == 0, f"HELLO status {hello.status}, expected 0 (no JOIN/LEAVE yet)")
    if ctx.agent.hello and "headers" in ctx.agent.hello.capabilities:
        ctx.check(hello.headers == iut.headers,
                  f"HELLO headers {hello.headers}, `start` said {iut.headers}")


@case("hello.groups", Level.MUST, "spec/zre.md#hello",
      "HELLO lists the groups the IUT joined before it met us")
async def hello_groups(ctx: Ctx) -> None:
    groups = (ctx.random_name("ga"), ctx.random_name("gb"))
    hello, _identity, _frames, desc = await _first_from_iut(ctx, groups=groups)
    if hello is None:
        ctx.fail(f"the first message was {desc}, not a decodable HELLO")
    ctx.check(sorted(hello.groups) == sorted(groups),
              f"HELLO groups {sorted(hello.groups)}, expected {sorted(groups)}")


@case("hello.tcp-first", Level.MUST, "spec/zre.md#hello",
      "a HELLO from an unknown peer makes the IUT connect back and send its own HELLO",
      two_party=True)
async def hello_tcp_first(ctx: Ctx) -> None:
    await ctx.start_iut()
    peer = await ctx.new_peer()
    await ctx.meet(peer, beacon=False)


@case("hello.enter-event", Level.MUST, "spec/zre.md#events",
      "ENTER carries the peer's UUID, name, headers and HELLO endpoint", two_party=True)
async def hello_enter_event(ctx: Ctx) -> None:
    await ctx.start_iut()
    headers = {"X-ALPHA": ctx.random_name("a"), "X-EMPTY": "", "X-UTF8": "grüß"}
    peer = await ctx.new_peer(headers=headers, name=ctx.random_name("named"))
    mark = ctx.agent.mark()
    await ctx.meet(peer)
    ev = await ctx.expect_event("ENTER", peer.uuid_hex, ctx.t_react, mark)
    d = ev.data
    ctx.check(d.get("name") == peer.name, f"ENTER name {d.get('name')!r}, expected {peer.name!r}")
    ctx.check(d.get("endpoint") == peer.endpoint,
              f"ENTER endpoint {d.get('endpoint')!r}, our HELLO said {peer.endpoint!r}")
    ctx.check(d.get("headers") == headers, f"ENTER headers {d.get('headers')}, sent {headers}")
