"""Helpers shared by the `zre-ref` sub-commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

from ..zre.beacon import DISCOVERY_PORT
from ..zre.node import BEACON_INTERVAL


class UsageError(Exception):
    """Bad command-line input: `zre-ref` prints the message on one line and exits 2."""


def headers_from_args(items: list[str]) -> dict[str, str]:
    """``--header KEY=VALUE`` arguments -> a header dict (spec/zre.md#cli)."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"header must be KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def check_endpoints(endpoints: list[str], *, bind: bool) -> None:
    """Refuse a malformed ``tcp://host:port`` / ``ipc://path`` before anything starts."""
    from ..aio.zmtp import parse_endpoint

    for endpoint in endpoints:
        try:
            parse_endpoint(endpoint, bind=bind)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def check_interface(interface: str | None) -> None:
    """Refuse an interface name or address the beacon cannot use (spec/zre.md#cli)."""
    if interface is None:
        return
    from ..aio.beacon import plan

    try:
        plan(interface)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT or SIGTERM (where the loop supports signal handlers)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def events_until(node: Any, stop: asyncio.Event, timeout: float = 0.0) -> AsyncIterator[Any]:
    """A node's events (``await node.recv()``) until ``stop`` is set or ``timeout`` seconds
    (0: no limit) have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    while not stop.is_set():
        wait = None if deadline is None else deadline - loop.time()
        if wait is not None and wait <= 0:
            return
        recv = asyncio.ensure_future(node.recv())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({recv, stopper}, timeout=wait,
                                     return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if recv not in done:
            recv.cancel()
            with contextlib.suppress(asyncio.CancelledError, EOFError):
                await recv
            continue
        yield recv.result()


def add_discovery_options(p: argparse.ArgumentParser) -> None:
    """How a node finds peers: UDP beacons (spec/zre.md#beacon) or direct connections."""
    p.add_argument("--port", type=int, default=DISCOVERY_PORT,
                   help="UDP beacon port (default %(default)s)")
    p.add_argument("--interface", help="interface name or address; 'lo' for loopback, '*' for all")
    p.add_argument("--beacon-interval", type=float, default=BEACON_INTERVAL, metavar="SECONDS")
    p.add_argument("--no-beacon", action="store_true", help="no UDP discovery (direct mode)")
    p.add_argument("--connect", action="append", default=[], metavar="ENDPOINT",
                   help="connect directly to this peer ROUTER endpoint (repeatable)")
