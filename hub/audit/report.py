"""The auditor's replay report as text lines and as a self-contained, printable HTML page.

Pure: each function takes the report document (``Report.to_json()``'s shape,
plus ``namespace`` and ``seconds`` from the CLI). ``trm audit replay`` prints
:func:`erasure_lines` and writes :func:`replay_html` (``--html``).

The page is what an auditor of the COMMIT secretariat presents: the verdict and
its findings in words; per agreement and corridor what was shared (event
types, fields delivered and withheld, how often); refusals by reason code;
acknowledgement times; the signed checkpoints with the witnesses that cosigned
each; erasures; the matching exchange; and the flow counts
(:mod:`hub.audit.flows`) the statistics report takes. Every number carries, in
``data-path``, where it is in the report document (so a test, or a reader of
``--report``, finds the same number there), and every count links to the
leaves it counts: the first few by index (the appendix shows each with its
inclusion proof in the last checkpoint), and a ``trm audit leaves`` command
that lists all of them.

No CDN, no fonts fetched: charts are inline SVG (:mod:`hub.charts`); a short
inline script recomputes a proof's root with the browser's SHA-256
(SubtleCrypto) on request; without it the page reads and prints the same.
Every value is escaped; the report holds no personal data (event ids,
pseudonymous case keys, countries, times, field names).
"""

from __future__ import annotations

import html
import re
import shlex
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from hub.audit.replay import ALL_TIME, FINDING_MEANINGS, LINKS_PER_COUNT, window_select
from hub.charts import Bar, bar_chart

__all__ = ["erasure_lines", "leaves_command", "reason_meanings", "replay_html"]

_e = html.escape
_CHART_BARS: Final = 30  # bars per chart; the tables hold every row


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def _span(since_ms: int, until_ms: int) -> str:
    """A replay's window in words (an open bound, :data:`ALL_TIME`'s, is left out)."""
    since = f"from {_utc(since_ms)}" if since_ms > ALL_TIME[0] else ""
    until = f"before {_utc(until_ms)}" if until_ms < ALL_TIME[1] else ""
    return " ".join(p for p in (since, until) if p) or "at any time"


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


_REASON_ROW: Final = re.compile(r"^\| `([A-Z_]+)` \|(.*)$", re.M)


def reason_meanings(protocol_markdown: str) -> dict[str, str]:
    """Each reason code's meaning, from the reason tables of docs/protocol.md section 10
    (the one place they are written; a row is ``| `CODE` | meaning | HTTP |``), markdown
    code marks removed."""
    return {
        code: rest.split(" | ")[0].strip(" |").replace("`", "").strip()
        for code, rest in _REASON_ROW.findall(protocol_markdown)
    }


def leaves_command(select: Mapping[str, str], namespace: str = "trm") -> str:
    """The ``trm audit leaves`` command that lists every leaf of a count.

    Every criterion of ``select`` becomes a flag (an empty one is spelt
    ``none`` by the replay, never dropped: the command would list more), each
    value quoted for a POSIX shell.
    """
    flags = "".join(
        f" --{key.replace('_', '-')} {shlex.quote(str(value))}" for key, value in select.items()
    )
    ns = "" if namespace == "trm" else f" --namespace {shlex.quote(namespace)}"
    return f"trm audit leaves{ns}{flags}"


def _duration(ms: int) -> str:
    if ms < 0:
        return f"-{_duration(-ms)}"
    if ms < 3_600_000:
        return f"{ms / 60_000:.0f} min"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.1f} h"
    return f"{ms / 86_400_000:.1f} d"


