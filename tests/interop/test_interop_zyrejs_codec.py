"""Cross-check of the ZRE vectors against zyre.js's codec (npm zyre.js 1.3.0): spec/deviations.md#zyre-js.

One node process loads ``zyre.js/lib/zre_msg.js`` and ``zbeacon.js``-equivalent checks, decodes every
valid and invalid vector and encodes every valid one; this module compares, and asserts each
``zyrejs-deviates:*`` flag explicitly. Needs node and <repo>/.interop-js (tests/interop/setup-js.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors" / "zre"
MODULE = ROOT / ".interop-js" / "node_modules" / "zyre.js" / "lib" / "zre_msg.js"

NAMES = {1: "HELLO", 2: "WHISPER", 3: "SHOUT", 4: "JOIN", 5: "LEAVE", 6: "PING", 7: "PING-OK"}
IDS = {v: k for k, v in NAMES.items()}

# Reads {"decode": [[hex...]...], "encode": [fields...]} on stdin; prints results as JSON.
SCRIPT = r"""
const ZreMsg = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const IDS = {HELLO: 1, WHISPER: 2, SHOUT: 3, JOIN: 4, LEAVE: 5, PING: 6, 'PING-OK': 7};
const decoded = input.decode.map((frames) => {
  if (frames.length === 0) return null;
  const bufs = frames.map((h) => Buffer.from(h, 'hex'));
  const m = ZreMsg.read(bufs[0], bufs[1]);   // zyre_node.js passes (data frame, next frame)
  if (m === undefined) return null;
  const out = {};
  for (const k of Object.keys(m)) {
    const v = m[k];
    out[k] = Buffer.isBuffer(v) ? {hex: v.toString('hex')} : v;
  }
  return out;
});
const encoded = input.encode.map((f) => {
  if (!(f.type in IDS)) return null;
  const opts = {sequence: f.sequence};
  for (const k of ['group', 'endpoint', 'groups', 'status', 'name', 'headers']) {
    if (k in f) opts[k] = k === 'headers' ? Object.fromEntries(f[k]) : f[k];  // pairs -> object
  }
  const frames = [new ZreMsg(IDS[f.type], opts).toBuffer().toString('hex')];
  if ('content' in f) frames.push(f.content.length ? f.content[0] : '');  // send() sends one frame
  return frames;
});
process.stdout.write(JSON.stringify({decoded, encoded}));
"""


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


MESSAGES = _cases("messages.json")
INVALID = _cases("invalid.json")


@pytest.fixture(scope="module")
def zyrejs() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not MODULE.exists():
        # under CI a missing prerequisite is a failure, never a skip
        assert not os.environ.get("CI"), "CI=true but node / .interop-js zyre.js is missing"
        pytest.skip("needs node and zyre.js in .interop-js (tests/interop/setup-js.sh)")
    request = {"decode": [c["frames"] for c in MESSAGES + INVALID],
               "encode": [c["fields"] for c in MESSAGES]}
    proc = subprocess.run([node, "-e", SCRIPT, str(MODULE)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, check=True)
    out: dict[str, Any] = json.loads(proc.stdout)
    n = len(MESSAGES)
    return {"valid": dict(zip([c["id"] for c in MESSAGES], out["decoded"][:n], strict=True)),
            "invalid": dict(zip([c["id"] for c in INVALID], out["decoded"][n:], strict=True)),
            "encoded": dict(zip([c["id"] for c in MESSAGES], out["encoded"], strict=True))}


def _fields(m: dict[str, Any]) -> dict[str, Any]:
    """zyre.js's decoded object in our JSON form."""
    out: dict[str, Any] = {"type": NAMES[m["cmd"]], "version": 2, "sequence": m["sequence"]}
    for key in ("endpoint", "groups", "status", "name", "headers", "group"):
        if key in m:
            out[key] = m[key]
    if "headers" in out:  # an object in wire order (JSON keeps it) -> our [key, value] pairs
        out["headers"] = [[k, v] for k, v in out["headers"].items()]
    if out["type"] in ("WHISPER", "SHOUT"):
        content = m.get("content")
        out["content"] = [] if content is None else [content["hex"]]
    return out


def _flags(case: dict[str, Any]) -> list[str]:
    return [f for f in case.get("flags", []) if f.startswith("zyrejs-")]


@pytest.mark.parametrize("case", MESSAGES, ids=[c["id"] for c in MESSAGES])
def test_zyrejs_decodes_valid_vector(zyrejs: dict[str, Any], case: dict[str, Any]) -> None:
    got = zyrejs["valid"][case["id"]]
    flags = _flags(case)
    if "zyrejs-deviates:unknown-id" in flags or "zyrejs-deviates:hello-sequence" in flags:
        assert got is None  # refused
        return
    assert got is not None
    fields = _fields(got)
    if "zyrejs-deviates:one-content-frame" in flags:
        # it keeps only the first content frame
        assert fields["content"] == case["fields"]["content"][:1]
        fields["content"] = case["fields"]["content"]
    assert fields == case["fields"]


@pytest.mark.parametrize("case", MESSAGES, ids=[c["id"] for c in MESSAGES])
def test_zyrejs_encodes_valid_vector(zyrejs: dict[str, Any], case: dict[str, Any]) -> None:
    got = zyrejs["encoded"][case["id"]]
    flags = _flags(case)
    if "zyrejs-deviates:unknown-id" in flags:
        assert got is None  # no encoder for ids 8..10
        return
    if "zyrejs-deviates:one-content-frame" in flags:
        assert got[0] == case["frames"][0]
        assert len(got) == 2 != len(case["frames"])  # always exactly one content frame
        assert got[1] == (case["frames"][1] if len(case["frames"]) > 1 else "")
        return
    assert got == case["frames"]


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_zyrejs_on_invalid_vector(zyrejs: dict[str, Any], case: dict[str, Any]) -> None:
    """zyre.js refuses (returns undefined) except where its decoder is lenient, asserted here."""
    got = zyrejs["invalid"][case["id"]]
    err = case["error"]["error"]
    flags = _flags(case)
    lenient = "zyrejs-deviates:lenient-strings" in flags or (
        "lenient-decoders-accept" in case.get("flags", []))
    if got is None:
        assert not lenient, case["id"]
        return
    # accepted: only the lenient classes get here, and the vector says so
    assert err in ("trailing-bytes", "frame-count", "length-overflow", "invalid-utf8"), err
    assert lenient, (case["id"], _fields(got))


def test_every_zyrejs_flag_is_known() -> None:
    known = {"zyrejs-deviates:unknown-id", "zyrejs-deviates:hello-sequence",
             "zyrejs-deviates:one-content-frame", "zyrejs-deviates:lenient-strings"}
    for case in MESSAGES + INVALID:
        assert set(_flags(case)) <= known, case["id"]
