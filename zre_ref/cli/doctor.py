"""`zre-ref doctor`: listen for ZRE nodes, greet each once, report what would stop them meeting.

    zre-ref doctor                       # every interface, port 5670, 3 seconds
    zre-ref doctor --interface eth0 --port 5670 --port 5671 --duration 5 --json
    zre-ref doctor --ipv6                # IPv6 beacons too (ff02::1 on every interface)

Sends nothing but one HELLO per node heard, one port-0 beacon to it afterwards, and one ZMTP
greeting to its mailbox to read the mechanism it wants (zre_ref/doctor.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..aio.beacon import interfaces
from ..zre.beacon import DISCOVERY_PORT
from .common import UsageError


def add_commands(sub: Any) -> None:
    """Register `zre-ref doctor` (see zre_ref.registry)."""
    p = sub.add_parser("doctor", help="listen for ZRE nodes, greet each once, report problems")
    p.add_argument("--interface", help="only this interface (name or IPv4 address); default all")
    p.add_argument("--port", type=int, action="append", default=[],
                   help=f"UDP beacon port to listen on (repeatable; default {DISCOVERY_PORT})")
    p.add_argument("--duration", type=float, default=3.0, help="seconds to listen (default 3)")
    p.add_argument("--hello-wait", type=float, default=3.0,
                   help="seconds each node has to answer our HELLO (default 3)")
    p.add_argument("--ipv6", action="store_true",
                   help="listen for IPv6 beacons too (group ff02::1 on every interface)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(func=_cmd_doctor)


def _interface_name(text: str | None) -> str | None:
    if text is None:
        return None
    for name, _flags, addr, _bcast in interfaces():
        if text in (name, addr):
            return name
    raise UsageError(f"no interface {text!r}")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import diagnose, render_text

    if args.duration <= 0 or args.hello_wait <= 0:
        raise UsageError("--duration and --hello-wait must be positive")
    if any(not 0 < p < 65536 for p in args.port):
        raise UsageError("--port must be 1..65535")
    name = _interface_name(args.interface)
    try:
        report = asyncio.run(diagnose(args.port or [DISCOVERY_PORT], interface=name,
                                      duration=args.duration, hello_wait=args.hello_wait,
                                      ipv6=args.ipv6))
    except OSError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if args.json
          else render_text(report))
    return 0
