"""The desk page in its users' languages, in a real headless Chromium against a
gateway on the real broker.

Cambodia's desk has a referral from Thailand in its inbox and has sent one to
Thailand. Four desk users log in, each with their own language and calendar:
Thai with the Buddhist era (2026 is shown as 2569) and Bangkok time, Khmer,
Vietnamese and Burmese. Each sees the page's own text in their language, the
referral list and the referral's detail (field labels and enum values
translated, and so the coded strings: an organisation's kind, who gave consent
and what it covers, country codes, language names where the browser knows the
user's language, a date known to its month in the user's era; names in their
own scripts, what the agreement withheld); a due date that does not exist
(31 April) is refused in the page, in Thai; a user
changes language and calendar in the page and finds them again at the next
login. Full-page screenshots in Thai, Khmer, Vietnamese and Burmese go to
``artifacts/screenshots/`` (the other desk screenshots are in ``artifacts/browser/``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import zoneinfo
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Page, async_playwright, expect

from connectors.gateway import DeskUsers, Preferences, make_app
from connectors.gateway.i18n import date_conventions, load_catalogues
from connectors.sdk import CountryNode
from hub.home import StateDir
from hub.topics import Topics
from tests.browser.test_desk_page_browser import ARTIFACTS, HOUR, PASSWORD, _chromium
from tests.support.gateway import GatewayTestServer
from tests.support.nodes import KEYS, delivered_copy, example, node_seal_keys, trust_list

pytestmark = pytest.mark.kafka

#: The desk in its languages, full page (kept with the build like artifacts/browser/).
SCREENSHOTS = ARTIFACTS.parent / "screenshots"

#: What Thailand's referral discloses to Cambodia (the rest is withheld).
KEEP = {
    "case_number",
    "referring_organisation",
    "receiving_organisation",
    "referred_at",
    "trafficking_status",
    "exploitation_types",
    "needs",
    "names",
    "age_band",
    "sex",
    "is_child",
    "consent",
    "recruitment_date",
    "exploitation_period",
    "languages",
}
USERS = {
    "kh-th": Preferences("th", "buddhist", "Asia/Bangkok"),
    "kh-km": Preferences("km", "gregorian", "Asia/Phnom_Penh"),
    "kh-vi": Preferences("vi", "gregorian", "Asia/Ho_Chi_Minh"),
    "kh-my": Preferences("my", "gregorian", "Asia/Yangon"),
}
#: Per language: the Referrals tab, the value FEMALE, "withheld", the sent referral's status.
EXPECTED = {
    "th": ("การส่งต่อ", "หญิง", "ไม่เปิดเผย", "รอการตอบรับ"),
    "km": ("ការបញ្ជូនបន្ត", "ស្រី", "មិនបានចែករំលែក", "កំពុងរង់ចាំការទទួលស្គាល់"),
    "vi": ("Chuyển tuyến", "Nữ", "bị giữ lại", "Chờ xác nhận"),
    "my": ("ညွှန်းပို့မှုများ", "မ", "ထိန်းချန်ထားသည်", "စောင့်ဆိုင်းနေသည်"),
}


async def _login(page: Page, base: str, user: str) -> None:
    await page.goto(base)
    await page.wait_for_selector("#pref-locale option", state="attached")
    await page.fill("#login-user", user)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.locator("tr[data-testid=referral-received-row]").first.wait_for(timeout=20_000)


async def test_each_user_reads_the_desk_in_their_language_and_calendar(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    now = time.time_ns() // 1_000_000
    payload = example("referral")
    payload["referred_at"] = now - 3 * HOUR
    # Consent also covers Malaysia: a country the catalogues do not name (they name COMMIT's).
    payload["consent"] = {**payload["consent"], "scope": [*payload["consent"]["scope"], "MY"]}
    env, headers = delivered_copy(
        "referral",
        payload,
        producer="TH",
        recipient="KH",
        keep=KEEP,
        created_at_ms=now - 2 * HOUR,
        case_key="KH-TH-2026-0107",
        purpose="victim_protection",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.inbox("KH"), env.to_bytes(), key=b"KH-TH-2026-0107", headers=headers
        )
    finally:
        await producer.stop()

    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH"])  # KH's desk seals to TH
    users_file = tmp_path / "users.json"
    users = DeskUsers.load(users_file)
    for name, prefs in USERS.items():
        users.add(name, "KH", PASSWORD, prefs)
    node = CountryNode(
        "KH", KEYS["KH"], trust_list(), kafka_bootstrap, topics=topics, state=StateDir(tmp_path)
    )
    server = GatewayTestServer(make_app(node, users, deadline_ms=24 * HOUR))
    await server.start_server()
    base = str(server.make_url("/"))
    async with aiohttp.ClientSession() as http:  # Cambodia refers a case to Thailand
        async with http.post(
            server.make_url("/api/login"), json={"user": "kh-km", "password": PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        referral = {
            "type": "referral",
            "to": ["TH"],
            "case_key": "KH-TH-2026-0111",
            "payload": example("referral"),
        }
        async with http.post(
            server.make_url("/api/events"),
            json=referral,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
            sent_id = (await resp.json())["event_id"]

    requests: list[str] = []
    console_errors: list[str] = []
    shots: list[Path] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            for name, prefs in USERS.items():
                lang = prefs.locale
                tab, female, withheld, awaiting = EXPECTED[lang]
                context = await browser.new_context(viewport={"width": 1500, "height": 1000})
                page = await context.new_page()
                page.on("request", lambda r: requests.append(r.url))
                page.on(
                    "console",
                    lambda m: console_errors.append(m.text) if m.type == "error" else None,
                )
                await _login(page, base, name)
                assert await page.get_attribute("html", "lang") == lang
                assert tab in await page.inner_text("#tab-referrals")
                row = page.locator(
                    f"tr[data-testid=referral-received-row][data-event-id='{env.header.event_id}']"
                )
                received = await row.locator("time").inner_text()
                sent_row = page.locator(
                    f"tr[data-testid=referral-sent-row][data-event-id='{sent_id}']"
                )
                assert awaiting in await sent_row.inner_text()
                await row.click()
                detail = page.locator("#detail")
                await detail.locator("dd[data-field=sex]").wait_for()
                assert await detail.locator("dd[data-field=sex]").inner_text() == female
                khmer = detail.locator("dd[data-field=names] span.name[lang='km-Khmr']")
                assert await khmer.inner_text() == "សុខ ស្រីពៅ"
                gone = detail.locator("[data-testid=withheld-field][data-field='date_of_birth']")
                assert withheld in await gone.inner_text()
                assert "date_of_birth" not in await gone.inner_text()  # a label, not the key
                assert await detail.locator("dd[data-field=date_of_birth]").count() == 0
                # Coded strings: labelled from the catalogue, by the gateway's table.
                messages = load_catalogues().get(lang).messages
                org = detail.locator("dd[data-field=referring_organisation]")
                kind = org.locator("dd[data-key='Organisation.kind']")
                assert await kind.inner_text() == messages["organisation_kind.government"]
                consent = detail.locator("dd[data-field=consent]")
                given_by = await consent.locator("dd[data-key='Consent.given_by']").inner_text()
                assert given_by == messages["consent_giver.guardian"]
                scope = await consent.locator("dd[data-key='Consent.scope']").inner_text()
                assert messages["purpose.repatriation"] in scope, scope
                assert messages["purpose.family_tracing"] in scope, scope
                assert f"{messages['country.KH']} (KH)" in scope, scope
                assert "family_tracing" not in scope
                recruited_at = detail.locator("dd[data-field=recruitment_date] time")
                assert await recruited_at.get_attribute("datetime") == "2025-06"
                recruited = await recruited_at.inner_text()
                ended = await detail.locator(
                    "dd[data-field=exploitation_period] dd[data-key='Period.end'] time"
                ).inner_text()
                spoken = await detail.locator("dd[data-field=languages]").inner_text()
                shot = SCREENSHOTS / f"desk-{lang}-referral.png"
                await page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
                year = dt.datetime.fromtimestamp(
                    (now - 2 * HOUR) / 1000, zoneinfo.ZoneInfo(str(prefs.time_zone))
                ).year
                if lang == "th":
                    # The Thai Buddhist era: 2026 is 2569; the time zone is named.
                    assert str(year + 543) in received, received
                    assert year != 2026 or "2569" in received
                    sent_at = await detail.locator("dl#detail-meta time").inner_text()
                    assert "2569" in sent_at
                    assert re.search(r"GMT\+7|ICT|\+07", sent_at), sent_at
                    exploitation = await detail.locator(
                        "dd[data-field=exploitation_types]"
                    ).inner_text()
                    assert "การบังคับใช้แรงงาน" in exploitation
                    assert "FORCED_LABOUR" not in exploitation
                    title = await page.inner_text("#detail-title")
                    assert title == "การส่งต่อ จากไทย"
                    # Dates known to the month or the day, in the Buddhist era, no zone.
                    assert recruited == "มิ.ย. 2568", recruited
                    assert ended == "20 ธ.ค. 2568", ended
                    # Chromium's Intl names languages in Thai.
                    assert "เขมร" in spoken, spoken
                    assert "km" not in spoken, spoken
                    assert "มาเลเซีย (MY)" in scope, scope  # named by Intl
                    # A due date that does not exist is refused before anything is sent.
                    await page.click("#case-button")
                    await page.locator("#case-view:not([hidden])").wait_for()
                    await page.select_option("#status-due-year", str(year + 1))
                    await page.select_option("#status-due-month", "4")
                    await page.select_option("#status-due-day", "31")
                    await page.click("#status-submit")
                    await expect(page.locator("#message")).to_have_text(
                        messages["cases.due_invalid"]
                    )
                    assert not any(u.endswith("/status") for u in requests), requests
                    await page.click("#tab-referrals")
                    # Changed in the page: Gregorian, then Lao; kept for the next login.
                    await page.select_option("#pref-calendar", "gregorian")
                    first = page.locator("#referrals-received-table time").first
                    await page.locator(
                        "#referrals-received-table time", has_text="2026"
                    ).first.wait_for()
                    assert "2569" not in await first.inner_text()
                    await page.select_option("#pref-locale", "lo")
                    await page.wait_for_selector("html[lang=lo]")
                    assert "ການສົ່ງຕໍ່" in await page.inner_text("#tab-referrals")
                    await page.click("#logout")
                    await page.wait_for_selector("#login-view:not([hidden])")
                    await _login(page, base, name)
                    assert await page.get_attribute("html", "lang") == "lo"
                    assert await page.input_value("#pref-calendar") == "gregorian"
                    stored = json.loads(users_file.read_text())["users"]
                    mine = next(u for u in stored if u["name"] == name)
                    assert (mine["locale"], mine["calendar"]) == ("lo", "gregorian")
                elif lang == "my":  # the last user accepts the referral
                    await page.click("#accept-button")
                    await expect(page.locator("#message")).to_have_text(
                        "ညွှန်းပို့မှုကို လက်ခံပြီး - လက်ခံကြောင်း အတည်ပြုချက် ပေးပို့ပြီးပါပြီ။",
                        timeout=20_000,
                    )
                    await expect(row.locator("span.badge")).to_have_text("လက်ခံပြီး")
                    await expect(page.locator("#accept-button")).to_be_disabled()
                if lang != "th":
                    # In the language's own month names and digits, whether or not the
                    # browser's Intl knows it (Chromium's has no Khmer or Burmese).
                    conv = date_conventions(prefs.locale if lang != "my" else "my-MM")
                    digits = str.maketrans("0123456789", conv["digits"])
                    assert str(year).translate(digits) in received, received
                    assert any(month in received for month in conv["months"]), received
                    # A date known to its month: the month's name and the year only.
                    assert conv["months"][5] in recruited, recruited
                    assert "2025".translate(digits) in recruited, recruited
                    assert "-" not in recruited, recruited
                    assert conv["months"][11] in ended, ended
                    if lang in ("km", "my"):  # Chromium's Intl cannot name it: the code
                        assert scope.split("\n")[-1] == "MY", scope
                    offset = "6:30" if lang == "my" else "7"  # Yangon, or Indochina time
                    assert f"GMT+{offset}".translate(digits) in received, received
                await context.close()
            await browser.close()
    finally:
        await server.close()

    assert all(u.startswith(base.rstrip("/")) for u in requests), requests
    assert [e for e in console_errors if "401" not in e] == []
    for shot in shots:
        assert shot.stat().st_size > 20_000, shot
    assert len(shots) == 4
