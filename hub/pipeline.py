"""The hub's work on one outbox record (pure): ingest, judge, route, redact, attest.

:func:`process` takes the exact bytes and Kafka headers of one record read
from ``<ns>.<CC>.outbox`` and returns an :class:`Outcome`: the records the
adapter must write (each an :class:`Effect` with a deterministic id) and the
decision records for the audit log. It never raises on bad input: a refusal
is a value.

Ingest checks, in order (each refusal's reason code in brackets):

0. the trust list in force is not past its expiry [TRUST_EXPIRED];
1. size, framing, Avro, header fields, known payload schema
   [OVERSIZED, MALFORMED_*, INVALID_HEADER, UNKNOWN_SCHEMA, ...];
2. the producer in the signed header is the outbox's country [PRODUCER_MISMATCH];
3. no hub attestations yet [BAD_ATTESTATION]; the producer's signature with a
   key valid at creation time, and the disclosure rules
   [BAD_SIGNATURE, UNKNOWN_KEY, KEY_*, DUPLICATE_*, ...]; a sealed event's
   parts, with a key wrap for every addressed recipient [SEALING_INVALID];
4. the CloudEvents headers agree with the signed header [CLOUDEVENTS_MISMATCH];
5. the producer's clock is not absurdly off [CLOCK_SKEW];
6. not a replay of (producer, event id) taken in from another record [REPLAY].

A sequence gap is recorded on the INGESTED decision (reason SEQUENCE_GAP), never
a reason to drop. Then the policy engine decides per addressed recipient:
Deliver -> the redacted, attested copy to the recipient's inbox; Refuse -> a
rejection to the producer's rejections topic and the original bytes to the
quarantine topic. A reply (an acknowledgement, an erasure confirmation: a type
registered ``reply_to_correlated``) goes only to the producer of the event it
answers; an acknowledgement's decision kind is ACKNOWLEDGED.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.decision import (
    EFFECT_HEADER,
    DecisionKind,
    DecisionRecord,
    EffectId,
    EffectKind,
    SourceRef,
)
from hub.errors import DeliveryError, Reason, SignatureError, TrmError
from hub.keys import KeyDirectory
from hub.policy import AgreementSet, Decision, Deliver, Refuse
from hub.state import HubState, taken_in_record
from hub.topics import OUTBOX_MAX_MESSAGE_BYTES, Topics
from hub.trust import TrustList
from hub.wire import (
    DEFAULT_MAX_SIZE,
    Envelope,
    EventType,
    RecipientKey,
    VerifiedEvent,
    check_cloudevents,
    deliver_copy,
    require_every_wrap,
    verify,
)
from hub.wire.sealing import seal_quarantined

__all__ = [
    "REASON_HEADER",
    "Decide",
    "Effect",
    "Limits",
    "Outcome",
    "Registry",
    "SealKeyLookup",
    "mark_written",
    "new_effects",
    "process",
    "rejection_effect",
]

REASON_HEADER = "trm-reason"

# decide(event, agreements, keys, now_ms) -> one decision per addressed recipient
# (hub.policy.decide; the unit tests pass loudly named stand-ins).
Decide = Callable[[VerifiedEvent, AgreementSet, KeyDirectory, int], Sequence[Decision]]


@dataclass(frozen=True, slots=True)
class Registry:
    """What the hub judges by: the trust list and the agreement set, as loaded.

    ``version`` names the snapshot (trust list version + agreement digests) so a
    decision record says what was in force. Key windows in the trust list and
    agreement versions in the set let each event be judged at its creation time.
    """

    keys: KeyDirectory
    agreements: AgreementSet
    decide: Decide
    version: str
    # The producers' published seal keys (hub.sealkeys.SealKeyDirectory): a
    # refused record's bytes go to the quarantine sealed to its producer.
    seal_keys: SealKeyLookup | None = None


class SealKeyLookup(Protocol):
    """Published seal keys by country and time (``hub.sealkeys.SealKeyDirectory``)."""

    def key_for(self, country: str, at_ms: int) -> RecipientKey:
        """The country's seal key valid at ``at_ms``; raises SealError when none."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the hub accepts."""

    max_size: int = DEFAULT_MAX_SIZE
    max_future_ms: int = 5 * 60 * 1000  # the producer's clock runs ahead by more: refuse
    max_age_ms: int = 30 * 24 * 3600 * 1000  # older than this on arrival: refuse


_LIMITS = Limits()  # what process() checks unless told otherwise


