"""`zre-conformance run --pcap DIR`: one pcap per case with its beacons and both directions of
its TCP streams (decoded by tshark + the generated dissector in tests/interop)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from zre_conformance.cli import main

from tests.test_pcap import read_pcap, streams

pytestmark = pytest.mark.net

HELLO_START = b"\xaa\xa1\x01\x02\x00\x01"  # signature, HELLO, version 2, sequence 1


def _check(pcap: Path) -> None:
    packets = read_pcap(pcap.read_bytes())
    beacons = [p.payload for p in packets if p.proto == "udp"]
    assert beacons and all(b.startswith(b"ZRE\x01") and len(b) == 22 for b in beacons)
    got = streams(packets)
    # the runner's HELLO to the IUT and the IUT's HELLO to the runner, each after a greeting
    assert len([s for s in got.values() if s.startswith(b"\xff") and HELLO_START in s]) >= 2


def test_pcap_per_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pcaps"
    code = main(["run", "--case", "hello.tcp-first", "--case", "hello.fields", "--pcap", str(out),
                 "--quiet", "--seed", "pcap1"])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["hello.fields.pcap", "hello.tcp-first.pcap"]
    _check(out / "hello.tcp-first.pcap")


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0
                    or shutil.which("ip") is None, reason="--netns needs root and ip")
def test_pcap_from_netns_children(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pcaps"
    code = main(["run", "--case", "hello.tcp-first", "--netns", "--pcap", str(out), "--quiet",
                 "--seed", "pcap2"])
    assert code == 0, capsys.readouterr()
    _check(out / "hello.tcp-first.pcap")


def test_pcap_per_attempt_under_repeat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pcaps"
    code = main(["run", "--case", "hello.tcp-first", "--repeat", "2", "--pcap", str(out),
                 "--quiet", "--seed", "pcap3"])
    assert code == 0, capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and "hello.tcp-first.pcap" in names, names
    for name in names:
        _check(out / name)
