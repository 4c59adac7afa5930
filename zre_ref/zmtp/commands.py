"""ZMTP 3.x commands: READY, ERROR, HELLO, WELCOME, INITIATE, PING, PONG, SUBSCRIBE, CANCEL.

A command frame body is ``name-len u8 | name | data`` (spec/zmtp.md#commands; the RFC prose
about a NUL separator disagrees with its own grammar). Metadata (READY, INITIATE) is a list of
``name-len u8 | name | value-len u32 | value`` properties (spec/zmtp.md#metadata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import BadValue, EncodeError, LengthOverflow, TrailingBytes, Truncated
from ..wire import pack_u16, pack_u32, unpack_u16, unpack_u32

PROTOCOL = "zmtp-frame"
ANCHOR = "spec/zmtp.md#commands"
METADATA_ANCHOR = "spec/zmtp.md#metadata"

#: PING context is at most 16 bytes; PONG echoes at most that many (spec/zmtp.md#heartbeats)
MAX_PING_CONTEXT = 16
#: property values are at most 2^31 - 1 bytes (RFC 23 metadata grammar)
MAX_PROPERTY_VALUE = 0x7FFF_FFFF

_NAME_RE = re.compile(rb"[A-Za-z0-9\-_.+]{1,255}")


@dataclass(frozen=True, slots=True)
class Ready:
    """READY: the NULL handshake, and PLAIN's last server step (spec/zmtp.md#null)."""

    properties: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Error:
    """ERROR: the handshake failed; the sender closes (spec/zmtp.md#error)."""

    reason: bytes = b""


@dataclass(frozen=True, slots=True)
class Hello:
    """PLAIN HELLO: client credentials (spec/zmtp.md#plain)."""

    username: bytes = b""
    password: bytes = b""


@dataclass(frozen=True, slots=True)
class Welcome:
    """PLAIN WELCOME: the server accepted the credentials (spec/zmtp.md#plain)."""


@dataclass(frozen=True, slots=True)
class Initiate:
    """PLAIN INITIATE: client metadata (spec/zmtp.md#plain)."""

    properties: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ping:
    """PING (3.1): ttl in deciseconds (0 = none), context 0..16 bytes (spec/zmtp.md#heartbeats)."""

    ttl: int = 0
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class Pong:
    """PONG (3.1): the PING's context echoed (spec/zmtp.md#heartbeats)."""

    context: bytes = b""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """SUBSCRIBE (3.1): a SUB asks its PUB for messages starting with topic (spec/zmtp.md#subscriptions)."""

    topic: bytes = b""


@dataclass(frozen=True, slots=True)
class Cancel:
    """CANCEL (3.1): undo one SUBSCRIBE (spec/zmtp.md#subscriptions)."""

    topic: bytes = b""


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """A well-formed command whose name we do not know (ignored after the handshake)."""

    name: bytes
    data: bytes = b""


Command = Ready | Error | Hello | Welcome | Initiate | Ping | Pong | Subscribe | Cancel | UnknownCommand


# -- metadata ---------------------------------------------------------------------------------
def encode_metadata(properties: Mapping[str, bytes]) -> bytes:
    """Properties in order as ``name-len u8 | name | value-len u32 | value``."""
    parts = []
    for name, value in properties.items():
        raw = name.encode("ascii", "replace")
        if not _NAME_RE.fullmatch(raw):
            raise EncodeError(f"metadata: bad property name {name!r}")
        if len(value) > MAX_PROPERTY_VALUE:
            raise EncodeError(f"metadata: property {name!r} value too long")
        parts += [bytes((len(raw),)), raw, pack_u32(len(value)), bytes(value)]
    return b"".join(parts)


#: names and values every handshake carries, shared instead of one copy per connection
_COMMON_NAMES = {n.encode("ascii"): n for n in ("Socket-Type", "Identity", "Resource", "User-Id")}
_COMMON_VALUES = {v: v for v in (b"", b"DEALER", b"ROUTER", b"PUB", b"SUB", b"XPUB", b"XSUB",
                                 b"REQ", b"REP", b"PAIR", b"PUSH", b"PULL")}


