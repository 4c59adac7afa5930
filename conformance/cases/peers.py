"""Peer table cases: endpoint reuse by a new UUID, restart HELLO, `peers` (spec/zre.md#harmony)."""

from __future__ import annotations

import asyncio

from ..verdicts import Level
from . import case
from .common import ready
from .context import Ctx, hexframes


@case("peer.endpoint-reuse", Level.MUST, "spec/zre.md#harmony",
      "a new UUID at a departed peer's endpoint is a new peer, and gets our messages")
async def peer_endpoint_reuse(ctx: Ctx) -> None:
    _iut, old, _hello = await ready(ctx)
    port = old.port
    await old.close()  # the old peer's process is gone: no port-0 beacon, no goodbye
    ctx.note("note", f"{old.label} vanished; a new UUID binds the same port {port}")
    await asyncio.sleep(0.1)
    new = await ctx.new_peer(port=port, label="Pnew")
    ctx.check(new.port == port, f"could not rebind port {port} for the new peer")
    mark = ctx.agent.mark()
    await ctx.meet(new)
    await ctx.expect_event("ENTER", new.uuid_hex, ctx.t_react, mark)
    m = new.mark()
    await ctx.agent.request("whisper", peer=new.uuid_hex, content=hexframes([b"to the new one"]))
    await ctx.expect_msg(new, "WHISPER", since=m,
                         what="a WHISPER to the new peer did not reach it")


@case("peer.restart-hello", Level.MUST, "spec/zre.md#harmony",
      "a second HELLO (sequence 1) from a ready peer is a restart: ENTER again, traffic flows")
async def peer_restart_hello(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    mark = ctx.agent.mark()
    await peer.connect(ctx.iut_beacon_endpoint)  # a new connection, as a restarted node opens
    await peer.hello()
    await ctx.expect_event("ENTER", peer.uuid_hex, ctx.t_discover, mark,
                           what="no new ENTER after a restart HELLO")
    await peer.whisper([b"after restart"])
    await ctx.expect_event("WHISPER", peer.uuid_hex, ctx.t_react, mark,
                           what="a WHISPER after the restart HELLO was not delivered")


@case("peer.restart-exit", Level.SHOULD, "spec/zre.md#harmony",
      "a restart HELLO from a ready peer gives EXIT before the new ENTER")
async def peer_restart_exit(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    mark = ctx.agent.mark()
    await peer.connect(ctx.iut_beacon_endpoint)
    await peer.hello()
    enter = await ctx.expect_event("ENTER", peer.uuid_hex, ctx.t_discover, mark)
    exits = ctx.agent.find_events(lambda e: e.kind == "EXIT" and e.peer == peer.uuid_hex, mark)
    ctx.check(bool(exits) and exits[0].t <= enter.t, "no EXIT before the second ENTER")


@case("peer.peers-command", Level.MUST, "spec/conformance.md#commands",
      "`peers` lists a peer after its ENTER", needs=("peers",), two_party=True)
async def peer_peers_command(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    reply = await ctx.agent.request("peers")
    ids = [p.get("peer") for p in reply.get("peers", [])]
    ctx.check(peer.uuid_hex in ids, f"`peers` answered {ids}, without {peer.uuid_hex}")
