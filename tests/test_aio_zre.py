"""ZreNode on loopback: several nodes in one process, direct mode and real UDP beacons."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zre_ref.aio.loopshared import LoopShared
from zre_ref.aio.zmtp import Socket
from zre_ref.aio.zre import INBOX_RCVHWM, ZreNode
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
)
from zre_ref.zre.messages import ZRE, Hello, Ping, PingOk

from .waiting import until

pytestmark = pytest.mark.net
T = TypeVar("T", bound=ZreEvent)
TIMEOUT = 5.0


def free_udp_port() -> int:
    """A random high UDP port nobody on this host is bound to (tests run in parallel)."""
    for _ in range(50):
        port = random.randrange(20000, 60000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port")


async def expect(node: ZreNode, kind: type[T], pred: Callable[[T], bool] = lambda e: True,
                 timeout: float = TIMEOUT) -> T:
    """Read events until one of ``kind`` matching ``pred`` arrives (others are skipped)."""
    async def wait() -> T:
        while True:
            ev = await node.recv()
            if isinstance(ev, kind) and pred(ev):
                return ev
    return await asyncio.wait_for(wait(), timeout)


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 30))


def test_direct_mode_pair_enter_join_shout_whisper_exit() -> None:
    async def main() -> None:
        async with ZreNode("a", {"X-A": "1"}, beacon=False) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            enter = await expect(b, PeerEntered)
            assert (enter.peer_uuid, enter.peer_name, enter.headers, enter.endpoint) == (
                a.uuid, "a", {"X-A": "1"}, a.endpoint)
            await expect(a, PeerEntered, lambda e: e.peer_uuid == b.uuid)
            assert a.peers() == [b.uuid] and b.peers() == [a.uuid]
            assert b.peer_name(a.uuid) == "a" and b.peer_header_value(a.uuid, "X-A") == "1"
            assert b.peer_address(a.uuid) == a.endpoint

            await a.join("G")
            await expect(b, PeerJoined, lambda e: e.group == "G")
            assert b.peers_by_group("G") == [a.uuid] and b.peer_groups() == ["G"]
            assert a.own_groups() == ["G"]
            await b.shout("G", b"hello", "world")
            shout = await expect(a, ShoutReceived)
            assert (shout.group, shout.content) == ("G", (b"hello", b"world"))
            await a.whisper(b.uuid, b"psst")
            assert (await expect(b, WhisperReceived)).content == (b"psst",)
            await a.leave("G")
            await expect(b, PeerLeft, lambda e: e.group == "G")

            await a.stop()  # direct mode: GOODBYE
            await expect(b, PeerExited, lambda e: e.peer_uuid == a.uuid)
            assert b.peers() == []
            assert isinstance(await expect(a, NodeStopped), NodeStopped)
            with pytest.raises(EOFError):
                await asyncio.wait_for(a.recv(), 1)
    run(main)


def test_udp_beacons_on_loopback_find_each_other_and_port0_exits() -> None:
    async def main() -> None:
        port = free_udp_port()
        kw: dict[str, Any] = {"interface": "lo", "port": port, "beacon_interval": 0.2}
        nodes = [ZreNode(f"n{i}", **kw) for i in range(3)]
        for n in nodes:
            await n.start()
        try:
            for n in nodes:
                others = {m.uuid for m in nodes if m is not n}
                seen: set[str] = set()
                while seen != others:
                    seen.add((await expect(n, PeerEntered)).peer_uuid)
                assert n.endpoint.startswith("tcp://127.0.0.1:")
            await nodes[0].stop()  # port-0 beacon
            for n in nodes[1:]:
                await expect(n, PeerExited, lambda e: e.peer_uuid == nodes[0].uuid, timeout=3)
        finally:
            for n in nodes:
                await n.stop()
    run(main)


def test_direct_endpoint_list_and_events_iterator() -> None:
    async def main() -> None:
        async with ZreNode("a", beacon=False) as a:
            b = ZreNode("b", beacon=False, connect=[a.endpoint])
            async with b:
                got = []
                async for ev in a.events():
                    got.append(ev)
                    if isinstance(ev, PeerEntered):
                        break
                assert got[-1].peer_uuid == b.uuid
    run(main)


def test_silent_raw_peer_gets_pings_goes_evasive_silent_then_exits() -> None:
    """A hand-made peer (a DEALER that says HELLO, and a ROUTER for our node's link) that first
    answers every PING and then goes quiet: presence on the wire, with short timers."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        evasive, expired = 0.15, 0.6
        async with ZreNode("a", beacon=False, evasive=evasive, expired=expired) as a, \
                Socket("ROUTER") as inbox:
            inbox_ep = await inbox.bind("tcp://127.0.0.1:*")
            raw_uuid = os.urandom(16)
            raw_id = raw_uuid.hex().upper()
            async with Socket("DEALER", identity=b"\x01" + raw_uuid) as dealer:
                await dealer.connect(a.endpoint)
                seq = 1
                await dealer.send_multipart(ZRE.encode(Hello(
                    sequence=seq, endpoint=inbox_ep, groups=(), status=0, name="raw", headers={})))
                await expect(a, PeerEntered, lambda e: e.peer_uuid == raw_id)

                async def next_msg() -> Any:
                    ident, *frames = await asyncio.wait_for(inbox.recv_multipart(), TIMEOUT)
                    assert ident == b"\x01" + bytes.fromhex(a.uuid)  # a's link identity
                    return ZRE.decode(frames)

                assert isinstance(await next_msg(), Hello)  # a greets first, on its own link
                seq += 1
                await dealer.send_multipart(ZRE.encode(Ping(sequence=seq)))
                assert await next_msg() == PingOk(sequence=2)  # PING -> PING-OK

                # phase 1: answer each PING; that refreshes the peer well past `expired`
                answered = 0
                until = loop.time() + 1.5 * expired
                while loop.time() < until:
                    m = await next_msg()
                    assert isinstance(m, Ping)
                    seq += 1
                    await dealer.send_multipart(ZRE.encode(PingOk(sequence=seq)))
                    answered += 1
                assert answered >= 3 and a.peers() == [raw_id]

                # phase 2: silence. PINGs keep coming each tick; EVASIVE, SILENT, then EXIT
                quiet_since = loop.time()
                pings: list[Any] = []

                async def count_pings() -> None:
                    while True:
                        pings.append(await next_msg())

                counter = asyncio.create_task(count_pings())
                try:
                    await expect(a, PeerEvasive, lambda e: e.peer_uuid == raw_id, timeout=2)
                    await expect(a, PeerSilent, lambda e: e.peer_uuid == raw_id, timeout=2)
                    await expect(a, PeerExited, lambda e: e.peer_uuid == raw_id, timeout=2)
                finally:
                    counter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await counter
                waited = loop.time() - quiet_since
                assert expired - 0.05 <= waited <= expired + 0.5, waited
                assert len(pings) >= 2 and all(isinstance(p, Ping) for p in pings)
                assert a.peers() == []
    run(main)


def test_send_blocked_at_hwm_disconnects_that_peer() -> None:
    async def main() -> None:
        async with ZreNode("a", beacon=False, sndhwm=10) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            # 100 whispers from 100 tasks in one loop turn: the DEALER queue passes its HWM
            # of 10 before the turn's flush writes any of it
            await asyncio.gather(*(a.whisper(b.uuid, str(i)) for i in range(100)))
            assert a.core.stats.send_blocked >= 1
            peer = a.core.peer(b.uuid)
            assert peer is not None and not peer.connected
            assert a.peers() == [b.uuid]  # kept until it expires
    run(main)


def break_link(node: ZreNode, peer: ZreNode) -> None:
    """From now on, sends on ``node``'s DEALER to ``peer`` raise (closing it still works)."""
    known = node.core.peer(peer.uuid)
    assert known is not None
    dealer = node._links.sockets[known.link]

    class Broken:
        def send_frames_nowait(self, frames: object) -> None:
            raise RuntimeError("broken link")

        def close(self, linger: bool = True) -> None:
            dealer.close(linger=linger)
    node._links.sockets[known.link] = Broken()  # type: ignore[assignment]


def test_shout_isolates_a_failing_link_and_reports_a_full_one() -> None:
    """ZreNode.shout's direct send (fastpath.shout) keeps _apply's guarantees: a link whose
    send raises is dropped (EXIT) while the other member still gets every SHOUT, and a
    link at its HWM is disconnected through the core (send_blocked)."""
    async def main() -> None:
        async with ZreNode("a", beacon=False, sndhwm=10) as a, \
                ZreNode("b", beacon=False) as b, ZreNode("c", beacon=False) as c:
            for peer in (b, c):
                await peer.join("G")
                await a.connect_peer(peer.endpoint)
            for _ in (b, c):
                await expect(a, PeerJoined)
            await a.shout("G", b"zero")  # the group's data frame is now in the encoder's cache
            break_link(a, b)
            await a.shout("G", b"one")
            waiting = []  # what the failure gave is carried out by the shout itself
            while (ev := a.recv_nowait()) is not None:
                waiting.append(ev)
            assert PeerExited(b.uuid, "b") in waiting
            assert a.core.peer(b.uuid) is None and a.warnings.total >= 1
            await a.shout("G", b"two")
            got = [(await expect(c, ShoutReceived)).content for _ in range(3)]
            assert got == [(b"zero",), (b"one",), (b"two",)]
            # 100 SHOUTs from 100 tasks in one loop turn: c's DEALER passes its HWM of 10
            await asyncio.gather(*(a.shout("G", str(i).encode()) for i in range(100)))
            assert a.core.stats.send_blocked >= 1
            peer_c = a.core.peer(c.uuid)
            assert peer_c is not None and not peer_c.connected
    run(main)


def test_whisper_isolates_a_failing_link_and_reports_a_full_one() -> None:
    """ZreNode.whisper's direct send (fastpath.whisper) keeps _apply's guarantees: a link whose
    send raises is dropped (EXIT) while another peer still gets its WHISPERs, and a link at
    its HWM is disconnected through the core (send_blocked)."""
    async def main() -> None:
        async with ZreNode("a", beacon=False, sndhwm=10) as a, \
                ZreNode("b", beacon=False) as b, ZreNode("c", beacon=False) as c:
            for peer in (b, c):
                await a.connect_peer(peer.endpoint)
            for _ in (b, c):
                await expect(a, PeerEntered)
            break_link(a, b)
            await a.whisper(b.uuid, b"one")
            waiting = []  # what the failure gave is carried out by the whisper itself
            while (ev := a.recv_nowait()) is not None:
                waiting.append(ev)
            assert PeerExited(b.uuid, "b") in waiting
            assert a.core.peer(b.uuid) is None and a.warnings.total >= 1
            await a.whisper(c.uuid, b"two")
            await a.whisper(c.uuid.lower(), "three")  # the readable path, in between
            await a.whisper(c.uuid, b"four")
            got = [(await expect(c, WhisperReceived)).content for _ in range(3)]
            assert got == [(b"two",), (b"three",), (b"four",)]
            # 100 WHISPERs from 100 tasks in one loop turn: c's DEALER passes its HWM of 10
            await asyncio.gather(*(a.whisper(c.uuid, str(i).encode()) for i in range(100)))
            assert a.core.stats.send_blocked >= 1
            peer_c = a.core.peer(c.uuid)
            assert peer_c is not None and not peer_c.connected
    run(main)


def test_a_waiting_reader_takes_the_inbox_and_a_cancelled_one_hands_it_back() -> None:
    """A recv() that waits is woken as the ROUTER reads and takes the batch itself; a reader
    woken and cancelled before it ran leaves the batch to a callback, so later messages
    still arrive (without that, the node would never read its ROUTER again)."""
    async def main() -> None:
        async with ZreNode("a", beacon=False) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            await expect(b, PeerEntered)
            reader = asyncio.ensure_future(b.recv())
            await until(b._events.waiting, what="b's recv() waits")
            await a.whisper(b.uuid, b"one")
            ev = await asyncio.wait_for(reader, TIMEOUT)
            assert isinstance(ev, WhisperReceived) and ev.content == (b"one",)
            for word in (b"two", b"three"):
                reader = asyncio.ensure_future(b.recv())
                await until(b._events.waiting, what="b's recv() waits")
                b._on_readable()  # as the ROUTER's read does: the reader is woken
                assert b._inbox_by_reader
                reader.cancel()  # ... and cancelled before it runs
                with pytest.raises(asyncio.CancelledError):
                    await reader
                assert not b._inbox_by_reader
                await a.whisper(b.uuid, word)
                assert (await expect(b, WhisperReceived)).content == (word,)
    run(main)


def test_a_woken_reader_takes_the_batch_even_when_an_event_was_already_queued() -> None:
    """The reader woken for the ROUTER's batch takes it before returning whatever was queued
    meanwhile (else the batch would wait for a next recv() that may never come: PINGs
    unanswered); a failure while taking it is reported to the loop, not raised into recv()."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        async with ZreNode("a", beacon=False) as a, ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            await expect(b, PeerEntered)
            reader = asyncio.ensure_future(b.recv())
            await until(b._events.waiting, what="b's recv() waits")
            b._on_readable()  # as the ROUTER's read does: the reader is woken for the batch
            queued = PeerEntered(peer_uuid=a.uuid, peer_name="a", headers={}, endpoint="")
            b._events.append(queued)  # ... and an event is queued before it runs
            b._events.charge(1, 0)
            assert await asyncio.wait_for(reader, TIMEOUT) is queued
            assert not b._inbox_by_reader  # the batch was taken, not left for a later recv

            def broken() -> None:
                raise RuntimeError("planted")

            b._on_inbox = broken  # type: ignore[method-assign]
            reader = asyncio.ensure_future(b.recv())
            await until(b._events.waiting, what="b's recv() waits")
            b._on_readable()
            b._events.append(queued)
            b._events.charge(1, 0)
            assert await asyncio.wait_for(reader, TIMEOUT) is queued  # recv() did not raise
            assert [str(c.get("exception")) for c in reported] == ["planted"]
            del b._on_inbox
    run(main)


def test_many_nodes_full_mesh_direct() -> None:
    async def main() -> None:
        nodes = [ZreNode(f"m{i}", beacon=False) for i in range(8)]
        for n in nodes:
            await n.start()
        try:
            for i, n in enumerate(nodes):
                for m in nodes[i + 1:]:
                    await n.connect_peer(m.endpoint)
            for n in nodes:
                want = {m.uuid for m in nodes if m is not n}
                seen: set[str] = set()
                while seen != want:
                    seen.add((await expect(n, PeerEntered)).peer_uuid)
            await nodes[0].join("ALL")
            for n in nodes[1:]:
                await expect(n, PeerJoined)
            for n in nodes[1:]:
                await n.shout("ALL", b"x")  # nobody but node 0 is in ALL
            for _ in nodes[1:]:
                await expect(nodes[0], ShoutReceived)
        finally:
            for n in nodes:
                await n.stop()
    run(main)


def cli_listen_and_shout(count: int, message: str, listen_extra: tuple[str, ...] = (),
                         shout_extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`zre-ref listen --json --group G --count N` in a subprocess, then `zre-ref shout G MESSAGE`
    from another; returns the listener's events after READY (beacons on loopback)."""
    import json
    import subprocess

    port = str(free_udp_port())
    common = ["--interface", "lo", "--port", port, "--beacon-interval", "0.2"]
    listen = subprocess.Popen(
        [sys.executable, "-m", "zre_ref.cli", "listen", "--json", "--group", "G", "--count",
         str(count), "--timeout", "15", *listen_extra, *common], stdout=subprocess.PIPE, text=True)
    try:
        assert listen.stdout is not None
        ready = json.loads(listen.stdout.readline())
        assert ready["event"] == "READY"
        shout = subprocess.run(
            [sys.executable, "-m", "zre_ref.cli", "shout", "G", message, "--name", "cli",
             "--wait", "10", *shout_extra, *common], capture_output=True, text=True, timeout=20)
        assert shout.returncode == 0, shout.stderr
        out, _ = listen.communicate(timeout=15)
    finally:
        if listen.poll() is None:
            listen.kill()
            listen.wait()
    return [json.loads(line) for line in out.splitlines()]


def test_cli_listen_json_and_shout() -> None:
    events = cli_listen_and_shout(3, "hi there")
    assert [e["event"] for e in events] == ["ENTER", "SHOUT", "EXIT"]
    assert events[1]["content"] == ["hi there"] and events[0]["peer_name"] == "cli"


def test_cli_chat_shouts_stdin_lines_and_prints_what_arrives() -> None:
    """`zre-ref chat` in a subprocess, in direct mode towards a node of ours; stdin is a pipe."""
    async def line_with(proc: asyncio.subprocess.Process, *needles: str) -> str:
        assert proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            if not raw:
                raise AssertionError(f"chat ended before printing {needles}")
            text = raw.decode()
            if all(n in text for n in needles):
                return text

    async def main() -> None:
        async with ZreNode("me", beacon=False) as me:
            await me.join("CHAT")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "zre_ref.cli", "chat", "--no-beacon", "--connect", me.endpoint,
                "--name", "chatty", "--group", "CHAT", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                assert proc.stdin is not None
                assert "chatting in CHAT as chatty" in await line_with(proc, "chatting")
                enter = await expect(me, PeerEntered, lambda e: e.peer_name == "chatty")
                await expect(me, PeerJoined, lambda e: e.group == "CHAT")
                await line_with(proc, "ENTER me", me.endpoint)
                proc.stdin.write("hello there\n\nsecond line ünïcode\n".encode())
                await proc.stdin.drain()
                shouts = [await expect(me, ShoutReceived) for _ in range(2)]  # the empty line is skipped
                assert [(s.group, s.content) for s in shouts] == [
                    ("CHAT", (b"hello there",)), ("CHAT", ("second line ünïcode".encode(),))]
                await me.shout("CHAT", "hi back")
                await line_with(proc, "SHOUT me", "CHAT: hi back")
                await me.whisper(enter.peer_uuid, b"psst", b"\xff")
                await line_with(proc, "WHISPER me", "psst | 0xff")
                proc.stdin.close()  # Ctrl-D: the chat stops (GOODBYE in direct mode)
                assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
                await expect(me, PeerExited, lambda e: e.peer_uuid == enter.peer_uuid)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    run(main)


def _kernel_has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _loopback_carries_ipv6_multicast() -> bool:
    """Does a datagram to ff02::1 on lo come back to us? (Not on Linux: lo has no IPv6
    multicast.) The probe is scoped to lo, so nothing can leave the host."""
    try:
        idx = socket.if_nametoindex("lo")
    except OSError:
        return False
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as tx:
        try:
            rx.bind(("::", 0))
            group = socket.inet_pton(socket.AF_INET6, "ff02::1") + idx.to_bytes(4, sys.byteorder)
            rx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
            rx.settimeout(0.2)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
            tx.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
            tx.sendto(b"ZRE-probe", ("ff02::1", rx.getsockname()[1], 0, idx))
            return rx.recv(64) == b"ZRE-probe"
        except OSError:
            return False


def _need(reason: str) -> None:
    """Skip locally, fail under CI=true (IPv6 is there, so the test must run)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"IPv6 beacon test cannot run under CI: {reason}")
    pytest.skip(reason)


def test_ipv6_direct_mode_on_loopback() -> None:
    if not _kernel_has_ipv6():
        _need("the kernel has no IPv6")

    async def main() -> None:
        kw: dict[str, Any] = {"beacon": False, "bind": "tcp://[::1]:*"}
        async with ZreNode("a", **kw) as a, ZreNode("b", **kw) as b:
            assert a.endpoint.startswith("tcp://[::1]:")
            await a.connect_peer(b.endpoint)
            enter = await expect(b, PeerEntered)
            assert (enter.peer_uuid, enter.endpoint) == (a.uuid, a.endpoint)
            await expect(a, PeerEntered)
            await a.whisper(b.uuid, b"v6")
            assert (await expect(b, WhisperReceived)).content == (b"v6",)
    run(main)


#: the interface's IPv6 addresses in each namespace case: a ULA alone (no link-local: addrgenmode
#: none), a link-local and a ULA (the ROUTER binds the ULA, while a socket bound to :: would send
#: to ff02::1 from the link-local one, RFC 6724), and a link-local alone
IPV6_ADDRESS_CASES = {"ula": ["fd5a:5245::1/64"], "link-local+ula": ["fe80::1/64", "fd5a:5245::1/64"],
                      "link-local": ["fe80::1/64"]}


def ipv6_namespace_commands(ns: str, case: str) -> list[list[str]]:
    """`ip` commands that make namespace ``ns``: lo up, and a veth pair zv0/zv1 whose end zv0
    holds the case's addresses, with no duplicate address detection (usable at once)."""
    return [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "link", "add", "zv0", "type", "veth", "peer", "name", "zv1"],
            ["ip", "-n", ns, "link", "set", "zv0", "addrgenmode", "none"],
            ["ip", "-n", ns, "link", "set", "zv1", "addrgenmode", "none"],
            *(["ip", "-n", ns, "addr", "add", address, "dev", "zv0", "nodad"]
              for address in IPV6_ADDRESS_CASES[case]),
            ["ip", "-n", ns, "link", "set", "zv0", "up"],
            ["ip", "-n", ns, "link", "set", "zv1", "up"]]


