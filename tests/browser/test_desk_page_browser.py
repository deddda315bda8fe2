"""The desk web page end to end in a real headless Chromium (Debian's package),
driven by Playwright, against a gateway on the real broker.

Screenshots go to ``artifacts/browser/`` (kept by CI as build artifacts).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import async_playwright, expect

from connectors.gateway import DeskUsers, make_app
from connectors.sdk import CountryNode
from hub.home import StateDir
from hub.sealkeys import Keyring
from hub.topics import Topics
from hub.wire import Envelope, unseal, verify
from tests.support.gateway import GatewayTestServer
from tests.support.kafka import read_topic
from tests.support.nodes import KEYS, delivered_copy, example, node_seal_keys, trust_list

pytestmark = pytest.mark.kafka

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
HOUR = 3_600_000
PASSWORD = "correct horse battery"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:  # a missing peer fails the test: it never skips
        raise AssertionError(
            "Chromium not found; install Debian's 'chromium' (deploy/scripts/system-deps.sh)"
        )
    return path


async def test_desk_page_notices_detail_ack_and_alerts(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    now = time.time_ns() // 1_000_000
    fresh_payload = example("handover_notice")
    fresh_payload["planned_at"] = now + 48 * HOUR
    fresh_payload["names"] = [
        {"full_name": "ສົມພອນ ແກ້ວມະນີ", "lang": "lo-Laoo", "given": None, "family": None},
        {"full_name": "Somphone Keomany", "lang": "lo-Latn", "given": None, "family": None},
    ]
    keep = {"status", "planned_at", "checkpoint", "names", "receiving_organisation", "transport"}
    overdue, oh = delivered_copy(
        "handover_notice",
        example("handover_notice"),
        producer="TH",
        recipient="KH",
        keep=keep,
        created_at_ms=now - 30 * HOUR,
        case_key="case-old",
    )
    fresh, fh = delivered_copy(
        "handover_notice",
        fresh_payload,
        producer="LA",
        recipient="KH",
        keep=keep,
        created_at_ms=now - HOUR,
        case_key="case-new",
        sequence=1,
    )
    alert, ah = delivered_copy(
        "trafficker_alert",
        example("trafficker_alert"),
        producer="TH",
        recipient="KH",
        keep={"kind", "urgency", "subject_names", "network_name", "modus_operandi"},
        created_at_ms=now - 2 * HOUR,
        case_key="case-alert",
        purpose="investigation",
        sequence=2,
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for env, headers in ((overdue, oh), (fresh, fh), (alert, ah)):
            await producer.send_and_wait(
                topics.inbox("KH"),
                env.to_bytes(),
                key=env.header.case_key.encode(),
                headers=headers,
            )
    finally:
        await producer.stop()

    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH"])  # KH's desk seals to TH
    users = DeskUsers.load(tmp_path / "users.json")
    users.add("kh-desk", "KH", PASSWORD)
    node = CountryNode(
        "KH", KEYS["KH"], trust_list(), kafka_bootstrap, topics=topics, state=StateDir(tmp_path)
    )
    server = GatewayTestServer(make_app(node, users, deadline_ms=24 * HOUR))
    await server.start_server()
    base = str(server.make_url("/"))
    requests: list[str] = []
    console_errors: list[str] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            await page.goto(base)
            await page.fill("#login-user", "kh-desk")
            await page.fill("#login-password", "wrong password")
            await page.click("#login-submit")
            await page.wait_for_selector("#login-error:has-text('UNAUTHENTICATED')")
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await page.click("#tab-notices")
            rows = page.locator("tr[data-testid=notice-row]")
            await rows.nth(1).wait_for(timeout=20_000)
            assert await rows.count() == 2
            # Newest first: the LA notice, then the overdue TH one, highlighted.
            old = page.locator(f"tr[data-event-id='{overdue.header.event_id}']")
            assert "overdue" in (await old.get_attribute("class") or "")
            assert "Overdue" in await old.inner_text()
            new = page.locator(f"tr[data-event-id='{fresh.header.event_id}']")
            assert "overdue" not in (await new.get_attribute("class") or "")
            assert await new.locator("span.name[lang='lo-Laoo']").inner_text() == "ສົມພອນ ແກ້ວມະນີ"
            assert await page.inner_text("#overdue-count") == "1"
            await page.screenshot(path=str(ARTIFACTS / "desk-notices.png"), full_page=True)

            await old.click()
            detail = page.locator("#detail")
            await detail.wait_for()
            khmer = detail.locator("span.name[lang='km-Khmr']")
            assert await khmer.first.inner_text() == "សុខ ស្រីពៅ"
            withheld = detail.locator("[data-testid=withheld-field][data-field='escort_officers']")
            assert await withheld.inner_text() == "Escort officers: withheld"
            assert await detail.locator("[data-field='escort_officers'] .withheld").count() == 1
            await page.screenshot(path=str(ARTIFACTS / "desk-detail.png"), full_page=True)

            await page.click("#handover-button")
            await page.wait_for_selector("#message:has-text('Handover recorded')")
            # Not wait_for_function: its polling evaluates a string, which the page's
            # Content-Security-Policy (no 'unsafe-eval') refuses once it has to poll.
            await expect(page.locator("#overdue-count")).to_have_text("0", timeout=20_000)
            assert "handed over" in (await old.inner_text()).lower()
            await expect(page.locator("#handover-button")).to_be_disabled()

            await page.click("#tab-overdue")
            assert await page.locator("[data-testid=overdue-alert]").count() == 0
            await page.click("#tab-alerts")
            arow = page.locator("tr[data-testid=alert-row]")
            await arow.first.wait_for()
            assert await arow.count() == 1
            await arow.first.click()
            await page.wait_for_selector("#detail-title:has-text('trafficker')")
            assert await page.is_hidden("#handover-button")
            await page.screenshot(path=str(ARTIFACTS / "desk-alerts.png"), full_page=True)
            await browser.close()
    finally:
        await server.close()

    assert all(u.startswith(base.rstrip("/")) for u in requests), (
        requests
    )  # no CDN, nothing external
    assert [e for e in console_errors if "401" not in e] == []
    acks = await read_topic(kafka_bootstrap, topics.outbox("KH"))
    assert len(acks) == 1
    th_keys = Keyring.of(StateDir(tmp_path), "TH")  # sealed to TH: opened with its key
    ack: Any = unseal(
        verify(Envelope.from_bytes(acks[0].value), trust_list()),
        recipient="TH",
        private_key=th_keys.private,
    )
    assert ack.header.recipients == ("TH",)
    assert ack.fields["status"] == "HANDED_OVER"
    assert ack.fields["acknowledged_event_id"] == overdue.header.event_id
    for name in ("desk-notices.png", "desk-detail.png", "desk-alerts.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


async def test_sent_tab_shows_a_notice_the_hub_refused_with_its_reason(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """Failure 10: a refused notice looked pending (and then overdue) at the sender."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH", "KH"])
    users = DeskUsers.load(tmp_path / "users.json")
    users.add("th-desk", "TH", PASSWORD)
    node = CountryNode(
        "TH", KEYS["TH"], trust_list(), kafka_bootstrap, topics=topics, state=StateDir(tmp_path)
    )
    offset = [0]
    app = make_app(
        node, users, deadline_ms=24 * HOUR, clock=lambda: time.time_ns() // 1_000_000 + offset[0]
    )
    server = GatewayTestServer(app)
    await server.start_server()
    base = str(server.make_url("/"))
    notice = {
        "type": "handover_notice",
        "to": ["KH"],
        "case_key": "case-refused",
        "payload": example("handover_notice"),
    }
    detail = "the agreement TH-KH v1 does not allow handover_notice about a child"
    try:
        async with aiohttp.ClientSession() as http:
            login = {"user": "th-desk", "password": PASSWORD}
            async with http.post(server.make_url("/api/login"), json=login) as resp:
                token = (await resp.json())["token"]
            async with http.post(
                server.make_url("/api/events"),
                json=notice,
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 201
                event_id = (await resp.json())["event_id"]
        refusal = {
            "event_id": event_id,
            "producer": "TH",
            "recipient": "KH",
            "reason": "CHILD_PROTECTION",
            "detail": detail,
            "source": f"{topics.outbox('TH')}/0/0",
        }
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.rejections("TH"), json.dumps(refusal).encode(), key=event_id.encode()
            )
        finally:
            await producer.stop()
        offset[0] = 25 * HOUR  # past its deadline: were it awaited, it would be overdue

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 700})
            await page.goto(base)
            await page.fill("#login-user", "th-desk")
            await page.fill("#login-password", PASSWORD)
            await page.click("#login-submit")
            await page.click("#tab-sent")
            row = page.locator(f"tr[data-testid=sent-row][data-event-id='{event_id}']")
            await row.locator("[data-testid=refusal]").wait_for(timeout=20_000)
            text = await row.inner_text()
            assert "refused by the hub" in text
            assert f"Cambodia: Child protection rule (CHILD_PROTECTION) — {detail}" in text
            assert "awaiting" not in text.lower()
            assert "refused" in (await row.get_attribute("class") or "")
            assert await page.inner_text("#overdue-count") == "0"
            await page.screenshot(path=str(ARTIFACTS / "desk-sent-refused.png"), full_page=True)
            await page.click("#tab-rejections")
            assert "CHILD_PROTECTION" in await page.inner_text("#rejections-table")
            await browser.close()
    finally:
        await server.close()
    assert (ARTIFACTS / "desk-sent-refused.png").stat().st_size > 10_000
