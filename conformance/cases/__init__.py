"""The case catalogue: stable ids, spec anchors, requirement levels (spec/conformance.md#cases).

Each case is an async function taking a :class:`~zre_conformance.cases.context.Ctx`, declared with
:func:`case`. Ids are never renumbered or reused; a retired case keeps its id reserved.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..verdicts import Level

if TYPE_CHECKING:
    from .context import Ctx

CaseFunc = Callable[["Ctx"], Awaitable[None]]

#: Modules holding cases, in run order
CASE_MODULES: tuple[str, ...] = (
    "beacon", "hello", "sequence", "groups", "messages", "liveness", "robustness", "peers",
    "hostile", "election", "gossip", "curve",
)


@dataclass(frozen=True)
class Case:
    """One conformance case (spec/conformance.md#cases)."""

    id: str
    level: Level
    spec: str
    title: str
    func: CaseFunc
    #: agent capabilities the case needs; missing ones give UNSUPPORTED
    needs: frozenset[str]
    #: the case also runs between two agents in `matrix` mode
    two_party: bool
    #: how long the case may take, in multiples of the IUT's expired timeout (on top of a base)
    expired_budget: float
    #: extra fixed seconds the case may need (e.g. 65536 messages)
    extra_seconds: float


_REGISTRY: dict[str, Case] = {}


def case(id: str, level: Level | str, spec: str, title: str, *, needs: Iterable[str] = (),
         two_party: bool = False, expired_budget: float = 0.0,
         extra_seconds: float = 0.0) -> Callable[[CaseFunc], CaseFunc]:
    """Register a case function under a stable id (spec/conformance.md#cases)."""

    def register(func: CaseFunc) -> CaseFunc:
        if id in _REGISTRY:
            raise ValueError(f"case id {id!r} declared twice")
        if not spec.startswith("spec/"):
            raise ValueError(f"case {id}: spec anchor must be a spec/ path")
        _REGISTRY[id] = Case(id, Level(level), spec, title, func,
                             frozenset(needs) | {"beacon"}, two_party, expired_budget, extra_seconds)
        return func

    return register


class CaseFailed(Exception):
    """The implementation did not do what the case checks (FAIL or NON-STRICT)."""


class CaseUnsupported(Exception):
    """The case cannot run against this implementation (UNSUPPORTED)."""


class CaseSlow(Exception):
    """What the case waited for came, but only after its window: the IUT (or its agent) was busy,
    not wrong (TIMEOUT, never FAIL; spec/conformance.md#deadlines)."""


def all_cases() -> list[Case]:
    """Every registered case, in catalogue order."""
    for name in CASE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return list(_REGISTRY.values())


def select(cases: Sequence[Case], include: Sequence[str], exclude: Sequence[str]) -> list[Case]:
    """Cases whose id matches any include pattern (all if none) and no exclude pattern."""
    out = []
    for c in cases:
        if include and not any(fnmatch.fnmatchcase(c.id, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(c.id, p) for p in exclude):
            continue
        out.append(c)
    return out
