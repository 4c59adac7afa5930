"""The ZGOSSIP service core (spec/zgossip.md#service), sans-IO: states, forwarding, cycles, TTL,
liveness, limits. Networks of cores are wired in memory by :class:`Net`."""

from __future__ import annotations

import logging
from collections import deque

import pytest

from zre_ref.zgossip import messages as m
from zre_ref.zgossip.service import (
    ClientState,
    Delivered,
    Effect,
    Expired,
    GossipLimits,
    GossipService,
    RemoteSilent,
    SendToClient,
    SendToRemote,
)

HELLO, PING = m.encode(m.Hello()), m.encode(m.Ping())
A, B = b"client-a", b"client-b"


def pub(key: str, value: str, ttl: int = 0) -> list[bytes]:
    return m.encode(m.Publish(key=key, value=value, ttl=ttl))


def sent_to(effects: list[Effect], client: bytes) -> list[m.ZgossipMessage]:
    return [e.message for e in effects if isinstance(e, SendToClient) and e.client == client]


def connected(svc: GossipService, *clients: bytes) -> None:
    for c in clients:
        svc.handle_client(c, HELLO, 0.0)


# -- server side: the per-client state machine (spec/zgossip.md#server-states) -------------------
@pytest.mark.parametrize("first, then, reply, state_after", [
    # state START
    (None, PING, m.Pong(), ClientState.START),
    (None, HELLO, None, ClientState.CONNECTED),
    (None, pub("k", "v"), m.Invalid(), None),
    (None, m.encode(m.Pong()), m.Invalid(), None),
    (None, m.encode(m.Invalid()), m.Invalid(), None),
    (None, [b"\xaa\xa0\x01\x02"], m.Invalid(), None),  # bad version
    # state CONNECTED
    (HELLO, PING, m.Pong(), ClientState.CONNECTED),
    (HELLO, HELLO, m.Invalid(), None),
    (HELLO, pub("k", "v"), None, ClientState.CONNECTED),
    (HELLO, m.encode(m.Pong()), m.Invalid(), None),
    (HELLO, [b"\xaa\xa0\x03\x01\x00"], m.Invalid(), None),  # trailing byte
])
def test_client_state_table(first: list[bytes] | None, then: list[bytes],
                            reply: m.ZgossipMessage | None, state_after: ClientState | None) -> None:
    svc = GossipService()
    if first is not None:
        svc.handle_client(A, first, 0.0)
    out = sent_to(svc.handle_client(A, then, 0.1), A)
    assert out == ([] if reply is None else [reply])
    assert svc.clients().get(A) is state_after


def test_hello_sends_every_tuple_and_then_new_ones() -> None:
    svc = GossipService()
    svc.publish("k1", "v1", 0.0)
    svc.publish("k2", "v2", 0.0, ttl_ms=5000)
    out = sent_to(svc.handle_client(A, HELLO, 1.0), A)
    assert out == [m.Publish(key="k1", value="v1", ttl=0), m.Publish(key="k2", value="v2", ttl=4000)]
    fwd = svc.publish("k3", "v3", 1.5)
    assert sent_to(fwd, A) == [m.Publish(key="k3", value="v3", ttl=0)]
    assert Delivered("k3", "v3") in fwd


def test_client_tuple_is_stored_delivered_and_forwarded_to_others_only() -> None:
    svc = GossipService()
    connected(svc, A, B)
    svc.handle_client(b"not-yet", PING, 0.0)  # START: not forwarded to
    svc.remote_connected("tcp://up:1", 0.0)
    out = svc.handle_client(A, pub("k", "v"), 0.1)
    assert Delivered("k", "v") in out
    assert sent_to(out, B) == [m.Publish(key="k", value="v", ttl=0)]
    assert sent_to(out, A) == [] and sent_to(out, b"not-yet") == []
    assert SendToRemote("tcp://up:1", m.Publish(key="k", value="v", ttl=0)) in out
    assert svc.tuples() == {"k": "v"}
    # the same tuple again: dropped (this ends cycles); a new value: forwarded
    assert svc.handle_client(B, pub("k", "v"), 0.2) == []
    out = svc.handle_client(B, pub("k", "v2"), 0.3)
    assert Delivered("k", "v2") in out and sent_to(out, A) == [m.Publish(key="k", value="v2", ttl=0)]


def test_malformed_client_is_refused_others_still_served(caplog: pytest.LogCaptureFixture) -> None:
    svc = GossipService()
    connected(svc, A, B)
    with caplog.at_level(logging.WARNING, logger="zre_ref.zgossip.service"):
        for i in range(1000):
            out = svc.handle_client(A, [b"\xaa\xa0\x09"], 0.001 * i)
            assert sent_to(out, A) == [m.Invalid()]
    assert len(caplog.records) <= 2  # no log flood
    assert svc.stats.malformed == 1000
    assert sent_to(svc.handle_client(B, PING, 1.0), B) == [m.Pong()]
    assert svc.clients() == {B: ClientState.CONNECTED}


def test_silent_client_is_forgotten() -> None:
    svc = GossipService(client_timeout=1.0)
    connected(svc, A)
    svc.tick(0.99)
    assert A in svc.clients()
    svc.tick(1.0)
    assert svc.clients() == {} and svc.stats.clients_expired == 1
    assert sent_to(svc.publish("k", "v", 1.1), A) == []
    # its next PUBLISH is refused: it must say HELLO again (czmq's rule)
    assert sent_to(svc.handle_client(A, pub("x", "y"), 1.2), A) == [m.Invalid()]


