"""Regenerate every golden vector file, or check that the committed files match (drift fails CI).

    python vectors/generate.py          # rewrite vectors/**/*.json
    python vectors/generate.py --check  # exit 1 and list files that differ

Each family lives in a module ``vectors/gen_<family>.py`` exposing ``files() -> dict[str, dict]``
(path relative to vectors/ -> document following vectors/schema.json). Vectors are produced with
zre_ref's encoder *and* checked against captured bytes and independent implementations in the
tests (tests/test_vectors_*.py, tox -e interop).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load_families() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(HERE.glob("gen_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for rel, doc in mod.files().items():
            if rel in out:
                raise SystemExit(f"{path.name}: {rel} is produced twice")
            out[rel] = doc
    return out


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare, do not write")
    args = ap.parse_args(argv)
    drift = []
    for rel, doc in load_families().items():
        target = HERE / rel
        text = render(doc)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                drift.append(rel)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    if drift:
        print("vectors drifted from the generator:", *drift, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
