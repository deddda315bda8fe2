"""Who may send which event type to whom: the agreement matrix (``trm agreements matrix``).

Pure: computed from an agreement set, optionally only agreements fully signed
under a trust list, at one time. Deny by default: a pair with no flow is
shown as nothing.
"""

from __future__ import annotations

import html

from hub.keys import KeyDirectory
from hub.policy.agreement import AgreementSet
from hub.topics import COMMIT_COUNTRIES
from hub.wire import EventType

__all__ = ["Matrix", "flow_matrix", "matrix_html"]

Matrix = dict[tuple[str, str], list[str]]
"""(sender, recipient) -> ``"event_type (agreement id@version)"`` for each type allowed."""


def flow_matrix(agreements: AgreementSet, trust: KeyDirectory | None, at: int) -> Matrix:
    """Per ordered pair of members, the event types some agreement in force allows."""
    cells: dict[tuple[str, str], list[str]] = {}
    for sender in COMMIT_COUNTRIES:
        for recipient in COMMIT_COUNTRIES:
            if sender == recipient:
                continue
            allowed: list[str] = []
            for event_type in EventType:  # the registry: built in and $TRM_EVENT_TYPES
                for signed in agreements.in_force(at):
                    if trust is not None and signed.missing_parties(trust, at)[0]:
                        continue
                    if signed.agreement.flows_for(sender, recipient, event_type):
                        allowed.append(f"{event_type} ({signed.agreement.ref})")
                        break
            cells[(sender, recipient)] = allowed
    return cells


def matrix_html(cells: Matrix, at: int) -> str:
    """The matrix as a self-contained, escaped HTML page."""
    head = "".join(f"<th>{cc}</th>" for cc in COMMIT_COUNTRIES)
    rows = []
    for sender in COMMIT_COUNTRIES:
        tds = []
        for recipient in COMMIT_COUNTRIES:
            if sender == recipient:
                tds.append('<td class="self">—</td>')
                continue
            items = cells[(sender, recipient)]
            body = "<br>".join(html.escape(i) for i in items) or "<em>nothing</em>"
            tds.append(f'<td class="{"some" if items else "none"}">{body}</td>')
        rows.append(f"<tr><th>{sender}</th>{''.join(tds)}</tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>trm-hub: agreement matrix</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #999; padding: .4em; vertical-align: top; }}
td.none {{ background: #fbe9e7; }} td.some {{ background: #e8f5e9; font-size: .85em; }}
td.self {{ background: #eee; text-align: center; }}
</style></head><body>
<h1>Who may send which event type to whom</h1>
<p>Rows are senders, columns recipients. Only agreements in force at {at} ms (UTC) are shown;
everything not listed is refused (deny by default).</p>
<table><tr><th>from \\ to</th>{head}</tr>
{"".join(rows)}
</table></body></html>
"""
