"""ZPIPES broker core (sans-IO): one test per named-pipe rule, each zbroker bug as a regression
test, and a Hypothesis property: random data, chunking and read sizes -> the same bytes, in order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.zpipes import messages as m
from zre_ref.zpipes.broker import Broker, ClientExpired, Send, SessionState
from zre_ref.zpipes.chunks import ChunkBuffer

R, W, X = b"\x00reader", b"\x00writer", b"\x00other"


class Net:
    """A broker, a virtual clock, and the replies each client got."""

    def __init__(self, **kw: Any) -> None:
        self.broker = Broker(**kw)
        self.now = 0.0
        self.inbox: dict[bytes, list[m.ZpipesMessage]] = {}
        self.expired: list[bytes] = []

    def take(self, effects: list[Any]) -> None:
        """File the broker's effects: replies into the inboxes, expiries into ``expired``."""
        for e in effects:
            if isinstance(e, Send):
                self.inbox.setdefault(e.client, []).append(e.message)
            elif isinstance(e, ClientExpired):
                self.expired.append(e.client)

    def send(self, client: bytes, msg: m.ZpipesMessage) -> list[m.ZpipesMessage]:
        """Deliver ``msg``; return what ``client`` got back right away."""
        box = self.inbox.setdefault(client, [])
        before = len(box)
        self.take(self.broker.handle_message(client, msg, self.now))
        new = box[before:]
        del box[before:]
        return new

    def post(self, client: bytes, msg: m.ZpipesMessage) -> None:
        """Deliver ``msg``; replies stay in the inboxes for :meth:`got`."""
        self.take(self.broker.handle_message(client, msg, self.now))

    def advance(self, dt: float) -> None:
        """Move the clock, firing the timer at every deadline on the way (as the aio shell does)."""
        end = self.now + dt
        while True:
            t = self.broker.next_deadline()
            if t is None or t > end:
                break
            self.now = max(self.now, t)
            self.take(self.broker.handle_timer(self.now))
        self.now = end
        self.take(self.broker.handle_timer(self.now))

    def got(self, client: bytes) -> list[m.ZpipesMessage]:
        """Everything ``client`` received since the last call."""
        out = self.inbox.get(client, [])
        self.inbox[client] = []
        return out


def open_pair(net: Net, name: str = "p") -> None:
    assert net.send(R, m.Input(pipename=name)) == [m.InputOk()]
    assert net.send(W, m.Output(pipename=name)) == [m.OutputOk()]
    net.got(R), net.got(W)


def w(data: bytes, timeout: int = 0) -> m.Write:
    return m.Write(chunk=data, timeout=timeout)


def r(size: int, timeout: int = 0) -> m.Read:
    return m.Read(size=size, timeout=timeout)


# -- pipe lifetime ---------------------------------------------------------------------------
def test_pipe_exists_while_it_has_an_end() -> None:
    net = Net()
    net.send(R, m.Input(pipename="p"))
    assert net.broker.pipe_names() == ["p"]
    net.send(R, m.Close())
    assert net.broker.pipe_names() == []
    net.send(W, m.Output(pipename="p"))
    assert net.broker.pipe_names() == ["p"]
    assert net.send(W, m.Close()) == [m.CloseOk()]
    assert net.broker.pipe_names() == []


def test_both_ends_closed_flushes_the_data() -> None:
    # zbroker issue "zpipes retains data for disconnected pipes"
    net = Net()
    open_pair(net)
    assert net.send(W, w(b"stale")) == [m.WriteOk()]
    assert net.broker.pipe_info("p").buffered == 5  # type: ignore[union-attr]
    net.send(R, m.Close())
    net.send(W, m.Close())
    assert net.broker.pipe_names() == []
    open_pair(net)
    assert net.send(W, m.Close()) == [m.CloseOk()]
    assert net.send(R, r(5)) == [m.ReadEnd()]  # nothing old came back


def test_names_are_independent() -> None:
    net = Net()
    net.send(R, m.Input(pipename="a"))
    net.send(W, m.Output(pipename="b"))
    net.got(R), net.got(W)
    assert net.send(W, w(b"x", timeout=100)) == []
    net.advance(0.2)
    assert net.got(W) == [m.WriteTimeout()]
    assert net.broker.pipe_info("a").buffered == 0  # type: ignore[union-attr]


