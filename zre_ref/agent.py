"""`zre-ref agent`: the built-in zre-conformance agent, driving :class:`zre_ref.aio.zre.ZreNode`.

Speaks agent protocol v1 (spec/conformance.md#agent-protocol): newline-delimited JSON commands on
stdin, replies and events on stdout, logs on stderr. ``--fault NAME`` makes the node misbehave
in one way, so that the runner's own tests can check that it catches each fault
(spec/conformance.md#agents).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("zre_ref.agent")

#: Agent protocol version (spec/conformance.md#agent-protocol)
PROTOCOL_VERSION = 1

#: Faults for the runner's own tests (spec/conformance.md#agents)
FAULTS: dict[str, str] = {
    "none": "behave",
    "skip-hello": "never send HELLO",
    "status-off-by-one": "JOIN/LEAVE carry status + 1",
    "no-ping-ok": "never answer PING",
    "bad-version": "version byte 3 in every message",
    "bad-sequence-start": "HELLO carries sequence 0",
    "crash-on-shout": "the agent exits on `shout`",
    "hang-on-join": "the agent never answers `join`",
}

#: Offsets in a ZRE data frame: AA A1 | id | version | sequence(2) (spec/zre.md#message-layout)
_ID_AT, _VERSION_AT, _SEQ_AT = 2, 3, 4
_HELLO, _JOIN, _LEAVE, _PING_OK = 1, 4, 5, 7

Frames = list[bytes]


def fault_transform(fault: str) -> Callable[[Frames], Frames | None] | None:
    """What a wire fault does to one outgoing DEALER message (None = drop it)."""
    if fault == "skip-hello":
        return lambda f: None if len(f[0]) > _ID_AT and f[0][_ID_AT] == _HELLO else f
    if fault == "no-ping-ok":
        return lambda f: None if len(f[0]) > _ID_AT and f[0][_ID_AT] == _PING_OK else f
    if fault == "bad-version":
        return lambda f: [f[0][:_VERSION_AT] + b"\x03" + f[0][_VERSION_AT + 1:], *f[1:]]
    if fault == "bad-sequence-start":
        def hello_seq_zero(f: Frames) -> Frames:
            if len(f[0]) > _SEQ_AT + 1 and f[0][_ID_AT] == _HELLO:
                return [f[0][:_SEQ_AT] + b"\x00\x00" + f[0][_SEQ_AT + 2:], *f[1:]]
            return f
        return hello_seq_zero
    if fault == "status-off-by-one":
        def status_plus_one(f: Frames) -> Frames:
            if len(f[0]) > _SEQ_AT + 2 and f[0][_ID_AT] in (_JOIN, _LEAVE):
                return [f[0][:-1] + bytes(((f[0][-1] + 1) & 0xFF,)), *f[1:]]
            return f
        return status_plus_one
    return None


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _uuid_hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    return str(value).replace("-", "").upper()


def event_to_json(event: Any) -> dict[str, Any] | None:
    """A zre_ref.zre.events event as an agent protocol event (spec/conformance.md#events)."""
    data = event.to_json()
    kind = data.get("event")
    out: dict[str, Any] = {"event": kind, "peer": _uuid_hex(data.get("peer_uuid", "")),
                           "name": data.get("peer_name", "")}
    if kind == "ENTER":
        out["headers"] = dict(data.get("headers", {}))
        out["endpoint"] = data.get("endpoint", "")
    elif kind in ("JOIN", "LEAVE"):
        out["group"] = data.get("group", "")
    elif kind in ("SHOUT", "WHISPER"):
        if kind == "SHOUT":
            out["group"] = data.get("group", "")
        out["content"] = list(data.get("content_hex", []))
    elif kind not in ("EXIT", "EVASIVE", "SILENT", "STOP"):
        return None  # LEADER and other extensions are not part of agent protocol v1
    return out


class Agent:
    """One ZreNode at a time, driven by agent protocol commands."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.node: Any = None
        self.pump: asyncio.Task[None] | None = None

    async def hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        from . import __version__

        return {"implementation": "zre_ref", "version": __version__, "protocol": PROTOCOL_VERSION,
                "protocols": ["zre/2"],
                "capabilities": ["beacon", "beacon-interval", "beacon-stop", "timers", "headers",
                                 "peers", "connect", "evasive-events", "stop-event"],
                "timers": {"evasive_ms": 5000, "expired_ms": 30000, "beacon_interval_ms": 1000,
                           "reap_interval_ms": 1000},
                "fault": self.fault}

    async def start(self, msg: dict[str, Any]) -> dict[str, Any]:
        from .aio.zre import ZreNode

        if self.node is not None:
            raise RuntimeError("already started")
        beacon = msg.get("beacon")
        wanted: dict[str, Any] = {"name": msg["name"], "headers": dict(msg.get("headers", {}))}
        if beacon is not None:
            wanted["port"] = beacon["port"]
            wanted["interface"] = beacon.get("interface", "127.0.0.1")
            if "interval_ms" in beacon:
                wanted["beacon_interval"] = beacon["interval_ms"] / 1000
        else:
            wanted["beacon"] = False
        if "evasive_ms" in msg:
            wanted["evasive"] = msg["evasive_ms"] / 1000
        if "expired_ms" in msg:
            wanted["expired"] = msg["expired_ms"] / 1000
        if msg.get("bind"):
            wanted["bind"] = msg["bind"]
        accepted = inspect.signature(ZreNode).parameters
        kwargs = {k: v for k, v in wanted.items() if k in accepted}
        dropped = sorted(set(wanted) - set(kwargs))
        if dropped:
            log.info("ZreNode takes no %s; using its defaults", dropped)
        if "send_filter" in accepted:  # --fault: every DEALER of the node applies it
            kwargs["send_filter"] = fault_transform(self.fault)
        node = ZreNode(**kwargs)
        await _maybe(node.start())
        # ZreNode joins only once running; no peer can have met us yet, so every HELLO lists these
        for group in msg.get("groups", []):
            await _maybe(node.join(group))
        self.node = node
        self.pump = asyncio.create_task(self._pump(node))
        return {"uuid": _uuid_hex(node.uuid), "endpoint": str(node.endpoint)}

    async def _pump(self, node: Any) -> None:
        while True:
            try:
                event = await node.recv()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the node is closed
                log.debug("event pump ends: %s", exc)
                return
            out = event_to_json(event)
            if out is not None:
                _emit(out)
            if out is not None and out["event"] == "STOP":
                return

    def _node(self) -> Any:
        if self.node is None:
            raise RuntimeError("not started")
        return self.node

    async def connect(self, msg: dict[str, Any]) -> dict[str, Any]:
        await _maybe(self._node().connect_peer(msg["endpoint"]))
        return {}

    async def join(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.fault == "hang-on-join":
            await asyncio.sleep(3600)
        await _maybe(self._node().join(msg["group"]))
        return {}

    async def leave(self, msg: dict[str, Any]) -> dict[str, Any]:
        await _maybe(self._node().leave(msg["group"]))
        return {}

    async def shout(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.fault == "crash-on-shout":
            log.error("fault crash-on-shout: exiting")
            os._exit(70)
        await _maybe(self._node().shout(msg["group"], *[bytes.fromhex(h) for h in msg["content"]]))
        return {}

    async def whisper(self, msg: dict[str, Any]) -> dict[str, Any]:
        await _maybe(self._node().whisper(msg["peer"], *[bytes.fromhex(h) for h in msg["content"]]))
        return {}

    async def peers(self, msg: dict[str, Any]) -> dict[str, Any]:
        node = self._node()
        raw = await _maybe(node.peers() if callable(node.peers) else node.peers)
        out = []
        for p in raw:
            if isinstance(p, (str, bytes)):
                out.append({"peer": _uuid_hex(p)})
            else:
                out.append({"peer": _uuid_hex(getattr(p, "uuid_hex", getattr(p, "uuid", "")))})
        return {"peers": out}

    async def stop(self, msg: dict[str, Any]) -> dict[str, Any]:
        node = self._node()
        self.node = None
        await _maybe(node.stop())
        if self.pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.pump, 1.0)
            self.pump = None
        return {}


async def serve(fault: str) -> int:
    """Read commands until stdin closes (spec/conformance.md#transport)."""
    agent = Agent(fault)
    handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
        "hello": agent.hello, "start": agent.start, "connect": agent.connect, "join": agent.join,
        "leave": agent.leave, "shout": agent.shout, "whisper": agent.whisper,
        "peers": agent.peers, "stop": agent.stop}
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pending: set[asyncio.Task[None]] = set()

    async def run(msg: dict[str, Any]) -> None:
        cid = msg.get("id")
        handler = handlers.get(str(msg.get("cmd")))
        if handler is None:
            _emit({"id": cid, "ok": False, "unsupported": True})
            return
        try:
            result = await handler(msg)
        except Exception as exc:  # report every failure to the runner
            log.exception("command %s failed", msg.get("cmd"))
            _emit({"id": cid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        _emit({"id": cid, "ok": True, **result})

    while True:
        line = await reader.readline()
        if not line:
            break
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            log.error("not JSON: %r", line[:200])
            continue
        if not isinstance(msg, dict):
            log.error("not a JSON object: %r", line[:200])
            continue
        # `join` runs as its own task so that a hung join (fault) does not block other commands
        if msg.get("cmd") == "join":
            task = asyncio.create_task(run(msg))
            pending.add(task)
            task.add_done_callback(pending.discard)
        else:
            await run(msg)
    for task in pending:
        task.cancel()
    if agent.node is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(agent.stop({}), 2.0)
    return 0


def _cmd_agent(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING - 10 * args.verbose,
                        format="zre-ref agent %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(args.fault))


def add_commands(subparsers: Any) -> None:
    """`zre-ref agent` (registered through zre_ref/registry.py COMMAND_MODULES)."""
    p = subparsers.add_parser("agent", help="the zre-conformance agent for this implementation "
                              "(NDJSON on stdin/stdout, spec/conformance.md)")
    p.add_argument("--fault", choices=sorted(FAULTS), default="none",
                   help="misbehave on purpose (for the runner's own tests)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=_cmd_agent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zre-ref agent")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args(["agent", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
