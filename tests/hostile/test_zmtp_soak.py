"""Long hostile-peer runs against a ZMTP PUB (tox -e soak; not in CI's default envs)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.hostile.harness import victim
from tests.hostile.zmtp_peers import attacker, handshake_bytes
from zre_ref.zmtp.commands import Subscribe, encode_command
from zre_ref.zmtp.connection import Connection, HandshakeCompleted, MessageReceived
from zre_ref.zmtp.frames import COMMAND, frame_header

#: a PUB that publishes a numbered message on topic b"good" every 10 ms and reports the worst
#: loop stall of the last 50 ms and its stats
PUB_VICTIM = """
import asyncio, json, logging, sys, time
logging.basicConfig(level=logging.WARNING)
from zre_ref.aio.zmtp import Socket

def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\\n")
    sys.stdout.flush()

async def main():
    async with Socket("PUB") as pub:
        say(ready=await pub.bind("tcp://127.0.0.1:*"))
        worst, seq, n = 0.0, 0, 0
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)  # the publisher's pace; also the stall watchdog's tick
            worst = max(worst, time.monotonic() - t0 - 0.01)
            n += 1
            await pub.send_multipart([b"good", b"%d" % n])
            if n % 5 == 0:
                seq += 1
                say(seq=seq, stall=worst, **pub.stats())
                worst = 0.0

asyncio.run(main())
"""


def _subscribe_frame(topic: bytes) -> bytes:
    body = encode_command(Subscribe(topic))
    return frame_header(COMMAND, len(body)) + body


@pytest.mark.soak
@pytest.mark.net
def test_a_million_subscriptions_do_not_slow_publishing(tmp_path: Path) -> None:
    """One SUB sends 1,000,000 prefixes; once they are in, the PUB keeps publishing to a
    well-behaved SUB every 10 ms with loop stalls far below the issue's 0.23 s per publish."""
    with victim(PUB_VICTIM, tmp_path) as v:
        port = int(v.expect(lambda line: "ready" in line)["ready"].rsplit(":", 1)[1])
        subs = b"".join(_subscribe_frame(b"%08d" % i) for i in range(1_000_000))
        greedy = attacker(port, handshake_bytes(b"SUB") + subs)
        try:
            v.expect(lambda line: line.get("subscription_bytes", 0) >= 1_000_000 * 136, 120)
            first = max(line.get("seq", 0) for line in v.lines)
            conn = Connection("SUB")
            got = 0
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(conn.data_to_send())
                deadline = time.monotonic() + 30
                while got < 100 and time.monotonic() < deadline:
                    for ev in conn.receive_data(s.recv(65536)):
                        if isinstance(ev, HandshakeCompleted):
                            conn.send_subscribe(b"good")
                        elif isinstance(ev, MessageReceived):
                            got += 1
                    out = conn.data_to_send()
                    if out:
                        s.sendall(out)
            assert got == 100
            v.expect(lambda line: line.get("seq", 0) > first + 10)
            worst = max(line["stall"] for line in v.lines if line.get("seq", 0) > first)
            assert worst < 0.2, worst
        finally:
            greedy.close()
