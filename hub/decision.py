"""What the hub decided, as data (pure): decision kinds, effect ids, decision records.

One home for the names every part of the hub uses to talk about its own work:

- :class:`DecisionKind`: INGESTED, DELIVERED, REJECTED, ACKNOWLEDGED (the Avro
  enum ``DecisionKind`` of ``schemas/audit_leaf.avsc``);
- :class:`SourceRef`: where a record was read (``topic/partition/offset``);
- :class:`EffectId`: the deterministic id of one record the hub writes, carried
  in the ``trm-effect`` Kafka header (docs/decisions.md D5) and, for a
  decision, named by a delivery's attestation (``leaf_ref``, D6);
- :class:`DecisionRecord`: one decision, the JSON of ``<ns>.hub.decisions``
  (docs/protocol.md section 9); the audit leaf wraps it;
- :class:`MatchFacts`: what a decision about a match message records
  (docs/protocol.md section 13.3), carried in the record's ``fields`` as
  ``match.<name>=<value>`` entries so that the leaf's schema stays as released.

Each text form has one writer (``__str__`` / ``to_json_bytes``) and one parser
(``parse`` / ``from_json_bytes``) that refuses malformed input with a reason
code; ``parse(str(x)) == x`` for every value the hub makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum, unique
from functools import lru_cache
from typing import Any, Final

from hub.errors import AuditError, Reason, RequestError
from hub.textdoc import parse_json

__all__ = [
    "DELIVERY_KINDS",
    "EFFECT_HEADER",
    "MATCH_FIELD_PREFIX",
    "DecisionKind",
    "DecisionRecord",
    "EffectId",
    "EffectKind",
    "MatchFacts",
    "SourceRef",
]

EFFECT_HEADER = "trm-effect"


@unique
class DecisionKind(StrEnum):
    """What the hub decided about an event (the value is the code in records and leaves)."""

    INGESTED = "INGESTED"  # taken in (its signature, header and ingest checks passed)
    DELIVERED = "DELIVERED"  # a redacted, attested copy went to a recipient
    REJECTED = "REJECTED"  # refused: the whole record, or one recipient
    ACKNOWLEDGED = "ACKNOWLEDGED"  # an acknowledgement went back to the original producer


# The kinds whose record names bytes written to an inbox.
DELIVERY_KINDS = frozenset({DecisionKind.DELIVERED, DecisionKind.ACKNOWLEDGED})


@unique
class EffectKind(StrEnum):
    """Which kind of record an effect id names (its first part)."""

    DELIVERY = "delivery"  # the copy in a recipient's inbox
    REJECTION = "rejection"  # a rejection in the producer's rejections topic
    QUARANTINE = "quarantine"  # the original bytes in the quarantine
    DECISION = "decision"  # a decision record (and so an audit leaf)
    STATE = "state"  # the hub's note of where an event was taken in (<ns>.hub.state)


def _malformed(what: str, expected: str, text: str) -> AuditError:
    # Effect ids and sources hold no personal data: names, UUIDs and offsets.
    return AuditError(Reason.CHECKPOINT_INVALID, f"expected {expected}, got {what} {text[:200]!r}")


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a record was read: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        object.__setattr__(self, "topic", topic)  # the constructor written out: D26
        object.__setattr__(self, "partition", partition)
        object.__setattr__(self, "offset", offset)

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def parse(cls, text: str) -> SourceRef:
        """The inverse of ``str()``.

        Raises:
            AuditError: CHECKPOINT_INVALID if ``text`` is not ``topic/partition/offset``.
        """
        head, _, offset = text.rpartition("/")
        topic, _, partition = head.rpartition("/")
        if not topic or not partition.isdigit() or not offset.isdigit():
            raise _malformed("source", "topic/partition/offset", text)
        return cls(topic, int(partition), int(offset))


@dataclass(frozen=True, slots=True)
class EffectId:
    """The deterministic id of one record the hub writes; the same if the record is redone.

    Two text forms, parts joined by ``:`` (no part contains one, and only the
    source contains ``/``: producers and recipients are country codes, event
    ids UUIDs, topics Kafka names):

    - of an event: ``<kind>[:<DECISION KIND>]:<producer>:<event id>[:<recipient>]``
      (deliveries, per-recipient rejections, INGESTED/DELIVERED/ACKNOWLEDGED/
      REJECTED decisions);
    - of a record: ``<kind>[:<DECISION KIND>]:<ref>:<topic/partition/offset>``, where
      ``<ref>`` is ``<producer>:<event id>`` (the quarantine copy of a routed
      event), ``<event id>`` (a record refused whole) or, when not even the
      event id could be read, the source again.

    Build one with the class methods; :meth:`parse` reads the text form back.
    """

    kind: EffectKind
    producer: str = ""
    event_id: str = ""
    recipient: str = ""
    source: SourceRef | None = None
    decision: DecisionKind | None = None  # exactly for kind DECISION
    _text: str = field(init=False, repr=False, compare=False)

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        kind: EffectKind,
        producer: str = "",
        event_id: str = "",
        recipient: str = "",
        source: SourceRef | None = None,
        decision: DecisionKind | None = None,
    ) -> None:
        object.__setattr__(self, "kind", kind)  # the constructor written out: D26
        object.__setattr__(self, "producer", producer)
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "recipient", recipient)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "decision", decision)
        self._check()
        object.__setattr__(self, "_text", self._join())

    def _check(self) -> None:
        if (self.kind is EffectKind.DECISION) != (self.decision is not None):
            raise AuditError(
                Reason.CHECKPOINT_INVALID,
                f"expected a decision kind exactly on a decision id, got {self.kind} "
                f"with {self.decision}",
            )
        joined = self.producer + self.event_id + self.recipient  # one scan; the loop names a part
        if ":" in joined or "/" in joined:  # ':' joins the parts, '/' marks the source
            for name in ("producer", "event_id", "recipient"):
                part = getattr(self, name)
                if ":" in part or "/" in part:
                    raise _malformed(name, "no ':' or '/' in a part of an effect id", part)
        if self.source is None:
            if not self.producer or not self.event_id:
                raise AuditError(
                    Reason.CHECKPOINT_INVALID,
                    "expected a producer and an event id in an effect id of an event",
                )
            if self.kind is EffectKind.DELIVERY and not self.recipient:
                raise AuditError(
                    Reason.CHECKPOINT_INVALID, "expected a recipient in a delivery's effect id"
                )
        elif self.recipient or (self.producer and not self.event_id):
            raise AuditError(
                Reason.CHECKPOINT_INVALID,
                "expected no recipient, and an event id with any producer, in an effect id "
                "of a record",
            )
        elif self.kind is EffectKind.DELIVERY:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, "expected a delivery's effect id to name an event"
            )

    def _join(self) -> str:
        return self._text_as(self.kind, self.decision)

    def _text_as(self, kind: EffectKind, decision: DecisionKind | None) -> str:
        """The text of the id with these parts but ``kind`` and ``decision``."""
        head = str(kind) if decision is None else f"{kind}:{decision}"
        if self.source is None:
            tail = f":{self.recipient}" if self.recipient else ""
            return f"{head}:{self.producer}:{self.event_id}{tail}"
        where = str(self.source)
        if self.producer:
            return f"{head}:{self.producer}:{self.event_id}:{where}"
        return f"{head}:{self.event_id or where}:{where}"

    def decided_text(self, kind: DecisionKind) -> str:
        """``str(self.decided(kind))``, without making the id (the state asks per delivery)."""
        if not isinstance(kind, DecisionKind):
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a decision kind, got {type(kind).__name__}"
            )
        return self._text_as(EffectKind.DECISION, kind)

    def delivery_text(self) -> str:
        """``str(self.delivery())``, without making the id, for a valid delivery's parts."""
        if self.source is None and self.recipient:
            return self._text_as(EffectKind.DELIVERY, None)
        return str(self.delivery())  # the checks, and their refusal

    def __str__(self) -> str:
        return self._text

    def encode(self) -> bytes:
        """The ``trm-effect`` header value."""
        return self._text.encode()

    # --- the ids the hub makes -------------------------------------------

    @classmethod
    def of_event(
        cls,
        kind: EffectKind,
        producer: str,
        event_id: str,
        recipient: str = "",
        decision: DecisionKind | None = None,
    ) -> EffectId:
        """What is written about ``(producer, event_id)``, for ``recipient`` if one is named."""
        return EffectId(kind, producer, event_id, recipient, None, decision)  # native: D26

    @classmethod
    def of_record(
        cls,
        kind: EffectKind,
        source: SourceRef,
        event_id: str = "",
        producer: str = "",
        decision: DecisionKind | None = None,
    ) -> EffectId:
        """What is written about the record at ``source`` (its event id if it could be read)."""
        return EffectId(kind, producer, event_id, "", source, decision)

    def decided(self, kind: DecisionKind) -> EffectId:
        """The id of the decision ``kind`` about what this id names.

        Every part but the kinds is this id's, and a decision id allows whatever
        another id of the same parts does, so only ``kind`` can be wrong.
        """
        if not isinstance(kind, DecisionKind):  # the one part not this id's
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a decision kind, got {type(kind).__name__}"
            )
        return EffectId(
            EffectKind.DECISION, self.producer, self.event_id, self.recipient, self.source, kind
        )

    def delivery(self) -> EffectId:
        """The delivery this (DELIVERED or ACKNOWLEDGED) decision id is about."""
        return EffectId(EffectKind.DELIVERY, self.producer, self.event_id, self.recipient)

    # --- the one parser ---------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> EffectId:
        """The inverse of ``str()``.

        Raises:
            AuditError: CHECKPOINT_INVALID if ``text`` is not an effect id the hub makes.
        """
        parts = text.split(":")
        try:
            kind = EffectKind(parts[0])
            decision = DecisionKind(parts[1]) if kind is EffectKind.DECISION else None
        except (ValueError, IndexError):
            raise _malformed(
                "effect id",
                f"one of {[str(k) for k in EffectKind]} (a decision with its kind)",
                text,
            ) from None
        rest = parts[2:] if decision is not None else parts[1:]
        source = None
        if rest and "/" in rest[-1]:
            source = SourceRef.parse(rest[-1])
            rest = rest[:-1]
        if not (len(rest) in {1, 2} if source is not None else len(rest) in {2, 3}):
            raise _malformed(
                "effect id",
                "<kind>:<producer>:<event id>[:<recipient>] or <kind>:<ref>:<source>",
                text,
            )
        try:
            if source is not None and len(rest) == 1:
                event_id = "" if rest[0] == str(source) else rest[0]
                parsed = cls(kind, "", event_id, source=source, decision=decision)
            elif source is not None and len(rest) == 2:  # producer, event id
                parsed = cls(kind, rest[0], rest[1], source=source, decision=decision)
            else:
                recipient = rest[2] if len(rest) == 3 else ""
                parsed = cls(kind, rest[0], rest[1], recipient, decision=decision)
        except AuditError as error:
            raise _malformed(
                "effect id", f"a well-formed effect id ({error.detail})", text
            ) from None
        if parsed._text != text:  # e.g. an event id equal to its record's source
            raise _malformed("effect id", "the canonical form of an effect id", text)
        return parsed


