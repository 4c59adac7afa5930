"""ZPIPES: a reader that does not read its socket (spec/zpipes.md#slow-reader).

The broker hands a client a READ-OK only while the bytes still waiting to go to it are at most
``max_reply_bytes``; its READs then wait, its bytes stay in the pipe (its writer waits), and it is
served again once its backlog falls. The core is driven here with a model transport (a client's
backlog = the encoded replies it has not taken); the asyncio tests use a real ROUTER and a
client that stops reading its connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_zpipes_broker import Net, R, W, X, open_pair, r, w
from zre_ref.aio import zpipes
from zre_ref.aio.zmtp import Socket
from zre_ref.aio.zmtp_flow import WRITE_HIGH_WATER
from zre_ref.aio.zpipes import BrokerLost, ZpipesBroker
from zre_ref.zpipes import messages as m
from zre_ref.zpipes.broker import MAX_REASON_BYTES, MAX_SMALL_REPLY, READ_OK_OVERHEAD

from .waiting import until


def reply_bytes(msgs: list[m.ZpipesMessage]) -> int:
    return sum(len(m.encode(msg)[0]) for msg in msgs)


def model_net(**kw: Any) -> Net:
    """A Net whose clients' backlog is the replies they have not taken with ``got``."""
    net: Net
    net = Net(reply_backlog=lambda c: reply_bytes(net.inbox.get(c, [])), **kw)
    return net


def chunks_of(msgs: list[m.ZpipesMessage]) -> bytes:
    return b"".join(msg.chunk for msg in msgs if isinstance(msg, m.ReadOk))


# -- the core ------------------------------------------------------------------------------------
def test_reader_not_reading_is_held_back_then_served_losing_nothing() -> None:
    net = model_net(max_reply_bytes=1000, max_pipe_bytes=4000)
    open_pair(net)
    data = bytes(range(256)) * 40
    for i in range(0, len(data), 500):
        net.post(W, w(data[i:i + 500]))
    for _ in range(20):
        net.post(R, r(400))
    # three READ-OKs went out (the third crossed the budget), the rest wait
    assert net.broker.held_back() == [R]
    waiting = net.inbox[R]
    assert [type(x) for x in waiting] == [m.ReadOk] * 3
    assert reply_bytes(waiting) <= 1000 + 400 + READ_OK_OVERHEAD
    assert net.broker.pending_requests(R) == 17
    # the pipe is full, so the writer waits (backpressure), nothing is refused
    info = net.broker.pipe_info("p")
    assert info is not None and info.buffered <= 4000
    assert all(isinstance(x, m.WriteOk) for x in net.inbox[W])
    assert net.broker.pending_requests(W) > 0
    # room made elsewhere does not serve it while its own backlog is unchanged
    net.take(net.broker.handle_writable(net.now))
    assert net.broker.held_back() == [R] and len(net.inbox[R]) == 3
    # the reader takes its replies: each time the transport says so, it is served again
    got: list[m.ZpipesMessage] = []
    for _ in range(100):
        got += net.got(R)
        if not net.broker.pending_requests(R):
            break
        net.take(net.broker.handle_writable(net.now))
    got += net.got(R)
    assert [type(x) for x in got] == [m.ReadOk] * 20
    assert chunks_of(got) == data[:8000]
    assert net.broker.held_back() == []