# -- TTL (spec/zgossip.md#ttl-expiry) --------------------------------------------------------------
def test_ttl_expiry_and_remaining_ttl_on_the_wire() -> None:
    svc = GossipService()
    connected(svc, A)
    svc.handle_client(A, pub("k", "v", ttl=1000), 10.0)
    assert svc.next_deadline() == pytest.approx(11.0)
    assert sent_to(svc.handle_client(B, HELLO, 10.9995), B) == [m.Publish(key="k", value="v", ttl=1)]
    assert svc.tick(10.999) == []
    assert Expired("k", "v") in svc.tick(11.0)
    assert svc.tuples() == {}


def test_refresh_only_when_it_doubles_the_remaining_life() -> None:
    svc = GossipService()
    connected(svc, A, B)
    svc.handle_client(A, pub("k", "v", ttl=1000), 0.0)
    # a copy coming back round a cycle: about the same remaining life, dropped
    assert svc.handle_client(B, pub("k", "v", ttl=990), 0.01) == []
    # the publisher re-publishing after 600 ms: 1000 ms > 2 x 400 ms left: a refresh
    out = svc.handle_client(A, pub("k", "v", ttl=1000), 0.6)
    assert sent_to(out, B) == [m.Publish(key="k", value="v", ttl=1000)]
    assert not any(isinstance(e, Delivered) for e in out)  # not new to the application
    assert svc.tick(1.5) == [] and svc.tick(1.6) == [Expired("k", "v")]


# -- client side: remotes ----------------------------------------------------------------------
def test_remote_hello_ping_invalid_and_silence() -> None:
    svc = GossipService(ping_interval=0.3, remote_timeout=3.0)
    svc.publish("mine", "x", 0.0)
    assert svc.remote_connected("tcp://s:1", 0.0) == [
        SendToRemote("tcp://s:1", m.Hello()),
        SendToRemote("tcp://s:1", m.Publish(key="mine", value="x", ttl=0))]
    assert svc.tick(0.29) == []
    assert svc.tick(0.3) == [SendToRemote("tcp://s:1", m.Ping())]
    svc.handle_remote("tcp://s:1", m.encode(m.Pong()), 0.35)
    # INVALID: the server forgot us; HELLO and every tuple again (czmq re-sends only HELLO)
    assert svc.handle_remote("tcp://s:1", m.encode(m.Invalid()), 0.4) == [
        SendToRemote("tcp://s:1", m.Hello()),
        SendToRemote("tcp://s:1", m.Publish(key="mine", value="x", ttl=0))]
    out = svc.handle_remote("tcp://s:1", pub("theirs", "y"), 0.5)
    assert out == [Delivered("theirs", "y")]  # not sent back where it came from
    assert RemoteSilent("tcp://s:1") in svc.tick(3.5)
    assert svc.tick(10.0) == []  # not connected any more: no PINGs, no repeats
    assert svc.handle_remote("tcp://s:1", [b"junk"], 11.0) == []  # malformed from a server: ignored


# -- limits (spec/zgossip.md#limits) ---------------------------------------------------------------
def test_limits() -> None:
    svc = GossipService(limits=GossipLimits(max_tuples=2, max_value_bytes=8, max_clients=2))
    connected(svc, A, B)
    svc.handle_client(A, pub("k1", "v"), 0.0)
    svc.handle_client(A, pub("k2", "v"), 0.0)
    assert svc.handle_client(A, pub("k3", "v"), 0.0) == []
    assert svc.handle_client(A, pub("k1", "x" * 9), 0.0) == []
    assert svc.handle_client(A, pub("k1", "changed"), 0.0)  # a known key may change
    assert svc.stats.refused_tuples == 2 and len(svc.tuples()) == 2
    with pytest.raises(ValueError):
        svc.publish("k4", "v", 0.0)
    with pytest.raises(ValueError):
        svc.publish("k1", "x" * 9, 0.0)
    assert sent_to(svc.handle_client(b"third", PING, 0.0), b"third") == [m.Invalid()]
    assert b"third" not in svc.clients()


# -- networks with cycles ------------------------------------------------------------------------
class Net:
    """Services wired in memory: ``link(a, b)`` makes ``a`` a client of server ``b``."""

    def __init__(self, names: list[str]) -> None:
        self.svc = {n: GossipService() for n in names}
        self.queue: deque[tuple[str, Effect]] = deque()
        self.messages = 0

    def link(self, client: str, server: str) -> None:
        self.run(client, self.svc[client].remote_connected(server, 0.0))

    def run(self, origin: str, effects: list[Effect], limit: int = 10_000) -> None:
        self.queue.extend((origin, e) for e in effects)
        while self.queue:
            self.messages += 1
            assert self.messages < limit, "gossip storm"
            src, e = self.queue.popleft()
            if isinstance(e, SendToRemote):  # client src -> server e.remote
                out = self.svc[e.remote].handle_client(src.encode(), m.encode(e.message), 0.0)
                self.queue.extend((e.remote, x) for x in out)
            elif isinstance(e, SendToClient):  # server src -> client e.client
                dst = e.client.decode()
                out = self.svc[dst].handle_remote(src, m.encode(e.message), 0.0)
                self.queue.extend((dst, x) for x in out)


def test_ring_and_mesh_converge_and_stop() -> None:
    names = ["a", "b", "c", "d"]
    net = Net(names)
    for x, y in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c")]:  # cycles
        net.link(x, y)
    for n in names:
        net.run(n, net.svc[n].publish(f"uuid-{n}", f"tcp://{n}:5670", 0.0))
    want = {f"uuid-{n}": f"tcp://{n}:5670" for n in names}
    assert all(net.svc[n].tuples() == want for n in names)
    before = net.messages
    net.run("b", net.svc["b"].publish("uuid-b", "tcp://b:5670", 0.0))  # a duplicate: silence
    assert net.messages == before
