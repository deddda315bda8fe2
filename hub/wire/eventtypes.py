"""The event types: each is registered here once, and everything else follows.

An event type is its payload schema (``schemas/<name>.avsc``) and one
:class:`EventTypeSpec` in :data:`BUILTIN` below. The header's vocabulary
(:class:`EventType`), the payload schemas a verifier accepts, the agreement
JSON Schema's list of event types, the CLI's and the SDK's default purposes,
the gateway's OpenAPI document and the desk's summaries and follow-ups are all
read from this registry.

A deployment adds its own types without editing code: a directory holding
``event_types.json`` (a list of registrations, the fields of
:class:`EventTypeSpec` except the schema) and one ``<name>.avsc`` per type,
named in ``TRM_EVENT_TYPES`` (several directories separated by ``os.pathsep``)
or passed to :func:`register_from`. Every process that seals, routes, opens or
replays such events must be given the same directory. Registering a type
grants nothing: the policy engine delivers it only along a flow of a signed
agreement in force that names it (deny by default).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import schemas
from hub.errors import OperationalError, Reason

from .vocab import PURPOSES, shown

__all__ = [
    "BUILTIN",
    "ENV_VAR",
    "REGISTRATION_FILE",
    "EventType",
    "EventTypeSpec",
    "register",
    "register_from",
    "register_from_environment",
    "unregister",
]

ENV_VAR: Final = "TRM_EVENT_TYPES"
REGISTRATION_FILE: Final = "event_types.json"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_MAX_FILE: Final = 256 * 1024  # a schema or registration file larger than this is refused
_SPEC_KEYS: Final = frozenset(
    {
        "name",
        "title",
        "default_purpose",
        "summary",
        "awaits_acknowledgement",
        "due_field",
        "reply_to_correlated",
        "reply_field",
    }
)


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    """Everything the project knows about one event type besides its schema.

    Attributes:
        name: the header's ``event_type`` and the schema file's stem.
        title: what a person calls it ("handover notice"), for messages.
        default_purpose: the purpose a submission gets when it names none.
        summary: (label, payload field) pairs a desk shows in tables; a list
            shows its first item, a record its ``full_name`` or ``name``.
        awaits_acknowledgement: a desk follows the event until an
            acknowledgement comes back, and raises an alert when it is overdue.
        due_field: a payload field (ms since the epoch) that brings the due
            time forward, e.g. a handover's ``planned_at``.
        reply_to_correlated: the event answers another one, named by the
            signed header's ``correlation_id``, and the hub delivers it only to
            that event's producer (an acknowledgement, an erasure confirmation).
        reply_field: for such a reply, the payload field that names the
            answered event in an unsealed (v1) event, read when the hub can
            read it (e.g. ``acknowledged_event_id``); the header's
            ``correlation_id`` otherwise.
        schema: the ``.avsc`` file; None for the project's own
            (``schemas/<name>.avsc``).
    """

    name: str
    title: str
    default_purpose: str
    summary: tuple[tuple[str, str], ...] = ()
    awaits_acknowledgement: bool = False
    due_field: str | None = None
    reply_to_correlated: bool = False
    reply_field: str | None = None
    schema: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise _bad(f"expected an event type name matching {_NAME.pattern}, got {self.name!r}")
        if self.default_purpose not in PURPOSES:
            raise _bad(
                f"{self.name}: expected default_purpose in {sorted(PURPOSES)}, "
                f"got {shown(self.default_purpose)}"
            )
        if self.due_field is not None and not self.awaits_acknowledgement:
            raise _bad(f"{self.name}: due_field is only meaningful with awaits_acknowledgement")
        if self.reply_field is not None and not self.reply_to_correlated:
            raise _bad(f"{self.name}: reply_field is only meaningful with reply_to_correlated")

    @classmethod
    def from_json(cls, obj: Any, directory: Path) -> EventTypeSpec:
        """A registration read from ``event_types.json`` in ``directory``."""
        if not isinstance(obj, Mapping):
            raise _bad(f"expected a registration object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - _SPEC_KEYS)
        if unknown:
            raise _bad(
                f"unknown registration key {shown(unknown[0])}; expected {sorted(_SPEC_KEYS)}"
            )
        name, title, purpose = obj.get("name"), obj.get("title"), obj.get("default_purpose")
        if not all(isinstance(v, str) for v in (name, title, purpose)):
            raise _bad("expected strings 'name', 'title' and 'default_purpose' in a registration")
        summary = obj.get("summary", {})
        if not isinstance(summary, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in summary.items()
        ):
            raise _bad(f"{name}: expected 'summary' to map labels to payload field names")
        awaits = obj.get("awaits_acknowledgement", False)
        due = obj.get("due_field")
        if not isinstance(awaits, bool) or not (due is None or isinstance(due, str)):
            raise _bad(
                f"{name}: expected a boolean awaits_acknowledgement and a field name due_field"
            )
        reply = obj.get("reply_to_correlated", False)
        reply_field = obj.get("reply_field")
        if not isinstance(reply, bool) or not (reply_field is None or isinstance(reply_field, str)):
            raise _bad(
                f"{name}: expected a boolean reply_to_correlated and a field name reply_field"
            )
        return cls(
            name=str(name),
            title=str(title),
            default_purpose=str(purpose),
            summary=tuple(summary.items()),
            awaits_acknowledgement=awaits,
            due_field=due,
            reply_to_correlated=reply,
            reply_field=reply_field,
            schema=directory / f"{name}.avsc",
        )


class _Registry(type):
    """EventType's class behaves like an enumeration of the registered types."""

    def __iter__(cls) -> Iterator[EventType]:
        return iter(tuple(_TYPES.values()))

    def __len__(cls) -> int:
        return len(_TYPES)

    def __contains__(cls, value: object) -> bool:
        return isinstance(value, str) and value in _TYPES


