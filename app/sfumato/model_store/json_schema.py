"""A small JSON Schema validator for the subset of keywords ``models/catalog.schema.json`` uses.

Keywords it does not know raise ``ValueError`` so that a schema change cannot be silently
ignored. Errors are reported as ``(path, message)`` where path reads like ``models[3].variants[0].dtype``.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description"}
_KNOWN = _ANNOTATIONS | {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "pattern",
    "minItems",
    "minLength",
    "$ref",
}


class SchemaViolation(Exception):
    """The first place where an instance breaks the schema."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<root>'}: {message}")
        self.path = path
        self.message = message


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolation` at the first violation of ``schema`` in ``instance``."""
    _check(instance, schema, schema, "")


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref are supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"unsupported schema keywords {sorted(unknown)} at {path or '<root>'}")
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), root, path)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            raise SchemaViolation(path, f"expected {' or '.join(names)}, got {value!r}")
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaViolation(path, f"{value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaViolation(path, "must not be empty")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaViolation(path, f"{value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaViolation(path, f"{value} is below the minimum {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaViolation(path, f"{value} must be greater than {schema['exclusiveMinimum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaViolation(path, f"needs at least {schema['minItems']} item(s)")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], root, f"{path}[{i}]")
    if isinstance(value, dict):
        _check_object(value, schema, root, path)


def _check_object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    for key in schema.get("required", []):
        if key not in value:
            raise SchemaViolation(path, f"missing required field {key!r}")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = f"{path}.{key}" if path else key
        if key in properties:
            _check(item, properties[key], root, sub)
        elif extra is False:
            raise SchemaViolation(path, f"unknown field {key!r}")
        elif isinstance(extra, dict):
            _check(item, extra, root, sub)
