"""The prose stays linked to the tree: Markdown links resolve, and cited vector ids exist.

Every relative link in spec/*.md, vectors/README.md and README.md names a file or folder that
exists and, for ``file.md#anchor``, an anchor in that file (a GitHub heading anchor or an explicit
``<a id=...>``). Every vector id that spec/*.md cites in backticks (``zre.hello.minimal``, or a
pattern such as ``zre.invalid.cut.hello-*``) names at least one case in vectors/. Every
``spec/<name>.md#anchor`` cited in code, vectors or prose names a real section.
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "spec").glob("*.md"))
LINKED = [*SPECS, ROOT / "vectors" / "README.md", ROOT / "README.md"]
FAMILIES = ("zre", "zmtp", "zrelog", "zpipes", "zgossip", "curve")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXPLICIT = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
_VECTOR_ID = re.compile(r"`((?:" + "|".join(FAMILIES) + r")\.[a-z0-9*][a-z0-9.*_\-]*)`")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) outside fenced code blocks, with inline code spans blanked."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        out.append((number, _INLINE_CODE.sub(lambda c: " " * len(c.group(0)), line)))
    return out


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: rendered text, lower case, punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML is not part of the text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a link may name in ``path``: headings (with GitHub's -1, -2 ... suffixes for
    repeats) and explicit ``<a id>`` / ``<a name>`` tags."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    raw = path.read_text("utf-8").splitlines()
    for number, line in prose_lines(path):
        found.update(_EXPLICIT.findall(line))
        m = _HEADING.match(raw[number - 1])
        if m:
            base = github_anchor(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every relative link and link reference definition in ``path``."""
    out = []
    for number, line in prose_lines(path):
        targets = [m.group(1) for m in _LINK.finditer(line)]
        ref = _REF_DEF.match(line)
        if ref:
            targets.append(ref.group(1))
        for target in targets:
            if not target or re.match(r"^[a-z][a-z0-9+.\-]*:", target, re.I) or target.startswith("//"):
                continue  # absolute URL (http:, mailto:, ...)
            out.append((number, target))
    return out


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        file_part, _, anchor = target.partition("#")
        dest = path if not file_part else (path.parent / file_part.split("?")[0]).resolve()
        where = f"{_rel(path)}:{number}: ({target})"
        if not dest.exists():
            problems.append(f"{where}: no such file or folder")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no anchor #{anchor} in {_rel(dest)}")
    return problems


@cache
def vector_ids() -> frozenset[str]:
    ids = set()
    for path in (ROOT / "vectors").rglob("*.json"):
        if path.name == "schema.json":
            continue
        ids.update(c["id"] for c in json.loads(path.read_text("utf-8")).get("cases", []))
    return frozenset(ids)


def cited_ids(path: Path) -> list[tuple[int, str]]:
    """(line number, id or pattern) of every backticked vector id in ``path``."""
    lines = path.read_text("utf-8").splitlines()
    return [(n, m.group(1)) for n, line in enumerate(lines, 1) for m in _VECTOR_ID.finditer(line)
            if not re.search(r"\.(md|json|py)$", m.group(1))]  # `zre.md` is a file, not an id


def names_a_vector(cited: str, ids: frozenset[str]) -> bool:
    """An exact id, a ``*`` pattern matching at least one id, or a prefix of ids (``zre.hello.``)."""
    if "*" in cited:
        return any(fnmatch.fnmatchcase(i, cited) for i in ids)
    return cited in ids or any(i.startswith(cited.rstrip(".") + ".") for i in ids)


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", LINKED, ids=_rel)
def test_relative_links_resolve(path: Path) -> None:
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SPECS, ids=_rel)
def test_cited_vector_ids_exist(path: Path) -> None:
    missing = [f"{_rel(path)}:{n}: `{cited}`" for n, cited in cited_ids(path)
               if not names_a_vector(cited, vector_ids())]
    assert not missing, "vector ids cited but not in vectors/:\n" + "\n".join(missing)


def test_the_specs_cite_vectors() -> None:
    assert sum(len(cited_ids(p)) for p in SPECS) > 100


#: where code, vectors and prose cite spec sections as plain text (docstrings, "spec" fields)
CITING_DIRS = ("zre_ref", "conformance", "vectors", "spec", "tests", "bench")
CITING_SUFFIXES = {".py", ".md", ".json", ".js", ".c", ".txt"}
_SPEC_CITE = re.compile(r"spec/([A-Za-z0-9_\-]+)\.md#([A-Za-z0-9_\-]+)")


def citing_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in CITING_DIRS:
        files += [p for p in sorted((ROOT / top).rglob("*"))
                  if p.suffix in CITING_SUFFIXES and p.is_file() and "node_modules" not in p.parts]
    return files


def test_spec_anchor_citations_resolve() -> None:
    """``spec/zre.md#hello`` in a docstring, a vector's ``spec`` field or prose names a section."""
    bad, count = set(), 0
    for path in citing_files():
        for m in _SPEC_CITE.finditer(path.read_text("utf-8", errors="replace")):
            count += 1
            spec = ROOT / "spec" / f"{m.group(1)}.md"
            if not spec.exists() or m.group(2) not in anchors(spec):
                bad.add(f"{_rel(path)}: {m.group(0)}")
    assert count > 500, "the tree cites spec sections much less than expected"
    assert not bad, "cited spec sections that do not exist:\n" + "\n".join(sorted(bad))


# -- the checker checks itself ------------------------------------------------------------------
@pytest.mark.parametrize(("heading", "anchor"), [
    ("Message layout", "message-layout"),
    ("PING-OK", "ping-ok"),
    ("`HELLO` (id 1)", "hello-id-1"),
    ("Report JSON", "report-json"),
    ("pyre 0.3.5: what's different?", "pyre-035-whats-different"),
    ("Links: [spec](spec/zre.md) & more", "links-spec--more"),
    ("snake_case stays", "snake_case-stays"),
])
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_checker_finds_broken_links(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Part two\n\n<a id=\"kept\"></a>\n", "utf-8")
    doc.write_text(
        "# Title\n\n## Same\n\n## Same\n\n"
        "[ok](other.md#part-two) [ok](other.md#kept) [ok](#same-1) [ok](#title) [web](https://x.y/z)\n"
        "[bad](missing.md) [bad](other.md#nope) [bad](#same-2)\n"
        "`[in code](missing-too.md)`\n"
        "```\n[fenced](missing-three.md)\n## Not a heading\n```\n"
        "[ref]: other.md#part-two\n[badref]: gone.md\n",
        "utf-8")
    bad = broken_links(doc)
    assert [p.split("(", 1)[1].split(")", 1)[0] for p in bad] == [
        "missing.md", "other.md#nope", "#same-2", "gone.md"]
    assert "not-a-heading" not in anchors(doc)


def test_vector_patterns() -> None:
    ids = frozenset({"zre.hello.minimal", "zre.invalid.cut.hello-39", "zpipes.write.basic"})
    assert names_a_vector("zre.hello.minimal", ids)
    assert names_a_vector("zre.invalid.cut.hello-*", ids)
    assert names_a_vector("zpipes.write*", ids)
    assert names_a_vector("zre.hello", ids)
    assert not names_a_vector("zre.hello.maximal", ids)
    assert not names_a_vector("zre.goodbye.*", ids)
    assert not names_a_vector("zre.hel", ids)
