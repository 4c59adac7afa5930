"""The project's exceptions (spec/README.md#errors).

Every decoder in zre_ref raises only :class:`DecodeError` (or a subclass) on bad input. Each
subclass has a stable ``code`` string; the golden vectors name the expected error by that code,
so a porter can map it onto their own error type.
"""

from __future__ import annotations

from typing import ClassVar


class ZreRefError(Exception):
    """Base class of every exception raised by zre_ref on purpose."""


class DecodeError(ZreRefError):
    """Bytes that do not decode. Carries where and why, and the spec section that says so."""

    code: ClassVar[str] = "invalid"

    def __init__(
        self,
        reason: str,
        *,
        protocol: str,
        field: str,
        offset: int,
        spec_anchor: str = "",
        frame: int = 0,
    ) -> None:
        self.reason = reason
        self.protocol = protocol
        self.field = field
        self.offset = offset
        self.spec_anchor = spec_anchor
        self.frame = frame
        super().__init__(f"{protocol}: {field} at frame {frame} offset {offset}: {reason}")

    def to_json(self) -> dict[str, object]:
        """The error as the vectors and `zre-ref decode` show it."""
        return {
            "error": self.code,
            "protocol": self.protocol,
            "field": self.field,
            "frame": self.frame,
            "offset": self.offset,
            "reason": self.reason,
            "spec": self.spec_anchor,
        }


class Truncated(DecodeError):
    """The input ends inside a fixed-size field."""

    code = "truncated"


class LengthOverflow(DecodeError):
    """A length or count prefix declares more than what remains, or more than a limit allows."""

    code = "length-overflow"


class BadSignature(DecodeError):
    """The 2-byte zproto signature (AA Ax) is not the protocol's."""

    code = "bad-signature"


class UnknownId(DecodeError):
    """The message id is not declared by the protocol."""

    code = "unknown-id"


class BadVersion(DecodeError):
    """The version byte is not one this protocol accepts."""

    code = "bad-version"


class InvalidUtf8(DecodeError):
    """A string field is not valid UTF-8."""

    code = "invalid-utf8"


class TrailingBytes(DecodeError):
    """Bytes remain after the last field of a frame (strict decoding)."""

    code = "trailing-bytes"


class FrameCount(DecodeError):
    """The message has more or fewer frames than its declaration allows."""

    code = "frame-count"


class BadValue(DecodeError):
    """A field holds a value the spec forbids (a reserved flag bit, a bad name, ...)."""

    code = "bad-value"


class EncodeError(ZreRefError, ValueError):
    """A value that cannot be put on the wire (too long, out of range, wrong type)."""


class ProtocolError(ZreRefError):
    """A peer broke a protocol rule during a conversation (not a single bad message)."""


#: Every DecodeError class by its code, for the vectors and the CLI.
DECODE_ERRORS: dict[str, type[DecodeError]] = {
    cls.code: cls
    for cls in (
        DecodeError,
        Truncated,
        LengthOverflow,
        BadSignature,
        UnknownId,
        BadVersion,
        InvalidUtf8,
        TrailingBytes,
        FrameCount,
        BadValue,
    )
}


def register_decode_error(cls: type[DecodeError]) -> type[DecodeError]:
    """Class decorator: make a protocol-specific DecodeError known by its code."""
    if cls.code in DECODE_ERRORS and DECODE_ERRORS[cls.code] is not cls:
        raise ValueError(f"decode error code {cls.code!r} is already taken")
    DECODE_ERRORS[cls.code] = cls
    return cls
