"""The policy engine: who may receive an event, and exactly which of its fields.

:func:`decide` is a pure, deterministic function of (verified event, agreement
set, trust list, now). The hub calls it on every event; an auditor calls it
again on the same inputs and must get the same answer. Deny by default: a
recipient gets something only when an agreement in force at the event's
creation time, signed by every party, has a flow for this direction and event
type whose purpose, handling, consent and child conditions all hold; and then
only the fields in that flow's allowlist that the producer disclosed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.errors import Reason
from hub.keys import KeyDirectory
from hub.policy.agreement import AgreementSet, Flow, SignedAgreement
from hub.trust import TrustList
from hub.wire.vocab import COUNTRY_CODE, POLICY_ATTRIBUTES, SEALED_VERSION

__all__ = [
    "POLICY_FIELDS",
    "Decision",
    "Deliver",
    "EventLike",
    "HeaderLike",
    "Refuse",
    "decide",
    "decide_one",
    "decide_remembered",
]


# The payload fields the engine reads, and the only ones (a test holds the
# engine to this list): the wire's policy attributes, which a sealed event
# keeps in the clear.
POLICY_FIELDS = POLICY_ATTRIBUTES


class HeaderLike(Protocol):
    """What the engine reads from a signed header (``hub.wire.Header``)."""

    @property
    def producer(self) -> str: ...
    @property
    def recipients(self) -> tuple[str, ...]: ...
    @property
    def event_type(self) -> Any: ...  # hub.wire.EventType (a str)
    @property
    def purpose(self) -> str: ...
    @property
    def handling(self) -> str: ...
    @property
    def created_at_ms(self) -> int: ...
    @property
    def spec_version(self) -> int: ...


class EventLike(Protocol):
    """What the engine reads from a verified event (``hub.wire.VerifiedEvent``)."""

    @property
    def header(self) -> HeaderLike: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...
    @property
    def disclosed(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Deliver:
    """Deliver to ``recipient`` exactly ``fields``, under ``agreement_id@agreement_version``."""

    recipient: str
    agreement_id: str
    agreement_version: int
    fields: frozenset[str]
    handling: str
    retention_days: int
    withheld: frozenset[str]  # disclosed by the producer, not allowed to this recipient
    consent_limited: bool = False  # only the without-consent fields went

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        recipient: str,
        agreement_id: str,
        agreement_version: int,
        fields: frozenset[str],
        handling: str,
        retention_days: int,
        withheld: frozenset[str],
        consent_limited: bool = False,
    ) -> None:
        object.__setattr__(self, "recipient", recipient)  # the constructor written out: D26
        object.__setattr__(self, "agreement_id", agreement_id)
        object.__setattr__(self, "agreement_version", agreement_version)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "handling", handling)
        object.__setattr__(self, "retention_days", retention_days)
        object.__setattr__(self, "withheld", withheld)
        object.__setattr__(self, "consent_limited", consent_limited)

    @property
    def agreement_ref(self) -> str:
        return f"{self.agreement_id}@{self.agreement_version}"


@dataclass(frozen=True, slots=True)
class Refuse:
    """Deliver nothing to ``recipient``, for ``reason``."""

    recipient: str
    reason: Reason
    detail: str
    agreement_ref: str | None = None

    def __init__(
        self, recipient: str, reason: Reason, detail: str, agreement_ref: str | None = None
    ) -> None:
        object.__setattr__(self, "recipient", recipient)  # the constructor written out: D26
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "agreement_ref", agreement_ref)


Decision = Deliver | Refuse

# How bad a refusal is, to report the most telling one when several agreements
# were tried: a condition failing inside a valid agreement says more than "no
# agreement at all".
_RANK = {
    Reason.NO_AGREEMENT: 0,
    Reason.AGREEMENT_NOT_IN_FORCE: 1,
    Reason.AGREEMENT_UNSIGNED: 2,
    Reason.AGREEMENT_BAD_SIGNATURE: 3,
    Reason.EVENT_TYPE_NOT_ALLOWED: 4,
    Reason.PURPOSE_NOT_ALLOWED: 5,
    Reason.HANDLING_NOT_ALLOWED: 6,
    Reason.SEALING_REQUIRED: 7,
    Reason.CHILD_PROTECTION: 8,
    Reason.CONSENT_REQUIRED: 9,
}


def decide(
    event: EventLike, agreements: AgreementSet, keys: KeyDirectory, now_ms: int
) -> tuple[Decision, ...]:
    """One decision per addressed recipient, in the header's order (duplicates once).

    Args:
        event: a verified event (its signature already checked).
        agreements: every agreement version the hub holds.
        keys: the trust list (party root keys, for agreement signatures).
        now_ms: when the decision is made; only agreements loaded by then count.

    The same inputs always give the same decisions; a Deliver is remembered
    (:class:`_Memo`) and reused for an event that no input of the engine can tell
    apart, which is most events between two registry changes.
    """
    header = event.header
    memo = _memo_for(agreements, keys)
    known: AgreementSet | None = None
    out: list[Decision] = []
    seen: set[str] = set()
    of_event = memo.event_key(event, now_ms) if memo is not None else None
    for recipient in header.recipients:
        if recipient in seen:
            continue
        seen.add(recipient)
        key = None if of_event is None else (of_event, recipient)
        cached = memo.deliveries.get(key) if memo is not None and key is not None else None
        if cached is not None:
            out.append(cached)
            continue
        if known is None:
            known = agreements.known_at(now_ms)
        decision = decide_one(event, recipient, known, keys)
        if memo is not None and key is not None and isinstance(decision, Deliver):
            memo.remember(key, decision)
        out.append(decision)
    return tuple(out)


@dataclass(slots=True)
class _Memo:
    """Deliver decisions already made under one (agreement set, trust list).

    Everything :func:`decide_one` reads is in the key: the producer, recipient,
    event type, purpose, handling and version; the values of :data:`POLICY_FIELDS` (their
    exact Avro bytes with the digest of the schema they decode with, where the
    event's fields hold them: ``hub.wire.fields``; else by type and value); the
    disclosed field names; and, for the two times it is judged
    at (``now_ms`` for which agreements were loaded, the event's creation for
    which were in force and which root keys were valid), the interval between
    consecutive *boundaries* — every load time, start and end of an agreement,
    and start, end and revocation of a key — that the time falls in. Between
    two boundaries no input changes, so neither does the decision. Refusals are
    not kept: their messages name the event's own times.
    """

    agreements: AgreementSet
    keys: TrustList
    boundaries: tuple[int, ...]
    deliveries: dict[Hashable, Deliver] = field(default_factory=dict)

    LIMIT = 4096

    def key(self, event: EventLike, recipient: str, now_ms: int | None) -> Hashable | None:
        """The key of a decision; ``now_ms`` None: judged by every agreement version held."""
        of_event = self.event_key(event, now_ms)
        return None if of_event is None else (of_event, recipient)

    def event_key(self, event: EventLike, now_ms: int | None) -> Hashable | None:
        """Everything in the key but the recipient (the same for each of an event's)."""
        header = event.header
        fields = event.fields
        exact = getattr(fields, "exact", None)
        values: Hashable
        if exact is not None:
            # The values' exact Avro bytes with their schema's digest
            # (hub.wire.fields): equal keys are equal values, without decoding.
            values = ("avro", exact(_POLICY_ORDER))
        else:
            try:
                values = tuple(_frozen(fields.get(name)) for name in _POLICY_ORDER)
            except TypeError:  # a value that cannot be a key: judge it afresh
                return None
        return (
            None if now_ms is None else bisect_right(self.boundaries, now_ms),
            bisect_right(self.boundaries, header.created_at_ms),
            header.producer,
            str(header.event_type),
            header.purpose,
            header.handling,
            header.spec_version,
            values,
            event.disclosed,
        )

    def remember(self, key: Hashable, decision: Deliver) -> None:
        if len(self.deliveries) >= self.LIMIT:
            self.deliveries.clear()
        self.deliveries[key] = decision


_POLICY_ORDER = tuple(sorted(POLICY_FIELDS))
_MEMOS: list[_Memo] = []


def _frozen(value: Any) -> Hashable:
    """A hashable form of a decoded Avro value that keeps its type (False is not 0)."""
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(v) for v in value))
    hash(value)
    return (type(value).__name__, value)


