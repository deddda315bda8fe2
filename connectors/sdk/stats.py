"""A country node's statistics: its own indicators, its signed report, the regional table.

- :func:`own_counts`: the COMMIT indicators from what the node's vault holds
  (what it sent and what it received; :mod:`hub.stats.indicators`).
- :func:`publish_report`: the counts as a signed, sealed ``statistics_report``
  to every other member (purpose ``statistics``), like any event.
- :func:`received_reports`: the other members' reports for the period, read
  through the node's inbox (every record verified end to end: signature, hub
  attestation, seal). A report the inbox refuses is named with its reason
  code and left out; nothing is marked seen and the cursor does not move, so a
  desk still sees every event it has not shown.
- :func:`assemble`: the regional table (:func:`hub.stats.regional`), and
  :func:`write_report`: ``report.json``, one CSV per table, ``report.html``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from hub.app.kafka import Follower
from hub.audit.flows import Flows
from hub.cases import Schedules
from hub.errors import Reason, SealError, TrmError, WireError
from hub.stats import Period, Regional, count_indicators, interior_of, regional, report_payload
from hub.stats.indicators import FOLLOW_UP_MONTHS
from hub.stats.render import csv_of, html_of, json_of
from hub.wire import EventType

from .node import CountryNode
from .records import InboxRefusal
from .store import NodeStore
from .submission import Submission

__all__ = [
    "Received",
    "assemble",
    "own_counts",
    "publish_report",
    "received_reports",
    "report_case_key",
    "sealable",
    "tally",
    "vault_records",
    "wait_for_reports",
    "write_report",
]

TYPE = EventType.STATISTICS_REPORT.value
Counts = dict[str, dict[tuple[str, ...], int]]


def report_case_key(period: Period, country: str) -> str:
    """The header's case key of a report: no case, so a key naming the report itself."""
    return f"stats-{period.label}-{country}"


def vault_records(store: NodeStore) -> list[dict[str, Any]]:
    """Every record the vault holds (sent and received), oldest first."""
    out = []
    for entry in store.entries():
        record = store.opened(entry.event_id)
        if record is not None:
            out.append(record)
    return out


def own_counts(
    store: NodeStore,
    country: str,
    period: Period,
    *,
    now_ms: int,
    follow_up_months: Sequence[int] = FOLLOW_UP_MONTHS,
    agreements: Iterable[Schedules] = (),
) -> Counts:
    """This country's indicators for ``period`` from its vault (exact interior counts).

    ``agreements``: those the node holds; a case's follow-up schedule is its
    agreement's (as the desk's), else ``follow_up_months``.
    """
    records = [r for r in vault_records(store) if r.get("type") != TYPE]
    return count_indicators(
        records,
        country,
        period,
        as_of_ms=now_ms,
        follow_up_months=follow_up_months,
        agreements=agreements,
    )


async def publish_report(
    node: CountryNode,
    period: Period,
    counts: Mapping[str, Mapping[tuple[str, ...], int]],
    *,
    recipients: Iterable[str],
    now_ms: int | None = None,
) -> str:
    """Sign, seal and send this country's report to ``recipients``; its event id.

    Raises:
        TrmError: as :meth:`CountryNode.publish` (SEAL_KEY_MISSING, OVERSIZED, ...).
    """
    now = node.now_ms() if now_ms is None else now_ms
    payload = report_payload(counts, country=node.country, period=period, generated_at_ms=now)
    submission = Submission(
        event_type=EventType.STATISTICS_REPORT,
        recipients=tuple(sorted(set(recipients) - {node.country})),
        purpose="statistics",
        handling="H1",
        case_key=report_case_key(period, node.country),
        payload=payload,
    )
    return await node.publish(submission, created_at_ms=now)


async def sealable(
    node: CountryNode, members: Iterable[str], at_ms: int
) -> tuple[list[str], list[str]]:
    """The other members with a seal key valid at ``at_ms``, and those without one.

    A report is sealed to each recipient; a member that has not published a
    seal key cannot receive one, and is named rather than blocking the others.

    Raises:
        OperationalError: KAFKA_UNAVAILABLE (reading the seal-key registry).
    """
    others = sorted(set(members) - {node.country})
    directory = await node.refresh_seal_keys()
    ready, lacking = [], []
    for member in others:
        try:
            directory.key_for(member, at_ms)
        except SealError:
            lacking.append(member)
        else:
            ready.append(member)
    return ready, lacking


@dataclass(frozen=True, slots=True)
class Received:
    """The other members' reports for one period as this node's inbox verified them.

    Attributes:
        counts: per country, the counts of its newest verified report.
        event_ids: per country, that report's event id (traceable in the log).
        refused: per country, why a report of it was refused (a reason code),
            even when another of its reports verified and is counted: a
            tampered newer report is named next to the older counts used.
    """

    counts: Mapping[str, Counts]
    event_ids: Mapping[str, str]
    refused: Mapping[str, str]


def _headers(msg: Any) -> dict[str, str]:
    out = {}
    for name, value in msg.headers or ():
        if isinstance(value, bytes | bytearray):
            out[str(name)] = bytes(value).decode("utf-8", "replace")
    return out


