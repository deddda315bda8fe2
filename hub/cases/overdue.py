"""What a case is waiting for, and what is overdue (pure; ``now`` passed in).

Three kinds of step can be late (docs/protocol.md 14.5), each owned by one
country:

``OVERDUE_ACKNOWLEDGEMENT``  an event of a type registered as awaiting an
                             acknowledgement (a handover notice) that the
                             recipient has not acknowledged by its due time:
                             :func:`acknowledgement_due_at`, the one rule the
                             desk and the node both use;
``FOLLOW_UP_OVERDUE``        a follow-up (3, 6 and 12 calendar months after
                             the handover unless the agreement says otherwise)
                             with no reintegration report or FOLLOW_UP_DONE
                             update by its due date;
``NEXT_STEP_OVERDUE``        a case update's ``next_due_at`` passed with no
                             later update or report of the case.

And one that is not a deadline but is raised the same way:
``RETRAFFICKING_SUSPECTED``, a new referral of the case after the handover,
owned by the other country of that handover (it must be told).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Any, Final, Protocol

from hub.wire import EventType

from .lifecycle import DEFAULT_FOLLOW_UP_MONTHS, CaseStatus, follow_up_due_times
from .timeline import (
    ACKNOWLEDGEMENT,
    CASE_ALERT,
    CASE_UPDATE,
    RECEIVED,
    REINTEGRATION_REPORT,
    CaseEvent,
    CaseState,
    CaseSummary,
    case_state,
    follow_up_done,
)

__all__ = [
    "DEFAULT_ACK_DEADLINE_MS",
    "AlertKind",
    "FollowUp",
    "OverdueItem",
    "acknowledgement_due_at",
    "alerts",
    "case_schedule",
    "due_at",
    "follow_ups",
    "open_steps",
    "summarise",
]

#: How long a recipient has to acknowledge an event awaiting it, unless told otherwise.
DEFAULT_ACK_DEADLINE_MS: Final = 24 * 3600 * 1000
_CLOSED: Final = frozenset({CaseStatus.CLOSED.value, CaseStatus.RETRAFFICKING_SUSPECTED.value})


@unique
class AlertKind(StrEnum):
    """What a ``case_alert`` is about (the Avro enum ``CaseAlertKind``)."""

    OVERDUE_ACKNOWLEDGEMENT = "OVERDUE_ACKNOWLEDGEMENT"
    FOLLOW_UP_OVERDUE = "FOLLOW_UP_OVERDUE"
    NEXT_STEP_OVERDUE = "NEXT_STEP_OVERDUE"
    RETRAFFICKING_SUSPECTED = "RETRAFFICKING_SUSPECTED"


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """One step of a case that is (or will be) late, and who owns it (contract D of issue 15).

    Attributes:
        kind: an :class:`AlertKind` value.
        event_id: the event the step is about (the notice awaiting an
            acknowledgement, the handover a follow-up counts from, the update
            that named the due time, the new referral).
        due_at_ms: when the step was due.
        owner: the country that owns the step.
        message: what is late, in words; never personal data.
        follow_up_number: for FOLLOW_UP_OVERDUE, which follow-up.
    """

    case_key: str
    kind: str
    event_id: str
    due_at_ms: int
    owner: str
    message: str
    follow_up_number: int | None = None

    @property
    def key(self) -> str:
        """What makes the item one (an alert is sent once per key)."""
        number = "" if self.follow_up_number is None else f"#{self.follow_up_number}"
        return f"{self.kind}:{self.case_key}:{self.event_id}{number}:{self.owner}"

    def to_json(self) -> dict[str, Any]:
        return {
            "case_key": self.case_key,
            "kind": self.kind,
            "event_id": self.event_id,
            "due_at_ms": self.due_at_ms,
            "owner": self.owner,
            "message": self.message,
            "follow_up_number": self.follow_up_number,
        }


def due_at(created_at_ms: int, deadline_ms: int, due_value: Any) -> int:
    """An acknowledgement's due time: ``created_at + deadline``, or the due field if earlier.

    ``due_value`` is the registered due field's value (a handover's
    ``planned_at``, ms since the epoch): a handover must not happen unannounced.
    """
    due = created_at_ms + deadline_ms
    if isinstance(due_value, int) and not isinstance(due_value, bool) and due_value < due:
        due = due_value
    return due


def acknowledgement_due_at(
    event_type: str,
    created_at_ms: int,
    fields: Mapping[str, Any],
    deadline_ms: int = DEFAULT_ACK_DEADLINE_MS,
) -> int | None:
    """When an event of ``event_type`` must be acknowledged; None when it awaits none.

    The types awaiting an acknowledgement and their due fields are the
    registered ones (``hub/wire/eventtypes.py``).
    """
    if event_type not in EventType:
        return None
    spec = EventType(event_type).spec
    if not spec.awaits_acknowledgement:
        return None
    value = fields.get(spec.due_field) if spec.due_field else None
    return due_at(created_at_ms, deadline_ms, value)


def _day(ms: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d")
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms"


def _title(event_type: str) -> str:
    return EventType(event_type).spec.title if event_type in EventType else event_type


def _acknowledgement_steps(
    case_key: str, events: Sequence[CaseEvent], country: str, deadline_ms: int
) -> list[OverdueItem]:
    acked: dict[str, set[str]] = {}
    for e in events:
        if e.event_type == ACKNOWLEDGEMENT and e.acknowledged is not None:
            acked.setdefault(e.acknowledged, set()).add(e.producer)
    steps: list[OverdueItem] = []
    for e in events:
        due = acknowledgement_due_at(e.event_type, e.created_at_ms, e.fields, deadline_ms)
        if due is None:
            continue
        done = acked.get(e.event_id, set())
        if e.direction == RECEIVED:
            owners = [] if country in done else [country]
        else:
            owners = [r for r in e.recipients if r not in done]
        steps.extend(
            OverdueItem(
                case_key,
                AlertKind.OVERDUE_ACKNOWLEDGEMENT.value,
                e.event_id,
                due,
                owner,
                f"{_title(e.event_type)} from {e.producer} not acknowledged by {owner} "
                f"(due {_day(due)})",
            )
            for owner in owners
        )
    return steps


_REINTEGRATION_STEPS: Final = frozenset(
    {
        CaseStatus.HANDED_OVER.value,
        CaseStatus.IN_REINTEGRATION.value,
        CaseStatus.FOLLOW_UP_DUE.value,
        CaseStatus.FOLLOW_UP_DONE.value,
    }
)


def _follow_up_owner(state: CaseState, events: Sequence[CaseEvent]) -> str | None:
    """Who owns the follow-ups (docs/protocol.md 14.3).

    The ``next_step_owner`` of the latest update from the handover on (HANDED_OVER,
    IN_REINTEGRATION, FOLLOW_UP_DUE/DONE) that names one; else the country the
    person was returned to (:func:`receiving_country`). Never merely the
    recipient of the update that recorded the handover: the reintegrating
    country may record it itself, to the country that handed the person over.
    """
    since = state.handed_over_ms if state.handed_over_ms is not None else 0
    named = [
        e
        for e in events
        if e.event_type == CASE_UPDATE
        and e.str_field("status") in _REINTEGRATION_STEPS
        and e.str_field("next_step_owner")
        and e.changed_at_ms >= since  # not one of an earlier cycle
    ]
    if named:
        latest = max(named, key=lambda e: (e.changed_at_ms, e.created_at_ms, e.event_id))
        return latest.str_field("next_step_owner")
    return state.receiving_country


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One scheduled follow-up of a case's current cycle (docs/protocol.md 14.3).

    Attributes:
        number: 1 for the first of the schedule.
        months: months after the handover.
        due_at_ms: when it is due.
        done_at_ms: when the earliest report of it says the visit was made (a
            report's ``visited_at``, an update's ``changed_at``); None: not reported.
    """

    number: int
    months: int
    due_at_ms: int
    done_at_ms: int | None