@pytest.mark.parametrize("case", list(IPV6_ADDRESS_CASES))
def test_ipv6_beacons_to_ff02_1_find_each_other_and_port0_exits(case: str) -> None:
    """IPv6 discovery as czmq does it: beacons to ff02::1 on the interface, from the address
    the ROUTER listens on (spec/zre.md#node-discovery, D7, D11). Linux loopback has no IPv6
    multicast, so there the nodes run in a fresh namespace on a veth pair (nothing leaves the
    namespace), whose end carries the case's addresses."""
    import json
    import shutil
    import subprocess
    import uuid as uuid_mod

    if not _kernel_has_ipv6():
        _need("the kernel has no IPv6")
    script = [sys.executable, str(Path(__file__).with_name("zre_ipv6_scenario.py"))]
    ns = ""
    if _loopback_carries_ipv6_multicast():
        if case != "ula":
            pytest.skip("lo carries IPv6 multicast here: the scenario runs on lo, once")
        argv = [*script, "lo", str(free_udp_port())]
    else:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            _need("lo has no IPv6 multicast here, and a namespace needs root and iproute2")
        ns = f"zre6{os.getpid()}{uuid_mod.uuid4().hex[:6]}"
        setup = ipv6_namespace_commands(ns, case)
        argv = ["ip", "netns", "exec", ns, *script, "zv0", "5670"]
    try:
        for cmd in setup if ns else []:
            made = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            if made.returncode != 0:
                _need(f"{' '.join(cmd)}: {made.stderr.strip()}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        if ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["destinations"] == ["ff02::1"]
    assert got["a"].startswith("tcp://[") and got["b"].startswith("tcp://[")
    assert got["a_saw"] == [got["b_uuid"], got["b"]] and got["b_saw"] == [got["a_uuid"], got["a"]]
    assert got["shout"] == "over IPv6" and got["exit"] == got["a_uuid"]
    assert got["a_beacons_sent"] >= 1
    # a's beacons leave from the address its ROUTER is bound to (the zone aside)
    a_host = got["a"].removeprefix("tcp://[").rsplit("]:", 1)[0]
    assert got["a_beacon_source"].split("%", 1)[0] == a_host.split("%", 1)[0]
    if ns:
        wanted = IPV6_ADDRESS_CASES[case][-1].split("/")[0]  # a ULA when there is one
        assert a_host.split("%", 1)[0] == wanted


def test_beacon_plans() -> None:
    from zre_ref.aio.beacon import IPV6_GROUP, LOOPBACK_BROADCAST, MULTICAST_GROUP, plan

    for name in ("lo", "127.0.0.1"):
        p = plan(name)
        assert p.loopback and p.host == "127.0.0.1"
        assert set(p.destinations) == {LOOPBACK_BROADCAST, MULTICAST_GROUP}
        assert p.multicast_groups == (MULTICAST_GROUP,)
    assert plan("*").destinations == ("255.255.255.255",)
    v6 = plan("lo", ipv6=True)
    assert (v6.host, v6.destinations, v6.multicast_groups, v6.ipv6) == ("::1", (IPV6_GROUP,),
                                                                          (IPV6_GROUP,), True)
    assert v6.ifindex == socket.if_nametoindex("lo")
    with pytest.raises(ValueError):
        plan("no-such-interface0")


def _if_inet6_line(address: str, scope: int, flags: int, name: str = "zv0") -> str:
    """One line of /proc/net/if_inet6 as Linux writes it (address, ifindex, prefix length,
    scope, flags, name)."""
    return f"{socket.inet_pton(socket.AF_INET6, address).hex()} 03 40 {scope:02x} {flags:02x} {name:>8}"


#: /proc/net/if_inet6 flags (Linux include/uapi/linux/if_addr.h)
OPTIMISTIC, DADFAILED, DEPRECATED, TENTATIVE, PERMANENT = 0x04, 0x08, 0x20, 0x40, 0x80
ULA, LINK = 0x00, 0x20


@pytest.mark.parametrize("lines,chosen,caveat", [
    ([("fe80::1", LINK, PERMANENT), ("fd00::1", ULA, PERMANENT)], "fd00::1", ""),
    ([("fe80::1", LINK, PERMANENT)], "fe80::1%zv0", ""),
    ([("::1", 0x10, PERMANENT)], "::1", ""),
    ([], "::", ""),
    # a tentative ULA cannot be bound yet: the usable link-local is taken
    ([("fd00::1", ULA, TENTATIVE), ("fe80::1", LINK, PERMANENT)], "fe80::1%zv0", ""),
    # an optimistic one can be bound at once
    ([("fe80::1", LINK, PERMANENT), ("fd00::1", ULA, TENTATIVE | OPTIMISTIC)], "fd00::1", ""),
    # DAD failed (the kernel keeps it tentative too): another address, whatever its scope
    ([("fd00::1", ULA, DADFAILED | TENTATIVE), ("fe80::1", LINK, PERMANENT)], "fe80::1%zv0", ""),
    # deprecated: a fresh address first, the global one of two fresh ones
    ([("fd00::1", ULA, DEPRECATED), ("fe80::1", LINK, PERMANENT), ("fd00::2", ULA, 0)], "fd00::2", ""),
    ([("fd00::1", ULA, DEPRECATED), ("fe80::1", LINK, 0)], "fe80::1%zv0", ""),
    # deprecated still works now, tentative not yet
    ([("fd00::1", ULA, TENTATIVE), ("fd00::2", ULA, DEPRECATED)], "fd00::2", "deprecated"),
    # nothing better: used, with the reason its bind may fail
    ([("fd00::1", ULA, TENTATIVE)], "fd00::1", "tentative"),
    ([("fd00::1", ULA, DADFAILED | TENTATIVE)], "fd00::1", "DAD-failed"),
    ([("fd00::1", ULA, DADFAILED | TENTATIVE), ("fe80::1", LINK, TENTATIVE)], "fe80::1%zv0", "tentative"),
])
def test_ipv6_address_choice_skips_tentative_dadfailed_and_deprecated(
        lines: list[tuple[str, int, int]], chosen: str, caveat: str) -> None:
    """spec/zre.md#ipv6-address: usable before deprecated before tentative before DAD-failed,
    then global before link-local; addresses of other interfaces never count."""
    from zre_ref.aio.beacon import choose_ipv6_address

    text = "\n".join([_if_inet6_line("fd00::99", ULA, PERMANENT, "eth0"),
                      *(_if_inet6_line(*line) for line in lines),
                      _if_inet6_line("fd00::98", ULA, PERMANENT, "zv01")]) + "\n"
    host, why = choose_ipv6_address(text, "zv0")
    assert host == chosen
    assert why.startswith(caveat) and bool(why) == bool(caveat)


def test_ipv6_address_choice_skips_malformed_lines() -> None:
    from zre_ref.aio.beacon import choose_ipv6_address

    good = _if_inet6_line("fe80::1", LINK, PERMANENT)
    bad = ["", "zv0", "fd000000000000000000000000000001 03 40 00 80",  # five fields
           "fd000000000000000000000000000001 03 40 00 80 zv0 extra",
           "fd00000000000000000000000000001 03 40 00 80 zv0",  # 31 hex digits
           "fd00000000000000000000000000000g 03 40 00 80 zv0",
           "fd000000000000000000000000000001 03 40 zz 80 zv0",
           "fd000000000000000000000000000001 03 40 00 -- zv0",
           "fd000000000000000000000000000001 03 40 05 80 zv0"]  # an unknown scope
    assert choose_ipv6_address("\n".join([*bad, good]), "zv0") == ("fe80::1%zv0", "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=80), st.builds(
    lambda addr, scope, flags: _if_inet6_line(addr, scope, flags),
    st.ip_addresses(v=6).map(str), st.integers(0, 255), st.integers(0, 0xFFF))), max_size=8))
