"""NaCl ``crypto_secretbox`` (XSalsa20-Poly1305) and ``crypto_box`` (Curve25519-XSalsa20-Poly1305),
as in D. J. Bernstein, "Cryptography in NaCl" (2009), sections 7-9.

Boxes here are in the "easy" layout libsodium and CurveZMQ put on the wire: the 16-byte Poly1305
tag, then the ciphertext (NaCl's 16 leading zero bytes are dropped). One keystream pass per box:
its first 32 bytes are the Poly1305 key, the rest is XORed with the message.

Not constant-time (spec/curve.md#not-constant-time).
"""

from __future__ import annotations

from collections.abc import Sequence
from hmac import compare_digest

from .errors import BadBox
from .poly1305 import TAG_SIZE, poly1305
from .salsa20 import XNONCE_SIZE, hsalsa20
from .salsa20_lanes import keystream, keystreams
from .x25519 import x25519

KEY_SIZE = 32
NONCE_SIZE = XNONCE_SIZE
MAC_SIZE = TAG_SIZE
_ZERO16 = bytes(16)
_POLY_KEY = 32  # keystream bytes used for the Poly1305 key

Bytes = bytes | bytearray | memoryview


def _xor(data: Bytes, stream: Bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def _seal(subkey: bytes, nonce8: bytes, message: Bytes) -> bytes:
    stream = keystream(subkey, nonce8, _POLY_KEY + len(message))
    view = memoryview(stream)
    cipher = _xor(message, view[_POLY_KEY:])
    return poly1305(view[:_POLY_KEY], cipher) + cipher


def _open(subkey: bytes, nonce8: bytes, box: Bytes, what: str) -> bytes:
    if len(box) < MAC_SIZE:
        raise BadBox(f"{what} of {len(box)} bytes is shorter than its 16-byte tag",
                     protocol="nacl", field="box", offset=0, spec_anchor="spec/curve.md#box")
    view = memoryview(box)
    cipher = view[MAC_SIZE:]
    stream = keystream(subkey, nonce8, _POLY_KEY + len(cipher))
    sview = memoryview(stream)
    if not compare_digest(poly1305(sview[:_POLY_KEY], cipher), view[:MAC_SIZE]):
        raise BadBox(f"{what} does not open (Poly1305 tag mismatch)", protocol="nacl",
                     field="box", offset=0, spec_anchor="spec/curve.md#box")
    return _xor(cipher, sview[_POLY_KEY:])


def _check(key: Bytes, nonce: Bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError("a secretbox key is 32 bytes")
    if len(nonce) != NONCE_SIZE:
        raise ValueError("a box nonce is 24 bytes")


def secretbox(message: Bytes, nonce: bytes, key: bytes) -> bytes:
    """``crypto_secretbox_easy``: tag + XSalsa20(key, nonce) xor message."""
    _check(key, nonce)
    return _seal(hsalsa20(key, nonce[:16]), nonce[16:], message)


def secretbox_open(box: Bytes, nonce: bytes, key: bytes) -> bytes:
    """``crypto_secretbox_open_easy``: the message, or :class:`BadBox`."""
    _check(key, nonce)
    return _open(hsalsa20(key, nonce[:16]), nonce[16:], box, "secretbox")


def box_beforenm(public_key: bytes, secret_key: bytes) -> bytes:
    """``crypto_box_beforenm``: HSalsa20(X25519(sk, pk), 0^16), the key every box between the pair uses.

    Like libsodium, refuses a public key of small order (an all-zero X25519 result)."""
    shared = x25519(secret_key, public_key)
    if shared == bytes(32):
        raise BadBox("the public key has small order (all-zero shared secret)", protocol="nacl",
                     field="public_key", offset=0, spec_anchor="spec/curve.md#box")
    return hsalsa20(shared, _ZERO16)


def box_afternm(message: Bytes, nonce: bytes, shared: bytes) -> bytes:
    """``crypto_box_easy_afternm``: a secretbox under the precomputed key."""
    return secretbox(message, nonce, shared)


def box_open_afternm(box: Bytes, nonce: bytes, shared: bytes) -> bytes:
    """``crypto_box_open_easy_afternm``."""
    return secretbox_open(box, nonce, shared)


def box(message: Bytes, nonce: bytes, public_key: bytes, secret_key: bytes) -> bytes:
    """``crypto_box_easy``: message from the owner of ``secret_key`` to the owner of ``public_key``."""
    return box_afternm(message, nonce, box_beforenm(public_key, secret_key))


def box_open(box: Bytes, nonce: bytes, public_key: bytes, secret_key: bytes) -> bytes:
    """``crypto_box_open_easy``: opens a box from the owner of ``public_key``, or :class:`BadBox`."""
    return box_open_afternm(box, nonce, box_beforenm(public_key, secret_key))


class SharedKey:
    """A precomputed box key (``beforenm``) with its XSalsa20 subkeys cached per 16-byte nonce
    prefix: CurveZMQ's MESSAGE nonces share one prefix per direction, so each message costs the
    Salsa20 keystream and Poly1305 only (spec/curve.md#key-schedule). The key is not in the repr."""

    __slots__ = ("_key", "_subkeys")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("a shared key is 32 bytes")
        self._key = bytes(key)
        self._subkeys: dict[bytes, bytes] = {}

    @classmethod
    def between(cls, public_key: bytes, secret_key: bytes) -> SharedKey:
        return cls(box_beforenm(public_key, secret_key))

    def __repr__(self) -> str:
        return "SharedKey(<secret>)"

    def _subkey(self, prefix: bytes) -> bytes:
        sub = self._subkeys.get(prefix)
        if sub is None:
            sub = hsalsa20(self._key, prefix)
            if len(self._subkeys) < 8:
                self._subkeys[prefix] = sub
        return sub

    def seal(self, message: Bytes, nonce: bytes) -> bytes:
        """Box ``message`` under ``nonce`` (24 bytes): tag + ciphertext."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError("a box nonce is 24 bytes")
        return _seal(self._subkey(nonce[:16]), nonce[16:], message)

    def open(self, box: Bytes, nonce: bytes) -> bytes:
        """Open a box sealed under ``nonce``, or raise :class:`BadBox`."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError("a box nonce is 24 bytes")
        return _open(self._subkey(nonce[:16]), nonce[16:], box, "box")

    def seal_many(self, messages: Sequence[Bytes], prefix: bytes, nonces8: Sequence[bytes]) -> list[bytes]:
        """``seal`` for many messages whose nonces are ``prefix`` (16 bytes) + ``nonces8[i]``,
        with one keystream pass for all of them (same bytes as sealing one by one)."""
        sub = self._subkey(prefix)
        streams = keystreams(sub, nonces8, [_POLY_KEY + len(m) for m in messages])
        out = []
        for message, stream in zip(messages, streams, strict=True):
            cipher = _xor(message, stream[_POLY_KEY:])
            out.append(poly1305(stream[:_POLY_KEY], cipher) + cipher)
        return out

    def open_many(self, boxes: Sequence[Bytes], prefix: bytes,
                  nonces8: Sequence[bytes]) -> list[bytes | None]:
        """``open`` for many boxes at once; a box that does not open gives None in its place."""
        sub = self._subkey(prefix)
        lengths = [_POLY_KEY + max(0, len(b) - MAC_SIZE) for b in boxes]
        streams = keystreams(sub, nonces8, lengths)
        out: list[bytes | None] = []
        for box, stream in zip(boxes, streams, strict=True):
            view = memoryview(box)
            cipher = view[MAC_SIZE:]
            if len(view) < MAC_SIZE or not compare_digest(
                    poly1305(stream[:_POLY_KEY], cipher), view[:MAC_SIZE]):
                out.append(None)
            else:
                out.append(_xor(cipher, stream[_POLY_KEY:]))
        return out
