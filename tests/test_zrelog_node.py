"""ZRE/LOG with real ZreNodes on loopback: publishing nodes, collectors joining ZRE (spec/zrelog.md).

Direct mode (no UDP) keeps the order of discovery under the test's control: every node meets
the collectors before it meets the other nodes, so every ENTER record has somewhere to go.
Every wait is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from zre_ref.aio.zre import ZreNode
from zre_ref.aio.zrelog import JsonLines, LogCollector, LogPublisher
from zre_ref.zre.events import PeerEntered, PeerExited, PeerJoined, PeerLeft, ShoutReceived
from zre_ref.zrelog.messages import Event, endpoint_hash
from zre_ref.zrelog.publisher import ZRELOG_HEADER

from .test_aio_zre import expect, free_udp_port
from .waiting import until

pytestmark = pytest.mark.net
DIRECT: dict[str, Any] = {"beacon": False}
Key = tuple[str, str, str, str]  # node hash, peer hash, event, data


def h(endpoint: str) -> str:
    return f"{endpoint_hash(endpoint):04X}"


def run(coro: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), timeout))


class Collector:
    """A log collector as `zre-ref log-collector` builds it: SUB + ZreNode with X-ZRELOG."""

    def __init__(self, name: str, path: Path | None = None, *, max_bytes: int = 0,
                 **node_kw: Any) -> None:
        self.records: list[dict[str, Any]] = []
        self.path = path
        sink = JsonLines(str(path) if path else None, max_bytes=max_bytes, backups=1000,
                         stream=None if path else _Null())
        self.log = LogCollector(sink, on_record=self.records.append)
        self.name = name
        self.node_kw = node_kw
        self.node: ZreNode | None = None

    async def start(self) -> Collector:
        endpoint = await self.log.bind("tcp://127.0.0.1:*")
        self.log.start()
        self.node = ZreNode(self.name, {ZRELOG_HEADER: endpoint}, **self.node_kw)
        await self.node.start()
        return self

    @property
    def endpoint(self) -> str:
        return self.log.endpoint

    @property
    def zre_endpoint(self) -> str:
        assert self.node is not None
        return self.node.endpoint

    def keys(self) -> Counter[Key]:
        return Counter((r["node"], r["peer"], r["event"], r["data"]) for r in self.records)

    async def stop(self) -> None:
        if self.node is not None:
            await self.node.stop()
        await self.log.close()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


async def collectors_known(nodes: list[ZreNode], *endpoints: str) -> None:
    """Every node's PUB is connected to these collectors (and only these)."""
    want = sorted(endpoints)
    await until(lambda: all(n.log_publisher is not None and n.log_publisher.collectors == want
                            for n in nodes), what=f"collectors {want}")


async def mesh(nodes: list[ZreNode]) -> None:
    """Connect every node to every other (direct mode) and wait for every ENTER."""
    for i, n in enumerate(nodes):
        for m in nodes[i + 1:]:
            await n.connect_peer(m.endpoint)
    await until(lambda: all(len(n.core.ready_peers()) >= len(nodes) - 1 for n in nodes),
                what="full mesh")


async def no_more_records(c: Collector) -> None:
    """Barrier for "nothing more may come": every publisher's connection to ``c`` has ended (so
    everything sent on it has arrived: TCP keeps order) and ``c`` has taken every message its SUB
    received. Call it once no publisher is connected to ``c`` any more."""
    await until(lambda: c.log.socket.peers() == [] and c.log.socket.stats()["received"] == 0,
                what="every publisher gone from the collector, its queue drained")


async def marker_records(nodes: list[ZreNode], *collectors: Collector) -> None:
    """Barrier for "nothing more may come" while nodes keep publishing: every node joins MARK, and
    this waits until each collector holds each node's JOIN MARK record of every other node. A
    node's records reach a collector in order on one connection, so whatever a node published
    before has arrived too. Then the MARK records are taken out of the collectors' lists."""
    for n in nodes:
        await n.join("MARK")
    marks = len(nodes) * (len(nodes) - 1)
    await until(lambda: all(sum(r["data"] == "MARK" for r in c.records) >= marks
                            for c in collectors), what="MARK records at every collector")
    for c in collectors:
        c.records[:] = [r for r in c.records if r["data"] != "MARK"]


