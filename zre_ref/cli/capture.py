"""`zre-ref capture -o zre.pcap`: join a live ZRE network as a peer and record what it sees.

    zre-ref capture -o zre.pcap --interface eth0 --group CHAT --timeout 60
    tshark -X lua_script:zre.lua -r zre.pcap        # zre.lua from `zre-ref wireshark-dissector`

What is recorded, honestly: this runs an ordinary ZRE node (named ``zre-ref-capture`` unless
``--name``) and records its own traffic (zre_ref/capture.py): every beacon heard on the port (its
own included; read from a socket of its own beside the node's, with each datagram's real
destination), and both directions of every TCP connection it has with the other nodes — their
HELLO, JOIN/LEAVE, PING and GOODBYE, the SHOUTs to the groups given with ``--group`` and any
WHISPER to it. Other nodes see it as a peer (ENTER/EXIT). It does not see traffic between two
other nodes; for that, capture with tcpdump/dumpcap on a host in the path and open the file with
the same dissector.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..capture import UNKNOWN_DESTINATION, LoopCapture
from ..doctor import listen_socket, receive_batch
from ..pcap import PcapWriter
from ..zre.beacon import DISCOVERY_PORT
from .common import UsageError, check_interface, events_until, stop_on_signals


def add_commands(sub: Any) -> None:
    """Register `zre-ref capture` (see zre_ref.registry)."""
    p = sub.add_parser("capture", help="join a ZRE network as a peer and write what it sees as pcap")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="pcap file to write")
    p.add_argument("--interface", help="interface name or address; 'lo' for loopback")
    p.add_argument("--port", type=int, default=DISCOVERY_PORT,
                   help="UDP beacon port (default %(default)s)")
    p.add_argument("--group", action="append", default=[],
                   help="join this group, so that its SHOUTs come to us (repeatable)")
    p.add_argument("--name", default="zre-ref-capture", help="our node's name")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="stop after this many seconds (default: at Ctrl-C)")
    p.add_argument("--count", type=int, default=0,
                   help="stop after this many node events (ENTER, JOIN, SHOUT, …; 0 = never)")
    p.set_defaults(func=_cmd_capture)


async def capture(output: str, *, interface: str | None, port: int, groups: list[str],
                  name: str, timeout: float, count: int) -> tuple[int, int]:
    """Run the capturing node until ``timeout`` / ``count`` / a signal; (packets, events)."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    events = 0
    loop = asyncio.get_running_loop()
    with open(output, "wb") as fh:
        writer = PcapWriter(fh)
        beacons = listen_socket(port)

        def record_beacons() -> None:
            for data, source, _ifname, destination in receive_batch(beacons):
                writer.udp(source, (destination or UNKNOWN_DESTINATION, port), data)

        loop.add_reader(beacons.fileno(), record_beacons)
        try:
            with LoopCapture(writer, datagrams=False).installed():
                events = await _run_node(name, port, interface, groups, stop, timeout, count)
        finally:
            loop.remove_reader(beacons.fileno())
            beacons.close()
        return writer.packets, events


async def _run_node(name: str, port: int, interface: str | None, groups: list[str],
                    stop: asyncio.Event, timeout: float, count: int) -> int:
    """The capturing node: join ``groups``, count events until stop/timeout/count."""
    from ..aio.zre import ZreNode

    events = 0
    async with ZreNode(name, port=port, interface=interface) as node:
        for group in groups:
            await node.join(group)
        print(f"capturing as {node.name} {node.uuid} on {node.endpoint} (beacon port {port})",
              file=sys.stderr, flush=True)
        async for _event in events_until(node, stop, timeout):
            events += 1
            if count and events >= count:
                break
    return events


def _cmd_capture(args: argparse.Namespace) -> int:
    check_interface(args.interface)
    if args.count < 0 or args.timeout < 0:
        raise UsageError("--count and --timeout must not be negative")
    try:
        packets, events = asyncio.run(capture(
            args.output, interface=args.interface, port=args.port, groups=args.group,
            name=args.name, timeout=args.timeout, count=args.count))
    except OSError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {packets} packets ({events} node events) to {args.output}", file=sys.stderr)
    return 0