# -- one reader and one writer ---------------------------------------------------------------
def test_second_reader_refused_with_reason_and_kept() -> None:
    net = Net()
    net.send(R, m.Input(pipename="p"))
    (reply,) = net.send(X, m.Input(pipename="p"))
    assert isinstance(reply, m.InputFailed) and "already has a reader" in reply.reason
    assert net.broker.session_state(X) is SessionState.START
    assert net.send(X, m.Ping()) == [m.PingOk()]  # the connection is kept
    net.send(R, m.Close())
    assert net.send(X, m.Input(pipename="p")) == [m.InputOk()]  # and may try again


def test_second_writer_refused_with_reason_and_kept() -> None:
    net = Net()
    net.send(W, m.Output(pipename="p"))
    (reply,) = net.send(X, m.Output(pipename="p"))
    assert isinstance(reply, m.OutputFailed) and "already has a writer" in reply.reason
    assert net.broker.session_state(X) is SessionState.START


def test_empty_pipe_name_refused() -> None:
    net = Net()
    (reply,) = net.send(R, m.Input(pipename=""))
    assert isinstance(reply, m.InputFailed) and reply.reason
    (reply,) = net.send(W, m.Output(pipename=""))
    assert isinstance(reply, m.OutputFailed) and reply.reason


# -- WRITE -----------------------------------------------------------------------------------
def test_write_without_reader_waits_then_times_out() -> None:
    net = Net()
    net.send(W, m.Output(pipename="p"))
    net.got(W)
    assert net.send(W, w(b"abc", timeout=500)) == []
    net.advance(0.499)
    assert net.got(W) == []
    net.advance(0.002)
    assert net.got(W) == [m.WriteTimeout()]
    net.send(R, m.Input(pipename="p"))
    assert net.send(R, r(3, timeout=10)) == []  # the timed-out chunk was not written
    net.advance(0.02)
    assert net.got(R) == [m.ReadTimeout()]


def test_write_waits_for_reader_then_ok() -> None:
    # zbroker issue "sometimes reader and writer pipes don't connect": writer first, reader later
    net = Net()
    net.send(W, m.Output(pipename="p"))
    net.got(W)
    assert net.send(W, w(b"abc")) == []
    net.advance(1.0)
    assert net.send(W, m.Ping()) == [m.PingOk()]
    net.send(R, m.Input(pipename="p"))
    assert net.got(W) == [m.WriteOk()]
    assert net.send(R, r(3)) == [m.ReadOk(chunk=b"abc")]


def test_write_with_reader_is_queued() -> None:
    net = Net()
    open_pair(net)
    assert net.send(W, w(b"one")) == [m.WriteOk()]
    assert net.send(W, w(b"two")) == [m.WriteOk()]
    assert net.broker.pipe_info("p").buffered == 6  # type: ignore[union-attr]


def test_pipelined_write_timeout_fails_the_rest() -> None:
    net = Net()
    net.send(W, m.Output(pipename="p"))
    net.got(W)
    for i in range(3):
        net.send(W, w(bytes([i]), timeout=100))
    net.advance(0.2)
    assert net.got(W) == [m.WriteTimeout()] * 3


def test_backpressure_write_waits_for_room() -> None:
    net = Net(max_pipe_bytes=10)
    open_pair(net)
    assert net.send(W, w(b"0123456789")) == [m.WriteOk()]
    assert net.send(W, w(b"abc")) == []  # full: waits
    assert net.send(R, r(4)) == [m.ReadOk(chunk=b"0123")]
    assert net.got(W) == [m.WriteOk()]  # room again
    assert net.broker.pipe_info("p").buffered == 9  # type: ignore[union-attr]


def test_backpressure_write_can_time_out() -> None:
    net = Net(max_pipe_bytes=4)
    open_pair(net)
    net.send(W, w(b"1234"))
    assert net.send(W, w(b"5", timeout=50)) == []
    net.advance(0.1)
    assert net.got(W) == [m.WriteTimeout()]


def test_big_read_does_not_deadlock_against_full_pipe() -> None:
    net = Net(max_pipe_bytes=8)
    open_pair(net)
    net.send(W, w(b"12345678"))
    net.send(W, w(b"9abc"))  # held back
    assert net.send(R, r(1000)) == [m.ReadOk(chunk=b"12345678")]
    assert net.got(W) == [m.WriteOk()]


