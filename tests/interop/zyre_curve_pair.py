"""Run inside a lo-only network namespace by test_interop_zyre_c_curve.py: a zyre (C) node in
CURVE mode (zyre_set_zcert, through conformance/agents/zyre_agent.c) and a zre_ref ZreNode in
CURVE mode find each other by version 3 beacons and talk over sealed links.

    python tests/interop/zyre_curve_pair.py AGENT BEACON_PORT [--no-key-fix]

``--no-key-fix`` runs the agent with ZRE_ZYRE_NO_KEY_FIX=1: its zcert_new_from shim leaves zyre's
all-zero key pair as it is (spec/zre.md#curve-mode-zyre). Prints one JSON line of observations
(name -> true/false).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

from zre_ref.aio.zre import ZreNode
from zre_ref.curve import curve_keypair
from zre_ref.zmtp.greeting import Greeting, encode_greeting
from zre_ref.zre.events import PeerEntered, PeerExited, PeerJoined, ShoutReceived, WhisperReceived

DEADLINE = 15.0


class Agent:
    """The zyre agent as a subprocess speaking agent protocol v1 (JSON lines)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "event" in msg:
                await self.events.put(msg)
            elif msg.get("id") in self.replies:
                self.replies.pop(msg["id"]).set_result(msg)

    async def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"id": self.next_id, "cmd": cmd, **args}) + "\n").encode())
        reply = await asyncio.wait_for(fut, DEADLINE)
        if not reply.get("ok"):
            raise RuntimeError(f"agent {cmd}: {reply}")
        return reply

    async def event(self, kind: str, **match: Any) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                ev = await self.events.get()
                if ev["event"] == kind and all(ev.get(k) == v for k, v in match.items()):
                    return ev
        return await asyncio.wait_for(wait(), DEADLINE)


async def expect(node: ZreNode, kind: type, timeout: float = DEADLINE, **match: Any) -> Any:
    async def wait() -> Any:
        while True:
            ev = await node.recv()
            if isinstance(ev, kind) and all(getattr(ev, k) == v for k, v in match.items()):
                return ev
    return await asyncio.wait_for(wait(), timeout)


class _Refusals(logging.Handler):
    """Counts our ZMTP layer closing a CURVE client for an all-zero (small-order) key."""

    def __init__(self) -> None:
        super().__init__()
        self.zero_key = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "client_key" in text and "small-order" in text:
            self.zero_key += 1


#: A HELLO command frame of 32 bytes (RFC 26 wants 200): name, then zeros
SHORT_HELLO = bytes([0x04, 32]) + b"\x05HELLO" + bytes(26)


async def _raw_client(port: int, greeting: bytes, after: bytes = b"") -> tuple[bytes, bool]:
    """Connect to zyre's ROUTER, send ``greeting`` (in one write), then ``after`` once zyre's
    64-byte greeting is in; returns what zyre sent and whether it closed within DEADLINE."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    got = b""
    closed = False
    try:
        writer.write(greeting)
        loop = asyncio.get_running_loop()
        until = loop.time() + DEADLINE
        while (left := until - loop.time()) > 0:
            chunk = await asyncio.wait_for(reader.read(4096), left)
            if not chunk:
                closed = True
                break
            got += chunk
            if after and len(got) >= 64:
                writer.write(after)
                after = b""
    except asyncio.TimeoutError:
        pass
    except ConnectionError:  # a reset is a close too
        closed = True
    finally:
        writer.close()
    return got, closed


async def _refusals_on_the_wire(port: int, checks: dict[str, bool]) -> None:
    """What zyre's CURVE ROUTER sends a plaintext client and a client with a short HELLO."""
    # libzmq's greeting: signature padding 00 x 7 then 01, as-server 0 even as a CURVE server
    curve_greeting = encode_greeting(Greeting(mechanism="CURVE", padding=bytes(7) + b"\x01"))
    got, closed = await _raw_client(port, encode_greeting(Greeting(mechanism="NULL")))
    # a prefix of that greeting, then close: no ERROR command
    checks["plaintext-closed-without-error"] = closed and 10 <= len(got) <= 64 and \
        got == curve_greeting[:len(got)]
    checks["plaintext-gets-signature-only"] = got == curve_greeting[:10]
    got, closed = await _raw_client(port, curve_greeting, SHORT_HELLO)
    checks["short-hello-closed-without-error"] = closed and got == curve_greeting


