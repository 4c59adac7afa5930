"""Golden vectors for ZRE v2 messages, the UDP beacon and a two-peer session (spec/zre.md).

Run through ``python vectors/generate.py``. Bytes come from zre_ref's encoder; the captured zyre
bytes (spec/deviations.md#evidence) are written here literally and the generator refuses to run if our encoder
disagrees with them. Ids are stable: never renumber or reuse one (vectors/ids.lock).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zre_ref.errors import DecodeError
from zre_ref.vectorgen import SCHEMA, acceptable, error_json
from zre_ref.zre.beacon import Beacon, beacon_to_json, decode_beacon, encode_beacon
from zre_ref.zre.messages import (
    ZRE,
    Elect,
    Goodbye,
    Hello,
    Join,
    Leader,
    Leave,
    Ping,
    PingOk,
    Shout,
    Whisper,
    ZreMessage,
    decode,
    encode,
    encode_identity,
)

SPEC = "spec/zre.md"
ZRE_REF = "zre-ref"
ZYRE_CAPTURED = "zyre 2.0.1 captured on loopback (spec/deviations.md#evidence)"
PYRE = "pyre 0.3.4 ZreMsg agrees (tox -e interop)"
PYRE_DECODES = "pyre 0.3.4 ZreMsg decodes to the same fields (tox -e interop)"
ZYREJS = "zyre.js 1.3.0 ZreMsg agrees (tox -e interop)"
ZYREJS_REFUSES = "zyre.js 1.3.0 ZreMsg refuses it too (tox -e interop)"
PYRE_BEACON = "pyre 0.3.4 PyreNode.recv_beacon agrees (tox -e interop)"

# Deviation flags (explained in spec/deviations.md, asserted in tests/interop/test_interop_pyre_codec.py)
F_NON_ASCII = "pyre-deviates:non-ascii-length"
F_UNKNOWN_ID = "pyre-deviates:unknown-id"
F_EXTENSION = "extension:zyre"
F_CURVE_BEACON = "pyre-deviates:beacon-size"
F_SEQ_WRAP = "pyre-deviates:sequence-wrap"
F_LENIENT = "lenient-decoders-accept"
F_JS_UNKNOWN_ID = "zyrejs-deviates:unknown-id"
F_JS_HELLO_SEQ = "zyrejs-deviates:hello-sequence"
F_JS_ONE_FRAME = "zyrejs-deviates:one-content-frame"
F_JS_LENIENT = "zyrejs-deviates:lenient-strings"
F_ZYRE_ONE_FRAME = "zyre-sends-at-least-one-content-frame"

# zyre's HELLO (endpoint tcp://127.0.0.1:45001, group GRP, status 1, name "zy", X-HELLO=World),
# byte for byte as captured (spec/deviations.md#evidence).
CAPTURED_HELLO = (
    "aaa1010200 01"
    "15" + b"tcp://127.0.0.1:45001".hex() +
    "00000001" "00000003" + b"GRP".hex() +
    "01"
    "02" + b"zy".hex() +
    "00000001" "07" + b"X-HELLO".hex() + "00000005" + b"World".hex()
).replace(" ", "")
CAPTURED_WHISPER = ["aaa102020002", b"pong".hex()]
CAPTURED_PING = ["aaa106020003"]
CAPTURED_GOODBYE = ["aaa10a020005"]

UUID_A = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
UUID_B = bytes.fromhex("FFEEDDCCBBAA99887766554433221100")
UUID_SEQ = bytes(range(16))
KEY = bytes.fromhex("8e0bdd697628b91d8f245587ee95c5b04d48963f79259877b49cd9063aeead3b")


def _case(cid: str, description: str, anchor: str, *, level: str = "MUST",
          result: str = "valid", source: Sequence[str] = (ZRE_REF,),
          flags: Sequence[str] = (), **rest: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": cid, "description": description, "spec": f"{SPEC}#{anchor}",
                           "level": level, "result": result}
    if flags:
        out["flags"] = list(flags)
    out["source"] = list(source)
    out.update(rest)
    return out


def _anchor(msg: ZreMessage) -> str:
    return ZRE.spec_of(msg).anchor.split("#", 1)[1]


# ------------------------------------------------------------------------------------------------
# valid messages
# ------------------------------------------------------------------------------------------------
def _msg(cid: str, description: str, msg: ZreMessage, *, flags: Sequence[str] = (),
         source: Sequence[str] | None = None, captured: Sequence[str] | None = None,
         level: str | None = None) -> dict[str, Any]:
    flags = [*flags, *_zyrejs_flags(msg)]
    frames = encode(msg)
    if captured is not None and [f.hex() for f in frames] != list(captured):
        raise SystemExit(f"{cid}: our encoder disagrees with the captured bytes")
    if decode(frames) != msg:
        raise SystemExit(f"{cid}: does not round-trip")
    ms = ZRE.spec_of(msg)
    if source is None:
        source = [ZRE_REF, PYRE_DECODES if any(f.startswith("pyre-deviates") for f in flags)
                  else PYRE]
    if not any(f.startswith("zyrejs-deviates") for f in flags):
        source = [*source, ZYREJS]
    return _case(cid, description, _anchor(msg),
                 level=level or ("SHOULD" if ms.extension else "MUST"), flags=flags,
                 source=source, frames=[f.hex() for f in frames], fields=ZRE.to_json(msg))


def _zyrejs_flags(msg: ZreMessage) -> list[str]:
    """Where zyre.js 1.3.0 differs (spec/deviations.md#zyre-js), by rule; checked under interop."""
    if ZRE.spec_of(msg).extension:
        return [F_JS_UNKNOWN_ID]
    if isinstance(msg, Hello) and msg.sequence != 1:
        return [F_JS_HELLO_SEQ]
    if isinstance(msg, (Whisper, Shout)) and len(msg.content) != 1:
        return [F_JS_ONE_FRAME]
    return []


def _zyrejs_lenient(frames: Sequence[bytes], exc: DecodeError) -> bool:
    """zyre.js reads strings without bounds or UTF-8 checks: it accepts a bad string when
    nothing after it has to be read (spec/deviations.md#zyre-js)."""
    if exc.code not in ("invalid-utf8", "length-overflow") or not frames or len(frames[0]) < 3:
        return False
    ms = ZRE.by_id.get(frames[0][2])
    if ms is None or ms.extension:
        return False
    if exc.code == "invalid-utf8":
        return True
    last = ms.fields[-1].name
    return exc.field == last != "headers" or (
        last == "headers" and exc.field.startswith("headers[") and not exc.field.endswith(".key"))


def _ext(flags: Sequence[str] = ()) -> list[str]:
    return [F_EXTENSION, F_UNKNOWN_ID, *flags]


def message_cases() -> list[dict[str, Any]]:
    s255 = "x" * 255
    ep = "tcp://192.168.1.23:41655"
    many_groups = tuple(f"group-{i:02d}" for i in range(20))
    many_headers = {f"X-HEADER-{i:02d}": f"value {i}" for i in range(12)}
    cases = [
        # -- HELLO ---------------------------------------------------------------------------
        _msg("zre.hello.zyre-captured", "HELLO as zyre sends it: one group, one header, "
             "status 1, sequence 1", decode([bytes.fromhex(CAPTURED_HELLO)]),
             captured=[CAPTURED_HELLO], source=[ZYRE_CAPTURED, ZRE_REF, PYRE]),
        _msg("zre.hello.minimal", "HELLO with no groups and no headers, empty name",
             Hello(sequence=1, endpoint="tcp://127.0.0.1:49152")),
        _msg("zre.hello.empty-strings", "HELLO whose endpoint and name are empty strings "
             "(length byte 0)", Hello(sequence=1)),
        _msg("zre.hello.two-groups", "HELLO listing two groups (groups are longstr: 4-byte "
             "lengths)", Hello(sequence=1, endpoint=ep, groups=("GLOBAL", "chat"), status=2,
                               name="node-a")),
        _msg("zre.hello.many-groups", "HELLO listing 20 groups",
             Hello(sequence=1, endpoint=ep, groups=many_groups, status=20, name="busy")),
        _msg("zre.hello.many-headers", "HELLO with 12 headers (key string, value longstr), "
             "in wire order", Hello(sequence=1, endpoint=ep, name="hdrs", headers=many_headers)),
        _msg("zre.hello.empty-header", "HELLO with an empty header key and an empty value",
             Hello(sequence=1, endpoint=ep, name="e", headers={"": "", "X-EMPTY": ""})),
        _msg("zre.hello.string-255", "HELLO whose endpoint and name are 255 bytes, the most a "
             "string holds", Hello(sequence=1, endpoint=s255, name=s255)),
        _msg("zre.hello.group-300-bytes", "HELLO listing a 300-byte group name: fine here "
             "(longstr), though no JOIN or SHOUT can carry it (string)",
             Hello(sequence=1, endpoint=ep, groups=("g" * 300,), status=1, name="long")),
        _msg("zre.hello.non-ascii", "HELLO with non-ASCII UTF-8 in name, group, header key "
             "and value: lengths count bytes",
             Hello(sequence=1, endpoint=ep, groups=("grü", "日本"), status=2, name="Grüße",
                   headers={"clé": "välue ✓"}), flags=[F_NON_ASCII]),
        _msg("zre.hello.status-255", "HELLO with status 255 and sequence 65535",
             Hello(sequence=65535, endpoint=ep, status=255, name="max")),
        _msg("zre.hello.sequence-0", "HELLO with sequence 0 and status 0 (decoders do not "
             "judge sequence numbers; the peer state does)", Hello(sequence=0, endpoint=ep)),
        _msg("zre.hello.ipv6-endpoint", "HELLO advertising an IPv6 endpoint",
             Hello(sequence=1, endpoint="tcp://[fe80::1]:49152", name="v6")),
        # -- WHISPER -------------------------------------------------------------------------
        _msg("zre.whisper.zyre-captured", "WHISPER as zyre sends it: one content frame 'pong'",
             Whisper(sequence=2, content=(b"pong",)), captured=CAPTURED_WHISPER,
             source=[ZYRE_CAPTURED, ZRE_REF, PYRE]),
        _msg("zre.whisper.empty-frame", "WHISPER with one empty content frame (what zyre "
             "sends for no content)", Whisper(sequence=1, content=(b"",))),
        _msg("zre.whisper.no-content", "WHISPER with no content frame at all (RFC 36 allows "
             "0..n; zyre never sends it)", Whisper(sequence=1), flags=[F_ZYRE_ONE_FRAME]),
        _msg("zre.whisper.multi-frame", "WHISPER with three content frames, the middle one "
             "empty", Whisper(sequence=7, content=(b"part 1", b"", b"part 3"))),
        _msg("zre.whisper.binary", "WHISPER with a frame holding every byte value 00..ff",
             Whisper(sequence=3, content=(bytes(range(256)),))),
        _msg("zre.whisper.sequence-0", "WHISPER with sequence 0 (after 65535)",
             Whisper(sequence=0, content=(b"wrapped",))),
        _msg("zre.whisper.sequence-65535", "WHISPER with sequence 65535",
             Whisper(sequence=65535, content=(b"last",))),
        # -- SHOUT ---------------------------------------------------------------------------
        _msg("zre.shout.one-frame", "SHOUT to group GLOBAL with one frame",
             Shout(sequence=3, group="GLOBAL", content=(b"Hello, World",))),
        _msg("zre.shout.multi-frame", "SHOUT with four content frames",
             Shout(sequence=4, group="chat", content=(b"a", b"bb", b"", b"dddd"))),
        _msg("zre.shout.empty-frame", "SHOUT with one empty content frame",
             Shout(sequence=1, group="chat", content=(b"",))),
        _msg("zre.shout.no-content", "SHOUT with no content frame", Shout(sequence=1,
             group="chat"), flags=[F_ZYRE_ONE_FRAME]),
        _msg("zre.shout.empty-group", "SHOUT to the empty group name",
             Shout(sequence=1, group="", content=(b"x",))),
        _msg("zre.shout.group-255", "SHOUT to a 255-byte group name (string: 1-byte length)",
             Shout(sequence=1, group=s255, content=(b"x",))),
        _msg("zre.shout.non-ascii", "SHOUT to a non-ASCII group: the length byte counts "
             "UTF-8 bytes (6 for 'grüße')", Shout(sequence=5, group="grüße",
                                                  content=("привет".encode(),)),
             flags=[F_NON_ASCII]),
        # -- JOIN / LEAVE --------------------------------------------------------------------
        _msg("zre.join.basic", "JOIN group chat, status 1 after the change",
             Join(sequence=2, group="chat", status=1)),
        _msg("zre.join.status-0", "JOIN whose status wrapped from 255 to 0",
             Join(sequence=9, group="chat", status=0)),
        _msg("zre.join.status-255", "JOIN with status 255", Join(sequence=1, group="chat",
                                                                 status=255)),
        _msg("zre.join.group-255", "JOIN a 255-byte group name", Join(sequence=1, group=s255,
                                                                    status=1)),
        _msg("zre.join.empty-group", "JOIN the empty group name", Join(sequence=1, group="",
                                                                     status=1)),
        _msg("zre.join.non-ascii", "JOIN a non-ASCII group", Join(sequence=2, group="日本",
                                                                 status=1),
             flags=[F_NON_ASCII]),
        _msg("zre.leave.basic", "LEAVE group chat, status 2 after the change",
             Leave(sequence=3, group="chat", status=2)),
        _msg("zre.leave.status-0", "LEAVE whose status wrapped to 0",
             Leave(sequence=65535, group="chat", status=0)),
        _msg("zre.leave.status-255", "LEAVE with status 255", Leave(sequence=1, group="g",
                                                                   status=255)),
        _msg("zre.leave.non-ascii", "LEAVE a non-ASCII group", Leave(sequence=4, group="grü",
                                                                    status=3),
             flags=[F_NON_ASCII]),
        # -- PING / PING-OK ------------------------------------------------------------------
        _msg("zre.ping.zyre-captured", "PING as zyre sends it, sequence 3", Ping(sequence=3),
             captured=CAPTURED_PING, source=[ZYRE_CAPTURED, ZRE_REF, PYRE]),
        _msg("zre.ping.sequence-0", "PING with sequence 0", Ping(sequence=0)),
        _msg("zre.ping.sequence-1", "PING with sequence 1", Ping(sequence=1)),
        _msg("zre.ping.sequence-65535", "PING with sequence 65535", Ping(sequence=65535)),
        _msg("zre.ping-ok.sequence-0", "PING-OK with sequence 0", PingOk(sequence=0)),
        _msg("zre.ping-ok.sequence-1", "PING-OK with sequence 1", PingOk(sequence=1)),
        _msg("zre.ping-ok.sequence-65535", "PING-OK with sequence 65535", PingOk(sequence=65535)),
        # -- zyre extensions -----------------------------------------------------------------
        _msg("zre.elect.basic", "ELECT (zyre extension): challenger's UUID as 32 upper-case hex",
             Elect(sequence=4, group="chat", challenger_id=UUID_A.hex().upper()),
             flags=_ext()),
        _msg("zre.elect.empty-group", "ELECT in the empty group",
             Elect(sequence=1, group="", challenger_id=UUID_B.hex().upper()), flags=_ext()),
        _msg("zre.leader.basic", "LEADER (zyre extension): the elected leader's UUID",
             Leader(sequence=5, group="chat", leader_id=UUID_A.hex().upper()), flags=_ext()),
        _msg("zre.goodbye.zyre-captured", "GOODBYE (zyre extension, gossip mode) as zyre "
             "sends it", Goodbye(sequence=5), captured=CAPTURED_GOODBYE,
             source=[ZYRE_CAPTURED, ZRE_REF, PYRE_DECODES], flags=_ext()),
        _msg("zre.goodbye.sequence-65535", "GOODBYE with sequence 65535", Goodbye(sequence=65535),
             flags=_ext()),
    ]
    return cases


# ------------------------------------------------------------------------------------------------
# invalid messages
# ------------------------------------------------------------------------------------------------
def _bad(cid: str, description: str, frames: Sequence[bytes], want: str, anchor: str, *,
         level: str = "MUST", flags: Sequence[str] = (), result: str = "invalid",
         decoder: Callable[[Sequence[bytes]], Any] = decode) -> dict[str, Any]:
    try:
        got = decoder(list(frames))
    except DecodeError as exc:
        if exc.code != want:
            raise SystemExit(f"{cid}: expected {want}, got {exc.code}: {exc}") from None
        source = [ZRE_REF]
        if decoder is decode and _zyrejs_lenient(frames, exc):
            flags = [*flags, F_JS_LENIENT]
        elif decoder is decode and F_LENIENT not in flags and frames:
            source.append(ZYREJS_REFUSES)
        return _case(cid, description, anchor, level=level, result=result, flags=flags,
                     source=source,
                     frames=[f.hex() for f in frames], error=error_json(exc))
    raise SystemExit(f"{cid}: decoded as {got!r}")


def _cuts(cid_prefix: str, what: str, frames: list[bytes], anchor: str,
          flags: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Cut the data frame short at every length; keep the first and the last cut that meets each
    (error, field) pair, so every field is covered at its start and, where longer, mid-field."""
    data, rest = frames[0], frames[1:]
    groups: dict[tuple[str, str], list[int]] = {}
    for cut in range(len(data)):
        try:
            decode([data[:cut], *rest])
        except DecodeError as exc:
            groups.setdefault((exc.code, exc.field), []).append(cut)
        else:
            raise SystemExit(f"{cid_prefix}: a {cut}-byte prefix decoded")
    out = []
    for (code, field), cuts in groups.items():
        for cut in sorted({cuts[0], cuts[-1]}):
            out.append(_bad(f"{cid_prefix}-{cut}", f"{what} cut to {cut} bytes: {field} "
                            f"({code})", [data[:cut], *rest], code, anchor, flags=flags,
                            level="SHOULD" if flags else "MUST"))
    return out


def invalid_cases() -> list[dict[str, Any]]:
    ping = bytes.fromhex("aaa106020003")
    hello = bytes.fromhex(CAPTURED_HELLO)
    ep = b"tcp://127.0.0.1:49152"

    def hello_raw(endpoint: bytes = ep, groups: bytes = b"\x00\x00\x00\x00", status: bytes = b"\x01",
                  name: bytes = b"\x01n", headers: bytes = b"\x00\x00\x00\x00") -> bytes:
        return (b"\xaa\xa1\x01\x02\x00\x01" + bytes((len(endpoint),)) + endpoint + groups + status
                + name + headers)

    cases = [
        # -- signature -----------------------------------------------------------------------
        _bad("zre.invalid.signature.zpipes", "PING with ZPIPES's signature AA A0",
             [bytes.fromhex("aaa006020003")], "bad-signature", "message-layout"),
        _bad("zre.invalid.signature.zrelog", "PING with ZRE/LOG's signature AA A2",
             [bytes.fromhex("aaa206020003")], "bad-signature", "message-layout"),
        _bad("zre.invalid.signature.swapped", "PING with the signature bytes swapped (A1 AA)",
             [bytes.fromhex("a1aa06020003")], "bad-signature", "message-layout"),
        _bad("zre.invalid.signature.zeros", "a data frame of six zero bytes",
             [bytes(6)], "bad-signature", "message-layout"),
        _bad("zre.invalid.signature.zmtp-greeting", "the start of a ZMTP greeting sent as a "
             "frame", [bytes.fromhex("ff00000000000000017f")], "bad-signature", "message-layout"),
        # -- id ------------------------------------------------------------------------------
        _bad("zre.invalid.id.0", "message id 0", [bytes.fromhex("aaa100020001")], "unknown-id",
             "message-layout"),
        _bad("zre.invalid.id.11", "message id 11, one past GOODBYE",
             [bytes.fromhex("aaa10b020001")], "unknown-id", "message-layout"),
        _bad("zre.invalid.id.255", "message id 255", [bytes.fromhex("aaa1ff020001")],
             "unknown-id", "message-layout"),
        # -- version -------------------------------------------------------------------------
        _bad("zre.invalid.version.1", "PING with version 1", [bytes.fromhex("aaa106010003")],
             "bad-version", "message-layout"),
        _bad("zre.invalid.version.3", "PING with version 3 (RFC 43 draft)",
             [bytes.fromhex("aaa106030003")], "bad-version", "message-layout"),
        _bad("zre.invalid.version.0", "JOIN with version 0",
             [bytes.fromhex("aaa104000002046368617401")], "bad-version", "message-layout"),
        _bad("zre.invalid.version.zre-v1-hello", "a ZRE v1 (RFC 20) HELLO: no version byte, "
             "so the sequence's high byte is read as the version",
             [bytes.fromhex("aaa1010001") + b"\x09127.0.0.1" + bytes.fromhex("c000") +
              b"\x00\x00"], "bad-version", "message-layout"),
        # -- length overflow -----------------------------------------------------------------
        _bad("zre.invalid.overflow.endpoint", "HELLO whose endpoint length says 255 but 21 "
             "bytes follow", [hello_raw()[:6] + b"\xff" + ep], "length-overflow", "hello"),
        _bad("zre.invalid.overflow.groups-count", "HELLO whose group count is 0xFFFFFFFF",
             [hello_raw(groups=b"\xff\xff\xff\xff")], "length-overflow", "hello"),
        _bad("zre.invalid.overflow.group-length", "HELLO whose first group declares 2^31 bytes",
             [hello_raw(groups=b"\x00\x00\x00\x01\x80\x00\x00\x00abc")], "length-overflow",
             "hello"),
        _bad("zre.invalid.overflow.name", "HELLO whose name length runs past the frame",
             [hello_raw(name=b"\x05ab", headers=b"")], "length-overflow", "hello"),
        _bad("zre.invalid.overflow.headers-count", "HELLO whose header count is 0x7FFFFFFF",
             [hello_raw(headers=b"\x7f\xff\xff\xff\x01k")], "length-overflow", "hello"),
        _bad("zre.invalid.overflow.header-value", "HELLO whose header value declares 4 GiB",
             [hello_raw(headers=b"\x00\x00\x00\x01\x01k\xff\xff\xff\xff")], "length-overflow",
             "hello"),
        _bad("zre.invalid.overflow.shout-group", "SHOUT whose group length is 10 but 4 bytes "
             "follow", [bytes.fromhex("aaa1030200010a") + b"chat", b"x"], "length-overflow",
             "shout"),
        _bad("zre.invalid.overflow.join-group", "JOIN whose group length is 200, frame ends",
             [bytes.fromhex("aaa104020001c8") + b"chat\x01"], "length-overflow", "join"),
        _bad("zre.invalid.overflow.elect-challenger", "ELECT whose challenger_id length is "
             "32 but 31 bytes follow", [bytes.fromhex("aaa108020001046368617420") + b"A" * 31],
             "length-overflow", "elect", level="SHOULD", flags=[F_EXTENSION]),
        # -- invalid UTF-8 -------------------------------------------------------------------
        _bad("zre.invalid.utf8.endpoint", "HELLO endpoint holding the byte FF",
             [hello_raw(endpoint=b"tcp://\xff:1")], "invalid-utf8", "hello"),
        _bad("zre.invalid.utf8.group-in-hello", "HELLO group holding a lone continuation byte",
             [hello_raw(groups=b"\x00\x00\x00\x01\x00\x00\x00\x02g\x80")], "invalid-utf8",
             "hello"),
        _bad("zre.invalid.utf8.name-cut", "HELLO name 'grü' cut inside the ü (the bytes pyre "
             "writes for it)", [hello_raw(name=b"\x03gr\xc3")], "invalid-utf8", "hello"),
        _bad("zre.invalid.utf8.header-key", "HELLO header key with an overlong encoding C0 AF",
             [hello_raw(headers=b"\x00\x00\x00\x01\x02\xc0\xaf\x00\x00\x00\x01v")],
             "invalid-utf8", "hello"),
        _bad("zre.invalid.utf8.header-value", "HELLO header value holding a UTF-16 surrogate "
             "ED A0 80", [hello_raw(headers=b"\x00\x00\x00\x01\x01k\x00\x00\x00\x03\xed\xa0\x80")],
             "invalid-utf8", "hello"),
        _bad("zre.invalid.utf8.join-group", "JOIN group holding the byte FE",
             [bytes.fromhex("aaa10402000102fe6701")], "invalid-utf8", "join"),
        _bad("zre.invalid.utf8.shout-group", "SHOUT group in Latin-1 ('grü' as 67 72 FC)",
             [bytes.fromhex("aaa1030200010367 72fc"), b"x"], "invalid-utf8", "shout"),
        # -- trailing bytes and undeclared frames (lenient decoders accept these) ------------
        _bad("zre.invalid.trailing.ping", "PING followed by one extra byte",
             [ping + b"\x00"], "trailing-bytes", "strictness", level="SHOULD", flags=[F_LENIENT]),
        _bad("zre.invalid.trailing.join", "JOIN followed by four extra bytes",
             [bytes.fromhex("aaa104020002046368617401deadbeef")], "trailing-bytes",
             "strictness", level="SHOULD", flags=[F_LENIENT]),
        _bad("zre.invalid.trailing.hello", "zyre's HELLO followed by an extra zero byte",
             [hello + b"\x00"], "trailing-bytes", "strictness", level="SHOULD",
             flags=[F_LENIENT]),
        _bad("zre.invalid.frames.ping", "PING followed by a content frame it does not declare",
             [ping, b"extra"], "frame-count", "strictness", level="SHOULD", flags=[F_LENIENT]),
        _bad("zre.invalid.frames.join", "JOIN followed by two frames",
             [bytes.fromhex("aaa104020002046368617401"), b"", b"x"], "frame-count",
             "strictness", level="SHOULD", flags=[F_LENIENT]),
        _bad("zre.invalid.frames.hello", "zyre's HELLO followed by an empty frame",
             [hello, b""], "frame-count", "strictness", level="SHOULD", flags=[F_LENIENT]),
        _bad("zre.invalid.frames.none", "no frame at all", [], "frame-count", "message-layout"),
    ]
    # -- truncated at every field: one vector per (error, field) met cutting each message --
    cases += _cuts("zre.invalid.cut.hello", "zyre's HELLO", [hello], "hello")
    cases += _cuts("zre.invalid.cut.whisper", "WHISPER", [bytes.fromhex("aaa102020002"), b"pong"],
                   "whisper")
    cases += _cuts("zre.invalid.cut.shout", "SHOUT", encode(Shout(sequence=3, group="chat",
                                                                 content=(b"x",))), "shout")
    cases += _cuts("zre.invalid.cut.join", "JOIN", encode(Join(sequence=2, group="chat",
                                                              status=1)), "join")
    cases += _cuts("zre.invalid.cut.leave", "LEAVE", encode(Leave(sequence=2, group="chat",
                                                                 status=1)), "leave")
    cases += _cuts("zre.invalid.cut.ping-ok", "PING-OK", encode(PingOk(sequence=1)), "ping-ok")
    cases += _cuts("zre.invalid.cut.elect", "ELECT", encode(Elect(
        sequence=1, group="chat", challenger_id=UUID_A.hex().upper())), "elect", [F_EXTENSION])
    cases += _cuts("zre.invalid.cut.leader", "LEADER", encode(Leader(
        sequence=1, group="chat", leader_id=UUID_A.hex().upper())), "leader", [F_EXTENSION])
    return cases


# ------------------------------------------------------------------------------------------------
# beacons
# ------------------------------------------------------------------------------------------------
def _beacon(cid: str, description: str, b: Beacon, *, level: str = "MUST",
            flags: Sequence[str] = (), source: Sequence[str] = (ZRE_REF, PYRE_BEACON),
            expect_hex: str | None = None) -> dict[str, Any]:
    data = encode_beacon(b)
    if expect_hex is not None and data.hex() != expect_hex:
        raise SystemExit(f"{cid}: our encoder disagrees with {expect_hex}")
    if decode_beacon(data) != b:
        raise SystemExit(f"{cid}: does not round-trip")
    return _case(cid, description, "beacon", level=level, flags=flags, source=source,
                 hex=data.hex(), fields=beacon_to_json(b))


def _beacon_frames(frames: Sequence[bytes]) -> Beacon:
    return decode_beacon(frames[0])


def _bad_beacon(cid: str, description: str, data: bytes, want: str, *,
                result: str = "invalid", flags: Sequence[str] = (),
                level: str = "MUST") -> dict[str, Any]:
    c = _bad(cid, description, [data], want, "beacon", decoder=_beacon_frames, result=result,
             flags=flags, level=level)
    del c["frames"]
    c["hex"] = data.hex()
    c["error"].pop("frame")
    return c


def _beacon_error(data: bytes) -> dict[str, Any]:
    try:
        decode_beacon(data)
    except DecodeError as exc:
        err = error_json(exc)
        err.pop("frame")
        return err
    raise SystemExit(f"{data.hex()}: decodes")


def beacon_cases() -> list[dict[str, Any]]:
    v1 = encode_beacon(Beacon(uuid=UUID_SEQ, port=49153))
    return [
        _beacon("zre.beacon.example", "the example of spec/zre.md#beacon: UUID 00..0F, port 49153",
                Beacon(uuid=UUID_SEQ, port=49153),
                expect_hex="5a52450100010203040506070809" "0a0b0c0d0e0fc001"),
        _beacon("zre.beacon.leaving", "port 0: the sender is leaving",
                Beacon(uuid=UUID_SEQ, port=0)),
        _beacon("zre.beacon.port-5670", "port 5670 (byte order check: 16 26)",
                Beacon(uuid=UUID_A, port=5670)),
        _beacon("zre.beacon.port-1", "port 1", Beacon(uuid=UUID_B, port=1)),
        _beacon("zre.beacon.port-65535", "port 65535", Beacon(uuid=UUID_B, port=65535)),
        _beacon("zre.beacon.uuid-ff", "UUID of all FF bytes", Beacon(uuid=b"\xff" * 16,
                                                                   port=49152)),
        _beacon("zre.beacon.curve", "version 3 (zyre with CURVE): the sender's 32-byte public "
                "key follows the port; a node without CURVE ignores it",
                Beacon(version=3, uuid=UUID_A, port=49152, public_key=KEY), level="MAY",
                flags=[F_CURVE_BEACON], source=[ZRE_REF]),
        _beacon("zre.beacon.curve-leaving", "version 3 with port 0",
                Beacon(version=3, uuid=UUID_A, port=0, public_key=KEY), level="MAY",
                flags=[F_CURVE_BEACON], source=[ZRE_REF]),
        _bad_beacon("zre.beacon.invalid.empty", "an empty datagram", b"", "bad-beacon-size"),
        _bad_beacon("zre.beacon.invalid.prefix-only", "just 'ZRE'", b"ZRE", "bad-beacon-size"),
        _bad_beacon("zre.beacon.invalid.short-21", "a version 1 beacon one byte short",
                    v1[:21], "bad-beacon-size"),
        _bad_beacon("zre.beacon.invalid.long-23", "a version 1 beacon with one extra byte",
                    v1 + b"\x00", "bad-beacon-size"),
        _bad_beacon("zre.beacon.invalid.v3-short", "version 3 but only 22 bytes (no key)",
                    b"ZRE\x03" + v1[4:], "bad-beacon-size"),
        acceptable(_bad_beacon(
            "zre.beacon.invalid.v1-54", "version 1 but 54 bytes: zyre accepts it and ignores "
            "the last 32 bytes; zre-ref refuses", v1 + KEY, "bad-beacon-size",
            flags=["zyre-accepts:v1-with-54-bytes"], level="SHOULD"),
            fields=beacon_to_json(decode_beacon(v1)), error=_beacon_error(v1 + KEY),
            zre_ref="refuses"),
        _bad_beacon("zre.beacon.invalid.prefix-lower", "prefix 'zre' in lower case",
                    b"zre" + v1[3:], "bad-beacon-prefix"),
        _bad_beacon("zre.beacon.invalid.prefix-zrf", "prefix 'ZRF'", b"ZRF" + v1[3:],
                    "bad-beacon-prefix"),
        _bad_beacon("zre.beacon.invalid.prefix-nul", "prefix 00 'RE'", b"\x00RE" + v1[3:],
                    "bad-beacon-prefix"),
        _bad_beacon("zre.beacon.invalid.prefix-short", "two bytes 'ZX'", b"ZX",
                    "bad-beacon-prefix"),
        _bad_beacon("zre.beacon.invalid.version-0", "beacon version 0", b"ZRE\x00" + v1[4:],
                    "bad-beacon-version"),
        _bad_beacon("zre.beacon.invalid.version-2", "beacon version 2 (the ZRE message "
                    "version, not a beacon version)", b"ZRE\x02" + v1[4:], "bad-beacon-version"),
        _bad_beacon("zre.beacon.invalid.version-ff", "beacon version FF", b"ZRE\xff" + v1[4:],
                    "bad-beacon-version"),
    ]


# ------------------------------------------------------------------------------------------------
# session transcripts
# ------------------------------------------------------------------------------------------------
class _Side:
    """One node's outgoing state toward the other: its DEALER's sequence counter."""

    def __init__(self, name: str, uuid: bytes, port: int) -> None:
        self.name = name
        self.uuid = uuid
        self.port = port
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.sent = 0

    def beacon(self, to: str, port: int | None = None, note: str = "") -> dict[str, Any]:
        b = Beacon(uuid=self.uuid, port=self.port if port is None else port)
        data = encode_beacon(b)
        step: dict[str, Any] = {"from": self.name, "to": to, "channel": "udp", "hex": data.hex(),
                                "fields": beacon_to_json(b)}
        if note:
            step["note"] = note
        return step

    def send(self, to: str, make: Callable[[int], ZreMessage], note: str = "") -> dict[str, Any]:
        self.sent = (self.sent + 1) % 0x10000
        msg = make(self.sent)
        frames = encode(msg)
        identity = encode_identity(self.uuid)
        step: dict[str, Any] = {
            "from": self.name, "to": to, "channel": "tcp", "hex": frames[0].hex(),
            "identity": identity.hex(), "frames": [identity.hex()] + [f.hex() for f in frames],
            "fields": ZRE.to_json(msg)}
        if note:
            step["note"] = note
        return step


def session_cases() -> list[dict[str, Any]]:
    a = _Side("A", UUID_A, 49152)
    b = _Side("B", UUID_B, 49153)
    steps = [
        a.beacon("*", note="A announces its ROUTER port"),
        b.beacon("*", note="B announces its ROUTER port"),
        a.send("B", lambda s: Hello(sequence=s, endpoint=a.endpoint, name="alpha",
                                    headers={"X-ROLE": "sender"}),
               note="A heard B's beacon, connected a DEALER with identity 01+UUID(A); "
                    "HELLO is always sequence 1"),
        b.send("A", lambda s: Hello(sequence=s, endpoint=b.endpoint, groups=("ops",), status=1,
                                    name="beta"),
               note="B is already in group ops (status 1)"),
        a.send("B", lambda s: Join(sequence=s, group="chat", status=1),
               note="A's status goes 0 -> 1"),
        b.send("A", lambda s: Join(sequence=s, group="chat", status=2),
               note="B's status goes 1 -> 2"),
        a.send("B", lambda s: Shout(sequence=s, group="chat", content=(b"hello chat",))),
        b.send("A", lambda s: Whisper(sequence=s, content=(b"hi A", b"second frame"))),
        a.send("B", lambda s: Ping(sequence=s), note="B was quiet past the evasive timeout"),
        b.send("A", lambda s: PingOk(sequence=s)),
        a.send("B", lambda s: Leave(sequence=s, group="chat", status=2),
               note="A's status goes 1 -> 2"),
        a.beacon("*", port=0, note="A stops: its last beacon carries port 0; B removes A"),
    ]
    two_peers = _case(
        "zre.session.two-peers", "two peers meet by beacon, say HELLO both ways, JOIN, SHOUT, "
        "WHISPER, PING/PING-OK, LEAVE, and one leaves with a port-0 beacon. `frames` is what "
        "the receiver's ROUTER delivers (identity first); sequence numbers count per direction",
        "session", kind="transcript", steps=steps,
        input={"A": {"uuid": UUID_A.hex().upper(), "endpoint": a.endpoint},
               "B": {"uuid": UUID_B.hex().upper(), "endpoint": b.endpoint}})
    c = _Side("A", UUID_A, 49152)
    c.sent = 65533
    wrap_steps = [c.send("B", lambda s: Ping(sequence=s), note=f"sequence {s}")
                  for s in (65534, 65535, 0, 1)]
    wrap = _case(
        "zre.session.sequence-wrap", "four PINGs from A to B across the u16 wrap: 65534, "
        "65535, 0, 1 (earlier messages omitted)", "sequence", kind="transcript",
        flags=[F_SEQ_WRAP], steps=wrap_steps, source=[ZYRE_CAPTURED, ZRE_REF])
    return [two_peers, wrap]


def _doc(protocol: str, description: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "protocol": protocol, "description": description,
            "spec": f"{SPEC}", "cases": cases}


def files() -> dict[str, dict[str, Any]]:
    return {
        "zre/messages.json": _doc("zre", "Valid ZRE v2 messages (RFC 36 and zyre's extensions): "
                                  "frames (data frame first, then content) and their fields",
                                  message_cases()),
        "zre/invalid.json": _doc("zre", "ZRE v2 frames a decoder must (MUST) or should (SHOULD) "
                                 "refuse, with the error class, field, frame and offset",
                                 invalid_cases()),
        "zre/beacon.json": _doc("beacon", "ZRE UDP discovery beacons (one datagram as hex), "
                                "valid and invalid", beacon_cases()),
        "zre/session.json": _doc("zre", "ZRE session transcripts between two peers",
                                 session_cases()),
    }