def test_ipv6_address_choice_takes_any_text(lines: list[str]) -> None:
    """Whatever the file holds, the choice is an address of the interface or "::"."""
    from zre_ref.aio.beacon import choose_ipv6_address

    host, _ = choose_ipv6_address("\n".join(lines), "zv0")
    socket.inet_pton(socket.AF_INET6, host.removesuffix("%zv0"))


def test_ipv6_plan_skips_a_tentative_address_the_kernel_will_not_bind() -> None:
    """A real tentative address: the ULA on a veth end whose peer is down stays in duplicate
    address detection (no carrier), cannot be bound, and the plan takes the link-local address
    (spec/zre.md#ipv6-address)."""
    import json
    import shutil
    import subprocess
    import uuid as uuid_mod

    if not _kernel_has_ipv6():
        _need("the kernel has no IPv6")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        _need("a namespace needs root and iproute2")
    ns = f"zre6t{os.getpid()}{uuid_mod.uuid4().hex[:6]}"
    setup = [["ip", "netns", "add", ns],
             ["ip", "-n", ns, "link", "add", "zv0", "type", "veth", "peer", "name", "zv1"],
             ["ip", "-n", ns, "link", "set", "zv0", "addrgenmode", "none"],
             ["ip", "-n", ns, "addr", "add", "fe80::1/64", "dev", "zv0", "nodad"],
             ["ip", "-n", ns, "addr", "add", "fd5a:5245::1/64", "dev", "zv0"],  # with DAD
             ["ip", "-n", ns, "link", "set", "zv0", "up"]]  # zv1 stays down: no carrier
    probe = ("import json, socket\n"
             "from zre_ref.aio.beacon import choose_ipv6_address, plan\n"
             "text = open('/proc/net/if_inet6').read()\n"
             "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
             "try:\n    s.bind(('fd5a:5245::1', 0)); err = 0\n"
             "except OSError as exc:\n    err = exc.errno\n"
             "print(json.dumps([text, choose_ipv6_address(text, 'zv0')[0], plan('zv0', ipv6=True).host, err]))\n")
    try:
        for cmd in setup:
            made = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            if made.returncode != 0:
                _need(f"{' '.join(cmd)}: {made.stderr.strip()}")
        done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr[-2000:]
    text, chosen, planned, bind_errno = json.loads(done.stdout.splitlines()[-1])
    ula = next(line.split() for line in text.splitlines() if line.startswith("fd5a5245"))
    assert int(ula[4], 16) & TENTATIVE  # the kernel's flag, where the parser reads it
    assert bind_errno == errno.EADDRNOTAVAIL
    assert chosen == planned == "fe80::1%zv0"


