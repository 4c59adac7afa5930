"""Golden vectors for ZGOSSIP (spec/zgossip.md): every message, czmq's own bytes, malformed frames.

Ids and layout come from czmq's ``src/zgossip_msg.xml`` / ``zgossip_msg.c`` (czmq 4.2.1). The
``*.czmq-captured`` cases are bytes Debian's libczmq 4.2.1 zgossip actor sent on loopback; tox -e
interop (tests/interop/test_interop_czmq_zgossip.py) feeds every case to that actor again.
"""

from __future__ import annotations

from typing import Any

from zre_ref.vectorgen import SCHEMA, invalid_case, message_case
from zre_ref.zgossip import messages as m

SPEC = "spec/zgossip.md"
CZMQ = "czmq 4.2.1 src/zgossip_msg.xml + zgossip_msg.c (ids and layout, read from code)"
CAPTURED = "czmq 4.2.1 (Debian libczmq4) zgossip actor, captured on loopback"
SOURCES = ["zre-ref", CZMQ]
F_LENIENT = "lenient-decoders-accept"

#: czmq's ids (zgossip_msg.h): the only source of them
CZMQ_IDS = {"HELLO": 1, "PUBLISH": 2, "PING": 3, "PONG": 4, "INVALID": 5}

UUID = "2E2F2B8AE2A4406E8E8FB2FE8D50C3A6"


def _valid(cid: str, msg: m.ZgossipMessage, description: str, *, level: str = "MUST",
           source: list[str] | None = None) -> dict[str, Any]:
    return message_case(m.ZGOSSIP, cid, msg, description, spec=m.ZGOSSIP.spec_of(msg).anchor,
                        source=source or SOURCES, level=level)


def _captured(cid: str, hexframe: str, description: str) -> dict[str, Any]:
    msg = m.decode([bytes.fromhex(hexframe)])
    case = _valid(cid, msg, description, source=[CAPTURED])
    if case["frames"] != [hexframe]:
        raise SystemExit(f"{cid}: zre-ref does not re-encode czmq's bytes")
    return case


def _invalid(cid: str, frames: list[bytes], code: str, description: str,
             anchor: str = "message-layout", *, level: str = "MUST",
             flags: list[str] | None = None) -> dict[str, Any]:
    case = invalid_case(m.ZGOSSIP, cid, frames, code, description, spec=f"{SPEC}#{anchor}")
    case["level"] = level
    if flags:
        case["flags"] = flags
    return case


def valid_cases() -> list[dict[str, Any]]:
    return [
        _valid("zgossip.hello.basic", m.Hello(), "client says hello: AA A0 01 01"),
        _valid("zgossip.publish.zyre-endpoint",
               m.Publish(key=UUID, value="tcp://192.168.1.20:49152", ttl=0),
               "what zyre publishes: its UUID (32 hex digits) = its ZRE endpoint, ttl 0"),
        _valid("zgossip.publish.ttl", m.Publish(key="service", value="tcp://10.0.0.1:5670",
                                                ttl=30_000), "a tuple that lives 30 s"),
        _valid("zgossip.publish.ttl-max", m.Publish(key="k", value="v", ttl=0xFFFF_FFFF),
               "ttl at its u32 maximum"),
        _valid("zgossip.publish.empty", m.Publish(key="", value="", ttl=0),
               "empty key and value decode (czmq 4.2.1 stores and forwards them)", level="INFO"),
        _valid("zgossip.publish.key-255", m.Publish(key="k" * 255, value="v", ttl=0),
               "255 bytes, the longest key a 1-byte length allows"),
        _valid("zgossip.publish.utf8", m.Publish(key="clé", value="värde", ttl=1),
               "lengths count UTF-8 bytes (4 and 6), not characters"),
        _valid("zgossip.ping.basic", m.Ping(), "client liveness"),
        _valid("zgossip.pong.basic", m.Pong(), "server answer to PING"),
        _valid("zgossip.invalid.basic", m.Invalid(), "server refuses a message and forgets the client"),
        _captured("zgossip.publish.czmq-captured", "aaa00201026b3100000002763100000000",
                  "czmq's answer to HELLO: its stored tuple k1 = v1, ttl 0"),
        _captured("zgossip.publish.czmq-stale-ttl", "aaa00201026b31000000027631000003e8",
                  "czmq re-sending the same tuple k1 = v1 with ttl 1000, left over from the "
                  "previous PUBLISH it decoded (spec/zgossip.md#ttl)"),
        _captured("zgossip.pong.czmq-captured", "aaa00401", "czmq's PONG"),
        _captured("zgossip.invalid.czmq-captured", "aaa00501",
                  "czmq's INVALID, answering a PUBLISH sent before HELLO"),
    ]


