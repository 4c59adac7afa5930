"""Receive buffers of one ZMTP connection: where bytes wait between the socket and the parser.

The parser (:mod:`~zre_ref.zmtp.connection`) never allocates from a size the peer declared;
receive memory is allocated here only, and it grows with the bytes that actually arrived
(spec/zmtp.md#limits):

* The *read buffer* (:class:`ReadBuffer`): ``get_buffer()`` hands out a view of it and
  ``buffer_updated(n)`` copies the ``n`` bytes read out as ``bytes`` to parse. One read buffer
  may serve many connections (asyncio calls ``buffer_updated`` right after the same protocol's
  ``get_buffer``, so reads on one event loop never interleave).
* The *rest*: the unparsed tail of the last read (a partial header or a frame shorter than
  ``BIG_FRAME``); the next read is placed right behind it.
* A *large body* (a frame of ``BIG_FRAME`` bytes or more that one read did not complete) is
  read straight into a ``bytearray`` of its own, so it is never copied through the read
  buffer. Its first allocation is at most ``BODY_CHUNK`` bytes (or what already arrived); when
  full it grows ``BODY_GROWTH``-fold, up to the declared size, keeping what arrived. A peer
  that declares 2^63 bytes and sends nothing makes us hold ``BODY_CHUNK`` bytes, not 2^63.

Ownership is explicit: a body buffer is the Receiver's until :meth:`Receiver.take_body`
returns it; from then on it is the caller's and the Receiver keeps no reference to it.
"""

from __future__ import annotations

#: frames at least this large that span reads are collected in a body buffer of their own
BIG_FRAME = 16 * 1024
#: the largest first allocation for a large body (beyond the bytes already received)
BODY_CHUNK = 1024 * 1024
#: a full body buffer grows this many times (up to the declared size)
BODY_GROWTH = 4
#: size of the read buffer (asyncio reads 256 KiB at a time)
RECEIVE_BUFFER = 256 * 1024
#: after a large body, the next read is this short, so a following large frame's body is read
#: straight into its own buffer instead of through the read buffer
AFTER_BODY_READ = 64


class ReadBuffer:
    """The memory reads land in; shareable by every connection of one event loop."""

    __slots__ = ("view",)

    def __init__(self, size: int = RECEIVE_BUFFER) -> None:
        self.view = memoryview(bytearray(size))