@dataclass(frozen=True, slots=True)
class Effect:
    """One record to write. ``effect_id`` is the same if the record is processed again."""

    effect_id: EffectId
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    digest: str | None = None  # a delivery's hex SHA-256 of ``value`` (HubState.mark keeps it)

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        effect_id: EffectId,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: tuple[tuple[str, bytes], ...],
        digest: str | None = None,
    ) -> None:
        object.__setattr__(self, "effect_id", effect_id)  # the constructor written out: D26
        object.__setattr__(self, "topic", topic)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "digest", digest)


def new_effects(
    effects: Iterable[Effect], state: HubState, pending: AbstractSet[str], into: dict[str, Effect]
) -> None:
    """Add to ``into``, by id, each of ``effects`` neither written (``state``) nor being
    written (``pending``: sent, not yet acknowledged); the first of an id is kept.

    The worker's step between deciding a batch and writing it, compiled with the
    pipeline: about 5.5 effects an event, each one a few Python calls before.
    """
    for e in effects:
        eid = str(e.effect_id)
        if eid not in into and eid not in pending and not state.done(e.effect_id):
            into[eid] = e


def mark_written(effects: dict[str, Effect], state: HubState, pending: set[str]) -> None:
    """Remember ``effects`` as written (the broker acknowledged them), no longer pending."""
    for eid, e in effects.items():
        state.mark(e.effect_id, e.digest)
        pending.discard(eid)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one outbox record."""

    status: str  # "routed" (each recipient delivered or refused) | "rejected"
    event_id: str
    reason: Reason | None
    effects: tuple[Effect, ...] = field(default=())
    decisions: tuple[DecisionRecord, ...] = field(default=())
    delivered_to: tuple[str, ...] = field(default=())
    refused: tuple[tuple[str, Reason], ...] = field(default=())

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        status: str,
        event_id: str,
        reason: Reason | None,
        effects: tuple[Effect, ...] = (),
        decisions: tuple[DecisionRecord, ...] = (),
        delivered_to: tuple[str, ...] = (),
        refused: tuple[tuple[str, Reason], ...] = (),
    ) -> None:
        object.__setattr__(self, "status", status)  # the constructor written out: D26
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "effects", effects)
        object.__setattr__(self, "decisions", decisions)
        object.__setattr__(self, "delivered_to", delivered_to)
        object.__setattr__(self, "refused", refused)


def _hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class _Builder:
    """Collects effects and decisions for one record."""

    topics: Topics
    source: SourceRef
    registry: Registry
    now_ms: int
    attest_ms: int  # the time every attestation of this record carries
    effects: list[Effect] = field(init=False, default_factory=list)
    decisions: list[DecisionRecord] = field(init=False, default_factory=list)
    source_text: str = field(init=False, default="")  # str(source), in each decision

    def __init__(
        self, topics: Topics, source: SourceRef, registry: Registry, now_ms: int, attest_ms: int
    ) -> None:
        self.topics = topics  # the constructor written out: D26
        self.source = source
        self.registry = registry
        self.now_ms = now_ms
        self.attest_ms = attest_ms
        self.effects = []
        self.decisions = []
        self.source_text = str(source)

    def decision(self, eid: EffectId, record: DecisionRecord) -> None:
        """Write ``record`` under its decision id ``eid``."""
        self.decisions.append(record)
        self.effects.append(
            Effect(
                effect_id=eid,
                topic=self.topics.decisions,
                key=record.event_id.encode() or None,
                value=record.to_json_bytes(),
                headers=((EFFECT_HEADER, eid.encode()),),
            )
        )

    def make(
        self,
        kind: DecisionKind,
        *,
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
        """:meth:`DecisionRecord.of`, with this record's source, time and registry.

        Every argument spelled out, none passed on as ``**kw``: compiled, the
        call is then a native call, where ``**kw`` went through Python's keyword
        parsing twice (docs/decisions.md D26).
        """
        return DecisionRecord.of(
            kind,
            source=self.source_text,
            decided_at_ms=self.now_ms,
            registry=self.registry.version,
            event_id=event_id,
            producer=producer,
            recipient=recipient,
            event_digest=event_digest,
            delivered_digest=delivered_digest,
            fields=fields,
            agreement=agreement,
            reason=reason,
            detail=detail,
        )


def _rejection_value(
    *, event_id: str, producer: str, recipient: str, reason: Reason, detail: str, source: SourceRef
) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "producer": producer,
            "recipient": recipient,
            "reason": str(reason),
            "detail": detail,
            "source": str(source),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


class _RecordContext(Protocol):
    @property
    def topics(self) -> Topics: ...
    @property
    def source(self) -> SourceRef: ...


def rejection_effect(
    eid: EffectId,
    b: _RecordContext,
    *,
    submitter: str,
    event_id: str,
    producer: str,
    recipient: str,
    reason: Reason,
    detail: str,
) -> Effect:
    """A refusal written to ``submitter``'s rejections topic, keyed by the event id.

    ``b`` holds the record's ``topics`` and ``source`` (this module's builder,
    the match exchange's).
    """
    return Effect(
        effect_id=eid,
        topic=b.topics.rejections(submitter),
        key=event_id.encode() or None,
        value=_rejection_value(
            event_id=event_id,
            producer=producer,
            recipient=recipient,
            reason=reason,
            detail=detail,
            source=b.source,
        ),
        headers=((EFFECT_HEADER, eid.encode()), (REASON_HEADER, str(reason).encode())),
    )


def _refuse_record(
    b: _Builder,
    raw: bytes,
    kafka_headers: Sequence[tuple[str, bytes]],
    *,
    submitter: str,
    event_id: str,
    producer: str,
    event_digest: str,
    error: TrmError,
) -> Outcome:
    """The whole record is refused: rejection, quarantine copy, REJECTED decision."""
    eid = EffectId.of_record(EffectKind.REJECTION, b.source, event_id)
    b.effects.append(
        rejection_effect(
            eid,
            b,
            submitter=submitter,
            event_id=event_id,
            producer=producer,
            recipient="",
            reason=error.reason,
            detail=error.detail,
        )
    )
    b.effects.append(_quarantine(b, raw, kafka_headers, event_id, error.reason))
    b.decision(
        eid.decided(DecisionKind.REJECTED),
        b.make(
            DecisionKind.REJECTED,
            event_id=event_id,
            producer=producer,
            event_digest=event_digest,
            reason=str(error.reason),
            detail=error.detail,
        ),
    )
    return Outcome(
        status="rejected",
        event_id=event_id,
        reason=error.reason,
        effects=tuple(b.effects),
        decisions=tuple(b.decisions),
    )


def _quarantined_value(b: _Builder, raw: bytes, owner: str, sealed: bool | None) -> bytes:
    """What the quarantine keeps of a refused record: nothing the hub could read.

    A sealed (v2) envelope is kept as it came (its values are sealed already);
    anything else (a v1 event, bytes that are no envelope) is sealed to the
    seal key of the country whose outbox it came from, so that only that
    country can read it again (``hub.wire.sealing.open_quarantined``).
    ``sealed`` is what the caller already knows of ``raw`` (None: parse to see).
    """
    if sealed is None:
        try:
            sealed = Envelope.from_bytes(raw, max_size=len(raw)).is_sealed
        except TrmError:
            sealed = False
    if sealed:
        return raw
    key: RecipientKey | None = None
    if owner and b.registry.seal_keys is not None:
        try:
            key = b.registry.seal_keys.key_for(owner, b.now_ms)
        except TrmError:
            key = None
    return seal_quarantined(raw, producer=owner, key=key)


def _record_bytes(value: bytes, headers: Sequence[tuple[str, bytes]]) -> int:
    """The value and headers of a record: what its topic's max.message.bytes bounds."""
    return len(value) + sum(len(k) + len(v) for k, v in headers)


