"""Attacks on the ZRE/LOG collector, in a child process (issue 10; spec/zrelog.md#limits).

The child runs ``LogCollector`` with its default limits, writing to a rotated file. Raw PUB peers
connect to its SUB socket and send frame headers that declare huge messages, malformed records
and a flood of valid records from forged node ids, while a well-behaved publisher's records
must keep arriving. Asserted from outside: it survives, the good records arrive, peak RSS grows
less than the README's bound, malformed records are counted and the log stays small.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import Victim, victim
from tests.hostile.rawpeer import RawPeer
from zre_ref.zmtp.frames import LONG
from zre_ref.zrelog import messages as m
from zre_ref.zrelog.collector import DEFAULT_RCVHWM, MAX_RECORD_MESSAGE

MiB = 1024 * 1024

#: The collector in the child: answers {"cmd": "stats", "malformed": N} on stdin once N
#: malformed records were counted (or after 60 s); prints {"good": data} per good record.
COLLECTOR = """
import asyncio, json, logging, os, sys
from tests.hostile.harness import answer_commands
from tests.waiting import holds_within
from zre_ref.aio.zrelog import JsonLines, LogCollector

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(levelname)s %(name)s: %(message)s")

def on_record(rec):
    if rec["data"].startswith("good"):
        print(json.dumps({"good": rec["data"]}), flush=True)

async def main():
    sink = JsonLines(os.environ["ZRELOG_OUT"], max_bytes=1_000_000, backups=2)
    collector = LogCollector(sink, on_record=on_record, log_interval=1.0)
    endpoint = await collector.bind("tcp://127.0.0.1:*")
    collector.start()
    core = collector.core

    async def answer(cmd):
        await holds_within(lambda: core.malformed >= cmd.get("malformed", 0), 60)
        return {"stats": {"malformed": core.malformed, "received": core.received,
                          "rate_counters": collector.rates.counters()}}

    await answer_commands({"ready": endpoint}, answer)

asyncio.run(main())
"""

#: README bound (ZRE/LOG collector): rcvhwm messages of at most MAX_RECORD_MESSAGE bytes, plus one
#: partial message per connection
def collector_bound(connections: int) -> int:
    return DEFAULT_RCVHWM * MAX_RECORD_MESSAGE + connections * MAX_RECORD_MESSAGE


SLACK = 24 * MiB


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[Victim, str]]:
    with victim(COLLECTOR, tmp_path, env={"ZRELOG_OUT": str(tmp_path / "zre.log")}) as v:
        yield v, v.expect(lambda line: "ready" in line)["ready"]


def record(data: str, node: int = 1, level: int = 3) -> bytes:
    return RawPeer.message(m.encode(m.Log(level=level, event=1, node=node, peer=2,
                                          time=1_400_000_000, data=data)))


def _header_bomb(endpoint: str, out: dict[str, Any]) -> None:
    """A long-frame header declaring 64 MiB, then a trickle: the connection must be closed."""
    with RawPeer(endpoint, "PUB") as peer:
        try:
            peer.send(bytes([LONG]) + (64 * MiB).to_bytes(8, "big") + b"x" * 100)
        except OSError:
            out["closed"] = True
            return
        out["closed"] = peer.closed_by_peer(timeout=20)


def _flood(endpoint: str, malformed: int, valid: int) -> None:
    with RawPeer(endpoint, "PUB") as peer:
        peer.send(RawPeer.message([b"\xaa\xa2\x09 not a record"]) * malformed)
        batch = b"".join(record(f"flood {i}", node=i % 65536) for i in range(1000))
        for _ in range(valid // 1000):
            peer.send(batch)


def _run(v: Victim, endpoint: str, bombs: int, malformed: int, valid: int) -> None:
    with RawPeer(endpoint, "PUB") as good:
        good.send(record("good-0"))
        v.expect(lambda line: line.get("good") == "good-0", timeout=20)
        baseline = v.rss()
        results: list[dict[str, Any]] = [{} for _ in range(bombs)]
        threads = [threading.Thread(target=_header_bomb, args=(endpoint, out)) for out in results]
        threads.append(threading.Thread(target=_flood, args=(endpoint, malformed, valid)))
        for t in threads:
            t.start()
        good.send(record("good-1"))  # served during the attack
        v.expect(lambda line: line.get("good") == "good-1", timeout=60)
        for t in threads:
            t.join(300)
            assert not t.is_alive()
        assert all(res.get("closed") for res in results), results
        stats = v.ask({"cmd": "stats", "malformed": malformed}, "stats", timeout=90)
        assert stats["malformed"] == malformed  # every one counted, none fatal
        good.send(record("good-2"))  # and after it
        v.expect(lambda line: line.get("good") == "good-2", timeout=60)
    growth = v.peak_rss() - baseline
    bound = collector_bound(bombs + 2) + SLACK
    assert growth < bound, f"RSS grew {growth / MiB:.0f} MiB, bound {bound / MiB:.0f} MiB"
    log = v.wait_log("more in the last")
    assert v.log_bytes() < 20_000, log[-2000:]
    assert "Traceback" not in log


def test_collector_survives_bombs_and_floods(collector: tuple[Victim, str]) -> None:
    """Before the limits: a 9-byte header allocated the declared 64 MiB (4 of them: +256 MiB),
    and every malformed record logged a WARNING."""
    v, endpoint = collector
    _run(v, endpoint, bombs=4, malformed=50_000, valid=20_000)


@pytest.mark.soak
def test_soak_collector_bombs_and_floods(collector: tuple[Victim, str]) -> None:
    v, endpoint = collector
    _run(v, endpoint, bombs=20, malformed=1_000_000, valid=500_000)
    stats = v.ask({"cmd": "stats"}, "stats")
    assert stats["rate_counters"] < 11 * 257 * 8
    assert json.dumps(stats)
