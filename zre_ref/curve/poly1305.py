"""Poly1305 one-time authenticator (D. J. Bernstein, "The Poly1305-AES message-authentication
code", 2005; the same function as RFC 8439 section 2.5), on Python integers.

Not constant-time (spec/curve.md#not-constant-time). Tags are compared with
:func:`hmac.compare_digest`.
"""

from __future__ import annotations

P = 2**130 - 5
CLAMP = 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
"""r &= CLAMP: the bits of r that the definition requires to be zero are cleared."""
KEY_SIZE = 32
TAG_SIZE = 16
_HIGH = 1 << 128  # the 0x01 byte appended to every full 16-byte chunk


def poly1305(key: bytes | bytearray | memoryview, message: bytes | bytearray | memoryview) -> bytes:
    """The 16-byte tag of ``message`` under the one-time ``key`` (r = key[0:16], s = key[16:32])."""
    if len(key) != KEY_SIZE:
        raise ValueError("a Poly1305 key is 32 bytes")
    r = int.from_bytes(key[:16], "little") & CLAMP
    s = int.from_bytes(key[16:32], "little")
    view = memoryview(message)
    full = len(view) - len(view) % 16
    h = 0
    from_bytes = int.from_bytes
    for i in range(0, full, 16):
        h = (h + from_bytes(view[i:i + 16], "little") + _HIGH) * r % P
    if full < len(view):
        tail = view[full:]
        h = (h + from_bytes(tail, "little") + (1 << (8 * len(tail)))) * r % P
    return ((h + s) & ((1 << 128) - 1)).to_bytes(TAG_SIZE, "little")
