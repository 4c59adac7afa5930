"""Sans-IO ZRE node core: one table-driven test per rule (spec/zre.md#node, #harmony, #limits)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from zre_ref.errors import DecodeError, EncodeError
from zre_ref.zre import fastpath
from zre_ref.zre.beacon import Beacon, decode_beacon, encode_beacon
from zre_ref.zre.events import (
    NodeStopped,
    PeerEntered,
    PeerEvasive,
    PeerExited,
    PeerJoined,
    PeerLeft,
    PeerSilent,
    ShoutReceived,
    WhisperReceived,
    ZreEvent,
    pack_headers,
)
from zre_ref.zre.messages import (
    ZRE,
    Elect,
    Goodbye,
    Hello,
    Join,
    Leader,
    Leave,
    Ping,
    PingOk,
    Shout,
    Whisper,
    ZreMessage,
)
from zre_ref.zre.node import (
    MAX_DATA_FRAME,
    MAX_GROUP_NAME,
    MAX_HEADERS,
    MAX_PEER_GROUPS,
    ConnectPeer,
    DisconnectPeer,
    Effect,
    NodeCore,
    SendBeacon,
    SendToPeer,
    SendToPeers,
    decode_fast,
    endpoint_problem,
)
from zre_ref.zre.peer import Peer

ME = bytes(range(16))
ENDPOINT = "tcp://127.0.0.1:5000"


def uid(n: int) -> bytes:
    return bytes([n]) * 16


def hexid(n: int) -> str:
    return uid(n).hex().upper()


def ident(n: int) -> bytes:
    return b"\x01" + uid(n)


def ep(n: int) -> str:
    return f"tcp://127.0.0.{n}:6000"


def make(**kw: Any) -> NodeCore:
    node = NodeCore(ME, "me", {"X-K": "v"}, endpoint=ENDPOINT, **kw)
    node.start(0.0)
    return node


def events(effects: list[Effect]) -> list[Any]:
    return [e for e in effects if isinstance(e, ZreEvent)]


def sent(effects: list[Effect]) -> list[tuple[str, ZreMessage]]:
    flat = [one for e in effects for one in (e.split() if isinstance(e, SendToPeers) else [e])]
    return [(e.link, ZRE.decode(e.frames)) for e in flat if isinstance(e, SendToPeer)]


def hello(n: int, seq: int = 1, groups: tuple[str, ...] = (), status: int = 0) -> list[bytes]:
    return ZRE.encode(Hello(sequence=seq, endpoint=ep(n), groups=groups, status=status,
                            name=f"p{n}", headers={"H": str(n)}))


def msg(m: ZreMessage) -> list[bytes]:
    return ZRE.encode(m)


def ready(node: NodeCore, n: int, groups: tuple[str, ...] = (), status: int = 0,
          now: float = 0.0) -> list[Effect]:
    """Beacon then HELLO from peer n: the peer is ready and ENTERed."""
    out = node.handle_beacon(Beacon(uuid=uid(n), port=6000), f"127.0.0.{n}", now)
    out += node.handle_message(ident(n), hello(n, groups=groups, status=status), now)
    return out


def link_of(node: NodeCore, n: int) -> str:
    peer = node.peer(hexid(n))
    assert peer is not None
    return peer.link


# -- discovery ------------------------------------------------------------------------------------
def test_start_beacons_at_once_then_every_interval() -> None:
    node = NodeCore(ME, "me", endpoint=ENDPOINT, beacon_interval=1.0)
    out = node.start(10.0)
    assert out == [SendBeacon(encode_beacon(Beacon(uuid=ME, port=5000)))]
    assert node.next_deadline() == 11.0
    assert [type(e) for e in node.handle_timer(10.5)] == []
    assert node.handle_timer(11.0) == [SendBeacon(node.beacon())]
    assert node.next_deadline() == 12.0


def test_beacon_follows_the_endpoint_and_the_port_asked() -> None:
    node = NodeCore(ME, "me", endpoint=ENDPOINT)
    assert node.beacon() == encode_beacon(Beacon(uuid=ME, port=5000))
    assert node.beacon(0) == encode_beacon(Beacon(uuid=ME, port=0))
    node.endpoint = "tcp://127.0.0.1:5001"
    assert node.beacon() == encode_beacon(Beacon(uuid=ME, port=5001))
    assert node.beacon() is node.beacon()  # encoded once while nothing changes


def test_no_beacons_in_direct_mode() -> None:
    node = NodeCore(ME, endpoint=ENDPOINT, beacon_interval=None)
    assert node.start(0.0) == []
    assert not any(isinstance(e, SendBeacon) for e in node.handle_timer(5.0))
    assert not any(isinstance(e, SendBeacon) for e in node.stop(6.0))


def test_beacon_creates_peer_connects_and_sends_hello_first() -> None:
    node = make()
    node.join("G1")
    out = node.handle_beacon(Beacon(uuid=uid(7), port=6000), "127.0.0.7", 1.0)
    assert isinstance(out[0], ConnectPeer)
    assert out[0].endpoint == "tcp://127.0.0.7:6000"
    assert out[0].identity == b"\x01" + ME
    [(link, first)] = sent(out)
    assert link == out[0].link
    assert first == Hello(sequence=1, endpoint=ENDPOINT, groups=("G1",), status=1, name="me",
                          headers={"X-K": "v"})
    assert events(out) == []  # not ready until its HELLO arrives


def test_each_hello_says_what_is_true_when_it_is_sent() -> None:
    """HELLO is encoded once and reused while nothing in it changes: every change of groups,
    status, headers or name shows in the next peer's HELLO, and a reused one is intact."""
    node = make()
    steps: list[tuple[str, Any]] = [
        ("same", None), ("join", "G1"), ("same", None), ("join", "G2"), ("leave", "G1"),
        ("header", ("X-K", "w")), ("header", ("X-N", "1")), ("name", "you"), ("same", None)]
    for n, (what, arg) in enumerate(steps, start=10):
        if what == "join":
            node.join(arg)
        elif what == "leave":
            node.leave(arg)
        elif what == "header":
            node.set_header(*arg)
        elif what == "name":
            node.name = arg
        out = node.handle_beacon(Beacon(uuid=uid(n), port=6000), f"127.0.0.{n}", 1.0)
        [(_link, first)] = sent(out)
        assert first == Hello(sequence=1, endpoint=ENDPOINT, groups=tuple(node.own_groups),
                              status=node.status, name=node.name, headers=node.headers), what


def test_ipv6_beacon_endpoint_is_bracketed() -> None:
    node = make()
    out = node.handle_beacon(Beacon(uuid=uid(7), port=6000), "fe80::1", 1.0)
    assert isinstance(out[0], ConnectPeer) and out[0].endpoint == "tcp://[fe80::1]:6000"


@pytest.mark.parametrize("beacon,source", [
    (Beacon(uuid=ME, port=6000), "127.0.0.1"),  # our own
    (decode_beacon(b"ZRE\x03" + uid(7) + b"\x17\x70" + b"\x01" * 32), "127.0.0.7"),  # CURVE
    (Beacon(uuid=uid(7), port=0), "127.0.0.7"),  # leaving, unknown
])
def test_beacons_ignored(beacon: Beacon, source: str) -> None:
    node = make()
    assert node.handle_beacon(beacon, source, 1.0) == []
    assert node.peers == {}


def test_known_uuid_beacon_is_a_no_op_and_does_not_refresh() -> None:
    node = make()
    ready(node, 7, now=0.0)
    peer = node.peer(hexid(7))
    assert peer is not None and peer.evasive_at == 5.0
    out = node.handle_beacon(Beacon(uuid=uid(7), port=6001), "127.0.0.9", 3.0)
    assert out == []
    assert peer.evasive_at == 5.0 and peer.endpoint == ep(7)


def test_no_op_beacons_are_remembered_until_a_peer_leaves() -> None:
    """A shared beacon socket skips what a node has said changes nothing; once a peer leaves,
    its beacon must reach the node again (and bring the peer back, spec/zre.md D9, P1). The
    fast path fills the set; the readable path decodes every datagram and remembers nothing."""
    node = make()
    ready(node, 7, now=0.0)
    ours = encode_beacon(Beacon(uuid=ME, port=5000))
    theirs = encode_beacon(Beacon(uuid=uid(7), port=6000))
    stranger = encode_beacon(Beacon(uuid=uid(8), port=6000))
    assert fastpath.handle_beacon_datagram(node, ours, "127.0.0.1", 1.0) == []
    assert fastpath.handle_beacon_datagram(node, theirs, "127.0.0.7", 1.0) == []
    assert node.no_op_beacons == {ours, theirs}
    assert any(isinstance(e, ConnectPeer) for e in fastpath.handle_beacon_datagram(node, stranger, "127.0.0.8", 1.0))
    assert stranger not in node.no_op_beacons  # it changed something: a new peer
    fastpath.handle_beacon_datagram(node, stranger, "127.0.0.8", 1.5)
    assert stranger in node.no_op_beacons
    emptied: list[int] = []
    node.no_op_beacons.on_clear = lambda: emptied.append(len(node.no_op_beacons))
    out = node.handle_timer(31.0)  # peer 7 expired (no traffic since 0.0)
    assert PeerExited(hexid(7), "p7") in events(out) and hexid(7) not in node.peers
    assert node.no_op_beacons == set() and emptied  # whoever watches it is told
    assert node.handle_beacon_datagram(ours, "127.0.0.1", 31.2) == [] and not node.no_op_beacons
    again = fastpath.handle_beacon_datagram(node, theirs, "127.0.0.7", 31.5)
    assert [e.endpoint for e in again if isinstance(e, ConnectPeer)] == [ep(7)]