MATCH_FIELD_PREFIX = "match."
# MatchFacts' fields in their text form: name -> (is an int).
_MATCH_FACTS: dict[str, bool] = {
    "message": False,
    "query_id": False,
    "purpose": False,
    "case_ref": False,
    "hit": False,
    "owner": False,
    "reference": False,
    "match_kind": False,
    "subject": False,
    "expires_at_ms": True,
    "elements": True,
    "budget_used": True,
    "budget_limit": True,
    "budget_day": False,
}


@dataclass(frozen=True, slots=True)
class MatchFacts:
    """What the audit log keeps of a decision about one match message.

    Codes, ids, countries, counts and opaque references: never a match key,
    a blinded element or an identifier. ``message`` is the match message's
    kind (REGISTER, EVALUATE, EVALUATION, QUERY, REFUSED); ``hit`` is "true" or
    "false" on a query's answer, "" otherwise; the owner, reference and kind
    of a query are filled only on a hit. Empty text and None are "not said".
    """

    message: str
    query_id: str = ""
    purpose: str = ""
    case_ref: str = ""
    hit: str = ""
    owner: str = ""
    reference: str = ""
    match_kind: str = ""
    subject: str = ""
    expires_at_ms: int | None = None
    elements: int | None = None  # how many blinded elements or partials (not which)
    budget_used: int | None = None
    budget_limit: int | None = None
    budget_day: str = ""

    def to_fields(self) -> tuple[str, ...]:
        """The ``match.<name>=<value>`` entries, sorted (as the leaf keeps ``fields``)."""
        out = []
        for name in _MATCH_FACTS:
            value = getattr(self, name)
            if value is not None and value != "":
                out.append(f"{MATCH_FIELD_PREFIX}{name}={value}")
        return tuple(sorted(out))

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> MatchFacts | None:
        """The facts in a decision's ``fields``; None when it is not about a match message.

        Raises:
            AuditError: CHECKPOINT_INVALID for a match entry that is not a known
                ``name=value`` (or an int that is not one).
        """
        values: dict[str, Any] = {}
        for entry in fields:
            if not entry.startswith(MATCH_FIELD_PREFIX):
                continue
            name, sep, value = entry[len(MATCH_FIELD_PREFIX) :].partition("=")
            if not sep or name not in _MATCH_FACTS or name in values:
                raise _malformed("match fact", "match.<known name>=<value>, once", entry)
            if _MATCH_FACTS[name]:
                if not value.isdigit() or len(value) > 19:
                    raise _malformed("match fact", "a non-negative integer", entry)
                values[name] = int(value)
            else:
                values[name] = value
        if not values:
            return None
        if "message" not in values:
            raise _malformed("match facts", "a match.message entry", ",".join(fields))
        return cls(**values)


