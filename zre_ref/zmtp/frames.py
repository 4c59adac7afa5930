"""ZMTP 3.x framing: flags byte, 1- or 8-byte size, body (spec/zmtp.md#frames).

::

    frame   = flags size body
    flags   = %b00000 COMMAND LONG MORE     ; bits 7..3 reserved, must be 0
    size    = OCTET / 8OCTET                 ; 8 octets (u64 BE, <= 2^63 - 1) when LONG
    MORE is never set on a command frame.

The connection's receive loop (connection.py) inlines the common case for speed and calls
:func:`parse_header` for the rest; :func:`decode_stream` is the whole-buffer form for tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BadValue, EncodeError, LengthOverflow, Truncated
from ..wire import pack_flags_u64, unpack_u64

PROTOCOL = "zmtp-frame"
ANCHOR = "spec/zmtp.md#frames"

#: flag bits (spec/zmtp.md#frames)
MORE = 0x01
LONG = 0x02
COMMAND = 0x04
RESERVED = 0xF8
#: largest size a LONG frame may declare (RFC 23: 63-bit)
MAX_FRAME_SIZE = (1 << 63) - 1
#: a body of this many bytes or fewer uses the 1-byte size
SHORT_MAX = 255

#: header bytes for short frames, indexed [flags][size] (prebuilt for the send path)
_SHORT_HEADERS: tuple[tuple[bytes, ...], ...] = tuple(
    tuple(bytes((flags, n)) for n in range(256)) for flags in range(8)
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame (used by tools; the connection's hot path does not build these)."""

    flags: int
    body: bytes

    @property
    def more(self) -> bool:
        return bool(self.flags & MORE)

    @property
    def command(self) -> bool:
        return bool(self.flags & COMMAND)


def frame_header(flags: int, size: int) -> bytes:
    """Flags + size, LONG added when the body exceeds 255 bytes (libzmq's rule)."""
    if size <= SHORT_MAX:
        return _SHORT_HEADERS[flags][size]
    return pack_flags_u64(flags | LONG, size)


def encode_frame(body: bytes, *, more: bool = False, command: bool = False) -> bytes:
    """One frame: header + body."""
    if more and command:
        raise EncodeError("MORE is never set on a command frame")
    flags = (MORE if more else 0) | (COMMAND if command else 0)
    return frame_header(flags, len(body)) + bytes(body)


def encode_message(frames: Sequence[bytes]) -> bytes:
    """A multipart message: MORE on every frame but the last."""
    if not frames:
        raise EncodeError("a message has at least one frame")
    last = len(frames) - 1
    parts = []
    for i, body in enumerate(frames):
        parts.append(frame_header(MORE if i < last else 0, len(body)))
        parts.append(bytes(body))
    return b"".join(parts)


def parse_header(
    buf: bytes, pos: int, max_size: int, base: int = 0
) -> tuple[int, int, int] | None:
    """Read the header at ``buf[pos:]``: (flags, size, header length), or None if incomplete.

    Raises BadValue for reserved bits or MORE on a command, LengthOverflow for a size over
    ``max_size`` -- before anything is allocated. ``base`` is the stream offset of ``buf[0]``.
    """
    end = len(buf)
    if end - pos < 1:
        return None
    flags = buf[pos]
    if flags & RESERVED:
        raise BadValue(f"flags {flags:#04x} set reserved bits 7..3", protocol=PROTOCOL,
                       field="flags", offset=base + pos, spec_anchor=ANCHOR)
    if flags & COMMAND and flags & MORE:
        raise BadValue(f"flags {flags:#04x}: MORE on a command frame", protocol=PROTOCOL,
                       field="flags", offset=base + pos, spec_anchor=ANCHOR)
    if flags & LONG:
        if end - pos < 9:
            return None
        size = unpack_u64(buf, pos + 1)
        if size > MAX_FRAME_SIZE:
            raise LengthOverflow(f"size {size} is over 2^63 - 1", protocol=PROTOCOL,
                                 field="body", offset=base + pos + 1, spec_anchor=ANCHOR)
        hlen = 9
    else:
        if end - pos < 2:
            return None
        size = buf[pos + 1]
        hlen = 2
    if size > max_size:
        raise LengthOverflow(f"size {size} is over the limit of {max_size} bytes",
                             protocol=PROTOCOL, field="body", offset=base + pos + 1,
                             spec_anchor="spec/zmtp.md#limits")
    return flags, size, hlen


def decode_stream(data: bytes, *, max_size: int = MAX_FRAME_SIZE) -> list[Frame]:
    """Every frame of a complete byte stream; a partial frame at the end is Truncated."""
    data = bytes(data)
    frames: list[Frame] = []
    pos = 0
    end = len(data)
    while pos < end:
        head = parse_header(data, pos, max_size)
        if head is None:
            raise Truncated("the stream ends inside a frame header", protocol=PROTOCOL,
                            field="size", offset=pos + 1, spec_anchor=ANCHOR)
        flags, size, hlen = head
        if size > end - pos - hlen:
            raise LengthOverflow(f"frame declares {size} bytes, {end - pos - hlen} remain",
                                 protocol=PROTOCOL, field="body", offset=pos + 1,
                                 spec_anchor=ANCHOR)
        frames.append(Frame(flags, data[pos + hlen : pos + hlen + size]))
        pos += hlen + size
    return frames
