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
    "gap-stall": "after a sequence gap, drop everything from that peer and never report its EXIT",
    "short-beacon-exit": "report EXIT for a known peer when a 21-byte beacon carries its UUID",
    "early-expiry": "run the evasive and expired timers at a third of what `start` asks",
    "deaf-after-forged-endpoint": "stop reading messages once a new UUID beacons a known port",
    "deaf-after-bad-endpoint": "stop reading messages after a HELLO with an unconnectable endpoint",
    "deaf-after-huge-hello": "stop reading messages after a HELLO over 64 KiB",
    "deaf-after-huge-frame": "stop reading messages once a connection sends no message after its handshake",
    "deaf-after-beacon-flood": "stop reading messages once 200 unknown UUIDs have beaconed",
    "curve-wrong-beacon-key": "CURVE mode: the beacon carries a key other than the node's",
    "curve-accept-null": "CURVE mode: the ROUTER takes plaintext (NULL) connections",
    "deaf-after-bad-box": "stop reading messages once a connection sent a MESSAGE box that does not open",
    "deaf-after-bad-handshake": "stop reading messages once a CURVE handshake failed",
}

#: Faults applied to what the node receives (ReceiveFaults), not to what it sends
RECEIVE_FAULTS = frozenset({
    "gap-stall", "short-beacon-exit", "deaf-after-forged-endpoint", "deaf-after-bad-endpoint",
    "deaf-after-huge-hello", "deaf-after-huge-frame", "deaf-after-beacon-flood",
    "deaf-after-bad-box", "deaf-after-bad-handshake"})
#: What the ZMTP layer logs that makes a log-triggered fault go deaf: fault -> (words, why)
_DEAF_ON_LOG: dict[str, tuple[tuple[str, ...], str]] = {
    "deaf-after-huge-frame": (("limit", "size"), "a connection declared a frame over the size limit"),
    "deaf-after-bad-box": (("message-box",), "a MESSAGE box did not open"),
    "deaf-after-bad-handshake": (("closed connection",), "a connection failed its handshake"),
}
#: Size of a HELLO that `deaf-after-huge-hello` goes deaf on, bytes
_HUGE_HELLO = 64 * 1024
#: Unknown beacon UUIDs that make `deaf-after-beacon-flood` go deaf
_FLOOD_UUIDS = 200
#: Seconds a ready ROUTER connection may stay silent before `deaf-after-huge-frame` goes deaf
_SILENT_CONNECTION = 0.5

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


