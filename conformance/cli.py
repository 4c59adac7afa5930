"""`zre-conformance`: the conformance runner's command line (spec/conformance.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    print("zre-conformance: the runner is not built yet (issue: conformance runner)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
