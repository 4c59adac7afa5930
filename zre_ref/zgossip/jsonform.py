"""ZGOSSIP messages for `zre-ref decode/encode --protocol zgossip` (spec/zgossip.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..registry import CliCodec
from .messages import ZGOSSIP


def _decode(frames: Sequence[bytes]) -> dict[str, Any]:
    return ZGOSSIP.to_json(ZGOSSIP.decode(list(frames)))


def _encode(obj: dict[str, Any]) -> list[bytes]:
    return ZGOSSIP.encode(ZGOSSIP.from_json(obj))


CLI_CODECS = [CliCodec("zgossip", "ZGOSSIP message frame (czmq zgossip)", _decode, _encode)]
