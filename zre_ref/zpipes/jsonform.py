"""ZPIPES messages for `zre-ref decode/encode --protocol zpipes` (spec/zpipes.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..registry import CliCodec
from .messages import ZPIPES


def _decode(frames: Sequence[bytes]) -> dict[str, Any]:
    return ZPIPES.to_json(ZPIPES.decode(list(frames)))


def _encode(obj: dict[str, Any]) -> list[bytes]:
    return ZPIPES.encode(ZPIPES.from_json(obj))


CLI_CODECS = [CliCodec("zpipes", "ZPIPES message frame (zbroker named pipes)", _decode, _encode)]
