"""Every golden vector file: valid against vectors/schema.json, ids unique and stable, no drift.

Ids are never renumbered or reused (vectors/README.md): vectors/ids.lock lists every id ever published.
A removed or renamed id fails here; a new id must be added to the lock on purpose::

    python tests/test_vectors_common.py --add-new-ids
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LOCK = VECTORS / "ids.lock"
FILES = sorted(p for p in VECTORS.rglob("*.json") if p.name != "schema.json")


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return doc


def all_ids() -> list[str]:
    return [case["id"] for path in FILES for case in _load(path).get("cases", [])]


def locked_ids() -> list[str]:
    if not LOCK.exists():
        return []
    lines = (line.strip() for line in LOCK.read_text("utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(VECTORS)) for p in FILES])
def test_file_follows_schema(path: Path) -> None:
    schema = json.loads((VECTORS / "schema.json").read_text("utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(_load(path)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_there_are_vector_files() -> None:
    assert any(p.parent.name == "zre" for p in FILES)


def test_ids_are_unique_across_all_files() -> None:
    dupes = [i for i, n in Counter(all_ids()).items() if n > 1]
    assert not dupes, dupes


def test_no_published_id_disappears() -> None:
    """An id in vectors/ids.lock must still exist: ids are never renumbered or removed."""
    missing = sorted(set(locked_ids()) - set(all_ids()))
    assert not missing, f"ids removed or renamed (never do that): {missing}"


def test_every_id_is_in_the_lock() -> None:
    new = sorted(set(all_ids()) - set(locked_ids()))
    assert not new, (f"{len(new)} new ids are not in vectors/ids.lock; add them on purpose with "
                     f"`python tests/test_vectors_common.py --add-new-ids`: {new[:10]}")


def test_lock_has_no_duplicates() -> None:
    dupes = [i for i, n in Counter(locked_ids()).items() if n > 1]
    assert not dupes, dupes


def test_generator_reproduces_committed_files() -> None:
    """`python vectors/generate.py --check` reports no drift (byte for byte)."""
    spec = importlib.util.spec_from_file_location("vectors_generate", VECTORS / "generate.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0


def test_every_flag_is_explained() -> None:
    """Each flag a vector carries is a row of spec/deviations.md#flags (vectors/README.md)."""
    text = (VECTORS.parent / "spec" / "deviations.md").read_text("utf-8")
    table = text[text.index('<a id="flags"></a>'):]
    table = table[: table.index('<a id="evidence"></a>')]
    explained = {name for row in table.splitlines() if row.startswith("| `")
                 for name in row.split("|")[1].replace("`", "").replace(",", " ").split()}
    used = {flag for path in FILES for case in _load(path).get("cases", [])
            for flag in case.get("flags", [])}
    assert used and not used - explained, sorted(used - explained)


def test_acceptable_cases_give_both_outcomes() -> None:
    """Schema 2: an acceptable case says what accepting and refusing give, and which zre-ref does."""
    cases = [c for path in FILES for c in _load(path).get("cases", [])
             if c["result"] == "acceptable" and _load(path)["schema"] == "zre-ref-vectors/2"]
    assert len(cases) >= 4
    for c in cases:
        assert {"fields", "error", "zre_ref"} <= set(c), c["id"]


def add_new_ids() -> int:
    """Append ids not yet in the lock, in file order; never drops an id."""
    known = set(locked_ids())
    new = [i for i in all_ids() if i not in known]
    if not LOCK.exists():
        LOCK.write_text("# Every golden vector id ever published: never remove or rename one.\n"
                        "# Append new ids with: python tests/test_vectors_common.py --add-new-ids\n",
                        encoding="utf-8")
    with LOCK.open("a", encoding="utf-8") as f:
        for i in new:
            f.write(i + "\n")
    print(f"added {len(new)} ids to {LOCK}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--add-new-ids"]:
        sys.exit(add_new_ids())
    sys.exit("usage: python tests/test_vectors_common.py --add-new-ids")
