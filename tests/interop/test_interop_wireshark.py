"""A conformance run's pcaps, decoded by tshark with the generated Lua dissector, show the same
ZRE messages (every field) and the same beacons as the run's wire log.

tshark is Debian's (tests/interop/setup-tshark.sh installs it); under CI=true its absence fails.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from zre_conformance.cases import all_cases, select
from zre_conformance.peer import describe
from zre_conformance.runner import Runner, RunOptions

from zre_ref.codec import Protocol
from zre_ref.pcap import PcapWriter
from zre_ref.wireshark import declared_protocols, generate
from zre_ref.zmtp.frames import encode_frame, encode_message
from zre_ref.zmtp.greeting import Greeting, encode_greeting
from zre_ref.zre import messages as zm

pytestmark = pytest.mark.interop

#: cases whose wire log records every message (no quiet floods), with content frames and groups
CASES = ["hello.fields", "hello.groups", "shout.recv.multi", "whisper.*", "group.join", "ping.*"]


def _tshark() -> str:
    found = shutil.which("tshark")
    if found is None and os.environ.get("CI"):
        raise AssertionError("CI=true but tshark is missing (tests/interop/setup-tshark.sh)")
    if found is None:
        pytest.skip("needs tshark (apt-get install tshark)")
    return found


def _pdml(tshark: str, lua: Path, pcap: Path, *options: str) -> ET.Element:
    proc = subprocess.run([tshark, "-n", "-X", f"lua_script:{lua}", *options, "-r", str(pcap),
                           "-T", "pdml"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr and "error" not in proc.stderr.lower(), proc.stderr
    return ET.fromstring(proc.stdout)


def _fields_from_pdml(root: ET.Element) -> list[tuple[Protocol, dict[str, Any]]]:
    """Each dissected message of a declared protocol, rebuilt as its JSON form from the fields;
    content frames dissected in later packets join the last message sent in their direction."""
    known = {p.name: p for p in declared_protocols()}
    out: list[tuple[Protocol, dict[str, Any]]] = []
    last: dict[tuple[str, str], tuple[Protocol, dict[str, Any]]] = {}
    for packet in root.iter("packet"):
        ports = {f.get("name"): str(f.get("show")) for f in packet.iter("field")
                 if f.get("name") in ("tcp.srcport", "tcp.dstport")}
        way = (ports.get("tcp.srcport", ""), ports.get("tcp.dstport", ""))
        for proto in packet.iter("proto"):
            p = known.get(str(proto.get("name")))
            if p is None:
                continue
            fields = list(proto.iter("field"))
            content = [str(f.get("value", "")) for f in fields if f.get("name") == f"{p.name}.content"]
            kind = next((f.get("show") for f in fields if f.get("name") == f"{p.name}.type"), None)
            if kind is None:  # content frames of the message before them
                owner, msg = last[way]
                frames_field = owner.by_name[msg["type"]].frames_field
                assert frames_field is not None, msg
                msg[frames_field.name] += content
                continue
            ms = p.by_name[str(kind)]
            obj: dict[str, Any] = {"type": kind}
            for spec in ms.fields:
                names = (f"{p.name}.{spec.name}", f"{p.name}.{ms.name.lower()}.{spec.name}")
                found = [f for f in fields if f.get("name") in names]
                shown = [str(f.get("show")) for f in found]
                wire_name = spec.kind.describe()
                if wire_name == "strings":
                    obj[spec.name] = shown
                elif wire_name == "hash":
                    obj[spec.name] = dict(s.split("=", 1) for s in shown)
                elif wire_name.startswith("number"):
                    obj[spec.name] = int(shown[0])
                elif wire_name == "chunk" or wire_name.startswith("octets"):
                    obj[spec.name] = str(found[0].get("value", ""))
                else:
                    obj[spec.name] = shown[0]
            if ms.frames_field is not None:
                obj[ms.frames_field.name] = content
            out.append((p, obj))
            last[way] = (p, obj)
    return out


def _messages_from_pdml(root: ET.Element) -> list[str]:
    """Each dissected ZRE message, as the wire log shows it."""
    return [describe(zm.ZRE.from_json(obj)) for p, obj in _fields_from_pdml(root) if p is zm.ZRE]


def _beacons_from_pdml(root: ET.Element) -> set[tuple[str, int]]:
    out = set()
    for proto in root.iter("proto"):
        if proto.get("name") == "zre_beacon":
            f = {x.get("name"): x for x in proto.iter("field")}
            out.add((str(f["zre_beacon.uuid"].get("value")).upper(),
                     int(str(f["zre_beacon.port"].get("show")))))
    return out


_LOGGED_MSG = re.compile(r"^P\d*(?:<-[0-9A-F]+|->) (.*)$")
_LOGGED_BEACON = re.compile(r"uuid=([0-9A-F]{32}) port=(\d+)")


def test_run_pcaps_decode_like_the_wire_log(tmp_path: Path) -> None:
    tshark = _tshark()
    lua = tmp_path / "zre.lua"
    lua.write_text(generate())
    cases = select(all_cases(), CASES, [])
    assert len(cases) >= 6
    opts = RunOptions(agent_argv=[sys.executable, "-m", "zre_ref.agent"], agent_display="",
                      seed="pcap", pcap_dir=str(tmp_path / "pcaps"))
    run = asyncio.run(Runner(opts).run(cases))
    compared = 0
    for result in run.results:
        assert result.verdict.value == "PASS", (result.case_id, result.message)
        root = _pdml(tshark, lua, tmp_path / "pcaps" / f"{result.case_id}.pcap")
        logged, beacons = [], set()
        for entry in result.wire_log:
            if entry.channel in ("tcp-in", "tcp-out"):
                m = _LOGGED_MSG.match(entry.text)
                assert m is not None, entry.text
                logged.append(m.group(1))
            elif entry.channel in ("udp-in", "udp-out"):
                b = _LOGGED_BEACON.search(entry.text)
                assert b is not None, entry.text
                beacons.add((b.group(1), int(b.group(2))))
        decoded = _messages_from_pdml(root)
        assert collections.Counter(decoded) == collections.Counter(logged), result.case_id
        assert _beacons_from_pdml(root) == beacons, result.case_id
        compared += len(logged)
    assert compared >= 15  # the comparison saw real traffic


def _one_stream_pcap(path: Path, stream: bytes, segment: int) -> Path:
    """``stream`` as one TCP connection's client-to-server bytes, ``segment`` bytes a packet."""
    with path.open("wb") as fh:
        tcp = PcapWriter(fh).tcp_open(("10.0.0.1", 40000), ("10.0.0.2", 5670))
        for i in range(0, len(stream), segment):
            tcp.send(True, stream[i:i + segment])
        tcp.close()
    return path