def test_no_op_beacons_stay_bounded_under_forged_ports() -> None:
    from zre_ref.zre.node import NO_OP_BEACONS_MAX

    node = make()
    ready(node, 7)
    for port in range(1, NO_OP_BEACONS_MAX + 50):  # a known UUID with ever new ports: all no-ops
        assert fastpath.handle_beacon_datagram(node, encode_beacon(Beacon(uuid=uid(7), port=port)),
                                               "127.0.0.7", 1.0) == []
    assert 0 < len(node.no_op_beacons) <= NO_OP_BEACONS_MAX


def test_port_zero_beacon_removes_peer_with_exit() -> None:
    node = make()
    ready(node, 7, groups=("G",))
    link = link_of(node, 7)
    out = node.handle_beacon(Beacon(uuid=uid(7), port=0), "127.0.0.7", 2.0)
    assert events(out) == [PeerExited(hexid(7), "p7")]
    assert DisconnectPeer(link) in out
    assert node.peers == {} and node.peers_by_group("G") == []


# -- Harmony ---------------------------------------------------------------------------------------
def test_hello_makes_peer_ready_enter_then_joins_then_status() -> None:
    node = make()
    out = ready(node, 7, groups=("A", "B"), status=9)
    assert events(out) == [
        PeerEntered(hexid(7), "p7", {"H": "7"}, ep(7)),
        PeerJoined(hexid(7), "p7", "A"),
        PeerJoined(hexid(7), "p7", "B"),
    ]
    peer = node.peer(hexid(7))
    assert peer is not None and peer.status == 9 and peer.ready
    assert sorted(node.peer_groups()) == ["A", "B"]


def test_hello_from_unknown_peer_creates_it_from_hello_endpoint() -> None:
    node = make()
    out = node.handle_message(ident(7), hello(7), 0.0)
    connect = [e for e in out if isinstance(e, ConnectPeer)]
    assert [c.endpoint for c in connect] == [ep(7)]
    assert isinstance(sent(out)[0][1], Hello)
    assert isinstance(events(out)[0], PeerEntered)


@pytest.mark.parametrize("command", [
    Whisper(sequence=2, content=(b"x",)),
    Shout(sequence=2, group="G", content=(b"x",)),
    Join(sequence=2, group="G", status=1),
    Ping(sequence=2),
])
def test_commands_before_hello_are_dropped(command: ZreMessage) -> None:
    node = make()
    node.handle_beacon(Beacon(uuid=uid(7), port=6000), "127.0.0.7", 0.0)
    assert node.handle_message(ident(7), msg(command), 0.5) == []
    assert node.handle_message(ident(8), msg(command), 0.5) == []  # unknown peer
    assert node.stats.dropped_not_ready == 2
    # and the peer is still there, and its HELLO still works with sequence 1
    assert isinstance(events(node.handle_message(ident(7), hello(7), 1.0))[0], PeerEntered)


def test_hello_from_ready_peer_exits_and_rebuilds() -> None:
    node = make()
    ready(node, 7)
    old = link_of(node, 7)
    out = node.handle_message(ident(7), hello(7), 2.0)
    kinds = [type(e).__name__ for e in out]
    assert kinds[:3] == ["PeerExited", "DisconnectPeer", "ConnectPeer"]
    assert events(out) == [PeerExited(hexid(7), "p7"), PeerEntered(hexid(7), "p7", {"H": "7"}, ep(7))]
    assert out[1] == DisconnectPeer(old)
    new = link_of(node, 7)
    assert new != old
    assert [(lk, m.sequence) for lk, m in sent(out)] == [(new, 1)]


def _claim_by(node: NodeCore, how: str, now: float) -> list[Effect]:
    """Peer 8 names peer 7's endpoint, by beacon or by HELLO."""
    if how == "beacon":
        return node.handle_beacon(Beacon(uuid=uid(8), port=6000), "127.0.0.7", now)
    return node.handle_message(ident(8), msg(Hello(sequence=1, endpoint=ep(7), groups=(), status=0,
                                                   name="p8", headers={})), now)


@pytest.mark.parametrize("how", ["beacon", "hello"])
def test_new_uuid_at_a_live_peers_endpoint_asks_that_peer_first(how: str) -> None:
    """spec/zre.md#endpoint-claims: the holder gets a PING and nothing else happens to it; a
    HELLO claimant is ready but parked (no link); a beacon claimant is not created yet."""
    node = make()
    ready(node, 7)
    old = link_of(node, 7)
    out = _claim_by(node, how, 1.0)
    assert [(lk, type(m)) for lk, m in sent(out)] == [(old, Ping)]
    assert not any(isinstance(e, (ConnectPeer, DisconnectPeer)) for e in out)
    peer7 = node.peer(hexid(7))
    assert peer7 is not None and peer7.connected
    peer8 = node.peer(hexid(8))
    if how == "beacon":
        assert events(out) == [] and peer8 is None
    else:
        assert events(out) == [PeerEntered(hexid(8), "p8", {}, ep(7))]
        assert peer8 is not None and peer8.parked and not peer8.connected
    assert node.stats.claims == 1


@pytest.mark.parametrize("how", ["beacon", "hello"])
def test_claim_refused_when_the_holder_answers(how: str) -> None:
    node = make()
    ready(node, 7)
    _claim_by(node, how, 1.0)
    node.handle_message(ident(7), msg(PingOk(sequence=2)), 1.1)  # 7 is alive
    out = node.handle_timer(node.claim_timeout + 1.5)
    assert node.stats.claims_refused == 1 and node.stats.purges == 0
    assert node.peer(hexid(8)) is None
    assert events(out) == ([PeerExited(hexid(8), "p8")] if how == "hello" else [])
    assert not any(isinstance(e, ConnectPeer) for e in out)
    # beacons from other UUIDs naming that endpoint are ignored for claim_holdoff
    again = node.handle_beacon(Beacon(uuid=uid(9), port=6000), "127.0.0.7", 4.0)
    assert again == [] and node.stats.claims == 1
    later = node.handle_beacon(Beacon(uuid=uid(9), port=6000), "127.0.0.7", 4.0 + node.claim_holdoff)
    assert [type(m) for _, m in sent(later)] == [Ping] and node.stats.claims == 2


@pytest.mark.parametrize("how", ["beacon", "hello"])
def test_claim_granted_when_the_holder_stays_silent(how: str) -> None:
    """A restarted peer (new UUID, same port): the old one never answers, so after
    claim_timeout it is removed with EXIT and the newcomer gets a link and our HELLO."""
    node = make()
    ready(node, 7)
    old = link_of(node, 7)
    _claim_by(node, how, 1.0)
    node.handle_timer(1.0 + node.claim_timeout - 0.5)  # a reap tick before the timeout
    assert node.peer(hexid(7)) is not None and node.stats.purges == 0
    out = node.handle_timer(1.0 + node.claim_timeout + 0.5)
    assert node.peer(hexid(7)) is None and node.stats.purges == 1
    assert PeerExited(hexid(7), "p7") in events(out)
    connects = [e for e in out if isinstance(e, ConnectPeer)]
    assert DisconnectPeer(old) in out and [c.endpoint for c in connects] == [ep(7)]
    new = link_of(node, 8)
    assert (new, Hello) in [(lk, type(m)) for lk, m in sent(out)]
    peer8 = node.peer(hexid(8))
    assert peer8 is not None and peer8.connected and not peer8.parked


def test_claim_granted_at_once_when_the_holder_goes_away() -> None:
    node = make()
    ready(node, 7)
    _claim_by(node, "hello", 1.0)
    out = node.handle_beacon(Beacon(uuid=uid(7), port=0), "127.0.0.7", 1.2)  # 7 leaves
    assert events(out) == [PeerExited(hexid(7), "p7")]
    out = node.handle_timer(2.0)
    assert [e.endpoint for e in out if isinstance(e, ConnectPeer)] == [ep(7)]


