"""JSON <-> payload values: the CLI, the gateway and the examples speak JSON.

JSON has no bytes: Avro ``bytes`` and ``fixed`` values are lowercase hex
strings in JSON. Timestamps stay integer milliseconds; text stays UTF-8 in
any script.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import schemas

from .seal import _event_type

__all__ = ["from_json_value", "payload_from_json", "payload_to_json", "to_json_value"]


def _index_named(node: Any, named: dict[str, Any], namespace: str) -> None:
    if isinstance(node, list):
        for item in node:
            _index_named(item, named, namespace)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum", "fixed"):
            named[node["name"]] = node
            named[f"{namespace}.{node['name']}"] = node
        if kind == "record":
            for fld in node["fields"]:
                _index_named(fld["type"], named, namespace)
        elif kind == "array":
            _index_named(node["items"], named, namespace)
        elif isinstance(kind, (dict, list)):
            _index_named(kind, named, namespace)


def from_json_value(schema: Any, value: Any, named: Mapping[str, Any]) -> Any:
    """Convert a JSON value to the Python value Avro expects under ``schema``."""
    if value is None:
        return None
    if isinstance(schema, str):
        if schema in ("bytes",) and isinstance(value, str):
            return _hex(value)
        if schema in named:
            return from_json_value(named[schema], value, named)
        return value
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return from_json_value(branches[0], value, named) if len(branches) == 1 else value
    kind = schema.get("type")
    if kind == "record" and isinstance(value, Mapping):
        types = {f["name"]: f["type"] for f in schema["fields"]}
        return {
            k: from_json_value(types[k], v, named) if k in types else v for k, v in value.items()
        }
    if kind == "array" and isinstance(value, list):
        return [from_json_value(schema["items"], v, named) for v in value]
    if kind in ("fixed", "bytes") and isinstance(value, str):
        return _hex(value)
    if isinstance(kind, (str, list, dict)) and kind not in ("record", "array", "enum", "fixed"):
        return from_json_value(kind, value, named)
    return value


def _hex(value: str) -> Any:
    try:
        return bytes.fromhex(value)
    except ValueError:
        return value  # left as is: the schema check names the field


def to_json_value(value: Any) -> Any:
    """A decoded Avro value as JSON-ready data (bytes become hex)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    return value


def payload_from_json(event_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A payload read from JSON, with hex strings turned into bytes where the schema says."""
    schema = schemas.load(_event_type(event_type).value)
    named: dict[str, Any] = {}
    _index_named(schema, named, schema.get("namespace", ""))
    types = {f["name"]: f["type"] for f in schema["fields"]}
    return {k: from_json_value(types[k], v, named) if k in types else v for k, v in obj.items()}


def payload_to_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Disclosed fields as JSON-ready data."""
    return {k: to_json_value(v) for k, v in fields.items()}