def test_every_declared_protocol_from_the_vectors(tmp_path: Path) -> None:
    """Every valid message vector of every declared protocol, in one ZMTP stream cut into 7-byte
    segments (so every PDU is reassembled), decodes to the vector's fields."""
    tshark = _tshark()
    lua = tmp_path / "zre.lua"
    lua.write_text(generate())
    root_dir = Path(__file__).resolve().parents[2] / "vectors"
    by_name = {p.name: p for p in declared_protocols()}
    expected: list[tuple[str, dict[str, Any]]] = []
    stream = bytearray(encode_greeting(Greeting()))
    stream += encode_frame(b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER", command=True)
    for name in ("zre", "zrelog", "zpipes", "zgossip"):
        doc = json.loads((root_dir / name / "messages.json").read_text())
        for case in doc["cases"]:
            if case.get("kind", "message") != "message" or case.get("result") != "valid":
                continue
            frames = [bytes.fromhex(f) for f in case["frames"]]
            p = by_name[name]
            expected.append((name, p.to_json(p.decode(frames))))
            stream += encode_message(frames)
    assert {n for n, _ in expected} == {"zre", "zrelog", "zpipes", "zgossip"}
    pcap_path = _one_stream_pcap(tmp_path / "vectors.pcap", bytes(stream), 7)
    decoded = [(p.name, p.to_json(p.from_json(obj))) for p, obj in _fields_from_pdml(
        _pdml(tshark, lua, pcap_path))]
    assert decoded == expected
    # ZPIPES and ZGOSSIP share AA A0: a preference names the one to use
    forced = [p.name for p, _ in _fields_from_pdml(
        _pdml(tshark, lua, pcap_path, "-o", "zre_zmtp.sig_aaa0:ZGOSSIP"))]
    assert "zpipes" not in forced and forced.count("zgossip") == sum(
        1 for n, _ in expected if n == "zgossip")


def test_invalid_vectors_and_garbage_never_break_the_dissector(tmp_path: Path) -> None:
    """Every invalid message vector (truncated fields, huge counts, bad UTF-8, …), then random
    frames, then a ZMTP frame that claims 2**62 bytes: the dissector marks what is wrong and
    never fails (a Lua error would show in the tree as "Lua Error")."""
    import random

    tshark = _tshark()
    lua = tmp_path / "zre.lua"
    lua.write_text(generate())
    root_dir = Path(__file__).resolve().parents[2] / "vectors"
    stream = bytearray(encode_greeting(Greeting()))
    count = 0
    for name in ("zre", "zrelog", "zpipes", "zgossip"):
        for case in json.loads((root_dir / name / "invalid.json").read_text())["cases"]:
            frames = [bytes.fromhex(f) for f in case["frames"]] or [b""]
            stream += encode_message(frames)
            count += 1
    rng = random.Random(16)
    for _ in range(200):
        body = b"\xaa" + bytes([rng.choice((0xA0, 0xA1, 0xA2))]) + rng.randbytes(rng.randrange(0, 40))
        stream += encode_frame(body, more=rng.random() < 0.3)
    stream += b"\x02" + (1 << 62).to_bytes(8, "big") + b"never ends"
    pcap_path = _one_stream_pcap(tmp_path / "garbage.pcap", bytes(stream), 1000)
    proc = subprocess.run([tshark, "-n", "-X", f"lua_script:{lua}", "-r", str(pcap_path), "-V"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lua Error" not in proc.stdout and count > 150
    assert "runs past the end of the frame" in proc.stdout  # truncations are marked