@pytest.mark.parametrize("endpoint,zoned", [
    ("tcp://[fe80::1]:5000", "tcp://[fe80::1%zv0]:5000"),
    ("tcp://[FE80::a:b]:1", "tcp://[FE80::a:b%zv0]:1"),
    ("tcp://[fe80::1%eth9]:5000", "tcp://[fe80::1%eth9]:5000"),  # already has a zone
    ("tcp://[fd00::1]:5000", "tcp://[fd00::1]:5000"),  # not link-local
    ("tcp://fe80::1:5000", "tcp://[fe80::1%zv0]:5000"),  # zyre's HELLO: no brackets, no zone
    ("tcp://fe80::1%eth9:5000", "tcp://fe80::1%eth9:5000"),
    ("tcp://fd00::1:5000", "tcp://fd00::1:5000"),
    ("tcp://fe80.example:5000", "tcp://fe80.example:5000"),  # a host name
    ("tcp://127.0.0.1:5000", "tcp://127.0.0.1:5000"),
])
def test_link_local_peer_endpoints_get_our_interface_as_zone(endpoint: str, zoned: str) -> None:
    from zre_ref.aio.beacon import link_local_zone

    assert link_local_zone(endpoint, "zv0") == zoned


@pytest.mark.parametrize("router,host", [
    ("tcp://[fd00::7]:5000", "fd00::7"),  # one address: beacons leave from it
    ("tcp://[fe80::2%zv0]:5000", "fe80::2%zv0"),  # link-local: bound with the plan's interface
    ("tcp://[fe80::2]:5000", "fe80::2%zv0"),
    ("tcp://[::]:5000", "fd00::1"),  # every address: the interface's address will do
    ("tcp://*:5000", "fd00::1"),
])
def test_ipv6_beacons_leave_from_the_routers_address(router: str, host: str) -> None:
    from zre_ref.aio.beacon import IPV6_GROUP, BeaconPlan, sent_from

    v6 = BeaconPlan("fd00::1", (IPV6_GROUP,), (IPV6_GROUP,), ipv6=True, ifindex=3, interface="zv0")
    assert sent_from(v6, router) == BeaconPlan(host, (IPV6_GROUP,), (IPV6_GROUP,), ipv6=True,
                                               ifindex=3, interface="zv0")
    v4 = BeaconPlan("10.0.0.1", ("10.0.0.255",), interface="eth0")
    assert sent_from(v4, "tcp://10.0.0.9:5000") is v4