@pytest.mark.parametrize("when", ["before-the-claim", "during-the-claim"])
def test_claim_granted_at_once_when_the_holders_connection_closed(when: str) -> None:
    """Its connection to our ROUTER closed after the last message we had from it: that is the
    proof (a crashed or restarted process), no need to wait for claim_timeout."""
    node = make()
    ready(node, 7)
    if when == "before-the-claim":
        assert node.handle_peer_disconnected(ident(7), 0.5) == []
        out = _claim_by(node, "beacon", 1.0)
    else:
        _claim_by(node, "beacon", 1.0)
        out = node.handle_peer_disconnected(ident(7), 1.1)
    assert events(out) == [PeerExited(hexid(7), "p7")]
    assert [e.endpoint for e in out if isinstance(e, ConnectPeer)] == [ep(7)]
    assert node.peer(hexid(8)) is not None and node.stats.purges == 1


def test_a_connection_that_closed_and_came_back_is_not_proof() -> None:
    node = make()
    ready(node, 7)
    node.handle_peer_disconnected(ident(7), 0.5)
    node.handle_message(ident(7), msg(PingOk(sequence=2)), 0.6)  # it reconnected and spoke
    out = _claim_by(node, "beacon", 1.0)
    assert [type(m) for _, m in sent(out)] == [Ping] and node.stats.purges == 0


def test_whispers_and_shouts_to_a_parked_peer_wait_for_its_link() -> None:
    """Nothing sent to a parked peer is lost: it goes out after our HELLO once the link opens;
    JOIN/LEAVE are not held (the HELLO carries our groups)."""
    node = make()
    ready(node, 7)
    node.handle_message(ident(8), msg(Hello(sequence=1, endpoint=ep(7), groups=("G",), status=1,
                                            name="p8", headers={})), 1.0)
    assert node.whisper(hexid(8), [b"one"]) == [] and node.shout("G", [b"two"]) == []
    node.join("H")
    out = node.handle_timer(1.0 + node.claim_timeout + 0.5)
    link8 = link_of(node, 8)
    assert [(m.__class__.__name__, m.sequence) for lk, m in sent(out) if lk == link8] == [
        ("Hello", 1), ("Whisper", 2), ("Shout", 3)]
    hello8 = next(m for lk, m in sent(out) if lk == link8)
    assert isinstance(hello8, Hello) and hello8.groups == ("H",) and hello8.status == 1


def test_hello_answering_our_rebuild_is_not_a_restart() -> None:
    """spec/zre.md#restarts: within restart_holdoff of our rebuild of a peer, its next HELLO
    answers our greeting: no EXIT/ENTER, no new link, no HELLO back; its groups and status are
    taken (JOIN/LEAVE for changes) and its sequence starts again at 1."""
    node = make()
    ready(node, 7, groups=("A",), status=1)
    restart = node.handle_message(ident(7), hello(7, groups=("A",), status=1), 5.0)
    assert [type(e).__name__ for e in events(restart)][:2] == ["PeerExited", "PeerEntered"]
    out = node.handle_message(ident(7), hello(7, groups=("B",), status=2), 5.5)
    assert events(out) == [PeerLeft(hexid(7), "p7", "A"), PeerJoined(hexid(7), "p7", "B")]
    assert not any(isinstance(e, (ConnectPeer, DisconnectPeer, SendToPeer)) for e in out)
    assert node.stats.regreetings == 1 and node.stats.hello_rebuilds == 1
    assert events(node.handle_message(ident(7), msg(Whisper(sequence=2, content=(b"x",))), 5.6))
    # after the holdoff, a HELLO is a restart again
    later = node.handle_message(ident(7), hello(7), 5.0 + node.restart_holdoff)
    assert isinstance(events(later)[0], PeerExited) and node.stats.hello_rebuilds == 2


@pytest.mark.parametrize("endpoint", [
    "garbage", "tcp://*:5", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999", "tcp://127.0.0.1",
    "ipc:///tmp/zre", "udp://127.0.0.1:5670", "tcp://:5670", "tcp://[::1:5670", ENDPOINT,
])
def test_hello_with_an_unusable_endpoint_only_affects_that_peer(endpoint: str) -> None:
    node = make()
    ready(node, 7)
    bad = msg(Hello(sequence=1, endpoint=endpoint, groups=("G",), status=1, name="bad", headers={}))
    assert node.handle_message(ident(9), bad, 1.0) == []
    assert node.peer(hexid(9)) is None and node.stats.refused_peers == 1
    # a ready peer that restarts with such an endpoint is dropped
    out = node.handle_message(ident(7), bad, 5.0)
    assert events(out) == [PeerExited(hexid(7), "p7")] and node.peer(hexid(7)) is None


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:1", "tcp://[::1]:65535", "tcp://host-a.lan:5670",
                                      "tcp://[fe80::1%eth0]:5670"])
def test_usable_endpoints(endpoint: str) -> None:
    assert endpoint_problem(endpoint) is None


@pytest.mark.parametrize("case", ["groups", "group-name", "headers", "big-frame", "join"])
def test_limits_on_what_one_peer_can_make_us_hold(case: str) -> None:
    """spec/zre.md#limits: over a limit, that peer is refused or dropped; others are served."""
    node = make()
    ready(node, 8)
    if case == "join":
        ready(node, 7)
        for i in range(MAX_PEER_GROUPS):
            node.handle_message(ident(7), msg(Join(sequence=2 + i, group=f"g{i}", status=(i + 1) % 256)), 1.0)
        out = node.handle_message(ident(7), msg(Join(sequence=2 + MAX_PEER_GROUPS, group="one-more",
                                                     status=(MAX_PEER_GROUPS + 1) % 256)), 1.0)
        assert PeerExited(hexid(7), "p7") in events(out)
    else:
        groups: tuple[str, ...] = ()
        headers: dict[str, str] = {}
        if case == "groups":
            groups = tuple(str(i) for i in range(MAX_PEER_GROUPS + 1))
        elif case == "group-name":
            groups = ("x" * (MAX_GROUP_NAME + 1),)
        elif case == "headers":
            headers = {str(i): "" for i in range(MAX_HEADERS + 1)}
        else:
            headers = {"big": "x" * MAX_DATA_FRAME}
        frames = msg(Hello(sequence=1, endpoint=ep(7), groups=groups, status=0, name="p7",
                           headers=headers))
        assert node.handle_message(ident(7), frames, 1.0) == []
    assert node.peer(hexid(7)) is None
    assert events(node.handle_message(ident(8), msg(Whisper(sequence=2, content=(b"ok",))), 1.0))


def test_not_ready_peers_are_capped_ready_ones_still_come_in() -> None:
    node = make(max_unready_peers=3)
    for n in range(10, 15):
        node.handle_beacon(Beacon(uuid=uid(n), port=6000), f"127.0.0.{n}", 0.0)
    assert len(node.peers) == 3 and node.stats.refused_peers == 2
    assert isinstance(events(node.handle_message(ident(20), hello(20), 0.1))[0], PeerEntered)
    node.handle_message(ident(10), hello(10), 0.2)  # one of them becomes ready: room again
    node.handle_beacon(Beacon(uuid=uid(14), port=6000), "127.0.0.14", 0.3)
    assert node.peer(hexid(14)) is not None


@pytest.mark.parametrize("seqs,exits", [
    ([2, 3, 4], False),
    ([2, 4], True),  # gap
    ([2, 2], True),  # repeat
])
def test_sequence_gap_drops_peer(seqs: list[int], exits: bool) -> None:
    node = make()
    ready(node, 7)
    got: list[Any] = []
    for s in seqs:
        got += events(node.handle_message(ident(7), msg(Whisper(sequence=s, content=(b"x",))), 1.0))
    assert (PeerExited(hexid(7), "p7") in got) is exits
    assert (hexid(7) in node.peers) is not exits


def test_hello_with_wrong_sequence_is_a_gap() -> None:
    node = make()
    out = node.handle_message(ident(7), hello(7, seq=5), 0.0)
    assert events(out) == []  # never ENTERed, so no EXIT either
    assert node.peers == {} and node.stats.sequence_gaps == 1


def test_sequence_wraps_65535_to_0_both_ways() -> None:
    node = make()
    ready(node, 7)
    peer = node.peer(hexid(7))
    assert peer is not None
    peer.want_sequence = 65534
    for s in (65535, 0, 1):
        out = node.handle_message(ident(7), msg(Whisper(sequence=s, content=(b"x",))), 1.0)
        assert isinstance(events(out)[0], WhisperReceived)
    peer.sent_sequence = 65534
    seqs = [m.sequence for _, m in sent(node.whisper(hexid(7), [b"a"]) + node.whisper(hexid(7), [b"b"])
                                       + node.whisper(hexid(7), [b"c"]))]
    assert seqs == [65535, 0, 1]