class EventType(str, metaclass=_Registry):
    """A registered event type's name, as the header carries it.

    Like a string enumeration whose members are the registered types:
    ``EventType("referral") is EventType.REFERRAL``, ``list(EventType)`` in
    registration order, and ``EventType("no_such")`` raises ValueError.
    """

    __slots__ = ()

    REFERRAL: ClassVar[EventType]
    HANDOVER_NOTICE: ClassVar[EventType]
    TRAFFICKER_ALERT: ClassVar[EventType]
    ACKNOWLEDGEMENT: ClassVar[EventType]
    DETENTION_NOTICE: ClassVar[EventType]
    ERASURE_REQUEST: ClassVar[EventType]
    ERASURE_CONFIRMATION: ClassVar[EventType]
    MATCH_FOLLOWUP: ClassVar[EventType]
    MATCH_FOLLOWUP_ANSWER: ClassVar[EventType]
    CASE_UPDATE: ClassVar[EventType]
    REINTEGRATION_REPORT: ClassVar[EventType]
    CASE_ALERT: ClassVar[EventType]
    STATISTICS_REPORT: ClassVar[EventType]

    def __new__(cls, value: str) -> EventType:
        found = _TYPES.get(value) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f"{shown(value)} is not a registered event type")
        return found

    @classmethod
    def _make(cls, name: str) -> EventType:
        return str.__new__(cls, name)

    @property
    def value(self) -> str:
        """The name as a plain string."""
        return str.__str__(self)

    @property
    def spec(self) -> EventTypeSpec:
        """This type's registration."""
        return _SPECS[self.value]

    @property
    def payload_schema(self) -> bytes:
        """SHA-256 of the payload schema's canonical form (what the header names)."""
        return schemas.sha256(self.value)

    def symbols(self, field_name: str) -> tuple[str, ...]:
        """The symbols of an enum field of the payload (e.g. an acknowledgement's status).

        Raises:
            KeyError: the payload has no enum field of that name.
        """
        for fld in schemas.load(self.value)["fields"]:
            if fld["name"] == field_name:
                for branch in fld["type"]:
                    if isinstance(branch, dict) and branch.get("type") == "enum":
                        return tuple(branch["symbols"])
        raise KeyError(f"{self.value} has no enum field {field_name!r}")

    @classmethod
    def of_schema(cls, sha256: bytes) -> EventType | None:
        """The type whose payload schema has this SHA-256 (the first registered), or None."""
        if not _BY_SCHEMA:  # emptied by every registration; every header asks
            index: dict[bytes, EventType] = {}
            for t in _TYPES.values():
                index.setdefault(schemas.sha256(t.value), t)
            _BY_SCHEMA.update(index)  # whole or not at all: a schema that fails raises each time
        return _BY_SCHEMA.get(sha256)

    def __repr__(self) -> str:
        return f"EventType({self.value!r})"

    def __str__(self) -> str:
        return self.value

    def __reduce__(self) -> tuple[Any, ...]:
        return (EventType, (self.value,))


_TYPES: dict[str, EventType] = {}
_SPECS: dict[str, EventTypeSpec] = {}
_BY_SCHEMA: dict[bytes, EventType] = {}  # EventType.of_schema's index of _TYPES

