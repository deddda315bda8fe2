"""A case's timeline, state and overdue steps from plain events (docs/protocol.md 14.5)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from hub.cases import (
    DEFAULT_ACK_DEADLINE_MS,
    RECEIVED,
    SENT,
    AlertKind,
    CaseEvent,
    acknowledgement_due_at,
    alerts,
    case_state,
    due_at,
    follow_up_done,
    follow_up_of,
    open_steps,
    receiving_country,
    summarise,
    timeline,
)

DAY = 86_400_000
_ids = itertools.count(1)


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def ev(
    event_type: str,
    producer: str,
    to: str,
    at: int,
    *,
    me: str = "TH",
    correlation_id: str | None = None,
    withheld: tuple[str, ...] = (),
    empty: tuple[str, ...] = (),
    **fields: Any,
) -> CaseEvent:
    return CaseEvent(
        event_id=f"019b0000-0000-7000-8000-{next(_ids):012d}",
        event_type=event_type,
        producer=producer,
        recipients=(to,),
        created_at_ms=at,
        direction=SENT if producer == me else RECEIVED,
        case_key="case-kh-1",
        fields=fields,
        correlation_id=correlation_id,
        withheld=withheld,
        empty=empty,
    )


def update(producer: str, to: str, at: int, status: str, **fields: Any) -> CaseEvent:
    return ev("case_update", producer, to, at, status=status, changed_at=at, **fields)


HANDED = _ms("2026-01-07T09:00:00")


def _returned_child() -> list[CaseEvent]:
    referral = ev("referral", "TH", "KH", HANDED - 30 * DAY, is_child=True)
    notice = ev("handover_notice", "TH", "KH", HANDED - 5 * DAY, planned_at=HANDED)
    ack = ev(
        "acknowledgement",
        "KH",
        "TH",
        HANDED - 4 * DAY,
        correlation_id=notice.event_id,
        acknowledged_event_id=notice.event_id,
        status="ACCEPTED",
        acknowledged_at=HANDED - 4 * DAY,
    )
    handed = update("TH", "KH", HANDED, "HANDED_OVER", next_step_owner="KH")
    return [referral, notice, ack, handed]


def test_the_desks_due_rule_is_created_plus_deadline_or_the_due_field_if_earlier() -> None:
    assert due_at(1000, 500, None) == 1500
    assert due_at(1000, 500, 1200) == 1200
    assert due_at(1000, 500, 9000) == 1500
    assert due_at(1000, 500, True) == 1500  # a boolean is not a time
    assert acknowledgement_due_at("handover_notice", 0, {"planned_at": 7}) == 7
    assert acknowledgement_due_at("handover_notice", 0, {}) == DEFAULT_ACK_DEADLINE_MS
    assert acknowledgement_due_at("referral", 0, {}) is None  # awaits none
    assert acknowledgement_due_at("case_update", 0, {}) is None
    assert acknowledgement_due_at("no_such_type", 0, {}) is None


def test_the_timeline_shows_every_event_with_its_acknowledgements_oldest_first() -> None:
    events = _returned_child()
    entries = timeline(list(reversed(events)))
    assert [e.event_type for e in entries] == ["referral", "handover_notice", "case_update"]
    notice = entries[1]
    assert notice.acknowledgements == (("KH", "ACCEPTED", HANDED - 4 * DAY),)
    assert [e.direction for e in entries] == ["sent", "sent", "sent"]
    assert entries[2].status == "HANDED_OVER"
    assert entries[2].next_step_owner == "KH"
    assert entries[2].to_json()["acknowledgements"] == []


def test_a_skip_shows_previous_status_new_status_and_reason_to_the_recipient() -> None:
    first = update("TH", "KH", HANDED - 9 * DAY, "ACCEPTED")
    skipped = update(
        "TH",
        "KH",
        HANDED,
        "HANDED_OVER",
        previous_status="ACCEPTED",
        transition_reason="STEP_NOT_APPLICABLE",
    )
    (_, entry) = timeline([first, skipped])
    assert (entry.previous_status, entry.status, entry.transition_reason) == (
        "ACCEPTED",
        "HANDED_OVER",
        "STEP_NOT_APPLICABLE",
    )
    assert entry.transition == "SKIP"
    assert entry.to_json()["transition"] == "SKIP"


def test_follow_ups_become_overdue_one_by_one_until_reported() -> None:
    events = _returned_child()
    state = case_state("case-kh-1", events, "TH")
    assert state.handed_over_ms == HANDED
    assert state.handover_parties == ("KH", "TH")
    steps = open_steps(state, events, "TH")
    assert [(s.kind, s.follow_up_number, s.owner) for s in steps] == [
        ("FOLLOW_UP_OVERDUE", 1, "KH"),
        ("FOLLOW_UP_OVERDUE", 2, "KH"),
        ("FOLLOW_UP_OVERDUE", 3, "KH"),
    ]
    assert steps[0].due_at_ms == _ms("2026-04-07T09:00:00")
    before = alerts("case-kh-1", events, "TH", _ms("2026-04-07T08:59:59"))
    assert before == []
    after = alerts("case-kh-1", events, "TH", _ms("2026-04-07T09:00:00"))
    assert [(a.kind, a.follow_up_number) for a in after] == [("FOLLOW_UP_OVERDUE", 1)]
    assert "follow-up 1 (3 months after the handover)" in after[0].message
    # KH reports the first visit (its follow-up number withheld from TH: the visit number
    # stands for it): only the second is overdue in August.
    report = ev("reintegration_report", "KH", "TH", _ms("2026-04-05T00:00:00"), visit_number=1,
                withheld=("follow_up_number",))  # fmt: skip
    late = alerts("case-kh-1", [*events, report], "TH", _ms("2026-08-01T00:00:00"))
    assert [(a.kind, a.follow_up_number) for a in late] == [("FOLLOW_UP_OVERDUE", 2)]
    summary = summarise(state, [*events, report], "TH", _ms("2026-08-01T00:00:00"))
    assert summary.overdue
    assert summary.next_step_owner == "KH"
    assert summary.next_due_ms == _ms("2026-07-07T09:00:00")
    # Closed: nothing more is awaited.
    closed = update("KH", "TH", _ms("2027-01-10T00:00:00"), "CLOSED")
    assert alerts("case-kh-1", [*events, report, closed], "TH", _ms("2027-06-01T00:00:00")) == []


def test_the_agreements_schedule_replaces_the_default() -> None:
    events = _returned_child()
    state = case_state("case-kh-1", events, "TH")
    steps = open_steps(state, events, "TH", follow_up_months=(1,))
    assert [(s.follow_up_number, s.due_at_ms) for s in steps] == [(1, _ms("2026-02-07T09:00:00"))]


def test_an_unacknowledged_notice_is_overdue_for_its_recipient_on_both_sides() -> None:
    notice = ev("handover_notice", "TH", "KH", 0, planned_at=5 * DAY)
    sender = alerts("c", [notice], "TH", DEFAULT_ACK_DEADLINE_MS)
    assert [(a.kind, a.owner, a.due_at_ms) for a in sender] == [
        (AlertKind.OVERDUE_ACKNOWLEDGEMENT, "KH", DEFAULT_ACK_DEADLINE_MS)
    ]
    assert alerts("c", [notice], "TH", DEFAULT_ACK_DEADLINE_MS - 1) == []
    received = CaseEvent(**{**_fields(notice), "direction": RECEIVED})
    receiver = alerts("c", [received], "KH", DEFAULT_ACK_DEADLINE_MS)
    assert [(a.kind, a.owner) for a in receiver] == [("OVERDUE_ACKNOWLEDGEMENT", "KH")]
    assert "not acknowledged by KH" in receiver[0].message


def _fields(e: CaseEvent) -> dict[str, Any]:
    return {name: getattr(e, name) for name in CaseEvent.__dataclass_fields__}


def test_a_next_due_date_passed_with_no_later_step_is_overdue() -> None:
    scheduled = update(
        "KH", "TH", 0, "HANDOVER_SCHEDULED", next_due_at=10 * DAY, next_step_owner="TH"
    )
    (item,) = alerts("c", [scheduled], "TH", 10 * DAY)
    assert (item.kind, item.owner, item.event_id) == (
        "NEXT_STEP_OVERDUE",
        "TH",
        scheduled.event_id,
    )
    later = update("TH", "KH", 9 * DAY, "HANDED_OVER")
    assert [a.kind for a in alerts("c", [scheduled, later], "TH", 10 * DAY)] == []


def test_a_new_referral_after_the_handover_is_suspected_re_trafficking() -> None:
    events = _returned_child()
    again = ev("referral", "KH", "TH", _ms("2026-09-01T00:00:00"))  # KH refers the person again
    state = case_state("case-kh-1", [*events, again], "TH")
    assert state.status == "RETRAFFICKING_SUSPECTED"
    assert state.status_by_country["TH"] == "RETRAFFICKING_SUSPECTED"
    found = [
        a
        for a in alerts("case-kh-1", [*events, again], "TH", _ms("2026-09-01T00:00:00"))
        if a.kind == "RETRAFFICKING_SUSPECTED"
    ]
    assert [(a.owner, a.event_id) for a in found] == [("KH", again.event_id)]
    # Once KH has told TH of the same referral, TH need not tell KH.
    told = ev(
        "case_alert",
        "KH",
        "TH",
        _ms("2026-09-01T01:00:00"),
        kind="RETRAFFICKING_SUSPECTED",
        about_event_id=again.event_id,
    )
    everything = [*events, again, told]
    assert [
        a for a in alerts("case-kh-1", everything, "TH", 0) if a.kind == "RETRAFFICKING_SUSPECTED"
    ] == []
    # A referral before the handover is not one.
    assert case_state("case-kh-1", events, "TH").new_referrals == ()


def test_a_received_re_trafficking_alert_shows_as_its_producers_status() -> None:
    alert = ev("case_alert", "KH", "TH", 5, kind="RETRAFFICKING_SUSPECTED", about_event_id="x")
    state = case_state("c", [update("KH", "TH", 1, "CLOSED"), alert], "TH")
    assert state.status_by_country == {"KH": "RETRAFFICKING_SUSPECTED"}


def test_the_follow_up_owner_is_named_from_the_handover_on_not_by_any_later_step() -> None:
    events = _returned_child()
    # A later update naming Thailand for something else does not move the follow-ups.
    other = update("KH", "TH", HANDED - DAY, "HANDOVER_SCHEDULED", next_step_owner="TH")
    state = case_state("case-kh-1", [*events, other], "TH")
    assert {s.owner for s in open_steps(state, [*events, other], "TH")} == {"KH"}
    moved = update("KH", "TH", HANDED + DAY, "IN_REINTEGRATION", next_step_owner="LA")
    state = case_state("case-kh-1", [*events, moved], "TH")
    assert {s.owner for s in open_steps(state, [*events, moved], "TH")} == {"LA"}


def test_after_re_trafficking_a_new_handover_restarts_the_follow_ups() -> None:
    events = _returned_child()
    again = ev("referral", "KH", "TH", _ms("2026-09-01T00:00:00"))
    noticed = update("TH", "KH", _ms("2026-09-02T00:00:00"), "RETRAFFICKING_SUSPECTED")
    # Before a second handover, the first one still counts and the referral is a sighting.
    state = case_state("case-kh-1", [*events, again, noticed], "TH")
    assert state.handed_over_ms == HANDED
    assert state.status == "RETRAFFICKING_SUSPECTED"
    second = _ms("2026-10-01T00:00:00")
    handed_again = update("TH", "KH", second, "HANDED_OVER", next_step_owner="KH")
    everything = [*events, again, noticed, handed_again]
    state = case_state("case-kh-1", everything, "TH")
    assert state.handed_over_ms == second
    assert state.new_referrals == ()  # the re-referral came before this handover
    assert state.status == "HANDED_OVER"
    steps = open_steps(state, everything, "TH")
    assert [s.due_at_ms for s in steps][:1] == [_ms("2027-01-01T00:00:00")]


def test_an_extra_visit_is_no_scheduled_follow_up_on_either_side() -> None:
    """Extra visit 3 a month after the handover: follow-up 3 (12 months) is still awaited."""
    events = _returned_child()
    visited = HANDED + 30 * DAY
    later = _ms("2027-02-01T00:00:00")  # every follow-up overdue by then
    # Cambodia's own record: follow_up_number null (absent, nothing withheld).
    own = ev("reintegration_report", "KH", "TH", visited, me="KH", visit_number=3)
    # Thailand's: not disclosed; its agreement's flow lists it, so it was left empty.
    told = ev("reintegration_report", "KH", "TH", visited, visit_number=3,
              withheld=("follow_up_number", "notes"), empty=("follow_up_number",))  # fmt: skip
    for report, me in ((own, "KH"), (told, "TH")):
        assert follow_up_of(report) is None
        assert follow_up_done(report) is None
        late = alerts("case-kh-1", [*events, report], me, later)
        assert [a.follow_up_number for a in late] == [1, 2, 3]
        (entry,) = [e for e in timeline([*events, report]) if e.event_id == report.event_id]
        assert entry.follow_up_number is None
    # Withheld by the agreement (not listed): the visit number stands for the follow-up.
    hidden = ev("reintegration_report", "KH", "TH", visited, visit_number=3,
                withheld=("follow_up_number",))  # fmt: skip
    assert follow_up_done(hidden) == 3
    # A follow-up number given wins over the visit number.
    numbered = ev("reintegration_report", "KH", "TH", visited, visit_number=4, follow_up_number=1)
    assert follow_up_done(numbered) == 1
    done = update("KH", "TH", visited, "FOLLOW_UP_DONE", follow_up_number=2)
    due = update("KH", "TH", visited, "FOLLOW_UP_DUE", follow_up_number=2)
    assert (follow_up_done(done), follow_up_done(due), follow_up_of(due)) == (2, None, 2)


def test_the_returning_country_recording_the_handover_itself_owns_the_follow_ups() -> None:
    """Cambodia, which received the referral, records HANDED_OVER to Thailand, naming no owner."""
    referral = ev("referral", "TH", "KH", HANDED - 30 * DAY, me="KH")
    handed = update("KH", "TH", HANDED, "HANDED_OVER")
    events = [referral, handed]
    for me in ("KH", "TH"):
        state = case_state("case-kh-1", events, me)
        assert state.receiving_country == "KH"
        assert {s.owner for s in open_steps(state, events, me)} == {"KH"}
    assert receiving_country(events, handed) == "KH"
    # Of a referral to several countries, the one of the handover; with no referral, the notice's.
    to_two = dataclasses.replace(referral, recipients=("KH", "LA"))
    with_la = update("TH", "LA", HANDED, "HANDED_OVER")
    assert receiving_country([to_two, with_la], with_la) == "LA"
    notice = ev("handover_notice", "TH", "KH", HANDED - DAY)
    assert receiving_country([notice, handed], handed) == "KH"
    assert receiving_country([handed], handed) is None
    assert open_steps(case_state("case-kh-1", [handed], "TH"), [handed], "TH") == []
    # A new cycle counts from its own referral: Laos referred the person to Cambodia again.
    again = ev("referral", "LA", "KH", HANDED + 200 * DAY)
    second = update("KH", "LA", HANDED + 230 * DAY, "HANDED_OVER")
    assert receiving_country([referral, handed, again, second], second) == "KH"
    # Cambodia found the person again and referred them to Thailand, which receives them now.
    back = ev("referral", "KH", "TH", HANDED + 200 * DAY)
    returned = update("KH", "TH", HANDED + 230 * DAY, "HANDED_OVER")
    assert receiving_country([referral, handed, back, returned], returned) == "TH"


def test_a_new_referral_after_the_handover_starts_a_new_cycle_at_the_next_handover() -> None:
    """The desk's path: Thailand refers the child again, then hands them over again.

    No RETRAFFICKING_SUSPECTED update or alert is recorded: the new referral alone ends
    the first cycle, and the follow-ups count from the second handover.
    """
    events = _returned_child()
    first_visit = ev("reintegration_report", "KH", "TH", HANDED + 80 * DAY, visit_number=1,
                     follow_up_number=1)  # fmt: skip
    again = ev("referral", "TH", "KH", _ms("2026-05-05T00:00:00"))
    before = [*events, first_visit, again]
    state = case_state("case-kh-1", before, "TH")
    assert state.handed_over_ms == HANDED  # not handed over again yet: a sighting
    assert state.new_referrals == (again,)
    assert state.status == "RETRAFFICKING_SUSPECTED"
    assert open_steps(state, before, "TH") == []
    referred = update("TH", "KH", _ms("2026-05-06T00:00:00"), "REFERRED",
                      previous_status="RETRAFFICKING_SUSPECTED")  # fmt: skip
    second = _ms("2026-06-01T00:00:00")
    handed_again = update("TH", "KH", second, "HANDED_OVER", next_step_owner="KH")
    everything = [*before, referred, handed_again]
    state = case_state("case-kh-1", everything, "TH")
    assert state.handover == handed_again
    assert state.new_referrals == ()
    assert state.status == "HANDED_OVER"
    steps = open_steps(state, everything, "TH")
    # All three from the second handover (the first cycle's visit 1 does not count).
    assert [(s.follow_up_number, s.due_at_ms) for s in steps] == [
        (1, _ms("2026-09-01T00:00:00")),
        (2, _ms("2026-12-01T00:00:00")),
        (3, _ms("2027-06-01T00:00:00")),
    ]
    assert {s.event_id for s in steps} == {handed_again.event_id}
    # Nothing of the first cycle is overdue in August 2026 (its 6-month one was due in July).
    assert alerts("case-kh-1", everything, "TH", _ms("2026-08-01T00:00:00")) == []


def test_a_match_follow_up_after_the_handover_also_ends_the_cycle() -> None:
    events = _returned_child()
    sighting = ev("match_followup", "VN", "KH", _ms("2026-05-05T00:00:00"))
    second = _ms("2026-06-01T00:00:00")
    handed_again = update("TH", "KH", second, "HANDED_OVER", next_step_owner="KH")
    everything = [*events, sighting, handed_again]
    state = case_state("case-kh-1", everything, "TH")
    assert state.handed_over_ms == second
    # Two HANDED_OVER of one cycle (both countries record it): the first counts.
    kh_too = update("KH", "TH", HANDED + DAY, "HANDED_OVER")
    assert case_state("case-kh-1", [*events, kh_too], "TH").handed_over_ms == HANDED


def test_a_report_made_after_the_handover_counts_though_the_handover_was_recorded_later() -> None:
    """Thailand records on 20 January that it handed the child over on 7 January."""
    referral = ev("referral", "TH", "KH", HANDED - 30 * DAY)
    recorded_late = ev("case_update", "TH", "KH", HANDED + 13 * DAY, status="HANDED_OVER",
                       changed_at=HANDED, next_step_owner="KH")  # fmt: skip
    visit = ev("reintegration_report", "KH", "TH", HANDED + 10 * DAY, visit_number=1,
               follow_up_number=1)  # fmt: skip
    before = ev("reintegration_report", "KH", "TH", HANDED - DAY, visit_number=2,
                follow_up_number=2)  # fmt: skip
    events = [referral, recorded_late, visit, before]
    state = case_state("case-kh-1", events, "TH")
    assert state.handed_over_ms == HANDED
    # Follow-up 1 is done (made on the 17th, after the handover of the 7th); the report
    # made before the handover is no follow-up of it.
    assert [s.follow_up_number for s in open_steps(state, events, "TH")] == [2, 3]


def test_vault_records_read_as_case_events_give_the_receiving_country() -> None:
    """What hub.stats holds (vault records) goes through the same rule as the case book."""
    records: list[dict[str, Any]] = [
        {"event_id": "e1", "type": "referral", "from": "TH", "to": ["KH"],
         "created_at_ms": HANDED - 30 * DAY, "case_key": "c1", "fields": {}},
        {"event_id": "e2", "type": "case_update", "from": "KH", "to": ["TH"],
         "created_at_ms": HANDED, "case_key": "c1",
         "fields": {"status": "HANDED_OVER", "changed_at": HANDED}, "withheld": []},
        {"event_id": "e3", "type": "referral", "from": "TH", "to": ["KH"], "case_key": "c1"},
    ]  # fmt: skip
    events = [e for r in records if (e := CaseEvent.from_record(r, "KH")) is not None]
    assert [(e.event_id, e.direction) for e in events] == [("e1", RECEIVED), ("e2", SENT)]
    state = case_state("c1", events, "KH")
    assert receiving_country(events, state.handover) == state.receiving_country == "KH"


def test_an_owner_named_in_an_earlier_cycle_does_not_own_the_next_ones_follow_ups() -> None:
    """Cambodia reintegrated the person; found in Cambodia again, they are returned to Thailand."""
    events = _returned_child()  # Thailand handed over to Cambodia, naming Cambodia
    named = update("KH", "TH", HANDED + DAY, "IN_REINTEGRATION", next_step_owner="KH")
    back = ev("referral", "KH", "TH", _ms("2026-05-05T00:00:00"))
    returned = update("KH", "TH", _ms("2026-06-01T00:00:00"), "HANDED_OVER")
    everything = [*events, named, back, returned]
    state = case_state("case-kh-1", everything, "TH")
    assert state.handover == returned
    assert state.receiving_country == "TH"
    assert {s.owner for s in open_steps(state, everything, "TH")} == {"TH"}