def test_held_back_reader_times_out_closes_and_expires_cleanly() -> None:
    net = model_net(max_reply_bytes=10, expiry=5.0)
    open_pair(net)
    net.post(W, w(b"a" * 100))
    net.post(R, r(50))
    net.post(R, r(50, timeout=100))
    assert net.broker.held_back() == [R] and len(net.inbox[R]) == 1
    # a timed READ held back times out like any other, consuming nothing
    net.advance(0.2)
    assert [type(x) for x in net.inbox[R]] == [m.ReadOk, m.ReadTimeout]
    assert net.broker.pipe_info("p").buffered == 50  # type: ignore[union-attr]
    # CLOSE answers the pending READ and forgets the hold; the writer learns the reader went
    net.post(R, r(50))
    net.post(R, m.Close())
    assert [type(x) for x in net.got(R)][-2:] == [m.ReadFailed, m.CloseOk]
    assert net.broker.held_back() == []
    assert net.send(W, w(b"b")) == [m.WriteFailed(reason="the reader of pipe 'p' has gone")]
    # a held-back reader that goes silent expires and leaves no hold behind
    assert net.send(X, m.Input(pipename="q")) == [m.InputOk()]
    assert net.send(W, m.Close()) == [m.CloseOk()]
    assert net.send(W, m.Output(pipename="q")) == [m.OutputOk()]
    net.post(W, w(b"c" * 100))
    net.post(X, r(50))
    net.post(X, r(50))
    assert net.broker.held_back() == [X]
    net.advance(6.0)
    assert X in net.expired and net.broker.held_back() == []
    assert net.broker.handle_writable(net.now) == []


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 300)),
    st.tuples(st.just("read"), st.integers(1, 300)),
    st.tuples(st.just("take"), st.integers(0, 5)),
    st.tuples(st.just("writable"), st.just(0)),
), max_size=80), budget=st.integers(1, 1000))
def test_read_ok_backlog_never_passes_budget_plus_one_reply(ops: list[tuple[str, int]],
                                                            budget: int) -> None:
    """Any interleaving: the READ-OK bytes waiting for the reader stay within max_reply_bytes
    plus one READ-OK, and what it takes is the written stream, in order."""
    net = model_net(max_reply_bytes=budget, max_pipe_bytes=500, max_pending=16)
    open_pair(net)
    written = bytearray()
    received = bytearray()
    largest = 0
    for op, n in ops:
        if op == "write":
            net.post(W, w(bytes([len(written) % 251]) * n))
            written += bytes([len(written) % 251]) * n
        elif op == "read":
            net.post(R, r(n))
            largest = max(largest, n)
        elif op == "take":
            box = net.inbox.get(R, [])
            taken, net.inbox[R] = box[:n], box[n:]
            received += chunks_of(taken)
        else:
            net.take(net.broker.handle_writable(net.now))
        waiting = [x for x in net.inbox.get(R, []) if isinstance(x, m.ReadOk)]
        assert reply_bytes(waiting) <= budget + largest + READ_OK_OVERHEAD
    received += chunks_of(net.got(R))
    assert bytes(received) == bytes(written[:len(received)])


def test_reasons_naming_a_long_pipe_still_fit() -> None:
    """A reason quoting a 255-byte name is cut to what a zproto string holds (it used to make
    the broker's send raise, which stopped the broker)."""
    net = Net()
    name = "\x00" * 255
    assert net.send(R, m.Input(pipename=name)) == [m.InputOk()]
    (failed,) = net.send(X, m.Input(pipename=name))
    assert isinstance(failed, m.InputFailed)
    assert len(failed.reason.encode()) <= MAX_REASON_BYTES
    assert failed.reason.startswith("pipe '\\x00")
    assert len(m.encode(failed)[0]) <= MAX_SMALL_REPLY