@pytest.mark.parametrize("hello_status,commands,mismatch", [
    (0, [Join(sequence=2, group="G", status=1)], False),
    (0, [Join(sequence=2, group="G", status=1), Leave(sequence=3, group="G", status=2)], False),
    (255, [Join(sequence=2, group="G", status=0)], False),  # u8 wrap
    (3, [Join(sequence=2, group="G", status=4), Join(sequence=3, group="G", status=5)], False),  # dup
    (0, [Leave(sequence=2, group="X", status=1)], False),  # leave of a group it is not in counts
    (0, [Join(sequence=2, group="G", status=7)], True),
    (5, [Leave(sequence=2, group="G", status=5)], True),
])
def test_status_counting(hello_status: int, commands: list[ZreMessage], mismatch: bool) -> None:
    node = make()
    ready(node, 7, status=hello_status)
    got: list[Any] = []
    for c in commands:
        got += events(node.handle_message(ident(7), msg(c), 1.0))
    assert isinstance(got[0], (PeerJoined, PeerLeft))  # the event comes first, as in zyre
    assert (PeerExited(hexid(7), "p7") in got) is mismatch
    assert node.stats.status_mismatches == int(mismatch)


def test_join_and_leave_events_update_groups() -> None:
    node = make()
    ready(node, 7)
    out = node.handle_message(ident(7), msg(Join(sequence=2, group="G", status=1)), 1.0)
    assert events(out) == [PeerJoined(hexid(7), "p7", "G")]
    assert node.peers_by_group("G") == [hexid(7)]
    out = node.handle_message(ident(7), msg(Leave(sequence=3, group="G", status=2)), 1.0)
    assert events(out) == [PeerLeft(hexid(7), "p7", "G")]
    assert node.peers_by_group("G") == [] and node.peer_groups() == []


def test_send_blocked_disconnects_peer_which_stays_until_expiry() -> None:
    node = make()
    ready(node, 7, groups=("G",))
    link = link_of(node, 7)
    assert node.handle_send_blocked(link, 1.0) == [DisconnectPeer(link)]
    assert node.handle_send_blocked(link, 1.0) == []  # once only
    assert node.shout("G", [b"x"]) == []  # nothing is queued for a disconnected peer
    assert node.whisper(hexid(7), [b"x"]) == []
    assert hexid(7) in node.peers
    out = node.handle_timer(30.0)
    assert events(out) == [PeerExited(hexid(7), "p7")]
    assert not any(isinstance(e, DisconnectPeer) for e in out)  # already closed


def test_malformed_messages_and_identities_are_dropped() -> None:
    node = make()
    ready(node, 7)
    assert node.handle_message(ident(7), [b"\xaa\xa1\x02\x03\x00\x02"], 1.0) == []  # version 3
    assert node.handle_message(b"\x01" + uid(7)[:15], msg(Ping(sequence=2)), 1.0) == []
    assert node.handle_message(ident(7), [], 1.0) == []
    assert node.stats.dropped_malformed == 3
    # the sequence was not consumed by the dropped messages
    assert isinstance(events(node.handle_message(ident(7), msg(Whisper(sequence=2, content=(b"",))), 1.0))[0],
                      WhisperReceived)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20), st.lists(st.binary(max_size=40), max_size=4))
def test_arbitrary_input_never_raises(identity: bytes, frames: list[bytes]) -> None:
    node = make()
    ready(node, 7)
    node.handle_message(identity, frames, 1.0)
    node.handle_message(ident(7), frames, 1.0)
    node.handle_timer(2.0)


# -- presence -------------------------------------------------------------------------------------
def test_presence_timeline() -> None:
    """evasive 5 s: PING+EVASIVE at 5, +SILENT from 6 on, each tick; EXIT at 30."""
    node = make()
    ready(node, 7, now=0.0)
    timeline: dict[int, tuple[list[str], int]] = {}
    for t in range(1, 31):
        out = node.handle_timer(float(t))
        pings = sum(1 for _, m in sent(out) if isinstance(m, Ping))
        timeline[t] = ([e.type for e in events(out)], pings)
    assert timeline[4] == ([], 0)
    assert timeline[5] == (["EVASIVE"], 1)
    assert timeline[6] == (["EVASIVE", "SILENT"], 1)
    assert timeline[29] == (["EVASIVE", "SILENT"], 1)
    assert timeline[30] == (["EXIT"], 0)


def test_any_message_refreshes_and_ping_gets_ping_ok() -> None:
    node = make(evasive=3.0, expired=10.0)
    ready(node, 7, now=0.0)
    out = node.handle_message(ident(7), msg(Ping(sequence=2)), 2.5)
    assert [(type(m), m.sequence) for _, m in sent(out)] == [(PingOk, 2)]
    assert events(node.handle_timer(5.0)) == []  # refreshed at 2.5: evasive at 5.5
    ev = events(node.handle_timer(6.0))
    assert ev == [PeerEvasive(hexid(7), "p7")]
    node.handle_message(ident(7), msg(PingOk(sequence=3)), 6.5)
    assert events(node.handle_timer(7.0)) == []
    assert events(node.handle_timer(9.5)) == [PeerEvasive(hexid(7), "p7")]
    assert events(node.handle_timer(10.5)) == [PeerEvasive(hexid(7), "p7"), PeerSilent(hexid(7), "p7")]
    assert events(node.handle_timer(16.5)) == [PeerExited(hexid(7), "p7")]


def test_reap_interval_is_min_of_timers() -> None:
    node = NodeCore(ME, endpoint=ENDPOINT, evasive=0.2, expired=0.5, beacon_interval=None)
    node.start(0.0)
    assert node.next_deadline() == pytest.approx(0.2)


# -- API ------------------------------------------------------------------------------------------
def test_join_leave_send_to_every_peer_with_status() -> None:
    node = make()
    ready(node, 7)
    ready(node, 8)
    out = node.join("G")
    assert sorted((type(m).__name__, m.sequence, m.status) for _, m in sent(out)) == [  # type: ignore[attr-defined]
        ("Join", 2, 1), ("Join", 2, 1)]
    assert node.join("G") == []
    assert node.leave("nope") == []
    out = node.leave("G")
    assert {(type(m).__name__, m.status) for _, m in sent(out)} == {("Leave", 2)}  # type: ignore[attr-defined]
    assert node.status == 2 and list(node.own_groups) == []


def test_status_wraps_at_256() -> None:
    node = make()
    for i in range(128):
        node.join(f"g{i}")
        node.leave(f"g{i}")
    assert node.status == 0
    node.join("x")
    assert node.status == 1


def test_shout_goes_to_group_members_only_whisper_to_one() -> None:
    node = make()
    ready(node, 7, groups=("G",))
    ready(node, 8)
    out = node.shout("G", [b"a", b"b"])
    assert sent(out) == [(link_of(node, 7), Shout(sequence=2, group="G", content=(b"a", b"b")))]
    assert node.shout("nobody", [b"x"]) == []
    out = node.whisper(hexid(8).lower(), [])
    assert sent(out) == [(link_of(node, 8), Whisper(sequence=2, content=(b"",)))]  # >= 1 frame
    assert node.whisper(hexid(9), [b"x"]) == []


def test_received_shout_and_whisper_events() -> None:
    node = make()
    ready(node, 7)
    out = node.handle_message(ident(7), msg(Shout(sequence=2, group="G", content=(b"hi",))), 1.0)
    assert events(out) == [ShoutReceived(hexid(7), "p7", "G", (b"hi",))]
    out = node.handle_message(ident(7), msg(Whisper(sequence=3, content=(b"a", b"b"))), 1.0)
    assert events(out) == [WhisperReceived(hexid(7), "p7", (b"a", b"b"))]


def test_stop_sends_port0_beacon_closes_links_and_emits_stop() -> None:
    node = make()
    ready(node, 7)
    link = link_of(node, 7)
    out = node.stop(3.0)
    assert out[0] == SendBeacon(encode_beacon(Beacon(uuid=ME, port=0)))
    assert DisconnectPeer(link) in out
    assert events(out) == [NodeStopped(ME.hex().upper(), "me")]
    assert node.next_deadline() is None
    assert node.handle_message(ident(7), msg(Ping(sequence=2)), 4.0) == []


def test_goodbye_option_sends_goodbye_before_closing() -> None:
    node = NodeCore(ME, endpoint=ENDPOINT, beacon_interval=None, goodbye=True)
    node.start(0.0)
    node.handle_message(ident(7), hello(7), 0.0)
    out = node.stop(1.0)
    assert [type(m).__name__ for _, m in sent(out)] == ["Goodbye"]


def test_default_name_is_first_six_uuid_chars() -> None:
    assert NodeCore(ME).name == ME.hex().upper()[:6]


@pytest.mark.parametrize("given", [ME, ME.hex(), ME.hex().upper()], ids=["bytes", "hex", "HEX"])
def test_uuid_is_32_upper_hex_and_the_bytes_are_uuid_bytes(given: bytes | str) -> None:
    """One spelling for a UUID in the public API: NodeCore.uuid is the 32-hex string, as
    ZreNode.uuid, event.peer_uuid and Peer.uuid are; the wire form is uuid_bytes (README)."""
    node = NodeCore(given, endpoint=ENDPOINT)
    assert node.uuid == ME.hex().upper() and node.uuid_bytes == ME
    assert node.identity == b"\x01" + ME and decode_beacon(node.beacon()).uuid == ME
    node.start(0.0)
    assert node.stop(1.0)[-1] == NodeStopped(ME.hex().upper(), node.name)


