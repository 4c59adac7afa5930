"""Forged beacons and HELLOs on real loopback sockets cannot make two nodes rebuild each other,
and the legitimate cases still work: a peer restarting on its port with a new UUID, a new node on
a departed node's port (spec/zre.md#endpoint-claims, spec/zre.md#restarts; issue 10 item 1)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import victim
from tests.test_aio_zre import expect, free_udp_port
from zre_ref.aio.zmtp import Socket
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.beacon import Beacon, encode_beacon
from zre_ref.zre.events import PeerEntered, PeerExited, WhisperReceived, ZreEvent
from zre_ref.zre.messages import ZRE, Hello

pytestmark = pytest.mark.net
FORGED = os.urandom(16)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 60))


def _kw(port: int) -> dict[str, Any]:
    return {"interface": "lo", "port": port, "beacon_interval": 0.1, "claim_timeout": 0.5}


async def _drain(node: ZreNode, seconds: float) -> list[ZreEvent]:
    """Every event that arrives within ``seconds`` (an observation window, not a wait)."""
    got: list[ZreEvent] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        try:
            got.append(await asyncio.wait_for(node.recv(), left))
        except asyncio.TimeoutError:
            break
    return got


async def _met(a: ZreNode, b: ZreNode) -> None:
    await expect(a, PeerEntered, lambda e: e.peer_uuid == b.uuid)
    await expect(b, PeerEntered, lambda e: e.peer_uuid == a.uuid)


def _exits(events: list[ZreEvent], uuid: str) -> int:
    return sum(isinstance(e, PeerExited) and e.peer_uuid == uuid for e in events)


@pytest.mark.parametrize("attack", ["beacon", "hello", "hello-as-b"])
def test_forged_packets_on_loopback_do_not_split_two_nodes(attack: str) -> None:
    """For 1.25 s, 20 forged packets a second: a beacon (UDP, to the discovery port) or a HELLO (a
    raw DEALER) from a new UUID naming b's endpoint, or a HELLO sent with b's own identity."""
    async def main() -> None:
        port = free_udp_port()
        async with ZreNode("a", **_kw(port)) as a, ZreNode("b", **_kw(port)) as b:
            await _met(a, b)
            hello = ZRE.encode(Hello(sequence=1, endpoint=b.endpoint, groups=(), status=0,
                                     name="forged", headers={}))
            identity = b"\x01" + (bytes.fromhex(b.uuid) if attack == "hello-as-b" else FORGED)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            beacon = encode_beacon(Beacon(uuid=FORGED, port=int(b.endpoint.rsplit(":", 1)[1])))
            a_events: list[ZreEvent] = []
            b_events: list[ZreEvent] = []
            raw = Socket("DEALER", identity=identity)
            await raw.connect(a.endpoint)
            watchers = [asyncio.create_task(_drain(a, 2.5)), asyncio.create_task(_drain(b, 2.5))]
            try:
                for _ in range(25):
                    if attack == "beacon":
                        udp.sendto(beacon, ("127.0.0.1", port))
                    else:
                        await raw.send_multipart(hello)
                    await asyncio.sleep(0.05)  # the attack's pace, not a synchronisation
                a_events, b_events = await asyncio.gather(*watchers)
            finally:
                udp.close()
                raw.close()
                for w in watchers:
                    w.cancel()
            exits = _exits(a_events, b.uuid) + _exits(b_events, a.uuid)
            if attack == "hello-as-b":  # each spoof may cost one rebuild per side per holdoff
                assert exits <= 2 * (2.5 / a.core.restart_holdoff + 1), exits
            else:
                assert exits == 0, (a.core.stats, b.core.stats)
                assert a.core.stats.claims_refused >= 1
            assert b.uuid in a.core.ready_peers() and a.uuid in b.core.ready_peers()
            await a.whisper(b.uuid, b"still friends")
            await expect(b, WhisperReceived, lambda e: e.content == (b"still friends",))
    run(main)


_CRASHING_NODE = """
    import asyncio, json, sys
    from zre_ref.aio.zre import ZreNode

    async def main():
        node = ZreNode("b", interface="lo", port={port}, beacon_interval=0.1, bind="{bind}")
        await node.start()
        print(json.dumps({{"ready": True, "uuid": node.uuid, "endpoint": node.endpoint}}),
              flush=True)
        await asyncio.sleep(60)  # killed by the test (SIGKILL: no port-0 beacon, no goodbye)

    asyncio.run(main())
"""


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_peer_restarting_on_its_port_with_a_new_uuid(tmp_path: Path) -> None:
    """b is killed (no goodbye) and a new b2 binds the same port: a removes b once it stays
    silent for claim_timeout, and b2 is reachable."""
    async def main() -> None:
        port = free_udp_port()
        bind = f"tcp://127.0.0.1:{_free_tcp_port()}"
        async with ZreNode("a", **_kw(port)) as a:
            with victim(_CRASHING_NODE.format(port=port, bind=bind), tmp_path) as b:
                first = b.expect(lambda line: "ready" in line)
                await expect(a, PeerEntered, lambda e: e.peer_uuid == first["uuid"])
                b.proc.kill()
                b.proc.wait(5)
            async with ZreNode("b2", **_kw(port), bind=bind) as b2:
                assert b2.endpoint == first["endpoint"]
                # b2's HELLO may arrive (ENTER, parked) before b is found silent (EXIT)
                want = {("EXIT", first["uuid"]), ("ENTER", b2.uuid)}
                while want:
                    ev = await asyncio.wait_for(a.recv(), 5.0)
                    want.discard((ev.type, ev.peer_uuid))
                assert a.core.stats.purges + a.core.stats.claims_refused <= 1
                await a.whisper(b2.uuid, b"welcome back")
                await expect(b2, WhisperReceived, lambda e: e.content == (b"welcome back",))
    run(main)


def test_new_node_on_a_departed_nodes_port() -> None:
    async def main() -> None:
        port = free_udp_port()
        bind = f"tcp://127.0.0.1:{_free_tcp_port()}"
        async with ZreNode("a", **_kw(port)) as a:
            async with ZreNode("b", **_kw(port), bind=bind) as b:
                await _met(a, b)
            await expect(a, PeerExited, lambda e: e.peer_uuid == b.uuid)  # port-0 beacon
            async with ZreNode("c", **_kw(port), bind=bind) as c:
                await _met(a, c)
                assert a.core.stats.claims == 0
                await c.whisper(a.uuid, b"hi")
                await expect(a, WhisperReceived, lambda e: e.content == (b"hi",))
    run(main)
