"""`zre-ref doctor`: why don't my nodes see each other? Listen, greet each node once, report.

What it does, in order (and all it ever sends):

1. listens for beacons on the ZRE port(s) for a few seconds, on every interface (or one), noting
   for each datagram the interface it arrived on and its source address (IP_PKTINFO, Linux); with
   ``ipv6=True`` (``--ipv6``) also on IPv6, in czmq's group ff02::1 on every interface
   (spec/zre.md#node-discovery, D4), and to datagrams sent to the port directly;
2. for each node heard with a plain beacon, connects a DEALER to the endpoint the beacon implies
   (``tcp://<source>:<port>``, as zyre and pyre do) and sends **one HELLO**; the node answers by
   connecting back and sending its own HELLO (name, endpoint, groups, headers), which we record;
3. checks the endpoint that HELLO advertises: does it agree with the beacon's source address, and
   can we open a TCP connection to it (opened and closed at once, nothing written)?
4. sends **one port-0 beacon** ("leaving") to each node greeted, so that it forgets us at once;
5. reads the ZMTP greeting of each node's mailbox (:func:`read_greeting`: one TCP connection
   that sends the first 11 bytes of a greeting and closes after reading the node's): its version,
   the mechanism it wants (a CURVE node, such as zyre after ``zyre_set_zcert``, gets no HELLO but
   shows up here as CURVE, needing the server's public key, which its 54-byte beacon carries) and
   its as-server flag as sent (libzmq sends 0 in every role: spec/curve.md#greeting).

Then it names the software a node looks like, from the name it uses by default (pyre: 6
lower-case hex digits of its UUID; zyre.js: 12; zyre and zre-ref: 6 upper-case), and lists what is
known to go wrong with it (spec/deviations.md). Output: text for people, ``--json`` for scripts.
Memory is bounded: at most :data:`MAX_NODES` nodes and :data:`MAX_OTHER_SOURCES` sources of
non-beacon datagrams are kept per run; the rest is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .aio.beacon import (
    _IFF_BROADCAST,
    _IFF_LOOPBACK,
    _IFF_POINTOPOINT,
    _IFF_UP,
    IPV6_GROUP,
    MULTICAST_GROUP,
    _ipv6_address,
    interfaces,
    link_local_zone,
)
from .curve.z85 import z85_encode
from .errors import DecodeError
from .zmtp.greeting import GREETING_SIZE, Greeting, decode_greeting, greeting_stages
from .zre import messages as zm
from .zre.beacon import (
    BEACON_VERSION_CURVE,
    DISCOVERY_PORT,
    Beacon,
    decode_beacon,
    encode_beacon,
)

#: Nodes kept per run (a flood of forged UUIDs cannot grow the report without bound)
MAX_NODES = 256
#: Sources of non-beacon datagrams kept per run
MAX_OTHER_SOURCES = 64
#: Largest datagram read (a beacon is 22 or 54 bytes)
MAX_DATAGRAM = 2048
#: Seconds a node has to answer our HELLO with its own
HELLO_WAIT = 3.0
#: Our ROUTER keeps at most GREET_RCVHWM messages of at most GREET_MAX_MESSAGE bytes each: what
#: nodes can make the doctor hold is bounded by GREET_RCVHWM x GREET_MAX_MESSAGE = 16 MiB
GREET_RCVHWM = 64
GREET_MAX_MESSAGE = 256 * 1024
#: Seconds for the reachability check of an advertised endpoint
CONNECT_WAIT = 2.0
#: Seconds a node's mailbox has to send its ZMTP greeting once connected
GREETING_WAIT = 2.0
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)  # Linux value
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)  # Linux value
#: What the report says of a mailbox whose greeting names CURVE (spec/curve.md)
CURVE_NEEDS_KEY = "CURVE (needs the server's public key)"
#: The text report's as-server 0: libzmq (zyre, pyre, zyre.js) sends 0 in every role, a CURVE
#: server included, so 0 does not mean client (spec/curve.md#greeting, spec/deviations.md#zmtp)
AS_SERVER_0 = "as-server 0 (libzmq's in every role)"

#: What is known to go wrong with each implementation (spec/deviations.md)
KNOWN_ISSUES: dict[str, list[str]] = {
    "pyre": [
        "sequence numbers wrap modulo 65535: a zyre or zre-ref peer drops it after 65,535 messages "
        "in one direction (spec/deviations.md#pyre-sequence)",
        "a 54-byte (CURVE, version 3) beacon on its port stops its node thread "
        "(spec/deviations.md#pyre-beacon)",
        "ELECT/LEADER/GOODBYE are unknown to it: it drops a zyre peer that runs an election in a "
        "shared group (spec/deviations.md#pyre-extensions)",
        "a SHOUT/WHISPER without content frames, or a truncated field, stops its node thread "
        "(spec/deviations.md#behaviour)",
    ],
    "zyre.js": [
        "sequence numbers wrap modulo 65535: a zyre or zre-ref peer drops it after 65,535 messages "
        "in one direction (spec/deviations.md#zyre-js)",
        "its group status wraps modulo 255: after 255 JOIN/LEAVEs zyre (which asserts on a status "
        "mismatch) aborts (spec/deviations.md#behaviour)",
        "keeps only the first content frame of a SHOUT/WHISPER (spec/deviations.md#zyre-js)",
    ],
    "zyre or zre-ref": [
        "zyre asserts on a group status mismatch: a zyre.js peer after 255 JOIN/LEAVEs aborts it "
        "(spec/deviations.md#zyre)",
    ],
}


@dataclass
class Heard:
    """Everything learnt about one node (one UUID)."""

    uuid: str
    udp_port: int
    version: int
    size: int
    mailbox_port: int = 0
    beacons: int = 0
    leaving: bool = False
    sources: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    hello: dict[str, Any] | None = None
    hello_error: str = ""
    zre_version: int | None = None
    endpoint_agrees: bool | None = None
    reachable: bool | None = None
    reachable_error: str = ""
    looks_like: str = "unknown"
    issues: list[str] = field(default_factory=list)
    public_key: str = ""  # Z85, from a version 3 (CURVE) beacon
    zmtp: dict[str, Any] | None = None  # the mailbox's greeting (greeting_summary)
    zmtp_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "udp_port": self.udp_port, "mailbox_port": self.mailbox_port,
            "beacon_version": "curve" if self.version == BEACON_VERSION_CURVE else "plain",
            "beacon_size": self.size, "beacons": self.beacons, "leaving": self.leaving,
            "sources": self.sources, "interfaces": self.interfaces, "hello": self.hello,
            "hello_error": self.hello_error, "zre_version": self.zre_version,
            "endpoint_agrees": self.endpoint_agrees, "reachable": self.reachable,
            "reachable_error": self.reachable_error, "looks_like": self.looks_like,
            "issues": self.issues, "public_key": self.public_key, "zmtp": self.zmtp,
            "zmtp_error": self.zmtp_error,
        }


@dataclass
class Report:
    ports: list[int]
    interface: str | None
    duration: float
    nodes: dict[tuple[str, int], Heard] = field(default_factory=dict)
    #: source "addr:port" -> count of datagrams on a ZRE port that are not beacons
    other: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    notes: list[str] = field(default_factory=list)
    ipv6: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"ports": self.ports, "interface": self.interface, "duration": self.duration,
                "ipv6": self.ipv6,
                "nodes": [n.to_json() for n in self.nodes.values()],
                "other_datagrams": self.other, "dropped": self.dropped, "notes": self.notes}


def _ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"if{index}"


def listen_socket(port: int) -> socket.socket:
    """A non-blocking UDP socket on ``port`` beside any ZRE node (SO_REUSEADDR/SO_REUSEPORT: every
    such socket gets each broadcast and multicast beacon), in the loopback multicast group too,
    reporting each datagram's interface and destination (IP_PKTINFO)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind(("", port))
        for _name, _flags, addr, _bcast in interfaces():  # pyre's lo fallback uses multicast
            if addr:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                 socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(addr))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def listen_socket6(port: int) -> socket.socket:
    """:func:`listen_socket` for IPv6: bound to ``[::]:port`` (IPv6 only, the IPv4 socket hears
    IPv4), in czmq's group ff02::1 on every interface that has it, reporting each datagram's
    interface and destination (IPV6_PKTINFO). Linux loopback has no IPv6 multicast: there only
    datagrams sent to the port directly arrive (spec/zre.md#node-discovery, D4)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        s.bind(("::", port))
        group = socket.inet_pton(socket.AF_INET6, IPV6_GROUP)
        for index, _name in socket.if_nameindex():
            with contextlib.suppress(OSError):  # no IPv6 multicast there (lo)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                             group + struct.pack("I", index))
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def _source_host(addr: tuple[Any, ...]) -> str:
    """The source address as text; a link-local IPv6 one with its zone (the interface of the
    address's scope id), which is needed to reach it, any other without (spec/zre.md#node-discovery, D7)."""
    host = _unzoned(str(addr[0]))
    if host.lower().startswith("fe80") and len(addr) >= 4 and addr[3]:
        host = f"{host}%{_ifname(int(addr[3]))}"
    return host


def receive_batch(s: socket.socket, limit: int = 64) -> list[tuple[bytes, tuple[str, int], str, str]]:
    """Up to ``limit`` waiting datagrams of a :func:`listen_socket` or :func:`listen_socket6`:
    (data, source, interface name, destination address); the last two are "" where
    IP_PKTINFO/IPV6_PKTINFO is not available."""
    out = []
    for _ in range(limit):
        try:
            data, anc, _flags, addr = s.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(20))
        except OSError:  # BlockingIOError: nothing more waits
            break
        ifname = destination = ""
        for level, kind, cdata in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(cdata) >= 12:
                ifname = _ifname(struct.unpack("I", cdata[:4])[0])  # struct in_pktinfo
                destination = socket.inet_ntoa(cdata[8:12])
            elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(cdata) >= 20:
                destination = socket.inet_ntop(socket.AF_INET6, cdata[:16])  # struct in6_pktinfo
                ifname = _ifname(struct.unpack("I", cdata[16:20])[0])
        out.append((bytes(data), (_source_host(addr), int(addr[1])), ifname, destination))
    return out


