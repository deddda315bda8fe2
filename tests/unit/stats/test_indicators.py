"""The indicators from vault records: one reporting role each, the breakdown rules, periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from hub.errors import RequestError
from hub.stats import Period, count_indicators
from tests.support.stats_cases import generate

DAY = 86_400_000


def _ms(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)


def _rec(kind: str, src: str, dst: str, at: int, case: str = "c1", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{abs(hash((kind, src, at))) % 10**8:08x}-0000-7000-8000-000000000000",
        "type": kind,
        "from": src,
        "to": [dst],
        "created_at_ms": at,
        "case_key": case,
        "fields": fields,
        "withheld": [],
    }


Q3 = Period.parse("2026-Q3")
JULY = _ms(2026, 7, 10)
LATER = _ms(2027, 1, 1)
REFERRAL = _rec(
    "referral", "TH", "KH", JULY, referred_at=JULY, sex="FEMALE", age_band="AGE_9_17",
    exploitation_types=["FORCED_LABOUR", "ONLINE_SCAM_COMPOUND"],
)  # fmt: skip
ACCEPTED = _rec("acknowledgement", "KH", "TH", JULY + DAY, status="ACCEPTED",
                acknowledged_at=JULY + DAY)  # fmt: skip
HANDED = _rec("acknowledgement", "KH", "TH", JULY + 40 * DAY, status="HANDED_OVER",
              acknowledged_at=JULY + 40 * DAY)  # fmt: skip
VISIT = _rec("reintegration_report", "KH", "TH", JULY + 45 * DAY, visit_number=1,
             visited_at=JULY + 45 * DAY, services_received=["SHELTER", "EDUCATION"])  # fmt: skip
CASE = [REFERRAL, ACCEPTED, HANDED, VISIT]


def test_periods() -> None:
    assert (Q3.start_ms, Q3.end_ms, Q3.quarters) == (
        _ms(2026, 7, 1),
        _ms(2026, 10, 1),
        ("2026-Q3",),
    )
    year = Period.parse("2026")
    assert year.quarters == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    assert year.quarter_of(_ms(2026, 12, 31)) == "2026-Q4"
    assert Period.containing(_ms(2026, 12, 2)).label == "2026-Q4"
    assert Q3.quarter_of(_ms(2026, 10, 1)) is None
    for bad in ("2026-Q5", "26-Q1", "2026Q1", ""):
        with pytest.raises(RequestError, match="expected a period"):
            Period.parse(bad)


def test_each_side_counts_only_its_own_role() -> None:
    th = count_indicators(CASE, "TH", Q3, as_of_ms=LATER)
    kh = count_indicators(CASE, "KH", Q3, as_of_ms=LATER)
    # The sender counts the referral; the receiver everything after it.
    assert th == {
        "referred_by_sex_age": {("TH>KH", "FEMALE", "AGE_9_17"): 1},
        "referred_by_exploitation": {("TH>KH", "MULTIPLE"): 1},
    }
    assert "referred_by_sex_age" not in kh
    assert kh["accepted_by_sex_age"] == {("TH>KH", "FEMALE", "AGE_9_17"): 1}
    assert kh["handed_over_by_exploitation"] == {("TH>KH", "MULTIPLE"): 1}
    assert kh["handover_time_by_days"] == {("TH>KH", "31-60"): 1}
    assert kh["in_reintegration_by_sex_age"] == {("TH>KH", "FEMALE", "AGE_9_17"): 1}
    assert kh["services_by_type"] == {("TH>KH", "EDUCATION"): 1, ("TH>KH", "SHELTER"): 1}


def test_exploitation_rule_one_type_several_none() -> None:
    one = dict(REFERRAL, fields={**REFERRAL["fields"], "exploitation_types": ["FORCED_LABOUR"]})
    none = dict(REFERRAL, case_key="c2", fields={**REFERRAL["fields"], "exploitation_types": None})
    got = count_indicators([one, none], "TH", Q3, as_of_ms=LATER)["referred_by_exploitation"]
    assert got == {("TH>KH", "FORCED_LABOUR"): 1, ("TH>KH", "UNKNOWN"): 1}


def test_a_person_counts_once_however_many_events() -> None:
    again = dict(REFERRAL, event_id="00000002-0000-7000-8000-000000000000",
                 created_at_ms=JULY + 5 * DAY)  # fmt: skip
    got = count_indicators([REFERRAL, again], "TH", Q3, as_of_ms=LATER)
    assert got["referred_by_sex_age"] == {("TH>KH", "FEMALE", "AGE_9_17"): 1}


def test_withheld_fields_count_as_unknown() -> None:
    seen_by_kh = dict(REFERRAL, fields={"referred_at": JULY}, withheld=["sex", "age_band"])
    got = count_indicators([seen_by_kh, ACCEPTED], "KH", Q3, as_of_ms=LATER)
    assert got["accepted_by_sex_age"] == {("TH>KH", "UNKNOWN", "UNKNOWN"): 1}
    assert got["accepted_by_exploitation"] == {("TH>KH", "UNKNOWN"): 1}


def test_follow_ups_on_time_late_and_missing() -> None:
    april = _ms(2026, 4, 10)
    records = []
    for case, done in (("a", -2), ("b", 9), ("c", None)):
        records.append(_rec("referral", "TH", "KH", april, case, referred_at=april, sex="MALE"))
        records.append(_rec("acknowledgement", "KH", "TH", april + DAY, case,
                            status="HANDED_OVER", acknowledged_at=april + DAY))  # fmt: skip
        if done is not None:
            at = _ms(2026, 7, 11) + done * DAY
            records.append(_rec("case_update", "KH", "TH", at, case, status="FOLLOW_UP_DONE",
                                follow_up_number=1, changed_at=at))  # fmt: skip
    got = count_indicators(records, "KH", Q3, as_of_ms=LATER)
    assert got["followups_by_outcome"] == {
        ("TH>KH", "ON_TIME"): 1,
        ("TH>KH", "LATE"): 1,
        ("TH>KH", "NOT_DONE"): 1,
    }
    # A follow-up not yet due is not counted.
    early = count_indicators(records, "KH", Q3, as_of_ms=_ms(2026, 7, 1))
    assert "followups_by_outcome" not in early


def test_an_extra_visit_is_not_a_follow_up() -> None:
    """follow_up_number null (or absent from the producer's own record): an extra visit
    (the schema), even as visit 1; the visit number stands in only where
    follow_up_number is withheld (hub.cases.follow_up_of, the desk's rule)."""
    april = _ms(2026, 4, 10)
    records = []
    for case, number in (("extra", {"follow_up_number": None}), ("absent", {}), ("withheld", {})):
        records.append(_rec("referral", "TH", "KH", april, case, referred_at=april, sex="MALE"))
        records.append(_rec("acknowledgement", "KH", "TH", april + DAY, case,
                            status="HANDED_OVER", acknowledged_at=april + DAY))  # fmt: skip
        at = _ms(2026, 7, 1)
        records.append(_rec("reintegration_report", "KH", "TH", at, case, visit_number=1,
                            visited_at=at, **number))  # fmt: skip
        if case == "withheld":
            records[-1]["withheld"] = ["follow_up_number"]
    got = count_indicators(records, "KH", Q3, as_of_ms=LATER)
    assert got["followups_by_outcome"] == {("TH>KH", "ON_TIME"): 1, ("TH>KH", "NOT_DONE"): 2}


def test_follow_ups_are_the_desks_current_cycle_and_case_schedule() -> None:
    """The statistics read the desk's rule (hub.cases.follow_ups): a second handover
    after a re-trafficking schedules anew; a case's own schedule (its agreement's)."""
    records = [
        _rec("referral", "TH", "KH", _ms(2026, 1, 5), referred_at=_ms(2026, 1, 5), sex="MALE"),
        _rec("case_update", "KH", "TH", _ms(2026, 1, 15), status="HANDED_OVER",
             changed_at=_ms(2026, 1, 15)),
        _rec("case_update", "KH", "TH", _ms(2026, 3, 1), status="RETRAFFICKING_SUSPECTED",
             changed_at=_ms(2026, 3, 1)),
        _rec("case_update", "KH", "TH", _ms(2026, 4, 10), status="HANDED_OVER",
             changed_at=_ms(2026, 4, 10), transition_reason="OTHER"),
        _rec("reintegration_report", "KH", "TH", _ms(2026, 7, 5), visit_number=1,
             follow_up_number=1, visited_at=_ms(2026, 7, 5)),
    ]  # fmt: skip
    now = _ms(2026, 9, 30)
    q2 = Period.parse("2026-Q2")
    # Default 3/6/12 months from the second handover: follow-up 1 due 10 July, done 5 July.
    got = count_indicators(records, "KH", Q3, as_of_ms=now)
    assert got["followups_by_outcome"] == {("TH>KH", "ON_TIME"): 1}
    # The first cycle's follow-up (due 15 April) is no longer awaited.
    assert "followups_by_outcome" not in count_indicators(records, "KH", q2, as_of_ms=now)
    # The case's agreement says 2 and 4 months: due 10 June (reported late) and 10 August.
    held = [_Schedule("TH-KH-protection", 2, {frozenset({"TH", "KH"}): (2, 4)})]
    got = count_indicators(records, "KH", q2, as_of_ms=now, agreements=held)
    assert got["followups_by_outcome"] == {("TH>KH", "LATE"): 1}
    got = count_indicators(records, "KH", Q3, as_of_ms=now, agreements=held)
    assert got["followups_by_outcome"] == {("TH>KH", "NOT_DONE"): 1}
    # An agreement between other countries sets nothing for this case.
    other = [_Schedule("LA-VN", 1, {frozenset({"LA", "VN"}): (2, 4)})]
    got = count_indicators(records, "KH", Q3, as_of_ms=now, agreements=other)
    assert got["followups_by_outcome"] == {("TH>KH", "ON_TIME"): 1}


@dataclass(frozen=True)
class _Schedule:
    """An agreement as a case's schedule reads it (hub.cases.Schedules)."""

    id: str
    version: int
    months: Mapping[frozenset[str], tuple[int, ...]]

    def follow_up_months(self, a: str, b: str) -> tuple[int, ...] | None:
        return self.months.get(frozenset({a, b}))


def test_retrafficking_is_counted_by_the_receiving_country() -> None:
    flag = _rec("case_update", "TH", "KH", JULY + 60 * DAY, status="RETRAFFICKING_SUSPECTED",
                changed_at=JULY + 60 * DAY)  # fmt: skip
    kh = count_indicators([*CASE, flag], "KH", Q3, as_of_ms=LATER)
    th = count_indicators([*CASE, flag], "TH", Q3, as_of_ms=LATER)
    assert kh["retrafficking_by_sex_age"] == {("TH>KH", "FEMALE", "AGE_9_17"): 1}
    assert "retrafficking_by_sex_age" not in th


def test_a_year_has_a_quarter_dimension() -> None:
    got = count_indicators(CASE, "TH", Period.parse("2026"), as_of_ms=LATER)
    assert got["referred_by_sex_age"] == {("2026-Q3", "TH>KH", "FEMALE", "AGE_9_17"): 1}


def test_the_generated_cases_count_as_their_truth() -> None:
    """The generator's own tallies (from its choices) equal the indicators from its records."""
    gen = generate(600, seed=3)
    for country, records in gen.records.items():
        got = count_indicators(records, country, Q3, as_of_ms=LATER)
        assert got == gen.truth_by_country.get(country, {}), country
