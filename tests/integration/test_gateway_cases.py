"""The gateway's case view on the real broker: Thailand refers a case to Cambodia;
both desks see the case and its timeline; Cambodia records statuses (one
overdue next step, a skip refused without a reason and sent with one);
Thailand's desk sees the previous status, the new one and the reason. A
gateway that sends the case book's alerts itself tells the owner of a late
step once, with no desk action."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jsonschema

from hub.topics import Topics
from hub.wire import Envelope
from tests.integration.test_gateway_api import (
    Clock,
    Desk,
    Relay,
    _schema,
    eventually,
)
from tests.integration.test_gateway_desk_i18n import (
    desk_pair,
    pair,  # noqa: F401 - the fixture
)
from tests.support.kafka import read_topic
from tests.support.nodes import example

CASE = "TH-KH-2026-0077"
DAY = 86_400_000


def _ok_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    return _schema(doc, doc["paths"][path][method]["responses"][status])


async def test_a_case_across_both_desks_with_status_changes_and_overdue(
    pair: tuple[Desk, Desk, Relay],  # noqa: F811 - the fixture
) -> None:
    th, kh, relay = pair
    relay.keep["case_update"] = frozenset(
        {"status", "previous_status", "changed_at", "transition_reason", "next_due_at"}
        | {"next_step_owner", "follow_up_number", "referral_event_id", "related_event_id"}
    )
    await th.login("th-desk")
    await kh.login("kh-desk")
    _, doc = await kh.call("GET", "/api/openapi.json")
    referral = {"type": "referral", "to": ["KH"], "case_key": CASE, "payload": example("referral")}
    status, sent = await th.call("POST", "/api/events", json=referral)
    assert status == 201, sent
    assert await relay.run("TH") == 1

    async def kh_case() -> dict[str, Any] | None:
        status, body = await kh.call("GET", f"/api/cases/{CASE}")
        return body if status == 200 else None

    case = await eventually(kh_case)
    jsonschema.validate(case, _ok_schema(doc, "/api/cases/{case_key}", "get", "200"))
    [entry] = case["timeline"]
    assert (entry["event_type"], entry["direction"], entry["producer"]) == (
        "referral",
        "received",
        "TH",
    )
    assert "identity_documents" in entry["withheld"]
    status, listing = await kh.call("GET", "/api/cases")
    jsonschema.validate(listing, _ok_schema(doc, "/api/cases", "get", "200"))
    assert [c["case_key"] for c in listing["cases"]] == [CASE]
    assert "RETRAFFICKING_SUSPECTED" in listing["statuses"]
    assert "CASE_TRANSFERRED" in listing["transition_reasons"]

    _, now = await kh.call("GET", "/api/me")
    past = now["expires_at_ms"] - 30 * DAY  # well before now, whatever the clock
    accepted = {"status": "ACCEPTED", "to": ["TH"], "next_due_ms": past, "next_step_owner": "KH"}
    status, body = await kh.call("POST", f"/api/cases/{CASE}/status", json=accepted)
    assert status == 201, body
    status, overdue = await kh.call("GET", "/api/cases/overdue")
    jsonschema.validate(overdue, _ok_schema(doc, "/api/cases/overdue", "get", "200"))
    [item] = overdue["overdue"]
    assert (item["case_key"], item["kind"], item["owner"]) == (CASE, "NEXT_STEP_OVERDUE", "KH")
    assert "Sok" not in item["message"]  # no personal data

    skip = {"status": "CLOSED", "to": ["TH"]}
    status, refused = await kh.call("POST", f"/api/cases/{CASE}/status", json=skip)
    assert (status, refused["error"]["reason"]) == (400, "TRANSITION_REASON_REQUIRED")
    status, body = await kh.call(
        "POST",
        f"/api/cases/{CASE}/status",
        json={**skip, "transition_reason": "CASE_TRANSFERRED"},
    )
    assert status == 201, body
    for bad, reason in (
        ({"status": "LOST", "to": ["TH"]}, "BAD_REQUEST"),
        ({"status": "CLOSED"}, "BAD_REQUEST"),
        ({"status": "CLOSED", "to": ["TH"], "colour": "red"}, "BAD_REQUEST"),
        ({"status": "CLOSED", "to": ["XX"]}, "SEAL_KEY_MISSING"),  # refused before sending
    ):
        status, refused = await kh.call("POST", f"/api/cases/{CASE}/status", json=bad)
        assert (status, refused["error"]["reason"]) == (400, reason), (bad, refused)
    status, overdue = await kh.call("GET", "/api/cases/overdue")
    assert overdue["overdue"] == []  # closed: no next step
    status, missing = await kh.call("GET", "/api/cases/no-such-case")
    assert (status, missing["error"]["reason"]) == (404, "NOT_FOUND")

    assert await relay.run("KH") == 2

    async def th_sees_closed() -> dict[str, Any] | None:
        status, body = await th.call("GET", f"/api/cases/{CASE}")
        if status != 200:
            return None
        updates = [e for e in body["timeline"] if e["event_type"] == "case_update"]
        return body if len(updates) == 2 else None

    seen = await eventually(th_sees_closed)
    closed = next(e for e in seen["timeline"] if e["status"] == "CLOSED")
    assert closed["direction"] == "received"
    assert closed["producer"] == "KH"
    assert (closed["previous_status"], closed["transition_reason"]) == (
        "ACCEPTED",
        "CASE_TRANSFERRED",
    )
    sent_referral = seen["timeline"][0]
    assert (sent_referral["event_type"], sent_referral["direction"]) == ("referral", "sent")
    assert seen["summary"]["status_by_country"]["KH"] == "CLOSED"


async def test_the_gateway_alerts_the_owner_of_a_late_step_once_by_itself(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    clock = Clock()
    async with desk_pair(
        kafka_bootstrap, topics, tmp_path, clock=clock, alert_every_s={"KH": 0.5}
    ) as (th, kh, relay):
        relay.keep["case_update"] = frozenset(
            {"status", "changed_at", "next_due_at", "next_step_owner"}
        )
        relay.keep["case_alert"] = frozenset({"kind", "about_event_id", "due_at", "step_owner"})
        await th.login("th-desk")
        await kh.login("kh-desk")
        referral = {
            "type": "referral",
            "to": ["KH"],
            "case_key": CASE,
            "payload": example("referral"),
        }
        status, sent = await th.call("POST", "/api/events", json=referral)
        assert status == 201, sent
        assert await relay.run("TH") == 1
        await eventually(lambda: _case(kh))
        # Cambodia accepts; the next step (Thailand's) was due a day ago.
        late = clock() - DAY
        accepted = {
            "status": "ACCEPTED",
            "to": ["TH"],
            "next_due_ms": late,
            "next_step_owner": "TH",
        }
        status, body = await kh.call("POST", f"/api/cases/{CASE}/status", json=accepted)
        assert status == 201, body

        async def kh_alerts() -> list[Envelope] | None:
            records = await read_topic(kafka_bootstrap, topics.outbox("KH"))
            envelopes = [Envelope.from_bytes(r.value) for r in records]
            found = [e for e in envelopes if e.header.event_type.value == "case_alert"]
            return found or None

        [alert] = await eventually(kh_alerts)
        await asyncio.sleep(2.0)  # four more rounds: still one alert
        assert len(await kh_alerts() or []) == 1
        assert await relay.run("KH") == 2  # the update and the alert

        async def th_told() -> dict[str, Any] | None:
            case = await _case(th)
            told = [e for e in (case or {}).get("timeline", []) if e["event_type"] == "case_alert"]
            return told[0] if told else None

        told = await th_told() or await eventually(th_told)
        assert (told["direction"], told["producer"]) == ("received", "KH")
        assert told["summary"] == {
            "kind": "NEXT_STEP_OVERDUE",
            "about": body["event_id"],  # Cambodia's update, whose next step is late
            "owner": "TH",
        }
        assert alert.header.recipients == ("TH",)
        assert alert.header.case_key == CASE


async def _case(desk: Desk) -> dict[str, Any] | None:
    status, body = await desk.call("GET", f"/api/cases/{CASE}")
    return body if status == 200 else None
