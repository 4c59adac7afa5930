"""ZRE/LOG messages for `zre-ref decode/encode --protocol zrelog` (spec/zrelog.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..registry import CliCodec
from .messages import ZRELOG


def _decode(frames: Sequence[bytes]) -> dict[str, Any]:
    return ZRELOG.to_json(ZRELOG.decode(list(frames)))


def _encode(obj: dict[str, Any]) -> list[bytes]:
    return ZRELOG.encode(ZRELOG.from_json(obj))


CLI_CODECS = [CliCodec("zrelog", "ZRE/LOG record frame (RFC 20 logging extension)", _decode, _encode)]