class _Page:
    """What every section needs: the linked leaves and the namespace (for commands)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.namespace = str(doc.get("namespace", "trm"))
        self.linked = {leaf["index"] for leaf in doc.get("linked_leaves", [])}

    def num(self, path: str, value: int, tag: str = "td") -> str:
        """A count, labelled with where it is in the report document."""
        return f'<{tag} class="num" data-path="{_e(path)}" data-value="{value}">{value}</{tag}>'

    def ms(self, path: str, value: int) -> str:
        """A duration, labelled likewise (its value in ms)."""
        return (
            f'<td class="num" data-path="{_e(path)}" data-value="{value}">'
            f"{_e(_duration(value))}</td>"
        )

    def leaf(self, index: int) -> str:
        if index in self.linked:
            return f'<a href="#leaf-{index}">{index}</a>'
        return str(index)

    def leaves(self, leaves: Sequence[int], total: int, select: Mapping[str, str]) -> str:
        """The first leaves of a count as links, and the command that lists all."""
        shown = ", ".join(self.leaf(i) for i in leaves[:LINKS_PER_COUNT])
        more = ""
        if total > min(len(leaves), LINKS_PER_COUNT):
            more = f" … ({total} in all)"
        command = leaves_command(select, self.namespace)
        return (
            f'<td class="leaves">{shown}{more}'
            f'<div class="cmd"><code>{_e(command)}</code></div></td>'
        )


def _chart(slug: str, title: str, bars: list[Bar], unit: str) -> str:
    if len(bars) > _CHART_BARS:
        bars = sorted(bars, key=lambda b: -(b.value or 0))[:_CHART_BARS]
        title = f"{title} (the {_CHART_BARS} largest)"
    return f'<figure class="chart">{bar_chart(slug, title, bars, unit=unit)}</figure>'


def _verdict(page: _Page) -> str:
    doc = page.doc
    ok = doc["ok"]
    verdict = "Everything verifies." if ok else "Discrepancies found."
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in doc["findings"]:
        found[f["kind"]].append(f)
    groups = []
    for kind, items in sorted(found.items()):
        rows = "".join(
            f"<tr><td>{_e(f['topic'])}/{f['partition']}/{f['offset']}</td>"
            f"<td>{_e(f['event_id'])}</td><td>{_e(f['detail'])}</td></tr>"
            for f in items[:50]
        )
        more = (
            f"<p>… and {len(items) - 50} more (see the JSON report).</p>" if len(items) > 50 else ""
        )
        groups.append(
            f'<section class="finding {_e(kind)}"><h3>{_e(kind)} '
            f"({page.num(f'discrepancies/{kind}', doc['discrepancies'][kind], 'span')})</h3>"
            f"<p>{_e(FINDING_MEANINGS.get(kind, ''))}.</p>"
            f"<table><tr><th>topic/partition/offset</th><th>event id</th>"
            f"<th>what is wrong</th></tr>{rows}</table>{more}</section>"
        )
    counts = "".join(
        f"<tr><th>{_e(k.replace('_', ' '))}</th>{page.num(f'counts/{k}', v)}</tr>"
        for k, v in doc["counts"].items()
    )
    explained = (
        "The log was rebuilt from its leaves; every signed checkpoint matches it and "
        "extends the one before; every outbox record was decided; every delivery in an "
        "inbox is one the log records, byte for byte, verifies end to end and stays within "
        "the agreement in force when the event was created."
        if ok
        else "At least one of the checks below failed: each finding names the record."
    )
    return f"""<section id="verdict" class="verdict {"ok" if ok else "bad"}">