class Receiver:
    """The bytes one connection has read and not parsed yet (see the module docstring).

    What the parser asks on every read is kept in plain attributes (``rest``, ``body_pending``,
    ``body_missing``), not computed, so a read costs no extra Python calls."""

    __slots__ = ("_after_body", "_body", "_prefill", "_read", "body_flags", "body_missing",
                 "body_offset", "body_pending", "body_size", "offset", "regrown", "rest")

    def __init__(self, read_buffer: ReadBuffer | None = None) -> None:
        self._read = (read_buffer if read_buffer is not None else ReadBuffer()).view
        #: unparsed bytes: a partial header or a frame shorter than BIG_FRAME
        self.rest = b""
        #: stream offset of the first byte not parsed yet (rest[0], or the next to arrive)
        self.offset = 0
        self._prefill = 0  # get_buffer put this many bytes of rest in front of the read
        self._after_body = False
        self._body: bytearray | None = None
        #: a large frame body is being received (from start_body until take_body or clear)
        self.body_pending = False
        #: bytes of the pending body not received yet (0: complete, or none pending)
        self.body_missing = 0
        #: a body buffer was allocated or grown since the owner last cleared this (what it
        #: holds changed; reads into an existing buffer change nothing)
        self.regrown = False
        self.body_size = 0
        self.body_flags = 0
        self.body_offset = 0

    # -- what is held ---------------------------------------------------------------------
    @property
    def at_frame_boundary(self) -> bool:
        """Nothing half-received: no partial header, frame or body."""
        return not self.rest and not self.body_pending

    def held_bytes(self) -> int:
        """Bytes of memory this receiver holds for the peer (rest + body buffer)."""
        body = self._body
        return len(self.rest) + (len(body) if body is not None else 0)

    def clear(self) -> None:
        """Forget everything (the connection closed)."""
        self.rest = b""
        self._body = None
        self.body_pending = False
        self.body_missing = 0
        self._prefill = 0

    # -- large bodies -----------------------------------------------------------------------
    def start_body(self, flags: int, size: int, data: bytes, start: int) -> None:
        """A frame of ``size`` bytes begins at ``data[start:]``, the end of what arrived."""
        have = len(data) - start
        body = bytearray(min(size, max(have, BODY_CHUNK)))
        body[:have] = memoryview(data)[start:]
        self._body = body
        self.body_pending = True
        self.body_missing = size - have
        self.regrown = True
        self.body_size = size
        self.body_flags = flags
        self.body_offset = self.offset + start

    def _reserve(self, want: int) -> bytearray:
        """The body buffer, grown (BODY_GROWTH-fold, at most to body_size) to hold ``want``."""
        body = self._body
        assert body is not None
        if want <= len(body):
            return body
        fill = self.body_size - self.body_missing
        grown = bytearray(min(self.body_size, max(want, len(body) * BODY_GROWTH)))
        grown[:fill] = memoryview(body)[:fill]
        self._body = grown
        self.regrown = True
        return grown

    def feed_body(self, data: bytes) -> int:
        """Copy the start of ``data`` into the body; returns how many bytes it took."""
        fill = self.body_size - self.body_missing
        n = min(len(data), self.body_missing)
        body = self._reserve(fill + n)
        body[fill : fill + n] = memoryview(data)[:n] if n < len(data) else data
        self.body_missing -= n
        self.offset += n
        return n

    def take_body(self) -> bytearray:
        """Hand the completed body over: it is the caller's now, never touched here again."""
        body = self._body
        assert body is not None and not self.body_missing and self.body_size == len(body)
        self._body = None
        self.body_pending = False
        self._after_body = True
        return body

    # -- reading into our memory (asyncio.BufferedProtocol style) ----------------------------
    def get_buffer(self) -> memoryview:
        """Where the next bytes from the socket should be written."""
        body = self._body
        if body is not None:
            fill = self.body_size - self.body_missing
            if fill == len(body):
                body = self._reserve(fill + 1)
            return memoryview(body)[fill:]
        view = self._read
        # the rest goes first, so buffer_updated takes one copy instead of copy + concatenation
        rest = self.rest
        k = len(rest)
        if k and k < len(view) // 2:
            view[:k] = rest
        else:
            k = 0
        self._prefill = k
        if self._after_body:
            self._after_body = False
            return view[k : k + AFTER_BODY_READ]
        return view[k:]  # a view of its own: the caller may release it

    def buffer_updated(self, nbytes: int) -> bytes | None:
        """``nbytes`` were written where get_buffer said: the bytes to parse (the rest
        included, which is then cleared), or None if they went into the large body."""
        if self.body_pending:
            self.body_missing -= nbytes
            self.offset += nbytes
            return None
        k = self._prefill
        if k:
            self._prefill = 0
            self.rest = b""
            return bytes(self._read[: k + nbytes])
        return bytes(self._read[:nbytes])


#: what one frame of an unfinished or waiting message costs beyond its bytes, counted against
#: the budgets: a bytes object and a list slot (44 bytes traced in CPython 3.11) plus what the
#: allocator keeps around them (resident memory measured under the hostile-peer tests)
FRAME_OVERHEAD = 96


class ReceiveBudget:
    """Bytes that the unfinished messages of several connections may hold together.

    One per socket: each connection takes what its unfinished message (frames, their
    FRAME_OVERHEAD, a partial frame, a large-body buffer) holds, and gives it back once the
    message is complete or the connection closes. ``limit`` None means no limit.
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        """Reserve ``n`` more bytes; False (and nothing reserved) if that is over the limit."""
        if self.limit is not None and self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n
