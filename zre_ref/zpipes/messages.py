"""ZPIPES: the 21 messages of zbroker's named-pipe protocol, each declared once.

Layout of the single frame (spec/zpipes.md#message-layout), no version byte, no sequence::

    AA A0 | id (1) | fields...

The ids follow zbroker's declaration order in ``zpipes_msg.xml`` (the only source of them),
pinned by the golden vectors in ``vectors/zpipes/``. A client is a DEALER, the broker a ROUTER.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codec import CHUNK, STRING, U32, Protocol, wire

#: ZPIPES protocol: signature AA A0, no version byte (spec/zpipes.md#message-layout)
ZPIPES = Protocol("zpipes", signature=0xAAA0, spec="spec/zpipes.md#message-layout")

#: Timeouts are u32 milliseconds; 0 means "wait forever" (spec/zpipes.md#timeouts)
WAIT_FOREVER = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ZpipesMessage:
    """Base of every ZPIPES message (no common fields)."""


@ZPIPES.message(1, "INPUT", anchor="spec/zpipes.md#input")
@dataclass(frozen=True, slots=True, kw_only=True)
class Input(ZpipesMessage):
    """Client opens the named pipe for reading."""

    pipename: str = wire(STRING, doc="name of the pipe")


@ZPIPES.message(2, "INPUT-OK", anchor="spec/zpipes.md#input")
@dataclass(frozen=True, slots=True, kw_only=True)
class InputOk(ZpipesMessage):
    """The client is now the pipe's reader."""


@ZPIPES.message(3, "INPUT-FAILED", anchor="spec/zpipes.md#input")
@dataclass(frozen=True, slots=True, kw_only=True)
class InputFailed(ZpipesMessage):
    """The pipe could not be opened for reading (e.g. it already has a reader)."""

    reason: str = wire(STRING, doc="why, for humans")


@ZPIPES.message(4, "OUTPUT", anchor="spec/zpipes.md#output")
@dataclass(frozen=True, slots=True, kw_only=True)
class Output(ZpipesMessage):
    """Client opens the named pipe for writing."""

    pipename: str = wire(STRING, doc="name of the pipe")


@ZPIPES.message(5, "OUTPUT-OK", anchor="spec/zpipes.md#output")
@dataclass(frozen=True, slots=True, kw_only=True)
class OutputOk(ZpipesMessage):
    """The client is now the pipe's writer."""


@ZPIPES.message(6, "OUTPUT-FAILED", anchor="spec/zpipes.md#output")
@dataclass(frozen=True, slots=True, kw_only=True)
class OutputFailed(ZpipesMessage):
    """The pipe could not be opened for writing (e.g. it already has a writer)."""

    reason: str = wire(STRING, doc="why, for humans")


@ZPIPES.message(7, "READ", anchor="spec/zpipes.md#read")
@dataclass(frozen=True, slots=True, kw_only=True)
class Read(ZpipesMessage):
    """Read exactly ``size`` bytes, or what is left once the writer has closed."""

    size: int = wire(U32, doc="number of bytes wanted")
    timeout: int = wire(U32, doc="milliseconds, 0 = wait forever")


@ZPIPES.message(8, "READ-OK", anchor="spec/zpipes.md#read")
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadOk(ZpipesMessage):
    """Data for a READ: ``size`` bytes, fewer only at the end of the pipe."""

    chunk: bytes = wire(CHUNK, doc="u32 length + bytes")


@ZPIPES.message(9, "READ-END", anchor="spec/zpipes.md#read")
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadEnd(ZpipesMessage):
    """The writer has closed and every byte has been read: end of pipe."""


@ZPIPES.message(10, "READ-TIMEOUT", anchor="spec/zpipes.md#read")
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadTimeout(ZpipesMessage):
    """Not enough data arrived in time; nothing was consumed."""


@ZPIPES.message(11, "READ-FAILED", anchor="spec/zpipes.md#read")
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFailed(ZpipesMessage):
    """The READ was cancelled or refused; nothing was consumed."""

    reason: str = wire(STRING, doc="why, for humans")


@ZPIPES.message(12, "WRITE", anchor="spec/zpipes.md#write")
@dataclass(frozen=True, slots=True, kw_only=True)
class Write(ZpipesMessage):
    """Append a chunk of data to the pipe."""

    chunk: bytes = wire(CHUNK, doc="u32 length + bytes")
    timeout: int = wire(U32, doc="milliseconds, 0 = wait forever")


@ZPIPES.message(13, "WRITE-OK", anchor="spec/zpipes.md#write")
@dataclass(frozen=True, slots=True, kw_only=True)
class WriteOk(ZpipesMessage):
    """The chunk is queued for the reader (not yet read)."""


@ZPIPES.message(14, "WRITE-TIMEOUT", anchor="spec/zpipes.md#write")
@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTimeout(ZpipesMessage):
    """No reader, or no room, in time: the chunk was not written."""


@ZPIPES.message(15, "WRITE-FAILED", anchor="spec/zpipes.md#write")
@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFailed(ZpipesMessage):
    """The chunk was not written (reader gone, pipe closed, ...)."""

    reason: str = wire(STRING, doc="why, for humans")


@ZPIPES.message(16, "CLOSE", anchor="spec/zpipes.md#close")
@dataclass(frozen=True, slots=True, kw_only=True)
class Close(ZpipesMessage):
    """Client closes its end of the pipe."""


@ZPIPES.message(17, "CLOSE-OK", anchor="spec/zpipes.md#close")
@dataclass(frozen=True, slots=True, kw_only=True)
class CloseOk(ZpipesMessage):
    """The client's end is closed; it may open a pipe again."""


@ZPIPES.message(18, "CLOSE-FAILED", anchor="spec/zpipes.md#close")
@dataclass(frozen=True, slots=True, kw_only=True)
class CloseFailed(ZpipesMessage):
    """Closing failed."""

    reason: str = wire(STRING, doc="why, for humans")


@ZPIPES.message(19, "PING", anchor="spec/zpipes.md#ping")
@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(ZpipesMessage):
    """Client heartbeat; valid in every state."""


@ZPIPES.message(20, "PING-OK", anchor="spec/zpipes.md#ping")
@dataclass(frozen=True, slots=True, kw_only=True)
class PingOk(ZpipesMessage):
    """Answer to PING."""


@ZPIPES.message(21, "INVALID", anchor="spec/zpipes.md#invalid")
@dataclass(frozen=True, slots=True, kw_only=True)
class Invalid(ZpipesMessage):
    """The command was not valid in the client's current state (the connection is kept)."""



def encode(msg: ZpipesMessage) -> list[bytes]:
    """Frames of a ZPIPES message (always exactly one, without the ROUTER routing id)."""
    return ZPIPES.encode(msg)


def decode(frames: list[bytes] | tuple[bytes, ...]) -> ZpipesMessage:
    """Decode a ZPIPES message (without the ROUTER routing id); raises DecodeError."""
    msg: ZpipesMessage = ZPIPES.decode(frames)
    return msg
