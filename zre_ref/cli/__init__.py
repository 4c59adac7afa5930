"""`zre-ref`: decode/encode any protocol's bytes, and run nodes, collectors and brokers.

    zre-ref decode --protocol zre AAA10602000003      # frames as hex, one argument per frame
    zre-ref encode --protocol zre '{"type": "PING", "sequence": 3}'

Sub-commands live beside this module (zre.py, zrelog.py, zpipes.py), above the sans-IO cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ..errors import DecodeError, EncodeError
from ..registry import codecs, command_modules
from .common import UsageError


def _cmd_decode(args: argparse.Namespace) -> int:
    codec = codecs()[args.protocol]
    try:
        frames = [bytes.fromhex(h.replace(":", "").replace(" ", "")) for h in args.frames]
    except ValueError as exc:
        print(json.dumps({"error": "usage", "reason": f"not hex: {exc}"}), file=sys.stderr)
        return 2
    try:
        fields = codec.decode(frames)
    except DecodeError as exc:
        print(json.dumps(exc.to_json(), ensure_ascii=False))
        return 1
    print(json.dumps(fields, ensure_ascii=False))
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    codec = codecs()[args.protocol]
    if codec.encode is None:
        raise UsageError(f"{args.protocol} has no encoder")
    text = sys.stdin.read() if args.json == "-" else args.json
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise UsageError(f"expected a JSON object of fields, not {type(obj).__name__}")
    try:
        frames = codec.encode(obj)
    except EncodeError as exc:
        print(json.dumps({"error": "encode", "reason": str(exc)}, ensure_ascii=False))
        return 1
    for frame in frames:
        print(frame.hex())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zre-ref", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    known = codecs()
    names = sorted(known)
    p = sub.add_parser("decode", help="decode hex frames to JSON (exit 0), or show the error (exit 1)")
    p.add_argument("--protocol", required=True, choices=names)
    p.add_argument("frames", nargs="+", metavar="HEX", help="one argument per frame")
    p.set_defaults(func=_cmd_decode)
    p = sub.add_parser("encode", help="encode JSON fields to hex frames, one per line")
    p.add_argument("--protocol", required=True, choices=[n for n in names if known[n].encode])
    p.add_argument("json", metavar="JSON", help="the fields as a JSON object, or - for stdin")
    p.set_defaults(func=_cmd_encode)
    for mod in command_modules():
        mod.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command: exit 0 = done, 1 = the input was refused (shown), 2 = usage error."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"zre-ref {args.command}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