class _Listener:
    """Reads every datagram on the ports into ``report`` (bounded)."""

    def __init__(self, report: Report, own_uuid: bytes) -> None:
        self.report = report
        self.own_uuid = own_uuid
        self.socks: list[socket.socket] = []

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        opens = (listen_socket, listen_socket6) if self.report.ipv6 else (listen_socket,)
        for port in self.report.ports:
            for open_socket in opens:
                s = open_socket(port)
                self.socks.append(s)
                loop.add_reader(s.fileno(), self._readable, s, port)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        for s in self.socks:
            loop.remove_reader(s.fileno())
            s.close()
        self.socks = []

    def _readable(self, s: socket.socket, port: int) -> None:
        for data, source, ifname, _destination in receive_batch(s):
            self.on_datagram(data, source, port, ifname)

    def on_datagram(self, data: bytes, source: tuple[str, int], port: int, ifname: str) -> None:
        r = self.report
        if r.interface and ifname and ifname != r.interface:
            return
        try:
            beacon: Beacon = decode_beacon(data)
        except DecodeError:
            key = f"{source[0]}:{source[1]}"
            if key in r.other or len(r.other) < MAX_OTHER_SOURCES:
                r.other[key] = r.other.get(key, 0) + 1
            else:
                r.dropped += 1
            return
        if beacon.uuid == self.own_uuid:
            return
        uid = zm_uuid(beacon.uuid)
        node = r.nodes.get((uid, port))
        if node is None:
            if len(r.nodes) >= MAX_NODES:
                r.dropped += 1
                return
            node = r.nodes[(uid, port)] = Heard(uid, port, beacon.version, len(data))
            if beacon.public_key is not None:
                node.public_key = z85_encode(beacon.public_key).decode("ascii")
        node.beacons += 1
        if beacon.leaving:
            node.leaving = True
        else:
            node.mailbox_port = beacon.port
        if source[0] not in node.sources and len(node.sources) < 8:
            node.sources.append(source[0])
        if ifname and ifname not in node.interfaces and len(node.interfaces) < 8:
            node.interfaces.append(ifname)


