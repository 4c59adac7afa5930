"""ZRE UDP beacon codec: vectors, arbitrary bytes and round trips (spec/zre.md#beacon)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref import testing
from zre_ref.errors import DECODE_ERRORS, DecodeError, EncodeError
from zre_ref.zre.beacon import (
    BEACON_SIZE,
    BEACON_SIZE_CURVE,
    BadBeaconPrefix,
    BadBeaconSize,
    BadBeaconVersion,
    Beacon,
    beacon_from_json,
    beacon_to_json,
    decode_beacon,
    encode_beacon,
)

from .shapes import check_whole_prefixes_trailing, decodes_or_raises

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "zre" / "beacon.json").read_text("utf-8")
)["cases"]
VALID = [c for c in CASES if c["result"] == "valid"]
REFUSED = [c for c in CASES if c["result"] != "valid"]


def _decode(frames: Any) -> Beacon:
    if len(frames) != 1:
        raise AssertionError("a beacon is one datagram")
    return decode_beacon(frames[0])


@pytest.mark.parametrize("case", VALID, ids=[c["id"] for c in VALID])
def test_valid_beacon_vector(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    b = decode_beacon(data)
    assert beacon_to_json(b) == case["fields"]
    assert encode_beacon(beacon_from_json(case["fields"])) == data
    check_whole_prefixes_trailing(_decode, [data], b)


@pytest.mark.parametrize("case", REFUSED, ids=[c["id"] for c in REFUSED])
def test_refused_beacon_vector(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        decode_beacon(bytes.fromhex(case["hex"]))
    want = case["error"]
    assert type(info.value) is DECODE_ERRORS[want["error"]]
    assert (info.value.field, info.value.offset) == (want["field"], want["offset"])


def test_error_classes_are_distinct_and_registered() -> None:
    codes = {BadBeaconSize.code, BadBeaconPrefix.code, BadBeaconVersion.code}
    assert codes == {"bad-beacon-size", "bad-beacon-prefix", "bad-beacon-version"}
    for code in codes:
        assert DECODE_ERRORS[code].code == code
    assert {c["error"]["error"] for c in REFUSED} == codes


def test_layout() -> None:
    uuid = bytes(range(16))
    assert encode_beacon(Beacon(uuid=uuid, port=49153)) == bytes.fromhex(
        "5a524501000102030405060708090a0b0c0d0e0fc001")
    assert len(encode_beacon(Beacon(uuid=uuid, port=0))) == BEACON_SIZE
    curve = Beacon(version=3, uuid=uuid, port=1, public_key=b"\x07" * 32)
    assert len(encode_beacon(curve)) == BEACON_SIZE_CURVE
    assert decode_beacon(encode_beacon(curve)).public_key == b"\x07" * 32
    assert Beacon(uuid=uuid, port=0).leaving and not curve.leaving


@pytest.mark.parametrize("bad", [
    Beacon(version=2, uuid=bytes(16), port=1),
    Beacon(uuid=bytes(15), port=1),
    Beacon(uuid=bytes(16), port=65536),
    Beacon(uuid=bytes(16), port=-1),
    Beacon(version=3, uuid=bytes(16), port=1),
    Beacon(version=3, uuid=bytes(16), port=1, public_key=bytes(31)),
    Beacon(version=1, uuid=bytes(16), port=1, public_key=bytes(32)),
])
def test_encode_refuses(bad: Beacon) -> None:
    with pytest.raises(EncodeError):
        encode_beacon(bad)


@pytest.mark.parametrize("obj", [
    {"uuid": "00" * 16},
    {"uuid": "00" * 16, "port": True},
    {"uuid": "zz" * 16, "port": 1},
    {"uuid": "00" * 15, "port": 1},
    {"uuid": "00" * 16, "port": 1, "extra": 1},
    {"version": 3, "uuid": "00" * 16, "port": 1},
    {"version": 2, "uuid": "00" * 16, "port": 1},
    [],
])
def test_from_json_refuses(obj: Any) -> None:
    with pytest.raises(EncodeError):
        beacon_from_json(obj)


def test_json_uuid_is_upper_case_and_input_any_case() -> None:
    b = beacon_from_json({"uuid": "abcdef" + "00" * 13, "port": 5})
    assert beacon_to_json(b) == {"version": 1, "uuid": "ABCDEF" + "00" * 13, "port": 5}


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=60),
                 st.binary(max_size=56).map(lambda b: b"ZRE" + b),
                 st.sampled_from([b"ZRE\x01", b"ZRE\x03"]).flatmap(
                     lambda p: st.binary(min_size=16, max_size=52).map(lambda b: p + b))))
def test_arbitrary_bytes_decode_or_raise(data: bytes) -> None:
    got = decodes_or_raises(_decode, [data])
    if not isinstance(got, DecodeError):
        assert encode_beacon(got) == data


@settings(max_examples=200, deadline=None)
@given(testing.beacons())
def test_round_trip(b: Beacon) -> None:
    data = encode_beacon(b)
    assert decode_beacon(data) == b
    assert beacon_from_json(json.loads(json.dumps(beacon_to_json(b)))) == b
    check_whole_prefixes_trailing(_decode, [data], b)
