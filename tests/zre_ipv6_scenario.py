"""Two ZreNodes with IPv6 beacons (ff02::1) on one interface; prints one JSON line of facts,
among them the source address of node a's beacons as a third listener on the group hears it.

Run by tests/test_aio_zre.py, inside a network namespace when loopback cannot carry IPv6
multicast (Linux): ``python tests/zre_ipv6_scenario.py INTERFACE PORT``.
"""

from __future__ import annotations

import asyncio
import json
import socket
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


def listener(interface: str, port: int) -> socket.socket:
    """A socket on the beacon port that hears ff02::1 on the interface, as a peer's does."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("::", port))
    group = socket.inet_pton(socket.AF_INET6, "ff02::1")
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                 group + socket.if_nametoindex(interface).to_bytes(4, sys.byteorder))
    s.setblocking(False)
    return s


async def beacon_source(sock: socket.socket, uuid: str) -> str:
    """The source address of the first beacon from ``uuid`` (zone included, as Python gives it)."""
    loop = asyncio.get_running_loop()

    async def wait() -> str:
        while True:
            data, addr = await loop.sock_recvfrom(sock, 256)
            if data[4:20].hex().upper() == uuid:
                return str(addr[0])
    return await asyncio.wait_for(wait(), 5)


async def main(interface: str, port: int) -> dict[str, Any]:
    kw: dict[str, Any] = {"ipv6": True, "interface": interface, "port": port, "beacon_interval": 0.2}
    with listener(interface, port) as heard:
        return await nodes(kw, heard)


async def nodes(kw: dict[str, Any], heard: socket.socket) -> dict[str, Any]:
    async with ZreNode("a", **kw) as a, ZreNode("b", **kw) as b:
        a_source = await beacon_source(heard, a.uuid)
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
                "a_beacon_source": a_source,
                "destinations": list(b.beacon_plan.destinations) if b.beacon_plan else []}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 20))))