def test_oversized_chunk_accepted_into_empty_pipe() -> None:
    net = Net(max_pipe_bytes=4)
    open_pair(net)
    assert net.send(W, w(b"0123456789")) == [m.WriteOk()]
    assert net.send(R, r(10)) == [m.ReadOk(chunk=b"0123456789")]


def test_reader_close_fails_pending_and_later_writes() -> None:
    net = Net(max_pipe_bytes=2)
    open_pair(net)
    net.send(W, w(b"ab"))
    net.send(W, w(b"cd"))  # waits for room
    net.got(W)
    net.send(R, m.Close())
    (failed,) = net.got(W)
    assert isinstance(failed, m.WriteFailed) and "reader" in failed.reason
    (again,) = net.send(W, w(b"ef"))
    assert isinstance(again, m.WriteFailed)


# -- READ ------------------------------------------------------------------------------------
def test_read_exact_size_joins_and_splits_chunks() -> None:
    # zbroker issue "client potentially loses data" / "client API uses chunks, not a stream"
    net = Net()
    open_pair(net)
    for part in (b"ab", b"cde", b"f", b"ghij"):
        net.send(W, w(part))
    assert net.send(R, r(4)) == [m.ReadOk(chunk=b"abcd")]
    assert net.send(R, r(1)) == [m.ReadOk(chunk=b"e")]
    assert net.send(R, r(5)) == [m.ReadOk(chunk=b"fghij")]


def test_read_waits_for_enough_bytes() -> None:
    net = Net()
    open_pair(net)
    net.send(W, w(b"ab"))
    assert net.send(R, r(4)) == []
    net.send(W, w(b"cdef"))
    assert net.got(R) == [m.ReadOk(chunk=b"abcd")]
    assert net.send(R, r(2)) == [m.ReadOk(chunk=b"ef")]


def test_short_read_then_read_end_after_writer_closes() -> None:
    # zbroker issues "zpipe reads block on closed writer" and "reader/writer issue"
    net = Net()
    open_pair(net)
    net.send(W, w(b"small"))
    assert net.send(R, r(4096)) == []  # blocks: too small
    net.send(W, m.Close())
    assert net.got(R) == [m.ReadOk(chunk=b"small")]
    assert net.send(R, r(4096)) == [m.ReadEnd()]
    assert net.send(R, r(1)) == [m.ReadEnd()]  # stays at end
    assert net.broker.pipe_names() == ["p"]  # the reader still holds it


def test_read_end_only_after_a_writer_closed() -> None:
    net = Net()
    net.send(R, m.Input(pipename="p"))
    assert net.send(R, r(1, timeout=100)) == []
    net.advance(0.2)
    assert net.got(R) == [m.ReadTimeout()]


def test_read_timeout_distinct_and_consumes_nothing() -> None:
    # zbroker issue "zpipes_client_read returns ambiguous results"
    net = Net()
    open_pair(net)
    net.send(W, w(b"abc"))
    assert net.send(R, r(10, timeout=100)) == []
    net.advance(0.1)
    assert net.got(R) == [m.ReadTimeout()]
    net.send(W, m.Close())
    assert net.send(R, r(10)) == [m.ReadOk(chunk=b"abc")]
    assert net.send(R, r(10)) == [m.ReadEnd()]


def test_read_size_zero_refused() -> None:
    net = Net()
    open_pair(net)
    (reply,) = net.send(R, r(0))
    assert isinstance(reply, m.ReadFailed) and reply.reason


def test_pipelined_reads_answered_in_order() -> None:
    # zbroker issue "pipelining broken"
    net = Net()
    open_pair(net)
    for _ in range(3):
        net.send(R, r(2))
    assert net.send(W, w(b"abcde")) == [m.WriteOk()]
    assert net.send(W, m.Close()) == [m.CloseOk()]
    assert net.got(R) == [m.ReadOk(chunk=b"ab"), m.ReadOk(chunk=b"cd"), m.ReadOk(chunk=b"e")]


def test_too_many_pending_requests_refused() -> None:
    net = Net(max_pending=2)
    open_pair(net)
    net.send(R, r(1))
    net.send(R, r(1))
    (reply,) = net.send(R, r(1))
    assert isinstance(reply, m.ReadFailed)


