"""Mapping national export columns to schema fields (pure).

A mapping file (YAML or JSON)::

    type: referral                 # optional; --type wins
    to: [KH]                       # recipients, or to_column: destination
    purpose: victim_protection     # optional, default per event type
    handling: H2                   # optional
    row_key: [national_case_id]    # columns that identify a row for ever
    case_key_column: null          # optional column holding a pseudonymous case key
    multiline: [notes]             # optional: CSV columns whose cells may hold line breaks
    fields:
      case_number: national_case_id             # a column, as text
      referred_at: {column: date_referred, as: timestamp}
      names.0.full_name: ชื่อ_สกุล                 # paths build records and lists
      names.0.lang: {const: th-Thai}
      needs: {column: needs, as: list}          # split on ';'
      is_child: {column: child, as: bool}

Converters (``as``): ``text`` (default), ``int``, ``bool`` (true/false/yes/no/1/0),
``timestamp`` (ISO 8601 date or date-time, UTC unless it says otherwise ->
ms), ``list`` (split on ``;``, blanks dropped), ``int_list`` (``int``: at most
20 digits). An empty cell (or a JSON Lines row without the member, or with
``null``) is a missing value, or ``default`` when the spec gives one
(``{column: c, as: list, default: []}`` for a list the schema requires).
Without ``case_key_column`` the case key is
``imp-`` + the first 20 hex digits of SHA-256(country | row key): pseudonymous
and stable, so one person's rows stay in order without a name in a Kafka key.

A mapping file is read by :func:`read_mapping` through :func:`hub.textdoc.parse_yaml`
(at most :data:`MAX_MAPPING_BYTES`, no YAML aliases, no key twice, bounded
nesting) and checked whole before any row is read: every key known, every field
path a consistent tree of names and list indices below :data:`MAX_LIST_INDEX`.
A refusal is CONFIG_INVALID (OVERSIZED, BAD_ENCODING for the bytes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hub.errors import Reason, RequestError
from hub.textdoc import MAX_INT_DIGITS, parse_yaml
from hub.wire import EventType, payload_fields

__all__ = [
    "MAX_LIST_INDEX",
    "MAX_MAPPING_BYTES",
    "FieldSpec",
    "Mapping_",
    "RowError",
    "load_mapping",
    "load_mapping_file",
    "read_mapping",
]

#: The largest mapping file read (a real one is a few kilobytes).
MAX_MAPPING_BYTES: Final = 256 * 1024
#: List indices in a field path (``names.0.full_name``) stay below this: a path
#: builds the list up to its index, so an index is memory.
MAX_LIST_INDEX: Final = 64
_CONVERTERS = ("text", "int", "bool", "timestamp", "list", "int_list")
_SPEC_KEYS = frozenset({"column", "as", "default"})
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
                return _int(value)
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
                return [_int(p) for p in value.split(";") if p.strip()]
    except (ValueError, OverflowError) as exc:  # OverflowError: a date past year 9999 in UTC
        msg = str(exc) if spec.convert == "bool" else f"expected {spec.convert}"
        raise RowError(
            name, str(Reason.INVALID_PAYLOAD), f"column {spec.column!r}: {msg}"
        ) from None
    raise RowError(name, str(Reason.CONFIG_INVALID), f"unknown converter {spec.convert!r}")


def _int(text: str) -> int:
    digits = text.strip().lstrip("+-")
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError("too many digits")
    return int(text)


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
    multiline: frozenset[str] = frozenset()  # CSV columns whose cells may hold line breaks

    def columns(self) -> frozenset[str]:
        cols = {f.column for f in self.fields if f.column} | set(self.row_key) | self.multiline
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
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if spec.default is not None:  # a missing value (no JSON member, or blank)
                    _put(out, spec.path, spec.default)
                continue
            if not isinstance(raw, str):  # JSON Lines may carry typed values already
                _put(out, spec.path, raw)
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


_KNOWN_KEYS: Final = frozenset(
    {
        "type",
        "to",
        "to_column",
        "purpose",
        "handling",
        "row_key",
        "case_key_column",
        "multiline",
        "fields",
    }
)


def _opt_str(obj: Mapping[Any, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _fail(f"expected {key!r} to be text, got {type(value).__name__}")


def _str_list(obj: Mapping[Any, Any], key: str, what: str) -> list[str]:
    value = obj.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
        raise _fail(f"expected {key!r} to be a list of {what}")
    return value


def _field_path(path: Any) -> tuple[str, ...]:
    """``names.0.full_name`` as its parts; list indices are small numbers."""
    if not isinstance(path, str):
        raise _fail(f"expected field paths to be text, got {type(path).__name__}")
    parts = tuple(path.split("."))
    for part in parts:
        if not part:
            raise _fail(f"field {path[:80]!r}: expected names and indices joined by '.'")
        if part.isdigit() and (not part.isascii() or int(part) >= MAX_LIST_INDEX):
            raise _fail(f"field {path[:80]!r}: expected list indices 0..{MAX_LIST_INDEX - 1}")
    if parts[0].isdigit():
        raise _fail(f"field {path[:80]!r}: expected a field name first")
    return parts


def _check_tree(paths: Sequence[tuple[str, ...]]) -> None:
    """Paths must build one tree: no path inside another's value, no name mixed with an index."""
    leaves = set(paths)
    children: dict[tuple[str, ...], set[bool]] = {}
    for parts in paths:
        for i in range(1, len(parts)):
            prefix = parts[:i]
            if prefix in leaves:
                raise _fail(
                    f"field {'.'.join(parts)[:80]!r} is inside {'.'.join(prefix)[:80]!r}, "
                    "which is a value"
                )
            children.setdefault(prefix, set()).add(parts[i].isdigit())
    for prefix, kinds in children.items():
        if len(kinds) > 1:
            raise _fail(
                f"field {'.'.join(prefix)[:80]!r}: expected either indices or names below it"
            )