def zm_uuid(uuid: bytes) -> str:
    return uuid.hex().upper()


#: what ``looks_like`` says of a default name that fits both pyre's and zyre's
AMBIGUOUS = "pyre, zyre or zre-ref"


def looks_like(uuid: str, name: str) -> str:
    """The implementation whose default name this is, or "unknown" (a name the user chose).
    Six digits and no letter (one UUID in 17) is pyre's default name and zyre's alike: the
    answer then names both (``AMBIGUOUS``)."""
    if name == uuid[:6] and name.isdigit():
        return AMBIGUOUS
    if name == uuid[:6].lower():
        return "pyre"  # str(uuid.uuid4())[:6] (pyre_node.py)
    if name == uuid[:12].lower():
        return "zyre.js"  # identity.toString('hex', 0, 6) (lib/zyre.js)
    if name == uuid[:6]:
        return "zyre or zre-ref"  # zuuid_str's first 6 characters / NodeCore's default
    return "unknown"


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """``tcp://host:port`` -> (host without brackets, zone kept, port text)."""
    rest = endpoint.partition("://")[2]
    host, _, port_text = rest.rpartition(":")
    return host.strip("[]"), port_text


def _unzoned(host: str) -> str:
    return host.split("%", 1)[0]


def _host_of(endpoint: str) -> str:
    return _unzoned(_split_endpoint(endpoint)[0])


