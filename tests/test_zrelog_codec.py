"""ZRE/LOG codec and endpoint hash: the four decoder shapes over vectors/zrelog/ and Hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from zre_ref.zrelog import messages as m
from zre_ref.zrelog.messages import Event, Level, endpoint_hash

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "zrelog"


@pytest.mark.parametrize("case", load_cases(VECTORS), ids=lambda c: c["id"])
def test_vector(case: dict[str, Any]) -> None:
    if case.get("kind") == "function":
        raw = bytes.fromhex(case["input"]["utf8_hex"])
        assert endpoint_hash(raw) == case["output"]["signed_char"]
        assert endpoint_hash(raw, signed_char=False) == case["output"]["unsigned_char"]
        return
    check_vector(m.ZRELOG, case)


def test_hash_checked_values() -> None:
    # Cross-checked with gcc on x86-64 (signed char) and gcc -funsigned-char.
    assert endpoint_hash("tcp://127.0.0.1:5670") == 0x6FC8
    assert endpoint_hash("é") == 0x078A
    assert endpoint_hash("é", signed_char=False) == 0x198A
    assert endpoint_hash("this is me") == 0x15B4
    assert endpoint_hash(b"") == 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80))
def test_hash_ascii_same_both_ways(text: str) -> None:
    assert endpoint_hash(text) == endpoint_hash(text, signed_char=False) <= 0xFFFF


def test_constants() -> None:
    assert (Level.ERROR, Level.WARNING, Level.INFO) == (1, 2, 3)
    assert [e.value for e in (Event.JOIN, Event.LEAVE, Event.ENTER, Event.EXIT, Event.SEND,
                              Event.RECV)] == [1, 2, 3, 4, 5, 6]


def test_layout_is_17_fixed_bytes_then_data() -> None:
    frame = m.encode(m.Log(level=3, event=3, node=0x6FC8, peer=1, time=5, data="ab"))[0]
    assert frame == bytes.fromhex("aaa2 01 03 03 6fc8 0001 0000000000000005 02 6162".replace(" ", ""))
    assert len(frame) == 17 + 1 + 2


@pytest.mark.parametrize("case", message_cases(VECTORS, "valid"), ids=lambda c: c["id"])
def test_whole_prefixes_trailing(case: dict[str, Any]) -> None:
    check_case_prefixes(m.ZRELOG, case)


@settings(max_examples=200, deadline=None)
@given(frames_near(m.ZRELOG))
def test_arbitrary_bytes_value_or_decode_error(frames: list[bytes]) -> None:
    check_canonical_or_error(m.ZRELOG, frames)


@settings(max_examples=200, deadline=None)
@given(messages_of(m.ZRELOG))
def test_round_trip(msg: m.Log) -> None:
    check_round_trip(m.ZRELOG, msg)


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from zre_ref.cli import main

    obj = {"type": "LOG", "level": 3, "event": 3, "node": 28616, "peer": 0, "time": "1", "data": "x"}
    assert main(["encode", "--protocol", "zrelog", json.dumps(obj)]) == 0
    hexframe = capsys.readouterr().out.strip()
    assert main(["decode", "--protocol", "zrelog", hexframe]) == 0
    assert json.loads(capsys.readouterr().out) == obj


def test_vectors_match_generator() -> None:
    check_generator_matches("zrelog")


def test_spec_table_matches_declarations() -> None:
    check_spec_table(m.ZRELOG, "zrelog.md")
