"""CurveZMQ building blocks in the standard library only (spec/curve.md).

One small module per primitive, each citing its definition: :mod:`.x25519` (RFC 7748),
:mod:`.salsa20` (Salsa20/HSalsa20/XSalsa20) with its many-blocks-at-once twin
:mod:`.salsa20_lanes`, :mod:`.poly1305`, :mod:`.nacl` (NaCl crypto_box and crypto_secretbox) and
:mod:`.z85` (RFC 32). The ZMTP CURVE mechanism that uses them is :mod:`zre_ref.zmtp.curve`.

**Not constant-time.** Python integers and branches leak timing; this is a reference and test
implementation for reading, checking ports and talking to CURVE peers in tests, not a hardened
one (spec/curve.md#not-constant-time).
"""

from .errors import BadBox, BadNonce
from .keys import SecretKey, curve_keypair, curve_public, parse_key
from .nacl import (
    SharedKey,
    box,
    box_afternm,
    box_beforenm,
    box_open,
    box_open_afternm,
    secretbox,
    secretbox_open,
)
from .x25519 import x25519, x25519_base
from .z85 import z85_decode, z85_encode

__all__ = [
    "BadBox",
    "BadNonce",
    "SecretKey",
    "SharedKey",
    "box",
    "box_afternm",
    "box_beforenm",
    "box_open",
    "box_open_afternm",
    "curve_keypair",
    "curve_public",
    "parse_key",
    "secretbox",
    "secretbox_open",
    "x25519",
    "x25519_base",
    "z85_decode",
    "z85_encode",
]