def invalid_cases() -> list[dict[str, Any]]:
    sig = m.ZGOSSIP.signature_bytes
    return [
        _invalid("zgossip.malformed.empty-frame", [b""], "truncated", "an empty frame"),
        _invalid("zgossip.malformed.no-frames", [], "frame-count", "no frames at all"),
        _invalid("zgossip.malformed.one-byte", [b"\xaa"], "truncated", "half a signature"),
        _invalid("zgossip.malformed.zre-signature", [bytes.fromhex("aaa10602000003")],
                 "bad-signature", "a ZRE PING (AA A1) is not ZGOSSIP"),
        _invalid("zgossip.malformed.no-id", [sig], "truncated", "signature only"),
        _invalid("zgossip.malformed.id-0", [sig + b"\x00\x01"], "unknown-id", "id 0 is not declared"),
        _invalid("zgossip.malformed.id-6", [sig + b"\x06\x01"], "unknown-id",
                 "id 6: one past INVALID (5)"),
        _invalid("zgossip.malformed.zpipes-ping", [sig + b"\x13"], "unknown-id",
                 "a ZPIPES PING (same signature AA A0, id 19) is not ZGOSSIP"),
        _invalid("zgossip.malformed.no-version", [sig + b"\x01"], "truncated",
                 "HELLO without its version byte", "hello"),
        _invalid("zgossip.malformed.version-0", [sig + b"\x03\x00"], "bad-version",
                 "PING with version 0", "ping"),
        _invalid("zgossip.malformed.version-2", [sig + b"\x01\x02"], "bad-version",
                 "HELLO with version 2", "hello"),
        _invalid("zgossip.malformed.zpipes-input", [sig + b"\x01\x06events"], "bad-version",
                 "a ZPIPES INPUT 'events' reads as HELLO with version 6", "hello"),
        _invalid("zgossip.malformed.publish-no-key", [sig + b"\x02\x01"], "truncated",
                 "PUBLISH without its key length", "publish"),
        _invalid("zgossip.malformed.publish-key-overflow", [sig + b"\x02\x01\x05ab"],
                 "length-overflow", "key declares 5 bytes, 2 remain", "publish"),
        _invalid("zgossip.malformed.publish-key-not-utf8", [sig + b"\x02\x01\x02\xff\xfe"],
                 "invalid-utf8", "keys are UTF-8 text", "publish"),
        _invalid("zgossip.malformed.publish-value-overflow",
                 [sig + b"\x02\x01\x01k\xff\xff\xff\xff" + b"x" * 8], "length-overflow",
                 "value declares 4 GiB - 1, 8 bytes remain (nothing may be allocated)", "publish"),
        _invalid("zgossip.malformed.publish-no-ttl", [sig + b"\x02\x01\x01k\x00\x00\x00\x01v"],
                 "truncated", "PUBLISH without its ttl", "publish"),
        _invalid("zgossip.malformed.publish-short-ttl",
                 [sig + b"\x02\x01\x01k\x00\x00\x00\x01v\x00\x00"], "truncated",
                 "ttl cut to 2 bytes", "publish"),
        _invalid("zgossip.malformed.ping-trailing", [sig + b"\x03\x01\x00"], "trailing-bytes",
                 "one byte after a complete PING: czmq 4.2.1 ignores it and answers PONG",
                 "strictness", level="SHOULD", flags=[F_LENIENT]),
        _invalid("zgossip.malformed.hello-extra-frame", [sig + b"\x01\x01", b""], "frame-count",
                 "ZGOSSIP messages are exactly one frame", "strictness"),
    ]


def id_table_case() -> dict[str, Any]:
    ours = {ms.name: ms.id for ms in m.ZGOSSIP.by_id.values()}
    if ours != CZMQ_IDS:
        raise SystemExit(f"zgossip ids drifted from czmq's: {ours}")
    return {
        "id": "zgossip.ids.czmq", "spec": f"{SPEC}#message-layout", "level": "MUST",
        "result": "valid", "source": [CZMQ], "kind": "function",
        "description": "message name -> id, as czmq's zgossip_msg.h defines them",
        "input": "zgossip_msg.xml declaration order", "output": CZMQ_IDS,
    }


def files() -> dict[str, dict[str, Any]]:
    head = {"schema": SCHEMA, "protocol": "zgossip", "spec": SPEC}
    return {
        "zgossip/messages.json": {
            **head, "description": "Every ZGOSSIP message, valid (AA A0, id, version 1)",
            "cases": [id_table_case(), *valid_cases()],
        },
        "zgossip/invalid.json": {
            **head, "description": "Malformed ZGOSSIP frames and the error each must raise",
            "cases": invalid_cases(),
        },
    }