def decode_metadata(data: bytes, start: int, base: int) -> dict[str, bytes]:
    """Properties from ``data[start:]``; ``base`` is the stream offset of ``data[0]``.

    Error fields name the property by index: ``properties[i].key`` (offset: its length octet),
    ``properties[i].value`` (offset: its 4-octet length) (spec/zmtp.md#errors).
    """
    props: dict[str, bytes] = {}
    pos, end = start, len(data)
    i = 0
    while pos < end:
        key_field = f"properties[{i}].key"
        n = data[pos]
        if n == 0:
            raise BadValue("empty property name", protocol=PROTOCOL, field=key_field,
                           offset=base + pos, spec_anchor=METADATA_ANCHOR)
        if pos + 1 + n > end:
            raise LengthOverflow(f"property name declares {n} bytes, {end - pos - 1} remain",
                                 protocol=PROTOCOL, field=key_field, offset=base + pos,
                                 spec_anchor=METADATA_ANCHOR)
        name = data[pos + 1 : pos + 1 + n]
        if not _NAME_RE.fullmatch(name):
            raise BadValue(f"property name {name!r} has characters outside A-Za-z0-9-_.+",
                           protocol=PROTOCOL, field=key_field, offset=base + pos,
                           spec_anchor=METADATA_ANCHOR)
        pos += 1 + n
        value_field = f"properties[{i}].value"
        if end - pos < 4:
            raise Truncated(f"property value length needs 4 bytes, {end - pos} remain",
                            protocol=PROTOCOL, field=value_field, offset=base + pos,
                            spec_anchor=METADATA_ANCHOR)
        vlen = unpack_u32(data, pos)
        if vlen > end - pos - 4:
            raise LengthOverflow(f"property value declares {vlen} bytes, {end - pos - 4} remain",
                                 protocol=PROTOCOL, field=value_field, offset=base + pos,
                                 spec_anchor=METADATA_ANCHOR)
        pos += 4
        value = data[pos : pos + vlen]
        if type(value) is bytes:
            props[_COMMON_NAMES.get(name) or name.decode("ascii")] = _COMMON_VALUES.get(value, value)
        else:
            props[name.decode("ascii")] = value
        pos += vlen
        i += 1
    return props


#: what common_ready reads at most (a READY of common properties is a few hundred bytes)
COMMON_READY_MAX = 1024
_READY_PREFIX = b"\x05READY"


def common_ready(body: bytes) -> dict[str, bytes] | None:
    """The properties of a READY body whose property names are all common ones (Socket-Type,
    Identity, Resource, User-Id: what libzmq and zre_ref send), decoded in one pass; None for
    any other body, malformed ones included: :func:`decode_command` then decodes it and says
    what is wrong. Gives what ``decode_command(body).properties`` gives (spec/zmtp.md#metadata)."""
    end = len(body)
    if end > COMMON_READY_MAX or not body.startswith(_READY_PREFIX):
        return None
    names, values = _COMMON_NAMES, _COMMON_VALUES
    props: dict[str, bytes] = {}
    pos = len(_READY_PREFIX)
    while pos < end:
        at = pos + 1 + body[pos]  # the value's 4-octet length
        name = names.get(body[pos + 1 : at])
        if name is None:
            return None
        pos = at + 4 + int.from_bytes(body[at : at + 4], "big")
        if pos > end:
            return None
        value = body[at + 4 : pos]
        props[name] = values.get(value, value)
    return props


# -- commands ---------------------------------------------------------------------------------
def _body(name: bytes, data: bytes = b"") -> bytes:
    return bytes((len(name),)) + name + data


def encode_command(cmd: Command) -> bytes:
    """The command frame *body* (no frame header): name-len, name, data."""
    if isinstance(cmd, Ready):
        return _body(b"READY", encode_metadata(cmd.properties))
    if isinstance(cmd, Initiate):
        return _body(b"INITIATE", encode_metadata(cmd.properties))
    if isinstance(cmd, Error):
        if len(cmd.reason) > 255:
            raise EncodeError("ERROR: reason longer than 255 bytes")
        return _body(b"ERROR", bytes((len(cmd.reason),)) + cmd.reason)
    if isinstance(cmd, Hello):
        if len(cmd.username) > 255 or len(cmd.password) > 255:
            raise EncodeError("HELLO: username and password are at most 255 bytes")
        return _body(b"HELLO", bytes((len(cmd.username),)) + cmd.username
                     + bytes((len(cmd.password),)) + cmd.password)
    if isinstance(cmd, Welcome):
        return _body(b"WELCOME")
    if isinstance(cmd, Ping):
        if not 0 <= cmd.ttl <= 0xFFFF:
            raise EncodeError("PING: ttl must fit 16 bits (deciseconds)")
        if len(cmd.context) > MAX_PING_CONTEXT:
            raise EncodeError("PING: context is at most 16 bytes")
        return _body(b"PING", pack_u16(cmd.ttl) + cmd.context)
    if isinstance(cmd, Pong):
        return _body(b"PONG", cmd.context)
    if isinstance(cmd, Subscribe):
        return _body(b"SUBSCRIBE", cmd.topic)
    if isinstance(cmd, Cancel):
        return _body(b"CANCEL", cmd.topic)
    if isinstance(cmd, UnknownCommand):
        if not 1 <= len(cmd.name) <= 255:
            raise EncodeError("command name must be 1..255 bytes")
        return _body(cmd.name, cmd.data)
    raise EncodeError(f"not a command: {cmd!r}")


