"""A replay with a time window (``trm audit replay --since-ms/--until-ms``): the page counts
the decisions made in the window, an acknowledgement after the window still answers a
delivery made in it, and every count's ``trm audit leaves`` command lists exactly its leaves.

The log here has a clock: each event is written and decided at its own time, and the replay's
input is what ``run_replay`` reads for a window (inbox records stamped in it, outbox records
stamped from its start on; leaves, checkpoints, rejections and quarantine whole).
"""

from __future__ import annotations

import html
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.cli import audit as audit_cli
from connectors.cli import main as trm_main
from hub.audit.replay import (
    ALL_TIME,
    NONE,
    LeafFilter,
    ReplayInput,
    Report,
    window_of,
    window_select,
)
from hub.audit.report import leaves_command, replay_html
from tests.support.audit import OFFLINE_FILES, TOPICS, T, World, child_notice, replay_input
from tests.support.examples import example_payload
from tests.unit.audit.test_audit_flows import run as run_flows
from tests.unit.audit.test_audit_flows import traffic

HOUR = 3_600_000
DAY = 24 * HOUR
WINDOW = (T - HOUR, T + HOUR)
NOW = T + 3 * DAY  # every handover notice is past its one-day deadline


class ClockedWorld(World):
    """The test World with one clock: each record is stamped, and each decision made, at ``at``."""

    @property
    def at(self) -> int:
        return self.stamped_at_ms

    @at.setter
    def at(self, ms: int) -> None:
        self.stamped_at_ms = self.decided_at_ms = ms


def _notice(w: ClockedWorld, case_key: str) -> Any:
    return w.submit(
        "TH",
        "handover_notice",
        ["KH"],
        "repatriation",
        "H2",
        child_notice(),
        case_key=case_key,
        created_at_ms=w.at,
    )


def _ack(w: World, of: Any, at_ms: int) -> Any:
    payload = example_payload("acknowledgement") | {
        "acknowledged_event_id": of.header.event_id,
        "acknowledged_event_digest": of.event_digest,
        "acknowledged_at": at_ms,
    }
    return w.submit(
        "KH",
        "acknowledgement",
        ["TH"],
        "repatriation",
        "H2",
        payload,
        case_key=of.header.case_key,
        correlation_id=of.header.event_id,
        created_at_ms=at_ms,
    )


@dataclass
class Log:
    world: ClockedWorld
    before: Any  # a handover notice decided before the window, never acknowledged
    acked: Any  # decided in the window, acknowledged two hours later (after the window)
    open: Any  # decided in the window, never acknowledged


def clocked_log() -> Log:
    w = ClockedWorld()
    w.at = T - 3 * HOUR
    before = _notice(w, "c-0")
    w.submit("VN", "trafficker_alert", ["KH"], "investigation", "H1", created_at_ms=w.at)
    w.at = T
    acked = _notice(w, "c-1")
    w.submit("VN", "trafficker_alert", ["KH"], "investigation", "H1", created_at_ms=w.at)
    w.submit("LA", "referral", ["MM"], "repatriation", "H2", created_at_ms=w.at)  # refused
    w.hub(w.write(TOPICS.outbox("TH"), b"not an envelope"))  # refused whole: no producer
    # Refused whole (the wrong lane), the same reason and producer twice: once an event
    # whose original is known (its type verified), once one never sent on TH's own lane.
    w.hub(w.write(TOPICS.outbox("KH"), acked.to_bytes()))
    w.at = T + 30 * 60_000
    elsewhere = ClockedWorld()  # signed by TH, never on TH's own lane here
    elsewhere.at = w.at
    stray = elsewhere.submit("TH", "referral", ["KH"], "repatriation", "H2", created_at_ms=w.at)
    w.hub(w.write(TOPICS.outbox("KH"), stray.to_bytes()))
    opened = _notice(w, "c-2")
    w.at = T + 2 * HOUR
    _ack(w, acked, w.at)
    w.submit("VN", "trafficker_alert", ["KH"], "investigation", "H1", created_at_ms=w.at)
    w.sequence_all()
    return Log(w, before, acked, opened)


