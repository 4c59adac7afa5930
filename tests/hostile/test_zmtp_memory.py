"""Hostile peers against a ZMTP ROUTER in a child process: memory stays bounded in bytes
(issue: hostile peers, item 2; README "Bounds"; spec/zmtp.md#limits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.harness import victim
from tests.hostile.zmtp_peers import (
    TRANSPORTS,
    attacker,
    closing_all,
    good_roundtrip,
    handshake_bytes,
    port_of,
    settled,
    victim_script,
)
from zre_ref.wire import pack_flags_u64
from zre_ref.zmtp.frames import COMMAND, LONG
from zre_ref.zmtp.greeting import greeting_stages
from zre_ref.zmtp.receiver import BODY_CHUNK, FRAME_OVERHEAD

MiB = 1 << 20
#: interpreter, allocator and asyncio noise on top of a bound (RSS moves by a few MiB)
SLACK = 24 * MiB


@pytest.mark.net
@TRANSPORTS
@pytest.mark.parametrize("when", ["before-handshake", "after-handshake"])
def test_declared_64_mib_frames_allocate_nothing(tmp_path: Path, when: str, raw: bool) -> None:
    """20 connections each send a 9-byte header declaring a 64 MiB frame and nothing more.
    Before the handshake it is a command over MAX_HANDSHAKE_COMMAND, refused from its header;
    after it, each connection holds one BODY_CHUNK (the first allocation of a large body),
    not 64 MiB. RSS grows by less than 20 BODY_CHUNKs + slack (it grew by 1.28 GB before)."""
    with victim(victim_script({}, raw=raw), tmp_path) as v:
        port = port_of(v)
        good_roundtrip(port, b"warm-up")
        base = settled(v, ("peers",))
        rss0 = v.rss()
        if when == "before-handshake":
            sig, major, rest = greeting_stages()
            payload = sig + major + rest + pack_flags_u64(COMMAND | LONG, 64 * MiB)
        else:
            payload = handshake_bytes() + pack_flags_u64(LONG, 64 * MiB)
        with closing_all([attacker(port, payload) for _ in range(20)]):
            now = settled(v, ("peers", "unfinished_bytes"))
            grew = v.rss() - rss0
            if when == "after-handshake":
                assert now["peers"] == base["peers"] + 20
                assert now["unfinished_bytes"] == 20 * BODY_CHUNK
            else:
                assert now["peers"] == base["peers"] and now["unfinished_bytes"] == 0
            assert grew < 20 * BODY_CHUNK + SLACK, grew
            good_roundtrip(port, b"still served")
        assert v.alive()
        assert v.log_bytes() < 4096 and "Traceback" not in v.log_text(), v.log_text()


@pytest.mark.net
@TRANSPORTS
def test_parked_multiparts_bounded_by_the_socket_budget(tmp_path: Path, raw: bool) -> None:
    """100 connections each park an unfinished multipart of 65,000 2-byte frames (260 kB
    sent each). Each frame is counted with FRAME_OVERHEAD against max_unfinished_bytes
    (here 16 MiB): connections that would go over it are closed ("over-budget", logged once
    per interval); RSS grows by less than the budget + slack (it grew by ~360 MB before)."""
    budget = 16 * MiB
    frames = b"\x01\x02ab" * 65_000
    with victim(victim_script({"max_unfinished_bytes": budget}, raw=raw), tmp_path) as v:
        port = port_of(v)
        good_roundtrip(port, b"warm-up")
        base = settled(v, ("peers",))
        rss0 = v.rss()
        with closing_all([attacker(port, handshake_bytes() + frames) for _ in range(100)]):
            now = settled(v, ("peers", "unfinished_bytes"))
            grew = v.rss() - rss0
            assert 0 < now["unfinished_bytes"] <= budget
            parked = now["peers"] - base["peers"]
            assert 0 < parked < 100  # some were closed at the budget
            assert now["unfinished_bytes"] >= parked * 60_000 * (2 + FRAME_OVERHEAD) // 2
            assert grew < budget + SLACK, grew
            good_roundtrip(port, b"still served")
        assert v.alive()
        log = v.log_text()
        assert "over-budget" in log and len(log) < 4096 and "Traceback" not in log, log


@pytest.mark.net
@TRANSPORTS
def test_messages_waiting_bounded_in_bytes(tmp_path: Path, raw: bool) -> None:
    """A peer that sends faster than the application reads is paused at rcvhwm_bytes, even
    when rcvhwm (messages) is unlimited: 200 MB sent, the queue holds about rcvhwm_bytes."""
    script = victim_script({"rcvhwm": 0, "rcvhwm_bytes": 8 * MiB}, raw=raw).replace(
        "task = asyncio.ensure_future(echo())", "task = None  # the application never reads")
    body = b"x" * (1 * MiB)
    msg = pack_flags_u64(LONG, len(body)) + body
    with victim(script, tmp_path) as v:
        port = port_of(v)
        rss0 = v.rss()
        s = attacker(port, handshake_bytes())
        with closing_all([s]):
            s.settimeout(0.5)
            sent = 0
            try:
                for _ in range(200):
                    s.sendall(msg)
                    sent += 1
            except TimeoutError:
                pass  # the victim stopped reading: the kernel buffers are full
            now = settled(v, ("received", "received_bytes"))
            assert 0 < sent < 200
            assert 8 * MiB <= now["received_bytes"] <= 8 * MiB + 2 * (MiB + 3 * FRAME_OVERHEAD)
            assert v.rss() - rss0 < 8 * MiB + 2 * MiB + SLACK