def drain(*nodes: ZreNode) -> None:
    """Throw away events nobody reads (the node keeps at most MAX_PENDING_EVENTS)."""
    for n in nodes:
        while n.recv_nowait() is not None:
            pass


def test_five_nodes_two_collectors_every_record_and_rotation(tmp_path: Path) -> None:
    async def main() -> None:
        c1 = await Collector("c1", tmp_path / "c1.jsonl", max_bytes=1500, **DIRECT).start()
        c2 = await Collector("c2", **DIRECT).start()
        nodes = [ZreNode(f"n{i}", log_publishing=True, connect=[c1.zre_endpoint, c2.zre_endpoint],
                         **DIRECT) for i in range(5)]
        try:
            for n in nodes:
                await n.start()
            await collectors_known(nodes, c1.endpoint, c2.endpoint)
            await mesh(nodes)
            for n in nodes:
                await n.join("G")
            await until(lambda: all(len(n.peers_by_group("G")) == 4 for n in nodes), what="JOIN")
            for n in nodes:
                await n.leave("G")
            await until(lambda: all(not n.peers_by_group("G") for n in nodes), what="LEAVE")
            for k, n in enumerate(nodes):  # direct mode: GOODBYE, so EXIT at once
                await n.stop()
                gone = {x.uuid for x in nodes[:k + 1]}
                rest = nodes[k + 1:]
                await until(lambda gone=gone, rest=rest: all(
                    not gone & set(m.core.ready_peers()) for m in rest), what="EXIT")
            expected: Counter[Key] = Counter()
            for i, n in enumerate(nodes):
                me = h(n.endpoint)
                for c in (c1, c2):
                    expected[(me, h(c.zre_endpoint), "ENTER", "")] += 1
                for j, m in enumerate(nodes):
                    if i != j:
                        peer = h(m.endpoint)
                        expected.update([(me, peer, "ENTER", ""), (me, peer, "JOIN", "G"),
                                         (me, peer, "LEAVE", "G")])
                        if j < i:
                            expected[(me, peer, "EXIT", "")] += 1
            total = sum(expected.values())
            assert total == 5 * 2 + 20 * 3 + 10
            await until(lambda: len(c1.records) >= total and len(c2.records) >= total,
                        what="every record at both collectors")
            await no_more_records(c1)  # every node has stopped: nothing more may come
            await no_more_records(c2)
            assert c1.keys() == expected
            assert c2.keys() == expected
            assert all(r["level"] == "INFO" for r in c1.records)
        finally:
            for n in nodes:
                await n.stop()
            await c1.stop()
            await c2.stop()
        # rotation kept every record, in arrival order, across many files
        files = [*sorted(tmp_path.glob("c1.jsonl.*"), key=lambda f: -int(f.suffix[1:])),
                 tmp_path / "c1.jsonl"]
        assert len(files) > 5
        assert all(f.stat().st_size <= 1500 for f in files)
        lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
        assert lines == c1.records

    run(main)


