"""Hostile peers that try to stall a ZMTP socket's event loop or flood its log, against a
ROUTER / PUB in a child process (issue: hostile peers, items 4, 6 and 7)."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pytest

from tests.hostile.harness import victim
from tests.hostile.zmtp_peers import (
    TRANSPORTS,
    attacker,
    closing_all,
    good_roundtrip,
    latest_seq,
    port_of,
    reports_after,
    victim_script,
)
from zre_ref.wire import pack_flags_u64
from zre_ref.zmtp.connection import MAX_HANDSHAKE_COMMAND
from zre_ref.zmtp.frames import COMMAND, LONG
from zre_ref.zmtp.greeting import greeting_stages


def _tiny_ready(nbytes: int) -> bytes:
    """A READY command of about ``nbytes`` made of 6-byte properties (the issue's attack)."""
    props = b"\x01a\x00\x00\x00\x00" * (nbytes // 6)
    body = b"\x05READY" + props
    return pack_flags_u64(COMMAND | LONG, len(body)) + body


@pytest.mark.net
@TRANSPORTS
@pytest.mark.parametrize("size", [60_000_000, MAX_HANDSHAKE_COMMAND - 64])
def test_huge_ready_of_tiny_properties_does_not_stall(tmp_path: Path, size: int, raw: bool) -> None:
    """A 60 MB READY of tiny properties is refused from its header; one just under the byte cap
    (~175,000 properties) by the property cap, after walking MAX_METADATA_PROPERTIES property
    headers. The worst loop stall stays a small multiple of the quiet one (it was ~10 s), and
    a well-behaved peer is served."""
    sig, major, rest = greeting_stages()
    payload = sig + major + rest + _tiny_ready(size)
    with victim(victim_script({}, raw=raw), tmp_path) as v:
        port = port_of(v)
        good_roundtrip(port, b"warm-up")
        quiet = max(r["stall"] for r in reports_after(v, latest_seq(v), 5))
        socks = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            with contextlib.suppress(OSError):  # closed by the victim part way through
                s.sendall(payload)
            socks.append(s)
        with closing_all(socks):
            good_roundtrip(port, b"still served")
            after = reports_after(v, latest_seq(v), 5)
        worst = max(r["stall"] for r in after)
        assert worst < max(0.5, 20 * quiet), (worst, quiet)
        log = v.log_text()
        assert ("over the limit" in log or "properties" in log) and len(log) < 4096, log
        assert "Traceback" not in log and v.alive()


@pytest.mark.net
@TRANSPORTS
def test_emfile_pauses_accepting_logs_once_and_recovers(tmp_path: Path, raw: bool) -> None:
    """With RLIMIT_NOFILE lowered in the victim, 80 connections exhaust its descriptors: it
    stops accepting for ACCEPT_RETRY_IVL, logs one line per interval (asyncio's own accept
    loop logged a traceback per failed accept), and serves again once descriptors are free."""
    prelude = "import resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))"
    with victim(victim_script({"handshake_timeout": None}, prelude, raw=raw), tmp_path) as v:
        port = port_of(v)
        good_roundtrip(port, b"warm-up")
        with closing_all([attacker(port, b"") for _ in range(80)]):
            seq = latest_seq(v)
            reports_after(v, seq, 50)  # 2.5 s of reports while out of descriptors
            log = v.log_text()
            assert "not accepting" in log, log
            assert log.count("\n") <= 4 and len(log) < 2048 and "Traceback" not in log, log
        # the attackers are gone: the victim closes their connections (EOF) and accepts again
        good_roundtrip(port, b"served again", timeout=15)
        assert v.alive()
