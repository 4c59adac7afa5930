"""ZPIPES over loopback: broker + clients, killed processes, a restarted broker, the CLI.
Every wait is bounded (spec/zpipes.md#client)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from zre_ref.aio import zpipes
from zre_ref.aio.zpipes import BrokerLost, PipeBroken, PipeRefused, PipeTimeout, ZpipesBroker

from .waiting import until

pytestmark = pytest.mark.net
T = TypeVar("T")
FAST = {"heartbeat": 0.2, "broker_timeout": 1.5, "open_timeout": 3.0}


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def start_broker(*binds: str, **kw: Any) -> tuple[ZpipesBroker, list[str]]:
    b = ZpipesBroker(**kw)
    eps = [await b.bind(ep) for ep in (binds or ("tcp://127.0.0.1:*",))]
    b.start()
    return b, eps


def test_transfer_binary_data_random_read_sizes() -> None:
    data = os.urandom(700_000) + bytes(range(256)) * 3

    async def main() -> None:
        b, (ep,) = await start_broker()
        try:
            async def writer() -> None:
                async with zpipes.open(ep, "bin", "w", **FAST) as p:
                    for i in range(0, len(data), 50_000):
                        await p.write(data[i:i + 50_000])

            async def reader() -> bytes:
                out = bytearray()
                sizes = [1, 7, 65536, 3, 100_000]
                async with zpipes.open(ep, "bin", "r", **FAST) as p:
                    i = 0
                    while chunk := await p.read(sizes[i % len(sizes)]):
                        assert len(chunk) <= sizes[i % len(sizes)]
                        out += chunk
                        i += 1
                    assert await p.read(10) == b""  # stays at the end
                return bytes(out)

            _, got = await asyncio.gather(writer(), reader())
            assert got == data
            assert b.core.pipe_names() == []  # both ends closed: gone
        finally:
            await b.close()

    run(main())


def test_several_binds_tcp_and_ipc() -> None:
    async def main() -> None:
        path = os.path.join(tempfile.mkdtemp(), "zpipes.ipc")
        b, (tcp, ipc) = await start_broker("tcp://127.0.0.1:*", f"ipc://{path}")
        try:
            async with zpipes.open(ipc, "x", "r", **FAST) as r:
                async with zpipes.open(tcp, "x", "w", **FAST) as w:
                    await w.write(b"across transports")
                assert await r.read_all() == b"across transports"
        finally:
            await b.close()

    run(main())


def test_second_reader_refused_clearly() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker()
        try:
            async with zpipes.open(ep, "one", "r", **FAST):
                with pytest.raises(PipeRefused, match="already has a reader"):
                    await zpipes.open(ep, "one", "r", **FAST)
        finally:
            await b.close()

    run(main())


def test_timeouts_are_distinct_from_end() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker()
        try:
            async with zpipes.open(ep, "t", "w", **FAST) as w:
                with pytest.raises(PipeTimeout) as info:
                    await w.write(b"nobody listens", timeout=0.3)
                assert info.value.written == 0
                async with zpipes.open(ep, "t", "r", **FAST) as r:
                    with pytest.raises(PipeTimeout):
                        await r.read(5, timeout=0.3)
                    await w.write(b"now", timeout=2.0)  # the pipe stayed usable
                    assert await r.read(3, timeout=2.0) == b"now"
                    await w.close()
                    assert await r.read(3, timeout=2.0) == b""
        finally:
            await b.close()

    run(main())


def test_idle_clients_kept_alive_by_heartbeats() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker(expiry=0.8)
        try:
            async with zpipes.open(ep, "idle", "r", **FAST) as r:
                async with zpipes.open(ep, "idle", "w", **FAST) as w:
                    await asyncio.sleep(2.0)  # > 2 expiries of silence, but PINGs flow
                    await w.write(b"still here")
                assert await r.read_all() == b"still here"
        finally:
            await b.close()

    run(main())


def test_broker_restart_gives_clear_error_not_hang() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker()
        r = await zpipes.open(ep, "r", "r", **FAST)
        await b.close()
        b2, _ = await start_broker(ep)  # same port, new broker with no memory
        try:
            with pytest.raises(BrokerLost):
                await asyncio.wait_for(r.read(10), 5.0)
            await r.abort()
        finally:
            await b2.close()

    run(main())


def test_no_broker_is_a_clear_error() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker()
        await b.close()
        with pytest.raises(BrokerLost):
            await zpipes.open(ep, "x", "w", heartbeat=0.2, broker_timeout=1.0, open_timeout=1.0)

    run(main())


# -- processes killed mid-transfer -------------------------------------------------------------
def _cli(*args: str, **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "zre_ref.cli", *args], **kw)


def test_killed_writer_process_reader_ends_cleanly() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker(expiry=1.0)
        proc = _cli("pipe", "write", "k", "--broker", ep, stdin=subprocess.PIPE)
        try:
            async with zpipes.open(ep, "k", "r", **FAST) as r:
                assert proc.stdin is not None
                proc.stdin.write(b"partial data\n")
                proc.stdin.flush()
                got = await r.read(13, timeout=10.0)
                assert got == b"partial data\n"
                proc.send_signal(signal.SIGKILL)  # dies mid-transfer, sends no CLOSE
                assert await asyncio.wait_for(r.read(100), 8.0) == b""  # READ-END, no hang
        finally:
            proc.kill()
            proc.wait(5)
            await b.close()

    run(main(), 30)


def test_killed_reader_process_writer_fails_cleanly() -> None:
    async def main() -> None:
        b, (ep,) = await start_broker(expiry=1.0, max_pipe_bytes=64 * 1024)
        proc = _cli("pipe", "read", "k2", "--broker", ep, stdout=subprocess.PIPE)
        try:
            async with zpipes.open(ep, "k2", "w", **FAST) as w:
                await w.write(b"x" * 131072, timeout=10.0)  # the reader is there
                assert proc.stdout is not None
                loop = asyncio.get_running_loop()
                got = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.read, 131072), 10)
                assert got == b"x" * 131072
                proc.send_signal(signal.SIGKILL)
                with pytest.raises(PipeBroken, match="reader"):
                    for _ in range(1000):  # fills the pipe; then the reader expires
                        await asyncio.wait_for(w.write(b"y" * 65536), 8.0)
                await w.abort()
        finally:
            proc.kill()
            proc.wait(5)
            await b.close()

    run(main(), 30)


def test_lost_connection_closes_pipe_end_without_waiting_for_expiry() -> None:
    """A client whose connection drops without CLOSE (as when its process dies) loses its pipe
    end at once, not after the broker's expiry (here 60 s) (spec/zpipes.md#expiry)."""
    async def main() -> None:
        b, (ep,) = await start_broker(expiry=60.0)
        try:
            r = await zpipes.open(ep, "gone", "r", **FAST)
            w = await zpipes.open(ep, "gone", "w", **FAST)
            await w.write(b"last words", timeout=3.0)
            await w.flush()
            await w.drop()  # the socket closes, no CLOSE is sent
            assert await asyncio.wait_for(r.read(100), 3.0) == b"last words"
            assert await asyncio.wait_for(r.read(100), 2.0) == b""  # READ-END long before 60 s
            await r.close()

            w = await zpipes.open(ep, "gone2", "w", **FAST)
            r = await zpipes.open(ep, "gone2", "r", **FAST)
            await w.write(b"x", timeout=3.0)
            assert await asyncio.wait_for(r.read(1), 3.0) == b"x"
            await r.drop()
            await until(lambda: len(b.core.clients()) == 1, what="the broker sees the reader go")
            with pytest.raises(PipeBroken, match="reader"):
                await asyncio.wait_for(w.write(b"y"), 2.0)
                await asyncio.wait_for(w.flush(), 2.0)
            await w.abort()
            # every session went with its connection
            await until(lambda: b.core.clients() == [], what="no session left")
        finally:
            await b.close()

    run(main(), 20)


