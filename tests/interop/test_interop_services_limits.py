"""The collector's and the broker's message-size limits against libzmq peers (pyzmq): a libzmq PUB
still feeds the ZRE/LOG collector whose SUB takes at most 4 KiB messages (READY and PING fit),
and a libzmq DEALER still uses the ZPIPES broker, up to the largest WRITE it accepts
(spec/zrelog.md#limits, spec/zpipes.md#limits)."""

from __future__ import annotations

import asyncio
import io

import pytest

pytest.importorskip("zmq")
import zmq
import zmq.asyncio

from tests.waiting import until
from zre_ref.aio.zpipes import ZpipesBroker
from zre_ref.aio.zrelog import JsonLines, LogCollector
from zre_ref.zpipes import messages as zp
from zre_ref.zrelog import messages as zl

pytestmark = pytest.mark.interop


def test_libzmq_pub_feeds_the_collector() -> None:
    async def main() -> None:
        got: list[dict[str, object]] = []
        collector = LogCollector(JsonLines(None, stream=io.StringIO()), on_record=got.append)
        endpoint = await collector.bind("tcp://127.0.0.1:*")
        collector.start()
        ctx = zmq.asyncio.Context()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.HEARTBEAT_IVL, 50)  # PING commands must pass the 4 KiB limit too
        pub.connect(endpoint)
        record = zl.encode(zl.Log(level=3, event=1, node=1, peer=2, time=1, data="x" * 255))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while not got and loop.time() < deadline:  # until the SUB's subscription arrived
                await pub.send_multipart(record)
                await asyncio.sleep(0.05)  # a probe's pace: libzmq's PUB says nothing of it
            assert got and got[0]["data"] == "x" * 255
            await asyncio.sleep(0.3)  # the scenario: idle for several heartbeats (no sync)
            before = len(got)
            await pub.send_multipart(record)
            await until(lambda: len(got) > before, what="the record after the heartbeats")
            assert collector.core.malformed == 0
        finally:
            pub.close(0)
            ctx.term()
            await collector.close()

    asyncio.run(main())


def test_libzmq_dealer_writes_the_largest_chunk_the_broker_takes() -> None:
    async def main() -> None:
        broker = ZpipesBroker(max_client_bytes=1024 * 1024)
        endpoint = await broker.bind("tcp://127.0.0.1:*")
        broker.start()
        ctx = zmq.asyncio.Context()
        writer, reader = ctx.socket(zmq.DEALER), ctx.socket(zmq.DEALER)
        writer.connect(endpoint)
        reader.connect(endpoint)

        async def ask(sock: zmq.asyncio.Socket, msg: zp.ZpipesMessage) -> zp.ZpipesMessage:
            await sock.send_multipart(zp.encode(msg))
            return zp.decode(await asyncio.wait_for(sock.recv_multipart(), 10))

        try:
            assert await ask(reader, zp.Input(pipename="big")) == zp.InputOk()
            assert await ask(writer, zp.Output(pipename="big")) == zp.OutputOk()
            chunk = bytes(range(256)) * 4096  # 1 MiB: exactly the budget
            assert await ask(writer, zp.Write(chunk=chunk, timeout=0)) == zp.WriteOk()
            assert await ask(reader, zp.Read(size=len(chunk), timeout=0)) == zp.ReadOk(chunk=chunk)
        finally:
            writer.close(0)
            reader.close(0)
            ctx.term()
            await broker.close()

    asyncio.run(main())
