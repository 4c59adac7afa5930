"""CURVE mode as zyre runs it (spec/zre.md#curve-mode-zyre): the IUT's 54-byte beacon carries the
key its CURVE handshake then proves, plaintext is refused, and a peer that breaks CurveZMQ
(spec/curve.md) only loses its own link (capability `curve`)."""

from __future__ import annotations

from zre_ref.curve import z85_encode
from zre_ref.zmtp.frames import COMMAND, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting
from zre_ref.zre.beacon import BEACON_SIZE_CURVE, BEACON_VERSION_CURVE

from ..peer import WirePeer, raw_curve_client, raw_tcp
from ..verdicts import Level
from . import case
from .common import ping_roundtrip
from .context import Ctx, Iut, curve_pair
from .hostile import calm


def _host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return host, int(port)


async def _curve_ready(ctx: Ctx) -> tuple[Iut, WirePeer, bytes]:
    """Start the IUT in CURVE mode and let one CURVE runner peer meet it; returns the IUT's
    public key (raw)."""
    public, secret = curve_pair()
    iut = await ctx.start_iut(curve=(public, secret), timers=calm(ctx))
    peer = await ctx.new_peer(curve_serverkey=public)
    await ctx.meet(peer)
    return iut, peer, public


@case("curve.handshake", Level.MUST, "spec/zre.md#curve-mode-zyre",
      "in CURVE mode the IUT's beacon is 54 bytes, version 3, with the public key it was started "
      "with; a CURVE handshake with that server key completes: ENTER both sides, WHISPER both ways",
      needs=("curve",))
async def curve_handshake(ctx: Ctx) -> None:
    public, secret = curve_pair()
    iut = await ctx.start_iut(curve=(public, secret))
    seen = await ctx.iut_beacon()
    ctx.check(len(seen.data) == BEACON_SIZE_CURVE,
              f"beacon is {len(seen.data)} bytes, expected {BEACON_SIZE_CURVE} in CURVE mode")
    b = seen.beacon
    ctx.check(b is not None and b.version == BEACON_VERSION_CURVE,
              f"beacon version byte {seen.data[3]:#04x}, expected 0x03 in CURVE mode")
    ctx.check(b is not None and b.public_key == public,
              f"the beacon carries key {seen.data[22:].hex()}, `start` gave {public.hex()}")
    peer = await ctx.new_peer(curve_serverkey=public)
    await ctx.meet(peer)  # HELLO on our CURVE ROUTER, ENTER at the IUT over our CURVE DEALER
    mark_ev = ctx.agent.mark()
    await peer.whisper([b"to-iut"])
    await ctx.expect_event("WHISPER", peer.uuid_hex, since=mark_ev,
                           pred=lambda e: e.data.get("content") == [b"to-iut".hex()],
                           what="our WHISPER over the CURVE link did not reach the IUT")
    mark = peer.mark()
    await ctx.agent.request("whisper", peer=peer.uuid_hex, content=[b"to-runner".hex()])
    got = await ctx.expect_msg(peer, "WHISPER", since=mark,
                               what="the IUT's WHISPER did not come over the CURVE link")
    ctx.check(got.frames[1:] == [b"to-runner"], f"WHISPER content {got.frames[1:]!r}")
    ctx.check(iut.uuid == seen.data[4:20], "beacon UUID is not the UUID `start` reported")


@case("curve.plaintext-refused", Level.MUST, "spec/curve.md#greeting",
      "in CURVE mode the IUT's ROUTER refuses a plaintext (NULL) connection: no handshake, no ENTER",
      needs=("curve",))
async def curve_plaintext_refused(ctx: Ctx) -> None:
    public, secret = curve_pair()
    iut = await ctx.start_iut(curve=(public, secret))
    # a key in the HELLO, so that only the mechanism stands between this peer and an ENTER
    plain = await ctx.new_peer(label="Pnull", headers={
        "X-PUBLICKEY": z85_encode(curve_pair()[0]).decode()})
    mark_ev = ctx.agent.mark()
    await plain.connect(iut.endpoint)
    ctx.check(not await plain.wait_connected(ctx.t_react),
              "the IUT's CURVE ROUTER completed a NULL handshake with our plaintext DEALER")
    await plain.hello()
    entered = await ctx.no_event("ENTER", plain.uuid_hex, ctx.t_react, mark_ev)
    ctx.check(entered is None, "a plaintext peer's HELLO made the IUT report ENTER")


@case("curve.tampered-box", Level.MUST, "spec/curve.md#message",
      "a MESSAGE box that does not open makes the IUT drop that connection; it keeps serving "
      "another CURVE peer", needs=("curve",))
async def curve_tampered_box(ctx: Ctx) -> None:
    iut, peer, public = await _curve_ready(ctx)
    host, port = _host_port(iut.endpoint)
    try:
        closed = await raw_curve_client(host, port, public, curve_pair(), tamper=True,
                                        timeout=ctx.t_react)
    except (OSError, TimeoutError) as exc:
        ctx.fail(f"our raw CURVE client's handshake with the IUT failed: {exc!r}")
    ctx.check(closed, f"the IUT kept the connection open {ctx.t_react:.1f} s after a MESSAGE "
              "box that does not open")
    await ping_roundtrip(ctx, peer, "a tampered MESSAGE box on another connection")


@case("curve.handshake-garbage", Level.MUST, "spec/curve.md#state-machine",
      "garbage in place of a CURVE HELLO: the IUT survives, keeps serving its CURVE peer and "
      "still meets a new one", needs=("curve",))
async def curve_handshake_garbage(ctx: Ctx) -> None:
    iut, peer, public = await _curve_ready(ctx)
    host, port = _host_port(iut.endpoint)
    junk = ctx.random_bytes(200)
    attack = encode_greeting(Greeting(mechanism="CURVE")) + frame_header(COMMAND, len(junk)) + junk
    await raw_tcp(host, port, attack)
    await raw_tcp(host, port, attack[:64] + b"\x04\x05HELLO")  # cut short
    ctx.alive()
    await ping_roundtrip(ctx, peer, "garbage during a CURVE handshake")
    fresh = await ctx.new_peer(label="Pcheck", curve_serverkey=public)
    await ctx.meet(fresh)
