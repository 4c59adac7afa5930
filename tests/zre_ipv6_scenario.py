"""Two ZreNodes with IPv6 beacons (ff02::1) on one interface; prints one JSON line of facts.

Run by tests/test_aio_zre.py, inside a network namespace when loopback cannot carry IPv6
multicast (Linux): ``python tests/zre_ipv6_scenario.py INTERFACE PORT``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, TypeVar

from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import PeerEntered, PeerExited, PeerJoined, ShoutReceived, ZreEvent

T = TypeVar("T", bound=ZreEvent)


async def expect(node: ZreNode, kind: type[T]) -> T:
    async def wait() -> T:
        while True:
            ev = await node.recv()
            if isinstance(ev, kind):
                return ev
    return await asyncio.wait_for(wait(), 5)


async def main(interface: str, port: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"ipv6": True, "interface": interface, "port": port, "beacon_interval": 0.2}
    async with ZreNode("a", **kw) as a, ZreNode("b", **kw) as b:
        a_saw = await expect(a, PeerEntered)
        b_saw = await expect(b, PeerEntered)
        await b.join("G")
        await expect(a, PeerJoined)
        await a.shout("G", b"over IPv6")
        shout = await expect(b, ShoutReceived)
        sent = a.beacons_sent
        await a.stop()  # port-0 beacon
        exited = await expect(b, PeerExited)
        return {"a": a.endpoint, "b": b.endpoint, "a_saw": [a_saw.peer_uuid, a_saw.endpoint],
                "b_saw": [b_saw.peer_uuid, b_saw.endpoint], "a_uuid": a.uuid, "b_uuid": b.uuid,
                "shout": shout.content[0].decode(), "exit": exited.peer_uuid, "a_beacons_sent": sent,
                "destinations": list(b.beacon_plan.destinations) if b.beacon_plan else []}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 20))))