<h2>Verdict</h2><p class="big"><strong>{verdict}</strong></p><p>{explained}</p>
<p>{page.num("leaves", doc["leaves"], "span")} leaves;
{page.num("checkpoints", doc["checkpoints"], "span")} signed checkpoint records, the last at size
{page.num("checkpoint_size", doc["checkpoint_size"], "span")} with root
<code class="hash">{_e(doc["root"])}</code>.</p>
<table class="narrow"><caption>Cross-checked</caption>{counts}</table>
{"".join(groups) or "<p>No findings.</p>"}</section>"""


def _sharing(page: _Page) -> str:
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, s in enumerate(page.doc.get("sharing", [])):
        rows[s["agreement"] or "(none)"].append((i, s))
    parts: list[str] = []
    bars: list[Bar] = []
    for agreement, items in rows.items():
        body = []
        for i, s in items:
            fields = ", ".join(
                f'{_e(name)} <span class="n" data-path="sharing/{i}/fields/{_e(name)}" '
                f'data-value="{n}">×{n}</span>'
                for name, n in s["fields"].items()
            )
            withheld = ", ".join(
                f'{_e(name)} <span class="n" data-path="sharing/{i}/withheld/{_e(name)}" '
                f'data-value="{n}">×{n}</span>'
                for name, n in s["withheld"].items()
            )
            body.append(
                f"<tr><td>{_e(s['producer'])} → {_e(s['recipient'])}</td>"
                f"<td>{_e(s['event_type'] or '(unverified)')}</td>"
                f"{page.num(f'sharing/{i}/delivered', s['delivered'])}"
                f"<td>{fields or '—'}</td><td>{withheld or '—'}</td>"
                f"{page.leaves(s['leaves'], s['delivered'], s['select'])}</tr>"
            )
            bars.append(
                Bar(
                    f"{s['producer']}→{s['recipient']} {s['event_type']}",
                    s["delivered"],
                    len(parts),
                )
            )
        parts.append(
            f"<h3>Agreement {_e(agreement)}</h3><table><tr><th>corridor</th><th>event type</th>"
            "<th>delivered</th><th>fields delivered (how often)</th>"
            "<th>fields withheld (how often)</th><th>log entries</th></tr>"
            f"{''.join(body)}</table>"
        )
    chart = _chart("deliveries", "Deliveries by corridor and event type", bars, "")
    return f"""<section id="sharing"><h2>What was shared, with whom, under which agreement</h2>
<p>Each delivery the log records (a DELIVERED or ACKNOWLEDGED leaf), by the agreement the
hub applied (id@version), the corridor (producer → recipient) and the event type from the
event's signed header. A field is <em>delivered</em> when the recipient's copy disclosed it,
<em>withheld</em> when the signed event disclosed it and the agreement kept it back.</p>
{chart}{"".join(parts) or "<p>No deliveries.</p>"}</section>"""


def _refusals(page: _Page, meanings: Mapping[str, str]) -> str:
    by_reason: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, r in enumerate(page.doc.get("refusals", [])):
        by_reason[r["reason"]].append((i, r))
    parts: list[str] = []
    bars: list[Bar] = []
    for reason, items in sorted(by_reason.items()):
        total = sum(r["refused"] for _, r in items)
        bars.append(Bar(reason, total))
        body = "".join(
            f"<tr><td>{_e(r['producer'])} → {_e(r['recipient'] or '(whole record)')}</td>"
            f"<td>{_e(r['event_type'] or '(unverified)')}</td>"
            f"{page.num(f'refusals/{i}/refused', r['refused'])}"
            f"{page.leaves(r['leaves'], r['refused'], r['select'])}</tr>"
            for i, r in items
        )
        meaning = meanings.get(reason, "see docs/protocol.md section 10")
        parts.append(
            f'<h3><code>{_e(reason)}</code> <span class="n">({total})</span></h3>'
            f'<p class="meaning">{_e(meaning)}</p>'
            "<table><tr><th>corridor</th><th>event type</th><th>refused</th>"
            f"<th>log entries</th></tr>{body}</table>"
        )
    chart = _chart("refusals", "Refusals by reason code", bars, "")
    return f"""<section id="refusals"><h2>What was refused, and why</h2>
