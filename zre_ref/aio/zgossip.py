"""asyncio ZGOSSIP: :class:`~zre_ref.zgossip.service.GossipService` over ZMTP sockets.

One ROUTER for the clients (after :meth:`Gossip.bind`), one DEALER per server it connects to
(:meth:`Gossip.connect`), like czmq's zgossip actor (spec/zgossip.md#service)::

    async with Gossip() as hub:
        endpoint = await hub.bind("tcp://127.0.0.1:*")
        async with Gossip(on_delivered=print) as node:
            await node.connect(endpoint)
            node.publish("key", "value")

aio/zmtp.py has no "connected" callback, so the shell looks at each DEALER's connection every
``CONNECTION_POLL`` seconds; a connection seen ready after not being ready is a (re)connection,
and the core says HELLO and publishes its tuples again (what czmq does from its zmonitor).
Memory: the core's :class:`GossipLimits`, plus per client at most ``max_tuples + 64`` queued
messages of at most ``max_key_bytes + max_value_bytes + 13`` bytes (spec/zgossip.md#limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ..zgossip import messages as m
from ..zgossip.service import (
    DEFAULT_CLIENT_TIMEOUT,
    DEFAULT_PING_INTERVAL,
    DEFAULT_REMOTE_TIMEOUT,
    Delivered,
    Effect,
    Expired,
    GossipLimits,
    GossipService,
    RemoteSilent,
    SendToClient,
    SendToRemote,
)
from . import cancel_and_wait
from .zmtp import Socket, SocketClosed, WouldBlock

__all__ = ["Gossip"]

log = logging.getLogger("zre_ref.aio.zgossip")

#: Seconds between two looks at a DEALER's connection state (see the module docstring)
CONNECTION_POLL = 0.05
#: Messages queued per peer beyond a full tuple set (PING/PONG/INVALID)
QUEUE_MARGIN = 64


class Gossip:
    """A gossip service: server (``bind``), client (``connect``), or both."""

    def __init__(self, *, limits: GossipLimits | None = None,
                 client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
                 ping_interval: float = DEFAULT_PING_INTERVAL,
                 remote_timeout: float = DEFAULT_REMOTE_TIMEOUT,
                 on_delivered: Callable[[str, str], None] | None = None,
                 on_expired: Callable[[str, str], None] | None = None) -> None:
        self.core = GossipService(limits=limits, client_timeout=client_timeout,
                                  ping_interval=ping_interval, remote_timeout=remote_timeout)
        self.on_delivered = on_delivered
        self.on_expired = on_expired
        self._hwm = self.core.limits.max_tuples + QUEUE_MARGIN
        self._router: Socket | None = None
        self._dealers: dict[str, Socket] = {}
        self._ready: dict[str, bool] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._changed: asyncio.Event | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> Gossip:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- API --------------------------------------------------------------------------------------
    async def bind(self, endpoint: str) -> str:
        """Serve clients on ``endpoint`` (``tcp://host:*`` picks a port); return the real one."""
        if self._router is None:
            self._router = Socket("ROUTER", sndhwm=self._hwm, rcvhwm=1000)
            self._router.on_peer_disconnect = self.core.client_gone
            self._spawn(self._serve_clients(self._router), "zgossip-router")
        real = await self._router.bind(endpoint)
        log.info("zgossip: bound %s", real)
        return real

    async def connect(self, endpoint: str) -> None:
        """Be a client of the server at ``endpoint`` (reconnects by itself)."""
        if endpoint in self._dealers:
            return
        dealer = Socket("DEALER", sndhwm=self._hwm, rcvhwm=1000)
        await dealer.connect(endpoint)
        self._dealers[endpoint] = dealer
        self._ready[endpoint] = False
        self._spawn(self._serve_remote(endpoint, dealer), f"zgossip-remote-{endpoint}")
        self._ensure_timer()

    def publish(self, key: str, value: str, *, ttl_ms: int = m.TTL_FOREVER) -> None:
        """Publish a tuple to the gossip network; raises ValueError beyond the limits."""
        self._apply(self.core.publish(key, value, self._now(), ttl_ms=ttl_ms))

    def unpublish(self, key: str) -> bool:
        """Forget a tuple locally (as czmq does: nothing is sent)."""
        return self.core.unpublish(key)

    @property
    def endpoints(self) -> list[str]:
        """The endpoints this service serves clients on (what ``bind`` returned)."""
        return self._router.endpoints if self._router is not None else []

    def tuples(self) -> dict[str, str]:
        return self.core.tuples()

    async def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> None:
        """Wait until ``predicate(tuples)`` holds; asyncio.TimeoutError after ``timeout``."""
        async def until() -> None:
            while not predicate(self.core.tuples()):
                await self._wait_change()

        await asyncio.wait_for(until(), timeout)

    async def close(self) -> None:
        self._closed = True
        tasks, self._tasks = self._tasks, []
        if self._timer_task is not None:
            tasks.append(self._timer_task)
            self._timer_task = None
        for t in tasks:
            await cancel_and_wait(t)
        for d in self._dealers.values():
            d.close(linger=False)
        self._dealers.clear()
        if self._router is not None:
            self._router.close(linger=False)

    # -- plumbing ---------------------------------------------------------------------------------
    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    async def _wait_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _notify(self) -> None:
        """Wake every waiter; later waiters wait for the next change."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _apply(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, SendToClient):
                if self._router is not None:
                    with contextlib.suppress(SocketClosed):
                        self._router.send_multipart_nowait([e.client, *m.encode(e.message)])
            elif isinstance(e, SendToRemote):
                dealer = self._dealers.get(e.remote)
                if dealer is not None:
                    try:
                        dealer.send_multipart_nowait(m.encode(e.message))
                    except WouldBlock:
                        log.warning("zgossip: queue to %s full, message dropped", e.remote)
                    except SocketClosed:
                        pass
            elif isinstance(e, Delivered):
                if self.on_delivered is not None:
                    self.on_delivered(e.key, e.value)
            elif isinstance(e, Expired):
                if self.on_expired is not None:
                    self.on_expired(e.key, e.value)
            elif isinstance(e, RemoteSilent):
                self._reconnect(e.remote)
        if effects:
            self._notify()
            self._ensure_timer()

    def _reconnect(self, endpoint: str) -> None:
        dealer = self._dealers.get(endpoint)
        if dealer is None:
            return
        log.info("zgossip: server %s silent, reconnecting", endpoint)
        dealer.disconnect(endpoint)
        self._ready[endpoint] = False
        dealer.connect_nowait(endpoint)

    async def _serve_clients(self, router: Socket) -> None:
        with contextlib.suppress(SocketClosed):
            while True:
                frames = await router.recv_multipart()
                self._apply(self.core.handle_client(frames[0], frames[1:], self._now()))

    async def _serve_remote(self, endpoint: str, dealer: Socket) -> None:
        with contextlib.suppress(SocketClosed):
            while True:
                frames = await dealer.recv_multipart()
                self._apply(self.core.handle_remote(endpoint, frames, self._now()))

    def _ensure_timer(self) -> None:
        if self._timer_task is None and not self._closed:
            self._timer_task = asyncio.get_running_loop().create_task(self._timer(),
                                                                      name="zgossip-timer")

    async def _timer(self) -> None:
        """Tick the core at its deadlines, and watch DEALER connections."""
        while True:
            self._poll_connections()
            self._apply(self.core.tick(self._now()))
            deadline = self.core.next_deadline()
            delay = CONNECTION_POLL if self._dealers else None
            if deadline is not None:
                wait = max(0.0, deadline - self._now())
                delay = wait if delay is None else min(delay, wait)
            if delay is None:
                self._timer_task = None
                return
            await asyncio.sleep(delay)

    def _poll_connections(self) -> None:
        for endpoint, dealer in self._dealers.items():
            ready = any(p["ready"] for p in dealer.peers())
            if ready and not self._ready[endpoint]:
                self._apply(self.core.remote_connected(endpoint, self._now()))
            elif not ready and self._ready[endpoint]:
                self.core.remote_gone(endpoint)
            self._ready[endpoint] = ready
