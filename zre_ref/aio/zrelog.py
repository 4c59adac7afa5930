"""asyncio ZRE/LOG: a node's log publisher (PUB) and the log collector (SUB) (spec/zrelog.md).

The publisher turns a node's ZRE events into LOG records through
:class:`~zre_ref.zrelog.publisher.PublisherCore`; it never blocks the node: records that cannot be
queued are dropped and counted. The collector binds a SUB socket, and writes one JSON line per
record through :class:`~zre_ref.zrelog.collector.CollectorCore`, rotating files by size.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..zre.events import ZreEvent
from ..zrelog.collector import CollectorCore, RateTable, RotationPolicy, rotation_plan
from ..zrelog.messages import Level
from ..zrelog.publisher import ConnectCollector, DisconnectCollector, PublisherCore
from .zmtp import Socket, SocketClosed, WouldBlock

log = logging.getLogger("zre_ref.aio.zrelog")

#: Messages the PUB socket holds per collector before it drops (spec/zrelog.md#publishing)
PUB_HWM = 1000
#: Seconds records wait for a newly found collector to subscribe before going out anyway: a PUB
#: drops what it sends before the SUB's subscription arrives (spec/zrelog.md#publishing)
SUBSCRIBE_GRACE = 2.0


class LogPublisher:
    """One PUB socket feeding every known collector; call :meth:`handle_event` for each ZRE event
    the node emits (spec/zrelog.md#publishing). Off by default in a node; switch with ``enabled``."""

    def __init__(self, own_endpoint: str, *, enabled: bool = True, verbose: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.core = PublisherCore(own_endpoint, enabled=enabled, verbose=verbose)
        self.socket = Socket("PUB", sndhwm=PUB_HWM)
        self._clock = clock
        self._retry: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None

    @property
    def enabled(self) -> bool:
        return self.core.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.core.enabled = value

    @property
    def dropped(self) -> int:
        return self.core.dropped

    async def handle_event(self, ev: ZreEvent) -> None:
        """Record a ZRE event (and connect to / disconnect from collectors it reveals)."""
        for eff in self.core.handle_event(ev, self._clock()):
            if isinstance(eff, ConnectCollector):
                try:
                    await self.socket.connect(eff.endpoint)
                except ValueError as exc:
                    log.warning("zrelog: cannot connect to collector %r: %s", eff.endpoint, exc)
            elif isinstance(eff, DisconnectCollector):
                with contextlib.suppress(ValueError):
                    self.socket.disconnect(eff.endpoint)
        self.flush()

    def _subscribed(self) -> bool:
        ready = {p["endpoint"] for p in self.socket.peers() if p["ready"] and p["subscriptions"]}
        return all(ep in ready for ep in self.core.collectors)

    def flush(self) -> None:
        """Publish every queued record, once every known collector has subscribed (or after
        SUBSCRIBE_GRACE); a full PUB queue counts as dropped records."""
        if self.socket.closed:
            return
        loop = asyncio.get_running_loop()
        if not self._subscribed():
            if self._waiting_since is None:
                self._waiting_since = loop.time()
            if loop.time() - self._waiting_since < SUBSCRIBE_GRACE:
                if self._retry is None:
                    self._retry = loop.call_later(0.01, self._retry_flush)
                return
        self._waiting_since = None
        sock = self.socket
        for frames in self.core.drain():
            if sock.queued() >= PUB_HWM * max(1, len(self.core.collectors)):
                self.core.count_dropped()
                continue
            try:
                sock.send_multipart_nowait(frames)
            except (WouldBlock, SocketClosed):
                self.core.count_dropped()

    def _retry_flush(self) -> None:
        self._retry = None
        self.flush()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
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
    (spec/zrelog.md#collector). Its :attr:`endpoint` goes into the node's X-ZRELOG header."""

    def __init__(self, sink: JsonLines, *, max_level: int = Level.INFO,
                 clock: Callable[[], float] = time.time,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.core = CollectorCore(max_level=max_level)
        self.sink = sink
        self.socket = Socket("SUB", rcvhwm=10_000)
        self.socket.subscribe(b"")
        self.endpoint = ""
        self._clock = clock
        self._on_record = on_record
        self._task: asyncio.Task[None] | None = None
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
                    continue
                self.sink.write(rec)
                self.rates.add(rec, time.monotonic())
                if self._on_record is not None:
                    self._on_record(rec)
        except SocketClosed:
            return

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.socket.close(linger=False)
        self.sink.close()