def test_late_collector_found_and_stopped_collector_dropped() -> None:
    async def main() -> None:
        c1 = await Collector("c1", **DIRECT).start()
        nodes = [ZreNode(f"n{i}", log_publishing=True, connect=[c1.zre_endpoint], **DIRECT)
                 for i in range(5)]
        c2 = Collector("c2", **DIRECT)
        try:
            for n in nodes:
                await n.start()
            await collectors_known(nodes, c1.endpoint)
            await mesh(nodes)
            for n in nodes:
                await n.join("EARLY")
            await until(lambda: len(c1.records) == 5 + 20 + 20, what="c1 records")
            # a collector starts late: its HELLO reaches every node, which connects to it
            await c2.start()
            assert c2.node is not None
            for n in nodes:
                await c2.node.connect_peer(n.endpoint)
            await collectors_known(nodes, c1.endpoint, c2.endpoint)
            for n in nodes:
                await n.join("LATE")
            late = Counter((h(n.endpoint), h(m.endpoint), "JOIN", "LATE")
                           for n in nodes for m in nodes if m is not n)
            enter_c2 = Counter((h(n.endpoint), h(c2.zre_endpoint), "ENTER", "") for n in nodes)
            await until(lambda: len(c2.records) >= 25, what="c2 records")
            await marker_records(nodes, c1, c2)  # nothing more of the above may come
            assert c2.keys() == late + enter_c2  # from its discovery on, nothing earlier
            assert all(c1.keys()[k] == 1 for k in late)

            # c2's SUB dies but its node lives on: records for it are lost and counted,
            # while the nodes' ZRE traffic and c1 carry on
            await c2.log.close()
            await until(lambda: all(n.log_publisher is not None and not any(
                p["ready"] for p in n.log_publisher.socket.peers()
                if p["endpoint"] == c2.endpoint) for n in nodes),
                what="the PUBs see the connection to c2 close")
            for n in nodes:
                await n.leave("EARLY")
            before = len(c1.records)
            await until(lambda: len(c1.records) == before + 20, what="c1 LEAVE records")
            await until(lambda: all(n.log_publisher is not None
                                    and n.log_publisher.dropped_by_collector.get(c2.endpoint)
                                    for n in nodes), what="drops counted")
            assert len(c2.records) == 25
            drain(*nodes)
            await nodes[0].join("CHAT")
            for n in nodes[1:]:
                await expect(n, PeerJoined, lambda e: e.group == "CHAT")
                await n.shout("CHAT", b"still here")
            for _ in nodes[1:]:
                await expect(nodes[0], ShoutReceived)

            # c2's node stops: every node EXITs it and disconnects its PUB from c2
            await c2.node.stop()
            await collectors_known(nodes, c1.endpoint)
            await nodes[0].leave("CHAT")
            await until(lambda: sum(1 for r in c1.records if r["data"] == "CHAT"
                                    and r["event"] == "LEAVE") == 4, what="LEAVE CHAT")
            exits = [r for r in c1.records if r["event"] == "EXIT"]
            assert sorted(r["node"] for r in exits) == sorted(h(n.endpoint) for n in nodes)
            assert {r["peer"] for r in exits} == {h(c2.zre_endpoint)}
        finally:
            for n in nodes:
                await n.stop()
            await c1.stop()
            await c2.stop()

    run(main)


def test_publishing_off_by_default_and_switched_at_run_time() -> None:
    async def main() -> None:
        c = await Collector("c", **DIRECT).start()
        a = ZreNode("a", connect=[c.zre_endpoint], **DIRECT)
        b = ZreNode("b", connect=[c.zre_endpoint], **DIRECT)
        try:
            await a.start()
            await b.start()
            await a.connect_peer(b.endpoint)
            await until(lambda: len(a.core.ready_peers()) == 2 and len(b.core.ready_peers()) == 2,
                        what="a and b meet c and each other")
            await b.join("G")
            await expect(a, PeerJoined, lambda e: e.group == "G")
            # off by default: no publisher (checked after the HELLOs and the JOIN that would have
            # fed one), so no PUB connection at the collector, and no records
            assert a.log_publisher is None and b.log_publisher is None
            await no_more_records(c)
            assert c.records == []

            a.set_log_publishing(True)  # learns c from the peer table, connects
            pub = a.log_publisher
            assert isinstance(pub, LogPublisher) and pub.collectors == [c.endpoint]
            await until(lambda: len(c.log.socket.peers()) == 1, what="PUB connected")
            await b.leave("G")
            await until(lambda: len(c.records) == 1, what="LEAVE record")
            assert c.keys() == Counter([(h(a.endpoint), h(b.endpoint), "LEAVE", "G")])

            a.set_log_publishing(True, verbose=True)  # same publisher, now SEND/RECV too
            assert a.log_publisher is pub and pub.verbose
            await a.whisper(b.uuid, b"psst")
            await b.whisper(a.uuid, b"back")
            await until(lambda: {"SEND", "RECV"} <= {r["event"] for r in c.records},
                        what="SEND/RECV records")
            sends = [r for r in c.records if r["event"] == "SEND" and "WHISPER" in r["data"]]
            recvs = [r for r in c.records if r["event"] == "RECV" and "WHISPER" in r["data"]]
            assert sends and sends[0]["peer"] == h(b.uuid) and sends[0]["data"].startswith("seq=")
            assert recvs and recvs[0]["peer"] == h(b.uuid)

            a.set_log_publishing(False)  # PUB closed: the collector sees it go
            assert a.log_publisher is None and pub.socket.closed
            await until(lambda: c.log.socket.peers() == [], what="PUB disconnected")
            n = len(c.records)
            await b.join("H")
            await expect(a, PeerJoined, lambda e: e.group == "H")
            assert a.log_publisher is None
            await no_more_records(c)
            assert len(c.records) == n
        finally:
            await a.stop()
            await b.stop()
            await c.stop()

    run(main)


