"""CurveZMQ crypto against libsodium (PyPI pynacl): every box in vectors/curve/ opens with
libsodium, and our X25519, box, beforenm and secretbox agree with it on random inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    import nacl.bindings as sodium
    from nacl.exceptions import CryptoError
except ImportError:  # pragma: no cover - the interop env installs pynacl
    assert not os.environ.get("CI"), "CI=true but pynacl is missing (tox.ini interop deps)"
    pytest.skip("pynacl is not installed", allow_module_level=True)

from zre_ref.curve import nacl, x25519, x25519_base, z85_decode

pytestmark = pytest.mark.interop
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "curve"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())["cases"]
    return cases


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


TRANSCRIPT_BOXES = [(c["id"], i, b) for c in _cases("handshake.json")
                    for i, s in enumerate(c["steps"]) for b in s.get("boxes", [])]


@pytest.mark.parametrize(("cid", "step", "box"), TRANSCRIPT_BOXES,
                         ids=[f"{c}-{i}-{b['name']}" for c, i, b in TRANSCRIPT_BOXES])
def test_every_transcript_box_opens_with_libsodium(cid: str, step: int, box: dict[str, Any]) -> None:
    plain = sodium.crypto_secretbox_open(_h(box["box"]), _h(box["nonce"]), _h(box["shared_key"]))
    assert plain == _h(box["plaintext"])


def test_transcript_shared_keys_are_libsodium_beforenm() -> None:
    for case in _cases("handshake.json"):
        c, s = case["input"]["client"], case["input"]["server"]
        c_eph = sodium.crypto_scalarmult_base(_h(c["ephemeral_secret"]))
        s_eph = sodium.crypto_scalarmult_base(_h(s["ephemeral_secret"]))
        assert sodium.crypto_scalarmult_base(_h(c["secret_key"])) == _h(c["public_key"])
        expected = {
            "hello-box": sodium.crypto_box_beforenm(_h(s["public_key"]), _h(c["ephemeral_secret"])),
            "welcome-box": sodium.crypto_box_beforenm(c_eph, _h(s["secret_key"])),
            "cookie": _h(s["cookie_key"]),
            "vouch": sodium.crypto_box_beforenm(s_eph, _h(c["secret_key"])),
            "initiate-box": sodium.crypto_box_beforenm(s_eph, _h(c["ephemeral_secret"])),
            "ready-box": sodium.crypto_box_beforenm(c_eph, _h(s["ephemeral_secret"])),
            "message-box": sodium.crypto_box_beforenm(c_eph, _h(s["ephemeral_secret"])),
        }
        for step in case["steps"]:
            for box in step.get("boxes", []):
                assert _h(box["shared_key"]) == expected[box["name"]], (case["id"], box["name"])


@pytest.mark.parametrize("case", [c for c in _cases("box.json") if c["result"] == "valid"
                                  and "box" in c["output"]], ids=lambda c: c["id"])
def test_box_vectors_with_libsodium(case: dict[str, Any]) -> None:
    inp = case["input"]
    if "key" in inp:
        got = sodium.crypto_secretbox(_h(inp["message"]), _h(inp["nonce"]), _h(inp["key"]))
    else:
        got = sodium.crypto_box(_h(inp["message"]), _h(inp["nonce"]), _h(inp["public_key"]),
                                _h(inp["secret_key"]))
    assert got.hex() == case["output"]["box"]


@pytest.mark.parametrize("case", [c for c in _cases("box.json") if c["result"] == "invalid"
                                  and "box" in c["input"]], ids=lambda c: c["id"])
def test_tampered_boxes_fail_in_libsodium_too(case: dict[str, Any]) -> None:
    inp = case["input"]
    with pytest.raises(CryptoError):
        sodium.crypto_secretbox_open(_h(inp["box"]), _h(inp["nonce"]), _h(inp["key"]))


def test_invalid_message_boxes_fail_in_libsodium_too() -> None:
    base = _cases("handshake.json")[0]
    key = _h(next(b["shared_key"] for s in base["steps"] for b in s.get("boxes", [])
                  if b["name"] == "message-box"))
    for case in _cases("invalid.json"):
        if case["error"]["error"] != "bad-box" or not case["id"].startswith("curve.invalid.message"):
            continue
        body = _h(case["input"]["body"])
        with pytest.raises(CryptoError):
            sodium.crypto_secretbox_open(body[16:], b"CurveZMQMESSAGEC" + body[8:16], key)


def test_zmq_curve_test_keys() -> None:
    for case in _cases("z85.json"):
        if case["id"].endswith("-secret"):
            public_case = case["id"].replace("-secret", "-public")
            public = next(c for c in _cases("z85.json") if c["id"] == public_case)
            assert sodium.crypto_scalarmult_base(z85_decode(case["output"]["z85"])) == \
                z85_decode(public["output"]["z85"])


keys = st.binary(min_size=32, max_size=32)


@settings(max_examples=25, deadline=None)
@given(secret=keys, other=keys)
def test_x25519_agrees(secret: bytes, other: bytes) -> None:
    public = sodium.crypto_scalarmult_base(other)
    assert x25519_base(secret) == sodium.crypto_scalarmult_base(secret)
    assert x25519(secret, public) == sodium.crypto_scalarmult(secret, public)


@settings(max_examples=25, deadline=None)
@given(a=keys, b=keys, nonce=st.binary(min_size=24, max_size=24), message=st.binary(max_size=600))
def test_box_agrees(a: bytes, b: bytes, nonce: bytes, message: bytes) -> None:
    pk_b = sodium.crypto_scalarmult_base(b)
    pk_a = sodium.crypto_scalarmult_base(a)
    assert nacl.box_beforenm(pk_b, a) == sodium.crypto_box_beforenm(pk_b, a)
    ours = nacl.box(message, nonce, pk_b, a)
    assert ours == sodium.crypto_box(message, nonce, pk_b, a)
    assert sodium.crypto_box_open(ours, nonce, pk_a, b) == message


@settings(max_examples=40, deadline=None)
@given(key=keys, nonce=st.binary(min_size=24, max_size=24), message=st.binary(max_size=2000))
def test_secretbox_agrees(key: bytes, nonce: bytes, message: bytes) -> None:
    ours = nacl.secretbox(message, nonce, key)
    assert ours == sodium.crypto_secretbox(message, nonce, key)
    assert nacl.secretbox_open(sodium.crypto_secretbox(message, nonce, key), nonce, key) == message