def _entered(agent: Agent, peer: str) -> bool:
    """Whether an ENTER for ``peer`` is among the agent's events so far (nothing waited for)."""
    seen = False
    while not agent.events.empty():
        ev = agent.events.get_nowait()
        seen = seen or (ev["event"] == "ENTER" and ev.get("peer") == peer)
    return seen


async def main(agent_path: str, port: int, key_fix: bool) -> dict[str, bool]:
    """Observations (name -> bool) of one zyre/zre-ref CURVE pair."""
    checks: dict[str, bool] = {}
    refusals = _Refusals()
    logging.getLogger("zre_ref").addHandler(refusals)
    zpub, zsec = curve_keypair()
    opub, osec = curve_keypair()
    env = {**os.environ, "ZRE_ZYRE_NO_KEY_FIX": "0" if key_fix else "1"}
    proc = await asyncio.create_subprocess_exec(agent_path, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, env=env)
    agent = Agent(proc)
    node = ZreNode("zre-ref", interface="lo", port=port, beacon_interval=0.2,
                   curve_publickey=opub, curve_secretkey=osec)
    try:
        hello = await agent.call("hello")
        checks["agent-has-curve"] = "curve" in hello.get("capabilities", [])
        started = await agent.call("start", name="zyre", headers={}, groups=["G"],
                                   beacon={"port": port, "interval_ms": 200},
                                   curve={"public": zpub.decode(), "secret": zsec.decode()})
        zyre_uuid = started["uuid"]
        await node.start()
        await node.join("G")
        try:
            entered = await expect(node, PeerEntered, timeout=3.0, peer_uuid=zyre_uuid)
        except asyncio.TimeoutError:
            checks["enter-at-zre-ref"] = False
            checks["enter-at-zyre"] = _entered(agent, node.uuid)
            checks["zyre-sends-all-zero-key"] = refusals.zero_key > 0
            return checks
        checks["enter-at-zre-ref"] = True
        checks["zyre-sends-all-zero-key"] = refusals.zero_key > 0
        checks["zyre-hello-has-its-key"] = entered.headers.get("X-PUBLICKEY") == zpub.decode()
        ev = await agent.event("ENTER", peer=node.uuid)
        checks["enter-at-zyre"] = True
        checks["our-hello-has-our-key"] = ev.get("headers", {}).get("X-PUBLICKEY") == opub.decode()
        await expect(node, PeerJoined, peer_uuid=zyre_uuid, group="G")
        await agent.event("JOIN", peer=node.uuid, group="G")
        checks["join-both-ways"] = True
        await node.shout("G", b"from zre-ref")
        ev = await agent.event("SHOUT", peer=node.uuid)
        checks["shout-to-zyre"] = ev["content"] == [b"from zre-ref".hex()]
        await agent.call("shout", group="G", content=[b"from zyre".hex()])
        shout = await expect(node, ShoutReceived, peer_uuid=zyre_uuid)
        checks["shout-from-zyre"] = shout.content == (b"from zyre",)
        await node.whisper(zyre_uuid, b"psst")
        ev = await agent.event("WHISPER", peer=node.uuid)
        checks["whisper-to-zyre"] = ev["content"] == [b"psst".hex()]
        await agent.call("whisper", peer=node.uuid, content=[b"psst back".hex()])
        whisper = await expect(node, WhisperReceived, peer_uuid=zyre_uuid)
        checks["whisper-from-zyre"] = whisper.content == (b"psst back",)
        endpoint = node.peer_address(zyre_uuid) or ":0"
        await _refusals_on_the_wire(int(endpoint.rpartition(":")[2]), checks)
        await agent.call("stop")
        await expect(node, PeerExited, peer_uuid=zyre_uuid)
        checks["exit-on-stop"] = True
    except (asyncio.TimeoutError, RuntimeError) as exc:
        checks[f"failed: {type(exc).__name__} {exc}"] = False
    finally:
        await node.stop()
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        agent.reader.cancel()
        logging.getLogger("zre_ref").removeHandler(refusals)
    return checks


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], int(sys.argv[2]), "--no-key-fix" not in sys.argv[3:]))
    print(json.dumps(result))
