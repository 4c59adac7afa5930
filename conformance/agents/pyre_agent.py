"""zre-conformance agent for pyre (PyPI zeromq-pyre), agent protocol v1 (spec/conformance.md#agents).

    zre-conformance run --agent pyre --netns

pyre picks its beacon interface itself (the first non-loopback IPv4 interface, else 127.0.0.1 with
multicast 225.25.25.25), so run it with --netns: inside a lo-only namespace that is loopback.
pyre's presence timers are class constants; this agent sets them (PyrePeer.PEER_EVASIVE/EXPIRED,
pyre_node.REAP_INTERVAL) so that the runner can shorten them. Needs pyzmq and zeromq-pyre.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid as uuidlib
from typing import Any

import zmq
from pyre import Pyre, pyre_node, pyre_peer

log = logging.getLogger("pyre-agent")
_out_lock = threading.Lock()


def emit(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


#: pyre's own expired timeout; its DEALER SNDHWM is expired x 100 = 3000 (spec/deviations.md#one-host)
_PYRE_EXPIRED = 30.0


class _Seconds(float):
    """A shortened timer pyre can use both ways: added to time.time(), and in `PEER_EXPIRED * 100`
    (the SNDHWM), where it keeps pyre's usual 3000 so that short timers do not shrink the HWM."""

    def __mul__(self, other: object) -> int:  # type: ignore[override]
        return int(max(float(self), _PYRE_EXPIRED) * float(other))  # type: ignore[arg-type]


def _frames(content: list[str]) -> list[bytes]:
    """pyre cannot send zero frames (send_multipart([]) fails): send one empty frame, as zyre does."""
    return [bytes.fromhex(h) for h in content] or [b""]


def _hex(peer: bytes) -> str:
    return peer.hex().upper()


