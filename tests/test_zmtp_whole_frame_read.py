"""The receiver's whole-frame read (zre_ref/zmtp/receiver.py): after two large frames with the
same header, the next read goes into a buffer of that frame's size. Checked through the public
get_buffer/buffer_updated interface against what was sent, whatever the frames and read sizes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_zmtp_connection import _feed_buffered, pump
from zre_ref.zmtp.connection import Connection, ConnectionClosed, Event, MessageReceived

KIB = 1024


def _open_pair(zero_copy: bool, max_message_size: int = 64 << 20) -> tuple[Connection, Connection]:
    a = Connection("DEALER")
    b = Connection("ROUTER", zero_copy=zero_copy, max_message_size=max_message_size)
    pump(a, b)
    assert a.is_open and b.is_open
    return a, b


def _feed(conn: Connection, data: bytes, reads: list[int]) -> tuple[list[Event], int]:
    """``data`` through get_buffer/buffer_updated (reads of at most what get_buffer offers and
    the next size in ``reads``); returns the events and how many reads it took."""
    ends: list[int] = []
    events = _feed_buffered(conn, data, reads, ends.append)
    return events, len(ends)


def test_a_stream_of_equal_frames_takes_one_read_each() -> None:
    a, b = _open_pair(zero_copy=True)
    bodies = [bytes([i]) * (64 * KIB) for i in range(50)]
    for body in bodies:
        a.send_message([body])
    events, reads = _feed(b, a.data_to_send(), [1 << 30])
    frames = [ev.frames for ev in events if isinstance(ev, MessageReceived)]
    assert frames == [[body] for body in bodies]
    # every frame from the fourth on arrives in one read, header and body (before: two reads)
    assert reads <= len(bodies) + 6
    handed = [f[0] for f in frames[3:]]
    assert all(type(f) is bytearray and len(f) == 64 * KIB for f in handed)
    assert len({id(f) for f in handed}) == len(handed)  # each its own buffer, never reused
    handed[0][:4] = b"mine"  # the application's to change; the next frames are untouched
    assert bytes(handed[1][:4]) == bytes([4]) * 4
    assert b.held_bytes == 0 and b.at_frame_boundary


frame_sizes = st.sampled_from([16 * KIB, 16 * KIB + 1, 64 * KIB, 255 * KIB, 300 * KIB, 10, 300])


#: read sizes, cycled; a large one closes each cycle, so short reads (stopping inside a header
#: or a body) cost a bounded number of reads
read_cycles = st.lists(st.sampled_from([1, 9, 10, 64, 4 * KIB]), max_size=4).map(
    lambda short: [*short, 64 * KIB + 9])


@settings(max_examples=100, deadline=None)
@given(runs=st.lists(st.tuples(st.lists(frame_sizes, min_size=1, max_size=3), st.integers(1, 6)),
                    min_size=1, max_size=5),
       reads=st.one_of(read_cycles, st.just([1 << 30])),
       zero_copy=st.booleans())
def test_any_frames_any_reads_arrive_as_sent(runs: list[tuple[list[int], int]],
                                             reads: list[int], zero_copy: bool) -> None:
    """Runs of equal frames, frames that break the run (another size, MORE, a small one),
    reads that stop inside a header or a body: the messages arrive intact, large frames with
    copy=False as bytearrays of their own of exactly their size, and nothing stays held."""
    a, b = _open_pair(zero_copy)
    messages = [sizes for sizes, repeat in runs for _ in range(repeat)]  # runs of equal shapes
    sent = [[bytes([(i + j) % 251]) * size for j, size in enumerate(sizes)]
            for i, sizes in enumerate(messages)]
    for msg in sent:
        a.send_message(msg)
    events, _ = _feed(b, a.data_to_send(), reads)
    assert not [ev for ev in events if isinstance(ev, ConnectionClosed)]
    got = [ev.frames for ev in events if isinstance(ev, MessageReceived)]
    assert got == sent
    kinds = {type(f) for msg in got for f in msg}
    assert kinds <= ({bytes, bytearray} if zero_copy else {bytes})
    arrays = [f for msg in got for f in msg if type(f) is bytearray]
    assert all(len(f) >= 16 * KIB for f in arrays)
    assert len({id(f) for f in arrays}) == len(arrays)
    assert b.held_bytes == 0 and b.at_frame_boundary


def test_the_expected_header_counted_against_the_limit() -> None:
    """A whole-frame read still goes through the parser's header checks: in a run of equal
    frames of one message, the frame that would take it over max_message_size closes."""
    a, b = _open_pair(zero_copy=True, max_message_size=200 * KIB)
    body = b"z" * (64 * KIB)
    a.send_message([body])
    a.send_message([body] * 5)  # over the limit at its fourth frame, read whole (the third too)
    events, _ = _feed(b, a.data_to_send(), [64, 1 << 30])
    assert [ev.frames for ev in events if isinstance(ev, MessageReceived)] == [[body]]
    closed = [ev for ev in events if isinstance(ev, ConnectionClosed)]
    assert closed and b.closed and b.held_bytes == 0


def test_eof_after_a_whole_frame_read_began() -> None:
    """The peer closes while the whole-frame read holds part of a frame: EOF inside a message."""
    a, b = _open_pair(zero_copy=True)
    body = b"q" * (64 * KIB)
    for _ in range(4):
        a.send_message([body])
    data = a.data_to_send()
    events, _ = _feed(b, data[: len(data) - 100], [1 << 30])
    assert len([ev for ev in events if isinstance(ev, MessageReceived)]) == 3
    assert b.held_bytes > 0
    closed = [ev for ev in b.receive_data(b"") if isinstance(ev, ConnectionClosed)]
    assert closed and "inside a message" in closed[0].reason
    assert b.held_bytes == 0


def test_a_caller_that_still_holds_the_view_gets_the_same_frames() -> None:
    """If the caller still exports the view it was given when buffer_updated runs, the buffer
    cannot be cut: the bytes are parsed from a copy instead, with the same result."""
    a, b = _open_pair(zero_copy=True)
    body = bytes(range(256)) * 256
    for _ in range(8):
        a.send_message([body])
    data = a.data_to_send()
    pos, got = 0, []
    while pos < len(data):
        buf = b.get_buffer()
        n = min(len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        pos += n
        held = buf[:1]  # an export of the view kept through buffer_updated
        got += [ev.frames for ev in b.buffer_updated(n) if isinstance(ev, MessageReceived)]
        del held, buf
    assert got == [[body]] * 8
    assert b.held_bytes == 0 and b.at_frame_boundary
