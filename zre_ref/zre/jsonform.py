"""ZRE messages and beacons for `zre-ref decode/encode --protocol zre|beacon` (spec/zre.md#cli).

``zre``: frames as a ZRE peer sends them (data frame, then content frames). As a convenience, a
leading 17-byte frame that is not a ZRE data frame is taken as the ROUTER identity (0x01 + UUID)
and shown as ``"identity"`` (hex); ``encode`` puts an ``"identity"`` back in front.
``beacon``: exactly one frame, the UDP datagram.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import EncodeError, FrameCount
from ..registry import CliCodec
from .beacon import PROTOCOL as BEACON
from .beacon import beacon_from_json, beacon_to_json, decode_beacon, encode_beacon
from .messages import IDENTITY_SIZE, ZRE, decode_identity


def _looks_routed(frames: Sequence[bytes]) -> bool:
    first = frames[0]
    return (len(frames) >= 2 and len(first) == IDENTITY_SIZE
            and first[:2] != ZRE.signature_bytes)


def decode_zre_json(frames: Sequence[bytes]) -> dict[str, Any]:
    """Frames (optionally led by a ROUTER identity) -> JSON fields (spec/zre.md#cli)."""
    frames = list(frames)
    identity: bytes | None = None
    if frames and _looks_routed(frames):
        decode_identity(frames[0])
        identity, frames = frames[0], frames[1:]
    out = ZRE.to_json(ZRE.decode(frames))
    if identity is not None:
        out = {"identity": identity.hex(), **out}
    return out


def encode_zre_json(obj: dict[str, Any]) -> list[bytes]:
    """JSON fields (with an optional ``identity``) -> frames (spec/zre.md#cli)."""
    if not isinstance(obj, dict):
        raise EncodeError("expected a JSON object")
    fields = dict(obj)
    identity = fields.pop("identity", None)
    frames = ZRE.encode(ZRE.from_json(fields))
    if identity is None:
        return frames
    try:
        raw = bytes.fromhex(identity) if isinstance(identity, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != IDENTITY_SIZE:
        raise EncodeError(f"identity: expected {IDENTITY_SIZE} bytes as hex")
    return [raw, *frames]


def decode_beacon_json(frames: Sequence[bytes]) -> dict[str, Any]:
    """One datagram -> JSON fields (spec/zre.md#beacon)."""
    if len(frames) != 1:
        raise FrameCount(f"a beacon is one datagram, got {len(frames)} frames", protocol=BEACON,
                         field="frames", offset=0, spec_anchor="spec/zre.md#beacon")
    return beacon_to_json(decode_beacon(frames[0]))


def encode_beacon_json(obj: dict[str, Any]) -> list[bytes]:
    """JSON fields -> the datagram, as a single frame (spec/zre.md#beacon)."""
    return [encode_beacon(beacon_from_json(obj))]


CLI_CODECS = [
    CliCodec("zre", "ZRE v2 message frames (RFC 36); a leading 17-byte ROUTER identity is allowed",
             decode_zre_json, encode_zre_json),
    CliCodec("beacon", "ZRE UDP discovery beacon (one datagram)", decode_beacon_json,
             encode_beacon_json),
]
