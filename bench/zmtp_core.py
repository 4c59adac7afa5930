"""The ZMTP core alone, in one process: CPU time per message of Connection's receive path and of
a DEALER's send path, optionally against another revision of zre_ref, interleaved.

    python bench/zmtp_core.py
    git archive 47cbe74 zre_ref | tar -x -C /tmp/base          # any earlier revision
    python bench/zmtp_core.py --against /tmp/base               # this tree vs that one

No sockets, no second process: the figures move far less with the machine's load than
bench/zmtp_throughput.py's (the best of several rounds of process CPU time is kept). Receive:
a 256 KiB read of 64 B / 1 KiB messages through receive_data; 64 KiB / 1 MiB messages through
get_buffer/buffer_updated with zero_copy (a fresh buffer per large frame). Send: a DEALER
queueing 64 B messages for a peer that is not connected yet. Handshake: per connection, made
and fed its peer's eager greeting and READY at once. Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load(tree: Path | None) -> tuple[str, ModuleType, ModuleType]:
    """(label, zmtp.connection, aio.zmtp) of this tree, or of ``tree`` imported as zre_against."""
    if tree is None:
        sys.path.insert(0, str(ROOT))
        return "this tree", importlib.import_module("zre_ref.zmtp.connection"), \
            importlib.import_module("zre_ref.aio.zmtp")
    tmp = Path(tempfile.mkdtemp(prefix="zmtp-core-"))
    shutil.copytree(tree / "zre_ref", tmp / "zre_against")
    sys.path.insert(0, str(tmp))
    return str(tree), importlib.import_module("zre_against.zmtp.connection"), \
        importlib.import_module("zre_against.aio.zmtp")


def _pair(conn_mod: ModuleType, zero_copy: bool) -> tuple[Any, Any]:
    a, b = conn_mod.Connection("DEALER"), conn_mod.Connection("ROUTER", zero_copy=zero_copy)
    for _ in range(10):
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if data:
                dst.receive_data(data)
    return a, b


def receive_small(conn_mod: ModuleType, size: int, rounds: int = 30) -> float:
    a, b = _pair(conn_mod, False)
    n = (256 * 1024) // (size + 2)
    for _ in range(n):
        a.send_message([b"x" * size])
    data = a.data_to_send()
    best = 1e9
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(5):
            events = b.receive_data(data)
        best = min(best, (time.process_time() - t0) / 5 / n)
        assert len(events) == n
    return best * 1e6


def receive_large(conn_mod: ModuleType, size: int, n: int, rounds: int = 5) -> float:
    best = 1e9
    for _ in range(rounds):
        a, b = _pair(conn_mod, True)
        for _ in range(n):
            a.send_message([b"x" * size])
        data = memoryview(a.data_to_send())
        t0 = time.process_time()
        pos = got = 0
        while pos < len(data):
            buf = b.get_buffer()
            k = min(len(buf), len(data) - pos)
            buf[:k] = data[pos : pos + k]
            pos += k
            del buf
            events = b.buffer_updated(k)
            got += len(events)
            del events  # the application drops each frame at once
        best = min(best, (time.process_time() - t0) / n)
        assert got == n
    return best * 1e6


def handshake(conn_mod: ModuleType, n: int = 3000, rounds: int = 5) -> float:
    """One connection's side of an eager NULL handshake: made, then the peer's whole greeting
    and READY read in one go (as ZRE links do); per connection, a ROUTER and a DEALER in turn."""
    opening = {kind: conn_mod.Connection(kind, identity=ident, eager=True).data_to_send()
               for kind, ident in (("DEALER", b"\x01" + b"u" * 16), ("ROUTER", b""))}
    shared = conn_mod.ReadBuffer()
    best = 1e9
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            for kind, ident, peer in (("ROUTER", b"", "DEALER"),
                                      ("DEALER", b"\x01" + b"u" * 16, "ROUTER")):
                c = conn_mod.Connection(kind, identity=ident, eager=True, receive_buffer=shared)
                c.data_to_send()
                c.receive_data(opening[peer])
        best = min(best, (time.process_time() - t0) / (2 * n))
        assert c.is_open
    return best * 1e6


def send_queue(aio_mod: ModuleType, n: int = 200_000, rounds: int = 5) -> float:
    async def run() -> float:
        best = 1e9
        for _ in range(rounds):
            s = aio_mod.Socket("DEALER", sndhwm=10**9)
            s.connect_nowait("tcp://127.0.0.1:1")
            msg = [b"x" * 64]
            send = s.send_frames_nowait
            t0 = time.process_time()
            for _ in range(n):
                send(msg)
            best = min(best, (time.process_time() - t0) / n)
            s.close(linger=False)
        return best * 1e6

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", type=Path, help="a directory holding another zre_ref")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (best kept)")
    args = ap.parse_args()
    trees = [_load(None)] + ([_load(args.against)] if args.against else [])
    tests = [
        ("receive 64 B", lambda c, a: receive_small(c, 64)),
        ("receive 1 KiB", lambda c, a: receive_small(c, 1024)),
        ("receive 64 KiB zero-copy", lambda c, a: receive_large(c, 64 * 1024, 400)),
        ("receive 1 MiB zero-copy", lambda c, a: receive_large(c, 1 << 20, 40)),
        ("DEALER send 64 B (queue)", lambda c, a: send_queue(a)),
        ("handshake (eager NULL)", lambda c, a: handshake(c)),
    ]
    print(f"# CPU us per message, best of {args.repeat} interleaved rounds; python "
          f"{sys.version.split()[0]}")
    print("test".ljust(28) + "".join(label[-24:].rjust(26) for label, _, _ in trees))
    for name, fn in tests:
        best = [1e9] * len(trees)
        for _ in range(args.repeat):  # the trees take turns, so load changes hit both
            for i, (_label, c, a) in enumerate(trees):
                best[i] = min(best[i], fn(c, a))
        print(name.ljust(28) + "".join(f"{b:26.3f}" for b in best))


if __name__ == "__main__":
    main()