def _quarantine(
    b: _Builder,
    raw: bytes,
    kafka_headers: Sequence[tuple[str, bytes]],
    event_id: str,
    reason: Reason,
    *,
    producer: str = "",
    sealed: bool | None = None,
) -> Effect:
    eid = EffectId.of_record(EffectKind.QUARANTINE, b.source, event_id, producer)
    kept = tuple((k, v) for k, v in kafka_headers if k not in (EFFECT_HEADER, REASON_HEADER))
    owner = b.topics.country_of_outbox(b.source.topic) or ""
    if _record_bytes(raw, kept) > OUTBOX_MAX_MESSAGE_BYTES:
        # More than an outbox of the plan accepts (a topic set up otherwise): a copy
        # could not be written, and a refusal must always be. Only the digest and
        # length are kept, as when the producer has no seal key.
        return Effect(
            effect_id=eid,
            topic=b.topics.quarantine,
            key=None,
            value=seal_quarantined(raw, producer=owner, key=None),
            headers=(
                (EFFECT_HEADER, eid.encode()),
                (REASON_HEADER, str(reason).encode()),
                ("trm-source", str(b.source).encode()),
            ),
        )
    return Effect(
        effect_id=eid,
        topic=b.topics.quarantine,
        key=None,
        value=_quarantined_value(b, raw, owner, sealed),
        headers=(
            *kept,
            (EFFECT_HEADER, eid.encode()),
            (REASON_HEADER, str(reason).encode()),
            ("trm-source", str(b.source).encode()),
        ),
    )


