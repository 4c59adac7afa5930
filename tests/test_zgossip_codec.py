"""ZGOSSIP codec: golden vectors, whole / byte by byte / with trailing bytes, arbitrary bytes, round trip, over vectors/zgossip/ and Hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from tests.shapes import (
    check_canonical_or_error,
    check_case_prefixes,
    check_generator_matches,
    check_round_trip,
    check_spec_table,
    check_vector,
    frames_near,
    load_cases,
    message_cases,
    messages_of,
)
from zre_ref.zgossip import messages as m

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zgossip"


@pytest.mark.parametrize("case", load_cases(VECTORS), ids=lambda c: c["id"])
def test_vector(case: dict[str, Any]) -> None:
    if case.get("kind") == "function":
        assert case["id"] == "zgossip.ids.czmq"
        assert {ms.name: ms.id for ms in m.ZGOSSIP.by_id.values()} == case["output"]
        return
    check_vector(m.ZGOSSIP, case)


def test_every_message_has_a_valid_vector() -> None:
    named = {c["fields"]["type"] for c in message_cases(VECTORS, "valid")}
    assert named == set(m.ZGOSSIP.by_name)
    assert sorted(m.ZGOSSIP.by_id) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("case", message_cases(VECTORS, "valid"), ids=lambda c: c["id"])
def test_whole_prefixes_trailing(case: dict[str, Any]) -> None:
    check_case_prefixes(m.ZGOSSIP, case)


@settings(max_examples=200, deadline=None)
@given(frames_near(m.ZGOSSIP))
def test_arbitrary_bytes_value_or_decode_error(frames: list[bytes]) -> None:
    check_canonical_or_error(m.ZGOSSIP, frames)


@settings(max_examples=200, deadline=None)
@given(messages_of(m.ZGOSSIP))
def test_round_trip(msg: m.ZgossipMessage) -> None:
    check_round_trip(m.ZGOSSIP, msg)


def test_cli_decode_encode(capsys: pytest.CaptureFixture[str]) -> None:
    from zre_ref.cli import main

    obj = {"type": "PUBLISH", "version": 1, "key": "k", "value": "v", "ttl": 5}
    assert main(["encode", "--protocol", "zgossip", json.dumps(obj)]) == 0
    hexframe = capsys.readouterr().out.strip()
    assert hexframe == "aaa00201016b000000017600000005"
    assert main(["decode", "--protocol", "zgossip", hexframe]) == 0
    assert json.loads(capsys.readouterr().out) == obj
    assert main(["decode", "--protocol", "zgossip", "aaa00102"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "bad-version"


def test_vectors_match_generator() -> None:
    check_generator_matches("zgossip")


def test_spec_table_matches_declarations() -> None:
    check_spec_table(m.ZGOSSIP, "zgossip.md")
