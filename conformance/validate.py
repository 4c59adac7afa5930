"""`zre-conformance validate-agent`: walk an agent through every command and check each line
against the agent protocol schema (spec/conformance.md#schemas)."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

from .agent import (
    AgentClient,
    AgentCommandFailed,
    AgentError,
    AgentUnsupported,
    schema,
)
from .runner import HarnessError


class _Checker:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, what: str) -> None:
        print(f"  ok    {what}")

    def bad(self, what: str) -> None:
        self.failures += 1
        print(f"  FAIL  {what}")

    def info(self, what: str) -> None:
        print(f"  info  {what}")


async def validate_agent(argv: list[str], *, beacon_port: int = 0) -> bool:
    """True if the agent answered everything according to the agent protocol v1."""
    chk = _Checker()
    agent = AgentClient(argv)
    print(f"validate-agent: {' '.join(argv)}")
    try:
        try:
            hello = await agent.spawn()
        except AgentError as exc:
            raise HarnessError(f"the agent did not answer hello: {exc}; stderr: "
                               + " | ".join(list(agent.stderr_lines)[-5:])) from exc
        chk.ok(f"hello: {hello.implementation} {hello.version}, protocols {hello.protocols}, "
               f"capabilities {sorted(hello.capabilities)}")
        unknown = [k for k in hello.raw if k not in schema().sub("reply_hello")["properties"]
                   and k not in ("id",)]
        if unknown:
            chk.info(f"hello carries extra keys {unknown} (allowed)")
        port = beacon_port or random.randrange(20000, 30000)
        start: dict[str, Any] = {"name": "validate", "headers": {"X-VALIDATE": "1"}, "groups": [],
                                 "beacon": {"port": port, "interface": "127.0.0.1",
                                            "address": "127.255.255.255", "interval_ms": 200}}
        steps: list[tuple[str, dict[str, Any]]] = [
            ("start", start),
            ("join", {"group": "validate-g"}),
            ("shout", {"group": "validate-g", "content": ["68656c6c6f", ""]}),
            ("whisper", {"peer": "0" * 32, "content": ["00"]}),
            ("peers", {}),
            ("leave", {"group": "validate-g"}),
            ("stop", {}),
        ]
        for cmd, args in steps:
            try:
                reply = await agent.request(cmd, timeout=10.0, **args)
                chk.ok(f"{cmd}: {_short(reply)}")
            except AgentUnsupported:
                chk.info(f"{cmd}: unsupported")
            except AgentCommandFailed as exc:
                level = chk.info if cmd == "whisper" else chk.bad
                level(f"{cmd}: answered error: {exc.error}")
            except AgentError as exc:
                chk.bad(f"{cmd}: {exc}")
                if not agent.alive:
                    break
        if agent.alive:
            # an unknown command must get an error or unsupported reply, not silence
            loop_reply: str
            try:
                await agent.request("no-such-command", timeout=5.0)
                loop_reply = "ok"
            except AgentUnsupported:
                loop_reply = "unsupported"
            except AgentCommandFailed:
                loop_reply = "error"
            except AgentError as exc:
                loop_reply = f"problem: {exc}"
            if loop_reply in ("unsupported", "error"):
                chk.ok(f"unknown command answered {loop_reply}")
            else:
                chk.bad(f"unknown command answered {loop_reply}")
        await asyncio.sleep(0.2)
        for ev in agent.events:
            chk.ok(f"event {ev.kind}: valid")
        for v in agent.take_violations():
            chk.bad(f"protocol violation: {v.text}")
    finally:
        await agent.close()
    tail = list(agent.stderr_lines)[-5:]
    if tail and chk.failures:
        print("  agent stderr (last lines):\n    " + "\n    ".join(tail))
    verdict = "speaks agent protocol v1" if not chk.failures else f"{chk.failures} problem(s)"
    print(f"validate-agent: {verdict}")
    sys.stdout.flush()
    return chk.failures == 0


def _short(reply: dict[str, Any]) -> str:
    rest = {k: v for k, v in reply.items() if k not in ("id", "ok")}
    text = ", ".join(f"{k}={v}" for k, v in rest.items())
    return text[:120] or "ok"
