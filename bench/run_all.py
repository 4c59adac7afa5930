"""Run every benchmark in bench/ (tox -e bench). Each prints its own table; see bench/RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    status = 0
    for script in sorted(HERE.glob("*.py")):
        if script.name in {"run_all.py", "__init__.py"} or script.name.startswith("_"):
            continue
        print(f"== {script.name} {' '.join(argv)}", flush=True)
        status |= subprocess.call([sys.executable, str(script), *argv])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
