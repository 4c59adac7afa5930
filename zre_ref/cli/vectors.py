"""`zre-ref vectors check`: a porter's decoder program against the golden vectors, verdict per id.

    zre-ref vectors check --protocol zre --decoder "node vectors/examples/stdio_decoder.js zre"

The line protocol and the verdicts: vectors/README.md#self-check (core: zre_ref/vectorcheck.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..vectorcheck import ANSWER_TIMEOUT, check, default_vectors_dir, message_cases


def _cmd_check(args: argparse.Namespace) -> int:
    cases = message_cases(Path(args.vectors), args.protocol)
    if not cases:
        print(f"zre-ref: no message cases for protocol {args.protocol!r} in {args.vectors}",
              file=sys.stderr)
        return 2
    skip = set(args.skip_flag or ())
    chosen = [c for c in cases if not skip & set(c.get("flags", ()))]
    verdicts = check(args.decoder, chosen, timeout=args.timeout)
    failed = [v for v in verdicts if v.problem is not None]
    for v in verdicts:
        if v.problem is not None:
            print(f"FAIL {v.id}: {v.problem}")
        elif args.verbose:
            print(f"pass {v.id}")
    print(f"{args.protocol}: {len(verdicts)} cases, {len(verdicts) - len(failed)} passed, "
          f"{len(failed)} failed, {len(cases) - len(chosen)} skipped by flag")
    return 1 if failed else 0


def add_commands(sub: Any) -> None:
    """Register `vectors check` (see zre_ref.registry)."""
    p = sub.add_parser("vectors", help="check an external decoder program against the vectors")
    vsub = p.add_subparsers(dest="vectors_command", required=True)
    c = vsub.add_parser("check", help="feed every case to DECODER over stdin/stdout, "
                        "report the ids it gets wrong (vectors/README.md#self-check)")
    c.add_argument("--protocol", required=True, help="zre, beacon, zmtp-frame, zrelog, ...")
    c.add_argument("--decoder", required=True, metavar="CMD", help="shell command of the program")
    c.add_argument("--vectors", default=str(default_vectors_dir()), help="the vectors/ folder")
    c.add_argument("--skip-flag", action="append", metavar="FLAG",
                   help="skip cases carrying this flag (repeatable), e.g. extension:zyre")
    c.add_argument("--timeout", type=float, default=ANSWER_TIMEOUT, help="seconds per answer")
    c.add_argument("-v", "--verbose", action="store_true", help="list passing ids too")
    c.set_defaults(func=_cmd_check)
