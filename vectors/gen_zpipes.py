"""Golden vectors for ZPIPES (spec/zpipes.md): every message, and malformed frames.

The message ids are pinned here from zbroker's declaration order (zeromq/zbroker ab9ce36,
src/zpipes_msg.xml): the case ``zpipes.ids.zbroker-order`` and the id byte of every message case.
"""

from __future__ import annotations

from typing import Any

from zre_ref.vectorgen import SCHEMA, invalid_case, message_case
from zre_ref.zpipes import messages as m

SPEC = "spec/zpipes.md"
ZBROKER = "zbroker ab9ce36 src/zpipes_msg.xml (ids and layout, read from code)"
SOURCES = ["zre-ref", ZBROKER]

#: zbroker's declaration order: the only source of the ids (spec/zpipes.md#message-layout)
ZBROKER_IDS = {
    "INPUT": 1, "INPUT-OK": 2, "INPUT-FAILED": 3, "OUTPUT": 4, "OUTPUT-OK": 5,
    "OUTPUT-FAILED": 6, "READ": 7, "READ-OK": 8, "READ-END": 9, "READ-TIMEOUT": 10,
    "READ-FAILED": 11, "WRITE": 12, "WRITE-OK": 13, "WRITE-TIMEOUT": 14, "WRITE-FAILED": 15,
    "CLOSE": 16, "CLOSE-OK": 17, "CLOSE-FAILED": 18, "PING": 19, "PING-OK": 20, "INVALID": 21,
}


def _valid(cid: str, msg: m.ZpipesMessage, description: str, *, level: str = "MUST") -> dict[str, Any]:
    return message_case(m.ZPIPES, cid, msg, description, spec=m.ZPIPES.spec_of(msg).anchor,
                        source=SOURCES, level=level)


def _invalid(cid: str, frames: list[bytes], code: str, description: str,
             spec: str = f"{SPEC}#message-layout") -> dict[str, Any]:
    return invalid_case(m.ZPIPES, cid, frames, code, description, spec=spec)


def valid_cases() -> list[dict[str, Any]]:
    binary = bytes(range(256))
    return [
        _valid("zpipes.input.basic", m.Input(pipename="events"), "open pipe 'events' for reading"),
        _valid("zpipes.input.empty-name", m.Input(pipename=""),
               "empty name decodes; the broker refuses it with INPUT-FAILED", level="INFO"),
        _valid("zpipes.input.utf8-name", m.Input(pipename="café"),
               "the string length counts UTF-8 bytes (5), not characters"),
        _valid("zpipes.input.max-name", m.Input(pipename="p" * 255),
               "255 bytes, the longest name a 1-byte length allows"),
        _valid("zpipes.input-ok.basic", m.InputOk(), "reader attached"),
        _valid("zpipes.input-failed.reason", m.InputFailed(reason="pipe 'events' already has a reader"),
               "second reader refused, with a reason"),
        _valid("zpipes.input-failed.empty-reason", m.InputFailed(reason=""),
               "zbroker sent failures with an empty reason", level="INFO"),
        _valid("zpipes.output.basic", m.Output(pipename="events"), "open pipe 'events' for writing"),
        _valid("zpipes.output-ok.basic", m.OutputOk(), "writer attached"),
        _valid("zpipes.output-failed.reason", m.OutputFailed(reason="pipe 'events' already has a writer"),
               "second writer refused, with a reason"),
        _valid("zpipes.read.basic", m.Read(size=65536, timeout=1000),
               "read exactly 64 KiB, waiting at most 1000 ms"),
        _valid("zpipes.read.forever", m.Read(size=1, timeout=0), "timeout 0 = wait forever"),
        _valid("zpipes.read.max", m.Read(size=0xFFFF_FFFF, timeout=0xFFFF_FFFF),
               "both u32 fields at their maximum"),
        _valid("zpipes.read-ok.basic", m.ReadOk(chunk=b"hello"), "5 bytes of data"),
        _valid("zpipes.read-ok.empty-chunk", m.ReadOk(chunk=b""), "a chunk of length 0"),
        _valid("zpipes.read-ok.binary", m.ReadOk(chunk=binary), "every byte value 00..ff"),
        _valid("zpipes.read-end.basic", m.ReadEnd(), "end of pipe: the writer closed and all was read"),
        _valid("zpipes.read-timeout.basic", m.ReadTimeout(), "not enough data in time"),
        _valid("zpipes.read-failed.reason", m.ReadFailed(reason="closed by client"),
               "READ cancelled by CLOSE"),
        _valid("zpipes.write.basic", m.Write(chunk=b"hello", timeout=1000), "write 5 bytes"),
        _valid("zpipes.write.empty-chunk", m.Write(chunk=b"", timeout=0),
               "an empty chunk is a valid WRITE (it writes nothing)"),
        _valid("zpipes.write.binary", m.Write(chunk=binary, timeout=250), "every byte value 00..ff"),
        _valid("zpipes.write-ok.basic", m.WriteOk(), "chunk queued for the reader"),
        _valid("zpipes.write-timeout.basic", m.WriteTimeout(), "no reader or no room in time"),
        _valid("zpipes.write-failed.reason", m.WriteFailed(reason="the reader closed the pipe"),
               "the reader went away"),
        _valid("zpipes.close.basic", m.Close(), "close my end of the pipe"),
        _valid("zpipes.close-ok.basic", m.CloseOk(), "end closed"),
        _valid("zpipes.close-failed.reason", m.CloseFailed(reason="no pipe open"), "close failed"),
        _valid("zpipes.ping.basic", m.Ping(), "client heartbeat"),
        _valid("zpipes.ping-ok.basic", m.PingOk(), "heartbeat answer"),
        _valid("zpipes.invalid.basic", m.Invalid(), "command not valid in this state"),
    ]


