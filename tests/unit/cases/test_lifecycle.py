"""The case statuses, their order and the transition rule (docs/protocol.md 14.1, 14.2)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.cases import (
    DEFAULT_FOLLOW_UP_MONTHS,
    ORDER,
    CaseStatus,
    Transition,
    TransitionKind,
    TransitionReason,
    add_months,
    check_follow_up_months,
    check_transition,
    follow_up_due_times,
)
from hub.errors import Reason, RequestError
from hub.wire import EventType

S = CaseStatus


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def _path(follow_ups: int = 3) -> list[tuple[CaseStatus, int | None]]:
    """The whole order, follow-up pairs unrolled."""
    steps: list[tuple[CaseStatus, int | None]] = [
        (s, None) for s in ORDER[: ORDER.index(S.IN_REINTEGRATION) + 1]
    ]
    for n in range(1, follow_ups + 1):
        steps += [(S.FOLLOW_UP_DUE, n), (S.FOLLOW_UP_DONE, n)]
    return [*steps, (S.CLOSED, None)]


def test_the_statuses_are_the_avro_enum_in_the_same_order() -> None:
    assert tuple(s.value for s in CaseStatus) == EventType.CASE_UPDATE.symbols("status")
    assert EventType.CASE_ALERT.symbols("case_status") == EventType.CASE_UPDATE.symbols("status")
    assert tuple(r.value for r in TransitionReason) == EventType.CASE_UPDATE.symbols(
        "transition_reason"
    )
    assert DEFAULT_FOLLOW_UP_MONTHS == (3, 6, 12)


def test_every_step_of_the_order_is_next_and_needs_no_reason() -> None:
    path = _path()
    first = check_transition(None, path[0][0], None)
    assert first.kind is TransitionKind.FIRST
    for (old, old_n), (new, new_n) in itertools.pairwise(path):
        t = check_transition(old, new, None, previous_follow_up=old_n, follow_up=new_n)
        assert t.kind is TransitionKind.NEXT, (old, old_n, new, new_n)
        assert t.follow_up_number == new_n


def test_follow_up_numbers_are_inferred_when_not_given() -> None:
    t = check_transition(S.FOLLOW_UP_DONE, S.FOLLOW_UP_DUE, None, previous_follow_up=1)
    assert (t.kind, t.follow_up_number) == (TransitionKind.NEXT, 2)
    t = check_transition(S.FOLLOW_UP_DUE, S.FOLLOW_UP_DONE, None, previous_follow_up=2)
    assert (t.kind, t.follow_up_number) == (TransitionKind.NEXT, 2)
    t = check_transition(S.IN_REINTEGRATION, S.FOLLOW_UP_DUE, None)
    assert (t.kind, t.follow_up_number) == (TransitionKind.NEXT, 1)


def test_a_skip_without_a_reason_is_refused_and_says_what_was_expected() -> None:
    with pytest.raises(RequestError) as err:
        check_transition(S.REFERRED, S.HANDED_OVER, None)
    assert err.value.reason is Reason.TRANSITION_REASON_REQUIRED
    assert "skip change from REFERRED to HANDED_OVER" in err.value.detail
    t = check_transition(S.REFERRED, S.HANDED_OVER, "STEP_NOT_APPLICABLE")
    assert (t.kind, t.reason) == (TransitionKind.SKIP, TransitionReason.STEP_NOT_APPLICABLE)


def test_closing_before_the_last_follow_up_is_a_skip() -> None:
    with pytest.raises(RequestError) as err:
        check_transition(S.FOLLOW_UP_DONE, S.CLOSED, None, previous_follow_up=1)
    assert err.value.reason is Reason.TRANSITION_REASON_REQUIRED
    # With a two-visit schedule from the agreement, the second visit is the last.
    t = check_transition(S.FOLLOW_UP_DONE, S.CLOSED, None, previous_follow_up=2, follow_ups=2)
    assert t.kind is TransitionKind.NEXT


def test_going_backwards_needs_a_reason() -> None:
    with pytest.raises(RequestError) as err:
        check_transition(S.HANDOVER_SCHEDULED, S.ACCEPTED, None)
    assert err.value.reason is Reason.TRANSITION_REASON_REQUIRED
    assert "backward" in err.value.detail
    t = check_transition(S.HANDOVER_SCHEDULED, S.ACCEPTED, TransitionReason.HANDOVER_POSTPONED)
    assert t.kind is TransitionKind.BACKWARD
    with pytest.raises(RequestError):  # an earlier follow-up again
        check_transition(S.FOLLOW_UP_DUE, S.FOLLOW_UP_DUE, None, previous_follow_up=2, follow_up=1)


def test_retrafficking_from_the_handover_on_needs_no_reason_and_a_new_start_follows() -> None:
    for old in (S.HANDED_OVER, S.IN_REINTEGRATION, S.FOLLOW_UP_DONE, S.CLOSED):
        t = check_transition(old, S.RETRAFFICKING_SUSPECTED, None)
        assert t.kind is TransitionKind.RETRAFFICKING
    with pytest.raises(RequestError):  # not handed over yet: not re-trafficking
        check_transition(S.ACCEPTED, S.RETRAFFICKING_SUSPECTED, None)
    for new in (S.IDENTIFIED, S.REFERRED):
        again = check_transition(S.RETRAFFICKING_SUSPECTED, new, None)
        assert again.kind is TransitionKind.REOPENED
    with pytest.raises(RequestError):
        check_transition(S.RETRAFFICKING_SUSPECTED, S.CLOSED, None)
    closed = check_transition(S.RETRAFFICKING_SUSPECTED, S.CLOSED, "OTHER")
    assert closed.kind is TransitionKind.SKIP


def test_the_same_status_again_is_allowed() -> None:
    assert check_transition(S.ACCEPTED, S.ACCEPTED, None).kind is TransitionKind.SAME


def test_a_status_or_reason_that_is_not_one_is_a_bad_request() -> None:
    bad = [("REFERRED", "LOST", None), ("NOPE", "REFERRED", None), ("REFERRED", "ACCEPTED", "X")]
    for args in bad:
        with pytest.raises(RequestError) as err:
            check_transition(*args)
        assert err.value.reason is Reason.BAD_REQUEST
    with pytest.raises(RequestError):
        check_transition(S.IN_REINTEGRATION, S.FOLLOW_UP_DUE, None, follow_up=13)


def test_calendar_months_clamp_to_the_end_of_the_month() -> None:
    assert add_months(_ms("2026-01-31T10:30:00"), 1) == _ms("2026-02-28T10:30:00")
    assert add_months(_ms("2027-11-30T00:00:00"), 3) == _ms("2028-02-29T00:00:00")
    assert add_months(_ms("2026-01-07T12:00:00.123"), 12) == _ms("2027-01-07T12:00:00.123")


def test_the_follow_ups_are_due_3_6_and_12_months_after_the_handover() -> None:
    handed = _ms("2026-01-07T09:00:00")
    assert follow_up_due_times(handed) == (
        _ms("2026-04-07T09:00:00"),
        _ms("2026-07-07T09:00:00"),
        _ms("2027-01-07T09:00:00"),
    )
    assert follow_up_due_times(handed, (1, 2)) == (
        _ms("2026-02-07T09:00:00"),
        _ms("2026-03-07T09:00:00"),
    )


@pytest.mark.parametrize("months", [(), (3, 3), (6, 3), (0, 3), (121,), tuple(range(1, 14))])
def test_a_schedule_that_is_not_one_is_refused(months: tuple[int, ...]) -> None:
    with pytest.raises(RequestError) as err:
        check_follow_up_months(months)
    assert err.value.reason is Reason.BAD_REQUEST


# --- the property: a change needs a reason exactly when it skips or goes back -------

_RANK_FREE = [s for s in ORDER if s is not S.RETRAFFICKING_SUSPECTED]


def _rank(status: CaseStatus, number: int | None, follow_ups: int) -> int:
    """The order written out as a list, independently of the module's arithmetic."""
    path = _path(follow_ups)
    return path.index((status, number if status in (S.FOLLOW_UP_DUE, S.FOLLOW_UP_DONE) else None))