# The project's own event types. Adding one: its schema file and one line here.
BUILTIN: Final = (
    EventTypeSpec(
        "referral",
        "referral",
        "victim_protection",
        summary=(("name", "names"), ("case", "case_number")),
    ),
    EventTypeSpec(
        "handover_notice",
        "handover notice",
        "repatriation",
        summary=(("name", "names"), ("status", "status"), ("checkpoint", "checkpoint")),
        awaits_acknowledgement=True,
        due_field="planned_at",
    ),
    EventTypeSpec(
        "trafficker_alert",
        "trafficker alert",
        "investigation",
        summary=(
            ("subject", "subject_names"),
            ("kind", "kind"),
            ("urgency", "urgency"),
            ("network_name", "network_name"),
        ),
    ),
    EventTypeSpec(
        "acknowledgement",
        "acknowledgement",
        "victim_protection",
        summary=(("status", "status"), ("acknowledged_event_id", "acknowledged_event_id")),
        reply_to_correlated=True,
        reply_field="acknowledged_event_id",
    ),
    EventTypeSpec(
        "detention_notice",
        "detention notice",
        "victim_identification",
        summary=(("name", "names"),),
    ),
    # Erasure of one case (docs/protocol.md 2.5): no personal data in either.
    EventTypeSpec(
        "erasure_request",
        "erasure request",
        "victim_protection",
        summary=(("reason", "reason"), ("due", "due_at")),
    ),
    EventTypeSpec(
        "erasure_confirmation",
        "erasure confirmation",
        "victim_protection",
        summary=(("status", "status"), ("request", "request_event_id")),
        reply_to_correlated=True,
        reply_field="request_event_id",
    ),
    # Follow-up of a match hit (docs/protocol.md 13.4): the request names the hit's
    # opaque reference, never a person; the answer carries identity data only when
    # a person approved it, each field as the agreement allows.
    EventTypeSpec(
        "match_followup",
        "follow-up request",
        "investigation",
        summary=(("reference", "reference"), ("case_ref", "case_ref"), ("purpose", "purpose")),
    ),
    EventTypeSpec(
        "match_followup_answer",
        "follow-up answer",
        "investigation",
        summary=(("decision", "decision"), ("request", "request_event_id")),
        reply_to_correlated=True,
        reply_field="request_event_id",
    ),
    # The case lifecycle (docs/protocol.md 14): no personal data in an update or an
    # alert, none in a report beyond 'notes' where an agreement names it. None awaits
    # an acknowledgement: a late step is followed by its due time (next_due_at, the
    # follow-up schedule) and a case_alert, not by an acknowledgement deadline.
    EventTypeSpec(
        "case_update",
        "case update",
        "victim_protection",
        summary=(
            ("status", "status"),
            ("previous", "previous_status"),
            ("reason", "transition_reason"),
            ("follow-up", "follow_up_number"),
            ("next step owner", "next_step_owner"),
        ),
    ),
    EventTypeSpec(
        "reintegration_report",
        "reintegration report",
        "reintegration",
        summary=(
            ("visit", "visit_number"),
            ("follow-up", "follow_up_number"),
            ("living", "living_situation"),
            ("risk", "risk_level"),
        ),
    ),
    EventTypeSpec(
        "case_alert",
        "case alert",
        "victim_protection",
        summary=(
            ("kind", "kind"),
            ("about", "about_event_id"),
            ("owner", "step_owner"),
        ),
    ),
    # A country's COMMIT indicators for one period (docs/protocol.md 15): aggregates
    # only, exact counts between governments; suppression applies to publication.
    EventTypeSpec(
        "statistics_report",
        "statistics report",
        "statistics",
        summary=(("period", "period"), ("country", "reporting_country")),
    ),
)


def _bad(detail: str) -> OperationalError:
    return OperationalError(Reason.CONFIG_INVALID, detail)


def _check_schema(spec: EventTypeSpec) -> None:
    """A payload schema is one Avro record whose every field is nullable, default null."""
    from .codec import payload_codec  # noqa: PLC0415 - codec needs the registry's schemas

    raw = schemas.load(spec.name)
    if raw.get("type") != "record" or not isinstance(raw.get("fields"), list):
        raise _bad(f"{spec.name}: expected the schema to be an Avro record")
    for fld in raw["fields"]:
        kind = fld.get("type")
        if not (isinstance(kind, list) and kind and kind[0] == "null") or (
            "default" not in fld or fld["default"] is not None
        ):
            raise _bad(
                f"{spec.name}: expected field {shown(fld.get('name'))} to be a union "
                "starting with null, with default null (so it can be withheld)"
            )
    try:
        fields = payload_codec(spec.name).fields
    except Exception as exc:  # fastavro raises several types on a bad schema
        raise _bad(f"{spec.name}: the schema is not valid Avro: {type(exc).__name__}") from None
    named = [f for _, f in spec.summary] + [
        f for f in (spec.due_field, spec.reply_field) if f is not None
    ]
    missing = sorted(set(named) - set(fields))
    if missing:
        raise _bad(
            f"{spec.name}: summary, due_field or reply_field names {missing}, "
            "not fields of the schema"
        )