class Agent:
    def __init__(self) -> None:
        self.node: Pyre | None = None
        self.ctx = zmq.Context.instance()
        self.stop_flag = threading.Event()
        self.thread: threading.Thread | None = None
        self.uuid = ""
        self.name = ""

    # -- events ---------------------------------------------------------------------------
    def _pump(self, node: Pyre, stop: threading.Event) -> None:
        sock = node.socket()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not stop.is_set():
            try:
                ready = dict(poller.poll(100))
            except zmq.ZMQError:
                return
            if sock not in ready:
                continue
            try:
                frames = sock.recv_multipart()
            except zmq.ZMQError:
                return
            self._event(frames)

    def _event(self, frames: list[bytes]) -> None:
        kind = frames[0].decode("utf-8", "replace")
        if len(frames) < 3:
            log.warning("short event %r", frames)
            return
        peer, name = _hex(frames[1]), frames[2].decode("utf-8", "replace")
        ev: dict[str, Any] = {"event": kind, "peer": peer, "name": name}
        rest = frames[3:]
        if kind == "ENTER":
            ev["headers"] = json.loads(rest[0].decode("utf-8")) if rest else {}
            ev["endpoint"] = rest[1].decode("utf-8") if len(rest) > 1 else ""
        elif kind in ("JOIN", "LEAVE"):
            ev["group"] = rest[0].decode("utf-8", "replace") if rest else ""
        elif kind == "SHOUT":
            ev["group"] = rest[0].decode("utf-8", "replace") if rest else ""
            ev["content"] = [f.hex() for f in rest[1:]]
        elif kind == "WHISPER":
            ev["content"] = [f.hex() for f in rest]
        elif kind not in ("EXIT", "EVASIVE", "SILENT", "STOP"):
            log.info("ignoring event %s", kind)
            return
        emit(ev)

    # -- commands -------------------------------------------------------------------------
    def hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        import pyre

        try:
            from importlib.metadata import version

            ver = version("zeromq-pyre")
        except Exception:  # not installed as a distribution
            ver = ".".join(str(x) for x in getattr(pyre, "__version_info__", ())) or "?"
        return {"implementation": "pyre", "version": ver,
                "protocol": 1, "protocols": ["zre/2"],
                "capabilities": ["beacon", "beacon-stop", "headers", "peers", "timers"],
                "timers": {"evasive_ms": int(pyre_peer.PyrePeer.PEER_EVASIVE * 1000),
                           "expired_ms": int(pyre_peer.PyrePeer.PEER_EXPIRED * 1000),
                           "beacon_interval_ms": 1000,
                           "reap_interval_ms": int(pyre_node.REAP_INTERVAL * 1000)}}

    def start(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.node is not None:
            raise RuntimeError("already started")
        if msg.get("beacon") is None:
            return {"unsupported": True, "argument": "beacon"}
        if "evasive_ms" in msg:
            pyre_peer.PyrePeer.PEER_EVASIVE = _Seconds(msg["evasive_ms"] / 1000)
        if "expired_ms" in msg:
            pyre_peer.PyrePeer.PEER_EXPIRED = _Seconds(msg["expired_ms"] / 1000)
        if "evasive_ms" in msg or "expired_ms" in msg:
            pyre_node.REAP_INTERVAL = min(1.0, pyre_peer.PyrePeer.PEER_EVASIVE)
        node = Pyre(msg["name"], ctx=self.ctx)
        for key, value in msg.get("headers", {}).items():
            node.set_header(key, value)
        node.set_port(str(msg["beacon"]["port"]).encode())
        for group in msg.get("groups", []):
            node.join(group)
        node.start()
        self.node = node
        self.name = msg["name"]
        self.uuid = node.uuid().hex.upper()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._pump, args=(node, self.stop_flag), daemon=True)
        self.thread.start()
        return {"uuid": self.uuid, "endpoint": node.endpoint()}

    def _node(self) -> Pyre:
        if self.node is None:
            raise RuntimeError("not started")
        return self.node

    def join(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._node().join(msg["group"])
        return {}

    def leave(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._node().leave(msg["group"])
        return {}

    def shout(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._node().shout(msg["group"], _frames(msg["content"]))
        return {}

    def whisper(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._node().whisper(uuidlib.UUID(hex=msg["peer"]), _frames(msg["content"]))
        return {}

    def peers(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {"peers": [{"peer": p.hex.upper()} for p in self._node().peers()]}

    def stop(self, msg: dict[str, Any]) -> dict[str, Any]:
        node = self._node()
        self.stop_flag.set()
        if self.thread is not None:
            self.thread.join(2.0)
        self.node = None
        if not node.actor.thread.is_alive():
            # pyre's node thread died (its traceback is on stderr): node.stop() would wait for
            # it forever. Say so at once; the runner restarts this agent (spec/conformance.md#start)
            raise RuntimeError("pyre's node thread is dead; restart the agent")
        node.stop()
        return {}


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="pyre-agent %(levelname)s %(name)s: %(message)s")
    agent = Agent()
    handlers = {"hello": agent.hello, "start": agent.start, "join": agent.join,
                "leave": agent.leave, "shout": agent.shout, "whisper": agent.whisper,
                "peers": agent.peers, "stop": agent.stop}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            log.error("not JSON: %r", line)
            continue
        cid = msg.get("id")
        handler = handlers.get(msg.get("cmd"))
        if handler is None:
            emit({"id": cid, "ok": False, "unsupported": True, "argument": "cmd"})
            continue
        try:
            result = handler(msg)
        except Exception as exc:  # report any library failure to the runner
            log.exception("command %s failed", msg.get("cmd"))
            emit({"id": cid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if result.get("unsupported"):
            emit({"id": cid, "ok": False, "unsupported": True,
                  **({"argument": result["argument"]} if "argument" in result else {})})
        else:
            emit({"id": cid, "ok": True, **result})
    if agent.node is not None:
        try:
            agent.stop({})
        except Exception:  # exiting anyway
            log.exception("stop at exit failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
