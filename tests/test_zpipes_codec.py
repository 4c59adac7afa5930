"""ZPIPES codec: the four decoder test shapes (tests/shapes.py) over vectors/zpipes/ and Hypothesis."""

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
from zre_ref.zpipes import messages as m

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zpipes"


@pytest.mark.parametrize("case", load_cases(VECTORS), ids=lambda c: c["id"])
def test_vector(case: dict[str, Any]) -> None:
    if case.get("kind") == "function":
        assert case["id"] == "zpipes.ids.zbroker-order"
        assert {ms.name: ms.id for ms in m.ZPIPES.by_id.values()} == case["output"]
        return
    check_vector(m.ZPIPES, case)


def test_every_message_has_a_valid_vector() -> None:
    named = {c["fields"]["type"] for c in message_cases(VECTORS, "valid")}
    assert named == set(m.ZPIPES.by_name)
    assert len(m.ZPIPES.by_id) == 21 and sorted(m.ZPIPES.by_id) == list(range(1, 22))


@pytest.mark.parametrize("case", message_cases(VECTORS, "valid"), ids=lambda c: c["id"])
def test_whole_prefixes_trailing(case: dict[str, Any]) -> None:
    check_case_prefixes(m.ZPIPES, case)


@settings(max_examples=200, deadline=None)
@given(frames_near(m.ZPIPES))
def test_arbitrary_bytes_value_or_decode_error(frames: list[bytes]) -> None:
    check_canonical_or_error(m.ZPIPES, frames)


@settings(max_examples=200, deadline=None)
@given(messages_of(m.ZPIPES))
def test_round_trip(msg: m.ZpipesMessage) -> None:
    check_round_trip(m.ZPIPES, msg)


def test_cli_decode_encode(capsys: pytest.CaptureFixture[str]) -> None:
    from zre_ref.cli import main

    assert main(["encode", "--protocol", "zpipes", '{"type": "READ", "size": 5, "timeout": 0}']) == 0
    hexframe = capsys.readouterr().out.strip()
    assert hexframe == "aaa0070000000500000000"
    assert main(["decode", "--protocol", "zpipes", hexframe]) == 0
    assert json.loads(capsys.readouterr().out) == {"type": "READ", "size": 5, "timeout": 0}
    assert main(["decode", "--protocol", "zpipes", "aaa016"]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "unknown-id"


def test_vectors_match_generator() -> None:
    check_generator_matches("zpipes")


def test_spec_table_matches_declarations() -> None:
    check_spec_table(m.ZPIPES, "zpipes.md")
