"""The statistics_report payload, the regional sum, and the published files agreeing."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from hub.audit.flows import AckTime, FlowCount, Flows
from hub.errors import WireError
from hub.stats import Period, interior_of, regional, report_payload
from hub.stats.render import csv_of, html_of, json_of
from hub.wire import payload_from_json, payload_to_json
from tests.support.stats_audit import check_files_agree, published_intervals
from tests.support.stats_cases import generate

Q3 = Period.parse("2026-Q3")
LATER = 1_798_761_600_000  # 2027-01-01
DIMS = ["corridor", "exploitation"]


@functools.cache
def _regional(n: int = 600) -> Any:
    """One regional report of n generated cases, made once for every test that reads it
    (suppression with its LP audit takes tens of seconds; the report is frozen)."""
    from hub.stats import count_indicators

    gen = generate(n, seed=5)
    counts = {
        cc: count_indicators(records, cc, Q3, as_of_ms=LATER) for cc, records in gen.records.items()
    }
    return gen, regional(
        counts,
        members=[*counts, "ZZ"],
        refused={},
        period=Q3,
        assembled_by="KH",
        generated_at_ms=LATER,
    )


def test_the_payload_is_valid_avro_and_reads_back() -> None:
    gen = generate(400, seed=1)
    from hub.stats import count_indicators

    counts = count_indicators(gen.records["KH"], "KH", Q3, as_of_ms=LATER)
    payload = report_payload(counts, country="KH", period=Q3, generated_at_ms=LATER)
    assert set(payload) == {"period", "reporting_country", "generated_at", "tables"}
    avro = payload_from_json("statistics_report", payload)  # the schema accepts it
    back = payload_to_json(avro)
    assert interior_of(back, Q3) == counts
    text = json.dumps(payload)
    assert "gen-" not in text  # no case key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"period": "2026-Q2"}, "expected period 2026-Q3"),
        ({"tables": None}, "expected a list of tables"),
        ({"tables": [{"name": "names_of_victims", "dimensions": [], "cells": []}]}, "known table"),
        ({"tables": [{"name": "referred_by_exploitation", "dimensions": ["sex"], "cells": []}]},
         "expected referred_by_exploitation by"),
        ({"tables": [{"name": "referred_by_exploitation", "dimensions": DIMS,
                      "cells": [{"key": ["TH>KH", "OTHER"], "count": -3}]}]}, "non-negative"),
        ({"tables": [{"name": "referred_by_exploitation", "dimensions": DIMS,
                      "cells": [{"key": ["TH>KH", "TOTAL"], "count": 3}]}]}, "interior keys"),
    ],
)  # fmt: skip
def test_a_report_that_does_not_fit_is_refused(change: dict[str, Any], message: str) -> None:
    fields = {"period": "2026-Q3", "reporting_country": "TH", "generated_at": 0, "tables": []}
    with pytest.raises(WireError, match=message) as info:
        interior_of({**fields, **change}, Q3)
    assert info.value.reason == "INVALID_PAYLOAD"


def test_a_report_whose_tables_disagree_is_refused() -> None:
    """The sex-by-age and exploitation tables of one indicator count the same persons: a
    report whose corridor totals differ would be audited with one and published with the
    other, so it is refused."""
    fields = {
        "period": "2026-Q3", "reporting_country": "TH", "generated_at": 0,
        "tables": [
            {"name": "referred_by_sex_age", "dimensions": ["corridor", "sex", "age_band"],
             "cells": [{"key": ["TH>KH", "FEMALE", "AGE_18_20"], "count": 12}]},
            {"name": "referred_by_exploitation", "dimensions": DIMS,
             "cells": [{"key": ["TH>KH", "FORCED_LABOUR"], "count": 13}]},
        ],
    }  # fmt: skip
    with pytest.raises(WireError, match="expected referred_by_exploitation to count") as info:
        interior_of(fields, Q3)
    assert info.value.reason == "INVALID_PAYLOAD"
    assert "TH>KH (12), got 13" in str(info.value)
    fields["tables"][1]["cells"][0]["count"] = 12  # type: ignore[index]
    assert interior_of(fields, Q3)["referred_by_exploitation"] == {("TH>KH", "FORCED_LABOUR"): 12}
    # One table without the other is as inconsistent.
    with pytest.raises(WireError, match="count the persons"):
        interior_of({**fields, "tables": fields["tables"][:1]}, Q3)  # type: ignore[index]


def test_tables_that_disagree_on_a_shared_total_are_not_published() -> None:
    """suppress_linked audits one number per shared total: it refuses two."""
    from hub.errors import RequestError
    from hub.stats import Frame, TableSpec, suppress_linked

    a = TableSpec("a", "A", Frame(("corridor", "sex"), (("X",), ("F",)), (True, True)))
    b = TableSpec("b", "B", Frame(("corridor", "type"), (("X",), ("L",)), (True, True)))
    with pytest.raises(RequestError, match="agree"):
        suppress_linked([a, b], {"a": {("X", "F"): 12}, "b": {("X", "L"): 30}}, 11)


def test_the_regional_table_is_the_sum_and_names_who_is_missing() -> None:
    gen, report = _regional()
    assert report.truth == gen.truth()
    assert report.missing == ("ZZ",)
    assert report.audit_passed
    for table in report.tables:
        for cell in table.cells:
            assert cell.count is None or cell.count == 0 or cell.count >= report.k


def test_json_csv_and_html_carry_the_same_numbers(tmp_path: Path) -> None:
    _, report = _regional()
    (tmp_path / "report.json").write_text(json_of(report), encoding="utf-8")
    (tmp_path / "report.html").write_text(html_of(report), encoding="utf-8")
    for table in report.tables:
        (tmp_path / f"{table.name}.csv").write_text(csv_of(table), encoding="utf-8")
    assert check_files_agree(tmp_path) > 100
    doc = json.loads(json_of(report))
    assert "why" not in json.dumps(doc["tables"])  # the reason a cell is hidden is not published
    assert "PRIMARY" not in json.dumps(doc)


def test_the_published_interval_check_holds_only_what_the_tables_show() -> None:
    """An interval's width published next to the tables gave away a true count (the LP's
    maximum minus the width); the LP counts and times depend on the true counts too."""
    _, report = _regional()
    check = json.loads(json_of(report))["interval_check"]
    assert set(check) == {"passed", "k", "populations"}
    assert check["k"] == report.k
    assert "interval" not in json.dumps(check["populations"])
    for population, group in report.linked.items():
        published = check["populations"][population]
        assert set(published) == {"passed", "cells", "suppressed"}
        hidden = {
            tuple(sorted((d, v) for d, v in zip(t.dimensions, c.key, strict=True) if v != "TOTAL"))
            for t in group.tables
            for c in t.cells
            if c.suppressed
        }
        assert published["suppressed"] == len(hidden)
    assert "lps" in report.audit_json()["referred"]  # the node's own log keeps its work


def test_flow_counts_of_the_log_are_tables_too() -> None:
    july = 1_782_864_000_000
    day = 86_400_000
    flows = Flows(
        tuple(FlowCount("TH", "KH", "referral", month, n, 0, ())
              for month, n in (("2026-07", 40), ("2026-08", 3), ("2026-11", 9))),
        tuple(AckTime("TH", "KH", "referral", f"e{i}", july, july + d * day, i, i + 1)
              for i, d in enumerate((1, 2, 3) * 5)),
        tuple(AckTime("TH", "KH", "referral", f"r{i}", july, july + 40 * day, i, i + 1)
              for i in range(12)),
    )  # fmt: skip
    report = regional({}, members=["TH"], refused={}, period=Q3, assembled_by="TH",
                      generated_at_ms=LATER, flows=flows)  # fmt: skip
    flows_table = next(t for t in report.tables if t.name == "flows_by_corridor_type_month")
    assert flows_table.cell("TH>KH", "referral", "2026-07").count is None  # hidden with its partner
    assert flows_table.cell("TH>KH", "referral", "2026-08").suppressed
    assert flows_table.cell("TOTAL", "TOTAL", "TOTAL").count == 43  # November is not in Q3
    acks = next(t for t in report.tables if t.name == "acknowledgement_days")
    assert acks.cell("TH>KH", "0-30").count == 15
    handovers = next(t for t in report.tables if t.name == "referral_to_handover_ack_days")
    assert handovers.cell("TH>KH", "31-60").count == 12


def _handovers(seed: int) -> dict[str, dict[tuple[str, ...], int]]:
    """Persons handed over on four corridors, small and large, each with its days band."""
    import random

    rng = random.Random(seed)
    interior: dict[str, dict[tuple[str, ...], int]] = {}

    def add(table: str, *key: str) -> None:
        cells = interior.setdefault(table, {})
        cells[key] = cells.get(key, 0) + 1

    for corridor in ("TH>KH", "TH>LA", "TH>MM", "CN>VN"):
        for _ in range(rng.choice([rng.randint(1, 10), rng.randint(11, 60)])):
            sex = rng.choice(["FEMALE", "MALE"])
            age = rng.choice(["AGE_0_8", "AGE_9_17", "AGE_18_20"])
            add("handed_over_by_sex_age", corridor, sex, age)
            add("handed_over_by_exploitation", corridor,
                rng.choice(["FORCED_LABOUR", "SEXUAL_EXPLOITATION"]))  # fmt: skip
            add("handover_time_by_days", corridor, rng.choice(["0-30", "31-60", "61-90"]))
    return interior


@pytest.mark.parametrize("seed", [10, 91, 3, 27])
def test_tables_that_share_totals_are_audited_as_one(seed: int) -> None:
    """handover_time_by_days has the corridor totals of handed_over: a total published in one
    and hidden in the other is no secret, and the two tables together narrowed (seed 10) the
    primary cell (TH>KH, FORCED_LABOUR) = 2 to [1, 5]. Checked on the published tables of
    both, by the independent audit."""
    report = regional({"KH": _handovers(seed)}, members=["KH"], refused={}, period=Q3,
                      assembled_by="KH", generated_at_ms=LATER)  # fmt: skip
    assert report.audit_passed
    tables = [
        t.to_json() for t in report.tables if t.name.startswith(("handed_over", "handover_time"))
    ]
    assert {t["name"] for t in tables} == {
        "handed_over_by_sex_age", "handed_over_by_exploitation", "handover_time_by_days",
    }  # fmt: skip
    shown: dict[tuple[str, ...], set[bool]] = {}
    for t in tables:
        for c in t["cells"]:
            if all(v == "TOTAL" for v in c["key"][1:]):
                shown.setdefault((c["key"][0],), set()).add(c["suppressed"])
    assert all(len(hidden) == 1 for hidden in shown.values()), shown  # both or neither
    for ident, (lo, hi) in published_intervals(tables).items():
        assert hi - lo >= report.k, (ident, lo, hi)


def test_referral_events_of_the_log_are_hidden_with_the_persons_referred() -> None:
    """The log's referral events on a corridor are its persons referred (one referral each):
    a count hidden in referred_* is hidden in the flows table too."""
    interior: dict[str, dict[tuple[str, ...], int]] = {
        "referred_by_sex_age": {("TH>KH", "FEMALE", "AGE_18_20"): 5,
                                ("TH>LA", "MALE", "AGE_18_20"): 30},
        "referred_by_exploitation": {("TH>KH", "FORCED_LABOUR"): 5, ("TH>LA", "FORCED_LABOUR"): 30},
    }  # fmt: skip
    flows = Flows(
        (FlowCount("TH", "KH", "referral", "2026-07", 5, 0, ()),
         FlowCount("TH", "LA", "referral", "2026-07", 30, 0, ()),
         FlowCount("TH", "KH", "acknowledgement", "2026-07", 40, 0, ())),
        (),
        (),
    )  # fmt: skip
    report = regional({"TH": interior}, members=["TH"], refused={}, period=Q3,
                      assembled_by="TH", generated_at_ms=LATER, flows=flows)  # fmt: skip
    assert report.audit_passed
    referred = next(t for t in report.tables if t.name == "referred_by_exploitation")
    events = next(t for t in report.tables if t.name == "flows_by_corridor_type_month")
    assert referred.cell("TH>KH", "TOTAL").suppressed  # 5 < k
    assert events.cell("TH>KH", "referral", "TOTAL").suppressed  # the same 5
    assert events.cell("TH>KH", "referral", "2026-07").suppressed
    assert report.linked["flows"].audited_with == ("referred", "flows")