def test_slow_collector_loses_records_counted_node_never_waits() -> None:
    async def main() -> None:
        c = await Collector("c", **DIRECT).start()
        node = ZreNode("n", log_publishing=True, connect=[c.zre_endpoint], **DIRECT)
        other = ZreNode("o", **DIRECT)
        try:
            await node.start()
            await other.start()
            await collectors_known([node], c.endpoint)
            await until(lambda: len(c.records) == 1, what="ENTER c")
            pub = node.log_publisher
            assert pub is not None
            pub.hwm = pub.socket.sndhwm = 20
            # the collector stops reading: socket buffers fill, then the PUB queue, then drops
            c.log.socket.pause_reading()
            total = 20_000
            for i in range(total):
                pub.core.warning(f"record {i:05d} " + "x" * 60, 1.0)
                if pub.core.pending >= 500:
                    pub.flush()
                    await asyncio.sleep(0)
            pub.flush()
            dropped = pub.dropped_by_collector.get(c.endpoint, 0)
            assert 0 < dropped < total and pub.dropped == dropped
            # meanwhile the node's ZRE traffic is untouched (and its ENTER is one record more,
            # published or counted as dropped)
            await node.connect_peer(other.endpoint)
            await expect(other, PeerEntered, lambda e: e.peer_uuid == node.uuid)
            await expect(node, PeerEntered, lambda e: e.peer_uuid == other.uuid)
            pub.flush()
            dropped = pub.dropped_by_collector.get(c.endpoint, 0)
            assert pub.dropped == dropped
            # the collector reads again: it gets exactly what was not counted as dropped
            c.log.socket.resume_reading()
            await until(lambda: c.log.core.received == 1 + total + 1 - dropped, timeout=10,
                        what="the records that were not dropped")
        finally:
            await node.stop()
            await other.stop()
            await c.stop()

    run(main)


def test_udp_beacons_collector_discovered_on_loopback() -> None:
    async def main() -> None:
        kw: dict[str, Any] = {"interface": "lo", "port": free_udp_port(), "beacon_interval": 0.1}
        c = await Collector("c", **kw).start()
        nodes = [ZreNode(f"b{i}", log_publishing=True, **kw) for i in range(3)]
        try:
            for n in nodes:
                await n.start()
            await collectors_known(nodes, c.endpoint)
            await until(lambda: all(len(n.core.ready_peers()) == 3 for n in nodes), what="mesh")
            for n in nodes:
                await n.join("B")
            await until(lambda: sum(r["event"] == "JOIN" for r in c.records) == 6, what="JOINs")
            await nodes[0].stop()  # port-0 beacon: the others EXIT it at once
            await until(lambda: [r["peer"] for r in c.records if r["event"] == "EXIT"]
                        == [h(nodes[0].endpoint)] * 2, what="EXIT records")
        finally:
            for n in nodes:
                await n.stop()
            await c.stop()

    run(main)


