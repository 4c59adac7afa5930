"""The ZMTP CURVE handshake and MESSAGE cipher, sans-IO, against vectors/curve/ (spec/curve.md).

The transcripts are rebuilt from their JSON ``input`` alone (keys and random draws), the way a
porter would, and every box is opened with the readable NaCl path.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zre_ref.curve import nacl
from zre_ref.curve.fixtures import FixedRandom
from zre_ref.errors import DecodeError, ZreRefError
from zre_ref.zmtp import curve as zc
from zre_ref.zmtp.commands import decode_metadata, encode_metadata
from zre_ref.zmtp.frames import COMMAND, frame_header

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "curve"
TRANSCRIPTS = json.loads((VECTORS / "handshake.json").read_text())["cases"]
INVALID = json.loads((VECTORS / "invalid.json").read_text())["cases"]


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


class Pair:
    """Client and server handshakes built from a transcript's ``input``."""

    def __init__(self, inp: dict[str, Any], authenticator: zc.CurveAuthenticator | None = None) -> None:
        c, s = inp["client"], inp["server"]
        rnd = FixedRandom({
            "client-ephemeral-secret": _h(c["ephemeral_secret"]), "vouch-nonce": _h(c["vouch_nonce"]),
            "server-ephemeral-secret": _h(s["ephemeral_secret"]), "cookie-key": _h(s["cookie_key"]),
            "cookie-nonce": _h(s["cookie_nonce"]), "welcome-nonce": _h(s["welcome_nonce"]),
        })
        self.client_md = {"Socket-Type": c["socket_type"].encode()}
        if c["socket_type"] in ("DEALER", "ROUTER"):
            self.client_md["Identity"] = _h(c["identity"])
        self.server_md = {"Socket-Type": s["socket_type"].encode()}
        if s["socket_type"] in ("DEALER", "ROUTER"):
            self.server_md["Identity"] = b""
        self.client = zc.CurveClientHandshake(
            zc.CurveClient.from_keys(_h(c["server_key"]), _h(c["public_key"]), _h(c["secret_key"]), rnd),
            encode_metadata(self.client_md))
        self.server = zc.CurveServerHandshake(
            zc.CurveServer.from_keys(_h(s["public_key"]), _h(s["secret_key"]), authenticator, rnd))


@pytest.mark.parametrize("case", TRANSCRIPTS, ids=lambda c: c["id"])
def test_transcript_bytes(case: dict[str, Any]) -> None:
    pair = Pair(case["input"])
    steps = [s for s in case["steps"] if "command" in s]
    hello = pair.client.hello()
    welcome = pair.server.on_hello(hello)
    initiate = pair.client.on_command(welcome)
    key, md = pair.server.on_initiate(initiate)
    assert key.hex() == case["input"]["client"]["public_key"]
    assert decode_metadata(md, 0, 0) == pair.client_md
    ready = pair.server.ready(encode_metadata(pair.server_md))
    assert decode_metadata(pair.client.on_ready(ready), 0, 0) == pair.server_md
    assert [s["body"] for s in steps[:4]] == [b.hex() for b in (hello, welcome, initiate, ready)]
    ciphers = {"client": pair.client.cipher(), "server": pair.server.cipher()}
    for step in steps[4:]:
        f = step["fields"]
        body = ciphers[step["from"]].seal(f["flags"], _h(f["frame"]))
        assert body.hex() == step["body"]
        other = "server" if step["from"] == "client" else "client"
        assert ciphers[other].open(body) == (f["flags"], _h(f["frame"]))
    for step in steps:  # handshake commands in command frames, MESSAGE in data frames
        body = _h(step["body"])
        flags = 0 if step["command"] == "MESSAGE" else COMMAND
        assert _h(step["hex"]) == frame_header(flags, len(body)) + body


@pytest.mark.parametrize("case", TRANSCRIPTS, ids=lambda c: c["id"])
def test_every_box_opens_alone(case: dict[str, Any]) -> None:
    """A porter can check one box at a time: nonce + shared key + box -> plaintext."""
    boxes = [b for s in case["steps"] for b in s.get("boxes", [])]
    assert {b["name"] for b in boxes} >= {"hello-box", "welcome-box", "cookie", "initiate-box",
                                          "vouch", "ready-box", "message-box"}
    for b in boxes:
        assert nacl.secretbox_open(_h(b["box"]), _h(b["nonce"]), _h(b["shared_key"])) == _h(b["plaintext"])
        assert nacl.secretbox(_h(b["plaintext"]), _h(b["nonce"]), _h(b["shared_key"])) == _h(b["box"])


