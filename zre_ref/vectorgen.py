"""Case builders shared by the golden-vector generators vectors/gen_*.py (vectors/schema.json).

Every builder checks itself against zre_ref's codec: a message case must round-trip, an invalid
case must raise exactly the named error. A mismatch stops the generator with SystemExit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .codec import Protocol
from .errors import DecodeError


def error_json(exc: DecodeError) -> dict[str, Any]:
    """The ``error`` object of an invalid case: class code, field, frame and offset."""
    return {"error": exc.code, "field": exc.field, "frame": exc.frame, "offset": exc.offset}


#: the vector file format these builders write (vectors/README.md#versions)
SCHEMA = "zre-ref-vectors/2"


def acceptable(case: dict[str, Any], *, fields: dict[str, Any], error: dict[str, Any],
               zre_ref: str) -> dict[str, Any]:
    """Complete an ``acceptable`` case: what an accepting decoder returns (``fields``), what a
    refusing one raises (``error``), and which of the two zre-ref does (vectors/README.md)."""
    if zre_ref not in ("accepts", "refuses"):
        raise SystemExit(f"{case['id']}: zre_ref is 'accepts' or 'refuses', not {zre_ref!r}")
    return {**case, "result": "acceptable", "fields": fields, "error": error, "zre_ref": zre_ref}


def message_case(proto: Protocol, cid: str, msg: object, description: str, *, spec: str,
                 source: Sequence[str], result: str = "valid", level: str = "MUST",
                 flags: Sequence[str] | None = None) -> dict[str, Any]:
    """A one-message case of a zproto-style protocol: its frames as hex and its JSON fields."""
    frames = proto.encode(msg)
    if proto.decode(frames) != msg:
        raise SystemExit(f"{cid}: round trip failed")
    out: dict[str, Any] = {
        "id": cid, "spec": spec, "level": level, "result": result, "source": list(source),
        "description": description, "kind": "message",
        "frames": [f.hex() for f in frames], "fields": proto.to_json(msg),
    }
    if flags:
        out["flags"] = list(flags)
    return out


def invalid_case(proto: Protocol, cid: str, frames: list[bytes], code: str, description: str, *,
                 spec: str) -> dict[str, Any]:
    """A malformed-frames case: ``proto`` must refuse ``frames`` with the error class ``code``."""
    try:
        got = proto.decode(frames)
    except DecodeError as exc:
        if exc.code != code:
            raise SystemExit(f"{cid}: expected {code}, decoder said {exc.code}: {exc}") from None
        err = error_json(exc)
    else:
        raise SystemExit(f"{cid}: decoded as {got!r}, expected {code}")
    return {
        "id": cid, "spec": spec, "level": "MUST", "result": "invalid", "source": ["zre-ref"],
        "description": description, "kind": "message",
        "frames": [f.hex() for f in frames], "error": err,
    }
