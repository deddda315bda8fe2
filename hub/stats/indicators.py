"""The COMMIT indicators a country node computes from the plaintext it holds (pure).

Input: the vault's records (``InboxRecord.to_json()`` shape: ``type``,
``from``, ``to``, ``created_at_ms``, ``case_key``, ``fields``), both what the
node sent and what it received. Output: per table, the interior counts
(:func:`count_indicators`), which the node signs and sends as a
``statistics_report`` and which the regional report sums.

Every indicator has one reporting role, so that the regional sum counts a
person once (docs/statistics.md has the definitions):

============================  ==========================================
indicator                     counted by
============================  ==========================================
referred                      the country that sent the referral
accepted                      the country that received it and accepted
handed_over                   the receiving country (the person returns)
in_reintegration, services    the receiving country
followups                     the receiving country
handover_time                 the receiving country
retrafficking                 the receiving country of the earlier case
============================  ==========================================

A case key is one person. A person counts once per indicator and period,
in the quarter of the first qualifying event. Exploitation: a person with one
recorded type counts under it, with several under ``MULTIPLE``, with none (or
withheld) under ``UNKNOWN``, so the breakdown adds up to the persons.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hub.cases import (
    DEFAULT_FOLLOW_UP_MONTHS,
    CaseEvent,
    Schedules,
    case_schedule,
    case_state,
    follow_ups,
)
from hub.errors import Reason, RequestError

from .suppression import TableSpec
from .tables import Frame

__all__ = [
    "AGE_BANDS",
    "EXPLOITATION",
    "INDICATORS",
    "PERSON_INDICATORS",
    "SERVICES",
    "SEXES",
    "Period",
    "count_indicators",
    "table_specs",
]

DAY_MS: Final = 86_400_000
SEXES: Final = ("FEMALE", "MALE", "OTHER", "UNKNOWN")
AGE_BANDS: Final = (
    "AGE_0_8", "AGE_9_17", "AGE_18_20", "AGE_21_23", "AGE_24_26", "AGE_27_29",
    "AGE_30_38", "AGE_39_47", "AGE_48_PLUS", "UNKNOWN",
)  # fmt: skip
EXPLOITATION: Final = (
    "FORCED_LABOUR", "SEXUAL_EXPLOITATION", "FORCED_MARRIAGE", "FORCED_CRIMINALITY",
    "FORCED_BEGGING", "DOMESTIC_SERVITUDE", "ONLINE_SCAM_COMPOUND", "ORGAN_REMOVAL",
    "CHILD_SOLDIER", "OTHER", "MULTIPLE", "UNKNOWN",
)  # fmt: skip
SERVICES: Final = (
    "SHELTER", "MEDICAL_CARE", "PSYCHOSOCIAL_SUPPORT", "LEGAL_ASSISTANCE", "EDUCATION",
    "VOCATIONAL_TRAINING", "EMPLOYMENT_SUPPORT", "FINANCIAL_ASSISTANCE",
    "FAMILY_REUNIFICATION", "OTHER",
)  # fmt: skip
OUTCOMES: Final = ("ON_TIME", "LATE", "NOT_DONE")
DAY_BANDS: Final = ((30, "0-30"), (60, "31-60"), (90, "61-90"), (180, "91-180"))
DAYS: Final = (*(label for _, label in DAY_BANDS), "181+")
FOLLOW_UP_MONTHS: Final = DEFAULT_FOLLOW_UP_MONTHS  # the lifecycle's default schedule

# Indicators whose unit is a person, broken down by corridor x sex x age band
# and by corridor x exploitation type (two tables sharing the corridor margin).
PERSON_INDICATORS: Final = (
    ("referred", "Victims referred", "the country that sent the referral"),
    ("accepted", "Referrals accepted", "the country that received and accepted the referral"),
    ("handed_over", "Victims handed over (returned)", "the receiving country"),
    ("in_reintegration", "Victims receiving reintegration services", "the receiving country"),
    ("retrafficking", "Re-trafficking suspected", "the receiving country of the earlier case"),
)
INDICATORS: Final = (
    *(name for name, _, _ in PERSON_INDICATORS),
    "services",
    "followups",
    "handover_time",
)
_PERIOD: Final = re.compile(r"^(\d{4})(?:-Q([1-4]))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period: a quarter (``2026-Q3``) or a year (``2026``), UTC."""

    label: str
    start_ms: int
    end_ms: int
    quarters: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Period:
        """Raises RequestError BAD_REQUEST for anything but YYYY or YYYY-Qn."""
        m = _PERIOD.match(text or "")
        if m is None:
            raise RequestError(
                Reason.BAD_REQUEST,
                f"expected a period YYYY-Qn (e.g. 2026-Q3) or YYYY, got {str(text)[:20]!r}",
            )
        year = int(m.group(1))
        if m.group(2):
            q = int(m.group(2))
            first, last = q, q
        else:
            first, last = 1, 4
        start = dt.datetime(year, 3 * first - 2, 1, tzinfo=dt.UTC)
        end_year, end_month = (year + 1, 1) if last == 4 else (year, 3 * last + 1)
        end = dt.datetime(end_year, end_month, 1, tzinfo=dt.UTC)
        quarters = tuple(f"{year}-Q{q}" for q in range(first, last + 1))
        return cls(text, _ms(start), _ms(end), quarters)

    @classmethod
    def containing(cls, now_ms: int) -> Period:
        """The quarter of ``now_ms``."""
        when = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
        return cls.parse(f"{when.year}-Q{(when.month - 1) // 3 + 1}")

    def quarter_of(self, ms: int | None) -> str | None:
        """The quarter label of ``ms`` if it falls in the period, else None."""
        if ms is None or not (self.start_ms <= ms < self.end_ms):
            return None
        when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
        return f"{when.year}-Q{(when.month - 1) // 3 + 1}"


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def table_specs(period: Period) -> dict[str, list[TableSpec]]:
    """Every table's layout per population, with categories to fill (see :func:`frames`)."""
    out: dict[str, list[TableSpec]] = {}
    q = ("quarter",) if len(period.quarters) > 1 else ()
    for name, title, role in PERSON_INDICATORS:
        note = f"Counted by {role}."
        # A family names the totals another population counts too (suppress_together):
        # handover_time_by_days has the corridor totals of handed_over; the audit log's
        # referral events per corridor (flows) are the referred persons, one referral each.
        out[name] = [
            TableSpec(f"{name}_by_sex_age", f"{title}, by corridor, sex and age band",
                      Frame((*q, "corridor", "sex", "age_band"), ((),) * (len(q) + 3),
                            (True,) * (len(q) + 3)), note=note, family=name),
            TableSpec(f"{name}_by_exploitation", f"{title}, by corridor and exploitation type",
                      Frame((*q, "corridor", "exploitation"), ((),) * (len(q) + 2),
                            (True,) * (len(q) + 2)),
                      note=note + " One type: under it; several: MULTIPLE; none: UNKNOWN.",
                      family=name),
        ]  # fmt: skip
    out["services"] = [
        TableSpec(
            "services_by_type",
            "Victims receiving each reintegration service, by corridor",
            Frame(
                (*q, "corridor", "service"), ((),) * (len(q) + 2), (*(True,) * (len(q) + 1), False)
            ),
            note="Counted by the receiving country. A person counts once under every service "
            "received, so services do not add up to persons (no total over services).",
        )
    ]
    out["followups"] = [
        TableSpec(
            "followups_by_outcome",
            "Follow-ups due in the period, by corridor and outcome",
            Frame((*q, "corridor", "outcome"), ((),) * (len(q) + 2), (True,) * (len(q) + 2)),
            unit="follow-ups",
            note="Counted by the receiving country; due 3, 6 and 12 months after the handover "
            "unless the case's agreement sets another schedule.",
        )
    ]
    out["handover_time"] = [
        TableSpec(
            "handover_time_by_days",
            "Days from referral to the handover, by corridor",
            Frame((*q, "corridor", "days"), ((),) * (len(q) + 2), (True,) * (len(q) + 2)),
            note="Counted by the receiving country, for the persons handed over in the period.",
            family="handed_over",
        )
    ]
    return out


