"""ZRE nodes in CURVE mode as zyre runs them (spec/zre.md#curve-mode-zyre): version 3 beacons
with the key, X-PUBLICKEY in HELLO, sealed links, and mixed networks split at discovery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.test_aio_zre import cli_listen_and_shout, expect, free_udp_port, run
from zre_ref.aio.zre import ZreNode
from zre_ref.curve import curve_keypair, z85_decode
from zre_ref.zre.beacon import Beacon, decode_beacon, encode_beacon
from zre_ref.zre.events import PeerEntered, PeerJoined, ShoutReceived, WhisperReceived
from zre_ref.zre.messages import ZRE, Hello
from zre_ref.zre.node import ConnectPeer, NodeCore

PUB, SEC = curve_keypair()


def _core(key: bytes | None) -> NodeCore:
    core = NodeCore(bytes(range(16)), "me", endpoint="tcp://127.0.0.1:5000", public_key=key)
    core.start(0.0)
    return core


def test_core_beacons_version_3_with_the_key_and_sends_it_in_hello() -> None:
    key = z85_decode(PUB)
    core = _core(key)
    beacon = decode_beacon(core.beacon())
    assert (beacon.version, beacon.public_key, beacon.port) == (3, key, 5000)
    assert len(core.beacon()) == 54
    assert core.headers["X-PUBLICKEY"] == PUB.decode()


def test_core_connects_as_curve_client_with_the_beacons_key() -> None:
    other = z85_decode(curve_keypair()[0])
    core = _core(z85_decode(PUB))
    out = core.handle_beacon(Beacon(version=3, uuid=bytes(range(1, 17)), port=6000, public_key=other), "127.0.0.1", 1.0)
    connects = [e for e in out if isinstance(e, ConnectPeer)]
    assert len(connects) == 1 and connects[0].server_key == other
    assert connects[0].endpoint == "tcp://127.0.0.1:6000"


def test_mixed_networks_are_split_like_zyre() -> None:
    """A CURVE node ignores version 1 beacons; a plain node ignores version 3 beacons."""
    curve, plain = _core(z85_decode(PUB)), _core(None)
    v1 = Beacon(version=1, uuid=bytes(range(1, 17)), port=6000)
    v3 = Beacon(version=3, uuid=bytes(range(2, 18)), port=6001,
                public_key=z85_decode(curve_keypair()[0]))
    assert curve.handle_beacon_datagram(encode_beacon(v1), "127.0.0.1", 1.0) == []
    assert plain.handle_beacon_datagram(encode_beacon(v3), "127.0.0.1", 1.0) == []
    assert not curve.peers and not plain.peers


def test_curve_node_ignores_a_hello_without_a_key() -> None:
    core = _core(z85_decode(PUB))
    identity = b"\x01" + bytes(range(3, 19))
    hello = Hello(sequence=1, endpoint="tcp://127.0.0.1:7000", name="plain")
    assert not [e for e in core.handle_message(identity, ZRE.encode(hello), 1.0)
                if isinstance(e, (ConnectPeer, PeerEntered))]
    keyed = Hello(sequence=1, endpoint="tcp://127.0.0.1:7000", name="keyed",
                  headers={"X-PUBLICKEY": curve_keypair()[0].decode()})
    out = core.handle_message(identity, ZRE.encode(keyed), 1.0)
    connects = [e for e in out if isinstance(e, ConnectPeer)]
    assert connects and connects[0].server_key == z85_decode(keyed.headers["X-PUBLICKEY"])
    assert any(isinstance(e, PeerEntered) for e in out)


def test_spoofed_beacons_do_not_grow_the_key_table() -> None:
    core = NodeCore(bytes(range(16)), "me", endpoint="tcp://127.0.0.1:5000",
                    public_key=z85_decode(PUB), max_peers=3, max_unready_peers=3)
    core.start(0.0)
    for i in range(50):
        uuid = i.to_bytes(2, "big") + bytes(14)
        core.handle_beacon(Beacon(version=3, uuid=uuid, port=6000 + i,
                                  public_key=bytes([i + 1]) * 32), "127.0.0.1", 1.0)
    assert len(core.peers) <= 3 and core.peer_key_count() <= 3


def test_curve_nodes_find_each_other_and_talk_sealed_and_a_plain_node_sees_neither() -> None:
    async def main() -> None:
        port = free_udp_port()
        kw: dict[str, Any] = {"interface": "lo", "port": port, "beacon_interval": 0.2}
        (ap, as_), (bp, bs) = curve_keypair(), curve_keypair()
        a = ZreNode("a", curve_publickey=ap, curve_secretkey=as_, **kw)
        b = ZreNode("b", curve_publickey=bp.decode(), curve_secretkey=bs, **kw)
        plain = ZreNode("plain", **kw)
        for n in (a, b, plain):
            await n.start()
        try:
            entered = await expect(a, PeerEntered)
            assert entered.peer_uuid == b.uuid and entered.headers["X-PUBLICKEY"] == bp.decode()
            assert (await expect(b, PeerEntered)).peer_uuid == a.uuid
            await a.join("g")
            await b.join("g")
            await expect(a, PeerJoined, lambda e: e.group == "g")  # b is in g, as a knows
            await a.shout("g", b"sealed")
            assert (await expect(b, ShoutReceived)).content == (b"sealed",)
            await b.whisper(a.uuid, b"back")
            assert (await expect(a, WhisperReceived)).content == (b"back",)
            with pytest.raises(asyncio.TimeoutError):  # beacons every 0.2 s: 5 rounds
                await expect(plain, PeerEntered, timeout=1.0)
        finally:
            for n in (a, b, plain):
                await n.stop()

    run(main)


def test_zre_node_curve_options_are_checked() -> None:
    with pytest.raises(ValueError):
        ZreNode("x", curve_publickey=PUB)
    with pytest.raises(ValueError):
        ZreNode("x", curve_publickey=curve_keypair()[0], curve_secretkey=SEC)


def test_cli_listen_and_shout_with_curve_keyfiles(tmp_path: Any) -> None:
    from zre_ref.cli import main

    files = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.key"
        assert main(["keygen", "--out", str(path)]) == 0
        files.append(str(path))
    events = cli_listen_and_shout(2, "sealed", ("--curve-keyfile", files[0]),
                                  ("--curve-keyfile", files[1]))
    assert [e["event"] for e in events] == ["ENTER", "SHOUT"]
    assert "X-PUBLICKEY" in dict(events[0]["headers"]) and events[1]["content"] == ["sealed"]


def test_bad_keyfile_is_refused(tmp_path: Any) -> None:
    from zre_ref.cli.curve import load_keyfile

    path = tmp_path / "bad.key"
    path.write_text(f"public = {curve_keypair()[0].decode()}\nsecret = {SEC.decode()}\n")
    with pytest.raises(SystemExit, match="not a matching"):
        load_keyfile(str(path))
    path.write_text(f'curve\n    public-key = "{PUB.decode()}"\n    secret-key = "{SEC.decode()}"\n')
    assert load_keyfile(str(path)) == (PUB.decode(), SEC.decode())  # czmq zcert format