def _memo_for(agreements: AgreementSet, keys: KeyDirectory) -> _Memo | None:
    """The memo of this (agreement set, trust list) pair; None for other key directories."""
    if not isinstance(keys, TrustList):
        return None
    for memo in _MEMOS:
        if memo.agreements is agreements and memo.keys is keys:
            return memo
    times: set[int] = set()
    for entry in agreements.entries:
        a = entry.agreement
        times.add(a.effective_from_ms)
        if a.effective_until_ms is not None:
            times.add(a.effective_until_ms)
        if entry.loaded_at_ms is not None:
            times.add(entry.loaded_at_ms)
    for k in keys.keys.values():
        times.add(k.not_before_ms)
        times.update(t for t in (k.not_after_ms, k.revoked_at_ms) if t is not None)
    memo = _Memo(agreements, keys, tuple(sorted(times)))
    _MEMOS.insert(0, memo)
    del _MEMOS[4:]  # registries change rarely; keep the last few
    return memo


def decide_remembered(
    event: EventLike, recipient: str, agreements: AgreementSet, keys: KeyDirectory
) -> Decision:
    """:func:`decide_one` by every agreement version in ``agreements``, remembered.

    What an auditor's replay asks of each delivery (it judges by every version
    the registry holds, not by those loaded at some moment); a Deliver is
    remembered as :func:`decide` remembers it, under its own key.
    """
    memo = _memo_for(agreements, keys)
    key = memo.key(event, recipient, None) if memo is not None else None
    if memo is not None and key is not None:
        cached = memo.deliveries.get(key)
        if cached is not None:
            return cached
    decision = decide_one(event, recipient, agreements, keys)
    if memo is not None and key is not None and isinstance(decision, Deliver):
        memo.remember(key, decision)
    return decision


