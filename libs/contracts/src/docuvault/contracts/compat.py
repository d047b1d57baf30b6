"""Breaking changes between a frozen JSON Schema and the one the current model generates.

Within a version only additive changes are allowed (DESIGN §3): new optional fields, removed
constraints, required → optional. Breaking: a removed property, a property that is required now
but was optional or absent, a changed type (``type``, ``format``, ``enum``, ``const``, the set of
``anyOf`` branches; array items and nested objects recursively, local ``$ref`` resolved) and a
tightened constraint. ``additionalProperties`` is never compared: consumers ignore unknown fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]
_Branches = dict[str, tuple[str | None, Schema]]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def check_compatible(frozen: Schema, current: Schema) -> list[str]:
    """Human-readable breaking changes from ``frozen`` to ``current``; empty when compatible."""
    comparison = _Comparison(frozen, current)
    comparison.compare(frozen, current, "")
    return list(dict.fromkeys(comparison.problems))


def _label(path: str) -> str:
    return f"'{path}'" if path else "the schema"


def _signature(node: Schema) -> str:
    """What a value of this branch looks like: its type with format, enum or const."""
    if "$ref" in node:
        return f"$ref {node['$ref']}"
    kind = node.get("type") or ("object" if "properties" in node else "any")
    values = node.get("enum")
    if "const" in node or (isinstance(values, list) and len(values) == 1):
        const = node["const"] if "const" in node else values[0]  # type: ignore[index]
        return f"{kind} = {json.dumps(const)}"
    if isinstance(values, list):
        return f"{kind} one of {json.dumps(sorted(values, key=json.dumps))}"
    if "format" in node:
        return f"{kind} ({node['format']})"
    return str(kind)


class _Comparison:
    def __init__(self, frozen: Schema, current: Schema) -> None:
        self.roots = (frozen, current)
        self.problems: list[str] = []
        self.active: set[tuple[str, str]] = set()

    def report(self, path: str, problem: str) -> None:
        self.problems.append(f"{_label(path)} {problem}")

    def compare(self, frozen: Schema, current: Schema, path: str) -> None:
        old, new = self.branches(frozen, 0), self.branches(current, 1)
        if old.keys() != new.keys():
            self.report(path, f"changed type from {' | '.join(old)} to {' | '.join(new)}")
        for signature in old.keys() & new.keys():
            (old_ref, old_node), (new_ref, new_node) = old[signature], new[signature]
            guard = (old_ref, new_ref) if old_ref and new_ref else None
            if guard in self.active:
                continue  # a recursive model: this pair is already being compared
            if guard:
                self.active.add(guard)
            self.constraints(old_node, new_node, path)
            self.properties(old_node, new_node, path)
            if "items" in old_node or "items" in new_node:
                self.compare(old_node.get("items", {}), new_node.get("items", {}), f"{path}[]")
            if guard:
                self.active.discard(guard)

    def properties(self, frozen: Schema, current: Schema, path: str) -> None:
        old, new = frozen.get("properties", {}), current.get("properties", {})
        for name, schema in old.items():
            field = f"{path}.{name}" if path else name
            if name not in new:
                self.report(field, "was removed (consumers of the frozen schema rely on it)")
            else:
                self.compare(schema, new[name], field)
        was_required = set(frozen.get("required", []))
        for name in current.get("required", []):
            if name not in was_required:
                field = f"{path}.{name}" if path else name
                before = "optional" if name in old else "absent"
                self.report(field, f"is required now but was {before} in the frozen schema")

    def constraints(self, frozen: Schema, current: Schema, path: str) -> None:
        for key, tighter in [(k, 1) for k in _LOWER_BOUNDS] + [(k, -1) for k in _UPPER_BOUNDS]:
            old, new = frozen.get(key), current.get(key)
            if not isinstance(new, int | float):
                continue
            if not isinstance(old, int | float):
                self.report(path, f"gained the constraint {key}={new}")
            elif (new - old) * tighter > 0:
                self.report(path, f"has a tighter {key}: {old} → {new}")
        if "pattern" in current and current["pattern"] != frozen.get("pattern"):
            self.report(path, f"has a new pattern {current['pattern']!r}")

    def branches(self, node: Schema, side: int) -> _Branches:
        found: _Branches = {}
        for ref, branch in self.flatten(node, side, None, 0):
            signature = _signature(branch)
            while signature in found:  # e.g. two object branches: pair them in order
                signature += "'"
            found[signature] = (ref, branch)
        return found

    def flatten(
        self, node: Schema, side: int, ref: str | None, depth: int
    ) -> Iterator[tuple[str | None, Schema]]:
        siblings = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
        if "$ref" in node and depth < 32:
            target = self.resolve(node["$ref"], side)
            if target is not None:
                yield from self.flatten({**target, **siblings}, side, node["$ref"], depth + 1)
                return
        if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            yield from self.flatten({**node["allOf"][0], **siblings}, side, ref, depth + 1)
            return
        for keyword in ("anyOf", "oneOf"):
            if isinstance(node.get(keyword), list):
                for branch in node[keyword]:
                    yield from self.flatten(branch, side, None, depth + 1)
                return
        if isinstance(node.get("type"), list):
            for kind in node["type"]:
                yield ref, {**node, "type": kind}
            return
        yield ref, node

    def resolve(self, ref: str, side: int) -> Schema | None:
        """A local JSON pointer (``#/$defs/Name``) into the same document, or None."""
        if not ref.startswith("#/"):
            return None
        target: Any = self.roots[side]
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        return target if isinstance(target, dict) else None
