"""The desk page's follow-up requests in a real headless Chromium, against a gateway
on the real broker: Viet Nam's desk lists two follow-up requests from Thailand
(the requester, purpose, case reference, when; no identity data), refuses a
decline without a reason, approves one and declines the other with a reason.
The two signed answers in Viet Nam's outbox are opened with Thailand's key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import async_playwright, expect

from connectors.gateway import DeskUsers, make_app
from connectors.sdk import CountryNode
from hub.home import StateDir
from hub.sealkeys import Keyring
from hub.topics import Topics
from hub.wire import Envelope, EventType, payload_fields, unseal, verify
from tests.browser.test_desk_page_browser import ARTIFACTS, PASSWORD, _chromium
from tests.support.gateway import GatewayTestServer
from tests.support.kafka import read_topic
from tests.support.nodes import KEYS, delivered_copy, node_seal_keys, trust_list

pytestmark = pytest.mark.kafka

NAME = "Nguyễn Văn Đức"
PHONE = "+84912345678"
REFS = ("a1b2c3d4e5f60718293a4b5c6d7e8f90", "b2c3d4e5f60718293a4b5c6d7e8f90a1")


def _request(reference: str, query_id: str, case_ref: str, now: int) -> dict[str, Any]:
    return {
        "reference": reference,
        "query_id": query_id,
        "match_kind": "name" if "name" in reference else "phone",
        "case_ref": case_ref,
        "purpose": "investigation",
        "requested_at": now,
    }


async def test_desk_lists_follow_ups_and_approves_one_and_declines_one(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    now = time.time_ns() // 1_000_000
    copies = []
    for i, reference in enumerate(REFS):
        query_id = f"019b71a0-2400-7a3c-9d3e-00000000000{i}"
        env, headers = delivered_copy(
            "match_followup",
            _request(reference, query_id, f"TH-DSI-2026-014{i}", now - 3600_000 + i),
            producer="TH",
            recipient="VN",
            keep=payload_fields("match_followup"),
            created_at_ms=now - 3600_000 + i,
            case_key=f"TH-DSI-2026-014{i}",
            purpose="investigation",
            sequence=i + 1,
        )
        copies.append((env, headers))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for env, headers in copies:
            await producer.send_and_wait(
                topics.inbox("VN"),
                env.to_bytes(),
                key=env.header.case_key.encode(),
                headers=headers,
            )
    finally:
        await producer.stop()

    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH"])  # VN's desk seals to TH
    users = DeskUsers.load(tmp_path / "users.json")
    users.add("vn-desk", "VN", PASSWORD)
    node = CountryNode(
        "VN", KEYS["VN"], trust_list(), kafka_bootstrap, topics=topics, state=StateDir(tmp_path)
    )
    node.store.keep_match_registration(
        REFS[0], {"kind": "name", "value": NAME, "birth_year": 1988, "issuing_state": None}
    )
    node.store.keep_match_registration(
        REFS[1], {"kind": "phone", "value": PHONE, "birth_year": None, "issuing_state": None}
    )
    server = GatewayTestServer(make_app(node, users, deadline_ms=24 * 3600_000))
    await server.start_server()
    base = str(server.make_url("/"))
    requests: list[str] = []
    console_errors: list[str] = []
    first, second = (env.header.event_id for env, _ in copies)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            await page.goto(base)
            await page.fill("#login-user", "vn-desk")
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await page.click("#tab-followups")
            rows = page.locator("tr[data-testid=followup-row]")
            await rows.nth(1).wait_for(timeout=20_000)
            assert await rows.count() == 2
            assert await page.inner_text("#followups-count") == "2"
            one = page.locator(f"tr[data-testid=followup-row][data-event-id='{first}']")
            two = page.locator(f"tr[data-testid=followup-row][data-event-id='{second}']")
            listed = await page.inner_text("#followups-table")
            for shown in ("Thailand", "Investigation", "TH-DSI-2026-0140", "TH-DSI-2026-0141"):
                assert shown in listed
            for secret in (NAME, PHONE):  # the list holds no identity data
                assert secret not in await page.content()
            await page.screenshot(path=str(ARTIFACTS / "desk-followups.png"), full_page=True)

            # A decline needs a reason: nothing is sent without one.
            await two.locator("[data-testid=followup-decline]").click()
            await page.wait_for_selector("#message:has-text('A reason is required')")
            assert await rows.count() == 2
            await two.locator("[data-testid=followup-reason]").fill("registration under review")
            await two.locator("[data-testid=followup-decline]").click()
            await page.wait_for_selector("#message:has-text('Follow-up declined')")
            await one.locator("[data-testid=followup-approve]").click()
            await page.wait_for_selector("#message:has-text('Follow-up approved')")
            # Not wait_for_function: its polling evaluates a string, which the page's
            # Content-Security-Policy (no 'unsafe-eval') refuses once it has to poll.
            await expect(page.locator("#followups-count")).to_have_text("0", timeout=20_000)
            assert await rows.count() == 0
            await page.screenshot(path=str(ARTIFACTS / "desk-followups-done.png"), full_page=True)
            await browser.close()
    finally:
        await server.close()

    assert all(u.startswith(base.rstrip("/")) for u in requests), requests
    assert [e for e in console_errors if "401" not in e] == []
    th_keys = Keyring.of(StateDir(tmp_path), "TH")  # sealed to TH: opened with its key
    answers: dict[str, Any] = {}
    for record in await read_topic(kafka_bootstrap, topics.outbox("VN")):
        event: Any = unseal(
            verify(Envelope.from_bytes(record.value), trust_list()),
            recipient="TH",
            private_key=th_keys.private,
        )
        assert event.header.event_type is EventType.MATCH_FOLLOWUP_ANSWER
        assert event.header.recipients == ("TH",)
        answers[event.header.correlation_id] = event.fields
    assert answers[first]["decision"] == "APPROVED"
    assert answers[first]["names"] == [NAME]
    assert answers[first]["birth_year"] == 1988
    assert answers[second]["decision"] == "DECLINED"
    assert answers[second]["reason"] == "registration under review"
    assert answers[second].get("phone_numbers") is None  # a decline sends no identity data
    for name in ("desk-followups.png", "desk-followups-done.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
