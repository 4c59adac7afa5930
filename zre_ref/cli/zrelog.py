"""`zre-ref log-collector`: join the ZRE network as a log collector (spec/zrelog.md#collector).

    zre-ref log-collector --interface lo                    # JSON lines on stdout
    zre-ref log-collector --out zre.log --max-bytes 1000000 --backups 5 --level warning
    zre-ref log-collector --no-beacon --connect tcp://127.0.0.1:40000   # direct mode, no UDP
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

from ..aio import cancel_and_wait
from ..zre.node import EVASIVE_TIMEOUT, EXPIRED_TIMEOUT
from ..zrelog.collector import LEVEL_NAMES
from ..zrelog.publisher import ZRELOG_HEADER
from .common import add_discovery_options, check_endpoints, check_interface, headers_from_args

log = logging.getLogger(__name__)


def add_commands(sub: Any) -> None:
    """Register log-collector (see zre_ref.registry)."""
    p = sub.add_parser("log-collector", help="collect ZRE/LOG records from every node (JSON lines)")
    p.add_argument("--bind", metavar="ENDPOINT",
                   help="SUB endpoint advertised as X-ZRELOG (default tcp://<interface address>:*)")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--max-bytes", type=int, default=10_000_000,
                   help="rotate --out before it passes this size; 0 = never (default %(default)s)")
    p.add_argument("--backups", type=int, default=5, help="rotated files kept (default %(default)s)")
    p.add_argument("--level", choices=sorted(LEVEL_NAMES), default="info",
                   help="keep records at this level or more severe (default %(default)s)")
    p.add_argument("--follow", action="store_true",
                   help="redraw a table of events per node per second on stderr")
    p.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS",
                   help="exit after this many seconds (default: run until SIGINT/SIGTERM)")
    # the ZRE node, with the options of `zre-ref listen` (zre_ref/cli/zre.py)
    p.add_argument("--name", default="log-collector", help="ZRE node name (default %(default)s)")
    p.add_argument("--header", action="append", default=[], metavar="KEY=VALUE",
                   help="extra header sent in HELLO (repeatable)")
    add_discovery_options(p)
    p.add_argument("--evasive", type=float, default=EVASIVE_TIMEOUT, metavar="SECONDS")
    p.add_argument("--expired", type=float, default=EXPIRED_TIMEOUT, metavar="SECONDS")
    p.add_argument("--no-zre", action="store_true",
                   help="only bind the SUB socket (publishers are pointed at it by hand)")
    p.add_argument("-v", "--verbose", action="store_true", help="log node activity to stderr")
    p.set_defaults(func=_cmd_collector)


def sub_endpoints(args: argparse.Namespace) -> tuple[str, str | None]:
    """Where to bind the SUB, and the host to advertise instead of a wildcard (or None)."""
    if args.bind:
        return args.bind, None
    if args.no_beacon and not args.interface:
        return "tcp://127.0.0.1:*", None
    from ..aio.beacon import plan, primary_address

    host = plan(args.interface).host
    if host == "0.0.0.0":
        return "tcp://0.0.0.0:*", primary_address()
    return (f"tcp://[{host}]:*" if ":" in host else f"tcp://{host}:*"), None


def advertised(bound: str, host: str | None) -> str:
    """The endpoint the collector names in X-ZRELOG: ``bound`` with ``host`` (or, for a wildcard
    bind, this host's primary address) in place of a wildcard (spec/zrelog.md#discovery)."""
    scheme_host, _, port = bound.rpartition(":")
    if host is None and scheme_host.endswith("//0.0.0.0"):
        from ..aio.beacon import primary_address

        host = primary_address()
    return f"tcp://{host}:{port}" if host is not None else bound


async def _drain_node(node: Any, verbose: bool) -> None:
    """Read the collector node's own events (a node that is not read stops reading its peers)."""
    with contextlib.suppress(EOFError):
        while True:
            ev = await node.recv()
            if verbose:
                log.info("%s %s (%s)", ev.type, ev.peer_name, ev.peer_uuid[:8])


async def _main(args: argparse.Namespace) -> int:
    from ..aio.zrelog import JsonLines, LogCollector
    headers = headers_from_args(args.header)
    sink = JsonLines(args.out, max_bytes=args.max_bytes if args.out else 0, backups=args.backups)
    collector = LogCollector(sink, max_level=LEVEL_NAMES[args.level])
    bind, host = sub_endpoints(args)
    endpoint = advertised(await collector.bind(bind), host)
    collector.start()
    node: Any = None
    drainer: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if not args.no_zre:
            from ..aio.zre import ZreNode

            node = ZreNode(args.name, {**headers, ZRELOG_HEADER: endpoint}, port=args.port,
                           interface=args.interface, beacon_interval=args.beacon_interval,
                           beacon=not args.no_beacon, connect=args.connect,
                           evasive=args.evasive, expired=args.expired)
            await node.start()
            drainer = asyncio.create_task(_drain_node(node, args.verbose))
            print(f"log-collector: SUB on {endpoint}; ZRE node {node.name} {node.uuid} on "
                  f"{node.endpoint}", file=sys.stderr, flush=True)
        else:
            print(f"log-collector: SUB on {endpoint}", file=sys.stderr, flush=True)
        deadline = loop.time() + args.timeout if args.timeout > 0 else None
        while not stop.is_set():
            wait = 1.0 if deadline is None else min(1.0, deadline - loop.time())
            if wait <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if args.follow:
                print("\033[2J\033[H" + collector.rates.render(time.monotonic()),
                      file=sys.stderr, flush=True)
    finally:
        if node is not None:
            await node.stop()
        await cancel_and_wait(drainer)
        await collector.close()
        core = collector.core
        print(f"log-collector: {core.received} records received, {core.filtered} filtered, "
              f"{core.malformed} malformed", file=sys.stderr, flush=True)
    return 0


def _cmd_collector(args: argparse.Namespace) -> int:
    check_endpoints([args.bind] if args.bind else [], bind=True)
    check_endpoints(args.connect, bind=False)
    check_interface(args.interface)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(args))
