"""`zre-ref zpipes-broker` and `zre-ref pipe read|write NAME` (spec/zpipes.md#cli)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any

from ..zpipes.broker import (
    DEFAULT_EXPIRY,
    DEFAULT_MAX_CLIENT_BYTES,
    DEFAULT_MAX_PIPE_BYTES,
    DEFAULT_MAX_REPLY_BYTES,
)
from ..zpipes.client import DEFAULT_CHUNK, PipeError
from .common import UsageError, check_endpoints

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5690"


def add_commands(sub: Any) -> None:
    p = sub.add_parser("zpipes-broker", help="run a ZPIPES broker (named pipes over ZMTP)")
    p.add_argument("--bind", action="append", metavar="ENDPOINT",
                   help=f"tcp://host:port or ipc://PATH; repeat for several (default {DEFAULT_ENDPOINT})")
    p.add_argument("--expiry", type=float, default=DEFAULT_EXPIRY,
                   help="seconds of client silence before it is dropped (default %(default)s)")
    p.add_argument("--max-pipe-bytes", type=int, default=DEFAULT_MAX_PIPE_BYTES,
                   help="bytes a pipe holds before writers wait (default %(default)s)")
    p.add_argument("--max-client-bytes", type=int, default=DEFAULT_MAX_CLIENT_BYTES,
                   help="bytes of WRITEs one client may have pending, and the largest WRITE "
                        "(default %(default)s)")
    p.add_argument("--max-reply-bytes", type=int, default=DEFAULT_MAX_REPLY_BYTES,
                   help="bytes of replies waiting to go to one client before its READs wait "
                        "(at least 1 MiB; default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every session change")
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("pipe", help="read or write a named pipe through a ZPIPES broker")
    p.add_argument("action", choices=["read", "write"],
                   help="read: pipe -> stdout; write: stdin -> pipe")
    p.add_argument("name", help="pipe name")
    p.add_argument("--broker", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help="broker endpoint (default %(default)s)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the other end (default: forever)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, help="bytes per READ/WRITE")
    p.set_defaults(func=_cmd_pipe)


async def _broker_main(args: argparse.Namespace) -> int:
    from ..aio.zpipes import ZpipesBroker

    broker = ZpipesBroker(expiry=args.expiry, max_pipe_bytes=args.max_pipe_bytes,
                           max_client_bytes=args.max_client_bytes,
                           max_reply_bytes=args.max_reply_bytes)
    for ep in args.bind or [DEFAULT_ENDPOINT]:
        real = await broker.bind(ep)
        print(f"zpipes-broker: listening on {real}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    broker.start()
    await stop.wait()
    await broker.close()
    return 0


def _cmd_broker(args: argparse.Namespace) -> int:
    check_endpoints(args.bind or [], bind=True)
    if min(args.expiry, args.max_pipe_bytes, args.max_client_bytes, args.max_reply_bytes) <= 0:
        raise UsageError("--expiry, --max-pipe-bytes, --max-client-bytes and --max-reply-bytes "
                         "must be positive")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_broker_main(args))
    except OSError as exc:
        print(f"zpipes-broker: {exc}", file=sys.stderr)
        return 1


async def _pipe_main(args: argparse.Namespace) -> int:
    from ..aio.zpipes import Pipe

    loop = asyncio.get_running_loop()
    mode = "r" if args.action == "read" else "w"
    async with Pipe(args.broker, args.name, mode, timeout=args.timeout,
                    chunk_size=args.chunk) as p:
        if mode == "w":
            fd = sys.stdin.fileno()
            while True:
                data = await loop.run_in_executor(None, os.read, fd, args.chunk)
                if not data:
                    break
                await p.write(data)
        else:
            stdout = sys.stdout.buffer
            while True:
                data = await p.read(args.chunk)
                if not data:
                    break
                await loop.run_in_executor(None, stdout.write, data)
            await loop.run_in_executor(None, stdout.flush)
    return 0


def _cmd_pipe(args: argparse.Namespace) -> int:
    check_endpoints([args.broker], bind=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_pipe_main(args))
    except PipeError as exc:
        print(f"zre-ref pipe {args.action} {args.name}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