def _done_at(event: CaseEvent) -> int:
    """When a report of a follow-up says it was done: the visit, or the status change."""
    if event.event_type == REINTEGRATION_REPORT:
        visited = event.int_field("visited_at")
        return visited if visited is not None else event.created_at_ms
    return event.changed_at_ms


class Schedules(Protocol):
    """What a follow-up schedule is read from: an agreement (``hub.policy.Agreement``)."""

    @property
    def id(self) -> str: ...

    @property
    def version(self) -> int: ...

    def follow_up_months(self, a: str, b: str) -> tuple[int, ...] | None: ...


def case_schedule(
    state: CaseState,
    country: str,
    agreements: Iterable[Schedules],
    default: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS,
) -> tuple[int, ...]:
    """A case's follow-up schedule (14.3): its handover's agreement's, else ``default``.

    The agreement between ``country`` and the other party of the handover (or,
    before one, any other country of the case) that sets ``case_follow_up_months``;
    of several, the first by id and the newest version. The desk's case book and
    the statistics both read it here.
    """
    parties = state.handover_parties or state.countries
    others = [c for c in parties if c != country]
    for agreement in sorted(agreements, key=lambda a: (a.id, -a.version)):
        for other in others:
            months = agreement.follow_up_months(country, other)
            if months is not None:
                return months
    return tuple(default)


