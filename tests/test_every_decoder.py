"""Every protocol `zre-ref decode` knows takes arbitrary bytes: fields or DecodeError, nothing else.

An umbrella over the per-protocol tests (arbitrary bytes give a value or a DecodeError), so a protocol added to
zre_ref/registry.py is covered the day it lands.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zre_ref.errors import DecodeError
from zre_ref.registry import CODEC_MODULES, codecs

CODECS = codecs()


def test_every_listed_module_contributes() -> None:
    assert len(CODEC_MODULES) == 5
    assert {"zre", "beacon", "zmtp-greeting", "zmtp-frame", "zrelog", "zpipes", "zgossip"} <= set(CODECS)


@pytest.mark.parametrize("name", sorted(CODECS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(st.binary(max_size=64), min_size=1, max_size=3))
def test_arbitrary_frames(name: str, frames: list[bytes]) -> None:
    try:
        fields = CODECS[name].decode(frames)
    except DecodeError as exc:
        assert exc.protocol and exc.field and exc.offset >= 0
    else:
        assert isinstance(fields, (dict, list))


@pytest.mark.parametrize("name", sorted(CODECS))
@settings(max_examples=100, deadline=None)
@given(tail=st.binary(max_size=64))
def test_arbitrary_bytes_after_each_signature(name: str, tail: bytes) -> None:
    # start from plausible prefixes so the fuzzing gets past the first checks
    for prefix in (b"\xaa\xa0", b"\xaa\xa1", b"\xaa\xa2", b"ZRE\x01", b"\xff" + bytes(8) + b"\x7f\x03\x01"):
        for id_byte in (b"", b"\x01", b"\x03", b"\x0c"):
            with contextlib.suppress(DecodeError):  # anything else fails the test
                CODECS[name].decode([prefix + id_byte + tail])
