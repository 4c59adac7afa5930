"""A zyre (C) node in IPv6 mode (tests/interop/zyre_ipv6_node.c) and a zre_ref ZreNode with
``ipv6=True`` on one interface; prints one JSON line of facts. Run inside a network namespace by
tests/interop/test_interop_zyre_ipv6.py: ``python zyre_ipv6_pair.py NODE_EXE INTERFACE PORT``."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.zre_ipv6_scenario import beacon_source, listener
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import PeerEntered

#: seconds each step may take
STEP = 8.0


async def main(exe: str, interface: str, port: int) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    with listener(interface, port) as heard:
        zyre = await asyncio.create_subprocess_exec(exe, interface, str(port),
                                                    stdout=asyncio.subprocess.PIPE)
        assert zyre.stdout is not None
        try:
            first = (await asyncio.wait_for(zyre.stdout.readline(), STEP)).decode().split()
            assert first[:1] == ["UUID"], first
            facts["zyre_uuid"] = first[1]
            facts["zyre_beacon_source"] = await beacon_source(heard, first[1])
            async with ZreNode("ref", ipv6=True, interface=interface, port=port,
                               beacon_interval=0.2) as ref:
                facts["ref_uuid"], facts["ref_endpoint"] = ref.uuid, ref.endpoint
                facts["ref_beacon_source"] = await beacon_source(heard, ref.uuid)

                async def entered() -> PeerEntered:
                    while True:
                        ev = await ref.recv()
                        if isinstance(ev, PeerEntered):
                            return ev
                ev = await asyncio.wait_for(entered(), STEP)
                facts["ref_saw"] = [ev.peer_uuid, ev.endpoint]
                line = (await asyncio.wait_for(zyre.stdout.readline(), STEP)).decode().split()
                facts["zyre_saw"] = line[1:]  # uuid, HELLO endpoint, endpoint it connected to
        finally:
            print(json.dumps(facts), file=sys.stderr)  # what was seen, should a step time out
            if zyre.returncode is None:
                zyre.terminate()
            await asyncio.wait_for(zyre.wait(), STEP)
    return facts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