# json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False), with
# the encoder built once (json.dumps builds one per call when given options).
_RECORD_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# json's own string writer for ensure_ascii=False (the C one when available)
_json_string: Callable[[str], str] = json.encoder.encode_basestring

# The JSON of the values that repeat from record to record (the kind, the
# countries, agreement refs, reason codes, the registry version, the lists of
# field names), written once and then looked up: the hub writes about three
# records an event, a delivery's with up to 25 field names, and writing each
# string again was half of to_json_bytes. Not an event's id, digests, detail or
# source, which do not repeat. A match decision's fields carry its message's own
# facts (hub.matching), so each adds an entry that is not asked for again; the
# caches stay bounded all the same, dropping the least recently used first.
_QUOTED_MAX: Final = 4096


@lru_cache(maxsize=_QUOTED_MAX)
def _quoted(text: str) -> str:
    """``_json_string(text)``, remembered (for a value that repeats)."""
    return _json_string(text)


@lru_cache(maxsize=_QUOTED_MAX)
def _quoted_fields(fields: tuple[str, ...]) -> str:
    """The JSON array of ``fields``' names, remembered."""
    return f"[{','.join(map(_json_string, fields))}]"


_RECORD_FIELDS = (
    "kind",
    "event_id",
    "producer",
    "recipient",
    "event_digest",
    "delivered_digest",
    "fields",
    "agreement",
    "reason",
    "detail",
    "source",
    "decided_at_ms",
    "registry",
)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A hub decision for the audit log: digests and names, never personal data."""

    kind: DecisionKind
    event_id: str
    producer: str
    recipient: str
    event_digest: str  # hex SHA-256 of the signed header bytes ("" if unparsable)
    delivered_digest: str  # hex SHA-256 of the bytes delivered ("" if none)
    fields: tuple[str, ...]
    agreement: str  # "id@version" or ""
    reason: str  # a Reason code, or ""
    detail: str  # for the producer; never in the audit leaf
    source: str  # topic/partition/offset
    decided_at_ms: int
    registry: str

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        kind: DecisionKind,
        event_id: str,
        producer: str,
        recipient: str,
        event_digest: str,
        delivered_digest: str,
        fields: tuple[str, ...],
        agreement: str,
        reason: str,
        detail: str,
        source: str,
        decided_at_ms: int,
        registry: str,
    ) -> None:
        object.__setattr__(self, "kind", kind)  # the constructor written out: D26
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "producer", producer)
        object.__setattr__(self, "recipient", recipient)
        object.__setattr__(self, "event_digest", event_digest)
        object.__setattr__(self, "delivered_digest", delivered_digest)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "agreement", agreement)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "decided_at_ms", decided_at_ms)
        object.__setattr__(self, "registry", registry)

    @classmethod
    def of(
        cls,
        kind: DecisionKind,
        *,
        source: str,
        decided_at_ms: int,
        registry: str,
        event_id: str = "",
        producer: str = "",
        recipient: str = "",
        event_digest: str = "",
        delivered_digest: str = "",
        fields: tuple[str, ...] = (),
        agreement: str = "",
        reason: str = "",
        detail: str = "",
    ) -> DecisionRecord:
        """A record of ``kind``; what a decision of that kind does not have stays empty."""
        return DecisionRecord(
            kind=kind,
            event_id=event_id,
            producer=producer,
            recipient=recipient,
            event_digest=event_digest,
            delivered_digest=delivered_digest,
            fields=fields,
            agreement=agreement,
            reason=reason,
            detail=detail,
            source=source,
            decided_at_ms=decided_at_ms,
            registry=registry,
        )

    @property
    def match(self) -> MatchFacts | None:
        """The match facts this decision records, or None (a decision about an event).

        Raises:
            AuditError: CHECKPOINT_INVALID for malformed match entries.
        """
        return MatchFacts.from_fields(self.fields)

    def to_json_bytes(self) -> bytes:
        """Compact JSON, keys sorted, UTF-8 (what ``json.dumps(..., sort_keys=True,
        separators=(",", ":"), ensure_ascii=False)`` gives), written out directly:
        the hub writes about three of these per event."""
        if type(self.decided_at_ms) is not int or type(self.fields) is not tuple:
            obj: dict[str, Any] = {name: getattr(self, name) for name in _RECORD_FIELDS}
            obj["kind"] = str(self.kind)
            obj["fields"] = list(self.fields)
            return _RECORD_JSON.encode(obj).encode("utf-8")
        q = _json_string  # the values that repeat go through _quoted (remembered)
        return (
            f'{{"agreement":{_quoted(self.agreement)},"decided_at_ms":{self.decided_at_ms},'
            f'"delivered_digest":{q(self.delivered_digest)},"detail":{q(self.detail)},'
            f'"event_digest":{q(self.event_digest)},"event_id":{q(self.event_id)},'
            f'"fields":{_quoted_fields(self.fields)},"kind":{_quoted(str(self.kind))},'
            f'"producer":{_quoted(self.producer)},"reason":{_quoted(self.reason)},'
            f'"recipient":{_quoted(self.recipient)},"registry":{_quoted(self.registry)},'
            f'"source":{q(self.source)}}}'
        ).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> DecisionRecord:
        """The record the hub wrote to its decisions topic.

        Raises:
            AuditError: CHECKPOINT_INVALID if ``data`` is not such a record.
        """
        try:
            # Strict and bounded (no member twice, depth, integer length): a record on
            # a topic is outside input to whoever replays it.
            obj = parse_json(data, what="decision record")
        except RequestError as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a hub decision record: {exc.detail}"[:300]
            ) from None
        return cls.from_mapping(obj)

    @classmethod
    def from_mapping(cls, obj: Any) -> DecisionRecord:
        """As :meth:`from_json_bytes`, from the decoded JSON object."""
        try:
            record = cls(
                kind=DecisionKind(obj["kind"]),
                event_id=str(obj["event_id"]),
                producer=str(obj["producer"]),
                recipient=str(obj["recipient"]),
                event_digest=str(obj["event_digest"]),
                delivered_digest=str(obj["delivered_digest"]),
                fields=tuple(str(f) for f in obj["fields"]),
                agreement=str(obj["agreement"]),
                reason=str(obj["reason"]),
                detail=str(obj["detail"]),
                source=str(obj["source"]),
                decided_at_ms=int(obj["decided_at_ms"]),
                registry=str(obj["registry"]),
            )
            bytes.fromhex(record.event_digest)
            bytes.fromhex(record.delivered_digest)
        except (KeyError, ValueError, TypeError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID, f"expected a hub decision record: {exc!r}"[:300]
            ) from None
        return record