_ORDER: Final = {
    "sex": SEXES,
    "age_band": AGE_BANDS,
    "exploitation": EXPLOITATION,
    "service": SERVICES,
    "outcome": OUTCOMES,
    "days": DAYS,
}


def frames(
    specs: Mapping[str, list[TableSpec]], interior: Mapping[str, Mapping[tuple[str, ...], int]]
) -> dict[str, list[TableSpec]]:
    """The specs with categories: every category seen in any table of the population.

    A vocabulary dimension keeps its vocabulary's order; corridors and
    quarters sort. Categories are shared across a population's tables, so
    their common margins have the same cells.
    """
    out: dict[str, list[TableSpec]] = {}
    for population, tables in specs.items():
        seen: dict[str, set[str]] = {}
        for spec in tables:
            for key, n in interior.get(spec.name, {}).items():
                if n:
                    for d, v in zip(spec.frame.dimensions, key, strict=True):
                        seen.setdefault(d, set()).add(v)
        filled = []
        for spec in tables:
            cats = []
            for d in spec.frame.dimensions:
                values = seen.get(d, set())
                order = _ORDER.get(d)
                if order is not None:
                    unknown = sorted(values - set(order))
                    cats.append(tuple(v for v in order if v in values) + tuple(unknown))
                else:
                    cats.append(tuple(sorted(values)))
            frame = Frame(spec.frame.dimensions, tuple(cats), spec.frame.additive)
            filled.append(dataclasses.replace(spec, frame=frame))
        out[population] = filled
    return out


