"""The runner as a ZRE peer on the wire, with a raw mode for faults (spec/conformance.md#wire-peer).

Built on zre_ref's codecs (zre_ref.zre.messages, zre_ref.zre.beacon) and its asyncio ZMTP sockets
(zre_ref.aio.zmtp). Everything sent and received is recorded in the case's wire log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from zre_ref.aio import cancel_and_wait
from zre_ref.curve import z85_encode
from zre_ref.errors import DecodeError
from zre_ref.zre import messages as zm
from zre_ref.zre.beacon import BEACON_VERSION_CURVE, Beacon, decode_beacon, encode_beacon

from .waiting import first_match

log = logging.getLogger(__name__)

#: Called with (channel, text, data) for every wire-log line
LogFn = Callable[[str, str, "dict[str, Any] | None"], None]
#: Raises if the agent died, so that waits on the wire notice a crash at once
AliveFn = Callable[[], None]

#: How often waits re-check the agent while nothing arrives, seconds
POLL = 0.05
#: Largest message the runner's own sockets accept from the IUT (robustness cases send more)
RUNNER_MAX_MESSAGE = 64 * 1024 * 1024


def describe(msg: zm.ZreMessage) -> str:
    """A one-line human form of a decoded ZRE message for the wire log."""
    js = zm.ZRE.to_json(msg)
    kind = js.pop("type")
    js.pop("version", None)
    seq = js.pop("sequence", None)
    parts = [f"{kind} seq={seq}"]
    for key, value in js.items():
        parts.append(f"{key}={value!r}" if not isinstance(value, list) else f"{key}={value}")
    return " ".join(parts)


@dataclass
class Received:
    """One message that arrived on a wire peer's ROUTER."""

    t: float
    identity: bytes
    frames: list[bytes]
    msg: zm.ZreMessage | None
    error: DecodeError | None

    @property
    def uuid(self) -> bytes:
        return self.identity[1:] if len(self.identity) == zm.IDENTITY_SIZE else b""

    @property
    def kind(self) -> str:
        return "" if self.msg is None else zm.ZRE.spec_of(self.msg).name


@dataclass
class SeenBeacon:
    """One beacon datagram the runner heard."""

    t: float
    source: tuple[str, int]
    data: bytes
    beacon: Beacon | None
    error: DecodeError | None


class _BeaconProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: BeaconChannel) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("beacon socket error: %s", exc)


class BeaconChannel:
    """The UDP side: hear every beacon on the case's port, send ours (spec/zre.md#beacon)."""

    def __init__(self, port: int, targets: Sequence[str], logfn: LogFn) -> None:
        self.port = port
        self.targets = list(targets)
        self.logfn = logfn
        self.seen: list[SeenBeacon] = []
        self._changed = asyncio.Event()
        self._transport: asyncio.DatagramTransport | None = None
        self._send_sock: socket.socket | None = None
        self.t0 = time.monotonic()
        #: our own beacons, not logged when heard back
        self.own: set[bytes] = set()
        self._logged: set[bytes] = set()

    async def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", self.port))
        for group in self.targets:
            if _is_multicast(group):
                with contextlib.suppress(OSError):  # no multicast route: we still hear broadcast
                    mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _BeaconProtocol(self), sock=sock)
        self._transport = transport
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        with contextlib.suppress(OSError):
            out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        out.setblocking(False)
        self._send_sock = out

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._send_sock is not None:
            self._send_sock.close()
            self._send_sock = None

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if data in self.own:
            return
        t = time.monotonic()
        try:
            decoded = decode_beacon(data)
            beacon: Beacon | None = decoded
            error = None
            text = (f"beacon from {source[0]}:{source[1]} uuid={decoded.uuid.hex().upper()} "
                    f"port={decoded.port}")
        except DecodeError as exc:
            beacon, error = None, exc
            text = f"undecodable datagram from {source[0]}:{source[1]} {data[:64].hex()}: {exc.reason}"
        self.seen.append(SeenBeacon(t, source, data, beacon, error))
        if data not in self._logged:  # repeats of the same beacon are not logged again
            self._logged.add(data)
            self.logfn("udp-in", text, None)
        self._changed.set()

    def send(self, data: bytes, *, note: str = "") -> None:
        """Send one datagram to every target address (raw: any bytes)."""
        if self._send_sock is None:
            return
        self.own.add(data)
        for target in self.targets:
            try:
                self._send_sock.sendto(data, (target, self.port))
            except OSError as exc:
                log.debug("beacon to %s failed: %s", target, exc)
        try:
            b = decode_beacon(data)
            text = f"beacon uuid={b.uuid.hex().upper()} port={b.port}"
        except DecodeError:
            text = f"raw datagram {data.hex()}"
        self.logfn("udp-out", text + (f" ({note})" if note else ""), None)

    def send_quiet(self, data: bytes) -> None:
        """Send a repeat of a beacon already logged once."""
        if self._send_sock is None:
            return
        self.own.add(data)
        for target in self.targets:
            with contextlib.suppress(OSError):
                self._send_sock.sendto(data, (target, self.port))

    async def wait(self, pred: Callable[[SeenBeacon], bool], timeout: float, since: int = 0,
                   alive: AliveFn | None = None) -> SeenBeacon | None:
        """The first beacon at index >= since matching ``pred``, or None after ``timeout``."""
        return await first_match(self.seen, self._changed, pred, timeout, since, check=alive,
                                 poll=POLL * 4)