def test_old_uuid_hex_spelling_still_works_with_a_deprecation_warning() -> None:
    node = NodeCore(ME)
    with pytest.warns(DeprecationWarning, match="NodeCore.uuid_hex is deprecated"):
        assert node.uuid_hex == node.uuid == ME.hex().upper()


@pytest.mark.parametrize("given", [b"\x00" * 15, "00" * 17, "not hex"])
def test_uuid_of_the_wrong_size_is_refused(given: bytes | str) -> None:
    with pytest.raises(ValueError):
        NodeCore(given)


# -- direct mode ----------------------------------------------------------------------------------
def test_discover_connects_to_a_gossiped_peer_as_a_beacon_would() -> None:
    """A gossip tuple ``uuid = endpoint[|key]`` (spec/zgossip.md#zyre): connect and greet; keys
    that are not a UUID, our own UUID and our own endpoint are ignored."""
    node = NodeCore(ME, "me", endpoint=ENDPOINT, beacon_interval=None)
    node.start(0.0)
    out = node.discover(hexid(7).lower(), ep(7) + "|" + "k" * 40, 1.0)
    assert isinstance(out[0], ConnectPeer) and out[0].endpoint == ep(7)
    assert [type(m) for _, m in sent(out)] == [Hello]
    for key, value in [("zz" * 16, ep(8)), (hexid(8)[:30], ep(8)), (ME.hex(), ep(8)),
                       (hexid(8), ENDPOINT)]:
        assert node.discover(key, value, 2.0) == []
    assert node.peer_uuids() == [hexid(7)]


def test_connect_peer_probe_is_adopted_by_hello() -> None:
    node = NodeCore(ME, "me", endpoint=ENDPOINT, beacon_interval=None)
    node.start(0.0)
    out = node.connect_peer(ep(7))
    assert isinstance(out[0], ConnectPeer) and out[0].endpoint == ep(7)
    probe_link = out[0].link
    assert sent(out) == [(probe_link, Hello(sequence=1, endpoint=ENDPOINT, groups=(), status=0,
                                            name="me", headers={}))]
    out = node.handle_message(ident(7), hello(7), 0.1)
    assert not any(isinstance(e, ConnectPeer) for e in out)  # the probe link is reused
    assert sent(out) == []  # and our HELLO already went out on it
    assert link_of(node, 7) == probe_link
    assert sent(node.whisper(hexid(7), [b"x"])) == [(probe_link, Whisper(sequence=2, content=(b"x",)))]


def test_connect_peer_probe_adopted_by_beacon_and_reopened_after_exit() -> None:
    node = make()
    probe = node.connect_peer(ep(7))[0]
    assert isinstance(probe, ConnectPeer)
    out = node.handle_beacon(Beacon(uuid=uid(7), port=6000), "127.0.0.7", 0.5)
    assert out == []  # adopted: no second connection, no second HELLO
    node.handle_message(ident(7), hello(7), 0.6)
    node.handle_beacon(Beacon(uuid=uid(7), port=0), "127.0.0.7", 1.0)
    out = node.handle_timer(1.0)
    reopened = [e for e in out if isinstance(e, ConnectPeer)]
    assert [c.endpoint for c in reopened] == [ep(7)]


def test_connect_to_own_endpoint_is_ignored() -> None:
    node = make()
    assert node.connect_peer(ENDPOINT) == []


# -- events ----------------------------------------------------------------------------------------
def test_event_plain_data_and_zyre_frames() -> None:
    enter = PeerEntered(hexid(7), "p7", {"K": "V"}, ep(7))
    assert enter.to_json() == {"event": "ENTER", "peer_uuid": hexid(7), "peer_name": "p7",
                               "headers": {"K": "V"}, "endpoint": ep(7)}
    assert pack_headers({"K": "V"}) == bytes.fromhex("00000001014B0000000156")
    assert enter.to_frames() == [b"ENTER", hexid(7).encode(), b"p7",
                                 bytes.fromhex("00000001014B0000000156"), ep(7).encode()]
    shout = ShoutReceived(hexid(7), "p7", "G", (b"hi", b"\xff"))
    assert shout.to_json() == {"event": "SHOUT", "peer_uuid": hexid(7), "peer_name": "p7",
                               "group": "G", "content_hex": ["6869", "ff"]}
    assert WhisperReceived(hexid(7), "p", (b"hi",)).to_json()["content"] == ["hi"]
    assert NodeStopped("A", "me").to_frames() == [b"STOP", b"A", b"me"]


# -- the fast decoder agrees with the codec ----------------------------------------------------------
def _codec_or_none(frames: list[bytes]) -> ZreMessage | None:
    try:
        return ZRE.decode(frames, strict=False)  # type: ignore[no-any-return]
    except DecodeError:
        return None


_hot = st.one_of(
    st.builds(lambda s, c: Whisper(sequence=s, content=tuple(c)), st.integers(0, 65535),
              st.lists(st.binary(max_size=8), max_size=3)),
    st.builds(lambda s, g, c: Shout(sequence=s, group=g, content=tuple(c)), st.integers(0, 65535),
              st.text(max_size=20), st.lists(st.binary(max_size=8), max_size=3)),
    st.builds(lambda s: Ping(sequence=s), st.integers(0, 65535)),
    st.builds(lambda s: PingOk(sequence=s), st.integers(0, 65535)),
)


@settings(max_examples=200, deadline=None)
@given(_hot, st.binary(max_size=3))
def test_decode_fast_matches_codec_on_valid_messages(m: ZreMessage, trailing: bytes) -> None:
    frames = ZRE.encode(m)
    frames[0] += trailing
    assert decode_fast(frames) == _codec_or_none(frames) == m


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"\xaa\xa1\x02\x02", b"\xaa\xa1\x03\x02", b"\xaa\xa1\x06\x02",
                        b"\xaa\xa1\x07\x02", b"\xaa\xa1\x01\x02", b""]),
       st.binary(max_size=12), st.lists(st.binary(max_size=4), max_size=2))
def test_decode_fast_never_disagrees(head: bytes, rest: bytes, more: list[bytes]) -> None:
    frames = [head + rest, *more]
    fast = decode_fast(frames)
    if fast is not None:
        assert fast == _codec_or_none(frames)


_content = st.lists(st.one_of(st.binary(max_size=8), st.binary(max_size=8).map(bytearray)),
                    min_size=1, max_size=3).map(tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "G", "é", "g" * 255]), _content), max_size=6))
def test_encoder_gives_the_codecs_frames(sends: list[tuple[str, tuple[bytes, ...]]]) -> None:
    """fastpath.Encoder, cache cold or warm, bytes or bytearray content, is ZRE.encode."""
    enc = fastpath.Encoder()
    for group, content in sends:
        assert enc.shout(group, content) == ZRE.encode(Shout(sequence=0, group=group,
                                                              content=content))
        assert enc.whisper(content) == ZRE.encode(Whisper(sequence=0, content=content))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["", "G", "é", "g" * 255]), _content, st.booleans(),
       st.lists(st.integers(0, 65535), max_size=4))
def test_numbered_copies_are_the_codecs_frames(group: str, content: tuple[bytes, ...],
                                                whisper: bool, last_sent: list[int]) -> None:
    """Encoder.numbered: each peer's copy is what ZRE.encode gives for its next sequence
    number, and the peer's count moves on as Peer.next_sequence moves it (65535 wraps to 0)."""
    enc = fastpath.Encoder()
    frames = enc.whisper(content) if whisper else enc.shout(group, content)
    peers = [Peer(f"{i:032X}", ep(i), f"link{i}", sent_sequence=s) for i, s in enumerate(last_sent)]
    twins = [Peer(f"{i:032X}", ep(i), f"link{i}", sent_sequence=s) for i, s in enumerate(last_sent)]
    for _ in range(2):  # the data frame's split cold, then kept
        expected = [fastpath.with_sequence(frames, p.next_sequence()) for p in twins]
        assert [list(m) for m in enc.numbered(frames, peers)] == expected
        assert [p.sent_sequence for p in peers] == [p.sent_sequence for p in twins]
        assert expected == [ZRE.encode(Whisper(sequence=p.sent_sequence, content=content)
                                       if whisper else
                                       Shout(sequence=p.sent_sequence, group=group, content=content))
                            for p in twins]


def test_encoder_checks_what_it_has_not_cached() -> None:
    enc = fastpath.Encoder()
    with pytest.raises(EncodeError):  # the codec's own error: a group name over 255 bytes
        enc.shout("g" * 256, (b"x",))
    with pytest.raises(EncodeError):
        enc.whisper(("not bytes",))  # type: ignore[arg-type]


