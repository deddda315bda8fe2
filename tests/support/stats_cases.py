"""A deterministic set of cases whose true COMMIT counts are known, for the statistics tests.

:func:`generate` makes ``n`` cases across the six members (fixed seed) as the
vault records each node would hold (what it sent and what it received), and
tallies, as it makes them, what each table of ``2026-Q3`` must count. The
tallies follow the definitions of docs/statistics.md directly from the
generator's own choices (who referred whom, who was handed over when), not
from :mod:`hub.stats.indicators`, so a test comparing the two checks the code.

Two cohorts: most cases are referred in July 2026 (referred, accepted,
handed over, reintegration in Q3); the rest were handed over in April-May,
so their first follow-up (3 months on) falls due in Q3 (on time, late or not
done), some get a reintegration visit in Q3, and a few are suspected of being
re-trafficked in Q3.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.store import NodeStore

__all__ = ["PERIOD", "Generated", "generate", "keep_all", "no_fsync"]

PERIOD = "2026-Q3"
DAY = 86_400_000
CORRIDORS = (  # (where found, country of origin), weight
    (("TH", "KH"), 30), (("TH", "MM"), 25), (("TH", "LA"), 15), (("CN", "VN"), 10),
    (("CN", "MM"), 8), (("CN", "LA"), 4), (("VN", "KH"), 3), (("KH", "VN"), 3),
    (("MM", "TH"), 2),
)  # fmt: skip
SEXES = (("FEMALE", 55), ("MALE", 40), ("OTHER", 2), ("UNKNOWN", 3))
AGES = (
    ("AGE_0_8", 3), ("AGE_9_17", 22), ("AGE_18_20", 12), ("AGE_21_23", 14), ("AGE_24_26", 12),
    ("AGE_27_29", 10), ("AGE_30_38", 15), ("AGE_39_47", 7), ("AGE_48_PLUS", 3), ("UNKNOWN", 2),
)  # fmt: skip
TYPES = (
    ("FORCED_LABOUR", 30), ("SEXUAL_EXPLOITATION", 20), ("ONLINE_SCAM_COMPOUND", 30),
    ("FORCED_MARRIAGE", 8), ("DOMESTIC_SERVITUDE", 7), ("FORCED_BEGGING", 5),
)  # fmt: skip
SERVICES = (
    "SHELTER", "MEDICAL_CARE", "PSYCHOSOCIAL_SUPPORT", "LEGAL_ASSISTANCE", "EDUCATION",
    "VOCATIONAL_TRAINING", "FAMILY_REUNIFICATION",
)  # fmt: skip


def _ms(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1000)


JULY = _ms(2026, 7, 1)
APRIL = _ms(2026, 4, 1)
Q3_END = _ms(2026, 10, 1)


def _plus_months(ms: int, months: int) -> int:
    when = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    m = when.month - 1 + months
    return int(when.replace(year=when.year + m // 12, month=m % 12 + 1).timestamp() * 1000)


def _band(days: float) -> str:
    for limit, label in ((30, "0-30"), (60, "31-60"), (90, "61-90"), (180, "91-180")):
        if days <= limit:
            return label
    return "181+"


@dataclass(slots=True)
class Generated:
    """Per country, its vault records; per table, the true interior counts (all countries)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    truth_by_country: dict[str, dict[str, dict[tuple[str, ...], int]]] = field(default_factory=dict)
    cases: int = 0

    def truth(self, without: frozenset[str] = frozenset()) -> dict[str, dict[tuple[str, ...], int]]:
        """The regional interior counts, leaving out the reports of ``without``."""
        out: dict[str, dict[tuple[str, ...], int]] = {}
        for country, tables in self.truth_by_country.items():
            if country in without:
                continue
            for name, cells in tables.items():
                target = out.setdefault(name, {})
                for key, n in cells.items():
                    target[key] = target.get(key, 0) + n
        return out

    def _count(self, country: str, table: str, *key: str) -> None:
        cells = self.truth_by_country.setdefault(country, {}).setdefault(table, {})
        cells[key] = cells.get(key, 0) + 1


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def generate(n: int = 10_000, *, seed: int = 15, q2_share: float = 0.2) -> Generated:
    """``n`` cases, their records per node, and the true counts of ``2026-Q3``."""
    rng = random.Random(seed)
    out = Generated(cases=n)
    serial = 0

    def event_id() -> str:
        nonlocal serial
        serial += 1
        return f"{serial:08x}-0000-7000-8000-{serial:012x}"

    def record(kind: str, src: str, dst: str, case: str, at: int, fields: dict[str, Any]) -> None:  # noqa: PLR0917
        rec = {
            "event_id": event_id(),
            "type": kind,
            "from": src,
            "to": [dst],
            "created_at_ms": at,
            "case_key": case,
            "fields": fields,
            "withheld": [],
        }
        out.records.setdefault(src, []).append(rec)
        out.records.setdefault(dst, []).append(rec)

    for i in range(n):
        ((found, origin),) = rng.choices([c for c, _ in CORRIDORS], [w for _, w in CORRIDORS])
        route = f"{found}>{origin}"
        sex, age = _pick(rng, SEXES), _pick(rng, AGES)
        k = rng.choices((0, 1, 2), (5, 80, 15))[0]
        types = sorted({_pick(rng, TYPES) for _ in range(k)})
        exploitation = types[0] if len(types) == 1 else "MULTIPLE" if types else "UNKNOWN"
        case = f"gen-{i:05d}"
        early = rng.random() < q2_share
        t_ref = (APRIL if early else JULY) + rng.randrange(0, 30 * DAY)
        referral = {
            "referred_at": t_ref,
            "sex": sex,
            "age_band": age,
            "exploitation_types": types or None,
            "is_child": age in ("AGE_0_8", "AGE_9_17"),
        }
        record("referral", found, origin, case, t_ref, referral)
        ref_id = out.records[found][-1]["event_id"]

        def person(
            table: str, country: str, who: tuple[str, ...] = (route, sex, age, exploitation)
        ) -> None:
            out._count(country, f"{table}_by_sex_age", who[0], who[1], who[2])
            out._count(country, f"{table}_by_exploitation", who[0], who[3])

        if not early:
            person("referred", found)
        if not early and rng.random() >= 0.8:
            continue
        t_acc = t_ref + rng.randrange(1, 10) * DAY
        accepted = {"acknowledged_event_id": ref_id, "status": "ACCEPTED", "acknowledged_at": t_acc}
        record("acknowledgement", origin, found, case, t_acc, accepted)
        if not early:
            person("accepted", origin)
        if not early and rng.random() >= 0.6:
            continue
        t_ho = t_acc + rng.randrange(10, 40) * DAY
        handed = {"acknowledged_event_id": ref_id, "status": "HANDED_OVER", "acknowledged_at": t_ho}
        record("acknowledgement", origin, found, case, t_ho, handed)
        if not early:
            person("handed_over", origin)
            out._count(origin, "handover_time_by_days", route, _band((t_ho - t_ref) / DAY))
        # reintegration: an intake visit in Q3 soon after the handover (no follow-up number)
        if not early and rng.random() < 0.7:
            t_visit = t_ho + rng.randrange(1, 10) * DAY
            got = sorted(set(rng.sample(SERVICES, rng.randrange(1, 4))))
            record("reintegration_report", origin, found, case, t_visit,
                   {"visit_number": None, "follow_up_number": None, "visited_at": t_visit,
                    "services_received": got, "risk_level": "LOW"})  # fmt: skip
            person("in_reintegration", origin)
            for s in got:
                out._count(origin, "services_by_type", route, s)
        if early:
            # The first follow-up, 3 months after the handover (in Q3): done on time, late
            # or not at all, reported by a reintegration report of follow-up 1 (the visit's
            # services count for Q3 when it falls in Q3) or by a FOLLOW_UP_DONE update.
            due = _plus_months(t_ho, 3)
            assert JULY <= due < Q3_END
            roll = rng.random()
            if roll < 0.6:
                done, outcome = due - rng.randrange(0, 5) * DAY, "ON_TIME"
            elif roll < 0.8:
                done, outcome = due + rng.randrange(1, 20) * DAY, "LATE"
            else:
                done, outcome = None, "NOT_DONE"
            if done is not None and rng.random() < 0.5:
                got = sorted(set(rng.sample(SERVICES, rng.randrange(1, 4))))
                record("reintegration_report", origin, found, case, done,
                       {"visit_number": 1, "follow_up_number": 1, "visited_at": done,
                        "services_received": got, "risk_level": "MEDIUM"})  # fmt: skip
                if JULY <= done < Q3_END:
                    person("in_reintegration", origin)
                    for s in got:
                        out._count(origin, "services_by_type", route, s)
            elif done is not None:
                record("case_update", origin, found, case, done,
                       {"status": "FOLLOW_UP_DONE", "previous_status": "FOLLOW_UP_DUE",
                        "changed_at": done, "follow_up_number": 1})  # fmt: skip
            t_rt = JULY + rng.randrange(0, 80) * DAY if rng.random() < 0.03 else None
            if t_rt is None or t_rt >= due:  # a re-trafficking before it ends the schedule
                out._count(origin, "followups_by_outcome", route, outcome)
            if t_rt is not None:
                record("case_update", origin, found, case, t_rt,
                       {"status": "RETRAFFICKING_SUSPECTED", "previous_status": "FOLLOW_UP_DONE",
                        "changed_at": t_rt, "transition_reason": None})  # fmt: skip
                person("retrafficking", origin)
    return out


@contextmanager
def no_fsync() -> Iterator[None]:
    """Writing tens of thousands of vault files: durability is not what these tests test."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def keep_all(store: NodeStore, records: Sequence[Mapping[str, Any]]) -> int:
    """Keep every record in ``store``'s vault (as the node's publish and inbox would)."""
    for r in records:
        store.keep(
            str(r["event_id"]), str(r["case_key"]), str(r["from"]), int(r["created_at_ms"]),
            None, r,
        )  # fmt: skip
    return len(records)
