"""`zre-ref capture`: a capturing peer on loopback records the other node's beacons and HELLO,
JOIN and SHOUT as they crossed its sockets."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.test_aio_zre import free_udp_port
from tests.test_pcap import read_pcap, streams
from zre_ref.cli import main
from zre_ref.cli.capture import capture

pytestmark = pytest.mark.net


def test_capture_a_live_node(tmp_path: Path) -> None:
    """The other node is another process (in one process, nodes share one beacon socket)."""
    out = tmp_path / "live.pcap"
    port = free_udp_port()

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(capture(str(out), interface="lo", port=port, groups=["G"],
                                           name="cap", timeout=30.0, count=3))
        # waits for a peer in G (us), shouts once, exits: we see ENTER, JOIN G, SHOUT
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zre_ref.cli", "shout", "G", "captured!", "--name", "other",
            "--interface", "lo", "--port", str(port), "--beacon-interval", "0.1", "--wait", "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            packets, events = await asyncio.wait_for(task, 30)
            await asyncio.wait_for(other.communicate(), 20)
        finally:
            if other.returncode is None:
                other.kill()
                await other.wait()
        assert other.returncode == 0
        return packets, events

    packets, events = asyncio.run(scenario())
    assert events == 3 and packets > 10
    parsed = read_pcap(out.read_bytes())
    beacons = {p.payload[4:20] for p in parsed if p.proto == "udp" and p.payload.startswith(b"ZRE\x01")}
    assert len(beacons) == 2  # the other node's and the capturing node's own, heard back
    # each with its real destination (the loopback plan: broadcast and multicast)
    assert {p.dst for p in parsed if p.proto == "udp"} <= {"127.255.255.255", "225.25.25.25"}
    got = b"".join(streams(parsed).values())
    assert got.count(b"\xff") >= 2  # greetings
    assert b"\xaa\xa1\x01\x02\x00\x01" in got and b"\x05other" in got  # its HELLO (name other)
    assert b"\xaa\xa1\x03\x02" in got and b"captured!" in got  # and its SHOUT, with content


def test_capture_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capture", "-o", str(tmp_path / "x.pcap"), "--interface", "nosuch0"]) == 2
    assert main(["capture", "-o", str(tmp_path / "x.pcap"), "--count", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("zre-ref capture: ") for line in err)