def test_cli_log_collector_real_session(tmp_path: Path) -> None:
    port = free_udp_port()
    out = tmp_path / "zre.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zre_ref.cli", "log-collector", "--interface", "lo",
         "--port", str(port), "--beacon-interval", "0.1", "--out", str(out),
         "--max-bytes", "800", "--backups", "20", "--timeout", "25"],
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert banner.startswith("log-collector: SUB on tcp://127.0.0.1:"), banner
        sub = banner.split()[3].rstrip(";")

        def written() -> set[Key]:
            """The records the collector process has written to its files so far (it flushes
            each line; a line caught half-written is left for the next look)."""
            got: set[Key] = set()
            for f in tmp_path.glob("zre.log*"):
                with contextlib.suppress(FileNotFoundError):  # rotated away meanwhile
                    for line in f.read_text().splitlines():
                        with contextlib.suppress(ValueError):
                            r = json.loads(line)
                            got.add((r["node"], r["peer"], r["event"], r["data"]))
            return got

        async def session() -> list[ZreNode]:
            kw: dict[str, Any] = {"interface": "lo", "port": port, "beacon_interval": 0.1}
            nodes = [ZreNode(f"s{i}", log_publishing=True, **kw) for i in range(2)]
            for n in nodes:
                await n.start()
            n0, n1 = (h(n.endpoint) for n in nodes)
            try:
                await collectors_known(nodes, sub)
                await until(lambda: all(len(n.core.ready_peers()) == 2 for n in nodes),
                            what="mesh")
                await nodes[0].join("CLI")
                await expect(nodes[1], PeerJoined, lambda e: e.group == "CLI")
                await nodes[0].leave("CLI")
                await expect(nodes[1], PeerLeft, lambda e: e.group == "CLI")
                await until(lambda: {(n1, n0, "JOIN", "CLI"), (n1, n0, "LEAVE", "CLI")}
                            <= written(), what="JOIN and LEAVE records in the files")
            finally:
                await nodes[1].stop()
                await expect(nodes[0], PeerExited, lambda e: e.peer_uuid == nodes[1].uuid)
                await until(lambda: (n0, n1, "EXIT", "") in written(), what="EXIT in the files")
                await nodes[0].stop()
            return nodes

        nodes = run(session)
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    files = [*sorted(tmp_path.glob("zre.log.*"), key=lambda f: -int(f.suffix[1:])), out]
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    got = {(r["node"], r["peer"], r["event"], r["data"]) for r in records}
    n0, n1 = (h(n.endpoint) for n in nodes)
    assert {(n1, n0, "JOIN", "CLI"), (n1, n0, "LEAVE", "CLI"), (n0, n1, "EXIT", "")} <= got
    assert len(files) > 1 and "records received" in err
    assert all(r["level"] == "INFO" and r["event"] in {e.name for e in Event} for r in records)


def test_cli_sub_endpoint_defaults() -> None:
    import argparse

    from zre_ref.cli.zrelog import advertised, sub_endpoints

    ns = argparse.Namespace(bind=None, no_beacon=True, interface=None)
    assert sub_endpoints(ns) == ("tcp://127.0.0.1:*", None)
    ns = argparse.Namespace(bind=None, no_beacon=False, interface="lo")
    assert sub_endpoints(ns) == ("tcp://127.0.0.1:*", None)
    ns = argparse.Namespace(bind="tcp://127.0.0.1:5999", no_beacon=False, interface=None)
    assert sub_endpoints(ns) == ("tcp://127.0.0.1:5999", None)
    assert advertised("tcp://0.0.0.0:1234", "10.1.2.3") == "tcp://10.1.2.3:1234"
    assert advertised("tcp://127.0.0.1:1234", None) == "tcp://127.0.0.1:1234"
