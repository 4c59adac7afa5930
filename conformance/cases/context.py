"""What a case sees: the agent, the wire, the IUT's timers, a seeded RNG (spec/conformance.md#cases).

Every wait is bounded by a window derived from the IUT's timers; a wait that runs out is a FAIL
with a message saying what did not happen, and a crash of the agent during any wait is an ERROR.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from zre_ref.zre import messages as zm
from zre_ref.zre.node import BEACON_INTERVAL, EVASIVE_TIMEOUT, EXPIRED_TIMEOUT, REAP_INTERVAL

from ..agent import AgentClient, AgentCrashed, Event
from ..peer import BeaconChannel, Received, SeenBeacon, WirePeer
from ..verdicts import WireEntry
from . import CaseFailed, CaseSlow, CaseUnsupported


@dataclass(frozen=True)
class Timers:
    """The IUT's timers in seconds, as declared by the agent or set through `start`."""

    beacon_interval: float
    evasive: float
    expired: float
    reap: float

    def to_ms(self) -> dict[str, int]:
        return {"beacon_interval_ms": round(self.beacon_interval * 1000),
                "evasive_ms": round(self.evasive * 1000),
                "expired_ms": round(self.expired * 1000),
                "reap_interval_ms": round(self.reap * 1000)}


#: zyre's defaults (as zre_ref defines them), assumed when an agent declares nothing
#: (spec/zre.md#presence)
DEFAULT_TIMERS = Timers(beacon_interval=BEACON_INTERVAL, evasive=EVASIVE_TIMEOUT,
                        expired=EXPIRED_TIMEOUT, reap=REAP_INTERVAL)
#: Timers the runner asks for through `start` when the agent has the "timers" capability
FAST_TIMERS = Timers(beacon_interval=0.1, evasive=0.4, expired=1.2, reap=0.1)
#: A wait that ran out goes on this many times its window (at most LATE_GRACE_MAX seconds) to tell
#: a slow IUT (TIMEOUT) from one that never does it (FAIL) (spec/conformance.md#deadlines)
LATE_GRACE_FACTOR = 0.5
LATE_GRACE_MAX = 5.0
#: Reaction windows are at least this many times the lag the case measured (HELLO -> ENTER)
LAG_FACTOR = 4.0


def fast_timers(resolution: float) -> Timers:
    """The short timers `start` asks for, coarse enough for an IUT that checks its timers every
    ``resolution`` seconds (spec/conformance.md#timer-resolution): evasive at least 4 ticks,
    expired 3 x evasive, reap one tick."""
    if resolution <= FAST_TIMERS.reap:
        return FAST_TIMERS
    ticks = max(4, round(FAST_TIMERS.evasive / resolution))
    evasive = ticks * resolution
    return Timers(FAST_TIMERS.beacon_interval, evasive, 3 * evasive, resolution)


@dataclass
class CaseConfig:
    """Per-case settings chosen by the runner (seeded)."""

    beacon_port: int
    beacon_targets: list[str]
    beacon_interface: str
    timers: Timers
    use_timers: bool
    seed: str
    #: slack added to every wait window, seconds (slow CI machines)
    slack: float = 1.0
    #: how finely the IUT checks its timers, seconds (`hello` timers.resolution_ms; 0 = finely)
    resolution: float = 0.0


@dataclass
class Iut:
    """The implementation under test, as `start` reported it."""

    uuid_hex: str
    endpoint: str
    name: str
    headers: dict[str, str]
    groups: list[str]

    @property
    def uuid(self) -> bytes:
        return bytes.fromhex(self.uuid_hex)