def test_nodes_of_one_process_share_one_beacon_socket_and_copies_are_read_once() -> None:
    from zre_ref.aio.beacon import UdpBeacon, plan

    async def main() -> None:
        port = free_udp_port()
        heard: dict[str, list[bytes]] = {"a": [], "b": []}
        a = UdpBeacon(port, plan("lo"), lambda data, host: heard["a"].append(data))
        b = UdpBeacon(port, plan("lo"), lambda data, host: heard["b"].append(data))
        await a.open()
        await b.open()
        try:
            assert a.socket is b.socket and a.socket is not None  # one socket for both
            assert LoopShared.of().beacon_sockets[(port, a.plan)] is a.socket  # the loop's
            first, marker = b"ZRE\x01" + bytes(16) + b"\x17\x70", b"ZRE\x01" + bytes(16) + b"\x17\x71"
            a.send(first)  # to 127.255.255.255 and 225.25.25.25
            assert a.sent == 2
            # barrier: a later beacon on the same path; both copies of the first came before it
            a.send(marker)
            await until(lambda: marker in heard["a"] and marker in heard["b"], what="the marker")
            assert heard["a"] == heard["b"] == [first, marker]
            b.close()
            assert a.socket is not None and a.socket.transport is not None
            assert not a.socket.transport.is_closing()  # still used by a
        finally:
            a.close()
            b.close()
    run(main)


