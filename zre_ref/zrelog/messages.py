"""ZRE/LOG: the one LOG message of the ZRE logging extension, declared once (spec/zrelog.md#log).

Layout of the single frame (no version byte, no sequence)::

    AA A2 | id = 1 | level u8 | event u8 | node u16 | peer u16 | time u64 | data string

``time`` is seconds since the Unix epoch, as zyre's historical code sent it (RFC 20 says
"msecs"; see spec/zrelog.md#deviations). ``node``/``peer`` are 16-bit endpoint hashes
(:func:`endpoint_hash`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..codec import STRING, U8, U16, U64, Protocol, wire

#: ZRE/LOG protocol: signature AA A2 (0xAAA0 | 2), no version byte (spec/zrelog.md#log)
ZRELOG = Protocol("zrelog", signature=0xAAA2, spec="spec/zrelog.md#log")

#: Longest ``data`` text: a zproto ``string`` has a 1-byte length (spec/zrelog.md#log)
MAX_DATA_BYTES = 255


class Level(IntEnum):
    """Severity of a record (spec/zrelog.md#levels)."""

    #: something failed
    ERROR = 1
    #: something looks wrong
    WARNING = 2
    #: normal activity (every ZRE event record)
    INFO = 3


class Event(IntEnum):
    """What a record reports (spec/zrelog.md#events). Warnings and errors carry NONE (0)."""

    #: no ZRE event: the event byte of WARNING and ERROR records
    NONE = 0
    #: a peer joined a group (data = group name)
    JOIN = 1
    #: a peer left a group (data = group name)
    LEAVE = 2
    #: a peer appeared (peer = hash of its endpoint)
    ENTER = 3
    #: a peer disappeared (peer = hash of its endpoint)
    EXIT = 4
    #: a ZRE message was sent to a peer (verbose level)
    SEND = 5
    #: a ZRE message was received from a peer (verbose level)
    RECV = 6


@ZRELOG.message(1, "LOG", anchor="spec/zrelog.md#log")
@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """One log record, published by a node to every collector it knows."""

    level: int = wire(U8, doc="Level: ERROR 1, WARNING 2, INFO 3")
    event: int = wire(U8, doc="Event: JOIN 1 … RECV 6; 0 for warnings and errors")
    node: int = wire(U16, doc="endpoint_hash of the sending node's endpoint")
    peer: int = wire(U16, doc="endpoint_hash of the peer concerned, 0 if none")
    time: int = wire(U64, doc="seconds since the Unix epoch (RFC 20 says msecs; code sends secs)")
    data: str = wire(STRING, doc="free text, e.g. the group name for JOIN/LEAVE")


def endpoint_hash(text: str | bytes, *, signed_char: bool = True) -> int:
    """The 16-bit "modified Bernstein" id of a string: ``h = (33*h) ^ c`` mod 2**16, h0 = 0.

    zyre computed it over C ``char`` values; where ``char`` is signed (x86) bytes >= 0x80 are
    sign-extended first, so ``"é"`` hashes to 0x078A, while the unsigned reading (ARM, or
    ``signed_char=False``) gives 0x198A. ASCII strings hash the same both ways
    (spec/zrelog.md#endpoint-hash).
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    h = 0
    for byte in data:
        c = (byte | 0xFF00) if (signed_char and byte >= 0x80) else byte
        h = ((33 * h) ^ c) & 0xFFFF
    return h


def encode(msg: Log) -> list[bytes]:
    """Frames of a LOG message (always exactly one)."""
    return ZRELOG.encode(msg)


def decode(frames: list[bytes] | tuple[bytes, ...]) -> Log:
    """Decode a LOG message; raises a DecodeError subclass on bad input."""
    msg: Log = ZRELOG.decode(frames)
    return msg
