"""CURVE keys as ZeroMQ users hold them: 32 raw bytes or 40 Z85 characters (RFC 32), with
pyzmq's ``curve_keypair()`` / ``curve_public()`` (spec/curve.md#keys)."""

from __future__ import annotations

import os

from .x25519 import x25519_base
from .z85 import z85_decode, z85_encode

KEY_SIZE = 32
Z85_KEY_SIZE = 40


def parse_key(value: bytes | bytearray | str, what: str = "key") -> bytes:
    """The raw 32 bytes of a key given as 32 raw bytes or as 40 Z85 characters (str or bytes),
    exactly the forms pyzmq's CURVE_* socket options take; ValueError otherwise."""
    if isinstance(value, str):
        if len(value) != Z85_KEY_SIZE:
            raise ValueError(f"{what}: a Z85 key is 40 characters, not {len(value)}")
        return _z85(value, what)
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what}: a key is bytes or str, not {type(value).__name__}")
    if len(value) == KEY_SIZE:
        return bytes(value)
    if len(value) == Z85_KEY_SIZE:
        return _z85(bytes(value), what)
    raise ValueError(f"{what}: a key is 32 raw bytes or 40 Z85 characters, not {len(value)} bytes")


def _z85(text: bytes | str, what: str) -> bytes:
    from ..errors import DecodeError

    try:
        return z85_decode(text)
    except DecodeError as exc:
        raise ValueError(f"{what}: not Z85 ({exc.reason})") from None


def curve_keypair() -> tuple[bytes, bytes]:
    """A new (public, secret) key pair, both Z85-encoded bytes, like ``zmq.curve_keypair()``."""
    secret = os.urandom(KEY_SIZE)
    return z85_encode(x25519_base(secret)), z85_encode(secret)


def curve_public(secret_key: bytes | bytearray | str) -> bytes:
    """The Z85 public key of a secret key (Z85 or raw), like ``zmq.curve_public()``."""
    return z85_encode(x25519_base(parse_key(secret_key, "secret key")))


class SecretKey:
    """A 32-byte secret key that never shows in a repr, str or log line."""

    __slots__ = ("_raw",)

    def __init__(self, value: bytes | bytearray | str) -> None:
        self._raw = parse_key(value, "secret key")

    @property
    def raw(self) -> bytes:
        return self._raw

    def public(self) -> bytes:
        """The raw 32-byte public key (X25519 of the base point)."""
        return x25519_base(self._raw)

    def __repr__(self) -> str:
        return "SecretKey(<secret>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        from hmac import compare_digest

        return isinstance(other, SecretKey) and compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(("SecretKey", id(self)))
