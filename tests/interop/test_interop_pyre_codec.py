"""Cross-check of the ZRE vectors against pyre's own codec (zeromq-pyre): spec/deviations.md#pyre.

pyre's ``ZreMsg`` decodes every valid vector to the same fields and encodes the same fields to the
same frames. Where pyre deviates, the vector carries a ``pyre-deviates:*`` flag and this module
asserts exactly what pyre does instead: nothing is skipped. Beacons go through pyre's
``PyreNode.recv_beacon``. pyre needs a socket; a fake one records frames instead.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

zmq = pytest.importorskip("zmq")
zre_msg = pytest.importorskip("pyre.zre_msg")
pyre_node = pytest.importorskip("pyre.pyre_node")
pyre_peer = pytest.importorskip("pyre.pyre_peer")

pytestmark = pytest.mark.interop

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "zre"
ZreMsg = zre_msg.ZreMsg

#: pyre's message ids -> our spec names (pyre knows only RFC 36's seven)
PYRE_NAMES = {1: "HELLO", 2: "WHISPER", 3: "SHOUT", 4: "JOIN", 5: "LEAVE", 6: "PING",
              7: "PING-OK"}
IDS = {"HELLO": 1, "WHISPER": 2, "SHOUT": 3, "JOIN": 4, "LEAVE": 5, "PING": 6, "PING-OK": 7,
       "ELECT": 8, "LEADER": 9, "GOODBYE": 10}


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["id"] for c in cases]


class FakeSocket:
    """Enough of a zmq socket for ZreMsg.recv/send: a DEALER (no identity frame)."""

    type = zmq.DEALER

    def __init__(self, incoming: list[bytes] | None = None) -> None:
        self.incoming = incoming
        self.sent: list[bytes] = []

    def recv_multipart(self) -> list[bytes]:
        assert self.incoming is not None
        return list(self.incoming)

    def send(self, data: bytes, flags: int = 0) -> None:
        self.sent.append(bytes(data))

    def send_multipart(self, frames: list[bytes]) -> None:
        self.sent.extend(bytes(f) for f in frames)

    def close(self) -> None:
        pass


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pyre_decode(frames: list[bytes]) -> tuple[Any, list[str]]:
    """Run pyre's decoder; return (ZreMsg, what it logged). Exceptions propagate."""
    log = _Log()
    logger = logging.getLogger(zre_msg.__name__)
    old = logger.level
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    try:
        msg = ZreMsg()
        msg.recv(FakeSocket(frames))
    finally:
        logger.removeHandler(log)
        logger.setLevel(old)
    return msg, log.messages


def pyre_fields(msg: Any) -> dict[str, Any]:
    """pyre's decoded attributes in our JSON form."""
    name = PYRE_NAMES[msg.id]
    out: dict[str, Any] = {"type": name, "version": 2, "sequence": msg.sequence}
    if name == "HELLO":
        out.update(endpoint=msg.endpoint, groups=list(msg.groups), status=msg.status,
                   name=msg.name, headers=[[k, v] for k, v in msg.headers.items()])
    if name in ("SHOUT", "JOIN", "LEAVE"):
        out["group"] = msg.group
    if name in ("JOIN", "LEAVE"):
        out["status"] = msg.status
    if name in ("WHISPER", "SHOUT"):
        # pyre keeps b"" (not a list) when no content frame came
        out["content"] = [] if msg.content == b"" else [bytes(f).hex() for f in msg.content]
    return out


def pyre_encode(fields: dict[str, Any]) -> list[bytes]:
    """Run pyre's encoder on our JSON fields; return the frames it sends."""
    msg = ZreMsg(IDS[fields["type"]])
    msg.sequence = fields["sequence"]
    for key in ("endpoint", "status", "name", "group"):
        if key in fields:
            setattr(msg, key, fields[key])
    if "groups" in fields:
        msg.groups = list(fields["groups"])
    if "headers" in fields:
        msg.headers = dict(fields["headers"])  # [key, value] pairs in wire order
    if "content" in fields:
        msg.content = [bytes.fromhex(h) for h in fields["content"]]
    sock = FakeSocket()
    msg.send(sock)
    return sock.sent


# -- pyre's string bug, modelled: length = characters, bytes = UTF-8 cut to that many -----------
def _pyre_string(s: str) -> bytes:
    return bytes((len(s),)) + s.encode("utf-8")[: len(s)]


def _pyre_longstr(s: str) -> bytes:
    return struct.pack(">I", len(s)) + s.encode("utf-8")[: len(s)]