def _is_multicast(addr: str) -> bool:
    try:
        first = int(addr.split(".")[0])
    except ValueError:
        return False
    return 224 <= first <= 239


class WirePeer:
    """A ZRE peer played by the runner: ROUTER inbox, DEALER to the IUT, beacons (spec/zre.md)."""

    def __init__(self, *, uuid: bytes, name: str, logfn: LogFn, alive: AliveFn,
                 beacons: BeaconChannel | None, host: str = "127.0.0.1",
                 groups: Sequence[str] = (), headers: dict[str, str] | None = None,
                 label: str = "P", curve: tuple[bytes, bytes] | None = None) -> None:
        self.uuid = uuid
        #: CURVE mode (spec/zre.md#curve-mode-zyre): our (public, secret) key, raw 32 bytes each
        self.curve = curve
        #: the IUT's public key: our DEALER's CURVE server key (CURVE mode only)
        self.curve_serverkey: bytes | None = None
        self.uuid_hex = uuid.hex().upper()
        self.identity = zm.encode_identity(uuid)
        self.name = name
        self.host = host
        self.groups = list(groups)
        self.headers = dict(headers or {})
        if curve is not None:
            self.headers["X-PUBLICKEY"] = z85_encode(curve[0]).decode()
        self.status = 0
        self.seq = 0
        self.label = label
        self.logfn = logfn
        self.alive = alive
        self.beacons = beacons
        self.endpoint = ""
        self.port = 0
        self.inbox: list[Received] = []
        #: False while a case floods the wire (the wrap case): received messages are not logged
        self.log_in = True
        #: when this peer last said anything to the IUT (TCP message or beacon), monotonic seconds
        self.last_sent = 0.0
        self._changed = asyncio.Event()
        self._router: Any = None
        self._dealer: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._beacon_task: asyncio.Task[None] | None = None

    # -- set-up ---------------------------------------------------------------------------
    async def open(self, port: int = 0) -> None:
        """Bind the ROUTER inbox on the loopback host (a given port, or any)."""
        from zre_ref.aio.zmtp import Socket  # imported late: only the wire needs it

        keys: dict[str, Any] = {}
        if self.curve is not None:
            keys = {"curve_server": True, "curve_publickey": self.curve[0],
                    "curve_secretkey": self.curve[1]}
        router = Socket("ROUTER", max_message_size=RUNNER_MAX_MESSAGE, rcvhwm=100_000, **keys)
        try:
            self.endpoint = await _bind(router, f"tcp://{self.host}:{port or '*'}")
        except OSError:
            if port == 0:
                raise
            self.endpoint = await _bind(router, f"tcp://{self.host}:*")
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        self._router = router
        self._tasks.append(asyncio.create_task(self._recv_loop()))

    async def close(self) -> None:
        self.stop_beacon()
        await cancel_and_wait(*self._tasks, errors_too=True)
        self._tasks = []
        for sock in (self._dealer, self._router):
            if sock is not None:
                with contextlib.suppress(Exception):
                    await _close(sock)
        self._dealer = self._router = None

    async def _recv_loop(self) -> None:
        while True:
            try:
                frames = await self._router.recv_multipart()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # socket closed under us
                log.debug("wire peer %s: router closed: %s", self.label, exc)
                return
            frames = [bytes(f) for f in frames]
            identity, rest = (frames[0], frames[1:]) if frames else (b"", [])
            try:
                msg: zm.ZreMessage | None = zm.decode(rest, strict=False)
                err = None
                text = describe(msg) if msg is not None else ""
            except DecodeError as exc:
                msg, err = None, exc
                text = f"undecodable {[f[:32].hex() for f in rest]}: {exc.reason}"
            who = identity.hex().upper() if len(identity) != zm.IDENTITY_SIZE else identity[1:].hex().upper()
            self.inbox.append(Received(time.monotonic(), identity, rest, msg, err))
            if self.log_in or err is not None:
                self.logfn("tcp-in", f"{self.label}<-{who[:8]} {text}", None)
            self._changed.set()

    # -- beacons --------------------------------------------------------------------------
    def beacon_bytes(self, port: int | None = None) -> bytes:
        if self.curve is not None:
            return encode_beacon(Beacon(version=BEACON_VERSION_CURVE, uuid=self.uuid,
                                        port=self.port if port is None else port,
                                        public_key=self.curve[0]))
        return encode_beacon(Beacon(uuid=self.uuid, port=self.port if port is None else port))

    def start_beacon(self, interval: float) -> None:
        """Beacon our ROUTER port every ``interval`` seconds (first one at once)."""
        if self.beacons is None or self._beacon_task is not None:
            return
        beacons = self.beacons

        async def loop() -> None:
            data = self.beacon_bytes()
            first = True
            while True:
                if first:
                    beacons.send(data, note=self.label)
                else:
                    beacons.send_quiet(data)
                self.last_sent = time.monotonic()
                first = False
                await asyncio.sleep(interval)

        self._beacon_task = asyncio.create_task(loop())

    def stop_beacon(self, *, leaving: bool = False) -> None:
        if self._beacon_task is not None:
            self._beacon_task.cancel()
            self._beacon_task = None
        if leaving and self.beacons is not None:
            self.beacons.send(self.beacon_bytes(port=0), note=f"{self.label} leaving")

    # -- DEALER side ----------------------------------------------------------------------
    async def connect(self, endpoint: str, identity: bytes | None = None) -> None:
        """Open the DEALER to the IUT (identity 0x01 + our UUID unless a raw one is given)."""
        from zre_ref.aio.zmtp import Socket

        if self._dealer is not None:
            with contextlib.suppress(Exception):
                await _close(self._dealer)
        keys: dict[str, Any] = {}
        if self.curve is not None and self.curve_serverkey is not None:
            keys = {"curve_serverkey": self.curve_serverkey, "curve_publickey": self.curve[0],
                    "curve_secretkey": self.curve[1]}
        dealer = Socket("DEALER", identity=self.identity if identity is None else identity,
                        sndhwm=100_000, max_message_size=RUNNER_MAX_MESSAGE, **keys)
        await _connect(dealer, endpoint)
        self._dealer = dealer
        self.seq = 0
        self.logfn("note", f"{self.label} DEALER connects to {endpoint}", None)

    async def wait_connected(self, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until our DEALER finished its ZMTP handshake with the IUT,
        so that what we send next goes out at once rather than when the connection comes up."""
        deadline = time.monotonic() + timeout
        while self._dealer is not None and time.monotonic() < deadline:
            if any(p.get("ready") for p in self._dealer.peers()):
                return True
            self.alive()
            await asyncio.sleep(POLL / 5)
        return False

    def next_seq(self) -> int:
        self.seq = zm.next_sequence(self.seq)
        return self.seq

    def hello_msg(self, **over: Any) -> zm.Hello:
        fields: dict[str, Any] = {
            "endpoint": self.endpoint, "groups": tuple(self.groups), "status": self.status,
            "name": self.name, "headers": dict(self.headers)}
        fields.update(over)
        return zm.Hello(sequence=self.next_seq() if "sequence" not in over else over.pop("sequence"),
                        **{k: v for k, v in fields.items() if k != "sequence"})

    async def send(self, msg: zm.ZreMessage, *, quiet: bool = False) -> None:
        """Encode and send one message on the DEALER."""
        await self.send_frames(zm.encode(msg), text=describe(msg), quiet=quiet)

    async def send_frames(self, frames: Sequence[bytes], *, text: str = "",
                          quiet: bool = False) -> None:
        """Raw mode: send any frames on the DEALER (spec/conformance.md#faults)."""
        if self._dealer is None:
            raise RuntimeError("wire peer has no DEALER (connect first)")
        if not quiet:
            shown = text or f"raw {[bytes(f)[:48].hex() for f in frames]}"
            self.logfn("tcp-out", f"{self.label}-> {shown}", None)
        await self._dealer.send_multipart([bytes(f) for f in frames])
        self.last_sent = time.monotonic()

    async def hello(self, **over: Any) -> zm.Hello:
        msg = self.hello_msg(**over)
        await self.send(msg)
        return msg

    async def join(self, group: str) -> None:
        if group not in self.groups:
            self.groups.append(group)
        self.status = zm.next_status(self.status)
        await self.send(zm.Join(sequence=self.next_seq(), group=group, status=self.status))

    async def leave(self, group: str) -> None:
        if group in self.groups:
            self.groups.remove(group)
        self.status = zm.next_status(self.status)
        await self.send(zm.Leave(sequence=self.next_seq(), group=group, status=self.status))

    async def shout(self, group: str, content: Sequence[bytes]) -> None:
        await self.send(zm.Shout(sequence=self.next_seq(), group=group, content=tuple(content)))

    async def whisper(self, content: Sequence[bytes]) -> None:
        await self.send(zm.Whisper(sequence=self.next_seq(), content=tuple(content)))

    async def ping(self) -> None:
        await self.send(zm.Ping(sequence=self.next_seq()))

    # -- observing ------------------------------------------------------------------------
    def mark(self) -> int:
        return len(self.inbox)

    async def wait_msg(self, pred: Callable[[Received], bool], timeout: float,
                       since: int = 0) -> Received | None:
        """The first inbox entry at index >= since matching ``pred``, or None after ``timeout``."""
        return await first_match(self.inbox, self._changed, pred, timeout, since,
                                 check=self.alive, poll=POLL * 4)

    def messages_from(self, uuid: bytes, since: int = 0) -> list[Received]:
        return [r for r in self.inbox[since:] if r.uuid == uuid]


async def _bind(sock: Any, endpoint: str) -> str:
    result = await _maybe_await(sock.bind(endpoint))
    if isinstance(result, str) and result:
        return result
    ep = getattr(sock, "endpoint", None) or getattr(sock, "last_endpoint", None)
    if callable(ep):
        ep = ep()
    return str(ep)


async def _connect(sock: Any, endpoint: str) -> None:
    await _maybe_await(sock.connect(endpoint))


async def _close(sock: Any) -> None:
    await _maybe_await(sock.close())


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


async def raw_tcp(host: str, port: int, data: bytes, *, linger: float = 0.2) -> bytes:
    """Open a plain TCP connection, write ``data``, read what comes back briefly, close."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
    got = b""
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, OSError):
            got = await asyncio.wait_for(reader.read(4096), linger)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    return got


async def raw_curve_client(host: str, port: int, server_key: bytes, keys: tuple[bytes, bytes],
                           *, tamper: bool, timeout: float) -> bool:
    """A hand-driven CURVE DEALER (spec/curve.md#message): handshake, then one MESSAGE box with
    its last byte flipped if ``tamper``. True if the server closed the connection within
    ``timeout`` seconds of that MESSAGE; raises ConnectionError/TimeoutError if the handshake fails."""
    from zre_ref.zmtp import curve as zc
    from zre_ref.zmtp.commands import encode_metadata
    from zre_ref.zmtp.frames import COMMAND, frame_header
    from zre_ref.zmtp.greeting import Greeting, encode_greeting

    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(encode_greeting(Greeting(mechanism="CURVE")))
        await asyncio.wait_for(reader.readexactly(64), timeout)
        hs = zc.CurveClientHandshake(zc.CurveClient.from_keys(server_key, keys[0], keys[1]),
                                     encode_metadata({"Socket-Type": b"DEALER"}))

        async def command() -> bytes:
            _flags, size = await asyncio.wait_for(reader.readexactly(2), timeout)
            return await asyncio.wait_for(reader.readexactly(size), timeout)

        hello = hs.hello()
        writer.write(frame_header(COMMAND, len(hello)) + hello)
        initiate = hs.on_command(await command())
        writer.write(frame_header(COMMAND, len(initiate)) + initiate)
        hs.on_ready(await command())
        box = hs.cipher().seal(0, b"\xaa\xa1\x09\x02\x00\x01")  # a PING-sized frame
        if tamper:
            box = box[:-1] + bytes([box[-1] ^ 1])
        writer.write(frame_header(0, len(box)) + box)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(1), timeout) == b""
        except (asyncio.TimeoutError, ConnectionError):
            return False
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
