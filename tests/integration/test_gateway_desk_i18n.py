"""The gateway on the real broker: the page's catalogues, each user's preferences,
referrals both ways with their acknowledgements, and the detail of an event."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import jsonschema
import pytest

from connectors.gateway.i18n import LANGUAGES
from hub.topics import Topics
from tests.integration.test_gateway_api import (
    ACK_KEEP,
    Clock,
    Desk,
    Relay,
    _schema,
    desk_users,
    eventually,
    gateway,
)
from tests.support.nodes import example, node_seal_keys

pytestmark = pytest.mark.kafka

REFERRAL_KEEP = frozenset({"case_number", "names", "sex", "age_band", "exploitation_types"})


@contextlib.asynccontextmanager
async def desk_pair(
    kafka_bootstrap: str,
    topics: Topics,
    tmp_path: Path,
    *,
    clock: Clock | None = None,
    alert_every_s: Mapping[str, float] | None = None,
) -> AsyncIterator[tuple[Desk, Desk, Relay]]:
    """Thailand's and Cambodia's gateways on the broker, with a relay standing in for the hub.

    ``alert_every_s``: per country, how often its gateway sends its case alerts (none: never).
    """
    clock = clock or Clock()
    every = alert_every_s or {}
    users = desk_users(tmp_path, clock)
    roots = {"TH": tmp_path / "th", "KH": tmp_path / "kh"}
    await node_seal_keys(kafka_bootstrap, topics, roots, roots)
    th, kh = [
        await gateway(
            cc, roots[cc], kafka_bootstrap, topics, users=users, clock=clock,
            alert_every_s=every.get(cc, 0.0),
        )
        for cc in ("TH", "KH")
    ]  # fmt: skip
    relay = Relay(kafka_bootstrap, topics, {"referral": REFERRAL_KEEP, "acknowledgement": ACK_KEEP})
    try:
        yield th, kh, relay
    finally:
        await th.client.close()
        await kh.client.close()


@pytest.fixture
async def pair(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> AsyncIterator[tuple[Desk, Desk, Relay]]:
    async with desk_pair(kafka_bootstrap, topics, tmp_path) as desks:
        yield desks


async def test_catalogues_are_public_cached_and_refuse_an_unknown_language(
    pair: tuple[Desk, Desk, Relay],
) -> None:
    th, _, _ = pair
    status, listing = await th.call("GET", "/api/i18n")
    assert status == 200
    assert [lang["lang"] for lang in listing["languages"]] == list(LANGUAGES)
    assert listing["calendars"] == ["gregorian", "buddhist"]
    resp = await th.client.get("/api/i18n/th")
    assert resp.status == 200
    body = await resp.json()
    assert body["locale"] == "th-TH"
    assert body["messages"]["tab.referrals"] == "การส่งต่อ"
    assert body["messages"]["enum.Sex.FEMALE"] == "หญิง"
    etag = resp.headers["ETag"]
    again = await th.client.get("/api/i18n/th", headers={"If-None-Match": etag})
    assert again.status == 304
    other = await th.client.get("/api/i18n/km")
    assert other.headers["ETag"] != etag
    status, refused = await th.call("GET", "/api/i18n/fr")
    assert status == 404
    assert refused["error"]["reason"] == "NOT_FOUND"
    assert (
        "expected a language in ['en', 'km', 'zh', 'lo', 'my', 'th', 'vi']"
        in (refused["error"]["detail"])
    )


async def test_preferences_follow_the_user_to_the_next_login(
    pair: tuple[Desk, Desk, Relay],
) -> None:
    th, _, _ = pair
    status, session = await th.login("th-desk")
    assert status == 200
    assert session["preferences"] == {"locale": "en", "calendar": "gregorian", "time_zone": None}
    status, body = await th.call(
        "PUT", "/api/me/preferences", json={"locale": "th", "calendar": "buddhist"}
    )
    assert status == 200, body
    assert body["preferences"]["calendar"] == "buddhist"
    status, body = await th.call("GET", "/api/me")  # the session goes on
    assert (status, body["preferences"]["locale"]) == (200, "th")
    for bad, said in (
        ({"locale": "fr"}, "expected a language"),
        ({"calendar": "julian"}, "expected a calendar"),
        ({"time_zone": "Asia/Nowhere"}, "expected an IANA time zone"),
        ({"theme": "dark"}, "unknown key 'theme'"),
    ):
        status, body = await th.call("PUT", "/api/me/preferences", json=bad)
        assert (status, body["error"]["reason"]) == (400, "BAD_REQUEST")
        assert said in body["error"]["detail"]
    await th.call("POST", "/api/logout")
    th.token = ""
    status, body = await th.call("GET", "/api/me")
    assert status == 401
    status, session = await th.login("th-desk")
    assert session["preferences"] == {"locale": "th", "calendar": "buddhist", "time_zone": None}


async def test_a_referral_listed_both_ways_with_its_acknowledgement_and_detail(
    pair: tuple[Desk, Desk, Relay],
) -> None:
    th, kh, relay = pair
    await th.login("th-desk")
    await kh.login("kh-desk")
    _, doc = await th.call("GET", "/api/openapi.json")
    referral = {
        "type": "referral",
        "to": ["KH"],
        "case_key": "TH-KH-2026-0042",
        "payload": example("referral"),
    }
    status, sent = await th.call("POST", "/api/events", json=referral)
    assert status == 201, sent
    event_id = sent["event_id"]
    status, listed = await th.call("GET", "/api/referrals")
    ok = doc["paths"]["/api/referrals"]["get"]["responses"]["200"]
    jsonschema.validate(listed, _schema(doc, ok))
    assert [s["event_id"] for s in listed["sent"]] == [event_id]
    assert listed["sent"][0]["status"] == "AWAITING_ACK"
    assert listed["sent"][0]["awaited_from"] == ["KH"]
    assert listed["received"] == []

    assert await relay.run("TH") == 1

    async def kh_has_it() -> list[dict[str, object]]:
        _, got = await kh.call("GET", "/api/referrals")
        return list(got["received"])

    received = await eventually(kh_has_it)
    assert received[0]["event_id"] == event_id
    assert received[0]["status"] == "NEW"
    assert received[0]["from"] == "TH"
    status, detail = await kh.call("GET", f"/api/events/{event_id}")
    assert status == 200
    schema = _schema(doc, doc["paths"]["/api/events/{event_id}"]["get"]["responses"]["200"])
    jsonschema.validate(detail, schema)
    assert detail["direction"] == "received"
    assert detail["fields"]["names"][0]["full_name"] == "សុខ ស្រីពៅ"
    assert "identity_documents" in detail["withheld"]
    assert detail["purpose"] == "victim_protection"
    assert detail["agreement"] == "TH-KH@1"
    assert len(detail["event_digest"]) == 64
    assert detail["schema"]["name"] == "Referral"

    status, _ = await kh.call("POST", f"/api/inbox/{event_id}/ack", json={"status": "ACCEPTED"})
    assert status == 201
    _, got = await kh.call("GET", "/api/referrals")
    assert got["received"][0]["status"] == "ACCEPTED"
    assert await relay.run("KH") == 1

    async def acknowledged() -> dict[str, object] | None:
        _, got = await th.call("GET", "/api/referrals")
        first = got["sent"][0]
        return first if first["acknowledgements"] else None

    back = await eventually(acknowledged)
    assert back["status"] == "ACCEPTED"
    assert back["awaited_from"] == []
    [ack] = back["acknowledgements"]
    assert (ack["country"], ack["status"]) == ("KH", "ACCEPTED")
    status, mine = await th.call("GET", f"/api/events/{event_id}")
    assert status == 200
    jsonschema.validate(mine, schema)
    assert (mine["direction"], mine["to"], mine["status"]) == ("sent", ["KH"], "ACCEPTED")
    assert mine["acknowledgements"][0]["country"] == "KH"
    status, missing = await th.call("GET", "/api/events/019b7580-0000-7000-8000-0000000009ff")
    assert (status, missing["error"]["reason"]) == (404, "NOT_FOUND")
