"""`zre-ref keygen`: print a new CURVE key pair (spec/curve.md#keys)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..curve.keys import curve_keypair


def _keygen(args: argparse.Namespace) -> int:
    public, secret = curve_keypair()
    text = f"public = {public.decode()}\nsecret = {secret.decode()}\n"
    if args.out:
        # the secret key file is readable by its owner only
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        print(f"public = {public.decode()}")
    else:
        sys.stdout.write(text)
    return 0


def add_commands(sub: Any) -> None:
    """Register keygen (see zre_ref.registry)."""
    p = sub.add_parser("keygen", help="print a new CURVE key pair (Z85, like zmq.curve_keypair)")
    p.add_argument("--out", metavar="FILE",
                   help="write 'public = ...' and 'secret = ...' to FILE (mode 0600) instead")
    p.set_defaults(func=_keygen)
