"""Salsa20, HSalsa20 and XSalsa20 (D. J. Bernstein, "Salsa20 specification", 2005, and
"Extending the Salsa20 nonce", 2008), readable and sans-IO.

This module is the definition: the quarterround, rowround and columnround of the Salsa20
specification on a list of 16 words. ``salsa20_lanes`` computes the same keystream many blocks at
a time; the tests check that the two agree. Not constant-time (spec/curve.md#not-constant-time).
"""

from __future__ import annotations

import struct

M32 = 0xFFFF_FFFF
SIGMA = b"expand 32-byte k"
"""The constant words of a 256-bit key (Salsa20 specification section 10)."""
BLOCK = 64
KEY_SIZE = 32
XNONCE_SIZE = 24
"""An XSalsa20 nonce: 16 bytes for HSalsa20, then 8 bytes for Salsa20."""

_WORDS = struct.Struct("<16I")
_SIGMA_WORDS = struct.unpack("<4I", SIGMA)

#: (a, b, c, d): b ^= (a + d) <<< 7; c ^= (b + a) <<< 9; d ^= (c + b) <<< 13; a ^= (d + c) <<< 18
_COLUMNS = ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11))
_ROWS = ((0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14))


def _rotl(v: int, c: int) -> int:
    return ((v << c) & M32) | (v >> (32 - c))


def _quarterround(x: list[int], a: int, b: int, c: int, d: int) -> None:
    x[b] ^= _rotl((x[a] + x[d]) & M32, 7)
    x[c] ^= _rotl((x[b] + x[a]) & M32, 9)
    x[d] ^= _rotl((x[c] + x[b]) & M32, 13)
    x[a] ^= _rotl((x[d] + x[c]) & M32, 18)


def _rounds(words: tuple[int, ...] | list[int]) -> list[int]:
    """Ten double rounds (column round, then row round) of the Salsa20 core."""
    x = list(words)
    for _ in range(10):
        for q in _COLUMNS:
            _quarterround(x, *q)
        for q in _ROWS:
            _quarterround(x, *q)
    return x


def initial_state(key: bytes, nonce16: bytes) -> list[int]:
    """The 4x4 input matrix: sigma on the diagonal, the key, then 16 bytes of nonce/counter."""
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", nonce16)
    s = _SIGMA_WORDS
    return [s[0], k[0], k[1], k[2], k[3], s[1], n[0], n[1],
            n[2], n[3], s[2], k[4], k[5], k[6], k[7], s[3]]


def salsa20_block(key: bytes, nonce8: bytes, counter: int) -> bytes:
    """One 64-byte Salsa20 block: the core's output plus its input, word by word."""
    state = initial_state(key, nonce8 + counter.to_bytes(8, "little"))
    out = _rounds(state)
    return _WORDS.pack(*((o + i) & M32 for o, i in zip(out, state, strict=True)))


def hsalsa20(key: bytes, nonce16: bytes) -> bytes:
    """HSalsa20: 32 bytes from words 0, 5, 10, 15, 6, 7, 8, 9 of the core (no feed-forward)."""
    if len(key) != KEY_SIZE or len(nonce16) != 16:
        raise ValueError("HSalsa20 takes a 32-byte key and a 16-byte input")
    x = _rounds(initial_state(key, nonce16))
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def salsa20_stream(key: bytes, nonce8: bytes, length: int, counter: int = 0) -> bytes:
    """``length`` keystream bytes of Salsa20 from block ``counter`` (one block at a time)."""
    nblocks = -(-length // BLOCK)
    return b"".join(salsa20_block(key, nonce8, counter + i) for i in range(nblocks))[:length]


def xsalsa20_subkey(key: bytes, nonce24: bytes) -> bytes:
    """XSalsa20's per-nonce key: HSalsa20(key, nonce[0:16]); nonce[16:24] then drives Salsa20."""
    return hsalsa20(key, nonce24[:16])


def xsalsa20_stream(key: bytes, nonce24: bytes, length: int) -> bytes:
    """``length`` keystream bytes of XSalsa20 (readable path)."""
    if len(nonce24) != XNONCE_SIZE:
        raise ValueError("an XSalsa20 nonce is 24 bytes")
    return salsa20_stream(xsalsa20_subkey(key, nonce24), nonce24[16:], length)
