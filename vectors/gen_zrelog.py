"""Golden vectors for ZRE/LOG (spec/zrelog.md): LOG records, malformed frames, the endpoint hash.

Layout from zyre 029f68ec src/zre_log_msg.xml; the hash from zyre 029f68ec src/zyre_log.c.
"""

from __future__ import annotations

from typing import Any

from zre_ref.vectorgen import SCHEMA, acceptable, invalid_case, message_case
from zre_ref.zrelog import messages as m
from zre_ref.zrelog.messages import Event, Level, endpoint_hash

SPEC = "spec/zrelog.md"
ZYRE = "zyre 029f68ec src/zre_log_msg.xml (layout, read from code)"
SOURCES = ["zre-ref", ZYRE]
NODE_EP = "tcp://127.0.0.1:5670"
PEER_EP = "tcp://127.0.0.1:5671"
NODE = endpoint_hash(NODE_EP)
PEER = endpoint_hash(PEER_EP)
T = 1_400_000_000  # 2014-05-13T16:53:20Z, seconds


def _case(cid: str, msg: m.Log, description: str, *, result: str = "valid",
          level: str = "MUST", flags: list[str] | None = None) -> dict[str, Any]:
    return message_case(m.ZRELOG, cid, msg, description, spec=f"{SPEC}#log", source=SOURCES,
                        result=result, level=level, flags=flags)


def _unknown(cid: str, msg: m.Log, description: str, field: str, offset: int) -> dict[str, Any]:
    """An acceptable record: zre-ref decodes it; a decoder that checks the value refuses it."""
    case = _case(cid, msg, description, result="acceptable", level="MAY", flags=[f"unknown-{field}"])
    return acceptable(case, fields=case["fields"], zre_ref="accepts",
                      error={"error": "bad-value", "field": field, "frame": 0, "offset": offset})


def _invalid(cid: str, frames: list[bytes], code: str, description: str) -> dict[str, Any]:
    return invalid_case(m.ZRELOG, cid, frames, code, description, spec=f"{SPEC}#log")


def log_cases() -> list[dict[str, Any]]:
    info = Level.INFO
    return [
        _case("zrelog.log.enter", m.Log(level=info, event=Event.ENTER, node=NODE, peer=PEER, time=T),
              f"ENTER of the peer at {PEER_EP} (peer = its endpoint hash), logged by {NODE_EP}"),
        _case("zrelog.log.exit", m.Log(level=info, event=Event.EXIT, node=NODE, peer=PEER, time=T + 30),
              "EXIT of the same peer"),
        _case("zrelog.log.join", m.Log(level=info, event=Event.JOIN, node=NODE, peer=0, time=T,
                                       data="GLOBAL"),
              "JOIN: zyre passed no peer (hash 0) and the group name as data"),
        _case("zrelog.log.leave", m.Log(level=info, event=Event.LEAVE, node=NODE, peer=0, time=T,
                                        data="GLOBAL"), "LEAVE of group GLOBAL"),
        _case("zrelog.log.send", m.Log(level=info, event=Event.SEND, node=NODE,
                                       peer=endpoint_hash("0123456789ABCDEF0123456789ABCDEF"),
                                       time=T, data="seq=3 command=SHOUT"),
              "SEND (verbose): peer = hash of the peer's UUID hex, data as zyre formatted it"),
        _case("zrelog.log.recv", m.Log(level=info, event=Event.RECV, node=NODE, peer=PEER, time=T,
                                       data="seq=4 command=WHISPER"), "RECV (verbose)"),
        _case("zrelog.log.warning", m.Log(level=Level.WARNING, event=Event.NONE, node=NODE, peer=PEER,
                                          time=T, data="Time flies like an arrow"),
              "warnings carry event 0"),
        _case("zrelog.log.error", m.Log(level=Level.ERROR, event=Event.NONE, node=NODE, peer=PEER,
                                        time=T, data="Fruit flies like a banana"),
              "errors carry event 0"),
        _case("zrelog.log.max-data", m.Log(level=info, event=Event.JOIN, node=1, peer=2, time=T,
                                           data="g" * 255), "255 bytes of data, the most that fit"),
        _case("zrelog.log.utf8-data", m.Log(level=info, event=Event.JOIN, node=1, peer=2, time=T,
                                            data="grü"), "data length counts UTF-8 bytes (4)"),
        _case("zrelog.log.time-max", m.Log(level=info, event=Event.ENTER, node=0xFFFF, peer=0xFFFF,
                                           time=0xFFFF_FFFF_FFFF_FFFF), "u16/u64 fields at maximum"),
        _unknown("zrelog.log.unknown-level", m.Log(level=7, event=Event.ENTER, node=1, peer=2, time=T),
                 "a level outside 1..3: the historical decoder passed it through", "level", 3),
        _unknown("zrelog.log.unknown-event", m.Log(level=info, event=9, node=1, peer=2, time=T),
                 "an event outside 0..6: the historical decoder passed it through", "event", 4),
    ]


