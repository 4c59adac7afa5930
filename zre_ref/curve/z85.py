"""Z85, ZeroMQ's printable encoding of binary keys (RFC 32/Z85).

Four bytes, read as a big-endian 32-bit number, become five characters of the 85-character
alphabet, most significant digit first. The input to encode must be a multiple of 4 bytes and the
input to decode a multiple of 5 characters.
"""

from __future__ import annotations

from ..errors import BadValue, LengthOverflow

ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_DECODE = {c: i for i, c in enumerate(ALPHABET)}
ANCHOR = "spec/curve.md#z85"
PROTOCOL = "z85"


def z85_encode(data: bytes | bytearray | memoryview) -> bytes:
    """Z85 text (ASCII bytes) of ``data``, whose length must be a multiple of 4."""
    if len(data) % 4:
        raise ValueError("Z85 encodes a multiple of 4 bytes")
    out = bytearray()
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i:i + 4], "big")
        chunk = bytearray(5)
        for j in range(4, -1, -1):
            value, digit = divmod(value, 85)
            chunk[j] = ALPHABET[digit]
        out += chunk
    return bytes(out)


def z85_decode(text: bytes | str) -> bytes:
    """The bytes of Z85 ``text``; raises DecodeError (bad length, character or value)."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            pos = next(i for i, ch in enumerate(text) if ord(ch) > 127)
            raise BadValue("not a Z85 character", protocol=PROTOCOL, field="z85",
                           offset=pos, spec_anchor=ANCHOR) from None
    else:
        raw = bytes(text)
    if len(raw) % 5:
        raise LengthOverflow(f"Z85 text of {len(raw)} characters is not a multiple of 5",
                             protocol=PROTOCOL, field="z85", offset=len(raw) - len(raw) % 5,
                             spec_anchor=ANCHOR)
    out = bytearray()
    for i in range(0, len(raw), 5):
        value = 0
        for j in range(i, i + 5):
            digit = _DECODE.get(raw[j])
            if digit is None:
                raise BadValue(f"{raw[j:j + 1]!r} is not a Z85 character", protocol=PROTOCOL,
                               field="z85", offset=j, spec_anchor=ANCHOR)
            value = value * 85 + digit
        if value > 0xFFFF_FFFF:
            raise BadValue("a 5-character group is larger than 2^32 - 1", protocol=PROTOCOL,
                           field="z85", offset=i, spec_anchor=ANCHOR)
        out += value.to_bytes(4, "big")
    return bytes(out)
