"""The start path takes no detours (issue 17's ENTER latency): a numeric bind never asks the
resolver (a thread), and a node whose loop already holds the beacon socket starts in one loop
turn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from zre_ref.aio.zmtp import Socket, numeric_address
from zre_ref.aio.zre import ZreNode

from .test_aio_zre import free_udp_port

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