async def _claimed(node: CountryNode, refusals: Sequence[InboxRefusal]) -> dict[str, str]:
    """Per claimed producer, the reason its refused statistics reports were refused.

    A refused record is not trusted, but its CloudEvents headers say who it
    claims to be from and of what type: enough to name the country whose
    report is missing and why (never to count it).
    """
    if not refusals:
        return {}
    topic = node.topics.inbox(node.country)
    starts = {
        TopicPartition(topic, p): min(r.offset for r in refusals if r.partition == p)
        for p in {r.partition for r in refusals}
    }
    ends = {
        TopicPartition(topic, p): max(r.offset for r in refusals if r.partition == p) + 1
        for p in {r.partition for r in refusals}
    }
    why = {(r.partition, r.offset): r.reason.value for r in refusals}
    out: dict[str, str] = {}
    follower = Follower(node.bootstrap, [topic], start=starts, group_id=None, **node.client_config)
    try:
        async for batch in follower.records(until=ends):
            for msg in batch:
                reason = why.get((msg.partition, msg.offset))
                headers = _headers(msg)
                if reason is None or not headers.get("ce_type", "").startswith(f"trm.{TYPE}."):
                    continue
                source = headers.get("ce_source", "")
                country = source.rsplit(":", 1)[-1][:2] if source.startswith("urn:trm:") else "??"
                out[country] = reason
    finally:
        await follower.close()
    return out


def _newest(records: Iterable[Mapping[str, Any]], period: Period) -> dict[str, Mapping[str, Any]]:
    best: dict[str, Mapping[str, Any]] = {}
    for r in records:
        fields = r.get("fields")
        if r.get("type") != TYPE or not isinstance(fields, Mapping):
            continue
        if fields.get("period") != period.label:
            continue
        producer = str(r.get("from"))
        old = best.get(producer)
        if old is None or int(r.get("created_at_ms") or 0) > int(old.get("created_at_ms") or 0):
            best[producer] = r
    return best


async def received_reports(node: CountryNode, period: Period) -> Received:
    """The newest verified report of each other member for ``period``, and the refused ones.

    Reads the whole inbox through the node's own checks (nothing marked seen,
    the cursor unmoved) and the vault (reports read earlier whose records the
    topic no longer holds). A report whose counts do not fit the tables of
    this version is refused INVALID_PAYLOAD.
    """
    shown = await node.read_inbox(include_seen=True)
    refused = await _claimed(node, shown.refused)
    records: list[Mapping[str, Any]] = [r.to_json() for r in shown.records]
    records += [r for r in vault_records(node.store) if r.get("type") == TYPE]
    return tally(records, refused, period, node.country)


def tally(
    records: Iterable[Mapping[str, Any]],
    refused: Mapping[str, str],
    period: Period,
    country: str,
) -> Received:
    """The newest verified report of each member but ``country``, checked; refusals kept.

    ``records``: verified records (the inbox's and the vault's); ``refused``:
    per claimed producer, the reason the inbox refused a report of it. A
    refusal stays named even when an older report of that member verified
    and is counted, so a tampered newer report is never hidden behind it.
    """
    named = dict(refused)
    counts: dict[str, Counts] = {}
    ids: dict[str, str] = {}
    for producer, record in _newest(records, period).items():
        if producer == country:
            continue
        try:
            if record["fields"].get("reporting_country") != producer:
                raise WireError(
                    Reason.INVALID_PAYLOAD,
                    f"statistics_report: expected reporting_country {producer} (the producer)",
                )
            counts[producer] = interior_of(record["fields"], period)
        except TrmError as error:
            named[producer] = error.reason.value
            continue
        ids[producer] = str(record.get("event_id"))
    return Received(counts, ids, named)


async def wait_for_reports(
    node: CountryNode, period: Period, countries: Iterable[str], *, within_s: float
) -> Received:
    """:func:`received_reports`, read again until ``countries`` are in or ``within_s`` passed."""
    wanted = set(countries) - {node.country}
    deadline = time.monotonic() + within_s
    while True:
        got = await received_reports(node, period)
        if wanted <= set(got.counts) | set(got.refused) or time.monotonic() >= deadline:
            return got
        await asyncio.sleep(1.0)


def assemble(
    country: str,
    own: Counts,
    received: Received,
    *,
    members: Iterable[str],
    period: Period,
    now_ms: int,
    k: int,
    flows: Flows | None,
) -> Regional:
    """The regional table: this country's counts plus the verified reports received."""
    reports = {**received.counts, country: own}
    return regional(
        reports,
        members=members,
        refused=received.refused,
        period=period,
        assembled_by=country,
        generated_at_ms=now_ms,
        k=k,
        flows=flows,
    )


def write_report(report: Regional, out: Path) -> list[Path]:
    """``report.json``, ``<table>.csv`` per table and ``report.html`` in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "report.json"
    path.write_text(json_of(report), encoding="utf-8")
    written.append(path)
    for table in report.tables:
        path = out / f"{table.name}.csv"
        path.write_text(csv_of(table), encoding="utf-8")
        written.append(path)
    path = out / "report.html"
    path.write_text(html_of(report), encoding="utf-8")
    written.append(path)
    return written