# -- asyncio ---------------------------------------------------------------------------------------
def run(coro: Any, timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.mark.net
def test_hostile_reader_bounded_in_bytes_while_others_are_served() -> None:
    """A client that sends READs and never reads its socket: what the broker's socket holds for
    it stays under the documented bound, a well-behaved pair keeps transferring, and once it
    reads again it gets every byte, in order."""
    opts = {"max_pipe_bytes": 1024 * 1024, "max_client_bytes": 1024 * 1024,
            "max_reply_bytes": 1, "max_pending": 64}
    sndhwm = 4 * opts["max_pending"] + 64
    bound = (max(opts["max_reply_bytes"], WRITE_HIGH_WATER)
             + max(opts["max_pipe_bytes"], opts["max_client_bytes"]) + READ_OK_OVERHEAD
             + 2 * sndhwm * MAX_SMALL_REPLY)
    data = bytes(range(251)) * (24 * 1024 * 1024 // 251)

    async def main() -> None:
        broker = ZpipesBroker(**opts)
        ep = await broker.bind("tcp://127.0.0.1:*")
        broker.start()
        hostile = Socket("DEALER", identity=b"hostile")
        writer = zpipes.Pipe(ep, "h", "w")
        write_task: asyncio.Task[None] | None = None
        try:
            await hostile.connect(ep)
            await until(lambda: any(p["ready"] for p in hostile.peers()), 5.0, "handshake")
            hostile.send_multipart_nowait(m.encode(m.Input(pipename="h")))
            assert m.decode(await asyncio.wait_for(hostile.recv_multipart(), 5.0)) == m.InputOk()
            hostile.pause_reading()
            await writer

            async def write_all() -> None:
                await writer.write(data)
                await writer.close()

            write_task = asyncio.get_running_loop().create_task(write_all())
            # 64 READs of 1 MiB ask for more than the 24 MiB written: far more than the
            # kernel's buffers and the bound take together
            reads = opts["max_pending"]
            for _ in range(reads):
                hostile.send_multipart_nowait(m.encode(m.Read(size=1024 * 1024, timeout=0)))
            await until(lambda: b"hostile" in broker.core.held_back(), 20.0, "the hold")
            # held while its transport is stopped: its backlog cannot drain below the low mark
            assert WRITE_HIGH_WATER // 4 <= broker.socket.send_backlog(b"hostile") <= bound
            assert broker.socket.send_backlog(b"nobody") == 0
            # a well-behaved pair on another pipe is served meanwhile
            good = bytes(range(256)) * 8192
            async with zpipes.open(ep, "g", "r") as rd:
                async def send_good() -> None:
                    async with zpipes.open(ep, "g", "w") as wr:
                        await wr.write(good)

                _, got = await asyncio.wait_for(asyncio.gather(send_good(), rd.read_all()), 10.0)
            assert got == good
            assert broker.socket.send_backlog(b"hostile") <= bound
            assert b"hostile" in broker.core.held_back()
            info = broker.core.pipe_info("h")
            assert info is not None and info.buffered <= opts["max_pipe_bytes"]
            # it reads again: every READ is answered, the whole stream in order, then the end
            hostile.resume_reading()
            received = bytearray()
            replies = []
            for _ in range(reads):
                reply = m.decode(await asyncio.wait_for(hostile.recv_multipart(), 10.0))
                replies.append(type(reply))
                if isinstance(reply, m.ReadOk):
                    received += reply.chunk
            assert bytes(received) == data
            assert replies[-1] is m.ReadEnd and m.ReadFailed not in replies
            await asyncio.wait_for(write_task, 10.0)
        finally:
            if write_task is not None:
                write_task.cancel()
                await asyncio.gather(write_task, return_exceptions=True)
            await writer.abort()
            hostile.close(linger=False)
            await broker.close()

    run(main())


@pytest.mark.net
def test_client_loses_a_broker_that_answers_more_than_asked() -> None:
    """READ-OK longer than the READ asked for: the read-ahead buffer would have no bound."""
    async def main() -> None:
        fake = Socket("ROUTER")
        ep = await fake.bind("tcp://127.0.0.1:*")
        try:
            async def serve() -> None:
                while True:
                    ident, *frames = await fake.recv_multipart()
                    msg = m.decode(frames)
                    reply: m.ZpipesMessage = m.PingOk()
                    if isinstance(msg, m.Input):
                        reply = m.InputOk()
                    elif isinstance(msg, m.Read):
                        reply = m.ReadOk(chunk=b"x" * (msg.size + 1))
                    fake.send_multipart_nowait([ident, *m.encode(reply)])

            task = asyncio.get_running_loop().create_task(serve())
            try:
                async with zpipes.open(ep, "p", "r") as p:
                    with pytest.raises(BrokerLost, match="answered READ of 10 bytes with 11"):
                        await p.read(10, timeout=5.0)
            except BrokerLost:
                pass  # closing the pipe cannot reach a lost broker
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            fake.close(linger=False)

    run(main())
