"""Golden vectors for ZMTP 3.x: greetings, frames and commands, handshake transcripts (spec/zmtp.md).

Valid cases are produced by zre_ref's encoder and decoder and checked against each other here;
cases marked "libzmq 4.3.5 (captured)" carry bytes seen on the wire from libzmq
(spec/deviations.md#zmtp, tests/interop/test_interop_zmtp.py) and the generator fails if zre_ref does not reproduce them.
"""

from __future__ import annotations

from typing import Any

from zre_ref.errors import DecodeError
from zre_ref.vectorgen import SCHEMA, acceptable
from zre_ref.zmtp.connection import Connection
from zre_ref.zmtp.jsonform import (
    decode_frames_json,
    decode_greeting_json,
    encode_frames_json,
    encode_greeting_json,
)
from zre_ref.zmtp.mechanisms import Mechanism, PlainClient, PlainServer

OURS = ["zre-ref"]
LIBZMQ = ["libzmq 4.3.5 (captured)", "zre-ref"]
SPEC = "spec/zmtp.md"


def _h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _ascii(text: str) -> str:
    return text.encode("ascii").hex()


def _case(cid: str, anchor: str, description: str, *, level: str = "MUST",
          source: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    case: dict[str, Any] = {"id": cid, "spec": f"{SPEC}#{anchor}", "level": level,
                            "result": extra.pop("result", "valid"), "source": source or OURS,
                            "description": description}
    case.update(extra)
    return case


def _valid(decode: Any, encode: Any, cid: str, anchor: str, description: str, data: bytes,
           **kw: Any) -> dict[str, Any]:
    fields = decode([data])
    if kw.get("result") == "acceptable":
        error, zre_ref = kw.pop("error"), kw.pop("zre_ref")
        return acceptable(_case(cid, anchor, description, hex=data.hex(), **kw), fields=fields,
                          error=error, zre_ref=zre_ref)
    again = encode(fields)
    if again != [data]:
        raise SystemExit(f"{cid}: encoder gives {again[0].hex()}, expected {data.hex()}")
    return _case(cid, anchor, description, hex=data.hex(), fields=fields, **kw)


def _invalid(decode: Any, cid: str, anchor: str, description: str, data: bytes,
             code: str, field: str, offset: int, **kw: Any) -> dict[str, Any]:
    try:
        got = decode([data])
    except DecodeError as exc:
        err = {"error": exc.code, "field": exc.field, "offset": exc.offset}
        want = {"error": code, "field": field, "offset": offset}
        if err != want:
            raise SystemExit(f"{cid}: decoder says {err}, vector wants {want}") from None
        return _case(cid, anchor, description, result="invalid", hex=data.hex(), error=want, **kw)
    raise SystemExit(f"{cid}: decoded as {got}, expected an error")


# -- greetings --------------------------------------------------------------------------------
def _greeting(minor: int = 1, mech: str = "NULL", as_server: int = 0, pad: str = "00" * 7 + "01",
              major: int = 3) -> bytes:
    return (b"\xff" + _h(pad) + b"\x7f" + bytes((major, minor)) + mech.encode().ljust(20, b"\0")
            + bytes((as_server,)) + bytes(31))


def greeting_cases() -> list[dict[str, Any]]:
    v, d = decode_greeting_json, encode_greeting_json
    return [
        _valid(v, d, "zmtp.greeting.null-3-1", "greeting",
               "ZMTP 3.1 NULL greeting as libzmq sends it (padding = identity length + 1 = 1)",
               _greeting(), source=LIBZMQ),
        _valid(v, d, "zmtp.greeting.null-3-1-identity17", "greeting",
               "libzmq DEALER with a 17-byte (zyre) identity: padding 0x12",
               _greeting(pad="00" * 7 + "12"), source=LIBZMQ),
        _valid(v, d, "zmtp.greeting.null-3-0", "greeting",
               "a ZMTP 3.0 peer (minor 0): subscriptions travel as 0x01/0x00 messages",
               _greeting(minor=0)),
        _valid(v, d, "zmtp.greeting.plain-client", "greeting", "PLAIN, as-server 0",
               _greeting(mech="PLAIN")),
        _valid(v, d, "zmtp.greeting.plain-as-server", "greeting",
               "PLAIN with as-server 1 (RFC 24 server; libzmq always sends 0 and ignores it)",
               _greeting(mech="PLAIN", as_server=1)),
        _valid(v, d, "zmtp.greeting.zero-padding", "greeting",
               "padding is ignored: all zeros is fine", _greeting(pad="00" * 8)),
        _valid(v, d, "zmtp.greeting.major-4", "staging",
               "a future major version: libzmq treats any major >= 3 as 3.x", _greeting(major=4),
               level="SHOULD"),
        _invalid(v, "zmtp.greeting.bad-first-byte", "greeting",
                 "first byte is not 0xff (ZMTP 1.0 or not ZMTP at all)",
                 b"\x00" + _greeting()[1:], "bad-signature", "signature", 0),
        _invalid(v, "zmtp.greeting.unversioned", "staging",
                 "byte 9 bit 0 clear: an unversioned ZMTP 1.0 peer (not supported)",
                 _greeting()[:9] + b"\x7e" + _greeting()[10:], "bad-signature", "signature", 0),
        _invalid(v, "zmtp.greeting.major-2", "staging",
                 "major version 2 (libzmq would fall back; we speak 3.x only)",
                 _greeting(major=2), "bad-version", "major", 10),
        _invalid(v, "zmtp.greeting.partial-10", "staging",
                 "only the 10-byte signature: what libzmq sends first", _greeting()[:10],
                 "truncated", "major", 10),
        _invalid(v, "zmtp.greeting.partial-11", "staging",
                 "signature + major: libzmq's second stage", _greeting()[:11],
                 "truncated", "minor", 11),
        _invalid(v, "zmtp.greeting.bad-mechanism", "greeting",
                 "mechanism not upper-case ASCII padded with NULs",
                 _greeting(mech="null"), "bad-value", "mechanism", 12),
        _invalid(v, "zmtp.greeting.bad-as-server", "greeting", "as-server must be 0 or 1",
                 _greeting(as_server=2), "bad-value", "as_server", 32),
        _invalid(v, "zmtp.greeting.trailing", "greeting", "a byte after the 64-byte greeting",
                 _greeting() + b"\x00", "trailing-bytes", "end", 64),
    ]


# -- frames and commands ----------------------------------------------------------------------
def _cmd(name: str, data: bytes = b"") -> bytes:
    body = bytes((len(name),)) + name.encode() + data
    return (bytes((0x04, len(body))) if len(body) < 256 else b"\x06" + len(body).to_bytes(8, "big")) + body


def _prop(name: str, value: bytes) -> bytes:
    return bytes((len(name),)) + name.encode() + len(value).to_bytes(4, "big") + value


def frame_cases() -> list[dict[str, Any]]:
    v, e = decode_frames_json, encode_frames_json
    ident = bytes([1]) + bytes(range(16))
    return [
        _valid(v, e, "zmtp.frame.short", "frames", "one short frame, last", _h("00 02 68 69")),
        _valid(v, e, "zmtp.frame.empty", "frames", "a 0-byte frame", _h("00 00")),
        _valid(v, e, "zmtp.frame.more", "frames",
               'DEALER sending ["A", ""]: MORE then a 0-byte last frame', _h("01 01 41 00 00"),
               source=LIBZMQ),
        _valid(v, e, "zmtp.frame.long-300", "frames", "a 300-byte frame uses LONG and a u64 size",
               b"\x02" + (300).to_bytes(8, "big") + b"x" * 300),
        _valid(v, e, "zmtp.frame.long-more", "frames", "LONG + MORE, then a short last frame",
               b"\x03" + (256).to_bytes(8, "big") + b"y" * 256 + _h("00 01 7a")),
        _valid(v, e, "zmtp.frame.long-small", "frames",
               "LONG with a size under 256 is accepted (libzmq never sends it)",
               b"\x02" + (3).to_bytes(8, "big") + b"abc", level="MAY"),
        _valid(v, e, "zmtp.frame.255", "frames", "255 bytes still fit the 1-byte size",
               b"\x00\xff" + b"z" * 255),
        _valid(v, e, "zmtp.command.ready-dealer", "null",
               "READY from a libzmq DEALER with identity 01 00..0F",
               _cmd("READY", _prop("Socket-Type", b"DEALER") + _prop("Identity", ident)),
               source=LIBZMQ),
        _valid(v, e, "zmtp.command.ready-router", "null",
               "READY from a libzmq ROUTER: an empty Identity",
               _cmd("READY", _prop("Socket-Type", b"ROUTER") + _prop("Identity", b"")),
               source=LIBZMQ),
        _valid(v, e, "zmtp.command.ready-sub", "null", "READY from a libzmq SUB: no Identity",
               _cmd("READY", _prop("Socket-Type", b"SUB")), source=LIBZMQ),
        _valid(v, e, "zmtp.command.ready-extra", "metadata", "READY with an application property",
               _cmd("READY", _prop("Socket-Type", b"DEALER") + _prop("Identity", b"")
                    + _prop("X-Hello", b"world"))),
        _valid(v, e, "zmtp.command.error", "error", "ERROR with a ZAP status reason",
               _cmd("ERROR", b"\x03400")),
        _valid(v, e, "zmtp.command.hello", "plain", "PLAIN HELLO user 'u' password 'pw'",
               _h("04 0B 05 48 45 4C 4C 4F 01 75 02 70 77"), source=LIBZMQ),
        _valid(v, e, "zmtp.command.welcome", "plain", "PLAIN WELCOME (no data)", _cmd("WELCOME")),
        _valid(v, e, "zmtp.command.initiate", "plain", "PLAIN INITIATE from a libzmq DEALER",
               _cmd("INITIATE", _prop("Socket-Type", b"DEALER") + _prop("Identity", b"")),
               source=LIBZMQ),
        _valid(v, e, "zmtp.command.ping", "heartbeats",
               "PING ttl 25 ds (ZMQ_HEARTBEAT_TTL 2500 ms), no context",
               _h("04 07 04 50 49 4E 47 00 19"), source=LIBZMQ),
        _valid(v, e, "zmtp.command.ping-context", "heartbeats", "PING with a 6-byte context",
               _cmd("PING", b"\x00\x00ctx123")),
        _valid(v, e, "zmtp.command.pong", "heartbeats", "PONG echoing 'ctx123'",
               _cmd("PONG", b"ctx123"), source=LIBZMQ),
        _valid(v, e, "zmtp.command.subscribe", "subscriptions", "3.1 SUBSCRIBE 'AB'",
               _h("04 0C 09") + b"SUBSCRIBE" + b"AB", source=LIBZMQ),
        _valid(v, e, "zmtp.command.cancel", "subscriptions", "3.1 CANCEL 'AB'",
               _h("04 09 06") + b"CANCEL" + b"AB", source=LIBZMQ),
        _valid(v, e, "zmtp.command.subscribe-all", "subscriptions", "SUBSCRIBE to everything",
               _cmd("SUBSCRIBE")),
        _valid(v, e, "zmtp.message.subscribe-3-0", "subscriptions",
               "3.0 subscription: a message whose first byte is 0x01", _h("00 03 01 41 42"),
               source=LIBZMQ),
        _valid(v, e, "zmtp.message.cancel-3-0", "subscriptions",
               "3.0 unsubscription: first byte 0x00", _h("00 03 00 41 42"), source=LIBZMQ),
        _valid(v, e, "zmtp.command.subscribe-long", "subscriptions",
               "a 255-byte topic on 3.1: LONG command (libzmq's 3.0 path gets this wrong)",
               _cmd("SUBSCRIBE", b"t" * 255), source=LIBZMQ),
        _valid(v, e, "zmtp.command.unknown", "commands", "an unknown command is well-formed",
               _cmd("X-FOO", b"\x01\x02"), level="SHOULD"),
        _valid(v, e, "zmtp.command.ping-long-context", "heartbeats",
               "a PING context over 16 bytes: tolerated; PONG echoes the first 16 (libzmq)",
               _cmd("PING", b"\x00\x00" + b"c" * 20), result="acceptable",
               flags=["context-over-16"], level="MAY",
               error={"error": "bad-value", "field": "context", "offset": 9}, zre_ref="accepts"),
        _invalid(v, "zmtp.frame.reserved-bits", "frames", "flags 0x08: a reserved bit set",
                 _h("08 01 41"), "bad-value", "flags", 0),
        _invalid(v, "zmtp.frame.more-command", "frames", "MORE on a command frame",
                 _h("05 01 41"), "bad-value", "flags", 0),
        _invalid(v, "zmtp.frame.size-2-63", "limits", "a LONG frame declaring 2^63 bytes",
                 _h("02 80 00 00 00 00 00 00 00"), "length-overflow", "body", 1),
        _invalid(v, "zmtp.frame.oversize", "frames",
                 "a LONG frame declaring 2^40 bytes with 1 present", _h("02 00 00 01 00 00 00 00 00 41"),
                 "length-overflow", "body", 1),
        _invalid(v, "zmtp.frame.truncated-body", "frames", "size 5, 2 bytes present",
                 _h("00 05 41 42"), "length-overflow", "body", 1),
        _invalid(v, "zmtp.frame.truncated-header", "frames", "a LONG header cut after 4 bytes",
                 _h("02 00 00 00"), "truncated", "size", 1),
        _invalid(v, "zmtp.command.truncated-name", "commands",
                 "command name length 5, only 'RE' follows", _h("04 03 05 52 45"),
                 "length-overflow", "name", 2),
        _invalid(v, "zmtp.command.empty-name", "commands", "command name length 0",
                 _h("04 01 00"), "bad-value", "name", 2),
        _invalid(v, "zmtp.command.bad-property-length", "metadata",
                 "READY property value declares 0x100 bytes, 6 present",
                 _cmd("READY", b"\x0bSocket-Type\x00\x00\x01\x00DEALER"),
                 "length-overflow", "properties[0].value", 20),
        _invalid(v, "zmtp.command.truncated-property", "metadata",
                 "READY property value length cut to 2 bytes",
                 _cmd("READY", b"\x0bSocket-Type\x00\x00"), "truncated", "properties[0].value", 20),
        _invalid(v, "zmtp.command.bad-property-name", "metadata",
                 "a property name with a space", _cmd("READY", _prop("Socket Type", b"SUB")),
                 "bad-value", "properties[0].key", 8),
        _invalid(v, "zmtp.command.empty-property-name", "metadata", "a 0-length property name",
                 _cmd("READY", b"\x00\x00\x00\x00\x00"), "bad-value", "properties[0].key", 8),
        _invalid(v, "zmtp.command.ping-no-ttl", "heartbeats", "PING with 1 byte of ttl",
                 _cmd("PING", b"\x00"), "truncated", "ttl", 7),
        _invalid(v, "zmtp.command.welcome-data", "plain",
                 "WELCOME with data (libzmq requires exactly 8 bytes)", _cmd("WELCOME", b"\x00"),
                 "trailing-bytes", "end", 10),
        _invalid(v, "zmtp.command.error-overflow", "error",
                 "ERROR reason length 9, 3 bytes present", _cmd("ERROR", b"\x09400"),
                 "length-overflow", "reason", 8),
        _invalid(v, "zmtp.command.hello-trailing", "plain", "HELLO with a byte after the password",
                 _cmd("HELLO", b"\x01u\x02pw\x00"), "trailing-bytes", "end", 13),
    ]


# -- handshake transcripts ---------------------------------------------------------------------
def _mech_json(m: Mechanism) -> dict[str, Any]:
    if isinstance(m, PlainClient):
        return {"mechanism": "PLAIN", "role": "client", "username": m.username.hex(),
                "password": m.password.hex()}
    if isinstance(m, PlainServer):
        return {"mechanism": "PLAIN", "role": "server", "accept": [["75", "7077"]]}
    return {"mechanism": "NULL"}


def transcript(a: Connection, b: Connection, names: tuple[str, str] = ("client", "server"),
               messages: list[tuple[int, list[bytes]]] | None = None) -> list[dict[str, Any]]:
    """Run two connections against each other; record every chunk each one sends, in order."""
    steps: list[dict[str, Any]] = []
    conns = (a, b)
    pending = list(messages or [])
    for _ in range(50):
        moved = False
        for i in (0, 1):
            data = conns[i].data_to_send()
            if data:
                steps.append({"from": names[i], "hex": data.hex()})
                conns[1 - i].receive_data(data)
                moved = True
        if not moved:
            if pending and a.is_open and b.is_open:
                who, frames = pending.pop(0)
                conns[who].send_message(frames)
                continue
            break
    return steps


def transcript_cases() -> list[dict[str, Any]]:
    def accept(u: bytes, p: bytes) -> bool:
        return (u, p) == (b"u", b"pw")

    cases = []
    runs: list[tuple[str, str, Any, Any, str, list[tuple[int, list[bytes]]]]] = [
        ("zmtp.handshake.null-dealer-router", "null",
         (Connection("DEALER", identity=b"\x01abc"), {"socket_type": "DEALER", "identity": "01616263"}),
         (Connection("ROUTER"), {"socket_type": "ROUTER", "identity": ""}),
         "NULL: DEALER (identity 01 'abc') connects to ROUTER; staged greeting, READY both ways, "
         "then one message each way",
         [(0, [b"hello", b""]), (1, [b"world"])]),
        ("zmtp.handshake.null-sub-pub", "subscriptions",
         (Connection("SUB"), {"socket_type": "SUB"}),
         (Connection("PUB"), {"socket_type": "PUB"}),
         "NULL: SUB connects to PUB; READY both ways (no Identity for PUB/SUB)", []),
        ("zmtp.handshake.plain", "plain",
         (Connection("DEALER", mechanism=PlainClient(b"u", b"pw")),
          {"socket_type": "DEALER", "identity": ""}),
         (Connection("ROUTER", mechanism=PlainServer(accept)),
          {"socket_type": "ROUTER", "identity": ""}),
         "PLAIN: HELLO u/pw, WELCOME, INITIATE, READY", [(0, [b"hi"])]),
        ("zmtp.handshake.plain-refused", "plain",
         (Connection("DEALER", mechanism=PlainClient(b"u", b"bad")),
          {"socket_type": "DEALER", "identity": ""}),
         (Connection("ROUTER", mechanism=PlainServer(accept)),
          {"socket_type": "ROUTER", "identity": ""}),
         "PLAIN: wrong password; the server sends ERROR \"400\" and closes", []),
        ("zmtp.handshake.type-mismatch", "socket-types",
         (Connection("DEALER"), {"socket_type": "DEALER", "identity": ""}),
         (Connection("PUB"), {"socket_type": "PUB"}),
         "DEALER meets PUB: both close after READY, no ERROR (libzmq's behaviour)", []),
    ]
    for cid, anchor, (ca, ja), (cb, jb), desc, msgs in runs:
        ja.update(_mech_json(ca.mechanism))
        jb.update(_mech_json(cb.mechanism))
        steps = transcript(ca, cb, messages=msgs)
        cases.append(_case(cid, anchor, desc, kind="transcript", steps=steps,
                           input={"client": ja, "server": jb,
                                  "messages": [{"from": ("client", "server")[w],
                                                "frames": [f.hex() for f in fr]} for w, fr in msgs]},
                           output={"client": ca.closed_event.code if ca.closed_event else "open",
                                   "server": cb.closed_event.code if cb.closed_event else "open"}))
    # libzmq's own order, as captured: signature first, major after our signature
    cases.append(_case(
        "zmtp.handshake.libzmq-staging", "staging",
        "what a libzmq 4.3.5 DEALER (no identity) sends to a peer that sends its greeting in "
        "stages: 10 bytes at once, the major byte after our 10 bytes, the rest after our byte 10",
        kind="transcript", source=["libzmq 4.3.5 (captured)"],
        steps=[{"from": "libzmq", "hex": "ff00000000000000017f", "note": "on connect"},
               {"from": "peer", "hex": "ff00000000000000017f"},
               {"from": "libzmq", "hex": "03", "note": "after the peer's 10 bytes"},
               {"from": "peer", "hex": "03"},
               {"from": "libzmq", "hex": _greeting()[11:].hex(),
                "note": "after the peer's byte 10"}],
    ))
    return cases


def files() -> dict[str, dict[str, Any]]:
    def doc(protocol: str, description: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
        return {"schema": SCHEMA, "protocol": protocol, "description": description,
                "spec": "spec/zmtp.md", "cases": cases}

    return {
        "zmtp/greeting.json": doc("zmtp-greeting", "ZMTP 3.x greetings (64 bytes; hex = the greeting)",
                                  greeting_cases()),
        "zmtp/frames.json": doc("zmtp-frame", "ZMTP 3.x frames and commands (hex = a byte stream)",
                                frame_cases()),
        "zmtp/handshake.json": doc(
            "zmtp-handshake",
            "ZMTP handshake transcripts: each step is one chunk of bytes one side sends, in order. "
            "input.client/server give each side's socket type, identity and mechanism; "
            "a side that closed is named in output.",
            transcript_cases()),
    }