# -- rules that had no unit test of their own (issue 4, items 1-3), one table each -------------------
@pytest.mark.parametrize("interval,ticks,beacons", [
    (1.0, [0.5, 0.99, 1.0, 1.5, 2.0], [1.0, 2.0]),
    (0.25, [0.1, 0.25, 0.5, 0.6, 0.75], [0.25, 0.5, 0.75]),
    (2.0, [1.0, 1.9, 2.0, 3.9, 4.5], [2.0, 4.5]),  # a late tick beacons once, then re-bases
])
def test_beacon_interval_is_configurable_first_beacon_at_once(
        interval: float, ticks: list[float], beacons: list[float]) -> None:
    node = NodeCore(ME, endpoint=ENDPOINT, beacon_interval=interval, reap_interval=100.0,
                    evasive=100.0, expired=100.0)
    assert [type(e) for e in node.start(0.0)] == [SendBeacon]
    got = [t for t in ticks if any(isinstance(e, SendBeacon) for e in node.handle_timer(t))]
    assert got == beacons


@pytest.mark.parametrize("case", ["own-uuid", "own-endpoint-not-ready", "other-not-ready"])
def test_hello_edge_cases(case: str) -> None:
    """zyre_node_recv_peer: a HELLO with our own UUID is ignored; a beacon naming our own
    endpoint under another UUID creates no peer (zyre creates one and then ignores its HELLO;
    spec/zre.md#harmony); any other not-ready peer becomes ready."""
    node = make()
    if case == "own-uuid":
        out = node.handle_message(b"\x01" + ME, hello(7), 0.0)
        assert out == [] and node.peers == {}
        return
    source = "127.0.0.1" if case == "own-endpoint-not-ready" else "127.0.0.7"
    port = 5000 if case == "own-endpoint-not-ready" else 6000
    created = node.handle_beacon(Beacon(uuid=uid(7), port=port), source, 0.0)
    if case == "own-endpoint-not-ready":
        assert created == [] and node.peer(hexid(7)) is None
        return
    out = node.handle_message(ident(7), hello(7), 0.1)
    peer = node.peer(hexid(7))
    assert peer is not None
    assert peer.ready and isinstance(events(out)[0], PeerEntered)


@pytest.mark.parametrize("message", [
    Whisper(sequence=2, content=(b"x",)),
    Shout(sequence=2, group="G", content=(b"x",)),
    Join(sequence=2, group="G", status=1),
    Leave(sequence=2, group="G", status=1),
    Ping(sequence=2),
    PingOk(sequence=2),
    Elect(sequence=2, group="G", challenger_id=hexid(7)),
    Leader(sequence=2, group="G", leader_id=hexid(7)),
    Goodbye(sequence=2),  # beacon mode: not a reason to leave, but still a message
])
def test_any_accepted_message_refreshes_presence(message: ZreMessage) -> None:
    node = make(evasive=5.0, expired=30.0)
    ready(node, 7, now=0.0)
    node.handle_message(ident(7), msg(message), 4.0)
    peer = node.peer(hexid(7))
    assert peer is not None and (peer.evasive_at, peer.expired_at) == (9.0, 34.0)
    assert events(node.handle_timer(8.0)) == []


@pytest.mark.parametrize("beaconing,message,removed", [
    (False, Goodbye(sequence=2), True),  # gossip/direct mode: GOODBYE means EXIT
    (True, Goodbye(sequence=2), False),  # beacon mode waits for the port-0 beacon
    (True, Elect(sequence=2, group="G", challenger_id=hexid(7)), False),  # no elections here
    (False, Leader(sequence=2, group="G", leader_id=hexid(7)), False),
])
def test_goodbye_and_election_messages(beaconing: bool, message: ZreMessage, removed: bool) -> None:
    node = NodeCore(ME, "me", endpoint=ENDPOINT, beacon_interval=1.0 if beaconing else None)
    node.start(0.0)
    node.handle_message(ident(7), hello(7), 0.0)
    out = node.handle_message(ident(7), msg(message), 1.0)
    assert (events(out) == [PeerExited(hexid(7), "p7")]) is removed
    assert (hexid(7) in node.peers) is not removed
    if not removed:  # the sequence was counted: the next message must carry 3
        out = node.handle_message(ident(7), msg(Whisper(sequence=3, content=(b"x",))), 1.0)
        assert isinstance(events(out)[0], WhisperReceived)


@pytest.mark.parametrize("entered", [True, False])
def test_presence_events_only_for_peers_that_entered(entered: bool) -> None:
    """A peer known from its beacon only (no HELLO yet) gets PINGs, but EVASIVE/SILENT/EXIT are
    reported only for peers the application saw ENTER."""
    node = make()
    if entered:
        ready(node, 7)
    else:
        node.handle_beacon(Beacon(uuid=uid(7), port=6000), "127.0.0.7", 0.0)
    kinds: list[str] = []
    pings = 0
    for t in range(1, 31):
        out = node.handle_timer(float(t))
        kinds += [e.type for e in events(out)]
        pings += sum(1 for _, m in sent(out) if isinstance(m, Ping))
    assert pings == 25  # t = 5 .. 29
    assert node.peers == {}
    if entered:
        assert kinds.count("EVASIVE") == 25 and kinds.count("SILENT") == 24 and kinds[-1] == "EXIT"
    else:
        assert kinds == []


def test_messages_after_a_peer_is_dropped_wait_for_a_new_hello() -> None:
    node = make()
    ready(node, 7)
    node.handle_message(ident(7), msg(Whisper(sequence=5, content=(b"x",))), 1.0)  # gap: dropped
    assert hexid(7) not in node.peers
    assert node.handle_message(ident(7), msg(Whisper(sequence=6, content=(b"x",))), 1.0) == []
    assert node.stats.dropped_not_ready == 1
    assert isinstance(events(node.handle_message(ident(7), hello(7), 2.0))[0], PeerEntered)


@pytest.mark.parametrize("step", ["before-start", "join-leave-on-probe", "probe-blocked"])
def test_direct_links(step: str) -> None:
    """connect_peer before start opens the link at start; JOIN/LEAVE also go to a link whose
    peer has not said HELLO yet (its status count starts from our HELLO); a blocked send on
    such a link closes it, and the next reap tick opens a new one."""
    node = NodeCore(ME, "me", endpoint=ENDPOINT, beacon_interval=None)
    if step == "before-start":
        assert node.connect_peer(ep(7)) == []
        out = node.start(0.0)
        assert [type(e) for e in out] == [ConnectPeer, SendToPeer]
        assert isinstance(out[0], ConnectPeer) and out[0].endpoint == ep(7)
        return
    node.start(0.0)
    link = node.connect_peer(ep(7))[0]
    assert isinstance(link, ConnectPeer)
    if step == "join-leave-on-probe":
        out = node.join("G") + node.leave("G")
        assert sent(out) == [(link.link, Join(sequence=2, group="G", status=1)),
                             (link.link, Leave(sequence=3, group="G", status=2))]
        node.handle_message(ident(7), hello(7), 0.5)  # adopted: the sequence carries on
        assert sent(node.whisper(hexid(7), [b"x"])) == [(link.link, Whisper(sequence=4, content=(b"x",)))]
        return
    assert node.handle_send_blocked(link.link, 0.5) == [DisconnectPeer(link.link)]
    reopened = [e for e in node.handle_timer(1.0) if isinstance(e, ConnectPeer)]
    assert [c.endpoint for c in reopened] == [ep(7)] and reopened[0].link != link.link


# -- the batch entry point agrees with handle_message ------------------------------------------------
_batch_msg = st.one_of(
    st.builds(lambda n, s, g, c: [ident(n), *msg(Shout(sequence=s, group=g, content=tuple(c)))],
              st.integers(7, 8), st.integers(1, 4), st.sampled_from(["G", "H", "", "ü"]),
              st.lists(st.binary(max_size=3), max_size=2)),
    st.builds(lambda n, s, c: [ident(n), *msg(Whisper(sequence=s, content=tuple(c)))],
              st.integers(7, 8), st.integers(1, 4), st.lists(st.binary(max_size=3), max_size=2)),
    st.builds(lambda n, s: [ident(n), *msg(Join(sequence=s, group="G", status=1))],
              st.integers(7, 8), st.integers(1, 4)),
    st.builds(lambda n, s, ok: [ident(n), *msg(PingOk(sequence=s) if ok else Ping(sequence=s))],
              st.integers(7, 8), st.integers(1, 4), st.booleans()),
    st.builds(lambda n, s, ok, extra: [ident(n), *msg(PingOk(sequence=s) if ok else Ping(sequence=s)),
                                       *extra],  # PING / PING-OK with frames they do not have
              st.integers(7, 8), st.integers(1, 4), st.booleans(),
              st.lists(st.binary(max_size=2), min_size=1, max_size=2)),
    st.builds(lambda n, head, raw: [ident(n), head + raw], st.integers(7, 8),  # PING headers + any
              st.sampled_from([b"\xaa\xa1\x06\x02", b"\xaa\xa1\x07\x02"]), st.binary(max_size=4)),
    st.builds(lambda n: [ident(n), *hello(n)], st.integers(7, 9)),
    st.builds(lambda n, first, s: [bytes((first,)) + ident(n)[1:], *msg(Ping(sequence=s))],
              st.integers(7, 8), st.sampled_from([0, 2, 0xFF]), st.integers(1, 4)),  # first octet ignored
    st.builds(lambda n, raw: [ident(n), raw], st.integers(7, 8),
              st.binary(max_size=10).map(lambda b: b"\xaa\xa1\x03\x02\x00\x02" + b)),
    st.lists(st.binary(max_size=18), max_size=3),
)