def pyre_model(fields: dict[str, Any]) -> bytes:
    """The data frame pyre 0.3.4 writes, per spec/deviations.md#pyre-non-ascii-length."""
    t = fields["type"]
    out = bytes((0xAA, 0xA1, IDS[t], 2)) + struct.pack(">H", fields["sequence"])
    if t == "HELLO":
        out += _pyre_string(fields["endpoint"]) + struct.pack(">I", len(fields["groups"]))
        out += b"".join(_pyre_longstr(g) for g in fields["groups"])
        out += bytes((fields["status"],)) + _pyre_string(fields["name"])
        out += struct.pack(">I", len(fields["headers"]))
        out += b"".join(_pyre_string(k) + _pyre_longstr(v) for k, v in fields["headers"])
    elif t in ("SHOUT", "JOIN", "LEAVE"):
        out += _pyre_string(fields["group"])
        if t != "SHOUT":
            out += bytes((fields["status"],))
    return out


MESSAGES = _cases("messages.json")


@pytest.mark.parametrize("case", MESSAGES, ids=_ids(MESSAGES))
def test_pyre_decodes_valid_vector(case: dict[str, Any]) -> None:
    frames = [bytes.fromhex(h) for h in case["frames"]]
    msg, log = pyre_decode(frames)
    if "pyre-deviates:unknown-id" in case.get("flags", []):
        # ids 8..10: pyre reads signature, id and version, then gives up: no sequence, no fields
        assert msg.id == IDS[case["fields"]["type"]]
        assert msg.sequence == 0 and msg.group is None
        assert any("unknown" in m for m in log), log
        return
    assert not log, log
    assert pyre_fields(msg) == case["fields"]


@pytest.mark.parametrize("case", MESSAGES, ids=_ids(MESSAGES))
def test_pyre_encodes_valid_vector(case: dict[str, Any]) -> None:
    flags = case.get("flags", [])
    frames = pyre_encode(case["fields"])
    want = [bytes.fromhex(h) for h in case["frames"]]
    if "pyre-deviates:unknown-id" in flags:
        # pyre writes signature, id and version and nothing else (not even the sequence)
        assert frames == [want[0][:4]]
        return
    if "pyre-deviates:non-ascii-length" in flags:
        assert frames[0] != want[0]
        assert frames[0] == pyre_model(case["fields"])
        assert frames[1:] == want[1:]
        return
    assert frames == want


def test_non_ascii_model_matches_pyre_on_the_wire() -> None:
    """spec/deviations.md#pyre-non-ascii-length: pyre writes 'grü' as 03 67 72 C3."""
    assert _pyre_string("grü") == bytes.fromhex("036772c3")
    assert pyre_encode({"type": "JOIN", "sequence": 1, "group": "grü", "status": 1})[0][6:10] \
        == bytes.fromhex("036772c3")


def test_every_deviation_flag_is_asserted() -> None:
    """A new pyre-deviates flag must get its own branch in this module."""
    known = {"pyre-deviates:unknown-id", "pyre-deviates:non-ascii-length",
             "pyre-deviates:beacon-size", "pyre-deviates:sequence-wrap"}
    for name in ("messages.json", "invalid.json", "beacon.json", "session.json"):
        for case in _cases(name):
            for flag in case.get("flags", []):
                if flag.startswith("pyre-"):
                    assert flag in known, (case["id"], flag)


# -- invalid vectors: what pyre does with them ----------------------------------------------------
INVALID = _cases("invalid.json")


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_pyre_on_invalid_vector(case: dict[str, Any]) -> None:
    """pyre refuses what we refuse, though by logging or raising rather than a typed error; the
    lenient cases (trailing bytes, extra frames) it accepts (spec/deviations.md#pyre-strictness)."""
    frames = [bytes.fromhex(h) for h in case["frames"]]
    err = case["error"]["error"]
    if not frames:
        with pytest.raises(IndexError):
            pyre_decode(frames)
        return
    try:
        msg, log = pyre_decode(frames)
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        # a truncated, overflowing or non-UTF-8 field: pyre raises, and PyreNode.recv_peer does
        # not catch it (spec/deviations.md#pyre-exceptions)
        assert err in ("truncated", "length-overflow", "invalid-utf8"), (err, exc)
        if err == "invalid-utf8":
            assert isinstance(exc, UnicodeDecodeError)
        return
    if err == "bad-signature":
        assert any("signature" in m for m in log), log
    elif msg.id in (8, 9, 10):
        # an extension message pyre does not know: it stops after the version byte, so what
        # follows is never looked at (spec/deviations.md#pyre-extensions)
        assert any("unknown" in m for m in log), log
    elif err == "bad-version":
        assert any("version" in m.lower() for m in log), log
    elif err == "unknown-id":
        assert any("unknown" in m for m in log), log
    elif err in ("trailing-bytes", "frame-count"):
        assert "lenient-decoders-accept" in case.get("flags", [])
        assert not log and msg.id in PYRE_NAMES  # accepted as if valid
    elif err == "truncated" and frames[0] == b"":
        assert msg.id is None  # pyre ignores an empty data frame
    else:
        pytest.fail(f"pyre accepted {case['id']} ({err}) silently: {pyre_fields(msg)}")


