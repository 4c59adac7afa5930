"""asyncio ZGOSSIP on loopback (spec/zgossip.md#service): hubs, chains with cycles, server restart,
TTL expiry. Every wait is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from zre_ref.aio.zgossip import Gossip

WAIT = 5.0


def holds(want: dict[str, str]) -> Callable[[dict[str, str]], bool]:
    return lambda tuples: all(tuples.get(k) == v for k, v in want.items())


def test_hub_and_nodes_converge() -> None:
    async def main() -> None:
        async with Gossip() as hub:
            ep = await hub.bind("tcp://127.0.0.1:*")
            delivered: list[tuple[str, str]] = []
            nodes = [Gossip(on_delivered=lambda k, v: delivered.append((k, v))) for _ in range(3)]
            try:
                for i, n in enumerate(nodes):
                    await n.connect(ep)
                    n.publish(f"uuid-{i}", f"tcp://127.0.0.1:{6000 + i}")
                want = {f"uuid-{i}": f"tcp://127.0.0.1:{6000 + i}" for i in range(3)}
                for g in [hub, *nodes]:
                    await g.wait_for(holds(want), WAIT)
                # each node's application heard of each tuple once
                assert sorted(delivered) == sorted([kv for kv in want.items()] * 3)
            finally:
                for n in nodes:
                    await n.close()

    asyncio.run(main())


def test_two_hubs_in_a_cycle() -> None:
    async def main() -> None:
        async with Gossip() as h1, Gossip() as h2, Gossip() as n1, Gossip() as n2:
            e1 = await h1.bind("tcp://127.0.0.1:*")
            e2 = await h2.bind("tcp://127.0.0.1:*")
            await h1.connect(e2)
            await h2.connect(e1)
            await n1.connect(e1)
            await n2.connect(e2)
            n1.publish("one", "1")
            n2.publish("two", "2")
            for g in (h1, h2, n1, n2):
                await g.wait_for(holds({"one": "1", "two": "2"}), WAIT)

    asyncio.run(main())


def test_node_republishes_to_a_restarted_hub() -> None:
    async def main() -> None:
        hub = Gossip()
        ep = await hub.bind("tcp://127.0.0.1:*")
        async with Gossip(ping_interval=0.1) as node:
            await node.connect(ep)
            node.publish("me", "here")
            await hub.wait_for(holds({"me": "here"}), WAIT)
            await hub.close()
            async with Gossip() as again:
                await again.bind(ep)
                await again.wait_for(holds({"me": "here"}), WAIT)

    asyncio.run(main())


def test_ttl_expires_everywhere() -> None:
    async def main() -> None:
        expired: list[str] = []
        async with Gossip(on_expired=lambda k, v: expired.append(k)) as hub, Gossip() as node:
            ep = await hub.bind("tcp://127.0.0.1:*")
            await node.connect(ep)
            node.publish("short", "lived", ttl_ms=300)
            await hub.wait_for(holds({"short": "lived"}), WAIT)
            await hub.wait_for(lambda t: "short" not in t, WAIT)
            await node.wait_for(lambda t: "short" not in t, WAIT)
            assert expired == ["short"]

    asyncio.run(main())
