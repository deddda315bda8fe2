"""What a desk or a national system asks a node to send (pure).

A submission is the JSON a person or a system writes: the event type, who it
is for, why, how it may be handled, the case key, and the payload in its JSON
form. ``trm node publish``, the gateway's ``POST /api/events`` and the importer
all build one with :meth:`Submission.from_json`, which refuses unknown keys and
wrong types with a detail that names the key (never a payload value).

Deterministic event ids (importer idempotency): :func:`row_event_id` is a
UUIDv7 whose 48-bit time is the first attempt's time and whose 74 "random" bits
are SHA-256("trm-import/v1" | country | type | row key). The importer journals
the id before sending, so a re-run re-sends a row only if its first send was
never confirmed, and then with the same id (the hub drops it as a replay).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hub.errors import Reason, RequestError
from hub.topics import check_country
from hub.wire import HANDLING_CODES, PURPOSES, EventType, payload_fields

__all__ = [
    "ACK_STATUSES",
    "DEFAULT_HANDLING",
    "ERASURE_REASONS",
    "Submission",
    "key_fields",
    "row_event_id",
    "uuid7_from",
]

DEFAULT_HANDLING: Final = "H2"
# What a recipient may say in an acknowledgement: the schema's status symbols.
ACK_STATUSES: Final = EventType.ACKNOWLEDGEMENT.symbols("status")
ERASURE_REASONS: Final = EventType.ERASURE_REQUEST.symbols("reason")
_KEYS: Final = frozenset(
    {"type", "to", "purpose", "handling", "case_key", "correlation_id", "event_id", "payload"}
)
_CASE_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _str(obj: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise RequestError(Reason.BAD_REQUEST, f"expected key {name!r}, it is missing")
        return None
    if not isinstance(value, str):
        raise RequestError(
            Reason.BAD_REQUEST, f"expected {name!r} to be a string, got {type(value).__name__}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Submission:
    """An event to send, validated up to the payload (``seal`` checks the payload)."""

    event_type: EventType
    recipients: tuple[str, ...]
    purpose: str
    handling: str
    case_key: str
    payload: Mapping[str, Any]
    correlation_id: str | None = None
    event_id: str | None = None

    @classmethod
    def from_json(cls, obj: Any, *, default_case_key: str | None = None) -> Submission:
        """Validate a decoded JSON object.

        Raises:
            RequestError: BAD_REQUEST (shape, types, unknown keys),
                UNKNOWN_COUNTRY, UNKNOWN_EVENT_TYPE.
        """
        if not isinstance(obj, Mapping):
            raise RequestError(
                Reason.BAD_REQUEST, f"expected a JSON object, got {type(obj).__name__}"
            )
        unknown = sorted(set(obj) - _KEYS)
        if unknown:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"unknown key {unknown[0][:40]!r}; expected only {sorted(_KEYS)}",
            )
        kind = _str(obj, "type", required=True) or ""
        try:
            event_type = EventType(kind)
        except ValueError:
            raise RequestError(
                Reason.UNKNOWN_EVENT_TYPE,
                f"expected type in {[t.value for t in EventType]}, got {str(kind)[:40]!r}",
            ) from None
        to = obj.get("to")
        if isinstance(to, str):
            to = [p.strip() for p in to.split(",") if p.strip()]
        if not isinstance(to, list) or not to or not all(isinstance(c, str) for c in to):
            raise RequestError(
                Reason.BAD_REQUEST,
                "expected 'to' to be a country code or a non-empty list of them",
            )
        recipients = tuple(sorted({check_country(c) for c in to}))
        purpose = _str(obj, "purpose") or event_type.spec.default_purpose
        if purpose not in PURPOSES:
            raise RequestError(
                Reason.BAD_REQUEST, f"expected purpose in {sorted(PURPOSES)}, got {purpose[:40]!r}"
            )
        handling = _str(obj, "handling") or DEFAULT_HANDLING
        if handling not in HANDLING_CODES:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected handling in {sorted(HANDLING_CODES)}, got {handling[:40]!r}",
            )
        case_key = _str(obj, "case_key") or default_case_key
        if case_key is None:
            raise RequestError(Reason.BAD_REQUEST, "expected key 'case_key', it is missing")
        if not _CASE_KEY.match(case_key):
            raise RequestError(
                Reason.BAD_REQUEST,
                "expected case_key of 1-128 characters from A-Z a-z 0-9 . _ : - "
                "(a pseudonymous id, never a name)",
            )
        payload = obj.get("payload")
        if not isinstance(payload, Mapping):
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected 'payload' to be an object, got {type(payload).__name__}",
            )
        fields = set(payload_fields(event_type))
        extra = sorted(set(payload) - fields)
        if extra:
            raise RequestError(
                Reason.UNKNOWN_FIELD,
                f"payload field {extra[0][:40]!r} is not in the {event_type} schema",
            )
        return cls(
            event_type=event_type,
            recipients=recipients,
            purpose=purpose,
            handling=handling,
            case_key=case_key,
            payload=dict(payload),
            correlation_id=_str(obj, "correlation_id"),
            event_id=_str(obj, "event_id"),
        )


def uuid7_from(ms: int, rand: bytes) -> str:
    """A UUIDv7 string with time ``ms`` and the first 74 bits of ``rand`` (>= 10 bytes)."""
    r = int.from_bytes(rand[:10], "big")
    rand_a = r >> 68
    rand_b = r & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def row_event_id(country: str, event_type: str, row_key: str, first_attempt_ms: int) -> str:
    """The importer's event id for a row: see the module docstring."""
    digest = hashlib.sha256(
        b"trm-import/v1\x00"
        + country.encode()
        + b"\x00"
        + event_type.encode()
        + b"\x00"
        + row_key.encode("utf-8")
    ).digest()
    return uuid7_from(first_attempt_ms, digest)


def _shown(value: Any) -> str | None:
    """A field as a table shows it: a list by its first item, a record by its name."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, Mapping):
        value = value.get("full_name") or value.get("name")
    return None if value is None or value == "" else str(value)


def key_fields(event_type: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """A few fields that tell a desk what an event is about (for tables).

    Which ones is the event type's registered ``summary``; an unknown type has none.
    """
    if event_type not in EventType:
        return {}
    out: dict[str, str] = {}
    for label, name in EventType(event_type).spec.summary:
        text = _shown(fields.get(name))
        if text is not None:
            out[label] = text
    return out