def _tcp(host: str, port: int) -> str:
    """``tcp://host:port``, an IPv6 host in brackets (spec/zre.md#node-discovery, D7)."""
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def _local_address_towards(host: str) -> str:
    """The local address the kernel would use to reach ``host`` (no packet is sent), without
    an IPv6 zone (spec/zre.md#node-discovery, D8)."""
    ipv6 = ":" in host
    with socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
            return _unzoned(str(s.getsockname()[0]))
        except OSError:
            return "::1" if ipv6 else "127.0.0.1"


def _our_address_for(node: Heard) -> str:
    """The address our HELLO gives ``node`` to connect back to: the one the kernel would send
    from, but for a node heard from a link-local address the interface's global (or ULA) one if
    it has one, since a HELLO endpoint carries no zone (spec/zre.md#node-discovery, D8)."""
    source = node.sources[0]
    if source.lower().startswith("fe80") and node.interfaces:
        return _unzoned(_ipv6_address(node.interfaces[0]))
    return _local_address_towards(source)


async def _can_connect(endpoint: str) -> tuple[bool, str]:
    host, port_text = _split_endpoint(endpoint)
    if not host or not port_text.isdigit():
        return False, f"not a tcp endpoint: {endpoint!r}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port_text)),
                                           CONNECT_WAIT)
    except (OSError, asyncio.TimeoutError) as exc:
        return False, str(exc) or type(exc).__name__
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    return True, ""


async def read_greeting(host: str, port: int, wait: float = GREETING_WAIT) -> Greeting:
    """The ZMTP greeting of the mailbox at ``host:port``. Sends our signature and major version
    only: libzmq sends the rest of its greeting once it has those (spec/zmtp.md#staging), but
    closes without sending it if our whole greeting names another mechanism than its own. A peer
    that is still silent after half of ``wait`` s gets the rest of ours (ZMTP 3.1, NULL, client).
    Reads the peer's 64 bytes and closes. Raises OSError or TimeoutError if it cannot connect or
    says nothing, DecodeError if what it says is no ZMTP 3 greeting."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_WAIT)
    signature, major, rest = greeting_stages()
    try:
        writer.write(signature + major)
        try:
            data = await _read_greeting_bytes(reader, wait / 2)
        except asyncio.TimeoutError:  # it waits for our whole greeting first
            writer.write(rest)
            data = await _read_greeting_bytes(reader, wait / 2)
        return decode_greeting(data)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _read_greeting_bytes(reader: asyncio.StreamReader, wait: float) -> bytes:
    """64 bytes, or fewer if the peer closes first (then decoding says where it stopped); a
    timeout leaves what came in the reader's buffer."""
    try:
        return await asyncio.wait_for(reader.readexactly(GREETING_SIZE), wait)
    except asyncio.IncompleteReadError as exc:
        return exc.partial


def greeting_summary(greeting: Greeting) -> dict[str, Any]:
    """What the report says of a greeting: version, mechanism (CURVE: :data:`CURVE_NEEDS_KEY`),
    as-server flag as sent (libzmq sends 0 in every role: spec/curve.md#greeting)."""
    mechanism = CURVE_NEEDS_KEY if greeting.mechanism == "CURVE" else greeting.mechanism
    return {"version": f"{greeting.major}.{greeting.minor}", "mechanism": mechanism,
            "as_server": greeting.as_server}


