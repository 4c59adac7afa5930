"""ZreNode: the ZRE node core on asyncio, ZMTP sockets and UDP beacons (spec/zre.md#node).

::

    async with ZreNode(name="me", headers={"X-K": "v"}, interface="lo") as node:
        await node.join("CHAT")
        await node.shout("CHAT", b"hello")
        event = await node.recv()            # PeerEntered, ShoutReceived, ...

The shell owns one ROUTER (bound to an ephemeral port on the chosen interface), one DEALER per
peer link, the UDP beacon and one timer. It turns socket input into ``NodeCore.handle_*`` calls
and carries out the effects the core returns, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from typing import Any

from ..zre.beacon import DISCOVERY_PORT
from ..zre.events import ZreEvent
from ..zre.node import (
    BEACON_INTERVAL,
    EVASIVE_TIMEOUT,
    EXPIRED_TIMEOUT,
    REAP_INTERVAL,
    ConnectPeer,
    DisconnectPeer,
    Effect,
    NodeCore,
    SendBeacon,
    SendToPeer,
    SendToPeers,
)
from .beacon import BeaconPlan, UdpBeacon, link_local_zone, plan, primary_address
from .zgossip import Gossip
from .zmtp import Socket, SocketClosed, WouldBlock
from .zrelog import LogPublisher

__all__ = ["ZreNode"]

log = logging.getLogger(__name__)

#: events waiting for the application before we stop reading the ROUTER (back-pressure)
MAX_PENDING_EVENTS = 10_000
#: ROUTER receive HWM (czmq's default) (wire-facts §3.1)
INBOX_RCVHWM = 1000
#: messages queued by shout/whisper between two yields to the loop (so they get written); fewer
#: messages waiting at once also keeps the garbage collector's full passes short
YIELD_MESSAGES = 2048


def _run_now(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (Socket.connect only starts a task) to its end."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("Socket.connect was expected to return without suspending")


def _as_frames(frames: Iterable[bytes | str]) -> list[bytes]:
    return [f if type(f) is bytes else f.encode("utf-8") if isinstance(f, str) else bytes(f)
            for f in frames]


class ZreNode:
    """A ZRE node that zyre, pyre and zyre.js accept as one of their own (spec/zre.md#node).

    Times are in seconds. ``beacon_interval=None`` (or ``beacon=False``) turns UDP discovery off;
    then use :meth:`connect_peer` (or ``connect=[endpoints]``). ``bind`` overrides the ROUTER
    endpoint (default ``tcp://<interface address>:*``); ``advertise`` overrides what HELLO and
    the beacon announce. ``log_publishing`` (off by default; :meth:`set_log_publishing` at run
    time) sends ZRE/LOG records to every collector a peer names (spec/zrelog.md#node-option).
    """

    def __init__(
        self,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        port: int = DISCOVERY_PORT,
        interface: str | None = None,
        evasive: float = EVASIVE_TIMEOUT,
        expired: float = EXPIRED_TIMEOUT,
        reap_interval: float = REAP_INTERVAL,
        beacon_interval: float | None = BEACON_INTERVAL,
        beacon: bool = True,
        bind: str | None = None,
        advertise: str | None = None,
        connect: Iterable[str] = (),
        ipv6: bool = False,
        uuid: bytes | None = None,
        sndhwm: int | None = None,
        goodbye: bool | None = None,
        max_pending_events: int = MAX_PENDING_EVENTS,
        log_publishing: bool = False,
        log_verbose: bool = False,
        gossip_bind: str | None = None,
        gossip_connect: Iterable[str] = (),
    ) -> None:
        # gossip discovery turns UDP beacons off, as zyre_gossip_bind/connect do (spec/zgossip.md#zyre)
        gossiping = gossip_bind is not None or bool(list(gossip_connect))
        beaconing = beacon and beacon_interval is not None and not gossiping
        self._core = NodeCore(uuid, name, headers, evasive=evasive, expired=expired,
                              reap_interval=reap_interval,
                              beacon_interval=beacon_interval if beaconing else None,
                              sndhwm=sndhwm, goodbye=(not beaconing) if goodbye is None else goodbye)
        self.port = port
        self.interface = interface
        self.ipv6 = ipv6
        self._bind = bind
        self._advertise = advertise
        self._connect = list(connect)
        self._max_pending = max_pending_events
        self._plan: BeaconPlan | None = None
        self._router: Socket | None = None
        self._beacon: UdpBeacon | None = None
        self._links: dict[str, Socket] = {}
        self._events: deque[ZreEvent] = deque()
        self._event_waiter: asyncio.Future[None] | None = None
        self._inbox_full = False  # the ROUTER's messages wait until the application reads events
        self._inbox_scheduled = False  # _on_inbox is due in this loop turn
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._stopped = False
        self._unflushed = 0  # shout/whisper calls since we last yielded to the loop
        self._unflushed_messages = 0  # and the messages they queued
        #: ZRE/LOG publisher while log publishing is on (spec/zrelog.md#publishing)
        self._zrelog: LogPublisher | None = None
        self._zrelog_want = (log_publishing, log_verbose)
        #: gossip discovery (spec/zgossip.md#zyre): endpoints to bind/connect at start, the service
        self._gossip_bind = gossip_bind
        self._gossip_connect = list(gossip_connect)
        self._gossip: Gossip | None = None
        self._gossip_goodbye = goodbye

    # -- identity ------------------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        """Our UUID, 32 upper-case hex characters."""
        return self._core.uuid_hex

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def endpoint(self) -> str:
        """Our ROUTER endpoint as advertised in HELLO ("" before start)."""
        return self._core.endpoint

    @property
    def core(self) -> NodeCore:
        """The sans-IO core (read it; change it only through this class)."""
        return self._core

    def set_header(self, key: str, value: str) -> None:
        """Set a header (before start, so that every HELLO carries it)."""
        self._core.set_header(key, value)

    # -- ZRE/LOG publishing (spec/zrelog.md#publishing) ------------------------------------------
    @property
    def log_publisher(self) -> LogPublisher | None:
        """The ZRE/LOG publisher while log publishing is on and the node runs, else None."""
        return self._zrelog

    def set_log_publishing(self, on: bool, *, verbose: bool = False) -> None:
        """Publish LOG records (ENTER/EXIT/JOIN/LEAVE; SEND/RECV too if ``verbose``) to every
        collector a peer's X-ZRELOG header names; off closes the PUB socket. Never blocks."""
        self._zrelog_want = (on, verbose)
        if not self._running:
            return  # applied by start()
        pub = self._zrelog
        if not on:
            if pub is not None:
                self._zrelog = None
                pub.close()
            return
        if pub is not None:
            pub.verbose = verbose
            return
        core = self._core
        pub = self._zrelog = LogPublisher(core.endpoint, verbose=verbose,
                                          peer_of_link=self._peer_of_link)
        for uuid in core.ready_peers():
            peer = core.peer(uuid)
            if peer is not None:
                pub.learn_peer(peer.uuid, peer.endpoint, peer.headers)

    def _peer_of_link(self, link: str) -> str | None:
        peer = self._core._by_link.get(link)  # the shell reads its own core's link table
        return peer.uuid if peer is not None else None

    # -- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> ZreNode:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _now(self) -> float:
        assert self._loop is not None  # set by start()
        return self._loop.time()

    async def start(self) -> None:
        """Bind the ROUTER, open the beacon, start beaconing and the timer (spec/zre.md#node)."""
        if self._running or self._stopped:
            raise RuntimeError("a ZreNode starts once")
        self._loop = asyncio.get_running_loop()
        core = self._core
        host = "127.0.0.1"
        if core.beaconing or self._bind is None:
            self._plan = plan(self.interface, ipv6=self.ipv6) if (
                core.beaconing or self.interface) else None
            if self._plan is not None:
                host = self._plan.host if self._plan.host != "0.0.0.0" else "127.0.0.1"
        everywhere = self._plan is not None and self._plan.host == "0.0.0.0"  # interface "*"
        if everywhere:
            host = "0.0.0.0"
        bind = self._bind or (f"tcp://[{host}]:*" if ":" in host else f"tcp://{host}:*")
        self._router = Socket("ROUTER", rcvhwm=INBOX_RCVHWM)
        try:
            bound = await self._router.bind(bind)
            if everywhere and not self._advertise:
                bound = f"tcp://{primary_address()}:{bound.rsplit(':', 1)[1]}"
            core.endpoint = self._advertise or bound
            if core.beaconing:
                assert self._plan is not None  # computed above whenever beaconing
                self._beacon = UdpBeacon(self.port, self._plan, self._on_datagram)
                await self._beacon.open()
        except BaseException:
            self._router.close(linger=False)
            if self._beacon is not None:
                self._beacon.close()
            raise
        self._running = True
        if self._zrelog_want[0]:
            self.set_log_publishing(True, verbose=self._zrelog_want[1])
        self._router.on_readable = self._on_readable
        self._apply(core.start(self._now()))
        await self._gossip_start()
        for endpoint in self._connect:
            self._apply(core.connect_peer(endpoint))
        self._on_inbox()  # anything that arrived while we were starting

    async def stop(self) -> None:
        """Port-0 beacon (or GOODBYE), close every socket, emit STOP (spec/zre.md#leaving)."""
        if not self._running:
            if self._gossip is not None:  # set up by gossip_bind/connect, never started
                await self._gossip.close()
            return
        self._running = False
        self._stopped = True
        if self._router is not None:
            self._router.on_readable = None
        self._apply(self._core.stop(self._now()))
        await asyncio.sleep(0)  # let the port-0 beacon and queued messages go out
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for sock in self._links.values():
            sock.close()
        self._links.clear()
        if self._router is not None:
            self._router.close(linger=False)
        if self._beacon is not None:
            self._beacon.close()
        if self._zrelog is not None:
            self._zrelog.close()
            self._zrelog = None
        if self._gossip is not None:  # zyre publishes nothing on stop (spec/zgossip.md#zyre)
            await self._gossip.close()
        self._wake_events()

    # -- effects ---------------------------------------------------------------------------------
    def _send(self, link: str, frames: list[bytes]) -> None:
        """One message on one DEALER; a full queue (HWM) goes back to the core."""
        sock = self._links.get(link)
        if sock is None:
            log.error("(%s) send on unknown link %s", self.name, link)
            return
        try:
            sock.send_frames_nowait(frames)  # built by the core: bytes only, a list of its own
        except WouldBlock:
            self._apply(self._core.handle_send_blocked(link, self._now()))
        except SocketClosed:
            log.debug("(%s) link %s already closed", self.name, link)
        else:
            if self._zrelog is not None and self._zrelog.verbose:
                self._zrelog.record_send(link, frames)

    def _apply(self, effects: list[Effect]) -> None:
        """Carry out effects in order, synchronously (so no other core call can slip between a
        link's creation and its first send); a blocked send goes back to the core."""
        links = self._links
        emitted = False
        for eff in effects:
            if isinstance(eff, SendToPeers):
                for link, frames in zip(eff.links, eff.messages, strict=True):
                    self._send(link, frames)
            elif isinstance(eff, SendToPeer):
                self._send(eff.link, eff.frames)
            elif isinstance(eff, ZreEvent):
                self._events.append(eff)
                emitted = True
                if self._zrelog is not None:
                    self._zrelog.handle_event_nowait(eff)
            elif isinstance(eff, SendBeacon):
                if self._beacon is not None:
                    self._beacon.send(eff.data)
            elif isinstance(eff, ConnectPeer):
                sock = Socket("DEALER", identity=eff.identity, sndhwm=eff.sndhwm)
                links[eff.link] = sock
                endpoint = eff.endpoint
                if self._plan is not None and self._plan.ipv6:
                    endpoint = link_local_zone(endpoint, self._plan.interface)
                _run_now(sock.connect(endpoint))
            elif isinstance(eff, DisconnectPeer):
                old = links.pop(eff.link, None)
                if old is not None:
                    old.close()
        if emitted:
            w = self._event_waiter
            if w is not None and not w.done():
                w.set_result(None)
        self._arm()

    def _arm(self) -> None:
        deadline = self._core.next_deadline()
        if deadline == self._timer_at or self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._running:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._running:
            self._apply(self._core.handle_timer(self._now()))

    # -- input -----------------------------------------------------------------------------------
    def _on_datagram(self, data: bytes, host: str) -> None:
        if not self._running:
            return
        effects = self._core.handle_beacon_datagram(data, host, self._now())
        if effects:
            self._apply(effects)

    def _on_readable(self) -> None:
        """The ROUTER queued messages: take them after this loop turn's reads (a plain callback,
        no task), so the messages of every connection read in this turn form one batch."""
        if not self._inbox_scheduled and self._loop is not None:
            self._inbox_scheduled = True
            self._loop.call_soon(self._on_inbox)

    def _on_inbox(self) -> None:
        """Everything the ROUTER holds goes to the core in one call (one clock read, one timer
        check, one wake-up of the application), while events have room."""
        self._inbox_scheduled = False
        router = self._router
        if not self._running or router is None or self._inbox_full:
            return
        room = self._max_pending - len(self._events)
        if room <= 0:
            self._inbox_full = True  # recv() calls us again once half the events are read
            return
        try:
            batch = router.recv_many_nowait(room)
        except SocketClosed:
            return
        if not batch:
            return
        if len(batch) == room:
            self._inbox_full = True  # maybe more wait: recv() calls us again
        if self._zrelog is not None and self._zrelog.verbose:
            for one in batch:  # keep RECV records and the events they cause in order
                if len(one) >= 2:
                    self._zrelog.record_recv(one[0], one[1:])
                self._apply(self._core.handle_messages((one,), self._now()))
        else:
            self._apply(self._core.handle_messages(batch, self._now()))

    def _room_again(self) -> None:
        """An event was read: if the inbox waits for room and there is enough, resume it."""
        if self._inbox_full and len(self._events) < self._max_pending // 2 + 1:
            self._inbox_full = False
            if self._running:
                self._on_readable()

    # -- application API ----------------------------------------------------------------------------
    def _check(self) -> None:
        if not self._running:
            raise RuntimeError("the node is not running")

    async def join(self, group: str) -> None:
        """Join a group (spec/zre.md#join)."""
        self._check()
        self._apply(self._core.join(group))

    async def leave(self, group: str) -> None:
        """Leave a group (spec/zre.md#leave)."""
        self._check()
        self._apply(self._core.leave(group))

    async def shout(self, group: str, *frames: bytes | str) -> None:
        """Send to every peer in ``group``; str frames are UTF-8 encoded (spec/zre.md#shout)."""
        self._check()
        effects = self._core.shout(group, _as_frames(frames))
        self._apply(effects)
        if self._sent(effects):
            await asyncio.sleep(0)

    async def whisper(self, peer: str, *frames: bytes | str) -> None:
        """Send to one peer by its 32-hex UUID (spec/zre.md#whisper)."""
        self._check()
        effects = self._core.whisper(peer, _as_frames(frames))
        self._apply(effects)
        if self._sent(effects):
            await asyncio.sleep(0)

    def _sent(self, effects: list[Effect]) -> bool:
        """Sends are queued and written once per loop turn: a caller that never yields would
        fill the DEALER queues to their HWM (which drops the peer). So the caller yields one
        loop turn (True) every YIELD_MESSAGES messages, or every sndhwm/2 calls (each call adds
        at most one message to any link)."""
        self._unflushed += 1
        if len(effects) == 1 and isinstance(effects[0], SendToPeers):
            self._unflushed_messages += len(effects[0].links)
        else:
            self._unflushed_messages += len(effects)
        if self._unflushed_messages >= YIELD_MESSAGES or self._unflushed * 2 >= self._core.sndhwm:
            self._unflushed = self._unflushed_messages = 0
            return True
        return False

    async def connect_peer(self, endpoint: str) -> None:
        """Direct mode: connect to a peer's ROUTER endpoint without UDP (spec/zre.md#direct)."""
        if self._running:
            self._apply(self._core.connect_peer(endpoint))
        else:
            self._connect.append(endpoint)

    async def recv(self) -> ZreEvent:
        """The next event (ENTER, EXIT, JOIN, LEAVE, WHISPER, SHOUT, EVASIVE, SILENT, STOP).

        Raises EOFError once the node has stopped and every event was read.
        """
        while not self._events:
            if not self._running:
                raise EOFError("node stopped")
            w = self._event_waiter
            if w is None or w.done():
                w = self._event_waiter = asyncio.get_running_loop().create_future()
            await w
        ev = self._events.popleft()
        if self._inbox_full:
            self._room_again()
        return ev

    def recv_nowait(self) -> ZreEvent | None:
        """An event if one is waiting, else None."""
        if not self._events:
            return None
        ev = self._events.popleft()
        if self._inbox_full:
            self._room_again()
        return ev

    async def events(self) -> AsyncIterator[ZreEvent]:
        """Every event until the node stops: ``async for event in node.events()``."""
        while True:
            try:
                yield await self.recv()
            except EOFError:
                return

    def _wake_events(self) -> None:
        w = self._event_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- queries (zyre's names) ---------------------------------------------------------------------
    def peers(self) -> list[str]:
        """UUIDs of every peer we know, as zyre_peers (ready or not)."""
        return self._core.peer_uuids()

    def peer_groups(self) -> list[str]:
        """Groups some peer is in."""
        return self._core.peer_groups()

    def own_groups(self) -> list[str]:
        """Groups we are in."""
        return list(self._core.own_groups)

    def peers_by_group(self, group: str) -> list[str]:
        """UUIDs of the peers in ``group``."""
        return self._core.peers_by_group(group)

    def peer_name(self, peer: str) -> str | None:
        p = self._core.peer(peer)
        return p.name if p is not None else None

    def peer_header_value(self, peer: str, key: str) -> str | None:
        p = self._core.peer(peer)
        return p.headers.get(key) if p is not None else None

    def peer_headers(self, peer: str) -> dict[str, str] | None:
        p = self._core.peer(peer)
        return dict(p.headers) if p is not None else None

    def peer_address(self, peer: str) -> str | None:
        """The endpoint our link to this peer connects to (zyre_peer_address)."""
        p = self._core.peer(peer)
        return p.endpoint if p is not None else None

    # -- gossip discovery (spec/zgossip.md#zyre) ------------------------------------------------
    @property
    def gossip(self) -> Gossip | None:
        """The gossip service once gossip discovery is on, else None."""
        return self._gossip

    def _gossip_service(self) -> Gossip:
        """Create the service on first use and turn beacons off (zyre_node_gossip_start)."""
        if self._gossip is None:
            if self._running and self._core.beaconing:
                raise RuntimeError("gossip discovery must be set up before a beaconing node starts")
            self._core.beacon_interval = None
            if self._gossip_goodbye is None:
                self._core.goodbye = True
            self._gossip = Gossip(on_delivered=self._on_gossip)
            if self._running:
                self._gossip.publish(self.uuid, self.endpoint)
        return self._gossip

    async def gossip_bind(self, endpoint: str) -> str:
        """Serve gossip on ``endpoint`` (``tcp://host:*`` picks a port); return the real endpoint."""
        return await self._gossip_service().bind(endpoint)

    async def gossip_connect(self, endpoint: str) -> None:
        """Take part in the gossip network through the service at ``endpoint``."""
        await self._gossip_service().connect(endpoint)

    async def _gossip_start(self) -> None:
        if self._gossip_bind is not None:
            self._gossip_bind = await self.gossip_bind(self._gossip_bind)
        for endpoint in self._gossip_connect:
            await self.gossip_connect(endpoint)
        if self._gossip is not None:  # our tuple: UUID = endpoint, as zyre_node_start publishes it
            self._gossip.publish(self.uuid, self.endpoint)

    def _on_gossip(self, key: str, value: str) -> None:
        if self._running:
            self._apply(self._core.discover(key, value, self._now()))

    # -- elections (spec/election.md) --------------------------------------------------------------
    def set_contest_in_group(self, group: str) -> None:
        """Stand for leader in ``group``; a LeaderElected event reports each election's winner."""
        self._core.set_contest_in_group(group)

    def leader(self, group: str) -> str | None:
        """UUID of ``group``'s last elected leader still present (maybe ours), or None."""
        return self._core.leader(group)
