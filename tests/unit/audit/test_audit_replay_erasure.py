"""The auditor's erasure report: which requests each recipient confirmed, which are overdue.

The EXAMPLE world of the replay tests (the real pipeline, the sample
agreements): TH sends a sealed referral of one case to KH and LA, then asks
both to erase it; the replay reads only signed headers and the log (it holds
no key that opens a sealed event) and says who answered.
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.audit.replay import ERASURE_DUE_DAYS, ERASURE_DUE_MS
from hub.audit.report import erasure_lines, replay_html
from hub.wire import Envelope
from tests.support.audit import TOPICS, T, World, replay_input
from tests.support.examples import example_payload
from tests.support.wire import SEAL_KEYS, seal_key

DAY = 86_400_000
CASE = "case-0042"


def _to(*countries: str) -> dict[str, Any]:
    return {c: SEAL_KEYS[c] for c in countries}


def confirm(world: World, producer: str, request: Envelope, to: list[str], **kw: Any) -> Envelope:
    payload = {
        **example_payload("erasure_confirmation"),
        "request_event_id": request.header.event_id,
        "request_event_digest": request.event_digest,
        "erased_event_ids": [],
    }
    return world.submit(
        producer,
        "erasure_confirmation",
        to,
        "victim_protection",
        "H2",
        payload,
        case_key=CASE,
        correlation_id=kw.get("correlation_id", request.header.event_id),
        created_at_ms=T + 300,
        seal_to=_to(*to),
    )


@pytest.fixture
def world() -> tuple[World, Envelope]:
    w = World()
    w.submit(
        "TH", "referral", ["KH", "LA"], "repatriation", "H2",
        case_key=CASE, seal_to=_to("KH", "LA"),
    )  # fmt: skip
    request = w.submit(
        "TH", "erasure_request", ["KH", "LA"], "victim_protection", "H2",
        case_key=CASE, created_at_ms=T + 100, seal_to=_to("KH", "LA"),
    )  # fmt: skip
    assert request.sealed  # the auditor cannot read its fields, and needs not
    confirm(w, "KH", request, ["TH"])
    w.sequence_all()
    return w, request


def test_a_confirmed_request_and_one_overdue(world: tuple[World, Envelope]) -> None:
    w, request = world
    report = replay_input(w.input(), now_ms=T + 100 + ERASURE_DUE_MS + 1)
    assert report.ok, report.findings  # an overdue erasure is a warning, not a failure
    assert [f.kind for f in report.findings] == ["ERASURE_OVERDUE"]
    overdue = report.findings[0]
    assert overdue.event_id == request.header.event_id
    assert overdue.topic == TOPICS.outbox("TH")
    assert "to LA" in overdue.detail
    assert f"within {ERASURE_DUE_DAYS} days" in overdue.detail
    by_recipient = {e.recipient: e for e in report.erasures}
    assert set(by_recipient) == {"KH", "LA"}
    kh, la = by_recipient["KH"], by_recipient["LA"]
    assert (kh.status, la.status) == ("CONFIRMED", "OVERDUE")
    assert kh.request_event_id == la.request_event_id == request.header.event_id
    assert (kh.case_key, kh.requester, kh.requested_at_ms) == (CASE, "TH", T + 100)
    assert kh.due_at_ms == T + 100 + ERASURE_DUE_MS
    assert kh.confirmation_event_id is not None
    assert kh.confirmed_at_ms == T + 300
    assert la.confirmation_event_id is None
    assert report.erasure_summary() == {"CONFIRMED": 1, "PENDING": 0, "OVERDUE": 1}


def test_before_the_due_time_an_unanswered_request_is_pending(
    world: tuple[World, Envelope],
) -> None:
    w, _request = world
    for now in (T + 100 + ERASURE_DUE_MS, T + DAY, None):  # due time itself is not past it
        report = replay_input(w.input(), now_ms=now)
        assert report.findings == [], now
        statuses = {e.recipient: e.status for e in report.erasures}
        assert statuses == {"KH": "CONFIRMED", "LA": "PENDING"}


def test_only_the_asked_recipients_answer_routed_back_confirms(
    world: tuple[World, Envelope],
) -> None:
    w, request = world
    # LA's answer addressed past the requester: the hub refuses it (NOT_ADDRESSED),
    # so it never came back and confirms nothing.
    confirm(w, "LA", request, ["VN"])
    # VN was never asked: its answer reaches TH but confirms no one else's erasure.
    confirm(w, "VN", request, ["TH"])
    # LA answering another request (its correlation id names the referral) is no answer.
    referral_id = Envelope.from_bytes(w.topics[TOPICS.outbox("TH")][0].value).header.event_id
    confirm(w, "LA", request, ["TH"], correlation_id=referral_id)
    w.sequence_all()
    report = replay_input(w.input(), now_ms=T + 100 + ERASURE_DUE_MS + 1)
    assert report.ok, report.findings
    statuses = {e.recipient: e.status for e in report.erasures}
    assert statuses == {"KH": "CONFIRMED", "LA": "OVERDUE"}
    rejected = [rec for rec in w.topics[TOPICS.rejections("LA")] if b"NOT_ADDRESSED" in rec.value]
    assert len(rejected) == 1
    # and LA's honest answer, once it comes, confirms
    confirm(w, "LA", request, ["TH"])
    w.sequence_all()
    again = replay_input(w.input(), now_ms=T + 100 + ERASURE_DUE_MS + 1)
    assert [f.kind for f in again.findings] == []
    assert {e.recipient: e.status for e in again.erasures} == {"KH": "CONFIRMED", "LA": "CONFIRMED"}


def test_a_request_the_hub_refused_to_a_recipient_is_not_awaited() -> None:
    w = World()
    # LA and MM share the baseline; PH is a party of no agreement: refused NO_AGREEMENT.
    w.submit(
        "LA", "erasure_request", ["MM", "PH"], "victim_protection", "H2",
        case_key=CASE, seal_to={"MM": SEAL_KEYS["MM"], "PH": seal_key("PH")},
    )  # fmt: skip
    w.sequence_all()
    assert len(w.topics[TOPICS.rejections("LA")]) == 1
    report = replay_input(w.input(), now_ms=T + 100 * DAY)
    assert [(e.recipient, e.status) for e in report.erasures] == [("MM", "OVERDUE")]


def test_the_report_shows_erasures_as_text_json_and_html(world: tuple[World, Envelope]) -> None:
    w, request = world
    report = replay_input(w.input(), now_ms=T + 100 + ERASURE_DUE_MS + 1)
    doc = report.to_json() | {"seconds": 0.1, "namespace": "t"}
    assert doc["ok"] is True
    assert doc["erasure_due_days"] == ERASURE_DUE_DAYS
    assert doc["erasure_counts"] == {"CONFIRMED": 1, "PENDING": 0, "OVERDUE": 1}
    assert [e["status"] for e in doc["erasures"]] == ["CONFIRMED", "OVERDUE"]
    lines = erasure_lines(doc)
    assert lines[0].startswith("erasures (2 request deliveries, due within 30 days)")
    assert "1 confirmed, 0 pending, 1 overdue" in lines[0]
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert f"OVERDUE {request.header.event_id} case {CASE} TH -> LA" in warning
    page = replay_html(doc)
    assert "<h2>Erasures (2)</h2>" in page
    assert "<tr class='OVERDUE'><td>OVERDUE</td>" in page
    assert erasure_lines(replay_input(World().input(), now_ms=T).to_json()) == []
