"""From a referral to the case, in a real headless Chromium against a gateway on the
real broker, in Khmer.

Cambodia's desk has a referral from Thailand. Its focal point (a Khmer-speaking
user) opens it from the Referrals tab, reads it, opens its case: the timeline
shows the referral received from Thailand. She records the case as accepted,
with a next step due a month ago that Cambodia owns: the case book lists it as
overdue. Closing the case straight away skips steps: refused without a reason
(TRANSITION_REASON_REQUIRED, its Khmer label), sent with one; the timeline
shows the previous status, the new one and the reason. Thailand's copy of the
last case_update carries the same. She then switches the page to Thai and the
Buddhist era. Screenshots: ``artifacts/screenshots/desk-{km,th}-case*.png``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import async_playwright, expect

from connectors.gateway import DeskUsers, Preferences, make_app
from connectors.sdk import CountryNode
from hub.home import StateDir
from hub.sealkeys import Keyring
from hub.topics import Topics
from hub.wire import Envelope, EventType, unseal, verify
from tests.browser.test_desk_i18n_browser import KEEP, SCREENSHOTS, _login
from tests.browser.test_desk_page_browser import HOUR, PASSWORD, _chromium
from tests.support.gateway import GatewayTestServer
from tests.support.kafka import read_topic
from tests.support.nodes import KEYS, delivered_copy, example, node_seal_keys, trust_list

pytestmark = pytest.mark.kafka

CASE = "KH-TH-2026-0107"


async def test_referral_detail_case_timeline_and_status_changes_in_khmer(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    now = time.time_ns() // 1_000_000
    env, headers = delivered_copy(
        "referral",
        {**example("referral"), "referred_at": now - 3 * HOUR},
        producer="TH",
        recipient="KH",
        keep=KEEP,
        created_at_ms=now - 2 * HOUR,
        case_key=CASE,
        purpose="victim_protection",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.inbox("KH"), env.to_bytes(), key=CASE.encode(), headers=headers
        )
    finally:
        await producer.stop()
    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH"])
    users = DeskUsers.load(tmp_path / "users.json")
    users.add("sokha", "KH", PASSWORD, Preferences("km", "gregorian", "Asia/Phnom_Penh"))
    node = CountryNode(
        "KH", KEYS["KH"], trust_list(), kafka_bootstrap, topics=topics, state=StateDir(tmp_path)
    )
    server = GatewayTestServer(make_app(node, users, deadline_ms=24 * HOUR))
    await server.start_server()
    base = str(server.make_url("/"))
    month_ago = dt.datetime.fromtimestamp(now / 1000 - 30 * 86400, dt.UTC).date()
    console_errors: list[str] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            await _login(page, base, "sokha")
            # The referral list, then the referral's detail.
            row = page.locator(
                f"tr[data-testid=referral-received-row][data-event-id='{env.header.event_id}']"
            )
            await row.click()
            await page.locator("#detail dd[data-field=sex]").wait_for()
            assert await page.inner_text("#detail-title") == "ការបញ្ជូនបន្ត ពី ថៃ"
            # Its case: the timeline across both countries.
            await page.click("#case-button")
            await page.locator("#case-view:not([hidden])").wait_for()
            assert "សំណុំរឿង" in await page.inner_text("#tab-cases")
            entries = page.locator("li[data-testid=timeline-entry]")
            await entries.first.wait_for()
            first = await entries.first.inner_text()
            assert "ការបញ្ជូនបន្ត" in first
            assert "បានទទួលពី ថៃ" in first
            case_row = page.locator(f"tr[data-testid=case-row][data-case-key='{CASE}']")
            assert await case_row.count() == 1
            assert await page.input_value("#status-to") == "TH"

            # Accepted, the next step (Cambodia's) due a month ago: overdue.
            await page.select_option("#status-new", "ACCEPTED")
            await page.select_option("#status-due-year", str(month_ago.year))
            await page.select_option("#status-due-month", str(month_ago.month))
            await page.select_option("#status-due-day", str(month_ago.day))
            await page.select_option("#status-owner", "KH")
            await page.click("#status-submit")
            await expect(page.locator("#message")).to_have_text(
                "ការផ្លាស់ប្តូរស្ថានភាពត្រូវបានកត់ត្រា និងផ្ញើ។", timeout=20_000
            )
            status_lines = page.locator("[data-testid=timeline-status]")
            await expect(status_lines).to_have_count(1, timeout=20_000)
            assert await status_lines.first.inner_text() == "ស្ថានភាព៖ បានទទួលយក"
            overdue = page.locator(f"li[data-testid=case-overdue][data-case-key='{CASE}']")
            await expect(overdue).to_have_count(1, timeout=20_000)
            assert "ជំហានបន្ទាប់ហួសកំណត់" in await overdue.inner_text()
            assert await page.inner_text("#cases-overdue-count") == "1"

            # Closed straight away: a skip, refused without a reason, sent with one.
            await page.select_option("#status-new", "CLOSED")
            await page.select_option("#status-due-day", "")
            await page.select_option("#status-owner", "")
            await page.click("#status-submit")
            await expect(page.locator("#message")).to_contain_text(
                "ត្រូវការមូលហេតុដើម្បីរំលង ឬត្រឡប់ជំហាន (TRANSITION_REASON_REQUIRED)",
                timeout=20_000,
            )
            assert await status_lines.count() == 1  # nothing was sent
            await page.select_option("#status-reason", "CASE_TRANSFERRED")
            await page.click("#status-submit")
            await expect(status_lines).to_have_count(2, timeout=20_000)
            last = entries.last
            assert await last.locator("[data-testid=timeline-status]").inner_text() == (
                "ស្ថានភាព៖ បានទទួលយក → បានបិទ"
            )
            assert "មូលហេតុនៃការផ្លាស់ប្តូរ៖ សំណុំរឿងត្រូវបានផ្ទេរ" in await last.inner_text()
            await expect(overdue).to_have_count(0, timeout=20_000)
            await page.screenshot(path=str(SCREENSHOTS / "desk-km-case.png"), full_page=True)
            # A timeline entry opens the event's detail: the sent case update, readable.
            await last.click()
            await expect(page.locator("#detail-title")).to_have_text(
                "ព័ត៌មានថ្មីអំពីសំណុំរឿង ទៅ ថៃ", timeout=20_000
            )
            detail = page.locator("#detail")
            assert await detail.locator("dd[data-field=status]").inner_text() == "បានបិទ"
            reason = await detail.locator("dd[data-field=transition_reason]").inner_text()
            assert reason == "សំណុំរឿងត្រូវបានផ្ទេរ"
            await page.screenshot(path=str(SCREENSHOTS / "desk-km-case-update.png"), full_page=True)
            # The same case in Thai, in the Buddhist era, chosen in the page.
            await page.select_option("#pref-locale", "th")
            await page.wait_for_selector("html[lang=th]")
            await page.select_option("#pref-calendar", "buddhist")
            year = dt.datetime.fromtimestamp(now / 1000, dt.UTC).year + 543
            stamp = page.locator("li[data-testid=timeline-entry] time", has_text=str(year))
            await stamp.first.wait_for(timeout=20_000)
            assert "สถานะ: รับเรื่องแล้ว → ปิดกรณีแล้ว" in await entries.last.inner_text()
            # The next due date is picked in the user's era too (not the browser's input).
            await expect(page.locator("#status-due-year")).to_contain_text(str(year))
            assert "ธ.ค." in await page.inner_text("#status-due-month")
            await page.screenshot(path=str(SCREENSHOTS / "desk-th-case.png"), full_page=True)
            await browser.close()
    finally:
        await server.close()
    # The one refusal asked for (the skip without a reason) is the browser's one 400.
    assert [e for e in console_errors if "401" not in e] == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]

    th_keys = Keyring.of(StateDir(tmp_path), "TH")
    updates: list[Any] = []
    for record in await read_topic(kafka_bootstrap, topics.outbox("KH")):
        event: Any = unseal(
            verify(Envelope.from_bytes(record.value), trust_list()),
            recipient="TH",
            private_key=th_keys.private,
        )
        assert event.header.event_type is EventType.CASE_UPDATE
        updates.append(event.fields)
    assert [u["status"] for u in updates] == ["ACCEPTED", "CLOSED"]
    assert updates[1]["previous_status"] == "ACCEPTED"
    assert updates[1]["transition_reason"] == "CASE_TRANSFERRED"
    assert updates[1]["referral_event_id"] == env.header.event_id
    for name in ("desk-km-case.png", "desk-km-case-update.png", "desk-th-case.png"):
        assert (SCREENSHOTS / name).stat().st_size > 20_000
