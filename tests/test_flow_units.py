"""The small accounting units the asyncio sockets and nodes use: a ZMTP socket's Inbox and a
ZreNode's EventQueue (bounds in README "Bounds", spec/zmtp.md#limits, spec/zre.md#limits)."""

from __future__ import annotations

from zre_ref.aio.zre_events import EVENT_BYTES, EventQueue
from zre_ref.zmtp.inbox import Buffers, Inbox
from zre_ref.zmtp.receiver import FRAME_OVERHEAD
from zre_ref.zre.events import PeerEvasive


def test_inbox_counts_messages_and_bytes_and_pauses_with_hysteresis() -> None:
    inbox = Inbox(hwm=4, hwm_bytes=0)
    assert not inbox.allocated  # the shared empty queue until the first message
    for i in range(4):
        assert not inbox.full
        inbox.put([b"x" * 10, b"%d" % i], 11)
    assert inbox.full and len(inbox) == 4 and inbox.allocated
    assert inbox.nbytes == 4 * (11 + 3 * FRAME_OVERHEAD)
    assert inbox.take(copy=True) == [b"x" * 10, b"0"]
    assert not inbox.full and not inbox.drained  # 3 left: not under half + 1 of 4
    assert inbox.take_many(1, copy=True) == [[b"x" * 10, b"1"]]
    assert inbox.drained  # 2 left
    assert inbox.take_many(None, copy=True) == [[b"x" * 10, b"2"], [b"x" * 10, b"3"]]
    assert len(inbox) == 0 and inbox.nbytes == 0


def test_inbox_byte_limit_and_buffers_copied_only_when_asked() -> None:
    inbox = Inbox(hwm=0, hwm_bytes=1000)
    big = bytearray(b"y" * 900)
    inbox.put(Buffers([big]), 900)
    assert inbox.full  # 900 + 2 overheads passes 1000
    kept = inbox.take(copy=False)
    assert kept == [big] and kept[0] is big
    inbox.put(Buffers([big]), 900)
    copied = inbox.take_many(None, copy=True)
    assert copied == [[b"y" * 900]] and type(copied[0][0]) is bytes
    assert inbox.drained and inbox.nbytes == 0


def test_event_queue_charges_batches_and_releases_after_their_last_event() -> None:
    q = EventQueue(max_events=4, max_bytes=10_000)
    for n in range(3):
        q.append(PeerEvasive(peer_uuid=f"{n:032X}", peer_name="p"))
    q.charge(3, 500)
    assert len(q) == 3 and q.nbytes == 3 * EVENT_BYTES + 500
    assert q.room() == (1, 10_000 - q.nbytes)
    assert not q.half_empty  # 3 of 4
    q.pop()
    q.pop()
    assert q.nbytes == 3 * EVENT_BYTES + 500  # the batch is charged until its last event
    assert q.half_empty
    q.pop()
    assert q.nbytes == 0 and q.pop() is None