def test_new_writer_after_end_continues_the_stream() -> None:
    net = Net()
    open_pair(net)
    net.send(W, w(b"1"))
    net.send(W, m.Close())
    assert net.send(R, r(5)) == [m.ReadOk(chunk=b"1")]
    assert net.send(R, r(5)) == [m.ReadEnd()]
    net.send(X, m.Output(pipename="p"))
    net.send(X, w(b"2"))
    net.send(X, m.Close())
    assert net.send(R, r(5)) == [m.ReadOk(chunk=b"2")]


# -- CLOSE -----------------------------------------------------------------------------------
def test_close_cancels_pending_read() -> None:
    net = Net()
    open_pair(net)
    net.send(R, r(5))
    (failed, ok) = net.send(R, m.Close())
    assert isinstance(failed, m.ReadFailed) and ok == m.CloseOk()
    assert net.broker.session_state(R) is SessionState.START


def test_close_cancels_pending_write() -> None:
    net = Net()
    net.send(W, m.Output(pipename="p"))
    net.got(W)
    net.send(W, w(b"x"))
    (failed, ok) = net.send(W, m.Close())
    assert isinstance(failed, m.WriteFailed) and ok == m.CloseOk()


def test_rapid_open_close_cycles() -> None:
    # zbroker issues "rapid writer opens asserts" and "zpipes_client_new asserts on rapid open"
    net = Net()
    for i in range(50):
        assert net.send(W, m.Output(pipename="p")) == [m.OutputOk()]
        assert net.send(R, m.Input(pipename="p")) == [m.InputOk()]
        (refused,) = net.send(X, m.Output(pipename="p"))
        assert isinstance(refused, m.OutputFailed)
        assert net.send(X, w(b"intruder")) == [m.Invalid()]
        assert net.send(W, w(bytes([i]))) == [m.WriteOk()]
        assert net.send(W, m.Close()) == [m.CloseOk()]
        assert net.send(R, r(10)) == [m.ReadOk(chunk=bytes([i]))]
        assert net.send(R, r(10)) == [m.ReadEnd()]
        assert net.send(R, m.Close()) == [m.CloseOk()]
    assert net.broker.pipe_names() == []


# -- invalid commands ------------------------------------------------------------------------
@pytest.mark.parametrize("msg", [r(1), w(b"x"), m.Close(), m.ReadOk(chunk=b""), m.InputOk(),
                                 m.Invalid(), m.PingOk()])
def test_invalid_in_start_state(msg: m.ZpipesMessage) -> None:
    net = Net()
    assert net.send(X, msg) == [m.Invalid()]
    assert net.send(X, m.Input(pipename="p")) == [m.InputOk()]  # connection kept


def test_invalid_in_reading_and_writing_states() -> None:
    net = Net()
    open_pair(net)
    assert net.send(R, w(b"x")) == [m.Invalid()]
    assert net.send(W, r(1)) == [m.Invalid()]
    assert net.send(R, m.Input(pipename="q")) == [m.Invalid()]
    assert net.send(W, m.Output(pipename="q")) == [m.Invalid()]
    assert net.send(W, m.WriteOk()) == [m.Invalid()]
    assert net.send(W, w(b"still fine")) == [m.WriteOk()]


def test_malformed_bytes_get_invalid() -> None:
    net = Net()
    assert net.broker.handle_frames(X, [b"\xaa\xa0\x63"], 0.0) == [Send(X, m.Invalid())]
    assert net.broker.handle_frames(X, [b"garbage"], 0.0) == [Send(X, m.Invalid())]
    eff = net.broker.handle_frames(X, m.encode(m.Ping()), 0.0)
    assert eff == [Send(X, m.PingOk())]


def test_ping_in_every_state() -> None:
    net = Net()
    assert net.send(R, m.Ping()) == [m.PingOk()]
    open_pair(net)
    assert net.send(R, m.Ping()) == [m.PingOk()]
    assert net.send(W, m.Ping()) == [m.PingOk()]
    net.send(R, r(1))  # pending read: PING is still answered at once
    assert net.send(R, m.Ping()) == [m.PingOk()]


# -- expiry ----------------------------------------------------------------------------------
def test_silent_writer_expires_and_reader_sees_end() -> None:
    # zbroker issue "no detection for unexpected disconnections"
    net = Net(expiry=3.0)
    open_pair(net)
    net.send(W, w(b"last words"))
    net.send(R, r(100))
    for _ in range(5):  # the reader keeps pinging, the writer is silent
        net.advance(1.0)
        net.send(R, m.Ping())
    assert W in net.expired and R not in net.expired
    assert [x for x in net.got(R) if not isinstance(x, m.PingOk)] == [m.ReadOk(chunk=b"last words")]
    assert net.send(R, r(1)) == [m.ReadEnd()]
    assert net.send(W, w(b"x")) == [m.Invalid()]  # forgotten