def windowed(world: World, since_ms: int | None, until_ms: int | None) -> ReplayInput:
    """What ``run_replay`` reads for this window."""
    data = world.input()
    lo, hi = window_of(since_ms, until_ms) or ALL_TIME
    data.outboxes = [r for r in data.outboxes if lo <= r.timestamp_ms]
    data.inboxes = [r for r in data.inboxes if lo <= r.timestamp_ms < hi]
    return data


def run(world: World, since_ms: int | None, until_ms: int | None, **kw: Any) -> Report:
    window = window_of(since_ms, until_ms)
    return replay_input(windowed(world, since_ms, until_ms), window=window, now_ms=NOW, **kw)


@pytest.fixture(scope="module")
def log() -> Log:
    return clocked_log()


@pytest.fixture(scope="module")
def report(log: Log) -> Report:
    r = run(log.world, *WINDOW)
    assert r.ok, r.findings
    return r


def _selected(log: Log, select: dict[str, str]) -> list[int]:
    got: list[dict[str, Any]] = []
    run(log.world, *WINDOW, select=LeafFilter.of(select), on_leaf=got.append)
    return [leaf["index"] for leaf in got]


def test_a_notice_acknowledged_after_the_window_is_not_unacknowledged(
    log: Log, report: Report
) -> None:
    (row,) = report.unacknowledged
    assert (row["producer"], row["recipient"], row["event_type"], row["count"]) == (
        "TH",
        "KH",
        "handover_notice",
        1,  # the open one: the one before the window is not counted, the acked one answered
    )
    assert row["oldest_created_at_ms"] == log.open.header.created_at_ms
    # The acknowledgement after the window is the acknowledgement time of the one in it.
    (a,) = report.flows.ack_times
    assert (a.event_id, a.elapsed_ms) == (log.acked.header.event_id, 2 * HOUR)
    # The whole log, judged at the same time: the notice before the window is overdue too.
    whole = run(log.world, None, None)
    assert [r["count"] for r in whole.unacknowledged] == [2]
    assert len(whole.flows.ack_times) == 1


def test_a_window_without_decisions_has_nothing_unacknowledged(log: Log) -> None:
    empty = run(log.world, T + 10 * DAY, T + 11 * DAY)
    assert empty.flows.counts == ()
    assert empty.unacknowledged == []
    assert empty.flows.ack_times == ()
    # Every outbox record given (the flows fixture, decided at T + 1000), none decided in
    # the window: nothing is unacknowledged, though the whole log's notice is acknowledged.
    t = traffic()
    assert run_flows(t, window=(0, T + 1000), now_ms=T).unacknowledged == []
    assert run_flows(t, now_ms=T).unacknowledged == []


def test_outbox_records_after_the_window_are_read_but_not_cross_checked(
    log: Log, report: Report
) -> None:
    stamped = [r.timestamp_ms for r in log.world.input().outboxes]
    assert report.counts["outbox_records"] == sum(1 for t in stamped if WINDOW[0] <= t < WINDOW[1])
    assert report.counts["outbox_records"] < sum(1 for t in stamped if WINDOW[0] <= t)


def test_each_count_of_a_windowed_replay_selects_exactly_its_leaves(
    log: Log, report: Report
) -> None:
    assert report.sharing
    assert report.refusals
    assert report.flows.counts
    for share in report.sharing:
        assert share["select"]["since_ms"] == str(WINDOW[0])
        assert share["select"]["until_ms"] == str(WINDOW[1])
        got = _selected(log, share["select"])
        assert len(got) == share["delivered"], share
        assert got[: len(share["leaves"])] == share["leaves"]
    for refusal in report.refusals:
        got = _selected(log, refusal["select"])
        assert len(got) == refusal["refused"], refusal
        assert got[: len(refusal["leaves"])] == refusal["leaves"]
    for count in report.flows.counts:
        select = {
            "producer": count.producer,
            "recipient": count.recipient,
            "event_type": count.event_type,
            "month": count.month,
        } | window_select(WINDOW)
        got = _selected(log, select)
        assert len(got) == count.total, count
        assert tuple(got) == count.leaves