def _replay(pair: Pair, state: str) -> Any:
    """The function that receives a body in ``state`` (as named by vectors/curve/invalid.json)."""
    if state == "server-expect-hello":
        return pair.server.on_hello
    hello = pair.client.hello()
    if state == "client-expect-welcome":
        return pair.client.on_command
    welcome = pair.server.on_hello(hello)
    if state == "server-expect-initiate":
        return pair.server.on_initiate
    initiate = pair.client.on_command(welcome)
    pair.server.on_initiate(initiate)
    ready = pair.server.ready(encode_metadata(pair.server_md))
    if state == "client-expect-ready":
        return pair.client.on_ready
    pair.client.on_ready(ready)
    server, client = pair.server.cipher(), pair.client.cipher()
    first, second = client.seal(0, b"hello"), client.seal(0, b"again")
    if state == "server-open-after-first":
        server.open(first)
    elif state == "server-open-after-second":
        server.open(second)
    else:
        assert state == "server-open", state
    return server.open


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["id"])
def test_invalid_commands(case: dict[str, Any]) -> None:
    base = next(t for t in TRANSCRIPTS if t["id"] == case["input"]["transcript"])
    feed = _replay(Pair(base["input"]), case["input"]["state"])
    with pytest.raises(DecodeError) as info:
        feed(_h(case["input"]["body"]))
    err = info.value
    assert {"error": err.code, "field": err.field, "offset": err.offset} == case["error"]


def test_spec_states_every_invalid_error() -> None:
    """spec/curve.md#errors names the code and field of every refusal in invalid.json, and the
    offset of each box and clear field (a port derives them from there: check_vectors.js does)."""
    text = (VECTORS.parent.parent / "spec" / "curve.md").read_text("utf-8")
    errors = text[text.index("\n## Errors\n"):]
    for case in INVALID:
        want = case["error"]
        assert f"`{want['error']}`" in errors and f"`{want['field']}`" in errors, case["id"]
        if want["field"] not in ("body", "padding"):  # sizes and padding follow a stated rule
            rows = [r for r in errors.splitlines()
                    if f"| `{want['error']}` |" in r and f"`{want['field']}`" in r]
            assert any(re.search(rf"`{want['field']}` \({want['offset']}\)", r)
                       or re.search(rf"\| `{want['field']}` \|.*\b{want['offset']}\b", r)
                       for r in rows), case["id"]


def test_refused_client_key_gives_error_400() -> None:
    seen: list[bytes] = []

    def allow_nobody(key: bytes) -> bool:
        seen.append(key)
        return False

    pair = Pair(TRANSCRIPTS[0]["input"], allow_nobody)
    welcome = pair.server.on_hello(pair.client.hello())
    with pytest.raises(zc.CurveRefused) as info:
        pair.server.on_initiate(pair.client.on_command(welcome))
    assert seen == [_h(TRANSCRIPTS[0]["input"]["client"]["public_key"])]
    assert info.value.error_body == b"\x05ERROR\x03400"
    with pytest.raises(zc.PeerError) as peer:
        pair.client.on_ready(info.value.error_body)
    assert peer.value.reason == b"400"


def test_authenticator_that_raises_refuses() -> None:
    def broken(key: bytes) -> bool:
        raise RuntimeError("boom")

    pair = Pair(TRANSCRIPTS[0]["input"], broken)
    welcome = pair.server.on_hello(pair.client.hello())
    with pytest.raises(zc.CurveRefused):
        pair.server.on_initiate(pair.client.on_command(welcome))


def test_second_initiate_is_refused() -> None:
    pair = Pair(TRANSCRIPTS[0]["input"])
    initiate = pair.client.on_command(pair.server.on_hello(pair.client.hello()))
    pair.server.on_initiate(initiate)
    with pytest.raises(ZreRefError):
        pair.server.on_initiate(initiate)


def test_nonces_rise_and_never_repeat() -> None:
    pair = Pair(TRANSCRIPTS[0]["input"])
    pair.client.on_ready(_handshake(pair))
    client, server = pair.client.cipher(), pair.server.cipher()
    assert client.next_nonce == 3 and server.next_nonce == 2  # HELLO=1, INITIATE=2; READY=1
    bodies = [client.seal(0, b"%d" % i) for i in range(5)]
    assert [int.from_bytes(b[8:16], "big") for b in bodies] == [3, 4, 5, 6, 7]
    opened, error = server.open_many(bodies)
    assert error is None and [p for _, p in opened] == [b"%d" % i for i in range(5)]
    opened, error = server.open_many([bodies[-1]])
    assert opened == [] and isinstance(error, DecodeError) and error.code == "bad-nonce"


def _handshake(pair: Pair) -> bytes:
    initiate = pair.client.on_command(pair.server.on_hello(pair.client.hello()))
    pair.server.on_initiate(initiate)
    return pair.server.ready(encode_metadata(pair.server_md))


def test_batch_open_stops_at_the_first_bad_box() -> None:
    pair = Pair(TRANSCRIPTS[0]["input"])
    pair.client.on_ready(_handshake(pair))
    client, server = pair.client.cipher(), pair.server.cipher()
    bodies = [client.seal(0, b"a"), client.seal(1, b"b"), client.seal(0, b"c")]
    bodies[1] = bodies[1][:-1] + bytes([bodies[1][-1] ^ 1])
    opened, error = server.open_many(bodies)
    assert opened == [(0, b"a")] and isinstance(error, DecodeError) and error.code == "bad-box"


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300), state=st.sampled_from(
    ["server-expect-hello", "client-expect-welcome", "server-expect-initiate",
     "client-expect-ready", "server-open"]))
def test_any_bytes_give_a_value_or_a_project_error(body: bytes, state: str) -> None:
    feed = _replay(Pair(TRANSCRIPTS[0]["input"]), state)
    with contextlib.suppress(ZreRefError):
        feed(body)
