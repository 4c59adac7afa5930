"""The CURVE family's error codes (spec/curve.md#errors)."""

from __future__ import annotations

from ..errors import DecodeError, register_decode_error


@register_decode_error
class BadBox(DecodeError):
    """A box or secretbox does not open: its Poly1305 tag does not match (wrong key, wrong nonce,
    or bytes changed on the way), or the peer's public key gives an all-zero shared secret."""

    code = "bad-box"


@register_decode_error
class BadNonce(DecodeError):
    """A short nonce is not greater than the last one from the same peer (a replay, or out of order)."""

    code = "bad-nonce"
