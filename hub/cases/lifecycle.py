"""A case's statuses, their order, and the rule for changing one (docs/protocol.md 14).

The statuses run in one order::

    IDENTIFIED -> REFERRED -> ACCEPTED -> HANDOVER_SCHEDULED -> HANDED_OVER
      -> IN_REINTEGRATION -> (FOLLOW_UP_DUE n -> FOLLOW_UP_DONE n) for n = 1..N -> CLOSED

with one follow-up pair per scheduled follow-up (N of them: 3, 6 and 12
calendar months after HANDED_OVER unless the agreement says otherwise), and
RETRAFFICKING_SUSPECTED outside the order: from HANDED_OVER or later it may be
recorded at any time; after it the case starts again at IDENTIFIED or REFERRED.

:func:`check_transition` classifies a change. The next step, the same status
again, the first status of a case, re-trafficking and a new start after it
need nothing more; a change that skips a step or goes backwards needs a
:class:`TransitionReason`, and without one it is refused
(TRANSITION_REASON_REQUIRED). Pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Final

from hub.errors import Reason, RequestError

__all__ = [
    "DEFAULT_FOLLOW_UP_MONTHS",
    "FOLLOW_UP_STATUSES",
    "ORDER",
    "CaseStatus",
    "Transition",
    "TransitionKind",
    "TransitionReason",
    "add_months",
    "check_follow_up_months",
    "check_transition",
    "follow_up_due_times",
    "is_status",
]


@unique
class CaseStatus(StrEnum):
    """Where a case stands as one country sees it (the Avro enum ``CaseStatus``, same order)."""

    IDENTIFIED = "IDENTIFIED"
    REFERRED = "REFERRED"
    ACCEPTED = "ACCEPTED"
    HANDOVER_SCHEDULED = "HANDOVER_SCHEDULED"
    HANDED_OVER = "HANDED_OVER"
    IN_REINTEGRATION = "IN_REINTEGRATION"
    FOLLOW_UP_DUE = "FOLLOW_UP_DUE"
    FOLLOW_UP_DONE = "FOLLOW_UP_DONE"
    CLOSED = "CLOSED"
    RETRAFFICKING_SUSPECTED = "RETRAFFICKING_SUSPECTED"


@unique
class TransitionReason(StrEnum):
    """Why a status change skips a step or goes backwards (the Avro enum ``TransitionReason``)."""

    STEP_NOT_APPLICABLE = "STEP_NOT_APPLICABLE"  # e.g. no handover: the person stayed
    RECORDED_IN_ERROR = "RECORDED_IN_ERROR"  # the earlier status was wrong
    NEW_INFORMATION = "NEW_INFORMATION"  # facts changed, the case goes back a step
    HANDOVER_POSTPONED = "HANDOVER_POSTPONED"
    HANDOVER_CANCELLED = "HANDOVER_CANCELLED"
    PERSON_DECLINED_SERVICES = "PERSON_DECLINED_SERVICES"
    PERSON_UNREACHABLE = "PERSON_UNREACHABLE"
    PERSON_RELOCATED = "PERSON_RELOCATED"
    PERSON_DECEASED = "PERSON_DECEASED"
    CASE_TRANSFERRED = "CASE_TRANSFERRED"
    OTHER = "OTHER"


@unique
class TransitionKind(StrEnum):
    """What a status change is, relative to the status before it."""

    FIRST = "FIRST"  # the case's first status as this country records it
    NEXT = "NEXT"  # the next step of the order
    SAME = "SAME"  # the same status again (e.g. a new due date)
    SKIP = "SKIP"  # forward past one or more steps: needs a reason
    BACKWARD = "BACKWARD"  # to an earlier step: needs a reason
    RETRAFFICKING = "RETRAFFICKING"  # RETRAFFICKING_SUSPECTED from HANDED_OVER or later
    REOPENED = "REOPENED"  # IDENTIFIED or REFERRED after RETRAFFICKING_SUSPECTED

    @property
    def needs_reason(self) -> bool:
        return self in (TransitionKind.SKIP, TransitionKind.BACKWARD)


#: The statuses in order (RETRAFFICKING_SUSPECTED, outside the order, last).
ORDER: Final = tuple(CaseStatus)
FOLLOW_UP_STATUSES: Final = frozenset({CaseStatus.FOLLOW_UP_DUE, CaseStatus.FOLLOW_UP_DONE})
#: Follow-ups after HANDED_OVER, in calendar months, when no agreement names others.
DEFAULT_FOLLOW_UP_MONTHS: tuple[int, ...] = (3, 6, 12)
MAX_FOLLOW_UP_MONTHS: Final = 120
_HANDED_OVER_RANK: Final = ORDER.index(CaseStatus.HANDED_OVER)
_REINTEGRATION_RANK: Final = ORDER.index(CaseStatus.IN_REINTEGRATION)
_RESTART: Final = frozenset({CaseStatus.IDENTIFIED, CaseStatus.REFERRED})
_DAY_MS: Final = 86_400_000
_EPOCH: Final = dt.date(1970, 1, 1)


_STATUS_VALUES: Final = frozenset(s.value for s in CaseStatus)


def is_status(value: object) -> bool:
    """Whether ``value`` is a status's name (a string from another country may be anything)."""
    return isinstance(value, str) and value in _STATUS_VALUES


