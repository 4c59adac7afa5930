"""vectors/zgossip/ against czmq's own zgossip (Debian libczmq 4.2.1, through ctypes).

czmq exports the zgossip actor but not its codec, so every vector goes over TCP to a real actor:
valid PUBLISH cases must come back as DELIVER with the same key and value and be re-sent by czmq
to a new client; czmq's PONG / INVALID / fresh PUBLISH bytes must equal the captured vectors; an
invalid case must never be answered (czmq stops its service on a frame it cannot decode, which the
PING after it shows). spec/zgossip.md#text-vs-czmq.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.interop import czmq_zgossip, zyre_lib
from zre_ref.zgossip import messages as m

pytestmark = pytest.mark.interop

zmq = __import__("zmq") if os.environ.get("CI") else pytest.importorskip("zmq")

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "zgossip"
HELLO, PING = m.encode(m.Hello())[0], m.encode(m.Ping())[0]


def _cases(name: str) -> list[dict[str, Any]]:
    doc = json.loads((VECTORS / name).read_text("utf-8"))
    return [c for c in doc["cases"] if c.get("kind", "message") == "message"]


def _vector(cid: str) -> bytes:
    return next(bytes.fromhex(c["frames"][0]) for c in _cases("messages.json") if c["id"] == cid)


@pytest.fixture
def actor() -> Any:
    if not czmq_zgossip.available() and not zyre_lib.ensure_built():  # setup-zyre.sh installs it
        pytest.skip("libczmq not installed")
    with czmq_zgossip.zgossip_actor() as a:
        yield a


@pytest.fixture
def ctx() -> Any:
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def _dealer(ctx: Any, endpoint: str, timeout_ms: int = 2000) -> Any:
    d = ctx.socket(zmq.DEALER)
    d.rcvtimeo = timeout_ms
    d.linger = 0
    d.connect(endpoint)
    return d


def test_valid_publish_vectors_round_trip_through_czmq(actor: Any, ctx: Any) -> None:
    endpoint = actor.bind_tcp()
    pubs = [c for c in _cases("messages.json") if c["fields"]["type"] == "PUBLISH"]
    # czmq keeps one tuple per key: send each distinct key once
    by_key = {c["fields"]["key"]: c for c in pubs}
    sender = _dealer(ctx, endpoint)
    sender.send(HELLO)
    for case in by_key.values():
        sender.send(bytes.fromhex(case["frames"][0]))
    got = dict(actor.deliveries(len(by_key)))
    assert got == {k: c["fields"]["value"] for k, c in by_key.items()}
    # a new client is sent every tuple, in frames zre-ref decodes to the same key and value
    reader = _dealer(ctx, endpoint)
    reader.send(HELLO)
    resent = [m.decode([reader.recv()]) for _ in by_key]
    assert {(p.key, p.value) for p in resent if isinstance(p, m.Publish)} == set(got.items())


def test_czmq_bytes_equal_captured_vectors(actor: Any, ctx: Any) -> None:
    endpoint = actor.bind_tcp()
    actor.send("PUBLISH", "k1", "v1")
    assert actor.deliveries(1) == [("k1", "v1")]
    d = _dealer(ctx, endpoint)
    d.send(HELLO)
    assert d.recv() == _vector("zgossip.publish.czmq-captured")
    d.send(PING)
    assert d.recv() == _vector("zgossip.pong.czmq-captured") == m.encode(m.Pong())[0]
    d.send(HELLO)  # HELLO twice: refused
    assert d.recv() == _vector("zgossip.invalid.czmq-captured") == m.encode(m.Invalid())[0]
    # a PUBLISH with ttl 1000 makes czmq re-send k1 with that ttl (stale-ttl vector)
    d.send(HELLO)
    assert d.recv() == _vector("zgossip.publish.czmq-captured")
    d.send(m.encode(m.Publish(key="k2", value="v2", ttl=1000))[0])
    assert actor.deliveries(1) == [("k2", "v2")]
    late = _dealer(ctx, endpoint)
    late.send(HELLO)
    assert _vector("zgossip.publish.czmq-stale-ttl") in {late.recv(), late.recv()}


@pytest.mark.parametrize("case", [c for c in _cases("invalid.json")
                                  if c["id"] != "zgossip.malformed.no-frames"],
                         ids=lambda c: c["id"])
def test_invalid_vectors_are_not_accepted_by_czmq(actor: Any, ctx: Any, case: dict[str, Any]) -> None:
    endpoint = actor.bind_tcp()
    d = _dealer(ctx, endpoint, timeout_ms=400)
    d.send(PING)
    assert d.recv() == m.encode(m.Pong())[0]  # the service answers before
    frames = [bytes.fromhex(h) for h in case["frames"]]
    if case.get("flags") == ["lenient-decoders-accept"]:
        d.send(frames[0])  # czmq ignores trailing bytes: this PING is answered
        assert d.recv() == m.encode(m.Pong())[0]
        return
    d.send_multipart(frames)
    d.send(PING)
    with pytest.raises(zmq.Again):
        d.recv()  # nothing answers any more


# -- the zre-ref service with czmq's, both ways (spec/zgossip.md#service) -------------------------
def test_zre_ref_node_on_a_czmq_hub(actor: Any) -> None:
    import asyncio

    from zre_ref.aio.zgossip import Gossip

    endpoint = actor.bind_tcp()
    actor.send("PUBLISH", "from-czmq", "tcp://127.0.0.1:7001")
    assert actor.deliveries(1) == [("from-czmq", "tcp://127.0.0.1:7001")]

    async def main() -> None:
        async with Gossip() as node:
            await node.connect(endpoint)
            node.publish("from-zre-ref", "tcp://127.0.0.1:7002")
            await node.wait_for(lambda t: "from-czmq" in t, 5.0)  # sent on HELLO
            got = await asyncio.to_thread(actor.deliveries, 1)
            assert got == [("from-zre-ref", "tcp://127.0.0.1:7002")]
            # our PINGs keep us known past czmq's 1 s client timeout: later tuples still come
            await asyncio.sleep(1.5)  # the scenario needs idle time; not a synchronisation
            actor.send("PUBLISH", "later", "x")
            await node.wait_for(lambda t: t.get("later") == "x", 5.0)

    asyncio.run(main())


def test_czmq_node_on_a_zre_ref_hub(actor: Any) -> None:
    import asyncio

    from zre_ref.aio.zgossip import Gossip

    async def main() -> None:
        async with Gossip(client_timeout=10.0) as hub:  # czmq's client never PINGs
            endpoint = await hub.bind("tcp://127.0.0.1:*")
            hub.publish("from-hub", "tcp://127.0.0.1:7003")
            actor.send("CONNECT", endpoint)
            actor.send("PUBLISH", "from-czmq", "tcp://127.0.0.1:7004")
            await hub.wait_for(lambda t: t.get("from-czmq") == "tcp://127.0.0.1:7004", 5.0)
            got = dict(await asyncio.to_thread(actor.deliveries, 2))
            assert got == {"from-czmq": "tcp://127.0.0.1:7004", "from-hub": "tcp://127.0.0.1:7003"}
            # a tuple published now is forwarded to czmq's client
            hub.publish("fresh", "y")
            assert await asyncio.to_thread(actor.deliveries, 1) == [("fresh", "y")]

    asyncio.run(main())