def register(spec: EventTypeSpec) -> EventType:
    """Add one event type (idempotent for the same registration and schema).

    Raises:
        OperationalError: CONFIG_INVALID when the name is taken by another
            registration, the schema is missing or unfit for the wire.
    """
    known = _SPECS.get(spec.name)
    if known is not None:

        def where(s: EventTypeSpec) -> Path | None:
            return s.schema.resolve() if s.schema is not None else None

        if known != spec or where(known) != where(spec):
            raise _bad(f"event type {spec.name!r} is already registered differently")
        return _TYPES[spec.name]
    if spec.schema is not None:
        if not spec.schema.is_file():
            raise _bad(f"{spec.name}: expected its schema at {spec.schema}")
        if spec.schema.stat().st_size > _MAX_FILE:
            raise _bad(f"{spec.name}: schema file larger than {_MAX_FILE} bytes")
        try:
            schemas.add(spec.name, spec.schema)
        except ValueError as exc:
            raise _bad(str(exc)) from None
    try:
        _check_schema(spec)
    except (OperationalError, ValueError, KeyError) as exc:
        if spec.schema is not None:
            schemas.remove(spec.name)
        if isinstance(exc, OperationalError):
            raise
        raise _bad(f"{spec.name}: the schema cannot be read: {type(exc).__name__}") from None
    event_type = EventType._make(spec.name)
    _TYPES[spec.name] = event_type
    _SPECS[spec.name] = spec
    _BY_SCHEMA.clear()
    return event_type


def unregister(name: str) -> None:
    """Forget a type added at run time (tools and tests); the project's own stay."""
    if any(spec.name == name for spec in BUILTIN):
        raise _bad(f"event type {name!r} is one of the project's own")
    if _TYPES.pop(name, None) is not None:
        del _SPECS[name]
        _BY_SCHEMA.clear()
        from .codec import parsed, payload_codec  # noqa: PLC0415

        schemas.remove(name)
        parsed.cache_clear()
        payload_codec.cache_clear()


def register_from(directory: Path) -> tuple[EventType, ...]:
    """Register every type listed in ``directory/event_types.json``.

    Each listed type needs ``directory/<name>.avsc``; a ``.avsc`` file the
    registration does not list is refused rather than ignored.

    Raises:
        OperationalError: CONFIG_INVALID saying which file or entry is wrong;
            nothing from the directory is registered then.
    """
    path = directory / REGISTRATION_FILE
    if not path.is_file():
        raise _bad(f"expected a registration file {path}")
    if path.stat().st_size > _MAX_FILE:
        raise _bad(f"{path}: larger than {_MAX_FILE} bytes")
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"{path}: expected UTF-8 JSON: {exc}") from None
    if not isinstance(listed, list) or not listed:
        raise _bad(f"{path}: expected a non-empty list of registrations")
    specs = [EventTypeSpec.from_json(obj, directory) for obj in listed]
    unlisted = sorted({p.stem for p in directory.glob("*.avsc")} - {s.name for s in specs})
    if unlisted:
        raise _bad(f"{directory}: schema {unlisted[0]}.avsc has no registration in {path.name}")
    added: list[EventType] = []
    try:
        for spec in specs:
            new = spec.name not in _TYPES
            event_type = register(spec)  # a known one: refused if registered differently
            if new:
                added.append(event_type)
    except OperationalError:
        for event_type in added:
            unregister(event_type.value)
        raise
    return tuple(added)


def register_from_environment(environ: Mapping[str, str]) -> tuple[EventType, ...]:
    """Register the directories named in ``environ[TRM_EVENT_TYPES]`` (if set)."""
    added: list[EventType] = []
    for entry in environ.get(ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            added.extend(register_from(Path(entry.strip())))
    return tuple(added)


def _install_builtin() -> None:
    for spec in BUILTIN:
        setattr(EventType, spec.name.upper(), register(spec))


_install_builtin()
