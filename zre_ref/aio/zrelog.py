"""asyncio ZRE/LOG: a node's log publisher (PUB) and the log collector (SUB) (spec/zrelog.md).

The publisher turns a node's ZRE events into LOG records through
:class:`~zre_ref.zrelog.publisher.PublisherCore`; it never blocks the node: records that cannot be
queued are dropped and counted. The collector binds a SUB socket, and writes one JSON line per
record through :class:`~zre_ref.zrelog.collector.CollectorCore`, rotating files by size.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from ..lograte import DEFAULT_INTERVAL
from ..zre.events import ZreEvent
from ..zrelog.collector import (
    DEFAULT_RCVHWM,
    MAX_RECORD_MESSAGE,
    CollectorCore,
    RateTable,
    RotationPolicy,
    rotation_plan,
)
from ..zrelog.messages import Level
from ..zrelog.publisher import (
    ConnectCollector,
    DisconnectCollector,
    PublisherCore,
    PublisherEffect,
    zre_summary,
)
from . import cancel_and_wait
from .zmtp import Socket, SocketClosed, WouldBlock

log = logging.getLogger("zre_ref.aio.zrelog")

#: Messages the PUB socket holds per collector before it drops (spec/zrelog.md#publishing)
PUB_HWM = 1000
#: Seconds records wait for a newly found collector to subscribe before going out anyway: a PUB
#: drops what it sends before the SUB's subscription arrives (spec/zrelog.md#publishing)
SUBSCRIBE_GRACE = 2.0
#: Seconds between checks while records wait for a new collector's subscription
SUBSCRIBE_POLL = 0.02


class LogPublisher:
    """One PUB socket feeding every known collector (spec/zrelog.md#publishing).

    A ZreNode with ``log_publishing`` on owns one and hands it every event it emits
    (:meth:`handle_event_nowait`), and at the verbose level every ZRE message it sends or
    receives. Nothing here waits: records are published on a later loop turn, and a collector
    that is full, slow or gone loses records, counted in :attr:`dropped`.
    """

    def __init__(self, own_endpoint: str, *, enabled: bool = True, verbose: bool = False,
                 clock: Callable[[], float] = time.time, hwm: int = PUB_HWM,
                 peer_of_link: Callable[[str], str | None] | None = None) -> None:
        self.core = PublisherCore(own_endpoint, enabled=enabled, verbose=verbose)
        self.socket = Socket("PUB", sndhwm=hwm)
        self.hwm = hwm
        #: records each collector fed now missed (full queue, not connected, not subscribed)
        self.dropped_by_collector: dict[str, int] = {}
        #: records handed to the PUB socket (each goes to every subscribed collector)
        self.published = 0
        self._clock = clock
        self._peer_of_link = peer_of_link
        self._connected_at: dict[str, float] = {}  # collector endpoint -> loop time of connect
        self._flush_handle: asyncio.Handle | None = None

    @property
    def enabled(self) -> bool:
        return self.core.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.core.enabled = value

    @property
    def verbose(self) -> bool:
        """SEND/RECV records too (spec/zrelog.md#events)."""
        return self.core.verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self.core.verbose = value

    @property
    def dropped(self) -> int:
        """Records lost: outbox overflow, plus one per record per collector that missed it."""
        return self.core.dropped

    @property
    def collectors(self) -> list[str]:
        """Collector endpoints the PUB socket is connected to."""
        return self.core.collectors

    # -- input from the node -----------------------------------------------------------------
    def handle_event_nowait(self, ev: ZreEvent) -> None:
        """Record a ZRE event (and connect to / disconnect from collectors it reveals)."""
        self._carry_out(self.core.handle_event(ev, self._clock()))
        if self.core.pending:
            self._schedule()

    async def handle_event(self, ev: ZreEvent) -> None:
        """Same as :meth:`handle_event_nowait` (it never waits)."""
        self.handle_event_nowait(ev)

    def learn_peer(self, peer_uuid: str, endpoint: str, headers: Mapping[str, str]) -> None:
        """A peer that entered before publishing began: connect to the collector it names."""
        self._carry_out(self.core.learn_peer(peer_uuid, endpoint, headers))

    def record_send(self, link: str, frames: Sequence[bytes]) -> None:
        """Verbose: a ZRE message went out on the node's ``link`` (SEND record)."""
        if not self.core.verbose or not self.core.collectors:
            return
        summary = zre_summary(frames)
        peer = self._peer_of_link(link) if self._peer_of_link is not None else None
        if summary is not None:
            self.core.record_send(peer or "", summary[1], summary[0], self._clock())
            self._schedule()

    def record_recv(self, identity: bytes, frames: Sequence[bytes]) -> None:
        """Verbose: a ZRE message reached the node's ROUTER from ``identity`` (RECV record)."""
        if not self.core.verbose or not self.core.collectors:
            return
        summary = zre_summary(frames)
        if summary is not None:
            self.core.record_recv(identity[1:].hex().upper(), summary[1], summary[0],
                                  self._clock())
            self._schedule()

    # -- output -------------------------------------------------------------------------------
    def _carry_out(self, effects: list[PublisherEffect]) -> None:
        for eff in effects:
            if isinstance(eff, ConnectCollector):
                try:
                    self.socket.connect_nowait(eff.endpoint)
                except (ValueError, SocketClosed) as exc:
                    log.warning("zrelog: cannot connect to collector %r: %s", eff.endpoint, exc)
                    continue
                self._connected_at[eff.endpoint] = asyncio.get_running_loop().time()
            elif isinstance(eff, DisconnectCollector):
                self._connected_at.pop(eff.endpoint, None)
                # per collector fed now only (forged peers come and go); the total stays in dropped
                self.dropped_by_collector.pop(eff.endpoint, None)
                try:
                    self.socket.disconnect(eff.endpoint)
                except ValueError as exc:
                    log.debug("zrelog: disconnect %r: %s", eff.endpoint, exc)

    def _schedule(self, delay: float = 0.0) -> None:
        if self._flush_handle is not None or self.socket.closed:
            return
        loop = asyncio.get_running_loop()
        self._flush_handle = (loop.call_later(delay, self._on_flush) if delay
                              else loop.call_soon(self._on_flush))

    def _on_flush(self) -> None:
        self._flush_handle = None
        self.flush()

    def flush(self, *, wait: bool = True) -> None:
        """Publish every queued record. With ``wait``, first give a collector connected less than
        SUBSCRIBE_GRACE ago time to subscribe; a collector that cannot take a record (queue at
        its HWM, not connected) misses it, counted."""
        due = self.core.log.next_flush()
        if due is not None and self._clock() >= due:  # summaries of suppressed warnings
            self.core.log.flush(self._clock())
        if self.socket.closed or not self.core.pending:
            return
        ready: dict[str, int] = {}
        for p in self.socket.peers():
            if p["ready"] and p["subscriptions"]:
                ready[p["endpoint"]] = int(p["queued"])
        for ep in ready:  # subscribed once: never waited for again
            self._connected_at.pop(ep, None)
        now = asyncio.get_running_loop().time()
        if wait and any(ep not in ready and now - t < SUBSCRIBE_GRACE
                        for ep, t in self._connected_at.items()):
            self._schedule(SUBSCRIBE_POLL)
            return
        # room: a lower bound on what each collector's PUB queue still takes (queues only shrink
        # between our sends); at 0, look again at the real queue, which decides
        room = {ep: self.hwm - q for ep, q in ready.items()}
        absent = [ep for ep in self.core.collectors if ep not in ready]
        sock = self.socket
        for frames in self.core.drain():
            for ep in absent:
                self._miss(ep)
            if room and min(room.values()) <= 0:
                for p in sock.peers():
                    if p["endpoint"] in room:
                        room[p["endpoint"]] = self.hwm - int(p["queued"])
            for ep, free in room.items():
                if free > 0:
                    room[ep] = free - 1
                else:
                    self._miss(ep)
            if room:
                try:
                    sock.send_multipart_nowait(frames)
                except (WouldBlock, SocketClosed):
                    for ep in room:
                        self._miss(ep)
                    continue
                self.published += 1

    def _miss(self, endpoint: str) -> None:
        n = self.dropped_by_collector.get(endpoint, 0) + 1
        self.dropped_by_collector[endpoint] = n
        self.core.count_dropped()
        self.core.log.warning(self._clock(), ("missed", endpoint), "zrelog: collector %s missed "
                              "%d record(s) (slow, full or gone)", endpoint, n)

    def close(self) -> None:
        """Publish what is queued (without waiting for subscriptions) and close the PUB."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self.socket.closed:
            self.flush(wait=False)
        self.socket.close(linger=True)


class JsonLines:
    """Where collected records go: stdout (``path`` None) or a file rotated by size."""

    def __init__(self, path: str | None, *, max_bytes: int = 0, backups: int = 5,
                 stream: TextIO | None = None) -> None:
        self.path = path
        self.backups = backups
        self._stream = stream
        self._file: Any = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self.policy = RotationPolicy(max_bytes, os.path.getsize(path))
        else:
            self.policy = RotationPolicy(0)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        n = len(line.encode("utf-8"))
        if self.path is None:
            out = self._stream
            if out is None:
                import sys

                out = sys.stdout
            out.write(line)
            out.flush()
            return
        if self.policy.should_rotate(n):
            self._rotate()
        self._file.write(line)
        self._file.flush()
        self.policy.wrote(n)

    def _rotate(self) -> None:
        assert self.path is not None  # only called for files
        self._file.close()
        for src, dst in rotation_plan(self.path, self.backups):
            if not os.path.exists(src):
                continue
            if dst is None:
                os.remove(src)
            else:
                os.replace(src, dst)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.policy.rotated()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class LogCollector:
    """A SUB socket bound on ``bind`` that collects LOG records into ``sink``
    (spec/zrelog.md#collector). Its :attr:`endpoint` goes into the node's X-ZRELOG header.

    Memory is bounded (README "Bounds"): the socket queues at most ``rcvhwm`` messages of at most
    MAX_RECORD_MESSAGE bytes (a bigger one closes that publisher's connection); malformed
    records are logged once per ``log_interval`` seconds and counted."""

    def __init__(self, sink: JsonLines, *, max_level: int = Level.INFO,
                 clock: Callable[[], float] = time.time,
                 on_record: Callable[[dict[str, Any]], None] | None = None,
                 rcvhwm: int = DEFAULT_RCVHWM, log_interval: float = DEFAULT_INTERVAL) -> None:
        self.core = CollectorCore(max_level=max_level, log_interval=log_interval)
        self.sink = sink
        self.socket = Socket("SUB", rcvhwm=rcvhwm, max_message_size=MAX_RECORD_MESSAGE)
        self.socket.subscribe(b"")
        self.endpoint = ""
        self._clock = clock
        self._on_record = on_record
        self._task: asyncio.Task[None] | None = None
        self._log_flush: asyncio.TimerHandle | None = None
        self.rates = RateTable()

    async def bind(self, endpoint: str = "tcp://127.0.0.1:*") -> str:
        self.endpoint = await self.socket.bind(endpoint)
        return self.endpoint

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="zrelog-collector")

    async def _run(self) -> None:
        try:
            while True:
                frames = await self.socket.recv_multipart()
                now = self._clock()
                rec = self.core.handle_frames(frames, now)
                if rec is None:
                    self._schedule_log_flush(now)
                    continue
                self.sink.write(rec)
                self.rates.add(rec, time.monotonic())
                if self._on_record is not None:
                    self._on_record(rec)
        except SocketClosed:
            return

    def _schedule_log_flush(self, now: float) -> None:
        """Write the summary of suppressed warnings when it is due, even if no record follows."""
        due = self.core.log.next_flush()
        if due is None or self._log_flush is not None:
            return

        def flush() -> None:
            self._log_flush = None
            self.core.log.flush(self._clock())
            self._schedule_log_flush(self._clock())

        self._log_flush = asyncio.get_running_loop().call_later(max(0.0, due - now), flush)

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._log_flush is not None:
            self._log_flush.cancel()
            self._log_flush = None
        due = self.core.log.next_flush()
        if due is not None:  # what was suppressed is not lost: its summary is written now
            self.core.log.flush(max(self._clock(), due))
        self.socket.close(linger=False)
        self.sink.close()
