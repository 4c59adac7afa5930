"""Robustness: malformed messages and beacons, garbage, oversize frames (spec/zre.md#strictness).

The IUT must drop what it cannot decode and carry on: after each fault the case checks that the
agent is alive and that the IUT still works (it answers PING, or a new peer can meet it).
"""

from __future__ import annotations

import asyncio

from zre_ref.zre import messages as zm
from zre_ref.zre.beacon import Beacon, encode_beacon

from ..verdicts import Level
from . import CaseFunc, case
from .common import ping_roundtrip, raw_data_frame, ready, settle, still_works, upcoming_seq
from .context import Ctx

#: Content size of the oversize-frame case: larger than any sane default limit
OVERSIZE_BYTES = 8 * 1024 * 1024
#: Slowest rate, bytes/s, at which an IUT and its agent may take in (or drop) the oversize frame
#: before the case calls it slow: 8 MiB travel through ZMTP, the IUT and the agent's hex JSON
OVERSIZE_MIN_RATE = 1024 * 1024


def _bad_message(what: str, make: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        _iut, peer, _hello = await ready(ctx)
        seq = upcoming_seq(peer)  # a dropped message must not consume a sequence number
        frames = {
            "signature": [raw_data_frame(6, seq, signature=b"\xaa\xa0")],
            "version": [raw_data_frame(6, seq, version=3)],
            "unknown-id": [raw_data_frame(99, seq)],
            "truncated": [raw_data_frame(4, seq, b"\x10abc")],  # JOIN: group says 16, has 3
            "empty-frame": [b""],
            "garbage-frames": [b"\x00\xff" * 7, b"junk", b""],
        }[make]
        await peer.send_frames(frames, text=f"{what} {[f[:24].hex() for f in frames]}")
        await ping_roundtrip(ctx, peer, what)
    return run


for _id, _what, _make in (
    ("robust.bad-signature", "a message with signature AA A0", "signature"),
    ("robust.bad-version", "a message with version 3", "version"),
    ("robust.unknown-id", "a message with unknown id 99", "unknown-id"),
    ("robust.truncated", "a truncated JOIN", "truncated"),
    ("robust.empty-frame", "an empty frame", "empty-frame"),
    ("robust.garbage-frames", "three frames of garbage", "garbage-frames"),
):
    case(_id, Level.MUST, "spec/zre.md#strictness",
         f"{_what} is dropped; the peer stays and PING still works")(_bad_message(_what, _make))


@case("robust.before-hello", Level.MUST, "spec/zre.md#harmony",
      "messages before HELLO are ignored; HELLO afterwards is accepted")
async def robust_before_hello(ctx: Ctx) -> None:
    iut = await ctx.start_iut()
    peer = await ctx.new_peer()
    mark = ctx.agent.mark()
    await peer.connect(iut.endpoint)
    group = ctx.random_name("early")
    await peer.send(zm.Join(sequence=peer.next_seq(), group=group, status=1))
    await peer.send(zm.Whisper(sequence=peer.next_seq(), content=(b"too early",)))
    early = await ctx.agent.wait_event(lambda e: e.peer == peer.uuid_hex, 0.3 + ctx.t_lag, mark)
    ctx.check(early is None, f"the IUT reported {early.kind if early else ''} before our HELLO")
    peer.seq = 0
    await peer.hello()
    await ctx.expect_event("ENTER", peer.uuid_hex, ctx.t_discover, mark,
                           what="no ENTER after our (late) HELLO")
    bad = ctx.agent.find_events(lambda e: e.peer == peer.uuid_hex and e.kind in ("WHISPER", "JOIN"),
                                mark)
    ctx.check(not bad, f"the IUT delivered pre-HELLO messages: {[e.kind for e in bad]}")


@case("robust.status-mismatch", Level.MUST, "spec/zre.md#status",
      "a JOIN with an unexpected status does not crash the IUT")
async def robust_status_mismatch(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    await peer.send(zm.Join(sequence=peer.next_seq(), group=ctx.random_name("sm"),
                            status=(peer.status + 7) % 256))
    await settle(ctx, peer, ctx.t_react)
    await still_works(ctx, "a status mismatch")


@case("robust.oversize-frame", Level.MUST, "spec/zre.md#strictness",
      "an 8 MiB WHISPER frame does not crash the IUT", extra_seconds=30.0)
async def robust_oversize(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    big = ctx.random_bytes(64) * (OVERSIZE_BYTES // 64)
    mark = ctx.agent.mark()
    await peer.send(zm.Whisper(sequence=peer.next_seq(), content=(big,)))
    # The clock of the check below starts only once the IUT is done with the big frame: it
    # delivered it (WHISPER event, through the agent's hex JSON), dropped us (EXIT), or answers
    # a PING sent after it. Taking it may be slow; doing nothing about it is allowed.
    busy = ctx.t_react + len(big) / OVERSIZE_MIN_RATE
    done = await ctx.agent.wait_event(
        lambda e: e.peer == peer.uuid_hex and e.kind in ("WHISPER", "EXIT"), busy, mark)
    if done is None:
        ctx.note("note", f"no WHISPER or EXIT for the {len(big)}-byte frame within {busy:.1f} s")
        await settle(ctx, peer, busy)
    else:
        ctx.note("note", f"the IUT answered the big frame with {done.kind}")
    await still_works(ctx, f"a {len(big)}-byte frame")


@case("robust.tcp-garbage", Level.MUST, "spec/zre.md#strictness",
      "random bytes on the IUT's TCP port do not crash it")
async def robust_tcp_garbage(ctx: Ctx) -> None:
    from ..peer import raw_tcp

    iut = await ctx.start_iut()
    host, port = iut.endpoint[len("tcp://"):].rsplit(":", 1)
    for size in (1, 64, 4096):
        data = ctx.random_bytes(size)
        ctx.note("tcp-out", f"raw TCP garbage ({size} bytes) {data[:16].hex()}...")
        try:
            await raw_tcp(host.strip("[]"), int(port), data)
        except OSError as exc:
            ctx.note("note", f"raw connection: {exc}")
    ctx.note("tcp-out", "a ZMTP greeting then garbage")
    try:
        await raw_tcp(host.strip("[]"), int(port),
                      b"\xff" + bytes(8) + b"\x7f\x03\x01NULL" + bytes(16) + bytes(32) + ctx.random_bytes(512))
    except OSError as exc:
        ctx.note("note", f"raw connection: {exc}")
    await still_works(ctx, "garbage on the TCP port")


@case("robust.bad-identity", Level.MUST, "spec/zre.md#identity",
      "a HELLO from a DEALER whose identity is not 17 bytes is ignored")
async def robust_bad_identity(ctx: Ctx) -> None:
    iut = await ctx.start_iut()
    peer = await ctx.new_peer()
    mark = ctx.agent.mark()
    ctx.blame_iut_for("peer", "the IUT took the 6-byte DEALER identity 01 'short' the case "
                      "sent as a peer (spec/zre.md#identity: 17 bytes, 0x01 + UUID)")
    await peer.connect(iut.endpoint, identity=b"\x01short")
    await peer.hello()
    bad = await ctx.no_event("ENTER", peer.uuid_hex, ctx.t_quiet, mark)
    ctx.check(bad is None, "the IUT accepted a HELLO whose identity frame is 6 bytes")
    odd = ctx.agent.find_events(lambda e: e.kind == "ENTER", mark)
    ctx.check(not odd, f"the IUT reported ENTER for {[e.peer for e in odd]} after a HELLO "
              f"whose identity frame is 6 bytes")
    await still_works(ctx, "a HELLO with a 6-byte identity")


def _bad_beacon(what: str, make: str) -> CaseFunc:
    async def run(ctx: Ctx) -> None:
        await ctx.start_iut()
        await ctx.iut_beacon()
        decoy = await ctx.new_peer(label="Pdecoy")
        good = encode_beacon(Beacon(uuid=decoy.uuid, port=decoy.port))
        data = {
            "size": good + b"\x00",
            "short": good[:21],
            "prefix": b"ZRF" + good[3:],
            "version": good[:3] + b"\x02" + good[4:],
            "curve": encode_beacon(Beacon(version=3, uuid=decoy.uuid, port=decoy.port,
                                          public_key=ctx.random_bytes(32))),
        }[make]
        beacons = await ctx.open_beacons()
        mark = decoy.mark()
        for _ in range(3):
            beacons.send(data, note=what)
            await asyncio.sleep(ctx.timers.beacon_interval / 2)
        got = await decoy.wait_msg(lambda r: True, ctx.t_quiet, mark)
        ctx.check(got is None, f"the IUT connected to the sender of {what}")
        await still_works(ctx, what)
    return run


for _id, _what, _make, _level in (
    ("robust.beacon-size", "a 23-byte beacon", "size", Level.MUST),
    ("robust.beacon-short", "a 21-byte beacon", "short", Level.MUST),
    ("robust.beacon-prefix", "a beacon starting 'ZRF'", "prefix", Level.MUST),
    ("robust.beacon-version", "a beacon with version 0x02", "version", Level.MUST),
    ("robust.beacon-curve", "a 54-byte CURVE (version 3) beacon", "curve", Level.SHOULD),
):
    case(_id, _level, "spec/zre.md#beacon",
         f"{_what} is ignored and does not crash the IUT")(_bad_beacon(_what, _make))


@case("robust.beacon-short-known", Level.MUST, "spec/zre.md#beacon",
      "a 21-byte beacon from a KNOWN peer is ignored: no EXIT (it is not a port-0 beacon), the "
      "peer is still served")
async def robust_beacon_short_known(ctx: Ctx) -> None:
    _iut, peer, _hello = await ready(ctx)
    mark_ev = ctx.agent.mark()
    short = peer.beacon_bytes()[:21]
    beacons = await ctx.open_beacons()
    for _ in range(3):
        beacons.send(short, note=f"{peer.label}'s own beacon cut to 21 bytes")
        await asyncio.sleep(ctx.timers.beacon_interval / 2)
    bad = await ctx.no_event("EXIT", peer.uuid_hex, ctx.t_quiet, mark_ev)
    ctx.check(bad is None, f"a 21-byte beacon from the known {peer.label} made the IUT drop it "
              f"(EXIT), as if it were a port-0 beacon")
    await ping_roundtrip(ctx, peer, "a 21-byte beacon from a known peer")
