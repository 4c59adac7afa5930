"""ZRE messages for `zre-ref decode/encode --protocol zre` (spec/zre.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..registry import CliCodec
from .messages import ZRE


def _decode(frames: Sequence[bytes]) -> dict[str, Any]:
    return ZRE.to_json(ZRE.decode(list(frames)))


def _encode(obj: dict[str, Any]) -> list[bytes]:
    return ZRE.encode(ZRE.from_json(obj))


CLI_CODECS = [CliCodec("zre", "ZRE v2 message frames (RFC 36)", _decode, _encode)]
