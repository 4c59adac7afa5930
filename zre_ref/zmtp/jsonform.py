"""ZMTP greetings and frame streams as JSON, for `zre-ref decode/encode` and the vectors (spec/zmtp.md).

``zmtp-greeting``: the 64 greeting bytes -> ``{major, minor, mechanism, as_server, padding}``.
``zmtp-frame``: a byte stream of frames -> ``{"frames": [...]}``, one object per frame, with the
command decoded (READY properties as ``[name, hex value]`` pairs in wire order, PING ttl/context,
SUBSCRIBE topic, ...). Byte values are hex (spec/zmtp.md#json-form).
All HEX arguments are concatenated: these are byte streams, not zproto frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codec import pairs_from_json
from ..errors import EncodeError, TrailingBytes, Truncated
from ..registry import CliCodec
from ..wire import pack_flags_u64
from .commands import (
    Cancel,
    Command,
    Error,
    Hello,
    Initiate,
    Ping,
    Pong,
    Ready,
    Subscribe,
    UnknownCommand,
    Welcome,
    command_name,
    decode_command,
    encode_command,
)
from .frames import COMMAND, LONG, MORE, decode_stream, frame_header
from .greeting import GREETING_SIZE, Greeting, decode_greeting, encode_greeting
from .greeting import PROTOCOL as GREETING_PROTOCOL


def greeting_to_json(g: Greeting) -> dict[str, Any]:
    return {"major": g.major, "minor": g.minor, "mechanism": g.mechanism,
            "as_server": g.as_server, "padding": g.padding.hex()}


def decode_greeting_json(frames: Sequence[bytes]) -> dict[str, Any]:
    """Greeting bytes -> fields; trailing bytes after 64 are an error (spec/zmtp.md#greeting)."""
    data = b"".join(frames)
    if len(data) > GREETING_SIZE:
        decode_greeting(data[:GREETING_SIZE])
        raise TrailingBytes(f"{len(data) - GREETING_SIZE} bytes after the greeting",
                            protocol=GREETING_PROTOCOL, field="end", offset=GREETING_SIZE,
                            spec_anchor="spec/zmtp.md#greeting")
    return greeting_to_json(decode_greeting(data))


def encode_greeting_json(obj: dict[str, Any]) -> list[bytes]:
    try:
        g = Greeting(
            major=int(obj.get("major", 3)), minor=int(obj.get("minor", 1)),
            mechanism=str(obj.get("mechanism", "NULL")), as_server=bool(obj.get("as_server", False)),
            padding=bytes.fromhex(obj.get("padding", "00" * 8)),
        )
        if len(g.padding) != 8 or not (0 <= g.major <= 255 and 0 <= g.minor <= 255):
            raise ValueError("padding is 8 bytes; major and minor are bytes")
        return [encode_greeting(g)]
    except (ValueError, TypeError) as exc:
        raise EncodeError(f"zmtp-greeting: {exc}") from None


def command_to_json(cmd: Command) -> dict[str, Any]:
    out: dict[str, Any] = {"name": command_name(cmd)}
    if isinstance(cmd, (Ready, Initiate)):
        out["properties"] = [[k, v.hex()] for k, v in cmd.properties.items()]
    elif isinstance(cmd, Error):
        out["reason"] = cmd.reason.hex()
    elif isinstance(cmd, Hello):
        out["username"] = cmd.username.hex()
        out["password"] = cmd.password.hex()
    elif isinstance(cmd, Ping):
        out["ttl"] = cmd.ttl
        out["context"] = cmd.context.hex()
    elif isinstance(cmd, Pong):
        out["context"] = cmd.context.hex()
    elif isinstance(cmd, (Subscribe, Cancel)):
        out["topic"] = cmd.topic.hex()
    elif isinstance(cmd, UnknownCommand):
        out["data"] = cmd.data.hex()
    return out


def command_from_json(obj: dict[str, Any]) -> Command:
    name = obj.get("name")
    h = bytes.fromhex
    if name in ("READY", "INITIATE"):
        props = pairs_from_json(obj.get("properties", []), "properties")
        return (Ready if name == "READY" else Initiate)({k: h(v) for k, v in props.items()})
    if name == "ERROR":
        return Error(h(obj.get("reason", "")))
    if name == "HELLO":
        return Hello(h(obj.get("username", "")), h(obj.get("password", "")))
    if name == "WELCOME":
        return Welcome()
    if name == "PING":
        return Ping(int(obj.get("ttl", 0)), h(obj.get("context", "")))
    if name == "PONG":
        return Pong(h(obj.get("context", "")))
    if name == "SUBSCRIBE":
        return Subscribe(h(obj.get("topic", "")))
    if name == "CANCEL":
        return Cancel(h(obj.get("topic", "")))
    if isinstance(name, str) and name:
        return UnknownCommand(name.encode("ascii"), h(obj.get("data", "")))
    raise EncodeError(f"zmtp-frame: bad command name {name!r}")


def decode_frames_json(frames: Sequence[bytes]) -> dict[str, Any]:
    """A byte stream of frames -> ``{"frames": [...]}`` (spec/zmtp.md#frames)."""
    data = b"".join(frames)
    if not data:
        raise Truncated("no frame: the stream is empty", protocol="zmtp-frame", field="flags",
                        offset=0, spec_anchor="spec/zmtp.md#frames")
    out = []
    pos = 0
    for fr in decode_stream(data):
        hlen = 9 if fr.flags & LONG else 2
        item: dict[str, Any] = {"long": bool(fr.flags & LONG), "size": len(fr.body)}
        if fr.flags & COMMAND:
            item = {"kind": "command", **item, **command_to_json(decode_command(fr.body, pos + hlen))}
        else:
            item = {"kind": "message", "more": bool(fr.flags & MORE), **item, "body": fr.body.hex()}
        out.append(item)
        pos += hlen + len(fr.body)
    return {"frames": out}


def encode_frames_json(obj: dict[str, Any]) -> list[bytes]:
    """``{"frames": [...]}`` -> one byte stream (as a single hex line)."""
    try:
        parts = []
        for item in obj["frames"]:
            if item.get("kind") == "command":
                body = encode_command(command_from_json(item))
                flags = COMMAND
            else:
                body = bytes.fromhex(item.get("body", ""))
                flags = MORE if item.get("more") else 0
            if item.get("long") and len(body) <= 255:
                parts.append(pack_flags_u64(flags | LONG, len(body)))
            else:
                parts.append(frame_header(flags, len(body)))
            parts.append(body)
        return [b"".join(parts)]
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise EncodeError(f"zmtp-frame: {exc}") from None


CLI_CODECS = [
    CliCodec("zmtp-greeting", "ZMTP 3.x 64-byte greeting (RFC 23/37)",
             decode_greeting_json, encode_greeting_json),
    CliCodec("zmtp-frame", "ZMTP 3.x frame stream: messages and commands (RFC 23/37)",
             decode_frames_json, encode_frames_json),
]