def follow_ups(
    state: CaseState, events: Sequence[CaseEvent], months: Sequence[int]
) -> list[FollowUp]:
    """The follow-ups of the case's current cycle, scheduled from its handover (14.3).

    The one rule the desk (overdue steps) and the statistics (``followups``)
    both read. A report counts when it was made after the handover happened
    (its creation at or after the handover's ``changed_at``: a visit reported
    before a late record of the handover counts; a report of an earlier
    cycle does not); :func:`follow_up_done` says which follow-up it reports
    (an extra visit reports none). Empty before a handover.
    """
    if state.handed_over_ms is None:
        return []
    done: dict[int, int] = {}
    for e in events:
        if e.created_at_ms < state.handed_over_ms:
            continue  # a report of an earlier cycle (before a re-trafficking and a new handover)
        number = follow_up_done(e)
        if number is not None:
            done[number] = min(done.get(number, _done_at(e)), _done_at(e))
    return [
        FollowUp(number, count, due, done.get(number))
        for number, (count, due) in enumerate(
            zip(months, follow_up_due_times(state.handed_over_ms, months), strict=True), start=1
        )
    ]


def _follow_up_steps(
    state: CaseState, events: Sequence[CaseEvent], months: Sequence[int]
) -> list[OverdueItem]:
    if state.handover is None or state.handed_over_ms is None or state.status in _CLOSED:
        return []
    owner = _follow_up_owner(state, events)
    if owner is None:
        return []
    steps = []
    for f in follow_ups(state, events, months):
        number, count, due = f.number, f.months, f.due_at_ms
        if f.done_at_ms is not None:
            continue
        steps.append(
            OverdueItem(
                state.case_key,
                AlertKind.FOLLOW_UP_OVERDUE.value,
                state.handover.event_id,
                due,
                owner,
                f"follow-up {number} ({count} months after the handover) not reported by "
                f"{owner} (due {_day(due)})",
                follow_up_number=number,
            )
        )
    return steps


def _next_step(state: CaseState, events: Sequence[CaseEvent]) -> list[OverdueItem]:
    latest = state.latest_update
    if latest is None or latest.str_field("status") == CaseStatus.CLOSED:
        return []
    due = latest.int_field("next_due_at")
    if due is None:
        return []
    later = [
        e
        for e in events
        if e.event_type in (CASE_UPDATE, REINTEGRATION_REPORT)
        and e.event_id != latest.event_id
        and e.created_at_ms > latest.created_at_ms
    ]
    if later:
        return []
    owner = latest.str_field("next_step_owner") or latest.producer
    return [
        OverdueItem(
            state.case_key,
            AlertKind.NEXT_STEP_OVERDUE.value,
            latest.event_id,
            due,
            owner,
            f"next step after {latest.str_field('status')} not recorded by {owner} "
            f"(due {_day(due)})",
        )
    ]


