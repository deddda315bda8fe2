"""Mapping national export columns to schema fields (pure).

A mapping file (YAML or JSON)::

    type: referral                 # optional; --type wins
    to: [KH]                       # recipients, or to_column: destination
    purpose: victim_protection     # optional, default per event type
    handling: H2                   # optional
    row_key: [national_case_id]    # columns that identify a row for ever
    case_key_column: null          # optional column holding a pseudonymous case key
    fields:
      case_number: national_case_id             # a column, as text
      referred_at: {column: date_referred, as: timestamp}
      names.0.full_name: ชื่อ_สกุล                 # paths build records and lists
      names.0.lang: {const: th-Thai}
      needs: {column: needs, as: list}          # split on ';'
      is_child: {column: child, as: bool}

Converters (``as``): ``text`` (default), ``int``, ``bool`` (true/false/yes/no/1/0),
``timestamp`` (ISO 8601 date or date-time, UTC unless it says otherwise ->
ms), ``list`` (split on ``;``, blanks dropped), ``int_list``. An empty cell is a
missing value, or ``default`` when the spec gives one (``{column: c, as: list,
default: []}`` for a list the schema requires). Without ``case_key_column`` the case key is
``imp-`` + the first 20 hex digits of SHA-256(country | row key): pseudonymous
and stable, so one person's rows stay in order without a name in a Kafka key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.errors import Reason, RequestError
from hub.wire import EventType, payload_fields

__all__ = ["FieldSpec", "Mapping_", "RowError", "load_mapping"]

_CONVERTERS = ("text", "int", "bool", "timestamp", "list", "int_list")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True, slots=True)
class RowError(Exception):
    """One row could not be turned into a payload (goes to the errors file)."""

    field: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    path: tuple[str, ...]
    column: str | None
    convert: str
    const: Any = None
    default: Any = None  # used for an empty cell when given (e.g. [] for a required list)


def _convert(spec: FieldSpec, raw: str) -> Any:
    name = ".".join(spec.path)
    value = raw.strip()
    try:
        match spec.convert:
            case "text":
                return value
            case "int":
                return int(value)
            case "bool":
                low = value.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError("expected true/false/yes/no/1/0")
            case "timestamp":
                when = dt.datetime.fromisoformat(value)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                return int(when.timestamp() * 1000)
            case "list":
                return [p.strip() for p in value.split(";") if p.strip()]
            case "int_list":
                return [int(p) for p in value.split(";") if p.strip()]
    except ValueError as exc:
        msg = str(exc) if spec.convert == "bool" else f"expected {spec.convert}"
        raise RowError(
            name, str(Reason.INVALID_PAYLOAD), f"column {spec.column!r}: {msg}"
        ) from None
    raise RowError(name, str(Reason.CONFIG_INVALID), f"unknown converter {spec.convert!r}")


def _put(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node: Any = target
    for i, part in enumerate(path):
        last = i == len(path) - 1
        nxt_is_index = not last and path[i + 1].isdigit()
        if isinstance(node, list):
            idx = int(part)
            while len(node) <= idx:
                node.append(None)
            if last:
                node[idx] = value
            else:
                if node[idx] is None:
                    node[idx] = [] if nxt_is_index else {}
                node = node[idx]
        elif last:
            node[part] = value
        else:
            node = node.setdefault(part, [] if nxt_is_index else {})


def _prune(value: Any) -> Any:
    """Drop list holes and records with no value (a row with no name has no names)."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None} or None
    if isinstance(value, list):
        if not value:
            return value  # an explicit empty list (a default) stays
        items = [_prune(v) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    return value


@dataclass(frozen=True, slots=True)
class Mapping_:
    """A validated mapping from national columns to one event type's payload."""

    event_type: EventType
    recipients: tuple[str, ...]
    to_column: str | None
    purpose: str | None
    handling: str | None
    row_key: tuple[str, ...]
    case_key_column: str | None
    fields: tuple[FieldSpec, ...]

    def columns(self) -> frozenset[str]:
        cols = {f.column for f in self.fields if f.column} | set(self.row_key)
        if self.to_column:
            cols.add(self.to_column)
        if self.case_key_column:
            cols.add(self.case_key_column)
        return frozenset(cols)

    def row_key_of(self, row: Mapping[str, Any]) -> str:
        """The stable key of a row: its row_key columns, else its whole content."""
        if self.row_key:
            parts = [str(row.get(c) or "").strip() for c in self.row_key]
            if not any(parts):
                raise RowError(
                    ",".join(self.row_key),
                    str(Reason.INVALID_PAYLOAD),
                    "expected a value in the row key column(s), found none",
                )
            return "\x1f".join(parts)
        return json.dumps(dict(row), sort_keys=True, ensure_ascii=False)

    def case_key_of(self, country: str, row: Mapping[str, Any], row_key: str) -> str:
        if self.case_key_column:
            value = str(row.get(self.case_key_column) or "").strip()
            if value:
                return value
        digest = hashlib.sha256(f"{country}\x00{row_key}".encode()).hexdigest()
        return "imp-" + digest[:20]

    def payload_of(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON-form payload of one row.

        Raises:
            RowError: a cell that does not convert.
        """
        out: dict[str, Any] = {}
        for spec in self.fields:
            if spec.column is None:
                _put(out, spec.path, spec.const)
                continue
            raw = row.get(spec.column)
            if raw is None:
                continue
            if not isinstance(raw, str):  # JSON Lines may carry typed values already
                _put(out, spec.path, raw)
                continue
            if not raw.strip():
                if spec.default is not None:
                    _put(out, spec.path, spec.default)
                continue
            _put(out, spec.path, _convert(spec, raw))
        pruned = _prune(out)
        return pruned if isinstance(pruned, dict) else {}

    def recipients_of(self, row: Mapping[str, Any]) -> list[str]:
        if self.to_column:
            cell = str(row.get(self.to_column) or "")
            return [c.strip() for c in cell.replace(";", ",").split(",") if c.strip()]
        return list(self.recipients)


def _fail(detail: str) -> RequestError:
    return RequestError(Reason.CONFIG_INVALID, f"mapping: {detail}")


def load_mapping(obj: Any, *, event_type: str | None = None) -> Mapping_:
    """Validate a decoded mapping document.

    Raises:
        RequestError: CONFIG_INVALID naming the bad key.
    """
    if not isinstance(obj, Mapping):
        raise _fail(f"expected an object, got {type(obj).__name__}")
    known = {
        "type",
        "to",
        "to_column",
        "purpose",
        "handling",
        "row_key",
        "case_key_column",
        "fields",
    }
    unknown = sorted(map(str, set(obj) - known))  # YAML keys may be numbers or null
    if unknown:
        raise _fail(f"unknown key {unknown[0]!r}; expected {sorted(known)}")
    kind = event_type or obj.get("type")
    try:
        etype = EventType(str(kind))
    except ValueError:
        raise _fail(f"expected type in {[t.value for t in EventType]}, got {kind!r}") from None
    if obj.get("type") and event_type and obj["type"] != event_type:
        raise _fail(f"mapping is for {obj['type']!r}, --type says {event_type!r}")
    to = obj.get("to") or []
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(c, str) for c in to):
        raise _fail("expected 'to' to be a list of country codes")
    if not to and not obj.get("to_column"):
        raise _fail("expected 'to' or 'to_column'")
    row_key = obj.get("row_key") or []
    if isinstance(row_key, str):
        row_key = [row_key]
    fields_obj = obj.get("fields")
    if not isinstance(fields_obj, Mapping) or not fields_obj:
        raise _fail("expected 'fields': an object of field path -> column")
    allowed = set(payload_fields(etype))
    specs: list[FieldSpec] = []
    for path, spec in fields_obj.items():
        parts = tuple(str(path).split("."))
        if parts[0] not in allowed:
            raise _fail(f"field {parts[0]!r} is not in the {etype} schema")
        if isinstance(spec, str):
            specs.append(FieldSpec(parts, spec, "text"))
        elif isinstance(spec, Mapping) and "const" in spec:
            specs.append(FieldSpec(parts, None, "const", spec["const"]))
        elif isinstance(spec, Mapping) and isinstance(spec.get("column"), str):
            conv = str(spec.get("as", "text"))
            if conv not in _CONVERTERS:
                raise _fail(f"field {path!r}: expected 'as' in {list(_CONVERTERS)}, got {conv!r}")
            specs.append(FieldSpec(parts, spec["column"], conv, default=spec.get("default")))
        else:
            raise _fail(f"field {path!r}: expected a column name, {{column, as}} or {{const}}")
    return Mapping_(
        event_type=etype,
        recipients=tuple(to),
        to_column=obj.get("to_column"),
        purpose=obj.get("purpose"),
        handling=obj.get("handling"),
        row_key=tuple(str(c) for c in row_key),
        case_key_column=obj.get("case_key_column"),
        fields=tuple(specs),
    )
