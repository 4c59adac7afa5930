"""`zre-ref listen | chat | shout`: a ZRE node from the command line (spec/zre.md#cli).

    zre-ref listen --json --interface lo          # every event as a JSON line
    zre-ref chat --group CHAT --name alice        # shout stdin lines, print what arrives
    zre-ref shout CHAT "hello" --interface lo     # wait for a peer in CHAT, shout once, exit
    zre-ref listen --no-beacon --connect tcp://127.0.0.1:40000    # direct mode, no UDP
    zre-ref listen --gossip-bind tcp://127.0.0.1:5670              # gossip discovery hub
    zre-ref chat --group CHAT --gossip-connect tcp://127.0.0.1:5670   # a node on that hub
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncGenerator
from typing import Any

from ..zre.events import (
    LeaderElected,
    PeerEntered,
    PeerExited,
    PeerJoined,
    PeerLeft,
    ShoutReceived,
    WhisperReceived,
    ZreEvent,
)
from ..zre.node import EVASIVE_TIMEOUT, EXPIRED_TIMEOUT
from .common import (
    add_discovery_options,
    check_endpoints,
    check_interface,
    events_until,
    headers_from_args,
    stop_on_signals,
)
from .curve import load_keyfile


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="node name (default: first 6 hex digits of the UUID)")
    p.add_argument("--header", action="append", default=[], metavar="KEY=VALUE",
                   help="header sent in HELLO (repeatable)")
    p.add_argument("--group", action="append", default=[], help="join this group (repeatable)")
    add_discovery_options(p)
    p.add_argument("--bind", metavar="ENDPOINT", help="ROUTER endpoint (default tcp://<interface>:*)")
    p.add_argument("--gossip-bind", metavar="ENDPOINT",
                   help="serve gossip discovery here; turns beacons off (spec/zgossip.md#zyre)")
    p.add_argument("--gossip-connect", action="append", default=[], metavar="ENDPOINT",
                   help="discover peers through this gossip service (repeatable); beacons off")
    p.add_argument("--evasive", type=float, default=EVASIVE_TIMEOUT, metavar="SECONDS")
    p.add_argument("--expired", type=float, default=EXPIRED_TIMEOUT, metavar="SECONDS")
    p.add_argument("--curve-keyfile", metavar="FILE",
                   help="CURVE mode like zyre's zyre_set_zcert: the node's key pair, as written "
                        "by `zre-ref keygen --out FILE` (or a czmq zcert secret file)")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr")


def add_commands(sub: Any) -> None:
    """Register listen, chat and shout (see zre_ref.registry)."""
    p = sub.add_parser("listen", help="run a ZRE node and print every event")
    _common(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--count", type=int, default=0, help="exit after this many events (0 = never)")
    p.add_argument("--timeout", type=float, default=0.0, help="exit after this many seconds")
    p.set_defaults(func=_cmd_listen)
    p = sub.add_parser("chat", help="join a group, shout each stdin line, print what arrives")
    _common(p)
    p.set_defaults(func=_cmd_chat)
    p = sub.add_parser("shout", help="wait for a peer in GROUP, shout MESSAGE once, exit")
    _common(p)
    p.add_argument("target_group", metavar="GROUP")
    p.add_argument("message", metavar="MESSAGE")
    p.add_argument("--wait", type=float, default=5.0,
                   help="seconds to wait for a peer in GROUP (default %(default)s); exit 1 if none")
    p.set_defaults(func=_cmd_shout)


def _node(args: argparse.Namespace) -> Any:
    from ..aio.zre import ZreNode

    check_endpoints([args.bind] if args.bind else [], bind=True)
    check_endpoints(args.connect + args.gossip_connect, bind=False)
    check_endpoints([args.gossip_bind] if args.gossip_bind else [], bind=True)
    check_interface(args.interface)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    public, secret = load_keyfile(args.curve_keyfile) if args.curve_keyfile else (None, None)
    return ZreNode(args.name, headers_from_args(args.header), port=args.port,
                   interface=args.interface,
                   beacon_interval=args.beacon_interval, beacon=not args.no_beacon,
                   connect=args.connect, bind=args.bind, evasive=args.evasive,
                   expired=args.expired, gossip_bind=args.gossip_bind,
                   gossip_connect=args.gossip_connect, curve_publickey=public,
                   curve_secretkey=secret)


def format_event(event: ZreEvent) -> str:
    """One human-readable line per event."""
    who = f"{event.peer_name} ({event.peer_uuid[:8]})"
    if isinstance(event, PeerEntered):
        return f"{event.type} {who} {event.endpoint} {json.dumps(event.headers)}"
    if isinstance(event, (PeerJoined, PeerLeft, LeaderElected)):
        return f"{event.type} {who} {event.group}"
    if isinstance(event, ShoutReceived):
        return f"{event.type} {who} {event.group}: " + " | ".join(_text(c) for c in event.content)
    if isinstance(event, WhisperReceived):
        return f"{event.type} {who}: " + " | ".join(_text(c) for c in event.content)
    return f"{event.type} {who}"


def _text(frame: bytes) -> str:
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + frame.hex()


async def _listen(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with _node(args) as node:
        for g in args.group:
            await node.join(g)
        print(json.dumps({"event": "READY", "uuid": node.uuid, "name": node.name,
                          "endpoint": node.endpoint}) if args.json
              else f"listening as {node.name} {node.uuid} on {node.endpoint}", flush=True)
        seen = 0
        async for event in events_until(node, stop, args.timeout):
            print(json.dumps(event.to_json(), ensure_ascii=False) if args.json
                  else format_event(event), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                break
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    return asyncio.run(_listen(args))


async def _stdin_lines() -> AsyncGenerator[str, None]:
    """Lines of stdin without blocking the loop (a pipe or terminal), or of a regular file."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except ValueError:  # stdin is a regular file: reading it never blocks for long
        for text in sys.stdin:
            yield text
        return
    try:
        while line := await reader.readline():
            yield line.decode("utf-8", "replace")
    finally:
        transport.close()


async def _chat(args: argparse.Namespace) -> int:
    groups = args.group or ["CHAT"]
    lines = _stdin_lines()
    async with _node(args) as node:
        for g in groups:
            await node.join(g)
        print(f"chatting in {', '.join(groups)} as {node.name}; end with Ctrl-D", flush=True)

        async def show() -> None:
            while True:
                ev = await node.recv()
                if isinstance(ev, (ShoutReceived, WhisperReceived, PeerEntered, PeerExited)):
                    print(format_event(ev), flush=True)

        shower = asyncio.create_task(show())
        try:
            async for line in lines:
                text = line.rstrip("\r\n")
                if text:
                    await node.shout(groups[0], text)
        finally:
            await lines.aclose()
            shower.cancel()
            with contextlib.suppress(asyncio.CancelledError, EOFError):
                await shower
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat(args))


async def _shout(args: argparse.Namespace) -> int:
    async with _node(args) as node:
        for g in args.group:
            await node.join(g)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.wait
        while not node.peers_by_group(args.target_group):
            if loop.time() >= deadline:
                print(f"zre-ref shout: no peer in {args.target_group} after {args.wait}s",
                      file=sys.stderr)
                return 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(node.recv(), max(0.0, deadline - loop.time()))
        peers = node.peers_by_group(args.target_group)
        await node.shout(args.target_group, args.message)
        await asyncio.sleep(0.05)  # let the DEALERs write before we close them
        print(f"shouted to {len(peers)} peer(s) in {args.target_group}", file=sys.stderr)
    return 0


def _cmd_shout(args: argparse.Namespace) -> int:
    return asyncio.run(_shout(args))
