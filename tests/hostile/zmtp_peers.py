"""Raw ZMTP peers for the hostile-peer tests: attackers that write bytes, and a well-behaved
DEALER driven through the sans-IO Connection over a blocking socket (no event loop needed)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.harness import Victim
from zre_ref.zmtp.commands import Ready, encode_command
from zre_ref.zmtp.connection import Connection, HandshakeCompleted, MessageReceived
from zre_ref.zmtp.frames import COMMAND, frame_header
from zre_ref.zmtp.greeting import greeting_stages

#: a ROUTER in a child process that echoes every message and reports Socket.stats() and the
#: worst event-loop stall (``stall``, seconds) every 50 ms; OPTIONS is replaced by the test
VICTIM = """
import asyncio, json, logging, sys, time
logging.basicConfig(level=logging.WARNING)
from zre_ref.aio.zmtp import Socket

PRELUDE

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\\n")
    sys.stdout.flush()

async def main():
    async with Socket("ROUTER", **OPTIONS) as r:
        say(ready=await r.bind("tcp://127.0.0.1:*"))

        async def echo():
            while True:
                await r.send_multipart(await r.recv_multipart())

        task = asyncio.ensure_future(echo())
        worst = 0.0
        seq = 0
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.05)  # the watchdog's tick: it measures stalls
            worst = max(worst, time.monotonic() - t0 - 0.05)
            seq += 1
            say(seq=seq, stall=worst, **r.stats())

asyncio.run(main())
"""


#: the victim's transport: asyncio's, and aio/rawstream.py's (``raw_transport=True``); the
#: tests that bring a victim run once with each
TRANSPORTS = pytest.mark.parametrize("raw", [False, True], ids=["asyncio", "raw"])


def victim_script(options: dict[str, Any], prelude: str = "", raw: bool = False) -> str:
    options = {**options, "raw_transport": raw}
    return VICTIM.replace("OPTIONS", repr(options)).replace("PRELUDE", prelude)


def port_of(v: Victim) -> int:
    return int(v.expect(lambda line: "ready" in line)["ready"].rsplit(":", 1)[1])


def handshake_bytes(socket_type: bytes = b"DEALER") -> bytes:
    """A NULL greeting and READY, all at once (what an attacker sends before its payload)."""
    sig, major, rest = greeting_stages()
    ready = encode_command(Ready({"Socket-Type": socket_type, "Identity": b""}))
    return sig + major + rest + frame_header(COMMAND, len(ready)) + ready


def attacker(port: int, payload: bytes) -> socket.socket:
    """A connection that writes ``payload`` and keeps the socket open (never reads)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    with contextlib.suppress(OSError):  # the victim may close it as soon as it sees enough
        s.sendall(payload)
    return s


def reports_after(v: Victim, seq: int, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``count`` stats reports after report number ``seq``."""
    last = v.expect(lambda line: line.get("seq", 0) >= seq + count, timeout)
    return [line for line in v.lines if seq < line.get("seq", 0) <= last["seq"]]


def latest_seq(v: Victim) -> int:
    """The number of the newest stats report read so far (waiting for the first)."""
    v.expect(lambda line: "seq" in line)
    return max(int(line.get("seq", 0)) for line in v.lines)


def settled(v: Victim, keys: tuple[str, ...], timeout: float = 30.0) -> dict[str, Any]:
    """Wait until three reports in a row agree on ``keys``; returns the last."""
    deadline = time.monotonic() + timeout
    seq = latest_seq(v)
    while time.monotonic() < deadline:
        window = reports_after(v, seq, 3)[-3:]
        if all(tuple(r[k] for k in keys) == tuple(window[0][k] for k in keys) for r in window):
            return window[-1]
        seq = window[-1]["seq"]
    raise TimeoutError(f"{keys} did not settle: {v.lines[-3:]}")


def good_roundtrip(port: int, payload: bytes, timeout: float = 10.0) -> None:
    """A well-behaved DEALER connects, sends ``payload`` and gets it echoed back."""
    conn = Connection("DEALER", identity=b"good")
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(conn.data_to_send())
        sent = False
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(65536)
            if not data:
                raise ConnectionError("the victim closed the well-behaved peer's connection")
            for ev in conn.receive_data(data):
                if isinstance(ev, HandshakeCompleted) and not sent:
                    conn.send_message([payload])
                    sent = True
                elif isinstance(ev, MessageReceived):
                    assert ev.frames == [payload], ev.frames
                    return
            out = conn.data_to_send()
            if out:
                s.sendall(out)
    raise TimeoutError("no echo for the well-behaved peer")


@contextlib.contextmanager
def closing_all(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for s in socks:
            s.close()
