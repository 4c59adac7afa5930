"""A peer that primes the receiver's whole-frame read (zre_ref/zmtp/receiver.py) with equal large
frames, then declares a huge frame and trickles it, gets no buffer sized from its declaration: a
read is never larger than the read buffer, and memory grows only with the bytes that arrived
(spec/zmtp.md#receive-bounds)."""

from __future__ import annotations

import struct
import tracemalloc

from tests.test_zmtp_connection import _feed_buffered, pump
from zre_ref.zmtp.connection import Connection, MessageReceived
from zre_ref.zmtp.receiver import BODY_CHUNK

KIB, MIB = 1024, 1024 * 1024


def test_a_declared_huge_frame_after_priming_allocates_only_what_arrived() -> None:
    a = Connection("DEALER")
    b = Connection("ROUTER", zero_copy=True, max_message_size=64 * MIB)
    pump(a, b)
    for _ in range(4):  # equal 64 KiB frames: the whole-frame read is now in use
        a.send_message([b"p" * (64 * KIB)])
    events = _feed_buffered(b, a.data_to_send(), [1 << 30])
    assert sum(isinstance(ev, MessageReceived) for ev in events) == 4
    huge = 60 * MIB  # under max_message_size, so only the byte bounds stand in the way
    attack = b"\x02" + struct.pack(">Q", huge) + b"x" * (256 * KIB)
    tracemalloc.start()
    try:
        sizes: list[int] = []

        def after_read(_pos: int) -> None:
            sizes.append(len(b.get_buffer()))
            b.buffer_updated(0)

        events = _feed_buffered(b, attack, [4 * KIB], after_read)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert events == []  # still waiting for the rest of the declared frame
    assert max(sizes) <= BODY_CHUNK  # the body grows by chunks as bytes arrive
    # one chunk for what arrived (256 KiB), never the 60 MiB the header declared
    assert peak < BODY_CHUNK + 1 * MIB, peak
    assert b.held_bytes <= BODY_CHUNK + 64