def test_empty_criteria_are_kept_as_none(report: Report) -> None:
    """A whole-record refusal names no recipient; one of an unverified event no type."""
    whole = [r for r in report.refusals if r["recipient"] == ""]
    assert {(r["producer"], r["event_type"]) for r in whole} >= {
        ("", ""),  # not an envelope
        ("TH", "handover_notice"),  # the wrong lane, its original known
        ("TH", ""),  # the wrong lane, never on TH's own
    }
    for r in whole:
        assert r["select"]["recipient"] == NONE
        assert r["select"]["event_type"] == (r["event_type"] or NONE)
        assert r["select"]["producer"] == (r["producer"] or NONE)


def test_the_page_commands_quote_their_values() -> None:
    command = leaves_command({"agreement": "X Y@1", "event_type": NONE, "reason": "a;b"}, "t")
    assert shlex.split(command) == [
        "trm",
        "audit",
        "leaves",
        "--namespace",
        "t",
        "--agreement",
        "X Y@1",
        "--event-type",
        "none",
        "--reason",
        "a;b",
    ]
    with pytest.raises(Exception, match="expected an integer since_ms"):
        LeafFilter.of({"since_ms": "yesterday"})


def test_every_command_on_a_windowed_page_lists_its_count(
    log: Log, report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commands as printed on the page, run through the CLI: each lists its count."""

    def fake(*_args: Any, **kw: Any) -> Report:
        return run(
            log.world,
            kw.get("since_ms"),
            kw.get("until_ms"),
            select=kw.get("select"),
            on_leaf=kw.get("on_leaf"),
        )

    monkeypatch.setattr(audit_cli, "run_replay", fake)
    doc = report.to_json() | {"namespace": "t", "seconds": 0.1, "window": list(WINDOW)}
    text = replay_html(doc)
    counts = [s["delivered"] for s in doc["sharing"]]
    counts += [r["refused"] for r in doc["refusals"]]
    counts += [c["delivered"] + c["refused"] for c in doc["flows"]["counts"]]
    commands = [html.unescape(c) for c in re.findall(r'<div class="cmd"><code>(.*?)</code>', text)]
    assert len(commands) == len(counts)
    for command, count in zip(commands, counts, strict=True):
        argv = shlex.split(command)
        assert argv[:3] == ["trm", "audit", "leaves"]
        assert f"--since-ms {WINDOW[0]} --until-ms {WINDOW[1]}" in command
        result = CliRunner().invoke(trm_main, [*argv[1:], *OFFLINE_FILES, "--json"])
        assert result.exit_code == 0, result.output
        listed = [json.loads(line) for line in result.stdout.splitlines() if line]
        assert len(listed) == count, command
        assert f"{count} leaves" in result.stderr


@pytest.mark.parametrize(
    ("window", "says"),
    [
        ([T, 2**63 - 1], "Records stamped from 2026-03-01T00:00Z were"),
        ([0, T], "Records stamped before 2026-03-01T00:00Z were"),
        ([T - HOUR, T], "from 2026-02-28T23:00Z before 2026-03-01T00:00Z"),
    ],
)
def test_a_window_open_at_one_end_is_on_the_page(
    report: Report, window: list[int], says: str
) -> None:
    """``--since-ms`` alone (the CLI's window then ends at 2**63 - 1) writes a page."""
    text = replay_html(report.to_json() | {"namespace": "t", "window": window})
    assert says in text
