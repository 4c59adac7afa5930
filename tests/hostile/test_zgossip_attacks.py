"""Attacks on a ZGOSSIP hub, in a child process (issue 14; spec/zgossip.md#limits).

The child runs :class:`~zre_ref.aio.zgossip.Gossip` bound on loopback with its default limits.
One raw client floods PUBLISH with new keys and 1 KiB values far beyond ``max_tuples``; another
sends malformed frames and never reads the INVALID answers; a third says HELLO and never reads
the tuples sent to it. A well-behaved client's tuples must keep arriving. Asserted from outside:
it survives, the good tuples arrive, peak RSS grows less than the README's bound, refused tuples
and malformed messages are counted, and the log stays small.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile.harness import Victim, victim
from tests.hostile.rawpeer import RawPeer
from zre_ref.aio.zgossip import QUEUE_MARGIN
from zre_ref.zgossip import messages as m
from zre_ref.zgossip.service import MAX_KEY_BYTES, MAX_TUPLES, MAX_VALUE_BYTES

MiB = 1024 * 1024

HUB = """
import asyncio, json, logging, sys
from tests.hostile.harness import answer_commands
from tests.waiting import holds_within
from zre_ref.aio.zgossip import Gossip

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(levelname)s %(name)s: %(message)s")

def on_delivered(key, value):
    if key.startswith("good"):
        print(json.dumps({"good": key}), flush=True)

async def main():
    hub = Gossip(on_delivered=on_delivered, client_timeout=60.0)
    endpoint = await hub.bind("tcp://127.0.0.1:*")
    stats = hub.core.stats

    async def answer(cmd):
        await holds_within(lambda: stats.malformed >= cmd.get("malformed", 0)
                           and stats.refused_tuples >= cmd.get("refused", 0), 60)
        return {"stats": {"malformed": stats.malformed, "refused": stats.refused_tuples,
                          "tuples": len(hub.tuples())}}

    await answer_commands({"ready": endpoint}, answer)

asyncio.run(main())
"""

#: README bound (ZGOSSIP hub): the tuple store, plus per connection a full send queue
MESSAGE = MAX_KEY_BYTES + MAX_VALUE_BYTES + 13


def hub_bound(connections: int) -> int:
    return MAX_TUPLES * (MAX_KEY_BYTES + MAX_VALUE_BYTES) + connections * (
        MAX_TUPLES + QUEUE_MARGIN) * MESSAGE


SLACK = 48 * MiB
HELLO = RawPeer.message(m.encode(m.Hello()))


def publish(key: str, value: str) -> bytes:
    return RawPeer.message(m.encode(m.Publish(key=key, value=value, ttl=0)))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Victim, str]]:
    with victim(HUB, tmp_path) as v:
        yield v, v.expect(lambda line: "ready" in line)["ready"]


# The attackers stay connected until the victim has counted everything: closing a socket with
# unread input sends RST, and the victim's kernel then drops what it had not read yet.
def _flood(endpoint: str, count: int, out: list[RawPeer]) -> None:
    value = "v" * 1000
    peer = RawPeer(endpoint)
    out.append(peer)
    peer.send(HELLO)
    for start in range(0, count, 1000):
        peer.send(b"".join(publish(f"flood-{i}", value) for i in range(start, start + 1000)))


def _malformed(endpoint: str, count: int, out: list[RawPeer]) -> None:
    peer = RawPeer(endpoint)  # never reads the INVALID answers
    out.append(peer)
    peer.send(RawPeer.message([b"\xaa\xa0\x09 not gossip"]) * count)


def _silent_reader(endpoint: str, out: list[RawPeer]) -> None:
    peer = RawPeer(endpoint)
    peer.send(HELLO)  # every tuple is queued for it; it never reads
    out.append(peer)


def _run(v: Victim, endpoint: str, flood: int, malformed: int) -> None:
    with RawPeer(endpoint) as good:
        good.send(HELLO + publish("good-0", "x"))
        v.expect(lambda line: line.get("good") == "good-0", timeout=20)
        baseline = v.rss()
        readers: list[RawPeer] = []
        threads = [threading.Thread(target=_flood, args=(endpoint, flood, readers)),
                   threading.Thread(target=_malformed, args=(endpoint, malformed, readers)),
                   threading.Thread(target=_silent_reader, args=(endpoint, readers))]
        for t in threads:
            t.start()
        good.send(publish("good-1", "x"))  # served during the attack
        v.expect(lambda line: line.get("good") == "good-1", timeout=60)
        for t in threads:
            t.join(300)
            assert not t.is_alive()
        stats = v.ask({"cmd": "stats", "malformed": malformed,
                       "refused": flood + 2 - MAX_TUPLES}, "stats", timeout=90)
        assert stats["malformed"] == malformed  # every one counted, none fatal
        assert stats["tuples"] == MAX_TUPLES
        assert stats["refused"] == flood + 2 - MAX_TUPLES  # the rest refused and counted
        good.send(publish("good-0", "changed"))  # a known key may still change when full
        for r in readers:
            r.close()
    growth = v.peak_rss() - baseline
    bound = hub_bound(4) + SLACK
    assert growth < bound, f"RSS grew {growth / MiB:.0f} MiB, bound {bound / MiB:.0f} MiB"
    log = v.log_text()
    assert v.log_bytes() < 20_000, log[-2000:]
    assert "Traceback" not in log


def test_hub_survives_tuple_flood_and_malformed_messages(hub: tuple[Victim, str]) -> None:
    v, endpoint = hub
    _run(v, endpoint, flood=20_000, malformed=20_000)