def test_a_beacon_given_its_own_loop_shared_opens_its_own_socket() -> None:
    """Sharing is per LoopShared: the default is the running loop's, an explicit one is apart;
    the last member out closes the socket and leaves the registry."""
    from zre_ref.aio.beacon import UdpBeacon, plan

    async def main() -> None:
        port = free_udp_port()
        mine = LoopShared()
        a = UdpBeacon(port, plan("lo"), lambda data, host: None)
        b = UdpBeacon(port, plan("lo"), lambda data, host: None, shared=mine)
        await a.open()
        await b.open()
        try:
            assert a.socket is not None and b.socket is not None and a.socket is not b.socket
            assert mine.beacon_sockets == {(port, b.plan): b.socket}
            assert LoopShared.of().beacon_sockets[(port, a.plan)] is a.socket
            transport = b.socket.transport
            b.close()
            assert mine.beacon_sockets == {} and transport is not None and transport.is_closing()
        finally:
            a.close()
            b.close()
        assert (port, a.plan) not in LoopShared.of().beacon_sockets
    run(main)


def test_shared_beacon_socket_skips_what_a_member_declared_no_op() -> None:
    from zre_ref.aio.beacon import UdpBeacon, plan

    async def main() -> None:
        port = free_udp_port()
        heard: dict[str, list[bytes]] = {"a": [], "b": []}
        known = b"ZRE\x01" + bytes(16) + b"\x17\x70"
        other = b"ZRE\x01" + bytes([1]) * 16 + b"\x17\x70"
        a = UdpBeacon(port, plan("lo"), lambda data, host: heard["a"].append(data), {known})
        b = UdpBeacon(port, plan("lo"), lambda data, host: heard["b"].append(data))
        await a.open()
        await b.open()
        try:
            hub = a.socket
            assert hub is not None and hub is b.socket
            hub.datagram_received(known, ("127.0.0.1", port))
            hub.datagram_received(other, ("127.0.0.1", port))
            assert heard == {"a": [other], "b": [known, other]}
            assert a.received == b.received == 2  # counted as heard all the same
        finally:
            a.close()
            b.close()
    run(main)