<p>Each refusal the log records (a REJECTED leaf), by reason code. A record refused whole
(not an envelope, a bad signature, a replay) names no recipient.</p>
{chart if bars else ""}{"".join(parts) or "<p>Nothing was refused.</p>"}</section>"""


def _ack_table(page: _Page, key: str, rows: list[dict[str, Any]], due_ms: int | None) -> str:
    """Acknowledgement times per corridor; with ``due_ms``, how many came later than that
    (None: no such column, for times that have no deadline)."""
    body = "".join(
        f"<tr><td>{_e(r['producer'])} → {_e(r['recipient'])}</td><td>{_e(r['event_type'])}</td>"
        f"{page.num(f'{key}/{i}/n', r['n'])}{page.ms(f'{key}/{i}/median_ms', r['median_ms'])}"
        f"{page.ms(f'{key}/{i}/p90_ms', r['p90_ms'])}{page.ms(f'{key}/{i}/max_ms', r['max_ms'])}"
        + (page.num(f"{key}/{i}/overdue", r["overdue"]) if due_ms is not None else "")
        + f'<td class="leaves">{page.leaf(r["slowest"]["leaf"])} → '
        f"{page.leaf(r['slowest']['ack_leaf'])}</td></tr>"
        for i, r in enumerate(rows)
    )
    later = f"<th>later than {_e(_duration(due_ms))}</th>" if due_ms is not None else ""
    return (
        "<table><tr><th>corridor</th><th>event type</th><th>acknowledged</th><th>median</th>"
        f"<th>90th percentile</th><th>longest</th>{later}"
        f"<th>slowest: delivery → acknowledgement</th></tr>{body}</table>"
    )


def _acks(page: _Page) -> str:
    doc = page.doc
    due = int(doc.get("ack_due_ms", 0))
    acks = doc.get("ack_summary", [])
    handovers = doc.get("handover_summary", [])
    flows = doc.get("flows", {})
    bars = [
        Bar(f"{r['producer']}→{r['recipient']} {r['event_type']}", r["median_ms"] / 3_600_000)
        for r in acks
    ]
    omitted = int(flows.get("ack_times_omitted", 0))
    note = (
        f"<p>The report lists the first {len(flows.get('ack_times', []))} acknowledgement "
        f"times; {omitted} more were counted and left out, so these figures cover the "
        "listed ones.</p>"
        if omitted
        else ""
    )
    overdue = sorted(
        (
            a
            for a in flows.get("ack_times", [])
            if a["acknowledged_at_ms"] - a["created_at_ms"] > due
        ),
        key=lambda a: a["created_at_ms"] - a["acknowledged_at_ms"],
    )[:20]
    overdue_rows = "".join(
        f"<tr><td>{_e(a['event_id'])}</td><td>{_e(a['producer'])} → {_e(a['recipient'])}</td>"
        f"<td>{_e(a['event_type'])}</td><td>{_utc(a['created_at_ms'])}</td>"
        f"<td>{_utc(a['acknowledged_at_ms'])}</td>"
        f"<td>{_e(_duration(a['acknowledged_at_ms'] - a['created_at_ms']))}</td>"
        f'<td class="leaves">{page.leaf(a["leaf"])} → {page.leaf(a["ack_leaf"])}</td></tr>'
        for a in overdue
    )
    missing = doc.get("unacknowledged", [])
    missing_rows = "".join(
        f"<tr><td>{_e(r['producer'])} → {_e(r['recipient'])}</td><td>{_e(r['event_type'])}</td>"
        f"{page.num(f'unacknowledged/{i}/count', r['count'])}"
        f"<td>{_utc(r['oldest_created_at_ms'])}</td>"
        f'<td class="leaves">{", ".join(page.leaf(x) for x in r["leaves"][:LINKS_PER_COUNT])}'
        "</td></tr>"
        for i, r in enumerate(missing)
    )
    missing_table = (
        f"<h3>Not acknowledged {_e(_duration(due))} after creation</h3>"
        "<p>Deliveries of a type that awaits an acknowledgement (a handover notice) with no "
        "acknowledgement in the log when the replay ran: overdue, since the due time is at "
        "the latest the creation plus the deadline (earlier when the sealed payload names an "
        "earlier date).</p>"
        "<table><tr><th>corridor</th><th>event type</th><th>unacknowledged</th>"
        f"<th>oldest created</th><th>log entries</th></tr>{missing_rows}</table>"
        if missing
        else ""
    )
    overdue_table = (
        f"<h3>Acknowledged later than {_e(_duration(due))} (the longest first)</h3>"
        "<table><tr><th>event</th><th>corridor</th><th>event type</th><th>created</th>"
        f"<th>acknowledged</th><th>after</th><th>log entries</th></tr>{overdue_rows}</table>"
        if overdue
        else ""
    )
    return f"""<section id="acks"><h2>Acknowledgement times</h2>
