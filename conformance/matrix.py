"""`zre-conformance matrix`: two agents, two nodes, the same scenarios both ways (spec/conformance.md#matrix)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .agent import AgentClient, AgentCommandFailed, AgentError, AgentHello, AgentUnsupported, Event
from .cases.context import DEFAULT_TIMERS, FAST_TIMERS, Timers
from .report import matrix_text
from .verdicts import Verdict

if TYPE_CHECKING:
    from .cli import AgentChoice

CONTENTS: dict[str, list[bytes]] = {
    "empty": [], "single": [b"one frame"], "multi": [b"a", b"", bytes(range(200)), b"z"],
}


@dataclass
class PairResult:
    """Scenario outcomes for one ordered pair (A = first node, B = second node)."""

    a: str
    b: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, check: str, verdict: Verdict, message: str = "") -> None:
        self.checks.append({"check": check, "verdict": verdict.value, "message": message})

    def counts(self) -> Counter[Verdict]:
        return Counter(Verdict(c["verdict"]) for c in self.checks)


class _Fail(Exception):
    pass


def _timers(hello: AgentHello) -> tuple[Timers, bool]:
    if "timers" in hello.capabilities:
        return FAST_TIMERS, True
    t = hello.timers
    return Timers(t.get("beacon_interval_ms", 1000) / 1000,
                  t.get("evasive_ms", round(DEFAULT_TIMERS.evasive * 1000)) / 1000,
                  t.get("expired_ms", round(DEFAULT_TIMERS.expired * 1000)) / 1000,
                  t.get("reap_interval_ms", 1000) / 1000), False


async def run_pair(a_argv: list[str], b_argv: list[str], a_label: str, b_label: str, *,
                   seed: str, slack: float = 1.0, beacon_targets: Sequence[str] = ("127.255.255.255",),
                   ) -> PairResult:
    """Run the two-party scenarios between one node of each agent."""
    result = PairResult(a_label, b_label)
    rng = random.Random(f"{seed}/{a_label}/{b_label}")
    port = rng.randrange(20000, 30000)
    agents = [AgentClient(a_argv), AgentClient(b_argv)]
    try:
        try:
            hellos = [await agents[0].spawn(), await agents[1].spawn()]
        except AgentError as exc:
            result.add("pair.start", Verdict.ERROR, f"agent did not start: {exc}")
            return result
        info = []
        for i, (agent, hello) in enumerate(zip(agents, hellos, strict=True)):
            timers, settable = _timers(hello)
            args: dict[str, Any] = {
                "name": f"{'AB'[i]}-{rng.getrandbits(16):04x}",
                "headers": {"X-SIDE": "AB"[i]}, "groups": [],
                "beacon": {"port": port, "interface": "127.0.0.1", "address": beacon_targets[0],
                           "interval_ms": round(timers.beacon_interval * 1000)}}
            if settable:
                args["evasive_ms"] = round(timers.evasive * 1000)
                args["expired_ms"] = round(timers.expired * 1000)
            try:
                reply = await agent.request("start", timeout=10.0, **args)
            except (AgentError, AgentCommandFailed, AgentUnsupported) as exc:
                result.add("pair.start", Verdict.ERROR, f"{'AB'[i]}: start failed: {exc}")
                return result
            info.append((reply["uuid"], args["name"], args["headers"], reply["endpoint"], timers))
        slowest = max(info[0][4].beacon_interval, info[1][4].beacon_interval)
        t_disc = 4 * slowest + 3 + 2 * slack
        t_react = 1.0 + slack

        async def expect(agent: AgentClient, kind: str, peer: str, timeout: float, since: int,
                         **want: Any) -> Event:
            def pred(e: Event) -> bool:
                return e.kind == kind and e.peer == peer and all(
                    e.data.get(k) == v for k, v in want.items() if k != "content") and (
                    "content" not in want or _same(e.data.get("content", []), want["content"]))
            ev = await agent.wait_event(pred, timeout, since)
            if ev is None:
                raise _Fail(f"no {kind} from {peer[:8]} {want or ''} within {timeout:.1f} s")
            return ev

        async def check(name: str, coro: Any) -> None:
            try:
                await coro
                result.add(name, Verdict.PASS)
            except _Fail as exc:
                result.add(name, Verdict.FAIL, str(exc))
            except AgentUnsupported as exc:
                result.add(name, Verdict.UNSUPPORTED, str(exc))
            except (AgentError, AgentCommandFailed) as exc:
                result.add(name, Verdict.ERROR, str(exc))

        async def enter() -> None:
            for me, other in ((0, 1), (1, 0)):
                uuid, name, headers, _ep, _t = info[other]
                ev = await expect(agents[me], "ENTER", uuid, t_disc, 0)
                if ev.data.get("name") != name:
                    raise _Fail(f"{'AB'[me]} saw name {ev.data.get('name')!r}, expected {name!r}")
                if ev.data.get("headers") != headers:
                    raise _Fail(f"{'AB'[me]} saw headers {ev.data.get('headers')}, expected {headers}")

        await check("pair.enter", enter())
        group = f"mx-{rng.getrandbits(24):06x}"

        async def join() -> None:
            marks = [a.mark() for a in agents]
            for agent in agents:
                await agent.request("join", group=group)
            for me, other in ((0, 1), (1, 0)):
                await expect(agents[me], "JOIN", info[other][0], t_react + 1, marks[me], group=group)

        await check("pair.join", join())
        for shape, content in CONTENTS.items():
            for me, other in ((0, 1), (1, 0)):
                hexes = [c.hex() for c in content]

                async def shout(me: int = me, other: int = other, hexes: list[str] = hexes) -> None:
                    mark = agents[other].mark()
                    await agents[me].request("shout", group=group, content=hexes)
                    await expect(agents[other], "SHOUT", info[me][0], t_react, mark, group=group,
                                 content=hexes)

                async def whisper(me: int = me, other: int = other, hexes: list[str] = hexes) -> None:
                    mark = agents[other].mark()
                    await agents[me].request("whisper", peer=info[other][0], content=hexes)
                    await expect(agents[other], "WHISPER", info[me][0], t_react, mark, content=hexes)

                await check(f"pair.shout.{shape}.{'AB'[me]}to{'AB'[other]}", shout())
                await check(f"pair.whisper.{shape}.{'AB'[me]}to{'AB'[other]}", whisper())

        async def leave() -> None:
            mark = agents[1].mark()
            await agents[0].request("leave", group=group)
            await expect(agents[1], "LEAVE", info[0][0], t_react, mark, group=group)

        await check("pair.leave", leave())

        async def exit_on_stop() -> None:
            mark = agents[0].mark()
            await agents[1].request("stop", timeout=10.0)
            limit = info[0][4].expired + 2 * info[0][4].reap + t_react
            await expect(agents[0], "EXIT", info[1][0], limit, mark)

        await check("pair.exit", exit_on_stop())
        with contextlib.suppress(AgentError, AgentCommandFailed, AgentUnsupported):
            await agents[0].request("stop", timeout=5.0)
    finally:
        for agent in agents:
            await agent.close(grace=1.0)
    return result


def _same(got: list[str], want: list[str]) -> bool:
    return got in ([], [""]) if not want else got == want


async def run_matrix(choices: Sequence[AgentChoice], *, seed: str, netns: bool, slack: float,
                     report_json: str | None, markdown_path: str | None) -> int:
    names = [c.label for c in choices]
    cells: dict[tuple[str, str], Counter[Verdict]] = {}
    pairs: list[PairResult] = []
    t0 = time.monotonic()
    print(f"zre-conformance matrix: {', '.join(names)} (seed {seed})", flush=True)
    for a in choices:
        for b in choices:
            if netns:
                pr = await _pair_in_netns(a, b, seed, slack)
            else:
                pr = await run_pair(a.argv, b.argv, a.label, b.label, seed=seed, slack=slack)
            pairs.append(pr)
            cells[(a.label, b.label)] = pr.counts()
            bad = [c for c in pr.checks if c["verdict"] != "PASS"]
            print(f"  {a.label} <-> {b.label}: {pr.counts()[Verdict.PASS]}/{len(pr.checks)} passed"
                  + "".join(f"\n      {c['verdict']} {c['check']}: {c['message']}" for c in bad),
                  flush=True)
    text = matrix_text(names, cells)
    print(text)
    failed = any(Verdict(c["verdict"]).failing for p in pairs for c in p.checks)
    print(f"matrix: {len(pairs)} pairs in {time.monotonic() - t0:.1f} s: "
          + ("all scenarios passed" if not failed else "FAILURES"))
    if report_json:
        with open(report_json, "w", encoding="utf-8") as fh:
            json.dump({"matrix_version": 1, "seed": seed, "agents": names,
                       "pairs": [{"a": p.a, "b": p.b, "checks": p.checks} for p in pairs]}, fh, indent=2)
    if markdown_path:
        with open(markdown_path, "w", encoding="utf-8") as fh:
            fh.write("## zre-conformance interop matrix\n\n```\n" + text + "\n```\n")
    return 1 if failed else 0


async def _pair_in_netns(a: AgentChoice, b: AgentChoice, seed: str, slack: float) -> PairResult:
    name = f"zrecfm{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run(["ip", "-n", name, "route", "add", "224.0.0.0/4", "dev", "lo", "src", "127.0.0.1"], check=True,
                       timeout=10)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "pair.json")
            cmd = ["ip", "netns", "exec", name, sys.executable, "-m", "zre_conformance.matrix",
                   json.dumps({"a": a.argv, "b": b.argv, "al": a.label, "bl": b.label,
                               "seed": seed, "slack": slack, "out": out})]
            proc = await asyncio.create_subprocess_exec(*cmd)
            try:
                await asyncio.wait_for(proc.wait(), 600)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
            try:
                with open(out, encoding="utf-8") as fh:
                    doc = json.load(fh)
                pr = PairResult(a.label, b.label, doc["checks"])
            except (OSError, ValueError, KeyError):
                pr = PairResult(a.label, b.label)
                pr.add("pair.start", Verdict.ERROR, f"netns child failed (exit {proc.returncode})")
            return pr
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def _child_main(spec: str) -> int:
    args = json.loads(spec)
    pr = asyncio.run(run_pair(args["a"], args["b"], args["al"], args["bl"], seed=args["seed"],
                              slack=args["slack"]))
    with open(args["out"], "w", encoding="utf-8") as fh:
        json.dump({"checks": pr.checks}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
