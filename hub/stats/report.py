"""A country's statistics report, the regional sum, and what is published (pure).

- :func:`report_payload`: a node's interior counts as the ``statistics_report``
  payload (aggregates only: no case key, no event id, no name; exact counts,
  because it is an exchange between governments under an agreement).
- :func:`interior_of`: the counts of a received report, checked against the
  tables this version defines (a report that names an unknown table or a
  negative count is refused: INVALID_PAYLOAD).
- :func:`regional`: the sum of the reports received (verified end to end by
  the node's inbox) and the reporting node's own, plus the flow counts from
  the audit log, each population suppressed and audited
  (:func:`hub.stats.suppression.suppress_linked`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.audit.flows import AckTime, Flows
from hub.errors import Reason, WireError

from .indicators import DAY_BANDS, Period, frames, table_specs
from .suppression import DEFAULT_K, Linked, TableSpec, suppress_together
from .tables import TOTAL, Frame, Table

__all__ = ["Regional", "flow_interior", "interior_of", "regional", "report_payload"]


def report_payload(
    interior: Mapping[str, Mapping[tuple[str, ...], int]],
    *,
    country: str,
    period: Period,
    generated_at_ms: int,
) -> dict[str, Any]:
    """The ``statistics_report`` payload (JSON form): non-zero interior cells, exact."""
    specs = {s.name: s for group in table_specs(period).values() for s in group}
    tables = []
    for name in sorted(interior):
        cells = [
            {"key": list(key), "count": int(n)}
            for key, n in sorted(interior[name].items())
            if n > 0
        ]
        tables.append(
            {"name": name, "dimensions": list(specs[name].frame.dimensions), "cells": cells}
        )
    return {
        "period": period.label,
        "reporting_country": country,
        "generated_at": generated_at_ms,
        "tables": tables,
    }


def _bad(detail: str) -> WireError:
    return WireError(Reason.INVALID_PAYLOAD, f"statistics_report: {detail}")


def interior_of(fields: Mapping[str, Any], period: Period) -> dict[str, dict[tuple[str, ...], int]]:
    """The interior counts of a received report's fields, checked.

    Raises:
        WireError: INVALID_PAYLOAD when the period differs, a table is
            unknown, its dimensions differ from this version's, a key has the
            wrong length, a count is not a non-negative integer, or two tables
            of one indicator disagree on a corridor's persons (the sex-by-age
            table and the exploitation table count the same persons).
    """
    if fields.get("period") != period.label:
        raise _bad(f"expected period {period.label}, got {str(fields.get('period'))[:20]!r}")
    tables = fields.get("tables")
    if not isinstance(tables, list):
        raise _bad("expected a list of tables (was it withheld?)")
    specs = {s.name: s for group in table_specs(period).values() for s in group}
    out: dict[str, dict[tuple[str, ...], int]] = {}
    for table in tables:
        name = table.get("name") if isinstance(table, Mapping) else None
        spec = specs.get(str(name))
        if spec is None or not isinstance(table, Mapping):
            raise _bad(f"expected a known table, got {str(name)[:60]!r}")
        dims = tuple(table.get("dimensions") or ())
        if dims != spec.frame.dimensions:
            raise _bad(f"expected {name} by {list(spec.frame.dimensions)}, got {list(dims)[:8]}")
        counts: dict[tuple[str, ...], int] = {}
        cells = table.get("cells")
        if not isinstance(cells, list) or not all(isinstance(c, Mapping) for c in cells):
            raise _bad(f"expected a list of cells in {name}")
        for cell in cells:
            raw_key = cell.get("key")
            key = tuple(str(v) for v in raw_key) if isinstance(raw_key, list) else ()
            n = cell.get("count")
            if len(key) != len(dims) or "TOTAL" in key:
                raise _bad(f"expected interior keys of {len(dims)} categories in {name}")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise _bad(f"expected non-negative counts in {name}")
            counts[key] = counts.get(key, 0) + n
        out[spec.name] = counts
    _consistent(out, table_specs(period))
    return out


def _consistent(
    interior: Mapping[str, Mapping[tuple[str, ...], int]], groups: Mapping[str, list[TableSpec]]
) -> None:
    """The tables of one population count the same persons per corridor (and quarter).

    Raises:
        WireError: INVALID_PAYLOAD naming the tables, the corridor and both counts.
    """
    for specs in groups.values():
        if len(specs) < 2:
            continue
        shared = [d for d in specs[0].frame.dimensions if d in ("quarter", "corridor")]
        totals = []
        for spec in specs:
            at = [spec.frame.dimensions.index(d) for d in shared]
            sums: dict[tuple[str, ...], int] = {}
            for key, n in interior.get(spec.name, {}).items():
                margin = tuple(key[i] for i in at)
                sums[margin] = sums.get(margin, 0) + n
            totals.append((spec.name, {m: n for m, n in sums.items() if n}))
        (first, expected), *others = totals
        for name, got in others:
            for margin in sorted(set(expected) | set(got)):
                if expected.get(margin, 0) != got.get(margin, 0):
                    raise _bad(
                        f"expected {name} to count the persons of {first} on "
                        f"{'/'.join(margin)[:40]} ({expected.get(margin, 0)}), "
                        f"got {got.get(margin, 0)}"
                    )


def _add(
    into: dict[str, dict[tuple[str, ...], int]], more: Mapping[str, Mapping[tuple[str, ...], int]]
) -> None:
    for name, cells in more.items():
        target = into.setdefault(name, {})
        for key, n in cells.items():
            target[key] = target.get(key, 0) + n


@dataclass(frozen=True, slots=True)
class Regional:
    """The regional report: whose reports it sums, every table, and the audits.

    Attributes:
        period: the period.
        k: the threshold used.
        generated_at_ms: when it was assembled.
        assembled_by: the country that assembled it.
        included: countries whose verified report is summed.
        missing: members with no report for the period.
        refused: members whose report was refused, with the reason code.
        truth: the exact interior sums (kept by the node, never published).
        linked: per population, its suppressed tables and the audit.
    """

    period: Period
    k: int
    generated_at_ms: int
    assembled_by: str
    included: tuple[str, ...]
    missing: tuple[str, ...]
    refused: Mapping[str, str]
    truth: Mapping[str, Mapping[tuple[str, ...], int]]
    linked: Mapping[str, Linked] = field(default_factory=dict)

    @property
    def tables(self) -> list[Table]:
        return [t for group in self.linked.values() for t in group.tables]

    @property
    def audit_passed(self) -> bool:
        return all(not g.outcome.withheld for g in self.linked.values())

    def audit_json(self) -> dict[str, Any]:
        """The audit's work per population, for the node's own log: NEVER published.

        How many linear programs ran, which intervals were witnessed and how
        long it took depend on the true counts (the audit starts from them),
        so none of it goes into report.json (:meth:`interval_check`).
        """
        out: dict[str, Any] = {}
        for population, group in self.linked.items():
            a = group.outcome.audit
            out[population] = {
                "passed": not group.outcome.withheld,
                "cells": group.cells,
                "suppressed": len(_hidden_cells(group)),
                "rounds": group.outcome.rounds,
                "lps": a.lps,
                "intervals_witnessed": a.witnessed,
                "largest_lp_variables": a.largest_lp,
                "seconds": round(a.seconds, 3),
                # populations sharing totals are audited as one: the figures above are theirs
                "audited_with": list(group.audited_with),
            }
        return out

    def interval_check(self) -> dict[str, Any]:
        """What report.json says of the audit: only what the published tables show anyway.

        Per population: passed (False: its tables are withheld), its distinct
        cells and how many are suppressed; and ``k``. No interval, no count of
        linear programs, no time: each depends on the true counts.
        """
        return {
            "passed": self.audit_passed,
            "k": self.k,
            "populations": {
                population: {
                    "passed": not group.outcome.withheld,
                    "cells": group.cells,
                    "suppressed": sum(1 for _ in _hidden_cells(group)),
                }
                for population, group in self.linked.items()
            },
        }

    def to_json(self) -> dict[str, Any]:
        when = dt.datetime.fromtimestamp(self.generated_at_ms / 1000, tz=dt.UTC)
        return {
            "period": self.period.label,
            "generated_at": when.isoformat().replace("+00:00", "Z"),
            "assembled_by": self.assembled_by,
            "k": self.k,
            "countries": {
                "included": list(self.included),
                "missing": list(self.missing),
                "refused": dict(self.refused),
            },
            "interval_check": self.interval_check(),
            "tables": [t.to_json() for t in self.tables],
        }


def _hidden_cells(group: Linked) -> set[tuple[tuple[str, str], ...]]:
    """The distinct suppressed cells of a population, as a reader of its tables counts them."""
    return {
        tuple(sorted((d, v) for d, v in zip(t.dimensions, c.key, strict=True) if v != TOTAL))
        for t in group.tables
        for c in t.cells
        if c.suppressed
    }


def _days_band(ms: int) -> str:
    days = max(0, ms) / 86_400_000
    return next((label for limit, label in DAY_BANDS if days <= limit), "181+")


def flow_interior(
    flows: Flows, period: Period
) -> tuple[dict[str, list[TableSpec]], dict[str, dict[tuple[str, ...], int]]]:
    """Tables from the audit log's flow counts (``hub.audit.flows``, no personal data).

    Events delivered per corridor, type and month; days from an event to its
    acknowledgement; days from a referral to its handover notice's
    acknowledgement. The months and times of ``period`` only (``Flows.within``).
    """
    inside = flows.within(period.start_ms, period.end_ms)
    q = len(period.quarters) > 1
    counts: dict[tuple[str, ...], int] = {}
    for fc in inside.counts:
        if fc.delivered > 0:
            key = (f"{fc.producer}>{fc.recipient}", fc.event_type, fc.month)
            counts[key] = counts.get(key, 0) + fc.delivered

    def bands(times: Sequence[AckTime]) -> dict[tuple[str, ...], int]:
        out: dict[tuple[str, ...], int] = {}
        for at in times:
            route = f"{at.producer}>{at.recipient}"
            band = _days_band(at.acknowledged_at_ms - at.created_at_ms)
            key = (str(period.quarter_of(at.created_at_ms)), route, band) if q else (route, band)
            out[key] = out.get(key, 0) + 1
        return out

    qd = ("quarter",) if q else ()
    timed = Frame((*qd, "corridor", "days"), ((),) * (len(qd) + 2), (True,) * (len(qd) + 2))
    note = "From the hub's audit log (no personal data): an auditor traces each count to leaves."
    specs = {
        "flows": [
            TableSpec(
                "flows_by_corridor_type_month",
                "Events delivered, by corridor, event type and month (from the audit log)",
                Frame(("corridor", "event_type", "month"), ((), (), ()), (True, True, True)),
                unit="events",
                note=note,
                family="referred",  # a corridor's referral events: its persons referred
                pins=(("event_type", "referral"),),
            )
        ],
        "ack_times": [
            TableSpec(
                "acknowledgement_days",
                "Days from an event to its first acknowledgement, by corridor (audit log)",
                timed,
                unit="events",
                note=note,
            )
        ],
        "handover_ack_times": [
            TableSpec(
                "referral_to_handover_ack_days",
                "Days from a referral to the acknowledgement of its handover notice (audit log)",
                timed,
                unit="referrals",
                note=note + " The log cannot tell a receipt from a completed handover (sealed).",
            )
        ],
    }
    return specs, {
        "flows_by_corridor_type_month": counts,
        "acknowledgement_days": bands(inside.ack_times),
        "referral_to_handover_ack_days": bands(inside.handover_times),
    }


def regional(
    reports: Mapping[str, Mapping[str, Mapping[tuple[str, ...], int]]],
    *,
    members: Iterable[str],
    refused: Mapping[str, str],
    period: Period,
    assembled_by: str,
    generated_at_ms: int,
    k: int = DEFAULT_K,
    flows: Flows | None = None,
) -> Regional:
    """Sum the countries' verified reports, add the log's flow counts, suppress each population.

    Args:
        reports: per country, its interior counts (the assembling country's own included).
        members: every country expected to report.
        refused: countries whose report the inbox refused, with the reason code.
    """
    truth: dict[str, dict[tuple[str, ...], int]] = {}
    for country in sorted(reports):
        _add(truth, reports[country])
    specs = frames(table_specs(period), truth)
    if flows is not None:
        flow_specs, flow_counts = flow_interior(flows, period)
        truth.update(flow_counts)
        specs.update(frames(flow_specs, flow_counts))
    # Populations that share totals (a family) are audited as one system: a number
    # published in one table and hidden in another would be no secret (protocol 15).
    linked = suppress_together(specs, truth, k)
    expected = sorted(set(members))
    return Regional(
        period=period,
        k=k,
        generated_at_ms=generated_at_ms,
        assembled_by=assembled_by,
        included=tuple(sorted(reports)),
        missing=tuple(c for c in expected if c not in reports and c not in refused),
        refused=dict(sorted(refused.items())),
        truth=truth,
        linked=linked,
    )