def test_shared_beacon_socket_skips_what_every_member_declared_no_op_until_one_forgets() -> None:
    """A datagram that every member's NoOpBeacons holds is skipped without asking any member;
    once one member's set is emptied (a peer left its table), the datagram reaches it again."""
    from zre_ref.aio.beacon import UdpBeacon, plan
    from zre_ref.zre.admission import NoOpBeacons

    class Watched(NoOpBeacons):
        asked = 0

        def __contains__(self, data: object) -> bool:
            self.asked += 1
            return super().__contains__(data)

    async def main() -> None:
        port = free_udp_port()
        heard: dict[str, list[bytes]] = {"a": [], "b": []}
        known = b"ZRE\x01" + bytes(16) + b"\x17\x70"
        no_a, no_b = Watched(), Watched()
        no_a.add(known)
        no_b.add(known)
        a = UdpBeacon(port, plan("lo"), lambda data, host: heard["a"].append(data), no_a)
        b = UdpBeacon(port, plan("lo"), lambda data, host: heard["b"].append(data), no_b)
        await a.open()
        await b.open()
        try:
            hub = a.socket
            assert hub is not None and hub is b.socket
            hub.datagram_received(known, ("127.0.0.1", port))  # both asked: nobody needs it
            asked = no_a.asked + no_b.asked
            hub.datagram_received(known, ("127.0.0.2", port))  # now skipped without asking
            assert heard == {"a": [], "b": []} and no_a.asked + no_b.asked == asked
            no_b.clear()  # b's peer left: its beacon means something to b again
            hub.datagram_received(known, ("127.0.0.3", port))
            assert heard == {"a": [], "b": [known]}
            assert a.received == b.received == 3  # counted as heard all the same
        finally:
            a.close()
            b.close()
        assert no_b.on_clear is None  # the closed socket no longer watches it
    run(main)


def test_slow_application_holds_back_the_inbox_and_loses_nothing() -> None:
    """With max_pending_events=8 the node takes at most 8 events' worth from its ROUTER; the
    rest wait there (and in TCP) until the application reads, and arrive complete and in order."""
    async def main() -> None:
        async with ZreNode("a", beacon=False, max_pending_events=8) as a, \
                ZreNode("b", beacon=False) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            await expect(b, PeerEntered)
            for i in range(300):
                await b.whisper(a.uuid, str(i))
            router = a.router
            assert router is not None
            # every whisper has reached a: at most 8 as events, the rest held in its ROUTER
            await until(lambda: a.pending_events + router.stats()["received"] >= 300,
                        what="all 300 whispers at a")
            assert a.pending_events <= 8
            got = []
            while len(got) < 300:
                ev = await asyncio.wait_for(a.recv(), 5)
                if isinstance(ev, WhisperReceived):
                    got.append(int(ev.content[0]))
                    if len(got) % 50 == 0:
                        await asyncio.sleep(0.01)  # a slow reader now and then
                        assert a.pending_events <= 8
            assert got == list(range(300))
    run(main)


def test_a_flooding_peer_fills_only_the_bounded_inbox_and_loses_nothing() -> None:
    """The direct path takes a read's messages only while events have room: a peer that
    sends faster than the application reads finds a's events at max_pending_events, its ROUTER
    inbox at about rcvhwm (then a's ROUTER stops reading: TCP holds the rest), and every
    message still arrives once, in order."""
    async def main() -> None:
        async with ZreNode("a", beacon=False, max_pending_events=8) as a, \
                ZreNode("b", beacon=False, sndhwm=5000) as b:
            await a.connect_peer(b.endpoint)
            await expect(a, PeerEntered)
            await expect(b, PeerEntered)
            router = a.router
            assert router is not None
            body = b"f" * 1000
            for i in range(2000):
                await b.whisper(a.uuid, b"%d" % i, body)
                if i % 200 == 199:
                    await asyncio.sleep(0)
            await until(lambda: bool(router._read_pause.pipes), what="a's ROUTER paused")
            assert a.pending_events <= 8
            # rcvhwm, plus what the read that filled it completed (at most one read buffer)
            assert INBOX_RCVHWM <= router.stats()["received"] <= INBOX_RCVHWM + 300
            got = []
            while len(got) < 2000:
                ev = await asyncio.wait_for(a.recv(), 5)
                if isinstance(ev, WhisperReceived):
                    got.append(int(ev.content[0]))
                    assert a.pending_events <= 8
            assert got == list(range(2000))
    run(main)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(["whisper", "shout"]), st.integers(0, 3000),
                              st.booleans()), min_size=1, max_size=40),
       room=st.sampled_from([3, 64, 10_000]))