def _state(node: NodeCore) -> dict[str, Any]:
    return {u: (p.want_sequence, p.sent_sequence, p.evasive_at, p.expired_at, p.heard_at, p.ready,
                sorted(p.groups), p.status)
            for u, p in node.peers.items()}


@settings(max_examples=150, deadline=None)
@given(st.lists(_batch_msg, max_size=12), st.one_of(st.none(), st.integers(0, 12)))
def test_fastpath_equals_the_readable_path_with_a_budget(batch: list[list[bytes]],
                                                         budget: int | None) -> None:
    """Both stop taking messages at the same place once their effects reach the budget."""
    readable, fast = make(), make()
    for node in (readable, fast):
        ready(node, 7, groups=("G",))
        ready(node, 8)
    left_r, left_f = iter(batch), iter(batch)
    expected = readable.handle_messages(left_r, 3.0, budget)
    assert fastpath.handle_messages(fast, left_f, 3.0, budget) == expected
    assert list(left_r) == list(left_f)
    assert _state(fast) == _state(readable) and fast.stats == readable.stats
    if budget is not None and len(batch) > 0 and len(expected) < budget:
        assert list(iter(left_r)) == []  # it only stops early when the budget is reached


@settings(max_examples=150, deadline=None)
@given(st.lists(_batch_msg, max_size=12))
def test_fastpath_equals_the_readable_path(batch: list[list[bytes]]) -> None:
    """fastpath.handle_messages against NodeCore.handle_messages (which is handle_message on
    each message in turn): same effects, same events, same peer state, same counters."""
    readable, fast = make(), make()
    for node in (readable, fast):
        ready(node, 7, groups=("G",))
        ready(node, 8)
    expected: list[Effect] = []
    for m in batch:
        expected += readable.handle_message(m[0] if m else b"", list(m[1:]), 3.0)
    assert fast.handle_messages(batch, 3.0) == expected  # NodeCore's own batch entry
    fast2 = make()
    ready(fast2, 7, groups=("G",))
    ready(fast2, 8)
    assert fastpath.handle_messages(fast2, batch, 3.0) == expected
    assert _state(fast2) == _state(readable)
    assert fast2.stats == readable.stats


_beacon_uuid = st.sampled_from([ME, uid(7), uid(8), uid(9)])
_datagram = st.one_of(
    st.builds(lambda u, port: encode_beacon(Beacon(uuid=u, port=port)), _beacon_uuid,
              st.sampled_from([0, 5000, 6000, 6001])),
    st.builds(lambda u, port, key: encode_beacon(Beacon(version=3, uuid=u, port=port, public_key=key)),
              _beacon_uuid, st.sampled_from([0, 6000]), st.sampled_from([bytes(32), b"k" * 32])),
    st.builds(lambda head, u, rest: head + u + rest,  # near misses of a plain beacon
              st.sampled_from([b"ZRE\x01", b"ZRE\x02", b"ZRE\x03", b"ZRF\x01", b"ZR"]),
              _beacon_uuid, st.binary(max_size=3)),
    st.binary(max_size=24),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_datagram, st.sampled_from(["127.0.0.1", "127.0.0.7", "127.0.0.9", "::1"]),
                          st.integers(0, 3)), max_size=10),
       st.booleans(), st.booleans())
def test_fastpath_beacons_equal_the_readable_path(datagrams: list[tuple[bytes, str, int]],
                                                  curve: bool, started: bool) -> None:
    """fastpath.handle_beacon_datagram against NodeCore.handle_beacon_datagram, datagram by
    datagram (some the peer table's, some ours, some not beacons, some from a clone at our
    endpoint): same effects, same peer state, same warnings; and what the fast path put in
    no_op_beacons changes nothing when the readable path decodes it."""
    key = {"public_key": b"P" * 32} if curve else {}
    readable = NodeCore(ME, "me", endpoint=ENDPOINT, **key)
    fast = NodeCore(ME, "me", endpoint=ENDPOINT, **key)
    if started:
        for node in (readable, fast):
            node.start(0.0)
            ready(node, 7)
            node.handle_beacon(Beacon(uuid=uid(8), port=6000), "127.0.0.8", 0.0)  # not ready
    for data, source, step in datagrams:
        now = 1.0 + step
        known = set(fast.no_op_beacons)
        expected = readable.handle_beacon_datagram(data, source, now)
        assert fastpath.handle_beacon_datagram(fast, data, source, now) == expected
        assert _state(fast) == _state(readable) and fast.stats == readable.stats
        assert fast.warnings.total == readable.warnings.total
        for skipped in fast.no_op_beacons - known:
            assert skipped == data and expected == []
    assert not readable.no_op_beacons


@pytest.mark.parametrize("datagram,source,known,expect", [
    (encode_beacon(Beacon(uuid=uid(7), port=6000)), "127.0.0.7", False, "connect"),
    (encode_beacon(Beacon(uuid=uid(7), port=6000)), "127.0.0.7", True, "nothing"),  # short path
    (encode_beacon(Beacon(uuid=uid(7), port=0)), "127.0.0.7", True, "exit"),
    (encode_beacon(Beacon(uuid=ME, port=6000)), "127.0.0.1", False, "nothing"),  # our own
    (b"ZRE\x01" + uid(7) + b"\x17", "127.0.0.7", False, "nothing"),  # truncated: dropped
    (b"ZRE\x02" + uid(7) + b"\x17\x70", "127.0.0.7", False, "nothing"),  # unknown version
    (b"XYZ\x01" + uid(7) + b"\x17\x70", "127.0.0.7", False, "nothing"),
])
def test_raw_beacon_datagrams(datagram: bytes, source: str, known: bool, expect: str) -> None:
    node = make()
    if known:
        ready(node, 7)
    out = node.handle_beacon_datagram(datagram, source, 1.0)
    if expect == "connect":
        assert [type(e) for e in out] == [ConnectPeer, SendToPeer]
    elif expect == "exit":
        assert events(out) == [PeerExited(hexid(7), "p7")]
    else:
        assert out == []


# -- the fast reap agrees with the readable one ------------------------------------------------------
_presence_step = st.one_of(
    st.tuples(st.just("tick"), st.sampled_from([0.0, 0.3, 1.0, 2.5, 6.0, 12.0])),
    st.tuples(st.just("beacon"), st.integers(7, 9)),  # a new peer, not ready
    st.tuples(st.just("hello"), st.integers(7, 9)),
    st.tuples(st.just("hello"), st.integers(7, 9)),
    st.tuples(st.just("ping"), st.integers(7, 9)),  # PING, PING-OK or WHISPER, in sequence
    st.tuples(st.just("ping-ok"), st.integers(7, 9)),
    st.tuples(st.just("whisper"), st.integers(7, 9)),
    st.tuples(st.just("gap"), st.integers(7, 9)),  # out of sequence: the peer is dropped
    st.tuples(st.just("blocked"), st.integers(7, 9)),  # HWM: its link closes, it expires later
    st.tuples(st.just("wrap"), st.integers(7, 9)),  # our next message to it wraps to sequence 0
)


def _in_sequence(node: NodeCore, n: int, kind: str) -> list[bytes]:
    peer = node.peer(hexid(n))
    seq = (peer.want_sequence + 1) % 65536 if peer is not None else 2
    if kind == "gap":
        seq = (seq + 7) % 65536
    return msg(Ping(sequence=seq) if kind == "ping" else PingOk(sequence=seq) if kind == "ping-ok"
               else Whisper(sequence=seq, content=(b"w",)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_presence_step, max_size=30), st.sampled_from([(5.0, 30.0), (2.0, 3.0), (3.0, 1.0)]),
       st.sampled_from([1.0, 0.5]))
