"""The auditor's replay report as a self-contained HTML page (``trm audit replay --html``).

Pure: it takes the report document (``Report.to_json()``'s shape) and returns
the page. Every value is escaped; the report holds no personal data (D6).
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["replay_html"]


def replay_html(doc: dict[str, Any]) -> str:
    """The replay report ``doc`` as one HTML page."""
    rows = "".join(
        f"<tr class='{html.escape(f['kind'])}'><td>{html.escape(f['kind'])}</td>"
        f"<td>{html.escape(f['topic'])}/{f['partition']}/{f['offset']}</td>"
        f"<td>{html.escape(f['event_id'])}</td><td>{html.escape(f['detail'])}</td></tr>"
        for f in doc["findings"]
    )
    counts = "".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in doc["counts"].items())
    verdict = "Everything verifies." if doc["ok"] else "Discrepancies found."
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>trm-hub audit replay</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #aaa;padding:.3em .5em;text-align:left}}
.ok{{color:#1b5e20}}.bad{{color:#b71c1c}}tr.SEQUENCE_GAP,tr.REDELIVERY,tr.UNCHECKPOINTED{{background:#fff8e1}}
tr.DROP,tr.INJECTION,tr.ALTERATION,tr.FORK,tr.BEYOND_AGREEMENT,tr.DUPLICATE{{background:#ffebee}}
</style></head><body>
<h1>Audit replay of namespace {html.escape(doc["namespace"])}</h1>
<p class="{"ok" if doc["ok"] else "bad"}"><strong>{verdict}</strong></p>
<p>{doc["leaves"]} leaves; {doc["checkpoints"]} signed checkpoints, the last at size
{doc["checkpoint_size"]} with root <code>{html.escape(doc["root"])}</code>.
Replayed in {doc["seconds"]} s.</p>
<h2>Cross-checked</h2><ul>{counts}</ul>
<h2>Findings ({len(doc["findings"])})</h2>
<table><tr><th>kind</th><th>topic/partition/offset</th><th>event id</th><th>what is wrong</th></tr>
{rows}</table></body></html>
"""
