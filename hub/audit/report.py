"""The auditor's replay report as text lines and as a self-contained HTML page.

Pure: each function takes the report document (``Report.to_json()``'s shape).
``trm audit replay`` prints :func:`erasure_lines` and writes
:func:`replay_html` (``--html``). Every value is escaped in the page; the
report holds no personal data (D6): event ids, pseudonymous case keys,
countries and times.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

__all__ = ["erasure_lines", "replay_html"]


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def erasure_lines(doc: dict[str, Any]) -> list[str]:
    """The erasure report as text: a summary line, then one line per request and recipient.

    An OVERDUE line starts with ``warning:``; PENDING is no failure. Empty when
    the replay saw no erasure request delivered.
    """
    erasures = doc.get("erasures") or []
    if not erasures:
        return []
    counts = doc.get("erasure_counts", {})
    lines = [
        f"erasures ({len(erasures)} request deliveries, due within "
        f"{doc.get('erasure_due_days')} days): {counts.get('CONFIRMED', 0)} confirmed, "
        f"{counts.get('PENDING', 0)} pending, {counts.get('OVERDUE', 0)} overdue"
    ]
    for e in erasures:
        prefix = "warning: " if e["status"] == "OVERDUE" else "  "
        answer = (
            f"confirmed by {e['confirmation_event_id']} at {_utc(e['confirmed_at_ms'])}"
            if e["status"] == "CONFIRMED"
            else f"due {_utc(e['due_at_ms'])}"
        )
        lines.append(
            f"{prefix}{e['status']} {e['request_event_id']} case {e['case_key']} "
            f"{e['requester']} -> {e['recipient']}, asked {_utc(e['requested_at_ms'])}, {answer}"
        )
    return lines


def replay_html(doc: dict[str, Any]) -> str:
    """The replay report ``doc`` as one HTML page."""
    rows = "".join(
        f"<tr class='{html.escape(f['kind'])}'><td>{html.escape(f['kind'])}</td>"
        f"<td>{html.escape(f['topic'])}/{f['partition']}/{f['offset']}</td>"
        f"<td>{html.escape(f['event_id'])}</td><td>{html.escape(f['detail'])}</td></tr>"
        for f in doc["findings"]
    )
    counts = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in doc["counts"].items())
    erasures = doc.get("erasures") or []
    erasure_rows = "".join(
        f"<tr class='{html.escape(e['status'])}'><td>{html.escape(e['status'])}</td>"
        f"<td>{html.escape(e['request_event_id'])}</td><td>{html.escape(e['case_key'])}</td>"
        f"<td>{html.escape(e['requester'])} → {html.escape(e['recipient'])}</td>"
        f"<td>{_utc(e['requested_at_ms'])}</td><td>{_utc(e['due_at_ms'])}</td>"
        f"<td>{html.escape(e['confirmation_event_id'] or '')}</td></tr>"
        for e in erasures
    )
    erasure_counts = ", ".join(f"{n} {k.lower()}" for k, n in doc.get("erasure_counts", {}).items())
    verdict = "Everything verifies." if doc["ok"] else "Discrepancies found."
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>trm-hub audit replay</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #aaa;padding:.3em .5em;text-align:left}}
.ok{{color:#1b5e20}}.bad{{color:#b71c1c}}tr.SEQUENCE_GAP,tr.REDELIVERY,tr.UNCHECKPOINTED{{background:#fff8e1}}
tr.DROP,tr.INJECTION,tr.ALTERATION,tr.FORK,tr.BEYOND_AGREEMENT,tr.DUPLICATE{{background:#ffebee}}
tr.ERASURE_OVERDUE,tr.OVERDUE{{background:#fff8e1}}
</style></head><body>
<h1>Audit replay of namespace {html.escape(doc["namespace"])}</h1>
<p class="{"ok" if doc["ok"] else "bad"}"><strong>{verdict}</strong></p>
<p>{doc["leaves"]} leaves; {doc["checkpoints"]} signed checkpoints, the last at size
{doc["checkpoint_size"]} with root <code>{html.escape(doc["root"])}</code>.
Replayed in {doc["seconds"]} s.</p>
<h2>Cross-checked</h2><ul>{counts}</ul>
<h2>Findings ({len(doc["findings"])})</h2>
<table><tr><th>kind</th><th>topic/partition/offset</th><th>event id</th><th>what is wrong</th></tr>
{rows}</table>
<h2>Erasures ({len(erasures)})</h2>
<p>Each erasure request delivered to a recipient: CONFIRMED when that recipient's
erasure confirmation came back to the requester, OVERDUE when none came within
{doc.get("erasure_due_days")} days of the request, PENDING otherwise. {erasure_counts}</p>
<table><tr><th>status</th><th>request</th><th>case key</th><th>from → to</th>
<th>asked</th><th>due</th><th>confirmation</th></tr>
{erasure_rows}</table></body></html>
"""