def invalid_cases() -> list[dict[str, Any]]:
    sig = m.ZRELOG.signature_bytes
    good = m.encode(m.Log(level=3, event=3, node=NODE, peer=PEER, time=T, data="x"))[0]
    return [
        _invalid("zrelog.malformed.empty-frame", [b""], "truncated", "an empty frame"),
        _invalid("zrelog.malformed.zre-signature", [b"\xaa\xa1" + good[2:]], "bad-signature",
                 "AA A1 is ZRE, not ZRE/LOG"),
        _invalid("zrelog.malformed.zpipes-signature", [b"\xaa\xa0" + good[2:]], "bad-signature",
                 "AA A0 is ZPIPES"),
        _invalid("zrelog.malformed.id-0", [sig + b"\x00" + good[3:]], "unknown-id", "LOG is id 1 only"),
        _invalid("zrelog.malformed.id-2", [sig + b"\x02" + good[3:]], "unknown-id", "LOG is id 1 only"),
        _invalid("zrelog.malformed.no-level", [sig + b"\x01"], "truncated", "id without fields"),
        _invalid("zrelog.malformed.short-time", [good[:12]], "truncated", "time cut after 2 bytes"),
        _invalid("zrelog.malformed.no-data", [good[:17]], "truncated",
                 "the 17-byte fixed part without the data length"),
        _invalid("zrelog.malformed.data-overflow", [good[:17] + b"\x09abc"], "length-overflow",
                 "data declares 9 bytes, 3 remain"),
        _invalid("zrelog.malformed.data-not-utf8", [good[:17] + b"\x01\xff"], "invalid-utf8",
                 "data is UTF-8 text"),
        _invalid("zrelog.malformed.trailing", [good + b"\x00"], "trailing-bytes",
                 "one byte after the data"),
        _invalid("zrelog.malformed.extra-frame", [good, b""], "frame-count", "LOG is exactly one frame"),
    ]


def _hash_case(cid: str, text: str | bytes, description: str) -> dict[str, Any]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    signed = endpoint_hash(raw)
    unsigned = endpoint_hash(raw, signed_char=False)
    return {
        "id": cid, "spec": f"{SPEC}#endpoint-hash", "level": "MUST", "result": "valid",
        "source": ["zre-ref", "zyre 029f68ec src/zyre_log.c (algorithm, read from code)"],
        "kind": "function",
        "description": f"{description}: signed-char 0x{signed:04X}, unsigned-char 0x{unsigned:04X}",
        "input": {"utf8_hex": raw.hex(), "text": raw.decode("utf-8", "replace")},
        "output": {"signed_char": signed, "unsigned_char": unsigned},
    }


def hash_cases() -> list[dict[str, Any]]:
    cases = [
        _hash_case("zrelog.hash.empty", "", "the empty string (and a NULL peer) hash to 0"),
        _hash_case("zrelog.hash.tcp-localhost-5670", NODE_EP, "an ASCII endpoint"),
        _hash_case("zrelog.hash.tcp-localhost-5671", PEER_EP, "the neighbouring port"),
        _hash_case("zrelog.hash.zyre-selftest", "this is me", "zyre_log_test's node name"),
        _hash_case("zrelog.hash.uuid-hex", "0123456789ABCDEF0123456789ABCDEF",
                   "a 32-hex UUID, as hashed for SEND records"),
        _hash_case("zrelog.hash.e-acute", "é",
                   "non-ASCII C3 A9: x86 zyre sign-extends each byte (signed char)"),
        _hash_case("zrelog.hash.non-ascii-endpoint", "tcp://[fe80::1%eth0]:5670/ü",
                   "mixed ASCII and non-ASCII"),
    ]
    want = {"zrelog.hash.tcp-localhost-5670": (0x6FC8, 0x6FC8), "zrelog.hash.e-acute": (0x078A, 0x198A)}
    for c in cases:
        if c["id"] in want and (c["output"]["signed_char"], c["output"]["unsigned_char"]) != want[c["id"]]:
            raise SystemExit(f"{c['id']}: hash drifted from the checked values")
    return cases


def files() -> dict[str, dict[str, Any]]:
    head = {"schema": SCHEMA, "protocol": "zrelog", "spec": SPEC}
    return {
        "zrelog/messages.json": {**head, "description": "ZRE/LOG LOG records (AA A2, no version byte)",
                                 "cases": log_cases()},
        "zrelog/invalid.json": {**head, "description": "Malformed ZRE/LOG frames and their errors",
                                "cases": invalid_cases()},
        "zrelog/hash.json": {**head, "description": "The 16-bit endpoint hash, signed- and unsigned-char",
                             "cases": hash_cases()},
    }
