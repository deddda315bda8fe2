"""A case's timeline and its state, from the plain events one node holds (pure).

A node holds its whole side of a case: what it sent and what it opened
(``connectors.sdk.cases`` reads them from the node's store into
:class:`CaseEvent` values). From those alone, with ``now`` passed in, this
module builds the timeline a desk shows (:func:`timeline`) and the case's
state (:func:`case_state`): each country's last status, when the person was
handed over, and whether a new referral after the handover points to
re-trafficking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .lifecycle import CaseStatus, check_transition, is_status

__all__ = [
    "RECEIVED",
    "SENT",
    "CaseEvent",
    "CaseState",
    "CaseSummary",
    "TimelineEntry",
    "acknowledgements_of",
    "case_state",
    "follow_up_done",
    "follow_up_of",
    "receiving_country",
    "timeline",
]

SENT: Final = "sent"
RECEIVED: Final = "received"
ACKNOWLEDGEMENT: Final = "acknowledgement"
CASE_UPDATE: Final = "case_update"
CASE_ALERT: Final = "case_alert"
REFERRAL: Final = "referral"
HANDOVER_NOTICE: Final = "handover_notice"
REINTEGRATION_REPORT: Final = "reintegration_report"
MATCH_FOLLOWUP: Final = "match_followup"
# What shows a handed-over person again: a new referral, or a match follow-up of them.
SIGHTINGS: Final = frozenset({REFERRAL, MATCH_FOLLOWUP})


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One event of a case as a node holds it (its plaintext, JSON form).

    Attributes:
        direction: :data:`SENT` (this node produced it) or :data:`RECEIVED`.
        fields: the payload fields this node holds (disclosed to it, or all
            of them for what it sent).
        withheld: the schema fields not disclosed to this node (the agreement
            withheld them, or the producer left them empty: a recipient cannot
            tell which from the event alone). Empty for what this node sent.
        summary: a few fields that say what the event is (the type's summary).
        empty: of ``withheld``, those the agreement the event went under
            discloses: the producer left them empty (null), they were not withheld.
    """

    event_id: str
    event_type: str
    producer: str
    recipients: tuple[str, ...]
    created_at_ms: int
    direction: str
    case_key: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    withheld: tuple[str, ...] = ()
    correlation_id: str | None = None
    summary: Mapping[str, str] = field(default_factory=dict)
    empty: tuple[str, ...] = ()

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        country: str,
        *,
        summary: Mapping[str, str] | None = None,
        empty: Sequence[str] = (),
    ) -> CaseEvent | None:
        """A node's vault record (``InboxRecord.to_json()`` shape) as ``country`` holds it.

        None when the record has no type or creation time. Any type is read;
        the caller picks the types it reasons about.
        """
        event_type = record.get("type")
        created = record.get("created_at_ms")
        if not isinstance(event_type, str) or not isinstance(created, int):
            return None
        producer = str(record.get("from", ""))
        fields = record.get("fields")
        correlation = record.get("correlation_id")
        return cls(
            event_id=str(record.get("event_id", "")),
            event_type=event_type,
            producer=producer,
            recipients=tuple(str(r) for r in record.get("to") or ()),
            created_at_ms=created,
            direction=SENT if producer == country else RECEIVED,
            case_key=str(record.get("case_key", "")),
            fields=dict(fields) if isinstance(fields, Mapping) else {},
            withheld=tuple(str(w) for w in record.get("withheld") or ()),
            correlation_id=correlation if isinstance(correlation, str) else None,
            summary=dict(summary or {}),
            empty=tuple(empty),
        )

    def left_empty(self, name: str) -> bool:
        """Whether the producer left field ``name`` empty (null), as opposed to its being withheld.

        A field not disclosed is either; it is known empty when this node holds
        the rest of the event (it sent it: nothing withheld) or the agreement
        discloses that field (:attr:`empty`).
        """
        if self.fields.get(name) is not None:
            return False
        return name in self.fields or name in self.empty or name not in self.withheld

    def int_field(self, name: str) -> int | None:
        value = self.fields.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def str_field(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if isinstance(value, str) else None

    def of_case(self, case_key: str) -> CaseEvent:
        """The same event filed under another case key (a match follow-up of a person)."""
        return dataclasses.replace(self, case_key=case_key)

    @property
    def changed_at_ms(self) -> int:
        """When the status it records took effect: a case update's ``changed_at``, an
        acknowledgement's ``acknowledged_at`` (its creation time when not disclosed)."""
        name = "acknowledged_at" if self.event_type == ACKNOWLEDGEMENT else "changed_at"
        changed = self.int_field(name)
        return changed if changed is not None else self.created_at_ms

    @property
    def acknowledged(self) -> str | None:
        """For an acknowledgement: the event it acknowledges."""
        return self.str_field("acknowledged_event_id") or self.correlation_id


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of a case on a desk's timeline (contract D of issue 15).

    Attributes:
        direction: "sent" or "received", from this node's side.
        status / previous_status / transition_reason: a case update's.
        next_due_ms / next_step_owner: a case update's next due time and owner.
        withheld: fields the agreement withheld from this node.
        acknowledgements: (country, status, at_ms) of each acknowledgement of
            this event that this node holds.
        summary: a few fields that say what the event is.
        transition: for a case update, how its status follows the producer's
            previous one (NEXT, SKIP, BACKWARD, ...: lifecycle.TransitionKind).
        follow_up_number: a case update's or a reintegration report's follow-up.
    """

    event_id: str
    event_type: str
    producer: str
    recipients: tuple[str, ...]
    created_at_ms: int
    direction: str
    status: str | None
    previous_status: str | None
    transition_reason: str | None
    next_due_ms: int | None
    next_step_owner: str | None
    withheld: tuple[str, ...]
    acknowledgements: tuple[tuple[str, str, int], ...]
    summary: Mapping[str, str]
    transition: str | None = None
    follow_up_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "producer": self.producer,
            "recipients": list(self.recipients),
            "created_at_ms": self.created_at_ms,
            "direction": self.direction,
            "status": self.status,
            "previous_status": self.previous_status,
            "transition_reason": self.transition_reason,
            "transition": self.transition,
            "follow_up_number": self.follow_up_number,
            "next_due_ms": self.next_due_ms,
            "next_step_owner": self.next_step_owner,
            "withheld": list(self.withheld),
            "acknowledgements": [
                {"country": c, "status": s, "at_ms": at} for c, s, at in self.acknowledgements
            ],
            "summary": dict(self.summary),
        }


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One case as a list of cases shows it (contract D of issue 15)."""

    case_key: str
    countries: tuple[str, ...]
    status: str | None
    status_by_country: Mapping[str, str]
    next_due_ms: int | None
    next_step_owner: str | None
    overdue: bool
    last_event_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "case_key": self.case_key,
            "countries": list(self.countries),
            "status": self.status,
            "status_by_country": dict(self.status_by_country),
            "next_due_ms": self.next_due_ms,
            "next_step_owner": self.next_step_owner,
            "overdue": self.overdue,
            "last_event_ms": self.last_event_ms,
        }