def _ingest(
    raw: bytes,
    kafka_headers: Sequence[tuple[str, bytes]],
    *,
    submitter: str,
    source: SourceRef,
    registry: Registry,
    state: HubState,
    limits: Limits,
    now_ms: int,
) -> tuple[VerifiedEvent, tuple[tuple[str, bytes], ...]]:
    """Every ingest check; returns the verified event and its CloudEvents headers,
    or raises a TrmError."""
    _check_trust_fresh(registry, now_ms)
    envelope = Envelope.from_bytes(raw, max_size=limits.max_size)
    header = envelope.header
    if header.producer != submitter:
        raise DeliveryError(
            Reason.PRODUCER_MISMATCH,
            f"expected producer {submitter} (the outbox it was written to), "
            f"the signed header says {header.producer}",
        )
    if envelope.attestations:
        # Attestations are the hub's, added on delivery; a submission carrying
        # some is a delivered copy sent round again, or a forgery.
        raise SignatureError(
            Reason.BAD_ATTESTATION,
            f"expected a submission without hub attestations, found {len(envelope.attestations)}",
        )
    event = verify(envelope, registry.keys)
    require_every_wrap(envelope)
    ce = tuple(check_cloudevents(kafka_headers, header))
    if header.created_at_ms > now_ms + limits.max_future_ms:
        raise DeliveryError(
            Reason.CLOCK_SKEW,
            f"created {header.created_at_ms - now_ms} ms in the hub's future; "
            f"at most {limits.max_future_ms} ms is accepted",
        )
    if header.created_at_ms < now_ms - limits.max_age_ms:
        raise DeliveryError(
            Reason.CLOCK_SKEW,
            f"created {now_ms - header.created_at_ms} ms before arrival; "
            f"at most {limits.max_age_ms} ms is accepted",
        )
    first = state.seen_at(header.producer, header.event_id)
    if first is not None and first != source:
        raise DeliveryError(
            Reason.REPLAY,
            f"event {header.event_id} from {header.producer} was already taken in at {first}",
        )
    return event, ce


def _check_trust_fresh(registry: Registry, now_ms: int) -> None:
    """An expired trust list judges nothing: every record is refused TRUST_EXPIRED.

    The registry's key directory is the newest trust list that chains
    (hub/app/registry.py); a key directory that is not a trust list (the
    in-memory ones of tests) has no expiry.
    """
    if isinstance(registry.keys, TrustList):
        registry.keys.check_fresh(now_ms)


def _peek(raw: bytes, limits: Limits) -> tuple[str, str, str]:
    """(event_id, producer, event_digest hex) if the bytes parse at all, else blanks."""
    try:
        envelope = Envelope.from_bytes(raw, max_size=limits.max_size)
    except TrmError:
        return "", "", ""
    return envelope.header.event_id, envelope.header.producer, envelope.event_digest.hex()