def _retrafficking(
    state: CaseState, events: Sequence[CaseEvent], country: str
) -> list[OverdueItem]:
    """A new referral after the handover: the other country of the handover must be told."""
    told = {
        e.str_field("about_event_id")
        for e in events
        if e.event_type == CASE_ALERT
        and e.str_field("kind") == AlertKind.RETRAFFICKING_SUSPECTED
        and e.direction == RECEIVED
    }
    others = [c for c in state.handover_parties if c != country]
    return [
        OverdueItem(
            state.case_key,
            AlertKind.RETRAFFICKING_SUSPECTED.value,
            referral.event_id,
            referral.created_at_ms,
            other,
            f"a new {_title(referral.event_type)} from {referral.producer} after the handover "
            f"of {_day(state.handed_over_ms or 0)}: re-trafficking suspected",
        )
        for referral in state.new_referrals
        if referral.event_id not in told
        for other in others
    ]


def open_steps(
    state: CaseState,
    events: Sequence[CaseEvent],
    country: str,
    *,
    follow_up_months: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS,
    ack_deadline_ms: int = DEFAULT_ACK_DEADLINE_MS,
) -> list[OverdueItem]:
    """Every step of the case still awaited, due or not, soonest due first (no re-trafficking)."""
    steps = _acknowledgement_steps(state.case_key, events, country, ack_deadline_ms)
    follow_ups = _follow_up_steps(state, events, follow_up_months)
    steps.extend(follow_ups)
    same = {(s.due_at_ms, s.owner) for s in follow_ups}
    steps.extend(s for s in _next_step(state, events) if (s.due_at_ms, s.owner) not in same)
    return sorted(steps, key=lambda s: (s.due_at_ms, s.kind, s.event_id, s.owner))


def alerts(
    case_key: str,
    events: Sequence[CaseEvent],
    country: str,
    now_ms: int,
    *,
    follow_up_months: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS,
    ack_deadline_ms: int = DEFAULT_ACK_DEADLINE_MS,
) -> list[OverdueItem]:
    """What ``country``'s desk must be told of one case now: overdue steps and re-trafficking."""
    state = case_state(case_key, events, country)
    late = [
        s
        for s in open_steps(
            state,
            events,
            country,
            follow_up_months=follow_up_months,
            ack_deadline_ms=ack_deadline_ms,
        )
        if now_ms >= s.due_at_ms
    ]
    late.extend(_retrafficking(state, events, country))
    return sorted(late, key=lambda s: (s.due_at_ms, s.kind, s.event_id, s.owner))


def summarise(
    state: CaseState,
    events: Sequence[CaseEvent],
    country: str,
    now_ms: int,
    *,
    follow_up_months: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS,
    ack_deadline_ms: int = DEFAULT_ACK_DEADLINE_MS,
) -> CaseSummary:
    """The case as a list of cases shows it: status, the next due step and its owner."""
    steps = open_steps(
        state, events, country, follow_up_months=follow_up_months, ack_deadline_ms=ack_deadline_ms
    )
    first = steps[0] if steps else None
    latest = state.latest_update
    owner = first.owner if first is not None else None
    if owner is None and latest is not None:
        owner = latest.str_field("next_step_owner")
    return CaseSummary(
        case_key=state.case_key,
        countries=state.countries,
        status=state.status,
        status_by_country=state.status_by_country,
        next_due_ms=first.due_at_ms if first is not None else None,
        next_step_owner=owner,
        overdue=first is not None and now_ms >= first.due_at_ms,
        last_event_ms=state.last_event_ms,
    )
