"""The published forms of a regional report: JSON, one CSV per table, printable HTML (pure).

All three are made from the same :class:`hub.stats.report.Regional`, so they
carry the same numbers (a test reads them back and compares). A suppressed
cell is empty in the CSV with ``suppressed`` = ``true``, ``null`` in the JSON,
and "suppressed" (hatched in a chart) in the HTML. The exact counts kept by
the node (``Regional.truth``) appear in none of them.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Final

from hub.charts import Bar, bar_chart

from .report import Regional
from .tables import TOTAL, Table

__all__ = ["SUPPRESSED_MARK", "csv_of", "html_of", "json_of"]

SUPPRESSED_MARK: Final = "suppressed"

_CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em;color:#111;max-width:60em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table.cells{border-collapse:collapse;font-size:.85em;margin:.5em 0}
table.cells td,table.cells th{border:1px solid #ccc;padding:2px 6px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.s{color:#777;font-style:italic}.note{color:#444;font-size:.9em}
.warn{color:#a00;font-weight:bold}
@media print{body{margin:0}h2{page-break-before:auto}table.cells{page-break-inside:auto}}
"""


def json_of(report: Regional) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


def csv_of(table: Table) -> str:
    """One row per cell: the dimensions, ``count`` (empty when suppressed), ``suppressed``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*table.dimensions, "count", "suppressed"])
    for cell in table.cells:
        count = "" if cell.count is None else str(cell.count)
        writer.writerow([*cell.key, count, "true" if cell.suppressed else "false"])
    return out.getvalue()


def _bars(table: Table) -> list[Bar]:
    """One bar per category of the first dimension with a total (the others at TOTAL)."""
    bars = []
    for i, dim in enumerate(table.dimensions):
        for cell in table.cells:
            if cell.key[i] != TOTAL and all(v == TOTAL for j, v in enumerate(cell.key) if j != i):
                bars.append(Bar(f"{dim}: {cell.key[i]}", cell.count, group=i))
        if bars:
            return bars
    return bars


def _table_html(table: Table) -> str:
    esc = html.escape
    rows = []
    for cell in table.cells:
        key = "|".join(cell.key)
        tds = "".join(f"<td>{esc(v)}</td>" for v in cell.key)
        if cell.count is None:
            value = f'<td class="n s" data-suppressed="true">{SUPPRESSED_MARK}</td>'
        else:
            value = f'<td class="n">{cell.count}</td>'
        rows.append(f'<tr data-table="{esc(table.name)}" data-key="{esc(key)}">{tds}{value}</tr>')
    head = "".join(f"<th>{esc(d)}</th>" for d in table.dimensions)
    chart = bar_chart(table.name, table.title, _bars(table), unit=table.unit)
    withheld = (
        '<p class="warn">Withheld: these cells could not be protected; nothing is published.</p>'
        if table.withheld
        else ""
    )
    return (
        f'<section id="{esc(table.name)}"><h2>{esc(table.title)}</h2>'
        f'<p class="note">{esc(table.note)} Unit: {esc(table.unit)}. k = {table.k}.</p>'
        f"{withheld}{chart}"
        f'<table class="cells"><thead><tr>{head}<th>count</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def html_of(report: Regional) -> str:
    """A printable page: who reported, the suppression check, then each table and its chart."""
    esc = html.escape
    doc = report.to_json()
    countries = doc["countries"]
    refused = ", ".join(f"{c} ({r})" for c, r in countries["refused"].items()) or "none"
    check = doc["interval_check"]
    verdict = (
        "every suppressed cell's feasible interval is at least k wide"
        if check["passed"]
        else "some tables could not be protected and are withheld"
    )
    rows = "".join(
        f"<tr><td>{esc(p)}</td><td>{'passed' if a['passed'] else 'WITHHELD'}</td>"
        f'<td class="n">{a["suppressed"]}</td><td class="n">{a["cells"]}</td></tr>'
        for p, a in check["populations"].items()
    )
    sections = "".join(_table_html(t) for t in report.tables)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>COMMIT statistics {esc(report.period.label)}</title><style>{_CSS}</style>"
        "</head><body>"
        f"<h1>COMMIT statistics, {esc(report.period.label)}</h1>"
        f"<p>Regional table assembled by {esc(report.assembled_by)} at "
        f"{esc(doc['generated_at'])} from the signed reports of: "
        f"<b>{esc(', '.join(countries['included']) or 'none')}</b>. "
        f"Missing: <b>{esc(', '.join(countries['missing']) or 'none')}</b>. "
        f"Refused: <b>{esc(refused)}</b>.</p>"
        f"<p>No published count is between 1 and {report.k - 1}: cells below k = {report.k} "
        "are suppressed, and further cells are hidden so that none can be worked out from "
        f"the totals. Interval check: <b>{esc(verdict)}</b>.</p>"
        '<table class="cells"><thead><tr><th>tables of</th><th>interval check</th>'
        "<th>cells hidden</th><th>cells</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{sections}</body></html>\n"
    )