def process(
    raw: bytes,
    kafka_headers: Iterable[tuple[str, bytes | None]],
    source: SourceRef,
    *,
    topics: Topics,
    registry: Registry,
    state: HubState,
    hub_key: Ed25519PrivateKey,
    now_ms: int,
    limits: Limits | None = None,
    appended_at_ms: int | None = None,
) -> Outcome:
    """Judge one outbox record and say what to write. Never raises on bad input.

    Args:
        raw: the record value exactly as read.
        kafka_headers: the record's headers (None values are kept as empty).
        source: where it was read; the outbox topic names the submitter.
        registry: the trust list, agreements and the policy's ``decide``.
        state: dedupe and sequence state; updated for an accepted event.
        hub_key: signs the attestations.
        now_ms: the hub's clock, passed in.
        appended_at_ms: the broker's append time of the record (outboxes use
            LogAppendTime). Attestations carry it, not ``now_ms``, so that
            processing the record again after a crash delivers the very same
            bytes; None (a topic stamped by its producer) falls back to now_ms.
    """
    limits = limits or _LIMITS
    headers = tuple((k, v if v is not None else b"") for k, v in kafka_headers)
    attest_ms = appended_at_ms if appended_at_ms is not None else now_ms
    b = _Builder(
        topics=topics, source=source, registry=registry, now_ms=now_ms, attest_ms=attest_ms
    )
    submitter = topics.country_of_outbox(source.topic)
    if submitter is None:
        # Not an outbox of this namespace: a wiring error, not the sender's fault;
        # still accounted for (quarantined with a decision), never dropped.
        error = DeliveryError(
            Reason.PRODUCER_MISMATCH, f"expected a record from an outbox, got topic {source.topic}"
        )
        event_id, producer, digest = _peek(raw, limits)
        b.effects.append(_quarantine(b, raw, headers, event_id, error.reason))
        b.decision(
            EffectId.of_record(
                EffectKind.DECISION, source, event_id, decision=DecisionKind.REJECTED
            ),
            b.make(
                DecisionKind.REJECTED,
                event_id=event_id,
                producer=producer,
                event_digest=digest,
                reason=str(error.reason),
                detail=error.detail,
            ),
        )
        return Outcome("rejected", event_id, error.reason, tuple(b.effects), tuple(b.decisions))
    try:
        event, ce = _ingest(
            raw,
            headers,
            submitter=submitter,
            source=source,
            registry=registry,
            state=state,
            limits=limits,
            now_ms=now_ms,
        )
    except TrmError as error:
        event_id, producer, digest = _peek(raw, limits)
        return _refuse_record(
            b,
            raw,
            headers,
            submitter=submitter,
            event_id=event_id,
            producer=producer,
            event_digest=digest,
            error=error,
        )
    return _route(event, raw, headers, b, state=state, hub_key=hub_key, ce=ce)


def _route(
    event: VerifiedEvent,
    raw: bytes,
    headers: Sequence[tuple[str, bytes]],
    b: _Builder,
    *,
    state: HubState,
    hub_key: Ed25519PrivateKey,
    ce: tuple[tuple[str, bytes], ...],
) -> Outcome:
    """Decide per recipient and say what to write; ``ce``: the CloudEvents headers
    (checked against the signed header, the same on every copy)."""
    header = event.header
    envelope = event.envelope
    digest = envelope.event_digest.hex()
    expected = state.admit(
        header.producer, header.event_id, header.sequence, b.source, header.created_at_ms
    )
    # Where it was taken in, for a worker's start (hub.state; docs/decisions.md D14).
    seen = EffectId.of_event(EffectKind.STATE, header.producer, header.event_id)
    key, value = taken_in_record(header.producer, header.event_id, b.source, header.created_at_ms)
    b.effects.append(
        Effect(seen, b.topics.hub_state, key, value, ((EFFECT_HEADER, seen.encode()),))
    )
    gap = "" if expected is None else str(Reason.SEQUENCE_GAP)
    gap_detail = "" if expected is None else f"expected sequence {expected}, got {header.sequence}"
    b.decision(
        EffectId.of_event(
            EffectKind.DECISION,
            header.producer,
            header.event_id,
            decision=DecisionKind.INGESTED,
        ),
        b.make(
            DecisionKind.INGESTED,
            event_id=header.event_id,
            producer=header.producer,
            event_digest=digest,
            fields=tuple(sorted(event.disclosed)),
            reason=gap,
            detail=gap_detail,
        ),
    )
    try:
        decided: list[Decision] = list(
            b.registry.decide(event, b.registry.agreements, b.registry.keys, b.now_ms)
        )
    except TrmError as error:
        decided = [Refuse(r, error.reason, error.detail) for r in header.recipients]
    except Exception as error:
        decided = [
            Refuse(r, Reason.NO_AGREEMENT, f"policy engine failed: {type(error).__name__}")
            for r in header.recipients
        ]
    by_recipient: dict[str, Decision] = {}
    for d in _reply_rule(event, state, decided):
        by_recipient.setdefault(d.recipient, d)
    kind = (
        DecisionKind.ACKNOWLEDGED
        if header.event_type is EventType.ACKNOWLEDGEMENT
        else DecisionKind.DELIVERED
    )
    delivered: list[str] = []
    refused: list[tuple[str, Reason]] = []
    quarantined = False
    for recipient in header.recipients:
        # deny by default: no decision is a refusal
        d = by_recipient.get(recipient) or Refuse(
            recipient, Reason.NO_AGREEMENT, f"no decision for recipient {recipient}"
        )
        if isinstance(d, Deliver):
            _deliver(event, d, b, kind=kind, digest=digest, hub_key=hub_key, state=state, ce=ce)
            delivered.append(recipient)
            continue
        refused.append((recipient, d.reason))
        eid = EffectId.of_event(EffectKind.REJECTION, header.producer, header.event_id, recipient)
        b.effects.append(
            rejection_effect(
                eid,
                b,
                submitter=header.producer,
                event_id=header.event_id,
                producer=header.producer,
                recipient=recipient,
                reason=d.reason,
                detail=d.detail,
            )
        )
        if not quarantined:
            b.effects.append(
                _quarantine(
                    b,
                    raw,
                    headers,
                    header.event_id,
                    d.reason,
                    producer=header.producer,
                    sealed=event.envelope.is_sealed,
                )
            )
            quarantined = True
        b.decision(
            eid.decided(DecisionKind.REJECTED),
            b.make(
                DecisionKind.REJECTED,
                event_id=header.event_id,
                producer=header.producer,
                recipient=recipient,
                event_digest=digest,
                reason=str(d.reason),
                detail=d.detail,
            ),
        )
    return Outcome(
        status="routed",
        event_id=header.event_id,
        reason=None,
        effects=tuple(b.effects),
        decisions=tuple(b.decisions),
        delivered_to=tuple(delivered),
        refused=tuple(refused),
    )


