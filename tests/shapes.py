"""The four decoder test shapes of design.md §6, shared by every protocol's tests.

1. golden vectors (per protocol), 2. whole / every prefix / trailing bytes, 3. arbitrary bytes give a
value or DecodeError only, 4. encode/decode round trip (Hypothesis strategies in zre_ref.testing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zre_ref.errors import DecodeError

FramesDecoder = Callable[[Sequence[bytes]], Any]


def check_whole_prefixes_trailing(
    decode: FramesDecoder, frames: Sequence[bytes], want: Any, *, trailing_allowed: bool = False
) -> None:
    """Whole input decodes to ``want``; every shorter data frame raises DecodeError (it is never
    silently accepted as something else); one extra byte raises unless ``trailing_allowed``."""
    assert decode(list(frames)) == want
    data, rest = frames[0], list(frames[1:])
    for cut in range(len(data)):
        try:
            got = decode([data[:cut], *rest])
        except DecodeError as exc:
            assert exc.offset <= cut, (cut, exc)
        else:
            raise AssertionError(f"prefix of {cut} bytes decoded as {got!r}")
    if trailing_allowed:
        return
    try:
        got = decode([data + b"\x00", *rest])
    except DecodeError:
        return
    raise AssertionError(f"trailing byte accepted: {got!r}")


def decodes_or_raises(decode: FramesDecoder, frames: Sequence[bytes]) -> Any:
    """Shape 3: a value or DecodeError; anything else propagates and fails the test."""
    try:
        return decode(list(frames))
    except DecodeError as exc:
        assert exc.offset >= 0 and exc.field and exc.protocol
        return exc