@example([("hello", 7), ("hello", 8), ("tick", 1.0), ("ping", 7), ("tick", 12.0)], (5.0, 30.0), 1.0)
def test_fast_reap_equals_the_readable_reap(steps: list[tuple[str, Any]],
                                            timeouts: tuple[float, float], reap_interval: float) -> None:
    """NodeCore.handle_timer with fastpath.reap against the readable scan, through peers that
    come, answer, go quiet, are dropped and expire (times only go forward, as on a loop's
    clock): the same effects at every tick, the same peer state, and silence_order always
    holds the table's peers in the order of their deadlines."""
    evasive, expired = timeouts
    readable, fast = (make(evasive=evasive, expired=expired, reap_interval=reap_interval)
                      for _ in range(2))
    now = 0.0
    for kind, arg in steps:
        if kind == "tick":
            now += arg
            assert fast.handle_timer(now, fastpath.reap) == readable.handle_timer(now)
        elif kind == "beacon":
            for node in (readable, fast):
                node.handle_beacon(Beacon(uuid=uid(arg), port=6000), f"127.0.0.{arg}", now)
        elif kind == "hello":
            for node in (readable, fast):
                node.handle_message(ident(arg), hello(arg), now)
        elif kind == "blocked":
            for node in (readable, fast):
                peer = node.peer(hexid(arg))
                if peer is not None:
                    node.handle_send_blocked(peer.link, now)
        elif kind == "wrap":
            for node in (readable, fast):
                peer = node.peer(hexid(arg))
                if peer is not None:
                    peer.sent_sequence = 65535
        else:
            frames = _in_sequence(readable, arg, kind)
            expected = readable.handle_message(ident(arg), frames, now)
            assert fastpath.handle_messages(fast, [[ident(arg), *frames]], now) == expected
        assert _state(fast) == _state(readable)
        for node in (readable, fast):
            order = list(node.silence_order)
            assert set(order) == set(node.peers.values())
            assert [p.evasive_at for p in order] == sorted(p.evasive_at for p in order)
            assert sorted(order, key=node.silence_order.__getitem__) == list(node.peers.values())
            assert node._by_identity == {ident(int(u[-2:], 16)): p for u, p in node.peers.items()}


def test_fast_reap_stops_at_the_first_peer_not_due() -> None:
    """Of 50 quiet peers, only the one that went evasive is looked at (its timers are read;
    planting a peer that is due behind one that is not shows the scan stopped there)."""
    node = make()
    for n in range(20, 70):
        ready(node, n, now=float(n))  # peer n heard at n: evasive at n + 5
    out = node.handle_timer(25.5, fastpath.reap)
    assert events(out) == [PeerEvasive(hexid(20), "p20")]
    late = node.peer(hexid(69))
    assert late is not None
    late.evasive_at = 0.0  # not what a clock going forward can do: the fast reap does not see it
    assert events(node.handle_timer(26.5, fastpath.reap)) == [
        PeerEvasive(hexid(20), "p20"), PeerSilent(hexid(20), "p20"), PeerEvasive(hexid(21), "p21")]
    assert PeerEvasive(hexid(69), "p69") in events(node.handle_timer(27.5))  # the readable scan does


# -- the fast SHOUT agrees with NodeCore.shout ----------------------------------------------------------
_member_state = st.sampled_from(["connected", "parked", "unlinked"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["G", "H", "é", "nobody", "g" * 256]),
                          st.lists(st.one_of(st.binary(max_size=6), st.binary(max_size=6).map(bytearray),
                                             st.text(max_size=2)),  # ZreNode.shout passes str on
                                   max_size=3).map(tuple),
                          st.tuples(_member_state, _member_state, _member_state),
                          st.sampled_from([0, 5, 65535])), max_size=8))
@example([("G", (b"a",), ("connected",) * 3, 0),  # the group's frames cached, then members
          ("G", (b"b",), ("connected", "connected", "parked"), 5),  # numbered before a parked one
          ("G", (b"c", b"d"), ("connected", "parked", "unlinked"), 65535)])
def test_fast_shout_equals_core_shout(shouts: list[tuple[str, tuple[bytes, ...], tuple[str, ...], int]]
                                      ) -> None:
    """fastpath.shout against NodeCore.shout, cache cold or warm, members connected, parked
    or without a link, sequences about to wrap: the same one SendToPeers (or None, with
    nothing changed, where the readable path then gives what it gives), the same sequence
    counts and held messages, the same error for a group the codec refuses."""
    readable, fast = make(), make()
    for node in (readable, fast):
        ready(node, 7, groups=("G", "é"))
        ready(node, 8, groups=("G",))
        ready(node, 9, groups=("G", "H"))
    for group, content, states, sequence in shouts:
        for node in (readable, fast):
            for n, state in zip((7, 8, 9), states, strict=True):
                peer = node.peer(hexid(n))
                assert peer is not None
                peer.connected, peer.parked = state == "connected", state == "parked"
                if n == 9:
                    peer.sent_sequence = sequence
        _fast_send_agrees(readable, fast, "shout", group, content, _one_send_to_peers)


def test_fast_shout_takes_back_the_numbers_it_gave_before_a_parked_member() -> None:
    """One pass over the members: those numbered before a parked one get their sequence back,
    about to wrap or not, and nothing is sent; the readable path then holds the message."""
    node = make()
    for n in (7, 8, 9):
        ready(node, n, groups=("G",))
    node.shout("G", (b"warm",))  # the group's frames are cached now
    peers = [node.peer(hexid(n)) for n in (7, 8, 9)]
    assert all(p is not None for p in peers)
    p7, p8, p9 = peers  # type: ignore[misc]
    p7.sent_sequence, p8.sent_sequence = 65535, 41
    p9.connected, p9.parked = False, True
    assert fastpath.shout(node, "G", (b"x",)) is None
    assert (p7.sent_sequence, p8.sent_sequence, p9.sent_sequence) == (65535, 41, 2)
    p9.connected, p9.parked = True, False
    sends = fastpath.shout(node, "G", (b"y",))
    assert sends is not None and [link for link, _ in sends] == [p7.link, p8.link, p9.link]
    assert (p7.sent_sequence, p8.sent_sequence, p9.sent_sequence) == (0, 42, 3)


def _one_send_to_peers(sends: fastpath.Sends) -> list[Effect]:
    assert sends and all(isinstance(message, tuple) for _, message in sends)  # not GC-tracked
    return [SendToPeers([link for link, _ in sends], [message for _, message in sends])]


def _fast_send_agrees(readable: NodeCore, fast: NodeCore, method: str, to: str,
                      content: tuple[bytes, ...],
                      as_effects: Callable[[fastpath.Sends], list[Effect]]) -> None:
    """``fastpath.<method>(fast, to, content)`` against ``readable.<method>(to, content)``
    (shout or whisper): the same effects (``as_effects`` of what the fast path gives), or None
    with nothing changed and then the readable path on ``fast`` gives them; the same error;
    the same peer state and held messages afterwards."""
    def readable_path(node: NodeCore) -> list[Effect] | type[Exception]:
        try:
            effects: list[Effect] = getattr(node, method)(to, content)
        except (EncodeError, TypeError):
            return EncodeError
        return effects
    expected = readable_path(readable)
    before = _state(fast)
    sends: fastpath.Sends | None = getattr(fastpath, method)(fast, to, content)
    if sends is None:
        assert _state(fast) == before
        got = readable_path(fast)
    else:
        got = as_effects(sends)
    assert got == expected
    assert _state(fast) == _state(readable)
    assert [p.held for p in fast.peers.values()] == [p.held for p in readable.peers.values()]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([7, 8, 9, 10]), st.booleans(),
                          st.lists(st.one_of(st.binary(max_size=6), st.binary(max_size=6).map(bytearray),
                                             st.text(max_size=2)),  # ZreNode.whisper passes str on
                                   max_size=3).map(tuple),
                          st.tuples(_member_state, _member_state, _member_state),
                          st.sampled_from([0, 5, 65535])), max_size=8))
def test_fast_whisper_equals_core_whisper(
        whispers: list[tuple[int, bool, tuple[bytes, ...], tuple[str, ...], int]]) -> None:
    """fastpath.whisper against NodeCore.whisper: peers connected, parked or without a link, a
    UUID upper- or lower-case or unknown, content empty, not bytes or several frames, sequences
    about to wrap: the same one SendToPeer (or None, with nothing changed, where the readable
    path then gives what it gives), the same sequence counts and held messages, the same error
    for content the codec refuses."""
    readable, fast = make(), make()
    for node in (readable, fast):
        for n in (7, 8, 9):
            ready(node, n)
    for n, lower, content, states, sequence in whispers:
        for node in (readable, fast):
            for m, state in zip((7, 8, 9), states, strict=True):
                peer = node.peer(hexid(m))
                assert peer is not None
                peer.connected, peer.parked = state != "unlinked", state == "parked"
                if m == n:
                    peer.sent_sequence = sequence
        uuid = hexid(n).lower() if lower else hexid(n)
        _fast_send_agrees(readable, fast, "whisper", uuid, content, _one_send_to_peer)


def _one_send_to_peer(sends: fastpath.Sends) -> list[Effect]:
    ((link, frames),) = sends  # one link, one message: a tuple (not GC-tracked)
    assert isinstance(frames, tuple)
    return [SendToPeer(link, list(frames))]