# -- beacons through PyreNode.recv_beacon ----------------------------------------------------------
class _BeaconSocket:
    def __init__(self, frame: bytes) -> None:
        self.frame = frame

    def recv_multipart(self) -> list[bytes]:
        return [b"127.0.0.1", self.frame]


class _NodeStub:
    """The attributes PyreNode.recv_beacon touches."""

    def __init__(self, frame: bytes, known: uuid.UUID | None = None) -> None:
        self.beacon_socket = _BeaconSocket(frame)
        self.required: list[tuple[uuid.UUID, str]] = []
        self.removed: list[Any] = []
        self.peers: dict[uuid.UUID, Any] = {known: "peer"} if known else {}

    def require_peer(self, peer_id: uuid.UUID, endpoint: str) -> Any:
        self.required.append((peer_id, endpoint))

        class _Peer:
            def refresh(self) -> None:
                pass

        return _Peer()

    def remove_peer(self, peer: Any) -> None:
        self.removed.append(peer)


BEACONS = _cases("beacon.json")


@pytest.mark.parametrize("case", BEACONS, ids=_ids(BEACONS))
def test_pyre_on_beacon_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    fields = case.get("fields")
    known = uuid.UUID(hex=fields["uuid"]) if fields else None
    node = _NodeStub(data, known)
    if "pyre-deviates:beacon-size" in case.get("flags", []) or (
            case["result"] != "valid" and len(data) != 22):
        # pyre unpacks exactly 22 bytes: anything else raises struct.error, uncaught in its node
        with pytest.raises(struct.error):
            pyre_node.PyreNode.recv_beacon(node)
        return
    pyre_node.PyreNode.recv_beacon(node)
    if case["result"] != "valid":
        err = case["error"]["error"]
        if data[3] != 1:
            # pyre's version check (== 1) refuses it: no peer made, nothing removed
            assert err in ("bad-beacon-version", "bad-beacon-size")
            assert not node.required and not node.removed
        else:
            # recv_beacon does not look at the prefix; pyre's zbeacon filter drops datagrams
            # not starting with 'ZRE' before they get here (pyre/zbeacon.py)
            assert err == "bad-beacon-prefix" and node.required
        return
    assert fields is not None
    if fields["port"] == 0:
        assert node.removed == ["peer"] and not node.required
    else:
        assert node.required == [(known, f"tcp://127.0.0.1:{fields['port']}")]
    # the way PyreNode.start packs its beacon (pyre_node.py): struct 'cccb16sH' + htons
    packed = struct.pack("cccb16sH", b"Z", b"R", b"E", 1, bytes.fromhex(fields["uuid"]),
                         socket.htons(fields["port"]))
    assert packed == data


# -- sequence wrap: PyrePeer.send counts modulo 65535 ----------------------------------------------
def test_pyre_sequence_wrap_deviates() -> None:
    """zyre and zre-ref go 65534, 65535, 0, 1; pyre skips 65535 (spec/deviations.md#pyre-sequence)."""
    case = next(c for c in _cases("session.json") if c["id"] == "zre.session.sequence-wrap")
    assert "pyre-deviates:sequence-wrap" in case["flags"]
    ours = [step["fields"]["sequence"] for step in case["steps"]]
    assert ours == [65534, 65535, 0, 1]
    peer = pyre_peer.PyrePeer(None, uuid.UUID(int=1))
    sock = FakeSocket()
    peer.mailbox, peer.connected = sock, True
    peer.sent_sequence = 65533
    for _ in ours:
        peer.send(ZreMsg(ZreMsg.PING))
    pyre_seqs = [struct.unpack(">H", frame[4:6])[0] for frame in sock.sent]
    assert pyre_seqs == [65534, 0, 1, 2]
    peer.connected = False