def decide_one(
    event: EventLike, recipient: str, agreements: AgreementSet, keys: KeyDirectory
) -> Decision:
    """The decision for one recipient (see :func:`decide`), judged afresh."""
    header = event.header
    producer, at = header.producer, header.created_at_ms
    if recipient == producer:
        return Refuse(
            recipient,
            Reason.NOT_ADDRESSED,
            f"expected a recipient other than the producer {producer}",
        )
    between = [a for a in agreements.entries if {producer, recipient} <= a.agreement.parties]
    if not between:
        return Refuse(
            recipient,
            Reason.NO_AGREEMENT,
            f"expected an agreement between {producer} and {recipient}; there is none",
        )
    in_force = [a for a in agreements.in_force(at) if a in between]
    if not in_force:
        spans = ", ".join(sorted({a.agreement.ref for a in between}))
        return Refuse(
            recipient,
            Reason.AGREEMENT_NOT_IN_FORCE,
            f"expected an agreement between {producer} and {recipient} in force at the "
            f"event's creation ({at}); none is ({spans})",
        )
    event_type = str(header.event_type)
    relevant = [a for a in in_force if a.agreement.flows_for(producer, recipient, event_type)]
    if not relevant:
        lapsed = sorted(
            {
                a.agreement.ref
                for a in between
                if a not in in_force and a.agreement.flows_for(producer, recipient, event_type)
            }
        )
        if lapsed:
            return Refuse(
                recipient,
                Reason.AGREEMENT_NOT_IN_FORCE,
                f"expected an agreement for {event_type} {producer}->{recipient} in force at the "
                f"event's creation ({at}); {', '.join(lapsed)} is not",
            )
        refs = ", ".join(a.agreement.ref for a in in_force)
        return Refuse(
            recipient,
            Reason.EVENT_TYPE_NOT_ALLOWED,
            f"expected a flow {producer}->{recipient} for {event_type}; the agreements in "
            f"force ({refs}) have none",
        )
    # The most specific agreement first (bilateral before multilateral), then by id.
    relevant.sort(key=lambda a: (len(a.agreement.parties), a.agreement.id))
    best: Refuse | None = None
    for candidate in relevant:
        decision = _judge(event, recipient, candidate, keys)
        if isinstance(decision, Deliver):
            return decision
        if best is None or _RANK.get(decision.reason, 0) > _RANK.get(best.reason, 0):
            best = decision
    assert best is not None  # noqa: S101 - in_force is not empty
    return best