class ReceiveFaults:
    """Receive-side faults of the built-in agent (spec/conformance.md#agents): a filter in front
    of the node's core that drops messages (``deaf`` drops everything from then on) and may add
    or hide events. For the runner's self-tests only; it never runs without ``--fault``."""

    def __init__(self, fault: str, node: Any) -> None:
        self.fault = fault
        self.node = node
        self.deaf = False
        self.stalled: set[str] = set()  # gap-stall: UUIDs (hex) whose messages are dropped
        self.next_seq: dict[bytes, int] = {}
        self.beacon_ports: dict[tuple[str, int], bytes] = {}
        self.beacon_uuids: set[bytes] = set()
        self.seen_identities: set[bytes] = set()
        self.log_trigger: logging.Handler | None = None
        self.watch: asyncio.Task[None] | None = None

    def install(self) -> None:
        """Filter this node's inbox and beacons (this node only: other nodes are untouched)."""
        self.node.inbox_filter = lambda batch: [m for m in batch if self.keep(m)]
        self.node.beacon_filter = lambda data, host: self.keep_beacon(bytes(data), host)
        if self.fault == "deaf-after-huge-frame":
            self.watch = asyncio.create_task(self._watch_connections())
        if self.fault in _DEAF_ON_LOG:
            self.log_trigger = _DeafOnLog(self, *_DEAF_ON_LOG[self.fault])
            logging.getLogger("zre_ref.aio.zmtp").addHandler(self.log_trigger)

    def _go_deaf(self, why: str) -> None:
        if not self.deaf:
            log.warning("fault %s: deaf from now on (%s)", self.fault, why)
        self.deaf = True

    def keep(self, msg: Sequence[bytes]) -> bool:
        if self.deaf or len(msg) < 2:
            return not self.deaf
        identity, first = bytes(msg[0]), bytes(msg[1])
        self.seen_identities.add(identity)
        is_hello = len(first) > _ID_AT and first[_ID_AT] == _HELLO
        if self.fault == "gap-stall":
            return self._in_sequence(identity, first, is_hello)
        if is_hello and self.fault in ("deaf-after-bad-endpoint", "deaf-after-huge-hello"):
            size = sum(len(f) for f in msg[1:])
            if self.fault == "deaf-after-huge-hello" and size > _HUGE_HELLO:
                self._go_deaf(f"a {size}-byte HELLO")
            elif self.fault == "deaf-after-bad-endpoint" and not _connectable(first):
                self._go_deaf("a HELLO with an unconnectable endpoint")
        return not self.deaf

    def _in_sequence(self, identity: bytes, first: bytes, is_hello: bool) -> bool:
        uuid = identity[1:].hex().upper()
        if uuid in self.stalled:
            return False
        if len(first) < _SEQ_AT + 2:
            return True
        seq = int.from_bytes(first[_SEQ_AT:_SEQ_AT + 2], "big")
        want = self.next_seq.get(identity)
        if not is_hello and want is not None and seq != want:
            log.warning("fault gap-stall: sequence %d from %s, expected %d: stalling", seq, uuid, want)
            self.stalled.add(uuid)
            return False
        self.next_seq[identity] = (seq + 1) & 0xFFFF
        return True

    def keep_beacon(self, data: bytes, host: str) -> bool:
        if len(data) == 21 and self.fault == "short-beacon-exit":
            known = data[4:20].hex().upper()
            if known in [_uuid_hex(p) for p in self.node.peers()]:
                _emit({"event": "EXIT", "peer": known, "name": self.node.peer_name(known) or ""})
            return True
        if len(data) != 22:
            return True
        uuid, port = data[4:20], int.from_bytes(data[20:22], "big")
        if port and self.fault == "deaf-after-forged-endpoint":
            owner = self.beacon_ports.setdefault((host, port), uuid)
            if owner != uuid:
                self._go_deaf(f"UUID {uuid.hex()} beacons the port of {owner.hex()}")
        if self.fault == "deaf-after-beacon-flood":
            self.beacon_uuids.add(uuid)
            if len(self.beacon_uuids) > _FLOOD_UUIDS:
                self._go_deaf(f"{len(self.beacon_uuids)} UUIDs beaconed")
        return True

    async def _watch_connections(self) -> None:
        """deaf-after-huge-frame: a ready ROUTER connection that sends nothing is the attack."""
        first_seen: dict[bytes, float] = {}
        loop = asyncio.get_running_loop()
        while not self.deaf:
            await asyncio.sleep(0.01)
            router = getattr(self.node, "router", None)
            if router is None:
                continue
            now = loop.time()
            live = set()
            for pipe in router.peers():
                ident = bytes(pipe.get("identity") or b"")
                if pipe.get("ready") and ident:
                    live.add(ident)
                    first_seen.setdefault(ident, now)
            for ident, since in first_seen.items():
                if ident in self.seen_identities:
                    continue
                if ident not in live or now - since > _SILENT_CONNECTION:
                    self._go_deaf(f"connection {ident.hex()} sent nothing after its handshake")

    def hides(self, event: dict[str, Any]) -> bool:
        """gap-stall never reports EXIT for a peer it stalled."""
        return event.get("event") == "EXIT" and event.get("peer") in self.stalled

    def close(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
        if self.log_trigger is not None:
            logging.getLogger("zre_ref.aio.zmtp").removeHandler(self.log_trigger)


class _DeafOnLog(logging.Handler):
    """Log-triggered faults: the ZMTP layer logged a line holding every one of ``words``."""

    def __init__(self, faults: ReceiveFaults, words: tuple[str, ...], why: str) -> None:
        super().__init__(logging.INFO)
        self.faults = faults
        self.words = words
        self.why = why

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if all(w in text for w in self.words):
            self.faults._go_deaf(self.why)


def curve_fault(fault: str, node: Any) -> None:
    """The CURVE faults (spec/conformance.md#agents): a wrong key in the beacon, or a ROUTER
    that takes plaintext connections."""
    if fault == "curve-wrong-beacon-key":
        core, beacon = node.core, node.core.beacon

        def wrong_key(port: int | None = None) -> bytes:
            data: bytes = beacon(port)
            return data[:22] + bytes(b ^ 0x55 for b in data[22:])
        core.beacon = wrong_key
    elif fault == "curve-accept-null":
        node.router_options = {"curve_server": False, "curve_publickey": None,
                               "curve_secretkey": None}


def _connectable(hello_frame: bytes) -> bool:
    """Whether a HELLO's endpoint is tcp://HOST:PORT with 1 <= PORT <= 65535."""
    from .errors import DecodeError
    from .zre import messages as zm

    try:
        msg = zm.decode([hello_frame])
    except DecodeError:
        return True
    endpoint = getattr(msg, "endpoint", "")
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return (endpoint.startswith("tcp://") and bool(host) and host != "*" and port.isdigit()
            and 1 <= int(port) <= 65535)


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
    elif kind in ("JOIN", "LEAVE", "LEADER"):
        out["group"] = data.get("group", "")
    elif kind in ("SHOUT", "WHISPER"):
        if kind == "SHOUT":
            out["group"] = data.get("group", "")
        out["content"] = list(data.get("content_hex", []))
    elif kind not in ("EXIT", "EVASIVE", "SILENT", "STOP"):
        return None  # other extensions are not part of agent protocol v1
    return out


class Agent:
    """One ZreNode at a time, driven by agent protocol commands."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.node: Any = None
        self.pump: asyncio.Task[None] | None = None
        self.receive_faults: ReceiveFaults | None = None

    async def hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        from . import __version__

        return {"implementation": "zre_ref", "version": __version__, "protocol": PROTOCOL_VERSION,
                "protocols": ["zre/2"],
                "capabilities": ["beacon", "beacon-interval", "beacon-stop", "timers", "headers",
                                 "peers", "connect", "evasive-events", "stop-event", "election",
                                 "gossip", "curve"],
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
        shrink = 3 if self.fault == "early-expiry" else 1
        if "evasive_ms" in msg:
            wanted["evasive"] = msg["evasive_ms"] / 1000 / shrink
        if "expired_ms" in msg:
            wanted["expired"] = msg["expired_ms"] / 1000 / shrink
        if msg.get("bind"):
            wanted["bind"] = msg["bind"]
        gossip = msg.get("gossip") or {}
        if gossip.get("bind"):
            wanted["gossip_bind"] = gossip["bind"]
        if gossip.get("connect"):
            wanted["gossip_connect"] = list(gossip["connect"])
        curve = msg.get("curve")
        if curve is not None:
            wanted["curve_publickey"] = curve["public"]
            wanted["curve_secretkey"] = curve["secret"]
        accepted = inspect.signature(ZreNode).parameters
        kwargs = {k: v for k, v in wanted.items() if k in accepted}
        dropped = sorted(set(wanted) - set(kwargs))
        if dropped:
            log.info("ZreNode takes no %s; using its defaults", dropped)
        if "send_filter" in accepted:  # --fault: every DEALER of the node applies it
            kwargs["send_filter"] = fault_transform(self.fault)
        node = ZreNode(**kwargs)
        curve_fault(self.fault, node)
        self.receive_faults = None
        if self.fault in RECEIVE_FAULTS:
            self.receive_faults = ReceiveFaults(self.fault, node)
            self.receive_faults.install()
        for group in msg.get("contest", []):
            node.set_contest_in_group(group)
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
            if out is not None and self.receive_faults is not None and self.receive_faults.hides(out):
                continue
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
        if self.receive_faults is not None:
            self.receive_faults.close()
            self.receive_faults = None
        await _maybe(node.stop())
        if self.pump is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.pump, 1.0)
            self.pump = None
        return {}


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _hex_frames(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(h, str) and len(h) % 2 == 0 and all(c in "0123456789abcdef" for c in h)
        for h in v)


def _beacon_arg(v: Any) -> bool:
    if v is None:
        return True
    return (isinstance(v, dict) and isinstance(v.get("port"), int) and 1 <= v["port"] <= 65535
            and _positive_int(v.get("interval_ms", 1))
            and all(isinstance(v.get(k, ""), str) for k in ("interface", "address")))


#: Argument checks per command: name -> (required, what it must be, test) (spec/conformance.md#commands)
_ARGS: dict[str, dict[str, tuple[bool, str, Callable[[Any], bool]]]] = {
    "start": {
        "name": (True, "a string", lambda v: isinstance(v, str)),
        "beacon": (True, "null or {port, interface, address, interval_ms}", _beacon_arg),
        "headers": (False, "an object of strings",
                    lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
        "groups": (False, "a list of strings",
                   lambda v: isinstance(v, list) and all(isinstance(g, str) and g for g in v)),
        "bind": (False, "a string or null", lambda v: v is None or isinstance(v, str)),
        "evasive_ms": (False, "a positive integer", _positive_int),
        "expired_ms": (False, "a positive integer", _positive_int),
        "curve": (False, "{public, secret} as 40 Z85 characters each",
                  lambda v: isinstance(v, dict) and all(
                      isinstance(v.get(k), str) and len(v[k]) == 40 for k in ("public", "secret"))),
    },
    "connect": {"endpoint": (True, "a tcp:// endpoint",
                             lambda v: isinstance(v, str) and v.startswith("tcp://"))},
    "join": {"group": (True, "a non-empty string", lambda v: isinstance(v, str) and bool(v))},
    "leave": {"group": (True, "a non-empty string", lambda v: isinstance(v, str) and bool(v))},
    "shout": {"group": (True, "a non-empty string", lambda v: isinstance(v, str) and bool(v)),
              "content": (True, "a list of lower-case hex strings", _hex_frames)},
    "whisper": {"peer": (True, "32 upper-case hex characters",
                         lambda v: isinstance(v, str) and len(v) == 32
                         and all(c in "0123456789ABCDEF" for c in v)),
                "content": (True, "a list of lower-case hex strings", _hex_frames)},
}


def bad_argument(msg: dict[str, Any]) -> str | None:
    """Why a command's arguments are not what spec/conformance.md#commands says, or None."""
    for name, (required, want, ok) in _ARGS.get(str(msg.get("cmd")), {}).items():
        if name not in msg:
            if required:
                return f"missing argument {name!r} ({want})"
            continue
        if not ok(msg[name]):
            return f"bad argument {name!r}: expected {want}, got {json.dumps(msg[name])[:80]}"
    return None


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
        if not _positive_int(cid):  # no id to answer to: the runner cannot match a reply
            log.error("command without a valid id: %r", msg)
            return
        handler = handlers.get(str(msg.get("cmd")))
        if handler is None:
            _emit({"id": cid, "ok": False, "unsupported": True, "argument": "cmd"})
            return
        problem = bad_argument(msg)
        if problem is not None:
            _emit({"id": cid, "ok": False, "error": problem})
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