def test_silent_reader_expires_and_writer_fails() -> None:
    net = Net(expiry=3.0, max_pipe_bytes=1)
    open_pair(net)
    net.send(W, w(b"a"))
    net.send(W, w(b"b"))  # waits for room
    for _ in range(5):
        net.advance(1.0)
        net.send(W, m.Ping())
    assert R in net.expired
    got = [x for x in net.got(W) if not isinstance(x, m.PingOk)]
    assert len(got) == 1 and isinstance(got[0], m.WriteFailed)
    net.send(W, m.Close())
    assert net.broker.pipe_names() == []


def test_both_silent_pipe_is_flushed() -> None:
    net = Net(expiry=2.0)
    open_pair(net)
    net.send(W, w(b"data"))
    net.advance(2.5)
    assert set(net.expired) == {R, W}
    assert net.broker.pipe_names() == [] and net.broker.clients() == []


def test_next_deadline() -> None:
    net = Net(expiry=10.0)
    assert net.broker.next_deadline() is None
    net.send(R, m.Input(pipename="p"))
    assert net.broker.next_deadline() == 10.0
    net.send(R, r(1, timeout=250))
    assert net.broker.next_deadline() == 0.25


def test_disconnect_closes_the_end() -> None:
    net = Net()
    open_pair(net)
    net.send(W, w(b"z"))
    net.take(net.broker.handle_disconnect(W, 0.0))
    assert net.send(R, r(5)) == [m.ReadOk(chunk=b"z")]
    assert net.send(R, r(5)) == [m.ReadEnd()]


# -- property --------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(0, 600), max_size=30),
    reads=st.lists(st.integers(1, 700), min_size=1, max_size=30),
    limit=st.integers(1, 2000),
    order=st.lists(st.booleans(), max_size=80),
)
def test_reader_gets_exactly_the_bytes_written(
    data: bytes, cuts: list[int], reads: list[int], limit: int, order: list[bool]
) -> None:
    """Random chunking, random read sizes, random interleaving and byte limit: same bytes, in order."""
    net = Net(max_pipe_bytes=limit, max_pending=1000)
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(data[pos:pos + c])
        pos += c
    chunks.append(data[pos:])
    net.send(W, m.Output(pipename="p"))
    net.send(R, m.Input(pipename="p"))
    net.got(W), net.got(R)
    writes = [w(c) for c in chunks]
    unacked = 0  # the writer pipelines WRITEs, but CLOSEs only once all are acknowledged
    closed = False
    got = bytearray()
    ended = False
    read_iter = 0
    steps = iter(order)
    while not ended:
        writer_turn = next(steps, bool(writes) or not closed)
        if writer_turn and writes:
            net.post(W, writes.pop(0))
            unacked += 1
        elif writer_turn and not writes and not unacked and not closed:
            net.post(W, m.Close())
            closed = True
        else:
            net.post(R, r(reads[read_iter % len(reads)]))
            read_iter += 1
        for reply in net.got(R):
            if isinstance(reply, m.ReadOk):
                assert len(reply.chunk) > 0
                got += reply.chunk
            else:
                assert reply == m.ReadEnd()
                ended = True
        for reply in net.got(W):
            assert reply in (m.WriteOk(), m.CloseOk())
            unacked -= reply == m.WriteOk()
        assert read_iter < 2_000
    assert bytes(got) == data


# -- the chunk buffer shared by a pipe and a client's reader ------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=20), st.integers(-1, 30)), max_size=30))
def test_chunk_buffer_is_a_byte_queue(ops: list[bytes | int]) -> None:
    buf, model = ChunkBuffer(), bytearray()
    for op in ops:
        if isinstance(op, bytes):
            buf.feed(op)
            model += op
        else:
            n = len(model) if op < 0 else min(op, len(model))
            assert buf.take(op) == bytes(model[:n])
            del model[:n]
        assert len(buf) == len(model)


def test_chunk_buffer_hands_a_whole_chunk_over_uncopied() -> None:
    buf, chunk = ChunkBuffer(), b"x" * 100
    buf.feed(chunk)
    buf.feed(b"y")
    assert buf.take(100) is chunk