def _ordered(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    return sorted(events, key=lambda e: (e.created_at_ms, e.event_id))


def _updates(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    """The case updates whose status this node can read, in the order they were made."""
    found = [e for e in events if e.event_type == CASE_UPDATE and is_status(e.str_field("status"))]
    return sorted(found, key=lambda e: (e.changed_at_ms, e.created_at_ms, e.event_id))


def acknowledgements_of(events: Iterable[CaseEvent]) -> dict[str, list[tuple[str, str, int]]]:
    """Per acknowledged event id: (country, status, at_ms) of each acknowledgement held."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for e in _ordered(events):
        target = e.acknowledged if e.event_type == ACKNOWLEDGEMENT else None
        if target is None:
            continue
        at = e.int_field("acknowledged_at")
        status = e.str_field("status") or "RECEIVED"
        out.setdefault(target, []).append(
            (e.producer, status, at if at is not None else e.created_at_ms)
        )
    return out


def _transitions(events: Iterable[CaseEvent], follow_ups: int) -> dict[str, str]:
    """How each case update follows its producer's previous one (a TransitionKind)."""
    last: dict[str, CaseEvent] = {}
    kinds: dict[str, str] = {}
    for update in _updates(events):
        before = last.get(update.producer)
        claimed = update.str_field("previous_status")
        previous = claimed if is_status(claimed) else None
        if before is not None:
            previous = before.str_field("status")
        try:
            transition = check_transition(
                previous,
                str(update.str_field("status")),
                update.str_field("transition_reason") or "OTHER",  # classify, never refuse
                previous_follow_up=before.int_field("follow_up_number") if before else None,
                follow_up=follow_up_of(update),
                follow_ups=follow_ups,
            )
            kinds[update.event_id] = transition.kind.value
        except Exception:
            kinds[update.event_id] = ""
        last[update.producer] = update
    return kinds


def follow_up_of(event: CaseEvent) -> int | None:
    """Which scheduled follow-up a case update or a reintegration report is about (14.3).

    A report's ``follow_up_number``; null there means an extra visit (None
    here). Only when that field is withheld from this node does the report's
    ``visit_number`` stand for it. None for any other event, and for a number
    outside 1 to 12.
    """
    if event.event_type not in (CASE_UPDATE, REINTEGRATION_REPORT):
        return None
    number = event.int_field("follow_up_number")
    if (
        number is None
        and event.event_type == REINTEGRATION_REPORT
        and not event.left_empty("follow_up_number")
    ):
        number = event.int_field("visit_number")
    return number if number is not None and 1 <= number <= 12 else None


def follow_up_done(event: CaseEvent) -> int | None:
    """The scheduled follow-up ``event`` reports done, or None (the one rule, 14.3).

    A reintegration report of a follow-up (:func:`follow_up_of`; an extra visit
    reports none), or a case update ``FOLLOW_UP_DONE`` with its number.
    """
    if event.event_type == REINTEGRATION_REPORT or (
        event.event_type == CASE_UPDATE and event.str_field("status") == CaseStatus.FOLLOW_UP_DONE
    ):
        return follow_up_of(event)
    return None


def timeline(events: Sequence[CaseEvent], *, follow_ups: int = 3) -> list[TimelineEntry]:
    """Every event of one case, oldest first, each with its acknowledgements.

    An acknowledgement shows on the event it acknowledges; it has its own
    entry only when that event is not held (e.g. it was erased).
    """
    acks = acknowledgements_of(events)
    held = {e.event_id for e in events}
    kinds = _transitions(events, follow_ups)
    out = []
    for e in _ordered(events):
        if e.event_type == ACKNOWLEDGEMENT and e.acknowledged in held:
            continue
        update = e.event_type == CASE_UPDATE
        out.append(
            TimelineEntry(
                event_id=e.event_id,
                event_type=e.event_type,
                producer=e.producer,
                recipients=e.recipients,
                created_at_ms=e.created_at_ms,
                direction=e.direction,
                status=e.str_field("status") if update else None,
                previous_status=e.str_field("previous_status") if update else None,
                transition_reason=e.str_field("transition_reason") if update else None,
                next_due_ms=e.int_field("next_due_at") if update else None,
                next_step_owner=e.str_field("next_step_owner") if update else None,
                withheld=e.withheld,
                acknowledgements=tuple(acks.get(e.event_id, ())),
                summary=dict(e.summary),
                transition=kinds.get(e.event_id) or None,
                follow_up_number=follow_up_of(e),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class CaseState:
    """What one node can tell of a case from the events it holds.

    Attributes:
        status: the latest status recorded by any country (or derived here:
            RETRAFFICKING_SUSPECTED after a new referral); None: no status yet.
        status_by_country: each country's latest status.
        handover: the event that records the handover (a case update
            HANDED_OVER, or a handover notice with status HANDED_OVER), if any.
        handed_over_ms: when the person was handed over.
        handover_parties: the countries of that handover.
        new_referrals: referrals of the case created after the handover, and
            match follow-ups of the person (each points to re-trafficking).
        receiving_country: the country the person is returned to
            (:func:`receiving_country`), None when not known.
        latest_update: the last case update (by changed_at).
    """

    case_key: str
    countries: tuple[str, ...]
    status: str | None
    status_by_country: Mapping[str, str]
    handover: CaseEvent | None
    handed_over_ms: int | None
    handover_parties: tuple[str, ...]
    new_referrals: tuple[CaseEvent, ...]
    latest_update: CaseEvent | None
    last_event_ms: int
    receiving_country: str | None = None


def _retrafficked_at(event: CaseEvent) -> int | None:
    """When ``event`` says the person was re-trafficked (an update or an alert), or None."""
    if event.event_type == CASE_UPDATE and (
        event.str_field("status") == CaseStatus.RETRAFFICKING_SUSPECTED
    ):
        return event.changed_at_ms
    if event.event_type == CASE_ALERT and event.str_field("kind") == "RETRAFFICKING_SUSPECTED":
        return event.int_field("detected_at") or event.created_at_ms
    return None


def _handover(events: Sequence[CaseEvent]) -> CaseEvent | None:
    """The event recording the handover the follow-ups count from (docs/protocol.md 14.3).

    The first HANDED_OVER (a case update, or a handover notice or an
    acknowledgement with that status) of the case's current cycle. A cycle
    ends when the person is seen again after its handover: a re-trafficking
    recorded (an update or an alert), a new referral of the case or a match
    follow-up of the person (14.6); the first HANDED_OVER after that starts
    the next. Without a later one, the
    cycle's handover stays (and the sighting shows as re-trafficking).
    """
    candidates = sorted(
        (
            e
            for e in events
            if (e.event_type == CASE_UPDATE and e.str_field("status") == CaseStatus.HANDED_OVER)
            or (
                e.event_type in (HANDOVER_NOTICE, ACKNOWLEDGEMENT)
                and e.str_field("status") == "HANDED_OVER"
            )
        ),
        key=lambda e: (e.changed_at_ms, e.event_id),
    )
    if not candidates:
        return None
    seen_again = sorted(
        {at for e in events if (at := _retrafficked_at(e)) is not None}
        | {e.created_at_ms for e in events if e.event_type in SIGHTINGS}
    )
    current = candidates[0]
    for at in seen_again:
        if at <= current.changed_at_ms:
            continue  # before this cycle's handover: the case's own referral, or an earlier cycle
        following = [e for e in candidates if e.changed_at_ms > at]
        if not following:
            break
        current = following[0]
    return current


def receiving_country(events: Sequence[CaseEvent], handover: CaseEvent | None = None) -> str | None:
    """The country the person of the case is returned to: the one that received its referral.

    The referral of the handover's cycle (docs/protocol.md 14.3): the last one
    made by ``handover``'s time, else the case's first; of several recipients,
    the one that is a party to the handover (else the first). Without a
    referral held, the recipient of the first handover notice. None when
    neither is held.

    Args:
        events: the case's events (any order).
        handover: the event recording the handover of the current cycle
            (:attr:`CaseState.handover`), if any.
    """
    referrals = _ordered(e for e in events if e.event_type == REFERRAL and e.recipients)
    if referrals:
        referral = referrals[0]
        if handover is not None:
            by_then = [r for r in referrals if r.created_at_ms <= handover.changed_at_ms]
            referral = by_then[-1] if by_then else referral
            parties = {handover.producer, *handover.recipients}
            for recipient in referral.recipients:
                if recipient in parties and recipient != referral.producer:
                    return recipient
        return referral.recipients[0]
    notices = _ordered(e for e in events if e.event_type == HANDOVER_NOTICE and e.recipients)
    return notices[0].recipients[0] if notices else None


def case_state(case_key: str, events: Sequence[CaseEvent], country: str) -> CaseState:
    """The state of one case as ``country``'s node sees it from ``events``."""
    ordered = _ordered(events)
    updates = _updates(ordered)
    by_country: dict[str, tuple[int, str]] = {}
    for u in updates:
        by_country[u.producer] = (u.changed_at_ms, str(u.str_field("status")))
    # A re-trafficking alert received says so of its producer's side.
    for e in ordered:
        if e.event_type == CASE_ALERT and e.str_field("kind") == "RETRAFFICKING_SUSPECTED":
            at = e.int_field("detected_at") or e.created_at_ms
            if at >= by_country.get(e.producer, (-1, ""))[0]:
                by_country[e.producer] = (at, CaseStatus.RETRAFFICKING_SUSPECTED.value)
    handover = _handover(ordered)
    handed_over = handover.changed_at_ms if handover is not None else None
    new_referrals: tuple[CaseEvent, ...] = ()
    if handed_over is not None:
        new_referrals = tuple(
            e for e in ordered if e.event_type in SIGHTINGS and e.created_at_ms > handed_over
        )
    if new_referrals:  # noticed here: this node's own view says so, until it records otherwise
        noticed = new_referrals[0].created_at_ms
        if noticed >= by_country.get(country, (-1, ""))[0]:
            by_country[country] = (noticed, CaseStatus.RETRAFFICKING_SUSPECTED.value)
    latest = max(by_country.values(), default=None)
    parties: tuple[str, ...] = ()
    if handover is not None:
        parties = tuple(sorted({handover.producer, *handover.recipients}))
    countries = sorted({c for e in ordered for c in (e.producer, *e.recipients)})
    return CaseState(
        case_key=case_key,
        countries=tuple(countries),
        status=latest[1] if latest is not None else None,
        status_by_country={c: s for c, (_, s) in sorted(by_country.items())},
        handover=handover,
        handed_over_ms=handed_over,
        handover_parties=parties,
        new_referrals=new_referrals,
        latest_update=updates[-1] if updates else None,
        last_event_ms=max((e.created_at_ms for e in ordered), default=0),
        receiving_country=receiving_country(ordered, handover),
    )
