"""`zre-ref log-collector`: join the ZRE network as a log collector (spec/zrelog.md#collector)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
import time
from typing import Any

from .collector import LEVEL_NAMES
from .publisher import ZRELOG_HEADER

log = logging.getLogger(__name__)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("log-collector", help="collect ZRE/LOG records from every node (JSON lines)")
    p.add_argument("--bind", default="tcp://127.0.0.1:*", metavar="ENDPOINT",
                   help="SUB endpoint advertised as X-ZRELOG (default %(default)s)")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--max-bytes", type=int, default=10_000_000,
                   help="rotate --out past this size; 0 = never (default %(default)s)")
    p.add_argument("--backups", type=int, default=5, help="rotated files kept (default %(default)s)")
    p.add_argument("--level", choices=sorted(LEVEL_NAMES), default="info",
                   help="keep records at this level or more severe (default %(default)s)")
    p.add_argument("--follow", action="store_true",
                   help="show a live table of events per node per second on stderr")
    p.add_argument("--name", default="log-collector", help="ZRE node name")
    p.add_argument("--no-zre", action="store_true",
                   help="only bind the SUB socket (publishers are pointed at it by hand)")
    p.set_defaults(func=_cmd_collector)


async def _main(args: argparse.Namespace) -> int:
    from ..aio.zrelog import JsonLines, LogCollector

    sink = JsonLines(args.out, max_bytes=args.max_bytes if args.out else 0, backups=args.backups)
    collector = LogCollector(sink, max_level=LEVEL_NAMES[args.level])
    endpoint = await collector.bind(args.bind)
    print(f"log-collector: SUB on {endpoint}", file=sys.stderr, flush=True)
    collector.start()
    node: Any = None
    if not args.no_zre:
        node = await _start_node(args.name, {ZRELOG_HEADER: endpoint})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                if args.follow:
                    print("\033[2J\033[H" + collector.rates.render(time.monotonic()),
                          file=sys.stderr, flush=True)
    finally:
        if node is not None:
            await node.stop()
        await collector.close()
    return 0


async def _start_node(name: str, headers: dict[str, str]) -> Any:
    """Start a ZreNode advertising ``headers`` (needs zre_ref.aio.zre)."""
    try:
        mod = importlib.import_module("zre_ref.aio.zre")
    except ModuleNotFoundError:
        log.warning("zre_ref.aio.zre is not available: collecting without ZRE discovery")
        return None
    node = mod.ZreNode(name=name, headers=headers)
    await node.start()
    return node


def _cmd_collector(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_main(args))
