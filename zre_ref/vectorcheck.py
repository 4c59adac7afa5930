"""Run a porter's decoder program over the golden vectors, verdict per id (`zre-ref vectors check`).

The program is started once and speaks a line protocol (vectors/README.md#self-check): one case per
line on its stdin (frames as hex separated by spaces, ``-`` for an empty frame, an empty line for no
frame), one answer per line on its stdout: ``ok [JSON]`` or ``error CODE [FIELD FRAME OFFSET]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: seconds a decoder program may take to answer one case
ANSWER_TIMEOUT = 10.0
#: longest answer line read from a decoder program (bytes); longer is a failure, not a buffer
MAX_ANSWER = 1 << 20


def default_vectors_dir() -> Path:
    """The repository's vectors/ next to the package, else ./vectors."""
    beside = Path(__file__).resolve().parents[1] / "vectors"
    return beside if beside.is_dir() else Path("vectors")


def message_cases(vectors: Path, protocol: str) -> list[dict[str, Any]]:
    """Every ``message`` case of every file whose ``protocol`` is ``protocol``, in file order."""
    out: list[dict[str, Any]] = []
    for path in sorted(vectors.rglob("*.json")):
        if path.name == "schema.json":
            continue
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("protocol") != protocol:
            continue
        out += [c for c in doc.get("cases", []) if c.get("kind", "message") == "message"]
    return out


def case_line(case: dict[str, Any]) -> str:
    """The stdin line for ``case``: its frames (or its one byte string) as hex."""
    frames = case["frames"] if "frames" in case else [case["hex"]]
    return " ".join(f or "-" for f in frames)


def judge(case: dict[str, Any], answer: str) -> str | None:
    """None if ``answer`` is right for ``case``, else why it is wrong."""
    word, _, rest = answer.strip().partition(" ")
    result = case["result"]
    if word == "ok":
        if result == "invalid":
            return f"accepted, expected {case['error']['error']}"
        if rest.strip():
            try:
                fields = json.loads(rest)
            except ValueError:
                return f"not JSON after ok: {rest[:80]!r}"
            if fields != case["fields"]:
                return f"fields differ: {json.dumps(fields)[:200]}"
        return None
    if word == "error":
        if result == "valid":
            return f"refused ({rest.strip()}), expected fields"
        return _judge_error(case["error"], rest.split())
    return f"answer is neither ok nor error: {answer[:80]!r}"


def _judge_error(want: dict[str, Any], got: list[str]) -> str | None:
    if not got:
        return "error without a code"
    if got[0] != want["error"]:
        return f"error {got[0]}, expected {want['error']}"
    if len(got) == 1:
        return None
    if len(got) != 4:
        return f"expected `error CODE FIELD FRAME OFFSET`, got {' '.join(got)!r}"
    frame = str(want["frame"]) if "frame" in want else "-"
    expected = [want["error"], want["field"], frame, str(want["offset"])]
    if got != expected:
        return f"error {' '.join(got)}, expected {' '.join(expected)}"
    return None


@dataclass(frozen=True)
class Verdict:
    id: str
    problem: str | None  # None = pass


class _Decoder:
    """The porter's program: one line in, one line out, each answer awaited with a deadline."""

    def __init__(self, command: str) -> None:
        self.proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)

    def ask(self, line: str, timeout: float) -> str:
        """Send one line, return the answer line; raise RuntimeError if none comes in time."""
        try:
            self.stdin.write(line.encode() + b"\n")
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            raise RuntimeError("the decoder program exited") from None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                raise RuntimeError(f"no answer within {timeout:g} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise RuntimeError("the decoder program exited")
            self.buf += chunk
            if len(self.buf) > MAX_ANSWER:
                raise RuntimeError(f"answer longer than {MAX_ANSWER} bytes")
        answer, _, self.buf = self.buf.partition(b"\n")
        return answer.decode("utf-8", "replace")

    def close(self) -> None:
        self.sel.close()
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def check(command: str, cases: Iterable[dict[str, Any]], *,
          timeout: float = ANSWER_TIMEOUT) -> list[Verdict]:
    """Feed every case to the program ``command``; one verdict per case, in order."""
    verdicts: list[Verdict] = []
    decoder = _Decoder(command)
    broken: str | None = None
    try:
        for case in cases:
            if broken is not None:
                verdicts.append(Verdict(case["id"], broken))
                continue
            try:
                answer = decoder.ask(case_line(case), timeout)
            except RuntimeError as exc:
                broken = str(exc)
                verdicts.append(Verdict(case["id"], broken))
                continue
            verdicts.append(Verdict(case["id"], judge(case, answer)))
    finally:
        decoder.close()
    return verdicts
