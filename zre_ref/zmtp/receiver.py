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
* A *whole-frame read*: when the last two large frames had the same header (flags and size;
  header and body no larger than the read buffer) and a body just ended at a frame boundary,
  the next read goes into a fresh ``bytearray`` of that header's length plus that size. If it
  starts with that header, the header is cut off the front (CPython moves the start, no copy)
  and the rest is the frame's body, read straight into a buffer of its own; the parser still
  reads the header as it reads any other (limits, flags). Otherwise the bytes are parsed as
  any read is. It saves the short read after each body of a stream of equal frames. No read
  is larger than the read buffer, and the buffer is allocated only once bytes wait and lives
  no longer than the parse of that read.

Ownership is explicit: a body buffer is the Receiver's until :meth:`Receiver.take_body`
returns it; from then on it is the caller's and the Receiver keeps no reference to it.
"""

from __future__ import annotations

from .frames import COMMAND

#: frames at least this large that one read does not hold are read into a buffer of their own
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
#: the header of a large frame: flags and an 8-byte size (spec/zmtp.md#frames)
LONG_HEADER = 9


class ReadBuffer:
    """The memory reads land in; shareable by every connection of one event loop."""

    __slots__ = ("view",)

    def __init__(self, size: int = RECEIVE_BUFFER) -> None:
        self.view = memoryview(bytearray(size))


class Receiver:
    """The bytes one connection has read and not parsed yet (see the module docstring).

    What the parser asks on every read is kept in plain attributes (``rest``, ``body_pending``,
    ``body_missing``), not computed, so a read costs no extra Python calls."""

    __slots__ = ("_after_body", "_body", "_expect", "_last_head", "_prefill", "_read", "_spec",
                 "_spec_fill", "_spec_view", "body_flags", "body_missing", "body_offset",
                 "body_pending", "body_size", "offset", "regrown", "rest")

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
        # whole-frame reads (module docstring): the header of the last large frame when it
        # opened the bytes parsed; the header expected next (b"": no whole-frame read); the
        # buffer of a whole-frame read (with its view while the read is pending, then holding
        # _spec_fill bytes of the frame's body until start_body takes it)
        self._last_head = b""
        self._expect = b""
        self._spec: bytearray | None = None
        self._spec_view: memoryview | None = None
        self._spec_fill = 0

    # -- what is held ---------------------------------------------------------------------
    @property
    def at_frame_boundary(self) -> bool:
        """Nothing half-received: no partial header, frame or body."""
        return not self.rest and not self.body_pending

    def held_bytes(self) -> int:
        """Bytes of memory this receiver holds for the peer (rest + body buffer)."""
        body, spec = self._body, self._spec
        return (len(self.rest) + (len(body) if body is not None else 0)
                + (len(spec) if spec is not None else 0))

    def clear(self) -> None:
        """Forget everything (the connection closed)."""
        self.rest = b""
        self._body = None
        self._spec = self._spec_view = None
        self._expect = self._last_head = b""
        self.body_pending = False
        self.body_missing = 0
        self._prefill = 0

    # -- large bodies -----------------------------------------------------------------------
    def start_body(self, flags: int, size: int, data: bytes, start: int) -> None:
        """A frame of ``size`` bytes begins at ``data[start:]``, the end of what arrived."""
        have = len(data) - start
        self.body_offset = self.offset + start
        spec, self._spec = self._spec, None
        if spec is not None and self._spec_view is None and not have and len(spec) == size:
            body = spec  # a whole-frame read: the body is in a buffer of its own already
            have = self._spec_fill
            self.offset += have  # (the caller counts data, the header)
        else:
            body = bytearray(min(size, max(have, BODY_CHUNK)))
            body[:have] = memoryview(data)[start:]
        self._body = body
        self.body_pending = True
        self.body_missing = size - have
        self.regrown = True
        self.body_size = size
        self.body_flags = flags
        # a whole-frame read follows this body if the last two large frames opened the bytes
        # parsed with the same header
        if start == LONG_HEADER:
            head = bytes(data[:LONG_HEADER])
            self._expect = head if (head == self._last_head and not flags & COMMAND
                                    and start + size <= len(self._read)) else b""
            self._last_head = head
        else:
            self._expect = self._last_head = b""

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
        self._spec = self._spec_view = None  # (a read that never completed)
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
            expect = self._expect
            if expect and not rest:  # (a whole frame begins only at a frame boundary)
                spec = self._spec = bytearray(LONG_HEADER + int.from_bytes(expect[1:], "big"))
                self._spec_view = memoryview(spec)
                return self._spec_view
            return view[k : k + AFTER_BODY_READ]
        return view[k:]  # a view of its own: the caller may release it

    def buffer_updated(self, nbytes: int) -> bytes | None:
        """``nbytes`` were written where get_buffer said: the bytes to parse (the rest
        included, which is then cleared), or None if they went into the large body."""
        if self.body_pending:
            self.body_missing -= nbytes
            self.offset += nbytes
            return None
        if self._spec_view is not None:
            return self._whole_frame_read(nbytes)
        k = self._prefill
        if k:
            self._prefill = 0
            self.rest = b""
            return bytes(self._read[: k + nbytes])
        return bytes(self._read[:nbytes])

    def _whole_frame_read(self, nbytes: int) -> bytes:
        """buffer_updated for a whole-frame read: the expected header (its body waits in
        _spec for start_body), or, when the bytes are something else, those bytes."""
        spec, view, head = self._spec, self._spec_view, self._expect
        assert spec is not None and view is not None
        self._spec_view = None
        if nbytes >= LONG_HEADER and spec.startswith(head):
            try:
                view.release()  # the caller is done with it (a no-op if it released it)
                del spec[:LONG_HEADER]  # CPython moves the start: no copy
            except BufferError:  # the caller still exports it: parse a copy instead
                pass
            else:
                self._spec_fill = nbytes - LONG_HEADER
                return head
        self._spec = None
        self._expect = b""
        return bytes(memoryview(spec)[:nbytes])


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
