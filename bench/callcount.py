"""Python calls counted by cProfile, for the probes' ``--calls`` (deterministic, unlike timings
on a shared host)."""

from __future__ import annotations

import cProfile
from pathlib import Path


def report_calls(profile: cProfile.Profile, per: float, heading: str, top: int = 15) -> None:
    """Print ``heading`` with the calls (Python functions and builtins) per ``per`` units of
    work, then the ``top`` functions that were called most, per unit."""
    stats = profile.getstats()
    print(f"{heading} {sum(entry.callcount for entry in stats) / per:.2f}")
    for entry in sorted(stats, key=lambda e: -e.callcount)[:top]:
        code = entry.code
        where = code if isinstance(code, str) else (
            f"{Path(code.co_filename).name}:{code.co_firstlineno}({code.co_name})")
        print(f"{entry.callcount / per:8.2f}  {where}")