@dataclass(frozen=True, slots=True)
class Transition:
    """One classified status change (what :func:`check_transition` returns)."""

    kind: TransitionKind
    previous: CaseStatus | None
    new: CaseStatus
    reason: TransitionReason | None
    follow_up_number: int | None  # the new status's, for FOLLOW_UP_DUE / FOLLOW_UP_DONE


def check_follow_up_months(months: Sequence[int], where: str = "follow-up schedule") -> None:
    """A schedule is 1..12 strictly increasing month counts, each 1..120.

    Raises:
        RequestError: BAD_REQUEST saying what was expected.
    """
    ok = (
        0 < len(months) <= 12
        and all(isinstance(m, int) and 1 <= m <= MAX_FOLLOW_UP_MONTHS for m in months)
        and all(a < b for a, b in itertools.pairwise(months))
    )
    if not ok:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"{where}: expected 1 to 12 strictly increasing month counts between 1 and "
            f"{MAX_FOLLOW_UP_MONTHS}, got {list(months)[:13]}",
        )


def add_months(at_ms: int, months: int) -> int:
    """``at_ms`` moved ``months`` calendar months later (UTC), the day clamped to the month's end.

    31 January + 1 month is 28 (or 29) February, at the same time of day.
    """
    day, time_of_day = divmod(at_ms, _DAY_MS)
    date = _EPOCH + dt.timedelta(days=day)
    month_index = date.month - 1 + months
    year, month = date.year + month_index // 12, month_index % 12 + 1
    moved = date.replace(
        year=year, month=month, day=min(date.day, calendar.monthrange(year, month)[1])
    )
    return (moved - _EPOCH).days * _DAY_MS + time_of_day


def follow_up_due_times(
    handed_over_ms: int, months: Sequence[int] = DEFAULT_FOLLOW_UP_MONTHS
) -> tuple[int, ...]:
    """When each follow-up (number 1, 2, ...) is due: ``months`` after the handover."""
    check_follow_up_months(months)
    return tuple(add_months(handed_over_ms, m) for m in months)


def _rank(status: CaseStatus, number: int, follow_ups: int) -> int:
    """A status's place in the order, follow-up pairs unrolled (N follow-ups)."""
    if status is CaseStatus.FOLLOW_UP_DUE:
        return _REINTEGRATION_RANK + 2 * number - 1
    if status is CaseStatus.FOLLOW_UP_DONE:
        return _REINTEGRATION_RANK + 2 * number
    if status is CaseStatus.CLOSED:
        return _REINTEGRATION_RANK + 2 * follow_ups + 1
    return ORDER.index(status)


