"""The ZMTP 3.x greeting: 64 bytes, sent in three stages (spec/zmtp.md#greeting).

::

    off size
    0   1    FF                    signature: FF, 8 padding bytes, 7F
    1   8    padding               (ignored; libzmq sends u64 BE = identity length + 1)
    9   1    7F
    10  1    major = 3
    11  1    minor = 0 (3.0) | 1 (3.1)
    12  20   mechanism, ASCII, NUL padded
    32  1    as-server (0 | 1)
    33  31   filler (zeros)

libzmq sends bytes 0..9, then byte 10 once it saw the peer's first 10 bytes, then 11..63 once it
saw the peer's byte 10 (spec/zmtp.md#staging). :func:`greeting_stages` gives those three parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import BadSignature, BadValue, BadVersion, Truncated
from ..wire import pack_u64

PROTOCOL = "zmtp-greeting"
ANCHOR = "spec/zmtp.md#greeting"

#: bytes 0..9: FF, padding, 7F (spec/zmtp.md#greeting)
SIGNATURE_SIZE = 10
#: the whole 3.x greeting (spec/zmtp.md#greeting)
GREETING_SIZE = 64
#: size of the NUL-padded mechanism name (spec/zmtp.md#greeting)
MECHANISM_SIZE = 20
#: the version we speak: ZMTP 3.1 (RFC 37)
MAJOR = 3
MINOR = 1
FILLER = bytes(31)

#: RFC 23 mechanism-char without the NUL padding: A-Z, digits, - _ . + (spec/zmtp.md#greeting)
_MECHANISM_RE = re.compile(rb"[A-Z0-9\-_.+]{1,20}")
#: (field, start, size) of the greeting, for error fields and offsets (spec/zmtp.md#errors)
LAYOUT = (("signature", 0, 10), ("major", 10, 1), ("minor", 11, 1), ("mechanism", 12, 20),
          ("as_server", 32, 1), ("filler", 33, 31))


@dataclass(frozen=True, slots=True)
class Greeting:
    """A decoded 64-byte greeting (spec/zmtp.md#greeting)."""

    major: int = MAJOR
    minor: int = MINOR
    mechanism: str = "NULL"
    as_server: bool = False
    padding: bytes = bytes(8)

    @property
    def version(self) -> tuple[int, int]:
        return (self.major, self.minor)


def signature(identity_length: int = 0) -> bytes:
    """Bytes 0..9; the padding mirrors libzmq (identity length + 1) so a ZMTP 1.0 peer reads a frame."""
    return b"\xff" + pack_u64(identity_length + 1) + b"\x7f"


def mechanism_field(mechanism: str) -> bytes:
    """The 20-byte, NUL-padded mechanism name; ValueError if it is not a valid name."""
    raw = mechanism.encode("ascii")
    if not _MECHANISM_RE.fullmatch(raw):
        raise ValueError(f"bad mechanism name {mechanism!r}")
    return raw.ljust(MECHANISM_SIZE, b"\x00")


@lru_cache(maxsize=64)  # the same few greetings for every connection: shared, not rebuilt
def greeting_stages(
    mechanism: str = "NULL",
    *,
    as_server: bool = False,
    minor: int = MINOR,
    identity_length: int = 0,
) -> tuple[bytes, bytes, bytes]:
    """The greeting split the way it goes on the wire: signature (10), major (1), rest (53)."""
    rest = bytes((minor,)) + mechanism_field(mechanism) + bytes((1 if as_server else 0,)) + FILLER
    return signature(identity_length), bytes((MAJOR,)), rest


def encode_greeting(greeting: Greeting) -> bytes:
    """The 64 bytes of ``greeting``."""
    return (
        b"\xff"
        + greeting.padding
        + b"\x7f"
        + bytes((greeting.major, greeting.minor))
        + mechanism_field(greeting.mechanism)
        + bytes((1 if greeting.as_server else 0,))
        + FILLER
    )


def check_signature(data: bytes | bytearray | memoryview, base: int = 0) -> None:
    """Bytes 0..9 (or fewer): FF at 0, and bit 0 of byte 9 set (a versioned peer)."""
    n = len(data)
    if n >= 1 and data[0] != 0xFF:
        raise BadSignature(
            f"first byte is {data[0]:#04x}, not 0xff (a ZMTP 1.0 peer or not ZMTP)",
            protocol=PROTOCOL, field="signature", offset=base, spec_anchor=ANCHOR,
        )
    if n >= SIGNATURE_SIZE and not data[9] & 0x01:
        raise BadSignature(
            f"byte 9 is {data[9]:#04x}, bit 0 clear: an unversioned ZMTP 1.0 peer",
            protocol=PROTOCOL, field="signature", offset=base, spec_anchor=ANCHOR,
        )


def check_major(major: int, base: int = 0) -> None:
    """Byte 10: we speak 3.x only; libzmq treats 0..1 as ZMTP 1.0/2.0 and >= 2 as 3.x (§7.4)."""
    if major < MAJOR:
        raise BadVersion(
            f"major version {major}: ZMTP 1.0/2.0 peers are not supported",
            protocol=PROTOCOL, field="major", offset=base + 10, spec_anchor="spec/zmtp.md#staging",
        )


def decode_mechanism(raw: bytes, base: int = 12) -> str:
    """The mechanism name from the 20-byte field: ASCII, NUL padded, no NUL inside the name."""
    name = raw.rstrip(b"\x00")
    if not _MECHANISM_RE.fullmatch(name):
        raise BadValue(
            f"mechanism {raw!r} is not A-Z 0-9 - _ . + padded with NULs",
            protocol=PROTOCOL, field="mechanism", offset=base, spec_anchor=ANCHOR,
        )
    return name.decode("ascii")


#: bytes 10..32 (major, minor, mechanism, as-server) of the greetings peers commonly send,
#: with what the staged parse makes of them (spec/zmtp.md#greeting)
KNOWN_GREETINGS: dict[bytes, Greeting] = {
    bytes((MAJOR, minor)) + mechanism_field(mechanism) + bytes((server,)):
        Greeting(MAJOR, minor, mechanism, server == 1)
    for minor in (0, 1) for mechanism in ("NULL", "PLAIN", "CURVE") for server in (0, 1)
}


def known_greeting(data: bytes) -> Greeting | None:
    """The greeting at the start of ``data`` recognised in one step: all 64 bytes are there,
    the signature is valid and bytes 10..32 are one of KNOWN_GREETINGS. None otherwise: the
    staged parse then decides, errors included (the filler is ignored by both)."""
    if len(data) < GREETING_SIZE or data[0] != 0xFF or not data[9] & 0x01:
        return None
    key = data[10:33]
    return KNOWN_GREETINGS.get(key) if type(key) is bytes else None


def decode_greeting(data: bytes | bytearray | memoryview) -> Greeting:
    """Decode exactly 64 bytes; shorter input is Truncated at the first missing stage."""
    data = bytes(data)
    check_signature(data)
    if len(data) < GREETING_SIZE:
        field, start = next((f, at) for f, at, size in LAYOUT if len(data) < at + size)
        raise Truncated(
            f"a greeting has {GREETING_SIZE} bytes, got {len(data)}",
            protocol=PROTOCOL, field=field, offset=start, spec_anchor=ANCHOR,
        )
    check_major(data[10])
    mechanism = decode_mechanism(data[12:32])
    as_server = data[32]
    if as_server > 1:
        raise BadValue(
            f"as-server is {as_server}, must be 0 or 1",
            protocol=PROTOCOL, field="as_server", offset=32, spec_anchor=ANCHOR,
        )
    return Greeting(
        major=data[10], minor=data[11], mechanism=mechanism, as_server=bool(as_server),
        padding=data[1:9],
    )