# --- from the vault's records to persons -----------------------------------------


@dataclass(slots=True)
class _Case:
    key: str
    records: list[Mapping[str, Any]] = field(default_factory=list)

    def of(self, event_type: str) -> list[Mapping[str, Any]]:
        return [r for r in self.records if r.get("type") == event_type]


def _fields(record: Mapping[str, Any]) -> Mapping[str, Any]:
    f = record.get("fields")
    return f if isinstance(f, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _when(record: Mapping[str, Any], name: str) -> int:
    """A payload time field, or the header's created_at when withheld or absent."""
    value = _int(_fields(record).get(name))
    return value if value is not None else int(record.get("created_at_ms") or 0)


def _to(record: Mapping[str, Any]) -> list[str]:
    to = record.get("to")
    return [str(x) for x in to] if isinstance(to, list) else []


def corridor(record: Mapping[str, Any]) -> str:
    """``FROM>TO`` of a referral (several recipients joined with ``+``)."""
    return f"{record.get('from')}>{'+'.join(sorted(_to(record)))}"


def _person(case: _Case) -> dict[str, str]:
    """Sex, age band and exploitation from the case's first referral (or handover notice)."""
    source = (case.of("referral") or case.of("handover_notice") or [{}])[0]
    f = _fields(source)
    sex = f.get("sex") if f.get("sex") in SEXES else "UNKNOWN"
    age = f.get("age_band") if f.get("age_band") in AGE_BANDS else "UNKNOWN"
    types = f.get("exploitation_types")
    kinds = sorted({str(t) for t in types}) if isinstance(types, list) else []
    exploitation = kinds[0] if len(kinds) == 1 else "MULTIPLE" if kinds else "UNKNOWN"
    return {"sex": str(sex), "age_band": str(age), "exploitation": exploitation}


def _status_times(case: _Case, status: str, *, by: str | None) -> list[int]:
    """When a case_update with ``status`` was made (by ``by`` if given)."""
    return [
        _when(r, "changed_at")
        for r in case.of("case_update")
        if _fields(r).get("status") == status and (by is None or r.get("from") == by)
    ]


def _acks(case: _Case, status: str, by: str) -> list[int]:
    return [
        _when(r, "acknowledged_at")
        for r in case.of("acknowledgement")
        if _fields(r).get("status") == status and r.get("from") == by
    ]


def _receiving(case: _Case, country: str) -> Mapping[str, Any] | None:
    """The record that makes ``country`` the receiving side: a referral or notice it received."""
    for kind in ("referral", "handover_notice"):
        for r in case.of(kind):
            if country in _to(r) and r.get("from") != country:
                return r
    return None


def _band(days: float) -> str:
    for limit, label in DAY_BANDS:
        if days <= limit:
            return label
    return "181+"


def count_indicators(
    records: Iterable[Mapping[str, Any]],
    country: str,
    period: Period,
    *,
    as_of_ms: int,
    follow_up_months: Sequence[int] = FOLLOW_UP_MONTHS,
    agreements: Iterable[Schedules] = (),
) -> dict[str, dict[tuple[str, ...], int]]:
    """Per table name, the interior counts ``country`` reports for ``period``.

    Args:
        records: the vault's records (sent and received), any order.
        country: the reporting country.
        period: the period.
        as_of_ms: now; a follow-up due later is not yet counted.
        follow_up_months: the follow-up schedule after a handover where no agreement
            sets one.
        agreements: the agreements the node holds: a case's schedule is its
            agreement's (``hub.cases.case_schedule``, as the desk reads it).
    """
    held = tuple(agreements)
    cases: dict[str, _Case] = {}
    for r in records:
        key = r.get("case_key")
        if isinstance(key, str):
            cases.setdefault(key, _Case(key)).records.append(r)
    multi = len(period.quarters) > 1
    out: dict[str, dict[tuple[str, ...], int]] = {}

    def add(table: str, quarter: str, *key: str) -> None:
        full = (quarter, *key) if multi else key
        counts = out.setdefault(table, {})
        counts[full] = counts.get(full, 0) + 1

    def person(name: str, quarter: str, route: str, who: Mapping[str, str]) -> None:
        add(f"{name}_by_sex_age", quarter, route, who["sex"], who["age_band"])
        add(f"{name}_by_exploitation", quarter, route, who["exploitation"])

    for case in sorted(cases.values(), key=lambda c: c.key):
        case.records.sort(key=lambda r: (int(r.get("created_at_ms") or 0), str(r.get("event_id"))))
        who = _person(case)
        # referred: by the sender, in the quarter of its first referral in the period
        sent = [r for r in case.of("referral") if r.get("from") == country]
        times = sorted((_when(r, "referred_at"), corridor(r)) for r in sent)
        hit = next(((t, c) for t, c in times if period.quarter_of(t)), None)
        if hit is not None:
            person("referred", str(period.quarter_of(hit[0])), hit[1], who)
        receiving = _receiving(case, country)
        if receiving is None:
            continue
        route = corridor(receiving)
        # accepted: its ACCEPTED acknowledgement or case_update
        accepted = sorted(
            _acks(case, "ACCEPTED", country) + _status_times(case, "ACCEPTED", by=country)
        )
        q = next((period.quarter_of(t) for t in accepted if period.quarter_of(t)), None)
        if q:
            person("accepted", q, route, who)
        # handed over: the first evidence of it, in the period
        handed = sorted(
            _acks(case, "HANDED_OVER", country)
            + _status_times(case, "HANDED_OVER", by=None)
            + [
                _when(r, "planned_at")
                for r in case.of("handover_notice")
                if _fields(r).get("status") == "HANDED_OVER"
            ]
        )
        handed_at = handed[0] if handed else None
        q = period.quarter_of(handed_at)
        if q and handed_at is not None:
            person("handed_over", q, route, who)
            referred = [_when(r, "referred_at") for r in case.of("referral")]
            if referred:
                days = max(0, handed_at - min(referred)) / DAY_MS
                add("handover_time_by_days", q, route, _band(days))
        # reintegration: its reports (and IN_REINTEGRATION updates) in the period
        reports = [r for r in case.of("reintegration_report") if r.get("from") == country]
        visits = sorted(
            [_when(r, "visited_at") for r in reports]
            + _status_times(case, "IN_REINTEGRATION", by=country)
        )
        q = next((period.quarter_of(t) for t in visits if period.quarter_of(t)), None)
        if q:
            person("in_reintegration", q, route, who)
        services: dict[str, int] = {}
        for r in reports:
            t = _when(r, "visited_at")
            got = _fields(r).get("services_received")
            if period.quarter_of(t) and isinstance(got, list):
                for s in got:
                    services.setdefault(str(s), t)
        for s, t in sorted(services.items()):
            add("services_by_type", str(period.quarter_of(t)), route, s)
        # follow-ups due in the period (and by now), and whether done on time: the
        # desk's rule (hub.cases.follow_ups), on the case's current cycle and its schedule
        events = [e for r in case.records if (e := CaseEvent.from_record(r, country))]
        state = case_state(case.key, events, country)
        if state.handed_over_ms is not None:
            after = state.handed_over_ms
            ended = [t for t in _status_times(case, "CLOSED", by=None) if t >= after]
            ended += [
                t for t in _status_times(case, "RETRAFFICKING_SUSPECTED", by=None) if t >= after
            ]
            ended += [e.created_at_ms for e in state.new_referrals]
            months = case_schedule(state, country, held, follow_up_months)
            for f in follow_ups(state, events, months):
                q = period.quarter_of(f.due_at_ms)
                if not q or f.due_at_ms > as_of_ms or any(t < f.due_at_ms for t in ended):
                    continue
                if f.done_at_ms is None:
                    outcome = "NOT_DONE"
                else:
                    outcome = "ON_TIME" if f.done_at_ms <= f.due_at_ms else "LATE"
                add("followups_by_outcome", q, route, outcome)
        # re-trafficking suspected, noticed in the period
        suspected = sorted(
            _status_times(case, "RETRAFFICKING_SUSPECTED", by=None)
            + [
                _when(r, "detected_at")
                for r in case.of("case_alert")
                if _fields(r).get("kind") == "RETRAFFICKING_SUSPECTED"
            ]
        )
        q = next((period.quarter_of(t) for t in suspected if period.quarter_of(t)), None)
        if q:
            person("retrafficking", q, route, who)
    return out
