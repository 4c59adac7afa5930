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


def load_keyfile(path: str) -> tuple[str, str]:
    """(public, secret) Z85 keys from a key file: `zre-ref keygen --out` lines (``public = ...``,
    ``secret = ...``) or a czmq zcert secret file (``public-key = "..."``, ``secret-key = "..."``).
    Exits with a message if the file has no valid pair."""
    from ..curve.keys import curve_public

    found: dict[str, str] = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                name = key.strip().removesuffix("-key")
                if sep and name in ("public", "secret"):
                    found[name] = value.strip().strip('"')
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"zre-ref: --curve-keyfile {path}: {exc}") from None
    if set(found) != {"public", "secret"}:
        raise SystemExit(f"zre-ref: --curve-keyfile {path}: needs a public and a secret key")
    try:
        ok = curve_public(found["secret"]) == found["public"].encode("ascii")
    except (ValueError, UnicodeEncodeError):
        ok = False
    if not ok:
        raise SystemExit(f"zre-ref: --curve-keyfile {path}: not a matching Z85 key pair")
    return found["public"], found["secret"]