def decode_command(body: bytes, base: int = 0) -> Command:
    """Decode a command frame body; ``base`` is its stream offset (for error offsets)."""
    end = len(body)
    if end < 1:
        raise Truncated("a command needs a name length", protocol=PROTOCOL, field="name",
                        offset=base, spec_anchor=ANCHOR)
    n = body[0]
    if n == 0:
        raise BadValue("empty command name", protocol=PROTOCOL, field="name",
                       offset=base, spec_anchor=ANCHOR)
    if 1 + n > end:
        raise LengthOverflow(f"command name declares {n} bytes, {end - 1} remain",
                             protocol=PROTOCOL, field="name", offset=base,
                             spec_anchor=ANCHOR)
    name = body[1 : 1 + n]
    pos = 1 + n
    if name == b"READY":
        return Ready(decode_metadata(body, pos, base))
    if name == b"INITIATE":
        return Initiate(decode_metadata(body, pos, base))
    if name == b"SUBSCRIBE":
        return Subscribe(body[pos:])
    if name == b"CANCEL":
        return Cancel(body[pos:])
    if name == b"PING":
        if end - pos < 2:
            raise Truncated("PING needs a 2-byte ttl", protocol=PROTOCOL, field="ttl",
                            offset=base + pos, spec_anchor="spec/zmtp.md#heartbeats")
        # A context over 16 bytes is tolerated, like libzmq; PONG echoes the first 16.
        return Ping(unpack_u16(body, pos), body[pos + 2 :])
    if name == b"PONG":
        return Pong(body[pos:])
    if name == b"ERROR":
        reason = _pull_short(body, pos, base, "reason", "spec/zmtp.md#error")
        pos += 1 + len(reason)
        _no_trailing(body, pos, base, "ERROR")
        return Error(reason)
    if name == b"HELLO":
        user = _pull_short(body, pos, base, "username", "spec/zmtp.md#plain")
        pos += 1 + len(user)
        password = _pull_short(body, pos, base, "password", "spec/zmtp.md#plain")
        pos += 1 + len(password)
        _no_trailing(body, pos, base, "HELLO")
        return Hello(user, password)
    if name == b"WELCOME":
        _no_trailing(body, pos, base, "WELCOME")
        return Welcome()
    return UnknownCommand(name, body[pos:])


def _pull_short(body: bytes, pos: int, base: int, field: str, anchor: str) -> bytes:
    if pos >= len(body):
        raise Truncated(f"{field} needs a length byte", protocol=PROTOCOL, field=field,
                        offset=base + pos, spec_anchor=anchor)
    n = body[pos]
    if pos + 1 + n > len(body):
        raise LengthOverflow(f"{field} declares {n} bytes, {len(body) - pos - 1} remain",
                             protocol=PROTOCOL, field=field, offset=base + pos, spec_anchor=anchor)
    return body[pos + 1 : pos + 1 + n]


def _no_trailing(body: bytes, pos: int, base: int, name: str) -> None:
    if pos != len(body):
        raise TrailingBytes(f"{len(body) - pos} bytes after the {name} command",
                            protocol=PROTOCOL, field="end", offset=base + pos,
                            spec_anchor=ANCHOR)


def command_name(cmd: Command) -> str:
    """The wire name of ``cmd`` (READY, PING, ...)."""
    if isinstance(cmd, UnknownCommand):
        return cmd.name.decode("latin-1")
    return type(cmd).__name__.upper()


def peek_name(body: bytes) -> bytes | None:
    """The name of a command frame body, read without decoding the rest, or None if the name
    field is malformed (a connection checks its state table before decoding; spec/zmtp.md#commands)."""
    if not body:
        return None
    n = body[0]
    if n == 0 or 1 + n > len(body):
        return None
    return body[1 : 1 + n]
