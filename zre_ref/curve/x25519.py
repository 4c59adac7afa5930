"""X25519 Diffie-Hellman on Curve25519 (RFC 7748 section 5), readable and sans-IO.

The Montgomery ladder of RFC 7748 section 5 over GF(2^255 - 19), on Python integers. Python
integers are not constant-time: this is a reference and test implementation, not a hardened one
(spec/curve.md#not-constant-time).
"""

from __future__ import annotations

P = 2**255 - 19
"""The field prime p (RFC 7748 section 4.1)."""
A24 = 121665
"""(A - 2) / 4 for A = 486662 (RFC 7748 section 5)."""
BASE_POINT = (9).to_bytes(32, "little")
"""u = 9, the base point (RFC 7748 section 4.1)."""
KEY_SIZE = 32


def decode_scalar(k: bytes) -> int:
    """Clamp a 32-byte scalar: clear bits 0-2 and 255, set bit 254 (RFC 7748 section 5)."""
    if len(k) != KEY_SIZE:
        raise ValueError("an X25519 scalar is 32 bytes")
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def decode_u(u: bytes) -> int:
    """A u-coordinate: 32 bytes little-endian, the top bit masked (RFC 7748 section 5)."""
    if len(u) != KEY_SIZE:
        raise ValueError("an X25519 u-coordinate is 32 bytes")
    return int.from_bytes(u, "little") & ((1 << 255) - 1)


def x25519(k: bytes, u: bytes) -> bytes:
    """The scalar multiplication X25519(k, u) of RFC 7748 section 5 (the ladder as written there)."""
    scalar = decode_scalar(k)
    x1 = decode_u(u)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:  # RFC 7748's cswap; a branch, hence not constant-time
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a = (x2 + z2) % P
        aa = a * a % P
        b = (x2 - z2) % P
        bb = b * b % P
        e = (aa - bb) % P
        c = (x3 + z3) % P
        d = (x3 - z3) % P
        da = d * a % P
        cb = c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + A24 * e) % P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(KEY_SIZE, "little")


def x25519_base(k: bytes) -> bytes:
    """The public key of secret ``k``: X25519(k, 9)."""
    return x25519(k, BASE_POINT)