async def _probe_mailbox(node: Heard) -> None:
    """Record the greeting of the node's mailbox (``node.zmtp``) or why there is none."""
    try:
        greeting = await read_greeting(node.sources[0], node.mailbox_port)
    except DecodeError as exc:
        node.zmtp_error = f"not a ZMTP 3 greeting: {exc}"
    except (OSError, asyncio.TimeoutError) as exc:
        node.zmtp_error = f"no greeting from its mailbox: {exc or type(exc).__name__}"
        if isinstance(exc, ConnectionRefusedError):
            node.issues.append(
                f"nothing listens on its mailbox port {node.mailbox_port} at {node.sources[0]}, "
                "where its beacons come from: peers that find it by beacon cannot connect (its "
                "mailbox is bound to another address, or it has gone)")
    else:
        node.zmtp = greeting_summary(greeting)


async def _greet(nodes: list[Heard], own_uuid: bytes, hello_wait: float) -> None:
    """One HELLO to each node; record the HELLO each sends back (spec/zre.md#hello)."""
    from .aio.zmtp import Socket

    router = Socket("ROUTER", rcvhwm=GREET_RCVHWM, max_message_size=GREET_MAX_MESSAGE)
    dealers = []
    try:
        ports = {False: int((await router.bind("tcp://0.0.0.0:*")).rsplit(":", 1)[1])}
        if any(":" in n.sources[0] for n in nodes):  # IPv6 nodes connect back over IPv6
            ports[True] = int((await router.bind("tcp://[::]:*")).rsplit(":", 1)[1])
        waiting: dict[bytes, Heard] = {}
        for node in nodes:
            source = node.sources[0]
            me = _tcp(_our_address_for(node), ports[":" in source])
            dealer = Socket("DEALER", identity=zm.encode_identity(own_uuid), sndhwm=10)
            dealers.append(dealer)
            await dealer.connect(_tcp(source, node.mailbox_port))
            hello = zm.Hello(sequence=1, endpoint=me, groups=(), status=0, name="zre-ref-doctor",
                             headers={})
            await dealer.send_multipart(zm.encode(hello))
            waiting[zm.encode_identity(bytes.fromhex(node.uuid))] = node
        loop = asyncio.get_running_loop()
        deadline = loop.time() + hello_wait
        while waiting and loop.time() < deadline:
            try:
                frames = await asyncio.wait_for(router.recv_multipart(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
            answered = waiting.pop(bytes(frames[0]), None)
            if answered is None:
                continue  # a PING or a second message: only the first one counts
            _record_hello(answered, [bytes(f) for f in frames[1:]])
        for node in waiting.values():
            node.hello_error = (f"no HELLO within {hello_wait:.0f} s after ours (it could not "
                                f"connect back to us, or did not take our HELLO)")
    finally:
        for d in dealers:
            d.close(linger=False)
        router.close(linger=False)


def _record_hello(node: Heard, frames: list[bytes]) -> None:
    first = frames[0] if frames else b""
    if first[:3] == b"\xaa\xa1\x01" and len(first) > 3 and first[3] != zm.ZRE_VERSION:
        node.zre_version = 1
        node.hello_error = "its HELLO has no version byte 2: it speaks ZRE v1 (RFC 20)"
        node.issues.append("speaks ZRE v1 (RFC 20, zyre before 2014-04): ZRE v2 nodes refuse its "
                           "messages and it refuses theirs")
        return
    try:
        msg = zm.decode(frames, strict=False)
    except DecodeError as exc:
        node.hello_error = f"undecodable first message: {exc}"
        return
    if not isinstance(msg, zm.Hello):
        node.hello_error = f"first message is {zm.ZRE.spec_of(msg).name}, not HELLO"
        return
    node.zre_version = zm.ZRE_VERSION
    node.hello = {"name": msg.name, "endpoint": msg.endpoint, "groups": list(msg.groups),
                  "headers": dict(msg.headers), "status": msg.status, "sequence": msg.sequence}


async def _check_endpoints(nodes: list[Heard]) -> None:
    for node in nodes:
        if node.hello is None:
            continue
        endpoint = node.hello["endpoint"]
        node.endpoint_agrees = _host_of(endpoint) in map(_unzoned, node.sources) and (
            endpoint.endswith(f":{node.mailbox_port}"))
        zoned = link_local_zone(endpoint, node.interfaces[0] if node.interfaces else "")
        node.reachable, node.reachable_error = await _can_connect(zoned)
        if not node.endpoint_agrees:
            node.issues.append(
                f"its HELLO advertises {endpoint} but its beacons come from "
                f"{', '.join(node.sources)} port {node.mailbox_port}: peers that learn it from the "
                "beacon connect to the beacon's address, peers that learn it from HELLO (direct "
                "connections, gossip) connect to the advertised one")
        if not node.reachable:
            node.issues.append(f"its advertised endpoint {endpoint} is not reachable from here "
                               f"({node.reachable_error})")


def conclude(report: Report) -> None:
    """The doctor's conclusions from what it heard: who looks like what, and the issues and
    notes the report shows (each node's ``looks_like``, ``issues``; ``report.notes``)."""
    nodes = list(report.nodes.values())
    curve = [n for n in nodes if n.version == BEACON_VERSION_CURVE]
    for node in nodes:
        if node.hello is not None:
            node.looks_like = looks_like(node.uuid, node.hello["name"])
            node.issues.extend(KNOWN_ISSUES.get(node.looks_like, []))
        if len(node.interfaces) > 1:
            node.issues.append(f"heard on several interfaces ({', '.join(node.interfaces)}): "
                               "peers may connect to it over any of them")
        if len(node.sources) > 1:
            node.issues.append(f"beacons from several addresses ({', '.join(node.sources)})")
        if node.version == BEACON_VERSION_CURVE:
            node.issues.append("sends 54-byte CURVE (version 3) beacons: plain nodes cannot talk to "
                               "it, and pyre nodes on this port crash on its beacon "
                               "(spec/deviations.md#pyre-beacon)")
        if node.leaving and node.hello is None:
            node.issues.append("sent a port-0 (leaving) beacon")
        node.issues.extend(_greeting_issues(node))
    if curve and any(n.looks_like == "pyre" and n.udp_port == c.udp_port for n in nodes for c in curve):
        report.notes.append("CURVE beacons and pyre nodes share a port: those pyre nodes will stop")
    ports = {n.udp_port for n in nodes}
    if len(ports) > 1:
        report.notes.append(f"nodes beacon on different ports ({', '.join(map(str, sorted(ports)))}):"
                            " they form separate clusters that never see each other")
    if not nodes:
        report.notes.append("no beacon heard: nodes on another subnet, a VPN or a firewall that "
                            "drops UDP broadcast, or a different beacon port (--port)"
                            + ("" if report.ipv6 else "; IPv6 beacons are heard with --ipv6"))


def _greeting_issues(node: Heard) -> list[str]:
    """What the mailbox's greeting says against the beacon (spec/zre.md#curve-mode-zyre)."""
    if node.zmtp is None:
        return []
    curve_mailbox = node.zmtp["mechanism"] == CURVE_NEEDS_KEY
    curve_beacon = node.version == BEACON_VERSION_CURVE
    if curve_mailbox and not curve_beacon:
        return ["its beacon is plain (22 bytes) but its mailbox wants CURVE: peers that find it "
                "have no server key, and their NULL handshake fails"]
    if curve_beacon and not curve_mailbox:
        return [f"its beacon is CURVE (54 bytes) but its mailbox greets with "
                f"{node.zmtp['mechanism']}: CURVE peers' handshake fails"]
    return []


def interface_notes(found: Iterable[tuple[str, int, str | None, str | None]],
                    only: str | None = None) -> list[str]:
    """Interfaces broadcast beacons cannot cross (a VPN's tun is point-to-point)."""
    notes = []
    for name, flags, addr, _bcast in found:
        if (only and name != only) or not flags & _IFF_UP or addr is None or flags & _IFF_LOOPBACK:
            continue
        if flags & _IFF_POINTOPOINT or not flags & _IFF_BROADCAST:
            notes.append(f"{name} ({addr}) is point-to-point or has no broadcast (a VPN?): "
                         "ZRE beacons do not cross it; connect nodes over it directly or by gossip")
    return notes


def _send_leaving(nodes: Iterable[Heard], own_uuid: bytes) -> None:
    """One port-0 beacon to each node greeted, so that it drops us at once (spec/zre.md#beacon)."""
    data = encode_beacon(Beacon(uuid=own_uuid, port=0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s4, \
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
        for node in nodes:
            source = node.sources[0]
            with contextlib.suppress(OSError):
                (s6 if ":" in source else s4).sendto(data, (source, node.udp_port))


async def diagnose(ports: list[int] | None = None, *, interface: str | None = None,
                   duration: float = 3.0, hello_wait: float = HELLO_WAIT,
                   ipv6: bool = False) -> Report:
    """Listen ``duration`` seconds (on IPv6 too if ``ipv6``), greet each node once, read each
    mailbox's greeting, and say what is wrong."""
    report = Report(ports or [DISCOVERY_PORT], interface, duration, ipv6=ipv6)
    own_uuid = secrets.token_bytes(16)
    loop = asyncio.get_running_loop()
    listener = _Listener(report, own_uuid)
    listener.open(loop)
    try:
        await asyncio.sleep(duration)  # the listening window itself, not a synchronisation
    finally:
        listener.close(loop)
    greet = [n for n in report.nodes.values() if n.version != BEACON_VERSION_CURVE
             and n.mailbox_port and n.sources]
    for node in report.nodes.values():
        if node.version == BEACON_VERSION_CURVE:
            node.hello_error = ("not greeted: its beacon says its mailbox wants CURVE; the doctor "
                                "speaks NULL only")
    if greet:
        await _greet(greet, own_uuid, hello_wait)
        await _check_endpoints(greet)
        _send_leaving(greet, own_uuid)
    probe = [n for n in report.nodes.values() if n.mailbox_port and n.sources]
    await asyncio.gather(*(_probe_mailbox(n) for n in probe))
    conclude(report)
    report.notes += interface_notes(interfaces(), interface)
    return report


def render_text(report: Report) -> str:
    """The report for people."""
    where = f"interface {report.interface}" if report.interface else "every interface"
    family = "IPv4 and IPv6" if report.ipv6 else "IPv4"
    lines = [f"listened {report.duration:g} s on UDP port(s) "
             f"{', '.join(map(str, report.ports))} ({family}), {where}: "
             f"{len(report.nodes)} node(s)"]
    for n in report.nodes.values():
        kind = "CURVE (54 bytes, v3)" if n.version == BEACON_VERSION_CURVE else "plain (22 bytes)"
        lines.append("")
        lines.append(f"node {n.uuid}  port {n.udp_port}  beacon {kind} x{n.beacons}")
        lines.append(f"  heard on {', '.join(n.interfaces) or '?'} from {', '.join(n.sources)}, "
                     f"mailbox port {n.mailbox_port}")
        if n.hello is not None:
            h = n.hello
            lines.append(f"  HELLO  name {h['name']!r}  endpoint {h['endpoint']}")
            lines.append(f"         groups {h['groups']}  headers {h['headers']}  status {h['status']}")
            verdict = "agrees with the beacon" if n.endpoint_agrees else "DISAGREES with the beacon"
            reach = "reachable" if n.reachable else f"NOT reachable ({n.reachable_error})"
            lines.append(f"  endpoint {verdict}, {reach} from here; looks like {n.looks_like}")
        else:
            lines.append(f"  HELLO  none: {n.hello_error}")
        if n.zmtp is not None:
            server = "as-server 1" if n.zmtp["as_server"] else AS_SERVER_0
            lines.append(f"  ZMTP   {n.zmtp['version']} {n.zmtp['mechanism']}, {server}")
        elif n.zmtp_error:
            lines.append(f"  ZMTP   {n.zmtp_error}")
        if n.public_key:
            lines.append(f"  public key (from its beacon) {n.public_key}")
        for issue in n.issues:
            lines.append(f"  ! {issue}")
    if report.other:
        lines.append("")
        lines.append("datagrams on the port that are not ZRE beacons: " + ", ".join(
            f"{k} x{v}" for k, v in sorted(report.other.items())))
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)

