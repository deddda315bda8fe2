"""The statistics_report payload, the regional sum, and the published files agreeing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.audit.flows import AckTime, FlowCount, Flows
from hub.errors import WireError
from hub.stats import Period, interior_of, regional, report_payload
from hub.stats.render import csv_of, html_of, json_of
from hub.wire import payload_from_json, payload_to_json
from tests.support.stats_audit import check_files_agree
from tests.support.stats_cases import generate

Q3 = Period.parse("2026-Q3")
LATER = 1_798_761_600_000  # 2027-01-01
DIMS = ["corridor", "exploitation"]


def _regional(n: int = 800) -> Any:
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


def test_the_regional_table_is_the_sum_and_names_who_is_missing() -> None:
    gen, report = _regional()
    assert report.truth == gen.truth()
    assert report.missing == ("ZZ",)
    assert report.audit_passed
    for table in report.tables:
        for cell in table.cells:
            assert cell.count is None or cell.count == 0 or cell.count >= report.k


def test_json_csv_and_html_carry_the_same_numbers(tmp_path: Path) -> None:
    _, report = _regional(600)
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
    _, report = _regional(600)
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