def invalid_cases() -> list[dict[str, Any]]:
    sig = m.ZPIPES.signature_bytes
    return [
        _invalid("zpipes.malformed.empty-frame", [b""], "truncated", "an empty frame"),
        _invalid("zpipes.malformed.no-frames", [], "frame-count", "no frames at all"),
        _invalid("zpipes.malformed.one-byte", [b"\xaa"], "truncated", "half a signature"),
        _invalid("zpipes.malformed.zre-signature", [bytes.fromhex("aaa1060200 03".replace(" ", ""))],
                 "bad-signature", "a ZRE PING (AA A1) is not ZPIPES"),
        _invalid("zpipes.malformed.zrelog-signature", [b"\xaa\xa2\x01"], "bad-signature",
                 "a ZRE/LOG signature (AA A2)"),
        _invalid("zpipes.malformed.no-id", [sig], "truncated", "signature only"),
        _invalid("zpipes.malformed.id-0", [sig + b"\x00"], "unknown-id", "id 0 is not declared"),
        _invalid("zpipes.malformed.id-22", [sig + b"\x16"], "unknown-id",
                 "id 22: one past INVALID (21)"),
        _invalid("zpipes.malformed.input-no-name", [sig + b"\x01"], "truncated",
                 "INPUT without its pipename length", f"{SPEC}#input"),
        _invalid("zpipes.malformed.input-name-overflow", [sig + b"\x01\x05ab"], "length-overflow",
                 "INPUT name declares 5 bytes, 2 remain", f"{SPEC}#input"),
        _invalid("zpipes.malformed.input-name-not-utf8", [sig + b"\x01\x02\xff\xfe"], "invalid-utf8",
                 "pipe names are UTF-8 text", f"{SPEC}#input"),
        _invalid("zpipes.malformed.read-short-size", [sig + b"\x07\x00\x00"], "truncated",
                 "READ size needs 4 bytes", f"{SPEC}#read"),
        _invalid("zpipes.malformed.read-no-timeout", [sig + b"\x07\x00\x00\x00\x01"], "truncated",
                 "READ without its timeout", f"{SPEC}#read"),
        _invalid("zpipes.malformed.write-chunk-overflow",
                 [sig + b"\x0c\xff\xff\xff\xff" + b"x" * 8], "length-overflow",
                 "WRITE chunk declares 4 GiB - 1, 8 bytes remain (nothing may be allocated)",
                 f"{SPEC}#write"),
        _invalid("zpipes.malformed.write-no-timeout", [sig + b"\x0c\x00\x00\x00\x02hi"], "truncated",
                 "WRITE without its timeout", f"{SPEC}#write"),
        _invalid("zpipes.malformed.read-ok-short-length", [sig + b"\x08\x00\x00"], "truncated",
                 "READ-OK chunk length cut short", f"{SPEC}#read"),
        _invalid("zpipes.malformed.ping-trailing", [sig + b"\x13\x00"], "trailing-bytes",
                 "one byte after a complete PING", f"{SPEC}#ping"),
        _invalid("zpipes.malformed.ping-extra-frame", [sig + b"\x13", b""], "frame-count",
                 "ZPIPES messages are exactly one frame", f"{SPEC}#ping"),
    ]


def id_table_case() -> dict[str, Any]:
    ours = {ms.name: ms.id for ms in m.ZPIPES.by_id.values()}
    if ours != ZBROKER_IDS:
        raise SystemExit(f"zpipes ids drifted from zbroker's order: {ours}")
    return {
        "id": "zpipes.ids.zbroker-order", "spec": f"{SPEC}#message-layout", "level": "MUST",
        "result": "valid", "source": [ZBROKER], "kind": "function",
        "description": "message name -> id, in zbroker's declaration order (the only source of the ids)",
        "input": "zpipes_msg.xml declaration order", "output": ZBROKER_IDS,
    }


def files() -> dict[str, dict[str, Any]]:
    head = {"schema": SCHEMA, "protocol": "zpipes", "spec": SPEC}
    return {
        "zpipes/messages.json": {
            **head, "description": "Every ZPIPES message, valid (AA A0, no version byte)",
            "cases": [id_table_case(), *valid_cases()],
        },
        "zpipes/invalid.json": {
            **head, "description": "Malformed ZPIPES frames and the error each must raise",
            "cases": invalid_cases(),
        },
    }