@dataclass
class Ctx:
    """Everything one case works with (spec/conformance.md#cases)."""

    agent: AgentClient
    cfg: CaseConfig
    rng: random.Random
    t0: float = field(default_factory=time.monotonic)
    log: list[WireEntry] = field(default_factory=list)
    beacons: BeaconChannel | None = None
    peers: list[WirePeer] = field(default_factory=list)
    iut: Iut | None = None
    started: bool = False
    #: the IUT endpoint as seen from its beacon (host from the UDP source, port from the beacon)
    iut_beacon_endpoint: str = ""
    #: the longest reaction the case measured (our HELLO -> its ENTER event), seconds
    lag: float = 0.0
    #: blame rules: (event field, why) pairs the case registered before it injected bad input;
    #: a schema violation in that field of an event is the IUT's output (spec/conformance.md#blame)
    iut_output_fields: list[tuple[str, str]] = field(default_factory=list)

    # -- logging and verdict helpers ------------------------------------------------------
    def note(self, channel: str, text: str, data: dict[str, Any] | None = None) -> None:
        self.log.append(WireEntry(time.monotonic() - self.t0, channel, text, data))

    def fail(self, message: str) -> NoReturn:
        raise CaseFailed(message)

    def slow(self, message: str) -> NoReturn:
        raise CaseSlow(message)

    def blame_iut_for(self, event_field: str, why: str) -> None:
        """From now on, an agent event whose ``event_field`` breaks the schema is the IUT's
        output in answer to what this case injected (``why``): FAIL, not agent ERROR."""
        self.iut_output_fields.append((event_field, why))

    def measured_lag(self, seconds: float) -> None:
        """Record one reaction time of the IUT and its agent; windows grow with the largest."""
        if seconds > self.lag:
            self.lag = seconds
            self.note("note", f"measured IUT/agent lag {seconds:.3f} s")

    def check(self, cond: bool, message: str) -> None:
        if not cond:
            raise CaseFailed(message)

    def need(self, capability: str) -> None:
        hello = self.agent.hello
        if hello is None or capability not in hello.capabilities:
            raise CaseUnsupported(f"does not declare capability {capability!r}")

    def alive(self) -> None:
        """Raise AgentCrashed if the agent process is gone."""
        if self.agent.proc is not None and not self.agent.alive:
            raise AgentCrashed(self.agent.crash_text())

    # -- time windows ---------------------------------------------------------------------
    @property
    def timers(self) -> Timers:
        return self.cfg.timers

    @property
    def t_lag(self) -> float:
        """Extra time every reaction window gets for the lag this case measured."""
        return LAG_FACTOR * self.lag

    @property
    def t_discover(self) -> float:
        """How long discovery (beacon -> HELLO) may take."""
        return 3 * self.timers.beacon_interval + 2 * self.cfg.slack + self.t_lag

    @property
    def t_react(self) -> float:
        """How long the IUT may take to react to one message or command."""
        return 1.0 + self.cfg.slack + self.t_lag

    @property
    def t_quiet(self) -> float:
        """How long to watch for something that must NOT happen (a connect, an event)."""
        return (0.3 + 2 * self.timers.beacon_interval + 0.3 * self.cfg.slack
                + self.cfg.resolution + self.t_lag)

    @property
    def t_tick(self) -> float:
        """How late a timer may fire: two reap intervals and one tick of the IUT's resolution."""
        return 2 * self.timers.reap + self.cfg.resolution

    @property
    def t_evasive(self) -> float:
        """By when an evasive peer must have been PINGed, counted from its last message."""
        return self.timers.evasive + self.t_tick + self.cfg.slack + self.t_lag

    @property
    def t_expired(self) -> float:
        """By when a silent peer must have expired, counted from its last message."""
        return self.timers.expired + self.t_tick + self.cfg.slack + self.t_lag

    def too_early(self, what: str, timer: float, since: float, at: float) -> None:
        """FAIL if ``what`` came clearly before its ``timer`` ran out, counted from ``since``
        (the runner's last word to the IUT; the IUT heard it later, never earlier). "Clearly":
        by more than one tick of the IUT's timer resolution and 10 % of the timer
        (spec/conformance.md#timer-resolution)."""
        waited = at - since
        margin = self.cfg.resolution + 0.1 * timer
        if waited < timer - margin:
            self.fail(f"{what} came {waited:.2f} s after our last message, before the "
                      f"{timer:.2f} s timer (tolerance {margin:.2f} s)")

    def late_grace(self, window: float) -> float:
        """How long a wait that ran out goes on, to tell slow from never."""
        return min(LATE_GRACE_FACTOR * window, LATE_GRACE_MAX)

    def came_late(self, what: str, window: float, waited_from: float, at: float) -> NoReturn:
        self.slow(f"{what} came {at - waited_from:.2f} s after the wait began, past its "
                  f"{window:.1f} s window: the IUT or its agent was busy, not wrong (rerun "
                  f"on a quieter machine or raise --slack)")

    # -- the IUT --------------------------------------------------------------------------
    def random_name(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(24):06x}"

    def random_uuid(self) -> bytes:
        return self.rng.getrandbits(128).to_bytes(16, "big")

    def random_bytes(self, n: int) -> bytes:
        return self.rng.getrandbits(8 * n).to_bytes(n, "big") if n else b""

    async def open_beacons(self) -> BeaconChannel:
        if self.beacons is None:
            self.beacons = BeaconChannel(self.cfg.beacon_port, self.cfg.beacon_targets, self.note)
            await self.beacons.open()
        return self.beacons

    async def start_iut(self, *, name: str | None = None, headers: dict[str, str] | None = None,
                        groups: Sequence[str] = (), beacon: bool = True,
                        timers: Timers | None = None, contest: Sequence[str] = (),
                        gossip: dict[str, Any] | None = None) -> Iut:
        """`start` the IUT node on the case's beacon port, loopback only (spec/conformance.md#start)."""
        await self.open_beacons()
        name = name or self.random_name("iut")
        headers = {"X-CASE": self.random_name("h")} if headers is None else headers
        args: dict[str, Any] = {"name": name, "headers": headers, "groups": list(groups)}
        if contest:
            args["contest"] = list(contest)
        if gossip is not None:
            args["gossip"] = gossip
        t = timers or self.timers
        if beacon:
            args["beacon"] = {"port": self.cfg.beacon_port, "interface": self.cfg.beacon_interface,
                              "address": self.cfg.beacon_targets[0],
                              "interval_ms": round(t.beacon_interval * 1000)}
        else:
            args["beacon"] = None
        if self.cfg.use_timers:
            args["evasive_ms"] = round(t.evasive * 1000)
            args["expired_ms"] = round(t.expired * 1000)
        reply = await self.agent.request("start", timeout=10.0 + self.cfg.slack, **args)
        self.started = True
        self._take_reported_timers(reply.get("timers"))
        self.iut = Iut(reply["uuid"], reply["endpoint"], name, headers, list(groups))
        self.note("note", f"IUT started: uuid={self.iut.uuid_hex} endpoint={self.iut.endpoint}")
        if self.iut.endpoint.endswith(":0") and beacon:
            # the agent cannot tell its endpoint (zyre's API): take it from the first beacon
            await self.iut_beacon()
            self.iut.endpoint = self.iut_beacon_endpoint
        return self.iut

    def _take_reported_timers(self, reported: Any) -> None:
        """The `start` reply's ``timers`` are what the node really runs with (it may have rounded
        what we asked for): every window from now on uses them (spec/conformance.md#start)."""
        if not isinstance(reported, dict) or not reported:
            return
        t = self.cfg.timers
        ms = {k: v for k, v in reported.items() if isinstance(v, int) and v > 0}
        self.cfg.timers = Timers(ms.get("beacon_interval_ms", t.beacon_interval * 1000) / 1000,
                                 ms.get("evasive_ms", t.evasive * 1000) / 1000,
                                 ms.get("expired_ms", t.expired * 1000) / 1000,
                                 ms.get("reap_interval_ms", t.reap * 1000) / 1000)
        if "resolution_ms" in ms:
            self.cfg.resolution = ms["resolution_ms"] / 1000
        if self.cfg.timers != t:
            self.note("note", f"the IUT runs with timers {self.cfg.timers.to_ms()} (start reply)")

    async def stop_iut(self) -> None:
        if self.started:
            self.started = False
            await self.agent.request("stop", timeout=5.0 + self.cfg.slack)

    async def iut_beacon(self, timeout: float | None = None, since: int = 0) -> SeenBeacon:
        """Wait for a live beacon from the IUT; remember its endpoint."""
        iut = self._iut()
        beacons = await self.open_beacons()
        window = self.t_discover if timeout is None else timeout
        began = time.monotonic()

        def live(b: SeenBeacon) -> bool:
            return b.beacon is not None and b.beacon.uuid == iut.uuid and b.beacon.port != 0

        seen = await beacons.wait(live, window, since, self.alive)
        if seen is None:
            late = await beacons.wait(live, self.late_grace(window), since, self.alive)
            if late is not None:
                self.came_late("the IUT's beacon", window, began, late.t)
        if seen is None or seen.beacon is None:
            self.fail(f"no beacon from the IUT ({iut.uuid_hex}) on UDP port {self.cfg.beacon_port} "
                      f"within {window:.1f} s")
        self.iut_beacon_endpoint = f"tcp://{seen.source[0]}:{seen.beacon.port}"
        return seen

    def _iut(self) -> Iut:
        if self.iut is None:
            raise RuntimeError("case bug: start the IUT first")
        return self.iut

    def started_iut(self) -> Iut:
        """The IUT `start` reported (a case bug, not a verdict, if it was not started)."""
        return self._iut()

    # -- wire peers -----------------------------------------------------------------------
    async def new_peer(self, *, name: str | None = None, groups: Sequence[str] = (),
                       headers: dict[str, str] | None = None, uuid: bytes | None = None,
                       port: int = 0, label: str | None = None) -> WirePeer:
        """A fresh runner peer with a seeded UUID and its ROUTER bound on loopback."""
        beacons = await self.open_beacons()
        peer = WirePeer(uuid=uuid or self.random_uuid(), name=name or self.random_name("runner"),
                        logfn=self.note, alive=self.alive, beacons=beacons, groups=groups,
                        headers=headers if headers is not None else {"X-RUNNER": "zre-conformance"},
                        label=label or f"P{len(self.peers) + 1}")
        await peer.open(port)
        self.peers.append(peer)
        self.note("note", f"{peer.label} is uuid={peer.uuid_hex} endpoint={peer.endpoint}")
        return peer

    def from_iut(self, kind: str | None = None) -> Callable[[Received], bool]:
        iut = self._iut()
        return lambda r: r.uuid == iut.uuid and (kind is None or r.kind == kind)

    async def expect_msg(self, peer: WirePeer, kind: str, timeout: float | None = None,
                         since: int = 0, what: str = "") -> Received:
        """Wait for a message of ``kind`` from the IUT on ``peer``'s inbox, or FAIL."""
        t = self.t_react if timeout is None else timeout
        began = time.monotonic()
        got = await peer.wait_msg(self.from_iut(kind), t, since)
        if got is None:
            late = await peer.wait_msg(self.from_iut(kind), self.late_grace(t), since)
            if late is not None:
                self.came_late(f"{kind} from the IUT", t, began, late.t)
            self.fail(what or f"no {kind} from the IUT within {t:.1f} s")
        return got

    async def expect_event(self, kind: str, peer: str | None = None, timeout: float | None = None,
                           since: int = 0, pred: Callable[[Event], bool] | None = None,
                           what: str = "") -> Event:
        """Wait for an agent event of ``kind`` (about ``peer``), or FAIL."""
        t = self.t_react if timeout is None else timeout
        began = time.monotonic()

        def wanted(e: Event) -> bool:
            return e.kind == kind and (peer is None or e.peer == peer) and (pred is None or pred(e))

        ev = await self.agent.wait_event(wanted, t, since)
        if ev is None:
            late = await self.agent.wait_event(wanted, self.late_grace(t), since)
            if late is not None:
                self.came_late(f"the {kind} event", t, began, late.t)
            self.fail(what or f"no {kind} event{' for ' + peer if peer else ''} within {t:.1f} s")
        return ev

    async def no_event(self, kind: str, peer: str | None, window: float, since: int = 0) -> Event | None:
        """Watch for ``window`` seconds; return an unwanted event if one came."""
        return await self.agent.wait_event(
            lambda e: e.kind == kind and (peer is None or e.peer == peer), window, since)

    async def events_settle(self, budget: float, quiet: float = 0.3) -> None:
        """Wait (up to ``budget`` s) until the agent's events stop flowing for ``quiet`` s: a burst
        the IUT reports (thousands of JOINs) is through before the next check is timed."""
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            mark = self.agent.mark()
            if await self.agent.wait_event(lambda e: True, quiet, mark) is None:
                return
        self.note("note", f"agent events still flowing after {budget:.1f} s")

    async def meet(self, peer: WirePeer, *, beacon: bool = True) -> Received:
        """Full discovery: beacons both ways, HELLO both ways, ENTER at the IUT (spec/zre.md#hello).

        Returns the IUT's HELLO as received. With ``beacon=False`` the runner connects first to
        the endpoint `start` reported and the IUT must connect back from our HELLO.
        """
        iut = self._iut()
        mark_ev = self.agent.mark()
        mark = peer.mark()
        if beacon:
            await self.iut_beacon()
            peer.start_beacon(self.timers.beacon_interval)
            hello = await self.expect_msg(
                peer, "HELLO", self.t_discover, mark,
                what=f"the IUT sent no HELLO to {peer.label}'s beacon within {self.t_discover:.1f} s")
            await peer.connect(self.iut_beacon_endpoint)
            await peer.hello()
            said = time.monotonic()
        else:
            await peer.connect(iut.endpoint)
            await peer.hello()
            said = time.monotonic()
            hello = await self.expect_msg(
                peer, "HELLO", self.t_discover, mark,
                what=f"the IUT did not connect back with HELLO within {self.t_discover:.1f} s")
        enter = await self.expect_event(
            "ENTER", peer.uuid_hex, self.t_discover, mark_ev,
            what=f"no ENTER event for {peer.label} within {self.t_discover:.1f} s")
        self.measured_lag(max(0.0, enter.t - said))
        return hello

    async def cleanup(self) -> None:
        for peer in self.peers:
            await peer.close()
        self.peers = []
        if self.beacons is not None:
            self.beacons.close()
            self.beacons = None


def hexframes(frames: Sequence[bytes]) -> list[str]:
    return [bytes(f).hex() for f in frames]


def frames_of(event: Event) -> list[bytes]:
    return [bytes.fromhex(h) for h in event.data.get("content", [])]


def hello_of(r: Received) -> zm.Hello:
    if not isinstance(r.msg, zm.Hello):
        raise CaseFailed(f"expected HELLO, got {r.kind or 'undecodable message'}")
    return r.msg
