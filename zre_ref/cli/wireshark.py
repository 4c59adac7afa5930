"""`zre-ref wireshark-dissector > zre.lua`: the Lua dissector generated from the declarations
(zre_ref/wireshark.py). Load it with ``tshark -X lua_script:zre.lua`` or copy it into Wireshark's
personal plugins folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..wireshark import generate


def add_commands(sub: Any) -> None:
    """Register `zre-ref wireshark-dissector` (see zre_ref.registry)."""
    p = sub.add_parser("wireshark-dissector",
                       help="print a Wireshark Lua dissector for ZRE beacons, ZMTP and the "
                            "declared protocols")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    sys.stdout.write(generate())
    return 0
