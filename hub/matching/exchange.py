"""The hub's side of the hit/no-hit exchange (pure): one match message in, an outcome out.

:func:`process` takes the exact bytes of one record of ``<ns>.match.requests``
and returns a :class:`MatchOutcome`: the records to write (each a
:class:`hub.pipeline.Effect` with a deterministic id), the changes to the
index, and the decision records for the audit log. It never raises on bad
input: a refusal is a value. No I/O; the clock is ``now_ms``.

Checks, in order (each refusal's reason code in brackets):

1. the message opens (:func:`hub.matching.messages.open_message`): size,
   frame, the signing key and its signature, then the fields, the sender
   being the key's owner, the clock [OVERSIZED, MALFORMED_*, UNKNOWN_KEY,
   KEY_*, BAD_SIGNATURE, INVALID_PAYLOAD, MATCH_CASE_REQUIRED,
   PRODUCER_MISMATCH, CLOCK_SKEW];
2. the hub's own kinds (REGISTERED, ANSWER) never come from a member: the
   direction rules of the message refuse them [INVALID_PAYLOAD]; a member
   addressed (an evaluator, a requester) holds producer keys in the trust list
   [UNKNOWN_COUNTRY]; an EVALUATE goes to, and an EVALUATION comes from, a
   key-share holder when the hub knows them [MATCH_NOT_EVALUATOR];
3. REGISTER: ``expires_at`` in the future [MATCH_EXPIRED]; a victim only
   with the sender's recorded consent [CONSENT_REQUIRED]; a reference not
   held by another member [MATCH_REFERENCE_CONFLICT].

What the hub does with an accepted message:

- REGISTER: one index entry per registration, replacing the sender's earlier
  registration under the same reference; REGISTERED back to the sender;
- EVALUATE, EVALUATION and a member's REFUSED: the original bytes relayed to
  the recipient's match topic (never re-encoded);
- QUERY: the index answers ANSWER hit (owner, reference, kind) or no hit. An
  entry answers only while live (``now_ms < expires_at``), only for the
  query's kind, and never to its own owner: a member learns nothing from its
  own records, and every hit it gets names another member to follow up with.
  Of several entries the first by (owner, reference) answers: an answer is one
  hit or none.

A refusal goes back to the sender (when the signature said who it is, or, for
an unverified message, to the member it claims to be: a refusal tells nothing
but the reason) as a signed REFUSED on its match topic and a rejection record
on its rejections topic, like every refusal of the hub.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.decision import (
    EFFECT_HEADER,
    DecisionKind,
    DecisionRecord,
    EffectId,
    EffectKind,
    MatchFacts,
    SourceRef,
)
from hub.errors import AuditError, DeliveryError, PolicyError, Reason, TrmError
from hub.keys import KeyDirectory, KeyRole
from hub.pipeline import Effect, rejection_effect
from hub.textdoc import parse_json
from hub.topics import Topics, check_country
from hub.wire.codec import part, unframe
from hub.wire.seal import new_event_id

from .messages import (
    HUB,
    MATCH_MAX_SIZE,
    Answer,
    Evaluate,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
    Query,
    Refused,
    Register,
    Registered,
    is_reference,
    open_message,
    seal_message,
)

__all__ = [
    "INDEX_DOMAIN",
    "IndexEntry",
    "IndexUpdate",
    "MatchIndex",
    "MatchOutcome",
    "index_key",
    "process",
]

INDEX_DOMAIN: Final = b"trm.match.index.v1\x00"
_K = MatchMessageKind


def index_key(match_key: bytes) -> bytes:
    """What the index is keyed by: SHA-256(INDEX_DOMAIN || the 64-byte match key).

    The index and its topic hold this digest, not the key itself; a lookup
    hashes the query's keys the same way.
    """
    return hashlib.sha256(INDEX_DOMAIN + match_key).digest()


def _bad_entry(detail: str) -> AuditError:
    return AuditError(Reason.CHECKPOINT_INVALID, f"expected a match index entry: {detail}"[:300])


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One live registration: its owner, opaque reference, kind, subject, expiry, key digests."""

    owner: str
    reference: str
    match_kind: str
    subject: str
    expires_at_ms: int
    keys: tuple[bytes, ...]  # index_key() of each match key

    def live(self, now_ms: int) -> bool:
        return now_ms < self.expires_at_ms

    def to_json_bytes(self) -> bytes:
        """The record value on ``<ns>.hub.match-index`` (keys sorted, compact JSON)."""
        return json.dumps(
            {
                "owner": self.owner,
                "reference": self.reference,
                "match_kind": self.match_kind,
                "subject": self.subject,
                "expires_at_ms": self.expires_at_ms,
                "keys": sorted(k.hex() for k in self.keys),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json_bytes(cls, data: bytes) -> IndexEntry:
        """An entry read back from the index topic (the hub's own; still read strictly).

        Raises:
            AuditError: CHECKPOINT_INVALID if ``data`` is not an index entry.
        """
        try:
            obj = parse_json(data, what="match index entry")
        except TrmError as exc:
            raise _bad_entry(exc.detail) from None
        if not isinstance(obj, dict) or set(obj) != {
            "owner",
            "reference",
            "match_kind",
            "subject",
            "expires_at_ms",
            "keys",
        }:
            raise _bad_entry("an object of owner, reference, match_kind, subject, keys, expiry")
        keys = obj["keys"]
        try:
            entry = cls(
                owner=_text(obj["owner"]),
                reference=_text(obj["reference"]),
                match_kind=_text(obj["match_kind"]),
                subject=_text(obj["subject"]),
                expires_at_ms=_int(obj["expires_at_ms"]),
                keys=tuple(bytes.fromhex(_text(k)) for k in keys) if isinstance(keys, list) else (),
            )
        except ValueError as exc:
            raise _bad_entry(str(exc)) from None
        if not is_reference(entry.reference) or not entry.keys:
            raise _bad_entry("a 32-hex reference and at least one key digest")
        if any(len(k) != hashlib.sha256().digest_size for k in entry.keys):
            raise _bad_entry("32-byte key digests")
        return entry


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    """Put ``entry`` under ``reference``, or (entry None) forget the reference."""

    reference: str
    entry: IndexEntry | None

    @property
    def value(self) -> bytes | None:
        """The index topic's record value (None: a tombstone)."""
        return None if self.entry is None else self.entry.to_json_bytes()


@dataclass(slots=True)
class MatchIndex:
    """The index in memory: entries by reference, references by key digest.

    The hub's agent holds one, loads it from the index topic at start
    (:meth:`load`) and applies each outcome's updates once they are written.
    """

    entries: dict[str, IndexEntry] = field(default_factory=dict)
    by_key: dict[bytes, set[str]] = field(default_factory=dict)

    def apply(self, update: IndexUpdate) -> None:
        old = self.entries.pop(update.reference, None)
        if old is not None:
            for k in old.keys:
                refs = self.by_key.get(k)
                if refs is not None:
                    refs.discard(update.reference)
                    if not refs:
                        del self.by_key[k]
        if update.entry is not None:
            self.entries[update.reference] = update.entry
            for k in update.entry.keys:
                self.by_key.setdefault(k, set()).add(update.reference)

    def load(self, records: Iterable[tuple[bytes, bytes | None]], now_ms: int) -> int:
        """Take in the index topic's (key, value) records in order; expired ones are skipped.

        Returns the number of live entries. A record that does not parse is
        skipped (the hub wrote it; a bad one answers nothing rather than stop the hub).
        """
        for key, value in records:
            reference = key.decode("ascii", "replace")
            entry = None
            if value is not None:
                try:
                    entry = IndexEntry.from_json_bytes(value)
                except AuditError:
                    entry = None
            if entry is not None and (entry.reference != reference or not entry.live(now_ms)):
                entry = None
            self.apply(IndexUpdate(reference, entry))
        return len(self.entries)

    def lookup(
        self, match_kind: str, keys: Sequence[bytes], *, querier: str, now_ms: int
    ) -> IndexEntry | None:
        """The first live entry of ``match_kind`` holding one of ``keys``, not ``querier``'s."""
        found: list[IndexEntry] = []
        for k in keys:
            for reference in self.by_key.get(index_key(k), ()):
                entry = self.entries[reference]
                if entry.match_kind == match_kind and entry.owner != querier and entry.live(now_ms):
                    found.append(entry)
        return min(found, key=lambda e: (e.owner, e.reference)) if found else None


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """What became of one match request record."""

    status: str  # "accepted" | "refused"
    message_id: str  # "" when none could be read
    reason: Reason | None
    effects: tuple[Effect, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()
    index_updates: tuple[IndexUpdate, ...] = ()


@dataclass(slots=True)
class _Builder:
    topics: Topics
    source: SourceRef
    registry_version: str
    hub_key: Ed25519PrivateKey
    now_ms: int
    effects: list[Effect] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)

    def decide(self, eid: EffectId, kind: DecisionKind, facts: MatchFacts, **kw: Any) -> None:
        record = DecisionRecord.of(
            kind,
            source=str(self.source),
            decided_at_ms=self.now_ms,
            registry=self.registry_version,
            fields=facts.to_fields(),
            **kw,
        )
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

    def send(self, eid: EffectId, country: str, value: bytes, key: str) -> str:
        """Write ``value`` to ``country``'s match topic; its digest (hex)."""
        self.effects.append(
            Effect(
                effect_id=eid,
                topic=self.topics.match(country),
                key=key.encode(),
                value=value,
                headers=((EFFECT_HEADER, eid.encode()),),
                digest=hashlib.sha256(value).hexdigest(),
            )
        )
        return hashlib.sha256(value).hexdigest()

    def reply(self, asked: MatchMessage, body: Any, label: str) -> bytes:
        """A hub-signed message answering ``asked``, the same bytes if made again.

        Its id is derived from the question's, its time is the question's
        (verified to be within the clock bounds): processing the record again
        after a crash yields the very same signed bytes.
        """
        seed = hashlib.sha256(f"{asked.sender}/{asked.message_id}/{label}".encode()).digest()
        reply = MatchMessage.of(
            body,
            message_id=new_event_id(asked.created_at_ms, lambda n: seed[:n]),
            sender=HUB,
            recipient=asked.sender,
            created_at_ms=asked.created_at_ms,
            correlation_id=asked.message_id,
        )
        return seal_message(reply, self.hub_key)


def process(
    raw: bytes,
    source: SourceRef,
    *,
    index: MatchIndex,
    topics: Topics,
    keys: KeyDirectory,
    hub_key: Ed25519PrivateKey,
    now_ms: int,
    registry_version: str = "",
    share_holders: frozenset[str] | None = None,
) -> MatchOutcome:
    """Judge one match request record and say what to write. Never raises on bad input.

    Args:
        raw: the record value exactly as read from ``<ns>.match.requests``.
        source: where it was read.
        index: the index as it stands (not changed here: apply the outcome's
            ``index_updates`` once written).
        keys: the trust list in force (members' producer keys, the hub's keys).
        hub_key: signs what the hub sends (REGISTERED, ANSWER, REFUSED).
        now_ms: the hub's clock.
        share_holders: the countries holding a key share (the ceremony's public
            part), or None when the hub does not know them.
    """
    b = _Builder(topics, source, registry_version, hub_key, now_ms)
    try:
        message = open_message(raw, keys, now_ms=now_ms)
        _check_parties(message, keys, now_ms, share_holders)
        updates = _accept(message, raw, b, index)
    except TrmError as error:
        return _refuse(raw, b, error)
    return MatchOutcome(
        "accepted", message.message_id, None, tuple(b.effects), tuple(b.decisions), updates
    )


def _check_parties(
    message: MatchMessage, keys: KeyDirectory, now_ms: int, holders: frozenset[str] | None
) -> None:
    if message.recipient != HUB and not keys.keys_for(message.recipient, KeyRole.PRODUCER, now_ms):
        raise DeliveryError(
            Reason.UNKNOWN_COUNTRY,
            f"expected a member of the trust list as recipient, got {message.recipient}",
        )
    if holders is None:
        return
    if message.kind is _K.EVALUATE and message.recipient not in holders:
        raise PolicyError(
            Reason.MATCH_NOT_EVALUATOR,
            f"expected an evaluator among the share holders {sorted(holders)}, "
            f"got {message.recipient}",
        )
    if message.kind is _K.EVALUATION and message.sender not in holders:
        raise PolicyError(
            Reason.MATCH_NOT_EVALUATOR,
            f"expected an evaluation from a share holder {sorted(holders)}, got {message.sender}",
        )


def _accept(
    message: MatchMessage, raw: bytes, b: _Builder, index: MatchIndex
) -> tuple[IndexUpdate, ...]:
    body = message.body
    digest = hashlib.sha256(raw).hexdigest()
    sender, mid = message.sender, message.message_id
    match body:
        case Register():
            update = _register(message, body, index, b.now_ms)
            reply = b.reply(message, Registered(body.reference, body.expires_at_ms), "registered")
            eid = EffectId.of_event(EffectKind.DELIVERY, sender, mid, sender)
            delivered = b.send(eid, sender, reply, body.reference)
            facts = MatchFacts(
                str(message.kind),
                reference=body.reference,
                match_kind=body.match_kind,
                subject=body.subject,
                expires_at_ms=body.expires_at_ms,
                elements=len(body.keys),
            )
            b.decide(
                eid.decided(DecisionKind.INGESTED),
                DecisionKind.INGESTED,
                facts,
                event_id=mid,
                producer=sender,
                recipient=sender,
                event_digest=digest,
                delivered_digest=delivered,
            )
            return (update,)
        case Query():
            entry = index.lookup(body.match_kind, body.keys, querier=sender, now_ms=b.now_ms)
            answer = (
                Answer(body.query_id, False)
                if entry is None
                else Answer(body.query_id, True, entry.owner, entry.reference, entry.match_kind)
            )
            reply = b.reply(message, answer, "answer")
            eid = EffectId.of_event(EffectKind.DELIVERY, sender, mid, sender)
            delivered = b.send(eid, sender, reply, body.query_id)
            facts = MatchFacts(
                str(message.kind),
                query_id=body.query_id,
                purpose=body.purpose,
                case_ref=body.case_ref,
                hit="true" if answer.hit else "false",
                owner=answer.owner or "",
                reference=answer.reference or "",
                match_kind=answer.match_kind or "",
                elements=len(body.keys),
            )
            b.decide(
                eid.decided(DecisionKind.DELIVERED),
                DecisionKind.DELIVERED,
                facts,
                event_id=mid,
                producer=sender,
                recipient=sender,
                event_digest=digest,
                delivered_digest=delivered,
            )
            return ()
        case Evaluate() | Evaluation() | Refused():
            # Relayed as they came: the recipient verifies the sender's signature itself.
            to = message.recipient
            eid = EffectId.of_event(EffectKind.DELIVERY, sender, mid, to)
            delivered = b.send(eid, to, raw, mid)
            b.decide(
                eid.decided(DecisionKind.DELIVERED),
                DecisionKind.DELIVERED,
                _relay_facts(message),
                event_id=mid,
                producer=sender,
                recipient=to,
                event_digest=digest,
                delivered_digest=delivered,
                reason=body.reason if isinstance(body, Refused) else "",
            )
            return ()
    raise DeliveryError(  # REGISTERED, ANSWER: the message's direction rules refuse them first
        Reason.INVALID_PAYLOAD, f"expected a member's match message, got a {message.kind}"
    )


def _relay_facts(message: MatchMessage) -> MatchFacts:
    body = message.body
    kind = str(message.kind)
    if isinstance(body, Evaluate):
        return MatchFacts(
            kind, query_id=body.query_id, purpose=body.purpose, elements=len(body.blinded)
        )
    if isinstance(body, Evaluation):
        return MatchFacts(
            kind,
            query_id=body.query_id,
            elements=len(body.partials),
            budget_used=body.budget_used,
            budget_limit=body.budget_limit,
            budget_day=body.budget_day,
        )
    return MatchFacts(kind)  # a member's REFUSED: its reason is the decision's


def _register(message: MatchMessage, body: Register, index: MatchIndex, now_ms: int) -> IndexUpdate:
    if body.expires_at_ms <= now_ms:
        raise PolicyError(
            Reason.MATCH_EXPIRED,
            f"expected expires_at after the hub's clock {now_ms}, got {body.expires_at_ms}",
        )
    if body.subject == "victim" and not body.consent:
        raise PolicyError(
            Reason.CONSENT_REQUIRED,
            "expected a victim to be registered only with the sender's recorded consent "
            "(consent true)",
        )
    held = index.entries.get(body.reference)
    if held is not None and held.owner != message.sender:
        raise PolicyError(
            Reason.MATCH_REFERENCE_CONFLICT,
            f"expected a reference of {message.sender}'s own, this one is another member's",
        )
    entry = IndexEntry(
        owner=message.sender,
        reference=body.reference,
        match_kind=body.match_kind,
        subject=body.subject,
        expires_at_ms=body.expires_at_ms,
        keys=tuple(sorted(index_key(k) for k in body.keys)),
    )
    return IndexUpdate(body.reference, entry)


def _peek(raw: bytes) -> tuple[str, str]:
    """(claimed sender, message id) of a message that did not open, or blanks."""
    try:
        if len(raw) > MATCH_MAX_SIZE:
            return "", ""
        wrapper = part("match_signed").decode(unframe("match_signed", raw, "match message"))
        rec = part("match_message").decode(unframe("match_message", wrapper["message"], "m"))
        sender, mid = rec["sender"], rec["message_id"]
    except (TrmError, ValueError, KeyError, TypeError):
        return "", ""
    try:
        check_country(sender)  # an alpha-2 code, or nobody to answer
    except (TrmError, TypeError):
        sender = ""
    return sender, mid if isinstance(mid, str) else ""


def _refuse(raw: bytes, b: _Builder, error: TrmError) -> MatchOutcome:
    """A refusal: REFUSED and a rejection to the sender, and a REJECTED decision."""
    sender, mid = _peek(raw)
    digest = hashlib.sha256(raw).hexdigest()
    detail = error.detail
    eid = EffectId.of_record(EffectKind.REJECTION, b.source, _safe(mid))
    if sender:
        b.effects.append(
            rejection_effect(
                eid,
                b,
                submitter=sender,
                event_id=mid,
                producer=sender,
                recipient="",
                reason=error.reason,
                detail=detail,
            )
        )
        refusal = _refusal_bytes(b, sender, mid, error)
        if refusal is not None:
            reid = EffectId.of_event(EffectKind.DELIVERY, sender, mid, sender)
            b.send(reid, sender, refusal, mid)
    b.decide(
        eid.decided(DecisionKind.REJECTED),
        DecisionKind.REJECTED,
        MatchFacts("REFUSED"),
        event_id=_safe(mid),
        producer=sender,
        event_digest=digest,
        reason=str(error.reason),
        detail=detail,
    )
    return MatchOutcome("refused", mid, error.reason, tuple(b.effects), tuple(b.decisions))


def _safe(mid: str) -> str:
    """A message id fit for an effect id (a UUID), else empty."""
    return mid if len(mid) == 36 and all(c in "0123456789abcdef-" for c in mid) else ""


def _refusal_bytes(b: _Builder, sender: str, mid: str, error: TrmError) -> bytes | None:
    """The hub's signed REFUSED for ``mid``; None when ``mid`` cannot be answered (no UUIDv7)."""
    seed = hashlib.sha256(f"{sender}/{mid}/refused/{b.source}".encode()).digest()
    try:
        message = MatchMessage.of(
            Refused.of(error),
            message_id=new_event_id(b.now_ms, lambda n: seed[:n]),
            sender=HUB,
            recipient=sender,
            created_at_ms=b.now_ms,
            correlation_id=mid,
        )
    except TrmError:
        return None
    return seal_message(message, b.hub_key)
