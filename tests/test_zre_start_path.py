"""The start and HELLO paths take no detours (issue 17's ENTER and WHISPER latency): a numeric
bind never asks the resolver, a node whose loop already holds the beacon socket starts without
waiting on the loop, and what the ROUTER reads reaches the core in the same callback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from zre_ref.aio.zmtp import Socket, numeric_address
from zre_ref.aio.zre import ZreNode
from zre_ref.zre.events import PeerEntered, WhisperReceived, ZreEvent

from .test_aio_zre import expect, free_udp_port
from .waiting import until

pytestmark = pytest.mark.net


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 30))


def spy_resolver(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Record every host the loop's getaddrinfo is asked about (and still answer)."""
    asked: list[str] = []
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return await real(host, *args, **kwargs)

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]
    return asked


def test_numeric_address_parses_ipv4_and_ipv6_and_leaves_names_to_the_resolver() -> None:
    assert numeric_address("127.0.0.1", 5) == (socket.AF_INET, ("127.0.0.1", 5))
    assert numeric_address("0.0.0.0", 0) == (socket.AF_INET, ("0.0.0.0", 0))
    assert numeric_address("::1", 7) == (socket.AF_INET6, ("::1", 7, 0, 0))
    assert numeric_address("fe80::1%lo", 7) == (
        socket.AF_INET6, ("fe80::1", 7, 0, socket.if_nametoindex("lo")))
    for name in ("localhost", "", "1.2.3.4.5", "::1::2"):
        assert numeric_address(name, 1) is None, name


def test_bind_to_a_numeric_host_never_asks_the_resolver_and_a_name_still_resolves() -> None:
    async def main() -> None:
        asked = spy_resolver(asyncio.get_running_loop())
        async with Socket("ROUTER") as r, Socket("DEALER", identity=b"d") as d:
            ep = await r.bind("tcp://127.0.0.1:*")
            assert ep.startswith("tcp://127.0.0.1:")
            assert (await r.bind("tcp://*:*")).startswith("tcp://0.0.0.0:")
            assert asked == []
            await d.connect(ep)  # the numeric bind serves as before
            await d.send_multipart([b"hi"])
            assert await asyncio.wait_for(r.recv_multipart(), 5) == [b"d", b"hi"]
            assert (await r.bind("tcp://localhost:*")).startswith("tcp://")
            assert asked == ["localhost"]
    run(main)


def test_a_second_node_on_a_loop_starts_in_one_loop_turn() -> None:
    """The first node opens the loop's beacon socket; the next one binds (numeric host: no
    resolver thread), joins that socket and sends its first beacon in one go, then gives the
    loop one turn (a bare yield: it waits for nothing)."""
    async def main() -> None:
        port = free_udp_port()
        kw: dict[str, Any] = {"interface": "lo", "port": port}
        asked = spy_resolver(asyncio.get_running_loop())
        async with ZreNode("a", **kw):
            b = ZreNode("b", **kw)
            start = b.start()
            assert start.send(None) is None  # asyncio.sleep(0): one turn, no future awaited
            assert b.endpoint and b.beacons_sent > 0  # bound and beaconing before that turn
            with pytest.raises(StopIteration):
                start.send(None)
            try:
                assert b.endpoint.startswith("tcp://127.0.0.1:") and b.beacon_plan is not None
                assert b.router is not None and b.router.endpoints
            finally:
                await b.stop()
        assert asked == []
    run(main)


def test_what_the_router_reads_reaches_the_core_in_the_same_callback() -> None:
    """A HELLO's ENTER and a WHISPER's event are queued for the application by the ROUTER
    callback that read the message, not one loop turn later."""
    async def main() -> None:
        async with ZreNode("a", beacon=False) as a, ZreNode("b", beacon=False) as b:
            assert b.router is not None
            queued: list[list[ZreEvent]] = []  # b's events queued when each read returned
            read = b.router.on_readable
            assert read is not None

            def on_readable() -> None:
                assert read is not None
                read()
                queued.append([ev for ev in iter(b.recv_nowait, None)])

            b.router.on_readable = on_readable
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            await b_until(queued, PeerEntered)
            await a.whisper(b.uuid, b"psst")
            got = await b_until(queued, WhisperReceived)
            assert isinstance(got, WhisperReceived) and got.content == (b"psst",)
    run(main)


async def b_until(queued: list[list[ZreEvent]], kind: type[ZreEvent]) -> ZreEvent:
    """Wait for a ROUTER callback that queued events and return its ``kind`` event: the first
    callback whose read brought anything must have queued it already."""
    await until(lambda: any(queued), what=f"a ROUTER read that queues {kind.__name__}")
    events = next(events for events in queued if events)
    queued.clear()
    found = [ev for ev in events if isinstance(ev, kind)]
    assert found, f"the read that brought {kind.__name__} queued only {events}"
    return found[0]