def _number(
    status: CaseStatus,
    given: int | None,
    previous: CaseStatus | None,
    previous_number: int | None,
) -> int | None:
    """The follow-up number of a follow-up status; when not given, the one that is next."""
    if status not in FOLLOW_UP_STATUSES:
        return None
    if given is not None:
        return given
    before = previous_number or 1
    if status is CaseStatus.FOLLOW_UP_DUE and previous is CaseStatus.FOLLOW_UP_DONE:
        return before + 1
    if previous in FOLLOW_UP_STATUSES:
        return before
    return 1


def _status(value: CaseStatus | str, what: str) -> CaseStatus:
    try:
        return CaseStatus(value)
    except ValueError:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"expected {what} to be one of {', '.join(ORDER)}, got {str(value)[:40]!r}",
        ) from None


def check_transition(
    previous: CaseStatus | str | None,
    new: CaseStatus | str,
    transition_reason: TransitionReason | str | None,
    *,
    previous_follow_up: int | None = None,
    follow_up: int | None = None,
    follow_ups: int = len(DEFAULT_FOLLOW_UP_MONTHS),
) -> Transition:
    """Classify a status change; refuse a skip or a backward change that gives no reason.

    Args:
        previous: the status this country recorded last for the case (None: none yet).
        new: the status recorded now.
        transition_reason: why, for a change that skips a step or goes backwards.
        previous_follow_up: the follow-up number that went with ``previous``.
        follow_up: the follow-up number of ``new`` (FOLLOW_UP_DUE / FOLLOW_UP_DONE);
            None: the one that comes next.
        follow_ups: how many follow-ups the schedule has (CLOSED comes after the last).

    Raises:
        RequestError: TRANSITION_REASON_REQUIRED for a skip or a backward change
            without a reason; BAD_REQUEST for a status, reason or number that is
            not one.
    """
    new_status = _status(new, "the new status")
    old = None if previous is None else _status(previous, "the previous status")
    reason = None
    if transition_reason is not None:
        try:
            reason = TransitionReason(transition_reason)
        except ValueError:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a transition reason in {', '.join(TransitionReason)}, "
                f"got {str(transition_reason)[:40]!r}",
            ) from None
    for number in (previous_follow_up, follow_up):
        if number is not None and not (isinstance(number, int) and 1 <= number <= 12):
            raise RequestError(
                Reason.BAD_REQUEST, f"expected a follow-up number 1..12, got {number!r}"
            )
    number = _number(new_status, follow_up, old, previous_follow_up)
    kind = _classify(old, new_status, number, previous_follow_up, follow_ups)
    if kind.needs_reason and reason is None:
        shown_old = old.value if old is not None else "none"
        raise RequestError(
            Reason.TRANSITION_REASON_REQUIRED,
            f"expected a transition reason for a {kind.value.lower()} change from "
            f"{shown_old}{_nth(old, previous_follow_up)} to "
            f"{new_status.value}{_nth(new_status, number)}; none was given",
        )
    return Transition(kind, old, new_status, reason, number)


def _nth(status: CaseStatus | None, number: int | None) -> str:
    return f" #{number}" if status in FOLLOW_UP_STATUSES and number is not None else ""


def _classify(
    old: CaseStatus | None,
    new: CaseStatus,
    number: int | None,
    previous_number: int | None,
    follow_ups: int,
) -> TransitionKind:
    if old is None:
        return TransitionKind.FIRST
    retrafficking = CaseStatus.RETRAFFICKING_SUSPECTED
    if new is retrafficking:
        if old is retrafficking:
            return TransitionKind.SAME
        if ORDER.index(old) >= _HANDED_OVER_RANK:
            return TransitionKind.RETRAFFICKING
        return TransitionKind.SKIP
    if old is retrafficking:
        return TransitionKind.REOPENED if new in _RESTART else TransitionKind.SKIP
    old_number = _number(old, previous_number, None, None)
    span = max(follow_ups, number or 0, old_number or 0)
    before = _rank(old, old_number or 1, span)
    after = _rank(new, number or 1, span)
    if after == before:
        return TransitionKind.SAME
    if after == before + 1:
        return TransitionKind.NEXT
    return TransitionKind.SKIP if after > before else TransitionKind.BACKWARD