def _judge(
    event: EventLike, recipient: str, signed: SignedAgreement, keys: KeyDirectory
) -> Decision:
    header = event.header
    agreement = signed.agreement
    ref = agreement.ref
    producer, event_type = header.producer, str(header.event_type)
    missing, tampered = signed.missing_parties(keys, header.created_at_ms)
    if missing:
        reason = Reason.AGREEMENT_BAD_SIGNATURE if tampered else Reason.AGREEMENT_UNSIGNED
        what = "a signature that does not verify" if tampered else "no valid root signature"
        return Refuse(
            recipient,
            reason,
            f"{ref}: expected a root signature of every party; {', '.join(sorted(missing))} "
            f"has {what}",
            ref,
        )
    flow = agreement.flow_for(producer, recipient, event_type)
    if flow is None:
        return Refuse(
            recipient,
            Reason.EVENT_TYPE_NOT_ALLOWED,
            f"{ref}: expected a flow {producer}->{recipient} for {event_type}; there is none",
            ref,
        )
    if header.purpose not in flow.purposes:
        return Refuse(
            recipient,
            Reason.PURPOSE_NOT_ALLOWED,
            f"{ref}: expected a purpose among {sorted(flow.purposes)}, got {header.purpose}",
            ref,
        )
    if header.handling not in flow.handling:
        return Refuse(
            recipient,
            Reason.HANDLING_NOT_ALLOWED,
            f"{ref}: expected handling among {sorted(flow.handling)}, got {header.handling}",
            ref,
        )
    if flow.require_sealed and header.spec_version != SEALED_VERSION:
        return Refuse(
            recipient,
            Reason.SEALING_REQUIRED,
            f"{ref}: expected a sealed (v{SEALED_VERSION}) event for {event_type} to "
            f"{recipient}, got v{header.spec_version}",
            ref,
        )
    child = _child_refusal(event, recipient, flow, ref)
    if child is not None:
        return child
    allowed = flow.fields
    limited = False
    if (
        flow.consent is not None
        and flow.consent.required
        and not _consent_covers(event.fields.get("consent"), header.purpose, recipient)
    ):
        if not flow.consent.without_consent:
            status = _consent_status(event.fields.get("consent"))
            return Refuse(
                recipient,
                Reason.CONSENT_REQUIRED,
                f"{ref}: expected consent GIVEN covering {header.purpose} and {recipient}; "
                f"found {status}",
                ref,
            )
        allowed = flow.consent.without_consent
        limited = True
    fields = allowed & event.disclosed
    return Deliver(
        recipient=recipient,
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        fields=fields,
        handling=header.handling,
        retention_days=flow.retention_days,
        withheld=event.disclosed - fields,
        consent_limited=limited,
    )


def _consent_status(consent: Any) -> str:
    if not isinstance(consent, Mapping):
        return "no consent disclosed"
    return f"status {consent.get('status')!s}"


def _consent_covers(consent: Any, purpose: str, recipient: str) -> bool:
    """GIVEN, and a non-empty scope names this purpose and (if it names any country) this one."""
    if not isinstance(consent, Mapping) or str(consent.get("status")) != "GIVEN":
        return False
    scope: Sequence[str] = consent.get("scope") or ()
    if not scope:
        return True
    # A country is exactly two ASCII capitals (ISO 3166-1 alpha-2); anything else a purpose.
    countries = {s for s in scope if COUNTRY_CODE.match(s)}
    purposes = set(scope) - countries
    if purposes and purpose not in purposes:
        return False
    return not countries or recipient in countries


def _child_refusal(event: EventLike, recipient: str, flow: Flow, ref: str) -> Refuse | None:
    if flow.child is None:
        return None
    # Deny by default: unless the producer disclosed is_child = false, treat as a child.
    if event.fields.get("is_child") is False:
        return None
    rule = flow.child
    org = event.fields.get("receiving_organisation")
    org_id = org.get("id") if isinstance(org, Mapping) else None
    org_kind = org.get("kind") if isinstance(org, Mapping) else None
    if not ((org_id is not None and org_id in rule.agencies) or org_kind in rule.kinds):
        return Refuse(
            recipient,
            Reason.CHILD_PROTECTION,
            f"{ref}: a child's case goes only to a named protection agency "
            f"({', '.join(sorted(rule.agencies)) or 'none named'}) or kinds "
            f"{sorted(rule.kinds)}; receiving organisation is {org_id or 'not disclosed'}",
            ref,
        )
    if rule.require_best_interest_assessment and not isinstance(
        event.fields.get("best_interest_assessment"), Mapping
    ):
        return Refuse(
            recipient,
            Reason.CHILD_PROTECTION,
            f"{ref}: expected a best-interest assessment for a child; none disclosed",
            ref,
        )
    return None
