"""Hostile peers: forged endpoints, unconnectable and huge HELLOs, a huge frame header, a beacon
flood (spec/zre.md#strictness, spec/zre.md#harmony).

Each case attacks the IUT while a well-behaved runner peer (P1, beaconing) is connected, and
checks the MUST that matters to users: the IUT keeps serving P1 (its PING gets PING-OK, the
IUT's WHISPER reaches it, it is not dropped) and does not storm (it reports no EXIT/ENTER churn
for P1 and at most a few events per attacker).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence

from zre_ref.zmtp.commands import Ready, encode_command
from zre_ref.zmtp.frames import encode_frame, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting
from zre_ref.zre import messages as zm
from zre_ref.zre.beacon import Beacon, encode_beacon

from ..peer import WirePeer
from ..verdicts import Level
from . import case
from .common import ping_roundtrip, ready, settle, still_works
from .context import DEFAULT_TIMERS, Ctx, Timers, hexframes

#: EXIT/ENTER events the IUT may report per attacker UUID (it may ENTER and later EXIT one)
CHURN_PER_ATTACKER = 2
#: How long the forger keeps beaconing a live peer's port, seconds (3 to 10 beacons)
FORGERY_SECONDS = 2.0
#: Endpoints no peer can be reached at (issue: a HELLO naming one must only hurt that peer)
UNCONNECTABLE = ("garbage", "tcp://*:5", "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999",
                 "ipc:///nonexistent/zre-conformance", "udp://127.0.0.1:5670")
#: WHISPERs the good peer sends interleaved with the bad HELLOs; all must be delivered, in order
INTERLEAVED_WHISPERS = 24
#: Groups and headers in the huge HELLO (far above what zyre sends, far below a memory problem)
HUGE_GROUPS = 10_000
HUGE_HEADERS = 5_000
#: Declared size of the huge frame (2^40 bytes); nothing of it is sent
HUGE_FRAME_SIZE = 1 << 40
#: Connections that each declare a huge frame
HUGE_FRAME_CONNECTIONS = 4
#: Fake UUIDs in the beacon flood, and how many go out between checks of the good peer
FLOOD_UUIDS = 2_000
FLOOD_BATCH = 250
#: Ports the fake UUIDs claim: bound by the runner, never listening
FLOOD_PORTS = 16
#: Times every fake UUID beacons
FLOOD_ROUNDS = 3
#: Slowest rate, events/s, at which the IUT's agent may forward the huge HELLO's JOIN events
JOIN_EVENT_RATE = 5_000
#: Rate, bytes/s, below which the IUT and its agent count as busy with a huge message, not wrong
BUSY_RATE = 256 * 1024


def _claims(ctx: Ctx) -> int:
    """How many more forged beacons to send, one per beacon interval: 3 to 10, about 2 s."""
    return max(3, min(10, int(FORGERY_SECONDS / ctx.timers.beacon_interval)))


def calm(ctx: Ctx) -> Timers:
    """The timers a hostile case starts the IUT with: the case's beacon interval, zyre's default
    presence timers. An attack may legitimately stall the IUT for a moment; with the runner's
    fast timers (expired 1.2 s) a loaded machine would turn that stall into an EXIT of the good
    peer, and the verdict would depend on the load."""
    return Timers(ctx.timers.beacon_interval, DEFAULT_TIMERS.evasive, DEFAULT_TIMERS.expired,
                  ctx.timers.reap)


async def still_served(ctx: Ctx, peer: WirePeer, why: str, mark_ev: int,
                       attackers: Sequence[str] = (), busy: float | None = None,
                       watch: float = 0.0) -> None:
    """The MUSTs of every hostile case: ``peer`` is not dropped (watched for ``watch`` seconds
    while the attack goes on), its PING is answered, the IUT's WHISPER reaches it, and the
    attackers caused no EXIT/ENTER storm."""
    if busy is not None:
        await settle(ctx, peer, busy)  # the clock of the checks starts once the IUT caught up
    if watch:
        await ctx.no_event("EXIT", peer.uuid_hex, watch, mark_ev)

    def drop_check() -> None:
        dropped = ctx.agent.find_events(lambda e: e.kind == "EXIT" and e.peer == peer.uuid_hex,
                                        mark_ev)
        ctx.check(not dropped, f"after {why}, the IUT dropped the well-behaved {peer.label} "
                  f"(EXIT) although it kept beaconing and its connection stayed up")

    drop_check()
    await ping_roundtrip(ctx, peer, why)
    m = peer.mark()
    body = ctx.random_name("still").encode()
    # an agent round trip: events the IUT reported before it are now in (the agent's stdout is
    # one ordered stream)
    await ctx.agent.request("whisper", peer=peer.uuid_hex, content=hexframes([body]))
    drop_check()
    await ctx.expect_msg(peer, "WHISPER", since=m,
                         what=f"after {why}, the IUT's WHISPER no longer reached {peer.label}")
    churn = ctx.agent.find_events(lambda e: e.kind in ("ENTER", "EXIT") and e.peer != peer.uuid_hex,
                                  mark_ev)
    limit = CHURN_PER_ATTACKER * max(1, len(attackers))
    ctx.check(len(churn) <= limit, f"after {why}, the IUT reported {len(churn)} ENTER/EXIT events "
              f"(limit {limit}): a storm")
    again = ctx.agent.find_events(lambda e: e.kind == "ENTER" and e.peer == peer.uuid_hex, mark_ev)
    ctx.check(not again, f"after {why}, the IUT re-entered {peer.label} {len(again)} time(s): churn")


@case("hostile.endpoint-forgery", Level.MUST, "spec/zre.md#harmony",
      "a new UUID claiming a live peer's endpoint (beacons and a HELLO) does not make the IUT "
      "drop that peer or storm")
async def hostile_endpoint_forgery(ctx: Ctx) -> None:
    iut, peer, _hello = await ready(ctx, timers=calm(ctx))
    mark_ev = ctx.agent.mark()
    forger = await ctx.new_peer(label="Pforged")
    forged = encode_beacon(Beacon(uuid=forger.uuid, port=peer.port))
    beacons = await ctx.open_beacons()
    beacons.send(forged, note=f"a new UUID claims {peer.label}'s port {peer.port}")
    forger.endpoint = peer.endpoint  # the forged HELLO names P1's endpoint
    await forger.connect(ctx.iut_beacon_endpoint or iut.endpoint)
    await forger.wait_connected(ctx.t_react)
    await forger.hello()
    for _ in range(_claims(ctx)):  # keep claiming it, as a live forger would
        await asyncio.sleep(ctx.timers.beacon_interval)
        beacons.send_quiet(forged)
    await still_served(ctx, peer, "a forged claim on its endpoint", mark_ev, [forger.uuid_hex],
                       busy=ctx.t_react, watch=ctx.t_quiet)


@case("hostile.unconnectable-endpoint", Level.MUST, "spec/zre.md#strictness",
      "HELLOs naming endpoints nobody can connect to hurt only their senders: every message of "
      "a good peer sent between them is delivered, in order")
async def hostile_unconnectable_endpoint(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx, timers=calm(ctx))
    mark_ev = ctx.agent.mark()
    bad: list[WirePeer] = []
    for endpoint in UNCONNECTABLE:
        q = await ctx.new_peer(label=f"Pbad{len(bad) + 1}")
        await q.connect(ctx.iut_beacon_endpoint)
        if not await q.wait_connected(ctx.t_react):
            ctx.fail(f"{q.label} could not connect to the IUT within {ctx.t_react:.1f} s")
        bad.append(q)
        q.endpoint = endpoint
    bodies = [f"w{i:03d}".encode() for i in range(INTERLEAVED_WHISPERS)]
    per_bad = max(1, INTERLEAVED_WHISPERS // len(bad))
    for i, body in enumerate(bodies):
        if i % per_bad == 0 and i // per_bad < len(bad):
            q = bad[i // per_bad]
            await q.hello()
        await peer.whisper([body])
    await settle(ctx, peer, ctx.t_react)
    # the events come through the agent, behind the IUT's wire answers: wait for the last one
    last = bodies[-1].hex()
    await ctx.agent.wait_event(lambda e: e.kind == "WHISPER" and e.peer == peer.uuid_hex
                               and e.data.get("content") == [last], ctx.t_react, mark_ev)
    got = [bytes.fromhex(e.data["content"][0]) if e.data.get("content") else b""
           for e in ctx.agent.find_events(
               lambda e: e.kind == "WHISPER" and e.peer == peer.uuid_hex, mark_ev)]
    ctx.check(got == bodies, f"of {len(bodies)} WHISPERs {peer.label} sent between HELLOs with "
              f"unconnectable endpoints, the IUT delivered {len(got)}"
              + ("" if len(got) == len(bodies) else f" (missing from {_first_gap(bodies, got)})")
              + ("" if got[:len(bodies)] == bodies[:len(got)] else " out of order"))
    await still_served(ctx, peer, "HELLOs naming unconnectable endpoints", mark_ev,
                       [q.uuid_hex for q in bad])


def _first_gap(sent: Sequence[bytes], got: Sequence[bytes]) -> str:
    for s in sent:
        if s not in got:
            return s.decode()
    return "?"


@case("hostile.huge-hello", Level.MUST, "spec/zre.md#strictness",
      f"a HELLO with {HUGE_GROUPS} groups and {HUGE_HEADERS} headers does not stop the IUT "
      "serving a good peer", extra_seconds=20.0)
async def hostile_huge_hello(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx, timers=calm(ctx))
    mark_ev = ctx.agent.mark()
    big = await ctx.new_peer(label="Phuge")
    await big.connect(ctx.iut_beacon_endpoint)
    await big.wait_connected(ctx.t_react)
    msg = big.hello_msg(groups=tuple(f"h{i:05d}" for i in range(HUGE_GROUPS)),
                        headers={f"X-H{i:05d}": "v" for i in range(HUGE_HEADERS)})
    size = sum(len(f) for f in zm.encode(msg))
    await big.send_frames(zm.encode(msg), text=f"HELLO with {HUGE_GROUPS} groups, "
                          f"{HUGE_HEADERS} headers ({size} bytes)")
    # the checks start once the IUT took the HELLO in (ENTER, or its own HELLO back to Phuge)
    # or gave up on it; JOIN events for every group pass through the agent first
    busy = ctx.t_react + size / BUSY_RATE + HUGE_GROUPS / JOIN_EVENT_RATE
    m = big.mark()
    entered = await ctx.agent.wait_event(
        lambda e: e.kind in ("ENTER", "EXIT") and e.peer == big.uuid_hex, busy, mark_ev)
    if entered is None and await big.wait_msg(ctx.from_iut("HELLO"), 0.1, m) is None:
        ctx.note("note", f"the IUT neither entered Phuge nor answered it within {busy:.1f} s "
                 f"(refusing a huge HELLO is allowed)")
    await ctx.events_settle(busy)  # its JOIN events (if any) have all come through the agent
    await still_served(ctx, peer, f"a {size}-byte HELLO", mark_ev, [big.uuid_hex],
                       busy=ctx.t_react)


def _huge_frame_attack(uuid: bytes) -> bytes:
    """A ZMTP 3.1 NULL handshake as a DEALER, then a frame header declaring 2^40 bytes."""
    ready_cmd = encode_frame(encode_command(Ready({"Socket-Type": b"DEALER",
                                                   "Identity": zm.encode_identity(uuid)})),
                             command=True)
    return encode_greeting(Greeting()) + ready_cmd + frame_header(0, HUGE_FRAME_SIZE)


@case("hostile.huge-frame-header", Level.MUST, "spec/zmtp.md#limits",
      "connections that declare a 2^40-byte frame and send nothing of it do not stop the IUT "
      "serving a good peer or meeting a new one")
async def hostile_huge_frame_header(ctx: Ctx) -> None:
    iut, peer, _hello = await ready(ctx, timers=calm(ctx))
    mark_ev = ctx.agent.mark()
    host, port = (ctx.iut_beacon_endpoint or iut.endpoint)[len("tcp://"):].rsplit(":", 1)
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(HUGE_FRAME_CONNECTIONS):
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host.strip("[]"), int(port)), 3.0)
            except (OSError, asyncio.TimeoutError) as exc:
                ctx.note("note", f"attack connection refused: {exc}")
                continue
            writer.write(_huge_frame_attack(ctx.random_uuid()))
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
            writers.append(writer)
            ctx.note("tcp-out", f"raw ZMTP handshake, then a frame header declaring "
                     f"{HUGE_FRAME_SIZE} bytes (connection {len(writers)} kept open)")
        await still_served(ctx, peer, f"{len(writers)} connections declaring a 2^40-byte frame",
                           mark_ev, busy=ctx.t_react, watch=ctx.t_quiet)
        await still_works(ctx, "connections declaring a 2^40-byte frame")
        await ping_roundtrip(ctx, peer, "a new peer met the IUT beside the attack connections")
    finally:
        for writer in writers:
            writer.close()


@case("hostile.beacon-flood", Level.MUST, "spec/zre.md#beacon",
      f"beacons from {FLOOD_UUIDS} fake UUIDs do not stop the IUT serving a good peer, and "
      "give no ENTER")
async def hostile_beacon_flood(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx, timers=calm(ctx))
    mark_ev = ctx.agent.mark()
    beacons = await ctx.open_beacons()
    with contextlib.ExitStack() as stack:
        ports = [_refusing_port(stack) for _ in range(FLOOD_PORTS)]
        beacons.send(encode_beacon(Beacon(uuid=ctx.random_uuid(), port=ports[0])),
                     note=f"first of {FLOOD_UUIDS} beacons from fake UUIDs, at {FLOOD_PORTS} "
                          f"ports that refuse connections")
        fakes = [encode_beacon(Beacon(uuid=ctx.random_uuid(), port=ports[i % FLOOD_PORTS]))
                 for i in range(FLOOD_UUIDS)]
        for _round in range(FLOOD_ROUNDS):  # the fakes beacon on, as live nodes would
            for start in range(0, FLOOD_UUIDS, FLOOD_BATCH):
                for data in fakes[start:start + FLOOD_BATCH]:
                    beacons.send_quiet(data)
                await ping_roundtrip(ctx, peer, f"{start + FLOOD_BATCH} flood beacons")
            await asyncio.sleep(ctx.timers.beacon_interval)
        entered = ctx.agent.find_events(
            lambda e: e.kind == "ENTER" and e.peer != peer.uuid_hex, mark_ev)
        ctx.check(not entered, f"the IUT reported ENTER for {len(entered)} fake UUIDs that only "
                  f"beaconed (no HELLO)")
        await still_served(ctx, peer, f"a flood of {FLOOD_UUIDS} beacons", mark_ev,
                           watch=ctx.t_quiet)


def _refusing_port(stack: contextlib.ExitStack) -> int:
    """A loopback TCP port bound by the runner and never listened on: connects are refused."""
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return port