# -- CLI and the sync wrapper ---------------------------------------------------------------------
def test_cli_broker_and_pipe_commands_binary_safe(tmp_path: Any) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(300_000) + b"\x00\r\n\xff" * 100)
    dst = tmp_path / "out.bin"
    broker = _cli("zpipes-broker", "--bind", "tcp://127.0.0.1:0", stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL)
    try:
        assert broker.stdout is not None
        line = broker.stdout.readline().decode()
        assert line.startswith("zpipes-broker: listening on tcp://127.0.0.1:")
        ep = line.split()[-1]
        with open(dst, "wb") as out:
            reader = _cli("pipe", "read", "files", "--broker", ep, stdout=out)
            with open(src, "rb") as inp:
                writer = _cli("pipe", "write", "files", "--broker", ep, stdin=inp)
                assert writer.wait(20) == 0
            assert reader.wait(20) == 0
        assert dst.read_bytes() == src.read_bytes()
    finally:
        broker.send_signal(signal.SIGTERM)
        assert broker.wait(10) == 0


def test_sync_wrapper() -> None:
    async def serve(ready: threading.Event, stop: asyncio.Event, box: list[str]) -> None:
        b, (ep,) = await start_broker()
        box.append(ep)
        ready.set()
        await stop.wait()
        await b.close()

    loop = asyncio.new_event_loop()
    ready, box = threading.Event(), []
    stop = asyncio.Event()
    t = threading.Thread(target=lambda: loop.run_until_complete(serve(ready, stop, box)))
    t.start()
    try:
        assert ready.wait(5)
        ep = box[0]
        with zpipes.open_sync(ep, "s", "r", **FAST) as r:
            with zpipes.open_sync(ep, "s", "w", **FAST) as w:
                w.write(b"sync hello")
            assert r.read_all(timeout=5) == b"sync hello"
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(10)
        loop.close()