def _reply_rule(event: VerifiedEvent, state: HubState, decided: list[Decision]) -> list[Decision]:
    """A reply goes back only to the producer of the event it answers.

    A reply is an event type registered ``reply_to_correlated`` (an
    acknowledgement, an erasure confirmation). The answered event is the one
    the signed header's ``correlation_id`` names; in an unsealed (v1) event
    the type's ``reply_field`` of the payload names it when disclosed (what v1
    acknowledgements always did). When the hub knows that event, any other
    recipient is refused NOT_ADDRESSED, so a reply cannot carry news of a case
    to a third country.
    """
    spec = event.header.event_type.spec
    if not spec.reply_to_correlated:
        return decided
    answered = event.header.correlation_id
    if not event.envelope.is_sealed and spec.reply_field is not None:
        # A sealed reply names the event only in its signed header.
        answered = event.fields.get(spec.reply_field, answered)
    original = state.event_producer.get(answered) if isinstance(answered, str) else None
    if original is None:
        return decided
    return [
        d
        if d.recipient == original
        else Refuse(
            d.recipient,
            Reason.NOT_ADDRESSED,
            f"{spec.title} {event.header.event_id} answers {answered}: "
            f"it goes only to that event's producer {original}",
        )
        for d in decided
    ]


def _deliver(
    event: VerifiedEvent,
    d: Deliver,
    b: _Builder,
    *,
    kind: DecisionKind,
    digest: str,
    hub_key: Ed25519PrivateKey,
    state: HubState,
    ce: tuple[tuple[str, bytes], ...],
) -> None:
    header = event.header
    keep = frozenset(d.fields) & event.disclosed
    eid = EffectId.of_event(EffectKind.DELIVERY, header.producer, header.event_id, d.recipient)
    decision_id = eid.decided(kind)
    # Redacted to ``keep`` and attested (the fields the copy carries), encoded once.
    delivered = deliver_copy(
        event.envelope,
        keep,
        recipient=d.recipient,
        agreement_id=d.agreement_id,
        agreement_version=d.agreement_version,
        leaf_ref=str(decision_id),
        hub_key=hub_key,
        attested_at_ms=b.attest_ms,
    )
    value = delivered.value
    # Already in the inbox (written before a crash, its decision not): the new
    # attestation is not sent, so the decision must name the bytes that were.
    sent_digest = _hex(value)
    delivered_digest = state.written_delivery(eid) or sent_digest
    b.effects.append(
        Effect(
            effect_id=eid,
            topic=b.topics.inbox(d.recipient),
            key=header.case_key.encode(),
            value=value,
            headers=(*ce, (EFFECT_HEADER, eid.encode())),
            digest=sent_digest,
        )
    )
    b.decision(
        decision_id,
        b.make(
            kind,
            event_id=header.event_id,
            producer=header.producer,
            recipient=d.recipient,
            event_digest=digest,
            delivered_digest=delivered_digest,
            fields=delivered.fields,
            agreement=d.agreement_ref,
        ),
    )
