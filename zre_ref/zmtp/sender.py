"""Frame assembly for sending: a message as the byte pieces that go on the wire (spec/zmtp.md#frames).

:class:`~zre_ref.zmtp.connection.Connection` queues pieces in a list; :func:`queue_message`
appends a message's frames to it (a short frame is one piece, flags + size + body; a long one is
its header and its body, uncopied), :func:`queue_messages` does that for many, :func:`output_chunks`
joins the queue for the socket, and :func:`queue_sealed` hands a message to CURVE for sealing
(spec/curve.md#message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import EncodeError
from ..wire import pack_flags_u64
from .curve import FLAG_MORE, CurveTransport
from .frames import LONG, MORE
from .receiver import BIG_FRAME

__all__ = ["output_chunks", "queue_message", "queue_messages", "queue_sealed"]

#: the flags + size bytes of every short frame: last, and with MORE
_SHORT_LAST = tuple(bytes((0, n)) for n in range(256))
_SHORT_MORE = tuple(bytes((MORE, n)) for n in range(256))


def queue_message(out: list[bytes], frames: Sequence[bytes]) -> bool:
    """Append a multipart message's frames to ``out``; frames are bytes-like. True if a body of
    BIG_FRAME bytes or more was queued as its own piece."""
    last = len(frames) - 1
    big = False
    if last == 0:  # the common case: one frame
        f = frames[0]
        if type(f) is not bytes:
            f = _as_bytes(f)
        n = len(f)
        if n < 256:
            out.append(_SHORT_LAST[n] + f)
        else:
            out.append(pack_flags_u64(LONG, n))
            out.append(f)
            big = n >= BIG_FRAME
        return big
    if last < 0:
        raise EncodeError("a message has at least one frame")
    for i, f in enumerate(frames):
        if type(f) is not bytes:
            f = _as_bytes(f)
        n = len(f)
        if n < 256:
            out.append((_SHORT_MORE[n] if i < last else _SHORT_LAST[n]) + f)
        else:
            out.append(pack_flags_u64((MORE if i < last else 0) | LONG, n))
            out.append(f)
            big = big or n >= BIG_FRAME
    return big


def queue_messages(out: list[bytes], messages: Iterable[Sequence[bytes]]) -> bool:
    """:func:`queue_message` for each of ``messages`` in turn (the pieces joined are the same
    bytes); a message of two short ``bytes`` frames (a ZRE message with one content frame, the
    common case) is laid out here without the call, flags + size and body as separate pieces.
    True if a big body was queued."""
    big = False
    more, last = _SHORT_MORE, _SHORT_LAST
    for frames in messages:
        if len(frames) == 2:
            head, body = frames
            if type(head) is bytes and type(body) is bytes and len(head) < 256 and len(body) < 256:
                out += (more[len(head)], head, last[len(body)], body)
                continue
        if queue_message(out, frames):
            big = True
    return big


def queue_sealed(curve: CurveTransport, frames: Sequence[bytes]) -> None:
    """CURVE: queue a message's frames for sealing at the next flush (spec/curve.md#message)."""
    if not frames:
        raise EncodeError("a message has at least one frame")
    last = len(frames) - 1
    for i, f in enumerate(frames):
        if not isinstance(f, (bytes, bytearray, memoryview)):
            raise TypeError(f"frames must be bytes-like, not {type(f).__name__}")
        curve.queue(FLAG_MORE if i < last else 0, f)


def output_chunks(out: list[bytes], big: bool) -> list[bytes]:
    """The queued pieces as chunks for the socket: small pieces joined, bodies of BIG_FRAME
    bytes or more (``big``: there is one) passed through as they are (no copy)."""
    if not big:
        return [out[0] if len(out) == 1 else b"".join(out)]
    chunks: list[bytes] = []
    small: list[bytes] = []
    for piece in out:
        if len(piece) >= BIG_FRAME:
            if small:
                chunks.append(b"".join(small))
                small = []
            chunks.append(piece)
        else:
            small.append(piece)
    if small:
        chunks.append(b"".join(small))
    return chunks


def _as_bytes(f: object) -> bytes:
    if isinstance(f, (bytearray, memoryview)):
        return bytes(f)
    raise TypeError(f"frames must be bytes-like, not {type(f).__name__}")
