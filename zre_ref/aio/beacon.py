"""UDP beacons for ZRE discovery: IPv4 broadcast + multicast, or IPv6 multicast (spec/zre.md#beacon).

One UDP socket per event loop and port, bound to the discovery port with SO_REUSEADDR/SO_REUSEPORT
so that many nodes on a host share the port (as czmq's zbeacon does); the nodes on one loop share
the socket (:class:`BeaconSocket`, registered in :class:`~zre_ref.aio.loopshared.LoopShared`),
each datagram being read once and given to all of them. Where a beacon goes
(spec/zre.md#node-discovery, rules D2-D5):

* an interface with a broadcast address: its subnet broadcast (zyre's default);
* loopback (``interface="lo"``/``"127.0.0.1"``, or no usable interface at all): both
  127.255.255.255 (what zyre.js sends and hears) and 225.25.25.25 (pyre's and zyre's loopback
  multicast), and we listen to both;
* ``interface="*"``: 255.255.255.255;
* IPv6 (``ipv6=True``): ff02::1 on the interface (czmq's default group), sent from a second
  socket bound to the address the ROUTER is bound to, so that the source address peers connect
  to (rule D7) is one we listen on (rule D11; czmq's zbeacon does the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import sys
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace

from ..zre.admission import NoOpBeacons
from .loopshared import LoopShared

log = logging.getLogger(__name__)

#: IPv4 multicast group pyre and zyre use on loopback-only hosts (spec/zre.md#node-discovery, D3)
MULTICAST_GROUP = "225.25.25.25"
#: czmq's default IPv6 beacon group: link-local all-nodes (spec/zre.md#node-discovery, D4)
IPV6_GROUP = "ff02::1"
LOOPBACK_BROADCAST = "127.255.255.255"
#: zbeacon's largest datagram (czmq UDP_FRAME_MAX)
MAX_DATAGRAM = 255
#: a datagram equal to the one just before it, from the same address, within this many seconds,
#: is the same beacon again (on loopback we send each to a broadcast and a multicast address);
#: dropping it changes nothing, since a beacon from a known peer is a no-op (spec/zre.md#node-discovery, D9)
DUPLICATE_WINDOW = 0.05
#: datagrams read per readiness callback: asyncio's datagram transport reads one per loop turn,
#: so a busy loop under a beacon flood would leave the kernel buffer to overflow (and drop the
#: beacons of real peers with the forged ones)
READ_BATCH = 64

# Linux ioctl numbers (linux/sockios.h), used to read an interface's address without extra packages
_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_SIOCGIFBRDADDR = 0x8919
_IFF_UP = 0x1
_IFF_BROADCAST = 0x2
_IFF_LOOPBACK = 0x8
_IFF_POINTOPOINT = 0x10
_IFF_SLAVE = 0x800


@dataclass(frozen=True)
class BeaconPlan:
    """Where to bind the TCP inbox, where beacons go, and which groups to listen to."""

    host: str
    """numeric address we advertise and bind the ROUTER to"""
    destinations: tuple[str, ...]
    multicast_groups: tuple[str, ...] = ()
    ipv6: bool = False
    ifindex: int = 0
    interface: str = ""
    loopback: bool = False
    notes: list[str] = field(default_factory=list, compare=False)


def _ifreq(name: str) -> bytes:
    return name.encode()[:15].ljust(40, b"\0")


def _ioctl_addr(sock: socket.socket, request: int, name: str) -> str | None:
    try:
        res = fcntl.ioctl(sock.fileno(), request, _ifreq(name))
    except OSError:
        return None
    return socket.inet_ntoa(res[20:24])


def _flags(sock: socket.socket, name: str) -> int:
    try:
        res = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, _ifreq(name))
    except OSError:
        return 0
    return int.from_bytes(res[16:18], sys.byteorder)


def interfaces() -> list[tuple[str, int, str | None, str | None]]:
    """(name, flags, IPv4 address, IPv4 broadcast) for every interface (Linux; [] elsewhere)."""
    out: list[tuple[str, int, str | None, str | None]] = []
    if not sys.platform.startswith("linux"):
        return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            out.append((name, _flags(s, name), _ioctl_addr(s, _SIOCGIFADDR, name),
                        _ioctl_addr(s, _SIOCGIFBRDADDR, name)))
    return out


def primary_address() -> str:
    """The first non-loopback IPv4 address that is up (for interface "*"), else 127.0.0.1."""
    for _name, flags, addr, _bcast in interfaces():
        if flags & _IFF_UP and addr and not flags & _IFF_LOOPBACK:
            return addr
    return "127.0.0.1"


def _loopback_plan(notes: list[str]) -> BeaconPlan:
    return BeaconPlan("127.0.0.1", (LOOPBACK_BROADCAST, MULTICAST_GROUP), (MULTICAST_GROUP,),
                      interface="lo", loopback=True, notes=notes)


def plan(interface: str | None = None, *, ipv6: bool = False) -> BeaconPlan:
    """Choose addresses the way czmq does, with the loopback fallback (spec/zre.md#node-discovery)."""
    notes: list[str] = []
    if ipv6:
        name = interface or "lo"
        idx = socket.if_nametoindex(name)
        host = "::1" if name == "lo" else _ipv6_address(name)
        if name == "lo":
            notes.append("Linux loopback carries no IPv6 multicast: use an interface with one")
        return BeaconPlan(host, (IPV6_GROUP,), (IPV6_GROUP,), ipv6=True, ifindex=idx,
                          interface=name, loopback=name == "lo", notes=notes)
    if interface == "*":
        return BeaconPlan("0.0.0.0", ("255.255.255.255",), interface="*")
    if interface in ("lo", "127.0.0.1", "loopback"):
        return _loopback_plan(notes)
    candidates = interfaces()
    if interface:
        if interface.isdigit() and len(interface) == 1:
            candidates = candidates[int(interface):int(interface) + 1]
        else:
            candidates = [c for c in candidates if interface in (c[0], c[2])]
        if not candidates:
            raise ValueError(f"no interface {interface!r}")
        name, flags, addr, bcast = candidates[0]
        if flags & _IFF_LOOPBACK or addr is None or addr.startswith("127."):
            return _loopback_plan(notes)
        return BeaconPlan(addr, (bcast or "255.255.255.255",), interface=name, notes=notes)
    for name, flags, addr, bcast in candidates:
        if (flags & _IFF_UP and flags & _IFF_BROADCAST and addr and bcast
                and not flags & (_IFF_LOOPBACK | _IFF_POINTOPOINT | _IFF_SLAVE)):
            return BeaconPlan(addr, (bcast,), interface=name, notes=notes)
    notes.append("no broadcast interface: using loopback broadcast + multicast")
    return _loopback_plan(notes)


#: Linux address flags (include/uapi/linux/if_addr.h), the 5th column of /proc/net/if_inet6
_IFA_F_OPTIMISTIC = 0x04
_IFA_F_DADFAILED = 0x08
_IFA_F_DEPRECATED = 0x20
_IFA_F_TENTATIVE = 0x40
#: the 4th column: 00 global (a ULA too), 20 link, 10 host; the rank of each, best first
_SCOPE_RANK = {0x00: 0, 0x20: 1, 0x10: 2}
#: why an address that is not fully usable was still chosen, by its state's rank
_CAVEATS = {1: "deprecated (its preferred lifetime is over: it goes away at the end of its valid one)",
            2: "tentative (duplicate address detection is running: binding it fails until that ends, ~1 s)",
            3: "DAD-failed (another host holds it: binding it fails)"}


def _state_rank(flags: int) -> int:
    """0 usable, 1 deprecated, 2 tentative, 3 DAD-failed (an optimistic address is usable at once)."""
    if flags & _IFA_F_DADFAILED:
        return 3
    if flags & _IFA_F_TENTATIVE and not flags & _IFA_F_OPTIMISTIC:
        return 2
    return 1 if flags & _IFA_F_DEPRECATED else 0


def choose_ipv6_address(if_inet6: str, name: str) -> tuple[str, str]:
    """The address of interface ``name`` to bind, from the text of /proc/net/if_inet6, and a
    caveat ("" when the address is usable) (spec/zre.md#ipv6-address, D11).

    Usable before deprecated before tentative before DAD-failed; within that, global (or ULA)
    before link-local before host scope; then the first listed. A link-local address comes with
    its zone (``fe80::1%eth0``) so it can be bound; none at all gives ``"::"``. Lines that are
    not six fields of the right form are skipped."""
    best: tuple[tuple[int, int], str] | None = None
    for line in if_inet6.splitlines():
        parts = line.split()
        if len(parts) != 6 or parts[5] != name or len(parts[0]) != 32:
            continue
        try:
            raw, scope, flags = bytes.fromhex(parts[0]), int(parts[3], 16), int(parts[4], 16)
        except ValueError:
            continue
        if scope not in _SCOPE_RANK:
            continue
        rank = (_state_rank(flags), _SCOPE_RANK[scope])
        if best is None or rank < best[0]:
            addr = socket.inet_ntop(socket.AF_INET6, raw)
            best = (rank, f"{addr}%{name}" if scope == 0x20 else addr)
    if best is None:
        return "::", ""
    return best[1], _CAVEATS.get(best[0][0], "")


def _ipv6_address(name: str) -> str:
    """The interface's IPv6 address (:func:`choose_ipv6_address` over /proc/net/if_inet6)."""
    try:
        with open("/proc/net/if_inet6") as f:
            text = f.read()
    except OSError as exc:
        log.debug("cannot read /proc/net/if_inet6: %s", exc)
        text = ""
    host, caveat = choose_ipv6_address(text, name)
    if caveat:
        log.warning("%s has no fully usable IPv6 address: using %s, which is %s", name, host, caveat)
    return host


def sent_from(the_plan: BeaconPlan, router_endpoint: str) -> BeaconPlan:
    """The plan whose IPv6 beacons leave from the one address the ROUTER is bound to
    (``tcp://[fe80::2%eth0]:5000`` -> fe80::2), so that peers connecting to their source reach
    it; a wildcard bind (``[::]``) or IPv4 keeps the plan (spec/zre.md#node-discovery, D11)."""
    _, sep, rest = router_endpoint.partition("://[")
    if not the_plan.ipv6 or not sep:
        return the_plan
    host = rest.split("]", 1)[0].split("%", 1)[0]
    try:
        if socket.inet_pton(socket.AF_INET6, host) == bytes(16):
            return the_plan  # [::]: listens on every address, the interface's one included
    except OSError:
        return the_plan
    if host.lower().startswith("fe80"):
        host = f"{host}%{the_plan.interface}"
    return replace(the_plan, host=host)


def link_local_zone(endpoint: str, interface: str) -> str:
    """``tcp://[fe80::1]:port`` -> ``tcp://[fe80::1%interface]:port``: a link-local peer address
    without a zone cannot be reached (zyre adds its interface the same way; spec/zre.md#node-discovery, D7).
    zyre's HELLO names it without brackets and without its zone (``tcp://fe80::1:port``, D8):
    that form gets the zone too, in brackets."""
    head, sep, rest = endpoint.partition("://")
    host, colon, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (not sep or not colon or not interface or "%" in host or ":" not in host
            or not host.lower().startswith("fe80")):
        return endpoint
    return f"{head}://[{host}%{interface}]:{port}"


class BeaconSocket(asyncio.DatagramProtocol):
    """One UDP socket per (event loop, port, plan), shared by every :class:`UdpBeacon` on the
    loop that uses it (registered in :class:`~zre_ref.aio.loopshared.LoopShared`): each datagram
    is read once and handed to all of them. Many nodes in one process then cost one socket and
    one read per beacon heard, not one per node."""

    def __init__(self, shared: LoopShared, key: tuple[int, BeaconPlan],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.shared = shared
        self.key = key
        self.loop = loop
        self.members: tuple[UdpBeacon, ...] = ()  # replaced, never changed in place
        #: (no-op datagrams, callback) of each member, in step with ``members``: the hand-out
        #: loop touches these two per member and nothing else
        self.targets: tuple[tuple[Container[bytes], Callable[[bytes, str], None]], ...] = ()
        self.handed_out = 0  # datagrams handed out so far (every member heard each of them)
        #: datagrams that every member's ``no_op`` holds: skipped with one lookup, no member
        #: touched (in a formed mesh, every beacon heard). Emptied whenever a member's no_op
        #: is emptied (NoOpBeacons.on_clear) or members change; kept only while every member's
        #: no_op is a NoOpBeacons or an empty frozenset (no other can shrink unseen).
        self.quiet: set[bytes] = set()
        self._quiet_ok = True
        self.transport: asyncio.DatagramTransport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.sock: socket.socket | None = None  # ours: read directly to drain a backlog
        #: IPv6: the socket beacons leave through, bound to the plan's host (spec/zre.md#node-discovery,
        #: D11); None: they leave through ``transport``
        self.sender: socket.socket | None = None
        self.last = b""  # the last datagram handed out, from where, and when
        self.last_addr: tuple[str | object, ...] = ()
        self.last_at = 0.0

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._hand_out(data, addr)
        sock = self.sock
        for _ in range(READ_BATCH - 1):  # whatever else already waits, in this same turn
            if sock is None or not self.members:
                return
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM + 1)
            except OSError:  # BlockingIOError: nothing more waits
                return
            self._hand_out(data, addr)

    def sender_readable(self) -> None:
        """Datagrams sent to the sender's own address and port (a unicast beacon, such as the
        doctor's port-0 one): that socket is the one the kernel gives them to, so we read it
        too, up to READ_BATCH per turn."""
        for _ in range(READ_BATCH):
            if self.sender is None or not self.members:
                return
            try:
                data, addr = self.sender.recvfrom(MAX_DATAGRAM + 1)
            except OSError:  # BlockingIOError: nothing more waits
                return
            self._hand_out(data, addr)

    def _hand_out(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) > MAX_DATAGRAM or not data.startswith(b"ZRE"):
            return
        now = self.loop.time()
        if data == self.last and addr == self.last_addr and now - self.last_at < DUPLICATE_WINDOW:
            return  # the same beacon again (loopback: broadcast and multicast copies)
        self.last, self.last_addr, self.last_at = data, addr, now
        host = str(addr[0])
        if "%" in host and not host.lower().startswith("fe80"):
            host = host.split("%", 1)[0]  # only a link-local address needs its zone
        self.handed_out += 1
        if data in self.quiet:
            return  # every member said this changes nothing
        needed = False
        for no_op, on_beacon in self.targets:
            if data not in no_op:  # a datagram this node said changes nothing: skipped
                on_beacon(data, host)
                needed = True
        if not needed and self._quiet_ok and self.targets:
            self.quiet.add(data)  # bounded: each member's no_op holds it too

    def join(self, member: UdpBeacon) -> None:
        self.members += (member,)
        self._members_changed()

    def leave(self, member: UdpBeacon) -> None:
        no_op = member.no_op
        if isinstance(no_op, NoOpBeacons) and no_op.on_clear == self.quiet.clear:
            no_op.on_clear = None
        self.members = tuple(m for m in self.members if m is not member)
        self._members_changed()

    def _members_changed(self) -> None:
        self.targets = tuple((m.no_op, m.on_beacon) for m in self.members)
        self.quiet.clear()
        self._quiet_ok = True
        for m in self.members:
            no_op = m.no_op
            if isinstance(no_op, NoOpBeacons):
                no_op.on_clear = self.quiet.clear
            elif not (isinstance(no_op, frozenset) and not no_op):
                self._quiet_ok = False

    def error_received(self, exc: Exception) -> None:
        log.debug("beacon socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_sender()
        self.unregister()

    def close_sender(self) -> None:
        if self.sender is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self.loop.remove_reader(self.sender)
            self.sender.close()
            self.sender = None

    def unregister(self) -> None:
        """Leave the loop's registry (a later open makes a new socket)."""
        if self.shared.beacon_sockets.get(self.key) is self:
            del self.shared.beacon_sockets[self.key]


class UdpBeacon:
    """Send our beacon to the plan's destinations and hand every datagram heard to a callback."""

    def __init__(self, port: int, the_plan: BeaconPlan,
                 on_beacon: Callable[[bytes, str], None],
                 no_op: Container[bytes] = frozenset(), *,
                 shared: LoopShared | None = None) -> None:
        """``no_op``: datagrams the callback would ignore (kept up to date by its owner, e.g.
        ``NodeCore.no_op_beacons``); the shared socket does not hand them over. ``shared``:
        where the loop's beacon sockets are registered (default: ``LoopShared.of()`` of the
        loop ``open`` runs on)."""
        self.port = port
        self.plan = the_plan
        self.on_beacon = on_beacon
        self.no_op = no_op
        self.shared = shared
        #: the UDP socket this beacon sends and hears through while open (maybe shared)
        self.socket: BeaconSocket | None = None
        self.sent = 0
        self._heard = 0  # datagrams handed to us directly (on_datagram)
        self._joined_at = 0  # the socket's handed_out count when we joined it

    def on_datagram(self, data: bytes, host: str) -> None:
        """Hand one datagram to the callback, as the shared socket does (for tests and tools)."""
        if len(data) > MAX_DATAGRAM or not data.startswith(b"ZRE"):
            return
        self._heard += 1
        self.on_beacon(data, host)

    @property
    def received(self) -> int:
        """Datagrams heard (handed over or found to change nothing) since we opened."""
        hub = self.socket
        return self._heard + (hub.handed_out - self._joined_at if hub is not None else 0)

    def _socket(self) -> socket.socket:
        p = self.plan
        fam = socket.AF_INET6 if p.ipv6 else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if p.ipv6:
                s.bind(("::", self.port))
                mreq = socket.inet_pton(socket.AF_INET6, IPV6_GROUP) + p.ifindex.to_bytes(4, sys.byteorder)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, p.ifindex)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
            else:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.bind(("", self.port))
                local = socket.inet_aton(p.host if p.host != "0.0.0.0" else "0.0.0.0")
                for group in p.multicast_groups:
                    try:
                        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                     socket.inet_aton(group) + local)
                    except OSError as exc:  # no multicast route: broadcast still works
                        log.info("cannot join %s on %s: %s", group, p.host, exc)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                if p.host != "0.0.0.0":
                    with contextlib.suppress(OSError):
                        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, local)
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        return s

    def _sender(self) -> socket.socket:
        """IPv6: a send-only socket bound to the plan's host and the discovery port, so that our
        beacons carry the address the ROUTER listens on as their source. The receiving socket
        must stay bound to ``::`` (Linux delivers multicast only to it), and a socket bound to
        ``::`` sends from the address RFC 6724 picks for ff02::1: the link-local one, which the
        ROUTER does not listen on when the interface also has a global or ULA address
        (spec/zre.md#node-discovery, D11)."""
        p = self.plan
        host = p.host.split("%", 1)[0]
        scope = p.ifindex if host.lower().startswith("fe80") else 0
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, p.ifindex)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
            s.bind((host, self.port, 0, scope))
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        return s

    async def open(self) -> None:
        """Join the loop's socket for (port, plan), opening it if this is the first."""
        loop = asyncio.get_running_loop()
        shared = self.shared if self.shared is not None else LoopShared.of(loop)
        registry = shared.beacon_sockets
        key = (self.port, self.plan)
        hub = registry.get(key)
        if hub is not None and not hub.opened.done():
            await asyncio.shield(hub.opened)  # another node is opening it right now
        elif hub is None or hub.transport is None or hub.transport.is_closing():
            hub = registry[key] = BeaconSocket(shared, key, loop)
            try:
                hub.sock = self._socket()
                if self.plan.ipv6:
                    hub.sender = self._sender()
                    loop.add_reader(hub.sender, hub.sender_readable)
                transport, _ = await loop.create_datagram_endpoint(lambda: hub, sock=hub.sock)
            except BaseException as exc:
                hub.close_sender()
                if hub.transport is None and hub.sock is not None:
                    hub.sock.close()
                hub.unregister()
                hub.opened.set_exception(exc)
                hub.opened.exception()  # mark retrieved: nobody may be waiting
                raise
            hub.transport = transport
            hub.opened.set_result(None)
        hub.join(self)
        self._joined_at = hub.handed_out
        self.socket = hub

    def send(self, data: bytes) -> None:
        """Send one beacon datagram to every destination (errors are logged, not raised)."""
        hub = self.socket
        t = hub.transport if hub is not None else None
        if hub is None or t is None or t.is_closing():
            return
        for dest in self.plan.destinations:
            try:
                if hub.sender is not None:  # IPv6: from the ROUTER's address (D11)
                    hub.sender.sendto(data, (dest, self.port, 0, self.plan.ifindex))
                else:
                    t.sendto(data, (dest, self.port))
                self.sent += 1
            except OSError as exc:
                log.info("beacon to %s:%d failed: %s", dest, self.port, exc)

    def close(self) -> None:
        """Leave the shared socket; the last one out closes it."""
        hub, self.socket = self.socket, None
        if hub is None:
            return
        self._heard += hub.handed_out - self._joined_at  # what we heard stays counted
        hub.leave(self)
        if not hub.members:
            hub.unregister()
            hub.close_sender()
            if hub.transport is not None:
                hub.transport.close()
