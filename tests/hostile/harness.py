"""A victim in a child process, watched from outside (issue: hostile peers).

Each attack test starts the thing under attack (a ZreNode, a Socket, the broker, the collector) in its
own Python process with :func:`victim`, talks to it over loopback, and asserts on what can be seen
from outside: it is alive, it still serves a well-behaved peer, its resident memory (``VmRSS`` /
``VmHWM`` from /proc) stays under the documented bound, and its log (stderr) stays small.

The child prints one JSON object per line on stdout (``{"ready": ..., ...}`` first); read them with
:meth:`Victim.expect`, which waits for a line matching a predicate, with a deadline — never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.waiting import until_sync

ROOT = Path(__file__).resolve().parents[2]


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


class Victim:
    """A running child process and what it has said so far."""

    def __init__(self, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.proc = proc
        self.stderr_path = stderr_path
        self.lines: list[dict[str, Any]] = []
        self._buf = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        """Resident set size now, in bytes."""
        return _status_kb(self.pid, "VmRSS") * 1024

    def peak_rss(self) -> int:
        """Highest resident set size so far (VmHWM), in bytes."""
        return _status_kb(self.pid, "VmHWM") * 1024

    def log_bytes(self) -> int:
        """Bytes the child has written to stderr (its log) so far."""
        return self.stderr_path.stat().st_size

    def log_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the child's log contains ``text``; return the log."""
        def logged() -> bool:  # a file: there is no event to wait on
            if text in self.log_text():
                return True
            if not self.alive():
                raise RuntimeError(f"victim exited ({self.proc.returncode}): "
                                   f"{self.log_text()[-2000:]}")
            return False

        try:
            until_sync(logged, timeout, what=f"{text!r} in the log")
        except AssertionError:
            raise TimeoutError(f"{text!r} not logged within {timeout} s; log tail: "
                               f"{self.log_text()[-2000:]}") from None
        return self.log_text()

    def ask(self, obj: dict[str, Any], key: str, timeout: float = 10.0) -> Any:
        """Send a command line and return ``line[key]`` of the next line that has ``key`` (for
        scripts that answer commands on stdin); the line is consumed."""
        self.send(obj)
        line = self.expect(lambda line: key in line, timeout=timeout)
        self.lines.remove(line)
        return line[key]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, obj: dict[str, Any]) -> None:
        """One JSON line to the child's stdin (a command, if the script reads any)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def expect(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """The first line (already read or still to come) for which ``pred`` holds."""
        for line in self.lines:
            if pred(line):
                return line
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching line within {timeout} s; log tail: "
                                   f"{self.log_text()[-2000:]}")
            ready, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                if not self.alive():
                    raise RuntimeError(f"victim exited ({self.proc.returncode}): "
                                       f"{self.log_text()[-2000:]}")
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"victim closed stdout ({self.proc.poll()}): "
                                   f"{self.log_text()[-2000:]}")
            self._buf += chunk
            *complete, self._buf = self._buf.split(b"\n")
            for raw in complete:
                if not raw.strip():
                    continue
                obj = json.loads(raw)
                self.lines.append(obj)
                if pred(obj):
                    return obj


@contextmanager
def victim(script: str, tmp_path: Path, *, env: dict[str, str] | None = None) -> Iterator[Victim]:
    """Run ``script`` (Python source, dedented) in a child process; kill it on exit."""
    stderr_path = tmp_path / f"victim-{time.monotonic_ns()}.log"
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [child_env.get("PYTHONPATH")])])
    child_env.update(env or {})
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                env=child_env)
    v = Victim(proc, stderr_path)
    try:
        yield v
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


async def answer_commands(ready: dict[str, Any],
                          answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
    """For victim scripts (run in the child): print ``ready`` as the first line, then answer each
    JSON command line arriving on stdin with the object ``await answer(command)`` returns, until
    stdin closes. Pairs with :meth:`Victim.ask`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps(ready), flush=True)
    while line := await reader.readline():
        print(json.dumps(await answer(json.loads(line))), flush=True)
