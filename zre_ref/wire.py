"""Cursor reader and writer over bytes: the only module that uses :mod:`struct`.

Every length read from the wire is checked against the bytes that remain *before* anything is
sliced or allocated, so a hostile length prefix costs nothing (spec/README.md#codec-core).
All integers are unsigned big-endian (network order), as in every zproto protocol and ZMTP.
"""

from __future__ import annotations

import struct

from .errors import EncodeError, InvalidUtf8, LengthOverflow, Truncated

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U8_U64 = struct.Struct(">BQ")

U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


class Reader:
    """A cursor over one frame. ``pull_*`` methods read and advance, or raise DecodeError."""

    __slots__ = ("_data", "_end", "_pos", "frame", "protocol", "spec_anchor")

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        protocol: str,
        spec_anchor: str = "",
        frame: int = 0,
        offset: int = 0,
    ) -> None:
        self._data = bytes(data) if not isinstance(data, bytes) else data
        self._pos = offset
        self._end = len(self._data)
        self.protocol = protocol
        self.spec_anchor = spec_anchor
        self.frame = frame

    # -- position ---------------------------------------------------------------------------
    def tell(self) -> int:
        return self._pos

    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos >= self._end

    def _need(self, n: int, field: str) -> int:
        pos = self._pos
        if self._end - pos < n:
            raise Truncated(
                f"needs {n} bytes, {self._end - pos} remain",
                protocol=self.protocol,
                field=field,
                offset=pos,
                spec_anchor=self.spec_anchor,
                frame=self.frame,
            )
        self._pos = pos + n
        return pos

    def _overflow(self, field: str, offset: int, declared: int, what: str = "bytes") -> LengthOverflow:
        return LengthOverflow(
            f"declares {declared} {what}, {self._end - self._pos} bytes remain",
            protocol=self.protocol,
            field=field,
            offset=offset,
            spec_anchor=self.spec_anchor,
            frame=self.frame,
        )

    # -- fixed-size integers ----------------------------------------------------------------
    def pull_u8(self, field: str) -> int:
        return self._data[self._need(1, field)]

    def pull_u16(self, field: str) -> int:
        return int(_U16.unpack_from(self._data, self._need(2, field))[0])

    def pull_u32(self, field: str) -> int:
        return int(_U32.unpack_from(self._data, self._need(4, field))[0])

    def pull_u64(self, field: str) -> int:
        return int(_U64.unpack_from(self._data, self._need(8, field))[0])

    # -- byte runs --------------------------------------------------------------------------
    def pull_bytes(self, n: int, field: str) -> bytes:
        """Exactly ``n`` bytes (a fixed-size raw field)."""
        pos = self._need(n, field)
        return self._data[pos : pos + n]

    def _pull_sized(self, size_bytes: int, field: str) -> bytes:
        start = self._pos
        n = self.pull_u8(field) if size_bytes == 1 else self.pull_u32(field)
        if n > self._end - self._pos:
            raise self._overflow(field, start, n)
        pos = self._pos
        self._pos = pos + n
        return self._data[pos : pos + n]

    def pull_string_bytes(self, field: str) -> bytes:
        """zproto ``string`` as raw bytes: 1-byte length, then that many bytes."""
        return self._pull_sized(1, field)

    def pull_longstr_bytes(self, field: str) -> bytes:
        """zproto ``longstr``/``chunk`` as raw bytes: 4-byte length, then that many bytes."""
        return self._pull_sized(4, field)

    def _utf8(self, raw: bytes, field: str, start: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidUtf8(
                f"not UTF-8 ({exc.reason} at byte {exc.start} of the value)",
                protocol=self.protocol,
                field=field,
                offset=start,
                spec_anchor=self.spec_anchor,
                frame=self.frame,
            ) from None

    def pull_string(self, field: str) -> str:
        """zproto ``string``: 1-byte length counting UTF-8 bytes."""
        start = self._pos
        return self._utf8(self.pull_string_bytes(field), field, start)

    def pull_longstr(self, field: str) -> str:
        """zproto ``longstr``: 4-byte length counting UTF-8 bytes."""
        start = self._pos
        return self._utf8(self.pull_longstr_bytes(field), field, start)

    def pull_count(self, field: str, min_item_size: int) -> int:
        """A u32 element count, refused if the elements cannot fit in what remains."""
        start = self._pos
        n = self.pull_u32(field)
        if n * min_item_size > self._end - self._pos:
            raise self._overflow(field, start, n, "items")
        return n


class Writer:
    """Accumulates bytes; ``push_*`` methods validate ranges and raise EncodeError."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def push_bytes(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def push_u8(self, value: int, field: str = "u8") -> None:
        _check_range(value, U8_MAX, field)
        self._parts.append(bytes((value,)))

    def push_u16(self, value: int, field: str = "u16") -> None:
        _check_range(value, U16_MAX, field)
        self._parts.append(_U16.pack(value))

    def push_u32(self, value: int, field: str = "u32") -> None:
        _check_range(value, U32_MAX, field)
        self._parts.append(_U32.pack(value))

    def push_u64(self, value: int, field: str = "u64") -> None:
        _check_range(value, U64_MAX, field)
        self._parts.append(_U64.pack(value))

    def push_string_bytes(self, data: bytes, field: str = "string") -> None:
        if len(data) > U8_MAX:
            raise EncodeError(f"{field}: {len(data)} bytes do not fit a 1-byte length")
        self._parts.append(bytes((len(data),)))
        self._parts.append(bytes(data))

    def push_longstr_bytes(self, data: bytes, field: str = "longstr") -> None:
        if len(data) > U32_MAX:
            raise EncodeError(f"{field}: {len(data)} bytes do not fit a 4-byte length")
        self._parts.append(_U32.pack(len(data)))
        self._parts.append(bytes(data))

    def push_string(self, value: str, field: str = "string") -> None:
        self.push_string_bytes(_encode_utf8(value, field), field)

    def push_longstr(self, value: str, field: str = "longstr") -> None:
        self.push_longstr_bytes(_encode_utf8(value, field), field)


def _check_range(value: int, maximum: int, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise EncodeError(f"{field}: {value!r} is not an integer in 0..{maximum}")


def _encode_utf8(value: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise EncodeError(f"{field}: expected str, got {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{field}: cannot encode as UTF-8: {exc.reason}") from None


# -- helpers for hot paths that cannot afford a Reader object (ZMTP frame headers) ------------
def unpack_u16(buf: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(_U16.unpack_from(buf, offset)[0])


def unpack_u32(buf: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(_U32.unpack_from(buf, offset)[0])


def unpack_u64(buf: bytes | bytearray | memoryview, offset: int = 0) -> int:
    return int(_U64.unpack_from(buf, offset)[0])


def pack_u16(value: int) -> bytes:
    return _U16.pack(value)


def pack_u32(value: int) -> bytes:
    return _U32.pack(value)


def pack_u64(value: int) -> bytes:
    return _U64.pack(value)


def pack_flags_u64(flags: int, size: int) -> bytes:
    """A ZMTP long frame header: flags byte + 8-byte size."""
    return _U8_U64.pack(flags, size)