def _field_spec(path: str, parts: tuple[str, ...], spec: Any) -> FieldSpec:
    if isinstance(spec, str):
        return FieldSpec(parts, spec, "text")
    if isinstance(spec, Mapping) and "const" in spec:
        if len(spec) != 1:
            raise _fail(f"field {path[:80]!r}: expected {{const}} alone")
        return FieldSpec(parts, None, "const", spec["const"])
    if isinstance(spec, Mapping) and isinstance(spec.get("column"), str):
        unknown = sorted(str(k) for k in spec if k not in _SPEC_KEYS)
        if unknown:
            raise _fail(
                f"field {path[:80]!r}: unknown key {unknown[0][:40]!r}; "
                f"expected {sorted(_SPEC_KEYS)}"
            )
        conv = spec.get("as", "text")
        if conv not in _CONVERTERS:
            raise _fail(
                f"field {path[:80]!r}: expected 'as' in {list(_CONVERTERS)}, got {str(conv)[:40]!r}"
            )
        return FieldSpec(parts, spec["column"], str(conv), default=spec.get("default"))
    raise _fail(f"field {path[:80]!r}: expected a column name, {{column, as}} or {{const}}")


def load_mapping(obj: Any, *, event_type: str | None = None) -> Mapping_:
    """Validate a decoded mapping document.

    Raises:
        RequestError: CONFIG_INVALID naming the bad key.
    """
    if not isinstance(obj, Mapping):
        raise _fail(f"expected an object, got {type(obj).__name__}")
    unknown = sorted(str(k) for k in obj if k not in _KNOWN_KEYS)
    if unknown:
        raise _fail(f"unknown key {unknown[0][:40]!r}; expected {sorted(_KNOWN_KEYS)}")
    declared = _opt_str(obj, "type")
    kind = event_type or declared
    try:
        etype = EventType(str(kind))
    except ValueError:
        raise _fail(
            f"expected type in {[t.value for t in EventType]}, got {str(kind)[:40]!r}"
        ) from None
    if declared and event_type and declared != event_type:
        raise _fail(f"mapping is for {declared[:40]!r}, --type says {event_type[:40]!r}")
    to = _str_list(obj, "to", "country codes")
    to_column = _opt_str(obj, "to_column")
    if not to and not to_column:
        raise _fail("expected 'to' or 'to_column'")
    row_key = _str_list(obj, "row_key", "column names")
    multiline = _str_list(obj, "multiline", "column names")
    fields_obj = obj.get("fields")
    if not isinstance(fields_obj, Mapping) or not fields_obj:
        raise _fail("expected 'fields': an object of field path -> column")
    allowed = set(payload_fields(etype))
    specs: list[FieldSpec] = []
    for path, spec in fields_obj.items():
        parts = _field_path(path)
        if parts[0] not in allowed:
            raise _fail(f"field {parts[0][:40]!r} is not in the {etype} schema")
        specs.append(_field_spec(path, parts, spec))
    _check_tree([s.path for s in specs])
    return Mapping_(
        event_type=etype,
        recipients=tuple(to),
        to_column=to_column,
        purpose=_opt_str(obj, "purpose"),
        handling=_opt_str(obj, "handling"),
        row_key=tuple(row_key),
        case_key_column=_opt_str(obj, "case_key_column"),
        fields=tuple(specs),
        multiline=frozenset(multiline),
    )


def read_mapping(
    data: bytes | str, *, what: str = "mapping", event_type: str | None = None
) -> Mapping_:
    """A mapping from the bytes of a YAML (or JSON) file, read strictly and within bounds.

    Raises:
        RequestError: OVERSIZED (more than :data:`MAX_MAPPING_BYTES`), BAD_ENCODING,
            else CONFIG_INVALID (not strict YAML, an alias, a key twice, a bad key).
    """
    try:
        obj = parse_yaml(data, what=what, max_bytes=MAX_MAPPING_BYTES)
    except RequestError as exc:
        if exc.reason is not Reason.BAD_REQUEST:
            raise
        raise RequestError(Reason.CONFIG_INVALID, exc.detail) from exc
    return load_mapping(obj, event_type=event_type)


def load_mapping_file(path: Path, *, event_type: str | None = None) -> Mapping_:
    """:func:`read_mapping` of a file; an unreadable file is CONFIG_INVALID, saying why."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_MAPPING_BYTES + 1)  # no more than the bound is ever read
    except OSError as exc:
        raise RequestError(
            Reason.CONFIG_INVALID, f"mapping: cannot read {path}: {exc.strerror or exc}"
        ) from exc
    return read_mapping(data, what=f"mapping {path.name}", event_type=event_type)