<p>From an event's signed creation time to the signed creation time of the recipient's
first acknowledgement of it (an acknowledgement whose signed <code>correlation_id</code>
names the event, delivered back to its producer). Both times are the countries' own, as
signed. Percentiles are nearest-rank: each figure is one observed time.</p>{note}
{_chart("ack-median", "Median time to acknowledgement", bars, "h") if bars else ""}
{_ack_table(page, "ack_summary", acks, due) if acks else "<p>No acknowledgements.</p>"}
{overdue_table}{missing_table}
<h3>From referral to the acknowledgement of its handover</h3>
<p>For each delivered referral, the first acknowledgement of a handover notice about the
same case key between the same two countries, created at or after the referral. The
acknowledgement's status (received, handed over) is sealed: the log cannot tell a
receipt from a completed handover. No deadline applies here (a handover takes days), so
no count of late ones is given.</p>
{_ack_table(page, "handover_summary", handovers, None) if handovers else "<p>None.</p>"}
</section>"""


def _flows(page: _Page) -> str:
    counts = page.doc.get("flows", {}).get("counts", [])
    window = tuple(page.doc["window"]) if page.doc.get("window") else None
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in counts:
        by_month[c["month"]][0] += c["delivered"]
        by_month[c["month"]][1] += c["refused"]
    bars = []
    for month, (got, refused) in sorted(by_month.items()):
        bars += [Bar(f"{month} delivered", got, 1), Bar(f"{month} refused", refused, 3)]
    body = "".join(
        f"<tr><td>{_e(c['month'])}</td><td>{_e(c['producer'])} → {_e(c['recipient'])}</td>"
        f"<td>{_e(c['event_type'])}</td>{page.num(f'flows/counts/{i}/delivered', c['delivered'])}"
        f"{page.num(f'flows/counts/{i}/refused', c['refused'])}"
        + page.leaves(
            c["leaves"],
            c["delivered"] + c["refused"],
            {
                "producer": c["producer"],
                "recipient": c["recipient"],
                "event_type": c["event_type"],
                "month": c["month"],
            }
            | window_select(window),
        )
        + "</tr>"
        for i, c in enumerate(counts)
    )
    return f"""<section id="flows"><h2>Flow counts (the statistics report's log figures)</h2>
<p>Events per corridor, event type and month (UTC, of the signed creation time): deliveries
and per-recipient refusals, each counted from its leaf, next to the leaves it counts. These
are the figures <code>trm stats report</code> takes from this replay
(<code>trm audit replay --json</code>, key <code>flows</code>).</p>
{_chart("flows-by-month", "Events by month", bars, "") if bars else ""}
<table><tr><th>month</th><th>corridor</th><th>event type</th><th>delivered</th><th>refused</th>
<th>log entries</th></tr>{body}</table></section>"""


def _checkpoints(page: _Page) -> str:
    log = page.doc.get("checkpoint_log", {})
    rows = []
    for i, cp in enumerate(log.get("listed", [])):
        witnesses = "<br>".join(
            f"{_e(w['witness'])} key <code>{_e(w['key_id'])}</code> at "
            f"{_utc(w['signed_at_s'] * 1000)}"
            + ("" if w["verified"] else ' <strong class="bad">(does not verify)</strong>')
            for w in cp["witnesses"]
        )
        rows.append(
            f'<tr><td class="num" data-path="checkpoint_log/listed/{i}/size" '
            f'data-value="{cp["size"]}">{cp["size"]}</td>'
            f'<td><code class="hash">{_e(cp["root"])}</code></td>'
            f"<td>{_utc(cp['published_at_ms'])}</td>"
            f"<td>{'yes' if cp['matches_tree'] else '<strong class=bad>no</strong>'}</td>"
            f"<td>{witnesses or '—'}</td></tr>"
        )
    return f"""<section id="checkpoints"><h2>Signed checkpoints and their witnesses</h2>
<p>{page.num("checkpoint_log/distinct", log.get("distinct", 0), "span")} distinct checkpoints
signed by the hub, {page.num("checkpoint_log/cosigned", log.get("cosigned", 0), "span")}
cosigned by at least one witness country (C2SP tlog-cosignature, checked against the
witness keys of the trust list at the cosignature's time). Listed: every cosigned one and
the newest, newest first.</p>
<table><tr><th>size</th><th>root</th><th>published</th><th>matches the rebuilt tree</th>
<th>witnesses (key id, time)</th></tr>{"".join(rows)}</table></section>"""


def _erasures(page: _Page) -> str:
    doc = page.doc
    erasures = doc.get("erasures") or []
    rows = "".join(
        f"<tr class='{_e(e['status'])}'><td>{_e(e['status'])}</td>"
        f"<td>{_e(e['request_event_id'])}</td><td>{_e(e['case_key'])}</td>"
        f"<td>{_e(e['requester'])} → {_e(e['recipient'])}</td>"
        f"<td>{_utc(e['requested_at_ms'])}</td><td>{_utc(e['due_at_ms'])}</td>"
        f"<td>{_e(e['confirmation_event_id'] or '')}</td></tr>"
        for e in erasures
    )
    counts = ", ".join(
        f'<span data-path="erasure_counts/{k}" data-value="{n}">{n}</span> {k.lower()}'
        for k, n in doc.get("erasure_counts", {}).items()
    )
    return f"""<section id="erasures"><h2>Erasures ({len(erasures)})</h2>
<p>Each erasure request delivered to a recipient: CONFIRMED when that recipient's
erasure confirmation came back to the requester, OVERDUE when none came within
{doc.get("erasure_due_days")} days of the request, PENDING otherwise. {counts}</p>
<table><tr><th>status</th><th>request</th><th>case key</th><th>from → to</th>
<th>asked</th><th>due</th><th>confirmation</th></tr>{rows}</table></section>"""


def _matching(page: _Page) -> str:
    matching = page.doc.get("matching", {})
    decisions = matching.get("decisions", [])
    budgets = matching.get("budgets", [])
    if not decisions and not budgets:
        return (
            '<section id="matching"><h2>Matching (hit/no-hit)</h2>'
            "<p>No match messages in the log.</p></section>"
        )
    body = "".join(
        f"<tr><td>{_e(d['message'])}</td><td>{_e(d['kind'])}</td><td>{_e(d['hit'] or '—')}</td>"
        f"<td>{_e(d['producer'])} → {_e(d['recipient'])}</td>"
        f"{page.num(f'matching/decisions/{i}/count', d['count'])}"
        f'<td class="leaves">{", ".join(page.leaf(x) for x in d["leaves"][:LINKS_PER_COUNT])}'
        "</td></tr>"
        for i, d in enumerate(decisions)
    )
    budget_rows = "".join(
        f"<tr><td>{_e(b['day'])}</td><td>{_e(b['evaluator'])}</td><td>{_e(b['requester'])}</td>"
        f"{page.num(f'matching/budgets/{i}/evaluations', b['evaluations'])}"
        f"<td>{b['limit'] if b['limit'] is not None else '—'}</td></tr>"
        for i, b in enumerate(budgets)
    )
    return f"""<section id="matching"><h2>Matching (hit/no-hit)</h2>
<p>Decisions about match messages (no match key, no element: codes, ids, countries and
counts). Follow-up requests and answers are events: their numbers are in the flow counts
(<code>match_followup</code>, <code>match_followup_answer</code>); the replay checked each
answer had its request and each request its hit.</p>
<table><tr><th>message</th><th>decision</th><th>hit</th><th>from → to</th><th>count</th>
<th>log entries</th></tr>{body}</table>
<h3>Evaluation budgets per day</h3>
<table><tr><th>day</th><th>evaluator</th><th>requester</th><th>evaluations relayed</th>
<th>signed limit</th></tr>{budget_rows}</table></section>"""


def _appendix(page: _Page) -> str:
    entries = []
    for leaf in page.doc.get("linked_leaves", []):
        i = leaf["index"]
        proof = leaf.get("proof")
        fields = ", ".join(_e(f) for f in leaf["fields"]) or "—"
        if proof is None:
            proved = f"<p>No proof on this page: {_e(leaf.get('no_proof', ''))}.</p>"
        else:
            path = "".join(f"<li><code class='hash'>{_e(h)}</code></li>" for h in proof["path"])
            proved = f"""<details class="proof" data-index="{i}" data-size="{proof["tree_size"]}"
data-hash="{_e(leaf["leaf_hash"])}" data-root="{_e(proof["root"])}"
data-leaf="{_e(proof["leaf_bytes"])}" data-proof="{_e(" ".join(proof["path"]))}">
<summary>Inclusion proof in the checkpoint of size {proof["tree_size"]}</summary>
<p>Leaf hash = SHA-256(0x00 ‖ leaf bytes); each step hashes 0x01 ‖ left ‖ right with the
next path hash (RFC 9162 2.1.3.2); the last must be the checkpoint's root
<code class="hash">{_e(proof["root"])}</code>.</p>
<p>Leaf bytes: <code class="bytes">{_e(proof["leaf_bytes"])}</code></p>
<ol class="path">{path}</ol>
<p><button type="button" data-verify hidden>Recompute the root in this browser</button>
<output></output></p></details>"""
        entries.append(
            f"""<article class="leaf" id="leaf-{i}"><h3>Leaf {i}</h3><dl>
<dt>decision</dt><dd>{_e(leaf["kind"])}{" (match message)" if leaf.get("match") else ""}
 — <code>{_e(leaf["decision_id"])}</code></dd>
<dt>event</dt><dd><code>{_e(leaf["event_id"])}</code> {_e(leaf["event_type"])},
 created {_utc(leaf["created_at_ms"])}</dd>
<dt>from → to</dt><dd>{_e(leaf["producer"])} → {_e(leaf["recipient"] or "—")}</dd>
<dt>agreement</dt><dd>{_e(leaf["agreement"] or "—")}</dd>
<dt>reason</dt><dd>{_e(leaf["reason"] or "—")}</dd>
<dt>fields</dt><dd>{fields}</dd>
<dt>decided</dt><dd>{_utc(leaf["decided_at_ms"])}</dd>
<dt>leaf hash</dt><dd><code class="hash">{_e(leaf["leaf_hash"])}</code></dd></dl>
{proved}</article>"""
        )
    return f"""<section id="leaves"><h2>The log entries this page links to</h2>
<p>Each count above links to the first {LINKS_PER_COUNT} leaves it counts (by index in the
log); the command under it lists every one (<code>trm audit leaves</code> replays the log
and prints each matching leaf). A recipient or anyone else can fetch the proof of any leaf
from the sequencer: <code>trm audit proof --decision-id &lt;decision id&gt;</code>.</p>
{"".join(entries) or "<p>None.</p>"}</section>"""


_STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
 padding:0 1em;color:#111;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
td,th{border:1px solid #bbb;padding:.25em .45em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#eef2f7}table.narrow{width:auto}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em}code.hash,code.bytes{word-break:break-all}.cmd{color:#555;margin-top:.2em}
.cmd code{font-size:.75em}.verdict{border:3px solid;padding:.5em 1em;border-radius:6px}
.verdict.ok{border-color:#2e7d32}.verdict.bad{border-color:#b71c1c}.big{font-size:1.3em}
.ok{color:#1b5e20}.bad{color:#b71c1c}nav ol{columns:2}figure.chart{margin:1em 0}
section.finding{border-left:4px solid #b71c1c;padding-left:.8em}
section.finding.SEQUENCE_GAP,section.finding.UNCHECKPOINTED,section.finding.REDELIVERY,
section.finding.ERASURE_OVERDUE{border-color:#ef6c00}
tr.OVERDUE{background:#fff8e1}article.leaf{border-top:1px solid #ccc;margin-top:1em}
article.leaf:target{background:#fffde7}dl{display:grid;grid-template-columns:9em 1fr;gap:.1em .8em}
dt{font-weight:bold}ol.path{font-size:.85em}.meaning{color:#333;font-style:italic}
@media print{body{margin:0;max-width:none;font-size:10pt}nav,button,.cmd{display:none}
 h2,h3{break-after:avoid}section#sharing,section#leaves{break-before:page}
 tr,article.leaf,figure,dl{break-inside:avoid}
 a{color:inherit;text-decoration:none}}
"""

# Recomputes a proof's root with SubtleCrypto (RFC 9162 2.1.3.2, as hub.audit.merkle does).
_SCRIPT: Final = """
(function(){
if(!(window.crypto&&crypto.subtle))return;
function bytes(h){var a=new Uint8Array(h.length/2);for(var i=0;i<a.length;i++)
 a[i]=parseInt(h.substr(2*i,2),16);return a}
function hex(a){return Array.prototype.map.call(a,function(x){
 return x.toString(16).padStart(2,'0')}).join('')}
async function sha(tag,parts){var n=1;parts.forEach(function(p){n+=p.length});
 var b=new Uint8Array(n);b[0]=tag;var o=1;parts.forEach(function(p){b.set(p,o);o+=p.length});
 return new Uint8Array(await crypto.subtle.digest('SHA-256',b))}
async function check(d){
 var fn=+d.dataset.index,sn=+d.dataset.size-1;
 var r=await sha(0,[bytes(d.dataset.leaf)]);
 if(hex(r)!==d.dataset.hash)return'the leaf bytes do not hash to the leaf hash';
 var path=d.dataset.proof.split(' ').filter(Boolean);
 for(var i=0;i<path.length;i++){var p=bytes(path[i]);
  if(sn===0)return'the proof is too long';
  if((fn&1)||fn===sn){r=await sha(1,[p,r]);while(!(fn&1)&&fn!==0){fn>>=1;sn>>=1}}
  else r=await sha(1,[r,p]);
  fn>>=1;sn>>=1}
 if(sn!==0)return'the proof is too short';
 return hex(r)===d.dataset.root?'':'the path leads to another root'}
document.querySelectorAll('details.proof').forEach(function(d){
 var b=d.querySelector('button[data-verify]'),out=d.querySelector('output');b.hidden=false;
 b.addEventListener('click',async function(){var why=await check(d);
  out.className=why?'bad':'ok';
  out.textContent=why?'✗ '+why:'✓ recomputed here: the root equals the checkpoint root'})})
})();
"""


def replay_html(doc: Mapping[str, Any], *, reasons: Mapping[str, str] | None = None) -> str:
    """The replay report ``doc`` as one printable HTML page.

    ``reasons``: each reason code's meaning (:func:`reason_meanings` of
    docs/protocol.md); without it the page points to that section.
    """
    page = _Page(doc)
    window = doc.get("window")
    scope = (
        f"Records stamped {_span(window[0], window[1])} were cross-checked; "
        "the tree and every checkpoint were checked whole. The numbers count the decisions "
        "made in that window; an acknowledgement made after it still answers a delivery in it."
        if window
        else "The whole log and every topic were cross-checked."
    )
    generated = doc.get("generated_at_ms")
    sections: Iterable[str] = (
        _verdict(page),
        _sharing(page),
        _refusals(page, reasons or {}),
        _acks(page),
        _flows(page),
        _checkpoints(page),
        _erasures(page),
        _matching(page),
        _appendix(page),
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trm-hub audit replay: {_e(str(doc.get("namespace", "")))}</title>
<style>{_STYLE}</style></head><body>
<header><h1>Audit of the trm-hub log of namespace {_e(str(doc.get("namespace", "")))}</h1>
<p>Replayed {_utc(generated) if generated else ""} in {_e(str(doc.get("seconds", "")))} s by
<code>trm audit replay</code>, from the topics alone, without trusting the hub's operator.
{_e(scope)} The log holds no personal data: event ids, pseudonymous case keys, countries,
times and field names.</p></header>
<nav><ol><li><a href="#verdict">Verdict and findings</a></li>
<li><a href="#sharing">What was shared, with whom</a></li>
<li><a href="#refusals">Refusals</a></li><li><a href="#acks">Acknowledgement times</a></li>
<li><a href="#flows">Flow counts</a></li>
<li><a href="#checkpoints">Checkpoints and witnesses</a></li>
<li><a href="#erasures">Erasures</a></li><li><a href="#matching">Matching</a></li>
<li><a href="#leaves">Log entries and proofs</a></li></ol></nav>
{"".join(sections)}
<script>{_SCRIPT}</script></body></html>
"""
