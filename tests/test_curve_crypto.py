"""CurveZMQ primitives: the golden vectors in vectors/curve/ and properties (spec/curve.md)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.curve import (
    SecretKey,
    SharedKey,
    curve_keypair,
    curve_public,
    nacl,
    parse_key,
    salsa20,
    salsa20_lanes,
    x25519,
    x25519_base,
    z85_decode,
    z85_encode,
)
from zre_ref.curve.poly1305 import poly1305
from zre_ref.errors import DecodeError

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "curve"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def _error(exc: DecodeError) -> dict[str, Any]:
    return {"error": exc.code, "field": exc.field, "offset": exc.offset}


@pytest.mark.parametrize("case", _cases("x25519.json"), ids=lambda c: c["id"])
def test_x25519_vectors(case: dict[str, Any]) -> None:
    inp, out = case["input"], case["output"]
    if "alice_secret" in inp:
        a, b = _h(inp["alice_secret"]), _h(inp["bob_secret"])
        assert x25519_base(a).hex() == out["alice_public"]
        assert x25519_base(b).hex() == out["bob_public"]
        assert x25519(a, _h(out["bob_public"])).hex() == out["shared"]
        assert x25519(b, _h(out["alice_public"])).hex() == out["shared"]
        return
    k, u = _h(inp["scalar"]), _h(inp["u"])
    if "iterations" not in inp:
        assert x25519(k, u).hex() == out["u"]
        return
    for _ in range(inp["iterations"]):  # the 1000-iteration case takes about a second
        k, u = x25519(k, u), k
    assert k.hex() == out["u"]


@pytest.mark.parametrize("case", _cases("box.json"), ids=lambda c: c["id"])
def test_box_vectors(case: dict[str, Any]) -> None:
    inp, cid = case["input"], case["id"]
    if case["result"] == "invalid":
        with pytest.raises(DecodeError) as info:
            if "box" in inp:
                nacl.secretbox_open(_h(inp["box"]), _h(inp["nonce"]), _h(inp["key"]))
            else:
                nacl.box_beforenm(_h(inp["public_key"]), _h(inp["secret_key"]))
        assert _error(info.value) == case["error"]
        return
    out = case["output"]
    if cid == "curve.poly1305.rfc8439":
        assert poly1305(_h(inp["key"]), _h(inp["message"])).hex() == out["tag"]
    elif cid == "curve.box.nacl":
        assert nacl.box(_h(inp["message"]), _h(inp["nonce"]), _h(inp["public_key"]),
                        _h(inp["secret_key"])).hex() == out["box"]
    elif cid == "curve.box.nacl-beforenm":
        assert nacl.box_beforenm(_h(inp["public_key"]), _h(inp["secret_key"])).hex() == out["key"]
    elif cid == "curve.secretbox.nacl":
        assert nacl.secretbox(_h(inp["message"]), _h(inp["nonce"]), _h(inp["key"])).hex() == out["box"]
    elif cid == "curve.box.nacl-open":
        assert nacl.box_open(_h(inp["box"]), _h(inp["nonce"]), _h(inp["public_key"]),
                             _h(inp["secret_key"])).hex() == out["message"]
    else:
        raise AssertionError(f"no check for {cid}")


@pytest.mark.parametrize("case", _cases("z85.json"), ids=lambda c: c["id"])
def test_z85_vectors(case: dict[str, Any]) -> None:
    inp = case["input"]
    if case["result"] == "invalid":
        with pytest.raises(DecodeError) as info:
            z85_decode(inp["z85"])
        assert _error(info.value) == case["error"]
        return
    assert z85_encode(_h(inp["binary"])).decode() == case["output"]["z85"]
    assert z85_decode(case["output"]["z85"]).hex() == inp["binary"]


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), nonce=st.binary(min_size=8, max_size=8),
       length=st.integers(0, 700), counter=st.integers(0, 2**64 - 20))
def test_lanes_keystream_is_the_readable_keystream(key: bytes, nonce: bytes, length: int,
                                                   counter: int) -> None:
    assert bytes(salsa20_lanes.keystream(key, nonce, length, counter)) == \
        salsa20.salsa20_stream(key, nonce, length, counter)


@settings(max_examples=30, deadline=None)
@given(key=st.binary(min_size=32, max_size=32),
       messages=st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_batch_seal_and_open_match_one_by_one(key: bytes, messages: list[bytes]) -> None:
    shared = SharedKey(key)
    prefix = b"CurveZMQMESSAGEC"
    nonces = [i.to_bytes(8, "big") for i in range(3, 3 + len(messages))]
    sealed = shared.seal_many(messages, prefix, nonces)
    assert sealed == [nacl.secretbox(m, prefix + n, key) for m, n in zip(messages, nonces, strict=True)]
    assert shared.open_many(sealed, prefix, nonces) == messages
    bad = [bytes([s[0] ^ 1]) + s[1:] for s in sealed]
    assert shared.open_many(bad, prefix, nonces) == [None] * len(messages)


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=64).map(lambda b: b[: len(b) - len(b) % 4]))
def test_z85_round_trip(data: bytes) -> None:
    assert z85_decode(z85_encode(data)) == data


@settings(max_examples=200, deadline=None)
@given(text=st.binary(max_size=30))
def test_z85_decode_takes_any_bytes(text: bytes) -> None:
    with contextlib.suppress(DecodeError):
        z85_decode(text)


def test_keypair_and_public_like_pyzmq() -> None:
    public, secret = curve_keypair()
    assert isinstance(public, bytes) and isinstance(secret, bytes)
    assert len(public) == len(secret) == 40
    assert curve_public(secret) == public
    assert curve_public(secret.decode()) == public
    assert curve_public(z85_decode(secret)) == public
    assert parse_key(public) == parse_key(public.decode()) == z85_decode(public)
    for bad in (b"x" * 31, "x" * 39, b"\x00" * 40):
        with pytest.raises(ValueError):
            parse_key(bad)


def test_secrets_stay_out_of_reprs() -> None:
    public, secret = curve_keypair()
    key = SecretKey(secret)
    raw = z85_decode(secret)
    for text in (repr(key), str(key), repr(SharedKey(raw))):
        assert raw.hex() not in text and secret.decode() not in text and "secret" in text
    from zre_ref.zmtp.curve import CurveClient, CurveServer

    for settings_obj in (CurveServer.from_keys(public, secret),
                         CurveClient.from_keys(public, public, secret)):
        text = repr(settings_obj)
        assert raw.hex() not in text and repr(raw) not in text and secret.decode() not in text


def test_small_order_key_is_refused() -> None:
    with pytest.raises(DecodeError):
        nacl.box_beforenm(bytes(32), bytes(range(32)))


def test_keygen_prints_a_matching_pair(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from zre_ref.cli import main

    assert main(["keygen"]) == 0
    lines = dict(line.split(" = ") for line in capsys.readouterr().out.splitlines())
    assert curve_public(lines["secret"]) == lines["public"].encode()
    out = tmp_path / "key.txt"
    assert main(["keygen", "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    printed = capsys.readouterr().out
    assert "secret" not in printed
    saved = dict(line.split(" = ") for line in out.read_text().splitlines())
    assert printed.strip() == f"public = {saved['public']}"
    assert curve_public(saved["secret"]) == saved["public"].encode()


def test_lanes_keystream_over_one_pass() -> None:
    """More blocks than MAX_LANES: computed in several passes, still the same bytes."""
    key, nonce = bytes(range(32)), b"8 bytes!"
    n = salsa20_lanes.MAX_LANES + 37
    assert bytes(salsa20_lanes.keystream(key, nonce, n * 64 - 5, 7)) == \
        salsa20.salsa20_stream(key, nonce, n * 64 - 5, 7)
    many = salsa20_lanes.keystreams(key, [nonce, b"another!"], [n * 64, 100])
    assert bytes(many[0]) == salsa20.salsa20_stream(key, nonce, n * 64)
    assert bytes(many[1]) == salsa20.salsa20_stream(key, b"another!", 100)