@settings(max_examples=400, deadline=None)  # a loaded CI machine: no per-example deadline
@given(
    old=st.sampled_from(_RANK_FREE),
    new=st.sampled_from(_RANK_FREE),
    old_n=st.integers(1, 3),
    new_n=st.integers(1, 3),
    reason=st.sampled_from([None, *TransitionReason]),
)
def test_property_a_reason_is_needed_exactly_for_a_skip_or_a_step_back(
    old: CaseStatus, new: CaseStatus, old_n: int, new_n: int, reason: TransitionReason | None
) -> None:
    before, after = _rank(old, old_n, 3), _rank(new, new_n, 3)
    needs = after > before + 1 or after < before
    follow = (S.FOLLOW_UP_DUE, S.FOLLOW_UP_DONE)

    def change() -> Transition:
        return check_transition(
            old,
            new,
            reason,
            previous_follow_up=old_n if old in follow else None,
            follow_up=new_n if new in follow else None,
        )

    if needs and reason is None:
        with pytest.raises(RequestError) as err:
            change()
        assert err.value.reason is Reason.TRANSITION_REASON_REQUIRED
        return
    t = change()
    assert t.kind.needs_reason == needs
    expected = (
        TransitionKind.SAME
        if after == before
        else TransitionKind.NEXT
        if after == before + 1
        else TransitionKind.SKIP
        if after > before
        else TransitionKind.BACKWARD
    )
    assert t.kind is expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(CaseStatus)), min_size=1, max_size=12))
def test_property_with_a_reason_every_sequence_is_accepted_and_classified(
    statuses: list[CaseStatus],
) -> None:
    previous: CaseStatus | None = None
    number: int | None = None
    for status in statuses:
        t = check_transition(previous, status, "OTHER", previous_follow_up=number)
        assert t.new is status
        assert (t.kind is TransitionKind.FIRST) == (previous is None)
        if t.kind is TransitionKind.RETRAFFICKING:
            assert previous is not None
            assert ORDER.index(previous) >= ORDER.index(S.HANDED_OVER)
        previous, number = status, t.follow_up_number
