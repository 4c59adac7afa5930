"""Gossip discovery as zyre does it (spec/zgossip.md#zyre): the runner is the IUT's gossip hub,
or a client of the IUT's gossip service (capability `gossip`)."""

from __future__ import annotations

import asyncio
import socket

from zre_ref.aio.zgossip import Gossip

from ..verdicts import Level
from . import case
from .context import Ctx


async def _tuple(ctx: Ctx, service: Gossip, key: str, what: str) -> str:
    """The value the gossip service holds for ``key``, waiting up to the reaction window."""
    try:
        await service.wait_for(lambda t: key in t, ctx.t_react)
    except asyncio.TimeoutError:
        ctx.fail(f"{what} within {ctx.t_react:.1f} s")
    return service.tuples()[key]


@case("gossip.hub", Level.MUST, "spec/zgossip.md#how-zyre-uses-it",
      "connected to the runner's gossip hub, the IUT publishes UUID = endpoint and says HELLO to "
      "a peer published there", needs=("gossip",))
async def gossip_hub(ctx: Ctx) -> None:
    async with Gossip() as hub:
        endpoint = await hub.bind("tcp://127.0.0.1:*")
        peer = await ctx.new_peer()
        hub.publish(peer.uuid_hex, peer.endpoint)
        mark = peer.mark()
        iut = await ctx.start_iut(beacon=False, gossip={"bind": None, "connect": [endpoint]})
        value = await _tuple(ctx, hub, iut.uuid_hex, "the IUT published no tuple at the hub")
        ctx.check(value.split("|", 1)[0] == iut.endpoint,
                  f"the IUT published {value!r}, its endpoint is {iut.endpoint!r}")
        await ctx.expect_msg(peer, "HELLO", since=mark,
                             what="the IUT did not connect to the peer it learned by gossip")


@case("gossip.server", Level.MUST, "spec/zgossip.md#how-zyre-uses-it",
      "the IUT's own gossip service takes the runner as a client: each learns the other's tuple "
      "and the IUT says HELLO to the runner's peer", needs=("gossip",))
async def gossip_server(ctx: Ctx) -> None:
    port = _free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    peer = await ctx.new_peer()
    mark = peer.mark()
    iut = await ctx.start_iut(beacon=False, gossip={"bind": endpoint, "connect": []})
    async with Gossip() as client:
        await client.connect(endpoint)
        client.publish(peer.uuid_hex, peer.endpoint)
        value = await _tuple(ctx, client, iut.uuid_hex, "the IUT's service sent no tuple of its own")
        ctx.check(value.split("|", 1)[0] == iut.endpoint,
                  f"the IUT published {value!r}, its endpoint is {iut.endpoint!r}")
        await ctx.expect_msg(peer, "HELLO", since=mark,
                             what="the IUT did not connect to the peer its service learned")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
