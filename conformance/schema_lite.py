"""A small JSON Schema checker (the subset our own schemas use), so the runner needs no dependency.

Supports type, enum, const, properties, required, additionalProperties, items, contains, pattern,
minLength/maxLength, minimum/maximum, allOf/anyOf/oneOf/not, if/then/else and local ``$ref``.
The tests cross-check it against the real ``jsonschema`` package (spec/conformance.md#schemas).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


class Schema:
    """A loaded schema; :meth:`errors` lists why a value does not match (empty = valid)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @classmethod
    def load(cls, filename: str) -> Schema:
        """Load one of the schema files shipped in the zre_conformance package."""
        text = resources.files("zre_conformance").joinpath(filename).read_text("utf-8")
        return cls(json.loads(text))

    def resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref supported: {ref}")
        node: Any = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node  # type: ignore[no-any-return]

    def sub(self, name: str) -> dict[str, Any]:
        """The schema under ``$defs/name``."""
        return self.resolve(f"#/$defs/{name}")

    def errors(self, value: Any, schema: dict[str, Any] | None = None, path: str = "$") -> list[str]:
        s = self.doc if schema is None else schema
        out: list[str] = []
        if "$ref" in s:
            out += self.errors(value, self.resolve(s["$ref"]), path)
        if "type" in s:
            names = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(_is_type(value, n) for n in names):
                return [*out, f"{path}: expected {'/'.join(names)}, got {type(value).__name__}"]
        if "const" in s and not _same(value, s["const"]):
            out.append(f"{path}: expected {s['const']!r}")
        if "enum" in s and not any(_same(value, e) for e in s["enum"]):
            out.append(f"{path}: {value!r} is not one of {s['enum']}")
        if isinstance(value, str):
            if "pattern" in s and re.search(s["pattern"], value) is None:
                out.append(f"{path}: {value!r} does not match {s['pattern']}")
            if "minLength" in s and len(value) < s["minLength"]:
                out.append(f"{path}: shorter than {s['minLength']}")
            if "maxLength" in s and len(value) > s["maxLength"]:
                out.append(f"{path}: longer than {s['maxLength']}")
        if _is_type(value, "number"):
            if "minimum" in s and value < s["minimum"]:
                out.append(f"{path}: {value} < {s['minimum']}")
            if "maximum" in s and value > s["maximum"]:
                out.append(f"{path}: {value} > {s['maximum']}")
        if isinstance(value, dict):
            for key in s.get("required", []):
                if key not in value:
                    out.append(f"{path}: missing {key!r}")
            props = s.get("properties", {})
            for key, item in value.items():
                if key in props:
                    out += self.errors(item, props[key], f"{path}.{key}")
                elif "additionalProperties" in s:
                    extra = s["additionalProperties"]
                    if extra is False:
                        out.append(f"{path}: unexpected key {key!r}")
                    elif isinstance(extra, dict):
                        out += self.errors(item, extra, f"{path}.{key}")
        if isinstance(value, list):
            if "items" in s:
                for i, item in enumerate(value):
                    out += self.errors(item, s["items"], f"{path}[{i}]")
            if "contains" in s and not any(not self.errors(v, s["contains"]) for v in value):
                out.append(f"{path}: no item matches {s['contains']}")
        for sub in s.get("allOf", []):
            out += self.errors(value, sub, path)
        if "anyOf" in s and all(self.errors(value, sub, path) for sub in s["anyOf"]):
            out.append(f"{path}: matches none of anyOf")
        if "oneOf" in s:
            matches = sum(1 for sub in s["oneOf"] if not self.errors(value, sub, path))
            if matches != 1:
                out.append(f"{path}: matches {matches} of oneOf (want exactly 1)")
        if "not" in s and not self.errors(value, s["not"], path):
            out.append(f"{path}: must not match {s['not']}")
        if "if" in s and not self.errors(value, s["if"], path):
            if "then" in s:
                out += self.errors(value, s["then"], path)
        elif "if" in s and "else" in s:
            out += self.errors(value, s["else"], path)
        return out


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        _is_type(a, "number") and _is_type(b, "number") and a == b)
