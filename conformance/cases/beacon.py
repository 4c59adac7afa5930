"""Beacon cases: format, interval, port-0 on stop, discovery from a beacon (spec/zre.md#beacon)."""

from __future__ import annotations

import asyncio
import itertools

from zre_ref.zre.beacon import BEACON_PREFIX, BEACON_SIZE, BEACON_VERSION

from ..verdicts import Level
from . import case
from .common import ready
from .context import Ctx


@case("beacon.format", Level.MUST, "spec/zre.md#beacon",
      "the IUT's beacon is 22 bytes: 'ZRE', version 0x01, its UUID, its TCP port")
async def beacon_format(ctx: Ctx) -> None:
    iut = await ctx.start_iut()
    seen = await ctx.iut_beacon()
    data, b = seen.data, seen.beacon
    if b is None:  # iut_beacon() only returns decoded beacons
        ctx.fail(f"the IUT's beacon did not decode: {data.hex()}")
    ctx.check(len(data) == BEACON_SIZE, f"beacon is {len(data)} bytes, expected {BEACON_SIZE}")
    ctx.check(data[:3] == BEACON_PREFIX, f"beacon starts {data[:3].hex()}, expected 5a5245")
    ctx.check(data[3] == BEACON_VERSION, f"beacon version byte {data[3]:#04x}, expected 0x01")
    ctx.check(b.uuid == iut.uuid, f"beacon UUID {b.uuid.hex().upper()} is not the UUID `start` "
              f"reported ({iut.uuid_hex})")
    port = int(iut.endpoint.rsplit(":", 1)[1])
    ctx.check(b.port == port, f"beacon announces port {b.port}, but the IUT's endpoint is "
              f"{iut.endpoint}")


@case("beacon.interval", Level.SHOULD, "spec/zre.md#beacon",
      "the IUT beacons at once on start, then about once per declared interval")
async def beacon_interval(ctx: Ctx) -> None:
    beacons = await ctx.open_beacons()
    mark = len(beacons.seen)
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    iut = await ctx.start_iut()
    interval = ctx.timers.beacon_interval
    first = await ctx.iut_beacon(since=mark)
    delay = first.t - t_start
    ctx.check(delay <= interval + ctx.cfg.slack,
              f"first beacon came {delay:.2f} s after start; expected at once (interval {interval:.2f} s)")

    def rounds() -> list[float]:
        times: list[float] = []
        for s in beacons.seen[mark:]:
            if s.beacon is None or s.beacon.uuid != iut.uuid or s.beacon.port == 0:
                continue
            # one beacon round may reach us twice (broadcast and multicast): count it once
            if not times or s.t - times[-1] > min(0.02, interval / 4):
                times.append(s.t)
        return times

    # watch until six rounds came, or for ten intervals (and the slack) at most
    window = 10 * interval + ctx.cfg.slack
    deadline = loop.time() + window
    while len(rounds()) < 6 and loop.time() < deadline:
        await beacons.wait(lambda s: True, deadline - loop.time(), len(beacons.seen), ctx.alive)
    times = rounds()
    ctx.check(len(times) >= 3, f"only {len(times)} beacons in {window:.2f} s "
              f"(declared interval {interval:.2f} s)")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    ctx.check(0.5 * interval <= mean <= 1.5 * interval + 0.05,
              f"mean beacon interval {mean:.3f} s, declared {interval:.3f} s")


@case("beacon.stop-port-zero", Level.SHOULD, "spec/zre.md#beacon",
      "on stop the IUT sends a beacon with port 0", needs=("beacon-stop",))
async def beacon_stop(ctx: Ctx) -> None:
    iut = await ctx.start_iut()
    await ctx.iut_beacon()
    beacons = await ctx.open_beacons()
    mark = len(beacons.seen)
    await ctx.stop_iut()
    got = await beacons.wait(lambda s: s.beacon is not None and s.beacon.uuid == iut.uuid
                             and s.beacon.port == 0, ctx.t_react, mark, ctx.alive)
    ctx.check(got is not None, f"no port-0 beacon within {ctx.t_react:.1f} s of `stop`")


@case("beacon.discovery", Level.MUST, "spec/zre.md#harmony",
      "a beacon from a new peer makes the IUT connect and send HELLO", two_party=True)
async def beacon_discovery(ctx: Ctx) -> None:
    await ctx.start_iut()
    peer = await ctx.new_peer()
    await ctx.iut_beacon()
    mark = peer.mark()
    peer.start_beacon(ctx.timers.beacon_interval)
    await ctx.expect_msg(peer, "HELLO", ctx.t_discover, mark,
                         what=f"no HELLO on our ROUTER within {ctx.t_discover:.1f} s of our beacon")


@case("beacon.port-zero-exit", Level.MUST, "spec/zre.md#beacon",
      "a port-0 beacon from a known peer makes the IUT report EXIT", two_party=True)
async def beacon_port_zero_exit(ctx: Ctx) -> None:
    _iut, peer, _ = await ready(ctx)
    mark = ctx.agent.mark()
    peer.stop_beacon(leaving=True)
    await ctx.expect_event("EXIT", peer.uuid_hex, ctx.t_react, mark,
                           what=f"no EXIT within {ctx.t_react:.1f} s of our port-0 beacon")
