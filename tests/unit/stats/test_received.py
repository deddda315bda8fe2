"""Which members' reports a node sums, and which refusals it names next to them."""

from __future__ import annotations

from typing import Any

from connectors.sdk.stats import tally
from hub.stats import Period

Q3 = Period.parse("2026-Q3")


def _report(producer: str, created_at_ms: int, n: int) -> dict[str, Any]:
    cells = [{"key": [f"{producer}>KH", "FORCED_LABOUR"], "count": n}]
    return {
        "type": "statistics_report",
        "from": producer,
        "event_id": f"e-{producer}-{created_at_ms}",
        "created_at_ms": created_at_ms,
        "fields": {
            "period": Q3.label,
            "reporting_country": producer,
            "generated_at": created_at_ms,
            "tables": [
                {"name": "referred_by_exploitation", "dimensions": ["corridor", "exploitation"],
                 "cells": cells},
                {"name": "referred_by_sex_age", "dimensions": ["corridor", "sex", "age_band"],
                 "cells": [{"key": [f"{producer}>KH", "MALE", "UNKNOWN"], "count": n}]},
            ],
        },
    }  # fmt: skip


def test_a_refused_newer_report_stays_named_next_to_the_older_counts_used() -> None:
    """Viet Nam's older report verified; its newer one was tampered with and refused. The
    older counts are summed, and the refusal is named next to them, not hidden."""
    got = tally([_report("VN", 1_000, 12)], {"VN": "UNREFERENCED_DISCLOSURE"}, Q3, "KH")
    assert got.counts["VN"]["referred_by_exploitation"] == {("VN>KH", "FORCED_LABOUR"): 12}
    assert got.refused == {"VN": "UNREFERENCED_DISCLOSURE"}


def test_the_newest_verified_report_counts_and_a_misfit_is_refused() -> None:
    bad = _report("LA", 3_000, 5)
    bad["fields"]["reporting_country"] = "TH"
    got = tally([_report("TH", 1_000, 12), _report("TH", 2_000, 20), bad], {}, Q3, "KH")
    assert got.counts["TH"]["referred_by_exploitation"] == {("TH>KH", "FORCED_LABOUR"): 20}
    assert got.event_ids["TH"] == "e-TH-2000"
    assert got.refused == {"LA": "INVALID_PAYLOAD"}
    assert "LA" not in got.counts
