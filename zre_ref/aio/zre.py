"""ZreNode: the ZRE node core on asyncio, ZMTP sockets and UDP beacons (spec/zre.md#node).

::

    async with ZreNode(name="me", headers={"X-K": "v"}, interface="lo") as node:
        await node.join("CHAT")
        await node.shout("CHAT", b"hello")
        event = await node.recv()            # PeerEntered, ShoutReceived, ...

The shell owns one ROUTER (bound to an ephemeral port on the chosen interface), one DEALER per
peer link, the UDP beacon and one deadline in the loop's shared node timer
(:class:`~zre_ref.aio.timerwheel.TimerWheel`). It turns socket input into ``NodeCore.handle_*``
calls and carries out the effects the core returns, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from ..curve.keys import SecretKey, parse_key
from ..lograte import RateLimitedLog
from ..zre import fastpath
from ..zre.beacon import DISCOVERY_PORT
from ..zre.events import ZreEvent
from ..zre.node import (
    BEACON_INTERVAL,
    CLAIM_TIMEOUT,
    EVASIVE_TIMEOUT,
    EXPIRED_TIMEOUT,
    MAX_PEERS,
    MAX_UNREADY_PEERS,
    REAP_INTERVAL,
    ConnectPeer,
    DisconnectPeer,
    Effect,
    NodeCore,
    SendBeacon,
    SendToPeer,
    SendToPeers,
)
from .beacon import BeaconPlan, UdpBeacon, plan, primary_address, sent_from
from .loopshared import LoopShared
from .timerwheel import TimerWheel
from .zgossip import Gossip
from .zmtp import RECONNECT_IVL_MAX, Socket, SocketClosed, WouldBlock
from .zre_events import EVENT_BYTES, MAX_PENDING_BYTES, MAX_PENDING_EVENTS, EventQueue
from .zre_links import PeerLinks, curve_options
from .zrelog import LogPublisher

__all__ = ["EVENT_BYTES", "MAX_PENDING_BYTES", "MAX_PENDING_EVENTS", "ZreNode"]

log = logging.getLogger(__name__)

#: ROUTER messages taken in one go (one clock read, one core call, one wake-up)
INBOX_BATCH = 1024
#: ROUTER receive HWM (czmq's default; spec/zre.md#hwm)
INBOX_RCVHWM = 1000
#: messages queued by shout/whisper between two yields to the loop (so they get written); fewer
#: messages waiting at once also keeps the garbage collector's full passes short
YIELD_MESSAGES = 2048


def _cut(batch: list[list[bytes]], room_bytes: int) -> tuple[int, int]:
    """How many messages of ``batch`` fit in ``room_bytes`` (each counted with EVENT_BYTES;
    at least one, so that a message bigger than the room still gets through alone), and the
    bytes of their frames."""
    total = sum(map(len, chain.from_iterable(batch)))
    if total + EVENT_BYTES * len(batch) < room_bytes:
        return len(batch), total  # the common case, in one pass at C speed
    spent = 0
    for i, msg in enumerate(batch):
        size = sum(map(len, msg))
        spent += size
        if spent + EVENT_BYTES * (i + 1) >= room_bytes:
            return i + 1, spent
    return len(batch), spent


def _as_frames(frames: tuple[bytes | str, ...]) -> tuple[bytes, ...]:
    """The frames as ``bytes`` (str as UTF-8); ``frames`` itself when they all are."""
    for f in frames:
        if type(f) is not bytes:
            return tuple(f if type(f) is bytes else f.encode("utf-8") if isinstance(f, str)
                         else bytes(f) for f in frames)
    return frames  # type: ignore[return-value]  # all bytes (typing.cast would cost a call)


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
        uuid: bytes | str | None = None,
        sndhwm: int | None = None,
        goodbye: bool | None = None,
        max_pending_events: int = MAX_PENDING_EVENTS,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        claim_timeout: float = CLAIM_TIMEOUT,
        max_peers: int = MAX_PEERS,
        max_unready_peers: int = MAX_UNREADY_PEERS,
        reconnect_ivl_max: float = RECONNECT_IVL_MAX,
        log_publishing: bool = False,
        log_verbose: bool = False,
        gossip_bind: str | None = None,
        gossip_connect: Iterable[str] = (),
        curve_publickey: bytes | str | None = None,
        curve_secretkey: bytes | str | None = None,
        send_filter: Callable[[list[bytes]], list[bytes] | None] | None = None,
    ) -> None:
        # gossip discovery turns UDP beacons off, as zyre_gossip_bind/connect do (spec/zgossip.md#zyre)
        gossiping = gossip_bind is not None or bool(list(gossip_connect))
        beaconing = beacon and beacon_interval is not None and not gossiping
        # CURVE mode like zyre's zyre_set_zcert (spec/zre.md#curve-mode-zyre)
        self._curve: tuple[bytes, SecretKey] | None = None
        if curve_publickey is not None or curve_secretkey is not None:
            if curve_publickey is None or curve_secretkey is None:
                raise ValueError("CURVE mode needs curve_publickey and curve_secretkey")
            secret = SecretKey(curve_secretkey)
            public = parse_key(curve_publickey, "curve_publickey")
            if public != secret.public():
                raise ValueError("curve_publickey is not the public key of curve_secretkey")
            self._curve = (public, secret)
        if isinstance(uuid, str):
            uuid = bytes.fromhex(uuid)
        self._core = NodeCore(uuid, name, headers, evasive=evasive, expired=expired,
                              reap_interval=reap_interval,
                              beacon_interval=beacon_interval if beaconing else None,
                              sndhwm=sndhwm, goodbye=(not beaconing) if goodbye is None else goodbye,
                              public_key=self._curve[0] if self._curve is not None else None,
                              claim_timeout=claim_timeout, max_peers=max_peers,
                              max_unready_peers=max_unready_peers)
        #: one DEALER per peer link (aio/zre_links.py); send_filter applies to what they send
        self._links = PeerLinks(self._curve, send_filter)
        self.port = port
        self.interface = interface
        self.ipv6 = ipv6
        self._bind = bind
        self._advertise = advertise
        self._connect = list(connect)
        #: events waiting for the application, bounded in count and bytes (aio/zre_events.py)
        self._events = EventQueue(max_pending_events, max_pending_bytes)
        #: each peer DEALER retries its connect after 0.1 s, doubling up to this (seconds)
        self.reconnect_ivl_max = reconnect_ivl_max
        self._backlog: list[list[bytes]] = []  # ROUTER messages taken but not yet handled
        self._applying = False  # _apply is running: effects from inside it wait in _deferred
        self._deferred: list[Effect] = []
        #: what peers can trigger here (a link that cannot be used) is logged through this
        self.warnings = RateLimitedLog(log)
        self._plan: BeaconPlan | None = None
        self._router: Socket | None = None
        self._beacon: UdpBeacon | None = None
        self._inbox_full = False  # the ROUTER's messages wait until the application reads events
        self._inbox_scheduled = False  # _on_inbox is due in this loop turn
        self._inbox_by_reader = False  # ... and a woken recv() runs it (see _on_readable)
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: TimerWheel | None = None  # the loop's, set by start()
        self._timer_at: float | None = None  # our deadline in it
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
        #: set_verbose(): log every effect at INFO
        self.verbose = False
        #: a hook for test agents (fault injection): each batch of ROUTER messages
        #: (``[identity, frames...]``) goes through it before the core sees it
        self.inbox_filter: Callable[[list[list[bytes]]], list[list[bytes]]] | None = None
        #: and each beacon datagram (``data, host``) the node is handed: kept if it returns True
        self.beacon_filter: Callable[[bytes, str], bool] | None = None
        #: another hook for test agents: Socket options for the ROUTER over the node's own,
        #: applied by start (the conformance agent's curve-accept-null fault turns CURVE off)
        self.router_options: dict[str, Any] = {}

    # -- identity ------------------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        """Our UUID, 32 upper-case hex characters."""
        return self._core.uuid

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

    @property
    def router(self) -> Socket | None:
        """Our ROUTER once started, else None (read it, e.g. ``peers()``; do not use it)."""
        return self._router

    # -- zyre's setters (zyre_set_*; times in seconds, not zyre's milliseconds) ----------------
    def _before_start(self, what: str) -> None:
        if self._running or self._stopped:
            raise RuntimeError(f"{what} must be called before start()")

    def set_header(self, key: str, value: str) -> None:
        """zyre_set_header: a header every HELLO carries (set it before start)."""
        self._core.set_header(key, value)

    def set_name(self, name: str) -> None:
        """zyre_set_name: our public name (before start)."""
        self._before_start("set_name")
        self._core.name = name

    def set_verbose(self, on: bool = True) -> None:
        """zyre_set_verbose: log every effect this node carries out (messages sent, links opened
        and closed, events) at INFO on the ``zre_ref.aio.zre`` logger."""
        self.verbose = on

    def set_port(self, port: int) -> None:
        """zyre_set_port: the UDP beacon port (before start)."""
        self._before_start("set_port")
        self.port = port

    def set_interface(self, interface: str) -> None:
        """zyre_set_interface: the network interface (name or address) for beacons (before start)."""
        self._before_start("set_interface")
        self.interface = interface

    def set_interval(self, seconds: float) -> None:
        """zyre_set_interval: the beacon interval (zyre takes milliseconds; we take seconds)."""
        if not seconds > 0:
            raise ValueError("the beacon interval must be positive")
        if self._core.beaconing:
            self._core.beacon_interval = float(seconds)

    def set_evasive_timeout(self, seconds: float) -> None:
        """zyre_set_evasive_timeout: silence after which a peer gets PINGs and EVASIVE (before start)."""
        self._before_start("set_evasive_timeout")
        self._set_timers(seconds, self._core.expired)

    def set_expired_timeout(self, seconds: float) -> None:
        """zyre_set_expired_timeout: silence after which a peer is removed (before start)."""
        self._before_start("set_expired_timeout")
        self._set_timers(self._core.evasive, seconds)

    def _set_timers(self, evasive: float, expired: float) -> None:
        if not evasive > 0 or not expired > 0:
            raise ValueError("timers must be positive")
        core = self._core
        core.evasive, core.expired = float(evasive), float(expired)
        core.reap_interval = min(REAP_INTERVAL, core.evasive, core.expired)

    def set_endpoint(self, endpoint: str) -> None:
        """zyre_set_endpoint: bind the ROUTER here instead of an ephemeral port (before start)."""
        self._before_start("set_endpoint")
        self._bind = endpoint

    def set_advertised_endpoint(self, endpoint: str) -> None:
        """zyre_set_advertised_endpoint: the endpoint HELLO and the beacon announce (before start)."""
        self._before_start("set_advertised_endpoint")
        self._advertise = endpoint

    @property
    def pending_events(self) -> int:
        """Events waiting for the application (at most ``max_pending_events`` + one message's)."""
        return len(self._events)

    @property
    def pending_bytes(self) -> int:
        """What those events count against ``max_pending_bytes``: EVENT_BYTES each, plus the
        frames of the messages they came from (released when the last event of a batch is read)."""
        return self._events.nbytes

    @property
    def beacons_heard(self) -> int:
        """UDP beacon datagrams handed to this node so far."""
        return self._beacon.received if self._beacon is not None else 0

    @property
    def beacon_plan(self) -> BeaconPlan | None:
        """Where this node's beacons go and what it hears (None before start or without UDP
        discovery)."""
        return self._beacon.plan if self._beacon is not None else None

    @property
    def beacons_sent(self) -> int:
        """UDP beacon datagrams this node sent so far (one per destination and interval)."""
        return self._beacon.sent if self._beacon is not None else 0

    @property
    def link_count(self) -> int:
        """DEALERs open towards peers (at most one per peer in the table, plus direct links)."""
        return len(self._links)

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
        peer = self._core.peer_of_link(link)
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
        self._timers = LoopShared.of(self._loop).node_timers(self._loop)
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
        # eager_handshake: a ZRE peer is libzmq or another implementation that reads the
        # greeting as a byte stream, so nothing is gained by waiting (spec/zmtp.md#staging)
        self._router = Socket("ROUTER", rcvhwm=INBOX_RCVHWM, **{
            "raw_transport": True,  # aio/rawstream.py: spec/zmtp.md#raw-transport
            "eager_handshake": True, **curve_options(self._curve, None), **self.router_options})
        try:
            bound = await self._router.bind(bind)
            if everywhere and not self._advertise:
                bound = f"tcp://{primary_address()}:{bound.rsplit(':', 1)[1]}"
            core.endpoint = self._advertise or bound
            if core.beaconing:
                assert self._plan is not None  # computed above whenever beaconing
                self._plan = sent_from(self._plan, bound)  # beacons come from where we listen
                self._beacon = UdpBeacon(self.port, self._plan, self._on_datagram, core.no_op_beacons)
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
        # (bytes frames only: the node never reads its ROUTER with copy=False)
        self._router.on_messages = self._on_messages  # type: ignore[assignment]
        self._router.on_peer_disconnect = self._on_peer_disconnect
        effects = core.start(self._now())
        for endpoint in self._connect:
            effects += core.connect_peer(endpoint)
        self._apply(effects)
        self._on_inbox()  # anything that arrived while we were starting
        await self._gossip_start()
        # one loop turn, so that a program starting many nodes in a row lets the loop read
        # their beacons (and serve their links) between two starts instead of sending them
        # all in one burst, more than the shared beacon socket's buffer holds
        await asyncio.sleep(0)

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
            self._router.on_messages = None
        self._apply(self._core.stop(self._now()))
        await asyncio.sleep(0)  # let the port-0 beacon and queued messages go out
        if self._timers is not None:
            self._timers.remove(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._links.close_all()
        if self._router is not None:
            self._router.close(linger=False)
        if self._beacon is not None:
            self._beacon.close()
        if self._zrelog is not None:
            self._zrelog.close()
            self._zrelog = None
        if self._gossip is not None:  # zyre publishes nothing on stop (spec/zgossip.md#zyre)
            await self._gossip.close()
        self._events.wake()

    # -- effects ---------------------------------------------------------------------------------
    def _send(self, sends: Iterable[tuple[str, Sequence[bytes]]]) -> None:
        """Each (link, message) of ``sends`` on the link's DEALER (one SendToPeer, a SendToPeers,
        or fastpath's sends); a full queue (HWM) goes back to the core, whose effects run after
        the current ones (never from in here)."""
        sockets = self._links.sockets
        record = self._zrelog is not None and self._zrelog.verbose
        for link, frames in sends:
            sock = sockets.get(link)
            if sock is None:
                log.error("(%s) send on unknown link %s", self.name, link)
                continue
            try:
                sock.send_frames_nowait(frames)  # built by the core: bytes only, a list of its own
            except Exception as exc:  # only this link is affected
                self._send_failed(link, exc)
            else:
                if record:
                    assert self._zrelog is not None
                    self._zrelog.record_send(link, frames)

    def _send_failed(self, link: str, exc: Exception) -> None:
        """A send on ``link`` raised: a full queue (HWM) goes back to the core (its effects run
        after the current ones), a closed link is only noted, anything else drops the link."""
        if isinstance(exc, WouldBlock):
            self._deferred.extend(self._core.handle_send_blocked(link, self._now()))
        elif isinstance(exc, SocketClosed):
            log.debug("(%s) link %s already closed", self.name, link)
        else:
            self._link_failed(link, f"send: {type(exc).__name__}: {exc}")

    def _apply(self, effects: list[Effect], message_bytes: int = 0) -> None:
        """Carry out effects in order, synchronously (so no other core call can slip between a
        link's creation and its first send). Effects the core returns meanwhile (a blocked
        send, a failed link) run after these, in the same call: this never re-enters itself.
        An effect that fails only affects its own link: logged (rate-limited), that peer is
        dropped, and every later effect still runs; the timer is re-armed and the application
        woken in any case (spec/zre.md#limits). Events are charged EVENT_BYTES each, plus
        ``message_bytes`` (the frames they came from) for the lot."""
        if self._applying:
            self._deferred.extend(effects)
            return
        if self.verbose:
            for eff in effects:
                log.info("(%s) %r", self.name, eff)
        self._applying = True
        push = self._events.append
        emitted = 0
        try:
            while True:
                for eff in effects:
                    try:
                        if isinstance(eff, ZreEvent):  # the most frequent, with SHOUT/WHISPER received
                            push(eff)
                            emitted += 1
                            if self._zrelog is not None:
                                self._zrelog.handle_event_nowait(eff)
                        elif isinstance(eff, SendToPeers):
                            self._send(zip(eff.links, eff.messages, strict=True))
                        elif isinstance(eff, SendToPeer):
                            self._send(((eff.link, eff.frames),))
                        else:
                            self._apply_link_effect(eff)
                    except Exception as exc:  # isolated per effect, see above
                        self._effect_failed(eff, exc)
                if not self._deferred:
                    break
                effects, self._deferred = self._deferred, []
        finally:
            self._applying = False
            if emitted:
                self._events.charge(emitted, message_bytes)
            self._arm()

    def _apply_link_effect(self, eff: Effect) -> None:
        if isinstance(eff, SendBeacon):
            if self._beacon is not None:
                self._beacon.send(eff.data)
        elif isinstance(eff, ConnectPeer):
            self._links.open(eff, self._plan, self.reconnect_ivl_max)
        elif isinstance(eff, DisconnectPeer):
            self._links.close(eff.link)

    def _effect_failed(self, eff: Effect, exc: Exception) -> None:
        """One effect raised: drop the peer whose link it was for (or just log it)."""
        link = getattr(eff, "link", None)
        why = f"{type(eff).__name__}: {type(exc).__name__}: {exc}"
        if isinstance(link, str):
            self._link_failed(link, why)
        else:
            self.warnings.warning(self._now(), ("effect", type(eff).__name__), "(%s) %s failed",
                                  self.name, why)

    def _link_failed(self, link: str, why: str) -> None:
        """Log (rate-limited), close the link, and let the core drop its peer (EXIT)."""
        now = self._now()
        self.warnings.warning(now, ("link", why.split(":", 1)[0]), "(%s) link %s failed (%s): "
                              "dropping its peer", self.name, link, why)
        self._links.close(link)
        self._deferred.extend(self._core.handle_link_failed(link, now, why))

    def _arm(self) -> None:
        """Our deadline in the loop's node timer is the core's next one."""
        deadline = self._core.next_deadline()
        if deadline == self._timer_at or self._timers is None:
            return
        self._timer_at = deadline
        if deadline is not None and self._running:
            self._timers.set(self, deadline, self._on_timer)
        else:
            self._timers.remove(self)

    def _on_timer(self) -> None:
        """The node timer calls this at our deadline (and forgets it)."""
        self._timer_at = None
        if self._running:
            now = self._now()
            self._apply(self._core.handle_timer(now, fastpath.reap))
            self.warnings.flush(now)

    # -- input -----------------------------------------------------------------------------------
    def _on_datagram(self, data: bytes, host: str) -> None:
        if not self._running:
            return
        if self.beacon_filter is not None and not self.beacon_filter(data, host):
            return
        effects = fastpath.handle_beacon_datagram(self._core, data, host, self._now())
        if effects:
            self._apply(effects)

    def _on_peer_disconnect(self, identity: bytes) -> None:
        """A peer's connection to our ROUTER closed: evidence for endpoint claims."""
        if self._running:
            self._apply(self._core.handle_peer_disconnected(identity, self._now()))

    def _on_readable(self) -> None:
        """The ROUTER queued messages: take them after this loop turn's reads, so the messages
        of every connection read in this turn form one batch. When a ``recv()`` waits, it is
        woken at once and takes them itself when it runs (one loop turn per message less than
        a callback that then wakes it); else a plain callback does, no task. A woken reader
        that is cancelled first hands the batch back to a callback: nothing waits forever."""
        if not self._inbox_scheduled and self._loop is not None:
            self._inbox_scheduled = True
            if self._events.waiting():
                self._inbox_by_reader = True
                self._events.wake()
            else:
                self._loop.call_soon(self._on_inbox)

    def _on_inbox(self) -> None:
        """What the ROUTER holds goes to the core in batches (one clock read, one timer check,
        one wake-up each) while pending events have room, counted in events and in bytes: a
        batch is cut where its messages' bytes would pass max_pending_bytes, and the core stops
        taking messages once their effects fill the room left, so the events waiting never
        exceed the limits by more than one message's worth (spec/zre.md#limits)."""
        self._inbox_scheduled = False
        router = self._router
        if not self._running or router is None or self._inbox_full:
            return
        room, room_bytes = self._events.room()
        if room <= 0 or room_bytes <= 0:
            self._inbox_full = True  # recv() calls us again once half the events are read
            return
        # from the backlog: the ROUTER was not read, so look again after
        maybe_more = from_backlog = bool(self._backlog)
        if from_backlog:
            batch, self._backlog = self._backlog[:room], self._backlog[room:]
        else:
            try:
                batch = router.recv_many_nowait(min(room, INBOX_BATCH))
            except SocketClosed:
                return
            maybe_more = len(batch) in (room, INBOX_BATCH)
            if self.inbox_filter is not None:
                batch = self.inbox_filter(batch)
            if not batch:
                return
        self._handle_batch(batch, room, room_bytes, maybe_more)

    def _on_messages(self, batch: list[list[bytes]]) -> int:
        """The ROUTER's direct path (``Socket.on_messages``): one read's messages, in the read's
        own call, when nothing from the ROUTER waits before them. Takes as many as there is
        room for in events (the core and the byte room then cut as in :meth:`_on_inbox`); the
        ROUTER queues the rest in its inbox, bounded by its rcvhwm, for :meth:`_on_inbox`."""
        if not self._running or self._inbox_full or self._backlog:
            return 0
        room, room_bytes = self._events.room()
        if room <= 0 or room_bytes <= 0:
            return 0
        taken = min(len(batch), room)
        if taken < len(batch):
            batch = batch[:taken]  # the ROUTER keeps what follows
        maybe_more = taken == room
        if self.inbox_filter is not None:
            batch = self.inbox_filter(batch)
        if batch:
            self._handle_batch(batch, room, room_bytes, maybe_more)
        return taken

    def _handle_batch(self, batch: list[list[bytes]], room: int, room_bytes: int,
                      maybe_more: bool) -> None:
        """Messages from the ROUTER (or the backlog), oldest first, to the core, within
        ``room`` events and ``room_bytes`` bytes; what does not fit waits in the backlog."""
        fits, batch_bytes = _cut(batch, room_bytes)
        if fits < len(batch):
            self._backlog[:0] = batch[fits:]
            del batch[fits:]
        if maybe_more or self._backlog:
            self._inbox_full = True  # maybe more wait: recv() (or the call below) resumes
        if self._zrelog is not None and self._zrelog.verbose:
            for one in batch:  # keep RECV records and the events they cause in order
                if len(one) >= 2:
                    self._zrelog.record_recv(one[0], one[1:])
                self._apply(fastpath.handle_messages(self._core, (one,), self._now()),
                            sum(map(len, one)))
        else:
            # a HELLO can fan out into many events: the core stops taking messages once the
            # effects reach the room left, and the rest waits in the backlog
            left = iter(batch)
            effects = fastpath.handle_messages(self._core, left, self._now(),
                                               min(room, room_bytes // EVENT_BYTES + 1))
            rest = list(left)
            if rest:
                self._backlog[:0] = rest
                self._inbox_full = True
                batch_bytes -= sum(map(len, chain.from_iterable(rest)))
            if effects:  # none (e.g. only PING-OKs): nothing to apply, no deadline moved
                self._apply(effects, batch_bytes)
        if self._inbox_full:
            self._room_again()

    def _room_again(self) -> None:
        """An event was read (or a batch handled): if the inbox waits for room and there is
        enough, in events and in bytes, resume it."""
        if self._inbox_full and self._events.half_empty:
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
        if self._say(fastpath.shout, self._core.shout, group, frames):
            await asyncio.sleep(0)

    async def whisper(self, peer_uuid: str, *frames: bytes | str) -> None:
        """Send to one peer by its 32-hex UUID (spec/zre.md#whisper)."""
        if self._say(fastpath.whisper, self._core.whisper, peer_uuid, frames):
            await asyncio.sleep(0)

    def _say(self, fast: Callable[[NodeCore, str, tuple[bytes, ...]], fastpath.Sends | None],
             readable: Callable[[str, Iterable[bytes]], list[Effect]], to: str,
             frames: tuple[bytes | str, ...]) -> bool:
        """SHOUT or WHISPER ``frames`` ``to`` a group or peer: in the common case the ``fast``
        path's sends (fastpath.shout/whisper take bytes frames only, else give None), else the
        core's ``readable`` method (NodeCore.shout/whisper) through :meth:`_apply`. True: the
        caller yields a loop turn (see :meth:`_sent`)."""
        if not self._running:
            self._check()
        sends = None if self._applying or self.verbose else fast(
            self._core, to, frames)  # type: ignore[arg-type]
        if sends is not None:
            return self._send_now(sends)
        effects = readable(to, _as_frames(frames))
        self._apply(effects)
        return self._sent(effects)

    def _send_now(self, sends: fastpath.Sends) -> bool:
        """``self._apply([SendToPeers(links, messages)])`` then ``self._sent`` of it, for the
        (link, message) pairs of ``sends``, with less overhead: the same sends as :meth:`_send`,
        isolated the same way (a link that fails is dropped, a full one goes back to the core:
        :meth:`_send_failed`), and what that hands back carried out before returning. No
        deadline of the core moves on a send, so the timer is left as it is unless those run.
        True: the caller yields a loop turn."""
        self._applying = True
        try:
            self._send(sends)
        except Exception as exc:  # isolated as in _apply
            self._effect_failed(SendToPeers([link for link, _ in sends], [m for _, m in sends]), exc)
        finally:
            self._applying = False
        if self._deferred:
            self._apply([])
        return self._count_sent(len(sends))

    def _sent(self, effects: list[Effect]) -> bool:
        """Sends are queued and written once per loop turn: a caller that never yields would
        fill the DEALER queues to their HWM (which drops the peer). So the caller yields one
        loop turn (True) every YIELD_MESSAGES messages, or every sndhwm/2 calls (each call adds
        at most one message to any link)."""
        if len(effects) == 1 and isinstance(effects[0], SendToPeers):
            return self._count_sent(len(effects[0].links))
        return self._count_sent(len(effects))

    def _count_sent(self, messages: int) -> bool:
        """_sent, for a call that queued ``messages`` messages."""
        self._unflushed += 1
        self._unflushed_messages += messages
        if self._unflushed_messages >= YIELD_MESSAGES or self._unflushed * 2 >= self._core.sndhwm:
            self._unflushed = self._unflushed_messages = 0
            return True
        return False

    async def shouts(self, group: str, text: str) -> None:
        """zyre_shouts: SHOUT one string (UTF-8) to a group."""
        await self.shout(group, text)

    async def whispers(self, peer_uuid: str, text: str) -> None:
        """zyre_whispers: WHISPER one string (UTF-8) to a peer."""
        await self.whisper(peer_uuid, text)

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
        while True:
            if self._inbox_by_reader:  # woken for the ROUTER's batch: take it first, whatever
                self._inbox_by_reader = False  # is queued already (it is never left waiting)
                self._inbox_in_reader()
            ev = self._events.pop()  # recv_nowait, inline: this runs once per event
            if ev is not None:
                if self._inbox_full:
                    self._room_again()
                return ev
            if not self._running:
                raise EOFError("node stopped")
            try:
                await self._events.wait()
            except asyncio.CancelledError:
                if self._inbox_by_reader and self._loop is not None:
                    self._inbox_by_reader = False
                    self._loop.call_soon(self._on_inbox)
                raise

    def _inbox_in_reader(self) -> None:
        """_on_inbox run by a woken recv(): a failure in it is the node's, reported as the loop
        reports a failed callback, never raised into the application's recv()."""
        try:
            self._on_inbox()
        except Exception as exc:
            if self._loop is not None:
                self._loop.call_exception_handler(
                    {"message": "ZreNode: handling the ROUTER's messages failed", "exception": exc})

    def recv_nowait(self) -> ZreEvent | None:
        """An event if one is waiting, else None."""
        ev = self._events.pop()
        if ev is not None and self._inbox_full:
            self._room_again()
        return ev

    async def events(self) -> AsyncIterator[ZreEvent]:
        """Every event until the node stops: ``async for event in node.events()``."""
        while True:
            try:
                yield await self.recv()
            except EOFError:
                return

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

    def peer_name(self, peer_uuid: str) -> str | None:
        """The name a peer gave in its HELLO."""
        p = self._core.peer(peer_uuid)
        return p.name if p is not None else None

    def peer_header_value(self, peer_uuid: str, key: str) -> str | None:
        """One header a peer gave in its HELLO (zyre_peer_header_value)."""
        p = self._core.peer(peer_uuid)
        return p.headers.get(key) if p is not None else None

    def peer_headers(self, peer_uuid: str) -> dict[str, str] | None:
        """Every header a peer gave in its HELLO."""
        p = self._core.peer(peer_uuid)
        return dict(p.headers) if p is not None else None

    def peer_address(self, peer_uuid: str) -> str | None:
        """The endpoint our link to this peer connects to (zyre_peer_address)."""
        p = self._core.peer(peer_uuid)
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
