"""The Salsa20 keystream for many blocks at once: an acceleration of ``salsa20.salsa20_stream``.

Each of the 16 state words is one Python integer holding the same word of N consecutive blocks in
N 64-bit lanes (the 32-bit value in the low half; carries and rotated-out bits land in the high
half and are masked away). Every add, xor and rotate of the Salsa20 core then works on all N
blocks in one integer operation. ``salsa20.py`` is the definition; tests/test_curve_crypto.py
checks that both give the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .salsa20 import _SIGMA_WORDS, BLOCK

_M32 = 0xFFFF_FFFF
MAX_LANES = 1024
"""Blocks per pass: above a few hundred lanes the cost per block stops falling, and larger
integers only use more memory (64 KiB of keystream per pass)."""
_KEY_WORDS = struct.Struct("<8I")
_NONCE_WORDS = struct.Struct("<2I")

#: masks and lane-replicators by lane count, built on first use
_MASKS: dict[int, tuple[int, int]] = {}


def _mask(n: int) -> tuple[int, int]:
    """(0x00000000FFFFFFFF in every lane, 1 in every lane) for ``n`` lanes."""
    got = _MASKS.get(n)
    if got is None:
        ones = int.from_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * n, "little")
        got = (ones * _M32, ones)
        if len(_MASKS) < 64:
            _MASKS[n] = got
    return got


def keystream(key: bytes, nonce8: bytes, length: int, counter: int = 0) -> bytearray:
    """``length`` bytes of Salsa20 keystream for (key, nonce8) from block ``counter``."""
    n = -(-length // BLOCK)
    if n == 0:
        return bytearray()
    a, b = _NONCE_WORDS.unpack(nonce8)
    out = _chunked(key, [a] * n, [b] * n, list(range(counter, counter + n)))
    if length != len(out):
        del out[length:]
    return out


def keystreams(key: bytes, nonces: Sequence[bytes], lengths: Sequence[int]) -> list[memoryview]:
    """One keystream per (nonce8, length) pair under one key, each from block 0, all computed in
    one pass (many short CurveZMQ MESSAGE boxes at the price of about one)."""
    n0: list[int] = []
    n1: list[int] = []
    counters: list[int] = []
    starts = []
    for nonce8, length in zip(nonces, lengths, strict=True):
        nb = -(-length // BLOCK)
        a, b = _NONCE_WORDS.unpack(nonce8)
        starts.append(len(counters) * BLOCK)
        n0 += [a] * nb
        n1 += [b] * nb
        counters += range(nb)
    if not counters:
        return [memoryview(b"") for _ in lengths]
    view = memoryview(_chunked(key, n0, n1, counters))
    return [view[s:s + length] for s, length in zip(starts, lengths, strict=True)]


def _chunked(key: bytes, nonce0: list[int], nonce1: list[int], counters: list[int]) -> bytearray:
    """_blocks at most MAX_LANES lanes at a time (lanes are independent: same bytes)."""
    n = len(counters)
    if n <= MAX_LANES:
        return _blocks(key, nonce0, nonce1, counters)
    out = bytearray()
    for i in range(0, n, MAX_LANES):
        j = i + MAX_LANES
        out += _blocks(key, nonce0[i:j], nonce1[i:j], counters[i:j])
    return out


def _lanes(values: list[int]) -> int:
    return int.from_bytes(struct.pack(f"<{len(values)}Q", *values), "little")


def _blocks(key: bytes, nonce0: list[int], nonce1: list[int], counters: list[int]) -> bytearray:
    """Salsa20 blocks, lane b using nonce words (nonce0[b], nonce1[b]) and block counter counters[b]."""
    n = len(counters)
    m, ones = _mask(n)
    k = _KEY_WORDS.unpack(key)
    s = _SIGMA_WORDS
    ctr = _lanes(counters)
    j0, j1, j2, j3 = s[0] * ones, k[0] * ones, k[1] * ones, k[2] * ones
    j4, j5 = k[3] * ones, s[1] * ones
    j6 = nonce0[0] * ones if nonce0.count(nonce0[0]) == n else _lanes(nonce0)
    j7 = nonce1[0] * ones if nonce1.count(nonce1[0]) == n else _lanes(nonce1)
    j8, j9 = ctr & m, (ctr >> 32) & m
    j10, j11, j12, j13 = s[2] * ones, k[4] * ones, k[5] * ones, k[6] * ones
    j14, j15 = k[7] * ones, s[3] * ones
    x0, x1, x2, x3, x4, x5, x6, x7 = j0, j1, j2, j3, j4, j5, j6, j7
    x8, x9, x10, x11, x12, x13, x14, x15 = j8, j9, j10, j11, j12, j13, j14, j15
    for _ in range(10):
        # column round
        t = (x0 + x12) & m; x4 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x4 + x0) & m; x8 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x8 + x4) & m; x12 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x12 + x8) & m; x0 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x5 + x1) & m; x9 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x9 + x5) & m; x13 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x13 + x9) & m; x1 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x1 + x13) & m; x5 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x10 + x6) & m; x14 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x14 + x10) & m; x2 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x2 + x14) & m; x6 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x6 + x2) & m; x10 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x15 + x11) & m; x3 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x3 + x15) & m; x7 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x7 + x3) & m; x11 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x11 + x7) & m; x15 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        # row round
        t = (x0 + x3) & m; x1 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x1 + x0) & m; x2 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x2 + x1) & m; x3 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x3 + x2) & m; x0 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x5 + x4) & m; x6 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x6 + x5) & m; x7 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x7 + x6) & m; x4 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x4 + x7) & m; x5 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x10 + x9) & m; x11 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x11 + x10) & m; x8 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x8 + x11) & m; x9 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x9 + x8) & m; x10 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
        t = (x15 + x14) & m; x12 ^= ((t << 7) | (t >> 25)) & m  # noqa: E702
        t = (x12 + x15) & m; x13 ^= ((t << 9) | (t >> 23)) & m  # noqa: E702
        t = (x13 + x12) & m; x14 ^= ((t << 13) | (t >> 19)) & m  # noqa: E702
        t = (x14 + x13) & m; x15 ^= ((t << 18) | (t >> 14)) & m  # noqa: E702
    words = (x0 + j0, x1 + j1, x2 + j2, x3 + j3, x4 + j4, x5 + j5, x6 + j6, x7 + j7,
             x8 + j8, x9 + j9, x10 + j10, x11 + j11, x12 + j12, x13 + j13, x14 + j14, x15 + j15)
    out = bytearray(n * BLOCK)
    size = n * 8
    for i, w in enumerate(words):
        lanes = (w & m).to_bytes(size, "little")  # lane b: word i of block b in bytes 8b..8b+3
        base = 4 * i
        out[base::BLOCK] = lanes[0::8]
        out[base + 1::BLOCK] = lanes[1::8]
        out[base + 2::BLOCK] = lanes[2::8]
        out[base + 3::BLOCK] = lanes[3::8]
    return out