def test_the_direct_path_gives_the_events_the_readable_path_gives(
        ops: list[tuple[str, int, bool]], room: int) -> None:
    """A node whose ROUTER hands reads straight to it (the direct path, Socket.on_messages)
    and one that takes them from the ROUTER's inbox (the readable path, on_messages off) give
    the application the same events, in the same order, whatever the room for events."""
    async def events_of(direct: bool) -> list[tuple[str, str, tuple[bytes, ...]]]:
        async with ZreNode("a", beacon=False, max_pending_events=room) as a, \
                ZreNode("b", beacon=False) as b:
            await a.join("G")
            await b.connect_peer(a.endpoint)
            await expect(b, PeerJoined)
            await expect(a, PeerEntered)
            assert a.router is not None
            if not direct:
                a.router.on_messages = None
            for i, (kind, size, turn) in enumerate(ops):
                content = (b"%d" % i, b"c" * size)
                if kind == "whisper":
                    await b.whisper(a.uuid, *content)
                else:
                    await b.shout("G", *content)
                if turn:
                    await asyncio.sleep(0)
            got: list[tuple[str, str, tuple[bytes, ...]]] = []
            while len(got) < len(ops):
                ev = await asyncio.wait_for(a.recv(), TIMEOUT)
                if isinstance(ev, (WhisperReceived, ShoutReceived)):
                    got.append((type(ev).__name__, getattr(ev, "group", ""), ev.content))
            return got

    async def main() -> None:
        direct = await events_of(True)
        assert direct == await events_of(False)
        assert [int(c[0]) for _, _, c in direct] == list(range(len(ops)))
    run(main)


def test_zyre_api_names(caplog: Any) -> None:
    """zyre's setters and queries under their zyre names (README, "zyre's API"); times are
    seconds where zyre takes milliseconds."""
    async def main() -> None:
        port = free_udp_port()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            fixed = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        a = ZreNode()
        a.set_name("alice")
        a.set_header("X-K", "v")
        a.set_port(port)
        a.set_interface("lo")
        a.set_interval(0.2)
        a.set_evasive_timeout(0.5)
        a.set_expired_timeout(3.0)
        a.set_endpoint(fixed)
        a.set_advertised_endpoint(fixed)
        a.set_verbose()
        b = ZreNode("bob", interface="lo", port=port, beacon_interval=0.2)
        async with a, b:
            assert (a.name, a.port, a.endpoint) == ("alice", port, fixed)
            assert (a.core.beacon_interval, a.core.evasive, a.core.expired) == (0.2, 0.5, 3.0)
            enter = await expect(b, PeerEntered, lambda e: e.peer_uuid == a.uuid)
            assert (enter.peer_name, enter.headers, enter.endpoint) == ("alice", {"X-K": "v"}, fixed)
            await expect(a, PeerEntered, lambda e: e.peer_uuid == b.uuid)
            await b.join("G")
            await expect(a, PeerJoined, lambda e: e.group == "G")
            assert a.peers() == [b.uuid] and a.peers_by_group("G") == [b.uuid]
            assert a.peer_groups() == ["G"] and b.own_groups() == ["G"] and a.own_groups() == []
            assert b.peer_header_value(a.uuid, "X-K") == "v" and b.peer_address(a.uuid) == fixed
            await a.shouts("G", "hi all")
            assert (await expect(b, ShoutReceived)).content == (b"hi all",)
            await b.whispers(a.uuid, "psst")
            assert (await expect(a, WhisperReceived)).content == (b"psst",)
            for setter, arg in [(a.set_name, "x"), (a.set_port, 1), (a.set_interface, "lo"),
                                (a.set_evasive_timeout, 1.0), (a.set_expired_timeout, 1.0),
                                (a.set_endpoint, fixed), (a.set_advertised_endpoint, fixed)]:
                with pytest.raises(RuntimeError):
                    setter(arg)  # type: ignore[operator]
        assert any("SendToPeer" in r.getMessage() and "alice" in r.getMessage()
                   for r in caplog.records)  # set_verbose: every effect logged
        assert ZreNode(uuid=a.uuid).uuid == a.uuid  # a UUID is given as 32 hex (or 16 bytes)
    with caplog.at_level(logging.INFO, logger="zre_ref.aio.zre"):
        run(main)


def test_a_burst_of_beacons_is_read_in_few_loop_turns() -> None:
    """asyncio's datagram transport reads one datagram per loop turn; the beacon socket drains
    up to READ_BATCH per turn, so a flood does not overflow the kernel buffer while the loop is
    busy (and drop real peers' beacons with the forged ones)."""
    from zre_ref.aio.beacon import READ_BATCH
    from zre_ref.zre.beacon import Beacon, encode_beacon

    async def main() -> None:
        port = free_udp_port()
        async with ZreNode("v", interface="lo", port=port, beacon_interval=5.0) as node:
            await asyncio.sleep(0)
            before = node.beacons_heard
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(READ_BATCH):
                    udp.sendto(encode_beacon(Beacon(uuid=os.urandom(16), port=9)),
                               ("127.0.0.1", port))
            for _ in range(3):
                await asyncio.sleep(0)
            assert READ_BATCH <= node.beacons_heard - before <= READ_BATCH + 2  # + our own
    run(main)
