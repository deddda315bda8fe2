"""The HTTP gateway on the real broker: OpenAPI, auth, bad input at the door,
submit -> (test hub relay) -> inbox -> acknowledge, and the overdue follow-up."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer
from openapi_spec_validator import validate

from connectors.gateway import DeskUsers, make_app
from connectors.sdk import CountryNode
from hub.home import StateDir
from hub.topics import Topics
from hub.wire import Envelope, attest, cloudevents_headers, redact
from tests.support.kafka import read_topic
from tests.support.nodes import HUB_KEY, KEYS, example, node_seal_keys, trust_list

pytestmark = pytest.mark.kafka

HOUR = 3_600_000
PASSWORD = "correct horse battery"


@dataclass
class Clock:
    offset_ms: int = 0

    def __call__(self) -> int:
        import time

        return time.time_ns() // 1_000_000 + self.offset_ms


@dataclass
class Relay:
    """A stand-in for the hub: copies each new outbox record to its recipients'
    inboxes, redacted to ``keep`` and attested with the test hub key."""

    bootstrap: str
    topics: Topics
    keep: dict[str, frozenset[str]]
    done: dict[str, int] = field(default_factory=dict)

    async def run(self, producer_cc: str) -> int:
        records = await read_topic(self.bootstrap, self.topics.outbox(producer_cc))
        new = records[self.done.get(producer_cc, 0) :]
        self.done[producer_cc] = len(records)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for rec in new:
                env = Envelope.from_bytes(rec.value)
                kind = env.header.event_type.value
                for cc in env.header.recipients:
                    # Sealed events: withheld by label, only the recipient's key wrap.
                    red = redact(env, self.keep.get(kind, frozenset()), recipient=cc)
                    out = attest(
                        red,
                        recipient=cc,
                        agreement_id=f"{producer_cc}-{cc}",
                        agreement_version=1,
                        fields=sorted(red.labels),
                        leaf_ref="decision:relay",
                        hub_key=HUB_KEY,
                        attested_at_ms=env.header.created_at_ms + 1,
                    )
                    await producer.send_and_wait(
                        self.topics.inbox(cc),
                        out.to_bytes(),
                        key=env.header.case_key.encode(),
                        headers=cloudevents_headers(out.header),
                    )
        finally:
            await producer.stop()
        return len(new)


HANDOVER_KEEP = frozenset(
    {"status", "planned_at", "checkpoint", "names", "receiving_organisation", "transport"}
)
ACK_KEEP = frozenset({"acknowledged_event_id", "status", "acknowledged_at"})


def desk_users(root: Path, clock: Clock) -> DeskUsers:
    users = DeskUsers.load(root / "desk-users.json")
    users.add("th-desk", "TH", PASSWORD)
    users.add("kh-desk", "KH", PASSWORD)
    return users


@dataclass
class Desk:
    client: TestClient[Any, Any]
    token: str = ""

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        resp: ClientResponse = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json(content_type=None)
        return resp.status, body

    async def login(self, user: str, password: str = PASSWORD) -> tuple[int, Any]:
        status, body = await self.call(
            "POST", "/api/login", json={"user": user, "password": password}
        )
        if status == 200:
            self.token = body["token"]
        return status, body


async def gateway(
    cc: str, root: Path, bootstrap: str, topics: Topics, *, users: DeskUsers, clock: Clock
) -> Desk:
    node = CountryNode(cc, KEYS[cc], trust_list(), bootstrap, topics=topics, state=StateDir(root))
    app = make_app(node, users, deadline_ms=24 * HOUR, clock=clock)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return Desk(client)


async def eventually(fn: Callable[[], Any], within_s: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        got = await fn()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


@pytest.fixture
async def desks(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> AsyncIterator[tuple[Desk, Desk, Clock, Relay]]:
    clock = Clock()
    users = desk_users(tmp_path, clock)
    roots = {"TH": tmp_path / "th", "KH": tmp_path / "kh"}
    await node_seal_keys(kafka_bootstrap, topics, roots, roots)
    th = await gateway("TH", tmp_path / "th", kafka_bootstrap, topics, users=users, clock=clock)
    kh = await gateway("KH", tmp_path / "kh", kafka_bootstrap, topics, users=users, clock=clock)
    relay = Relay(
        kafka_bootstrap, topics, {"handover_notice": HANDOVER_KEEP, "acknowledgement": ACK_KEEP}
    )
    try:
        yield th, kh, clock, relay
    finally:
        await th.client.close()
        await kh.client.close()


def notice(**extra: Any) -> dict[str, Any]:
    payload = example("handover_notice")
    return {
        "type": "handover_notice",
        "to": ["KH"],
        "case_key": "case-77",
        "payload": payload,
        **extra,
    }


async def test_openapi_document_is_valid_and_public(desks: tuple[Desk, Desk, Clock, Relay]) -> None:
    th, _, _, _ = desks
    status, doc = await th.call("GET", "/api/openapi.json")
    assert status == 200
    validate(doc)
    assert set(doc["paths"]) >= {"/api/events", "/api/inbox", "/api/inbox/{event_id}/ack"}


async def test_auth_refusals(desks: tuple[Desk, Desk, Clock, Relay]) -> None:
    th, _, _, _ = desks
    for path in ("/api/inbox", "/api/alerts", "/api/rejections", "/api/sent"):
        status, body = await th.call("GET", path)
        assert (status, body["error"]["reason"]) == (401, "UNAUTHENTICATED")
    status, body = await th.call("GET", "/api/inbox", headers={"Authorization": "Bearer forged"})
    assert (status, body["error"]["reason"]) == (401, "UNAUTHENTICATED")
    status, body = await th.login("th-desk", "wrong password!")
    assert (status, body["error"]["reason"]) == (401, "UNAUTHENTICATED")
    status, body = await th.login("nobody")
    assert (status, body["error"]["reason"]) == (401, "UNAUTHENTICATED")
    status, body = await th.login("kh-desk")  # a desk of another country
    assert (status, body["error"]["reason"]) == (403, "FORBIDDEN")
    status, body = await th.login("th-desk")
    assert status == 200
    assert body["country"] == "TH"
    status, _ = await th.call("GET", "/api/inbox")
    assert status == 200
    await th.call("POST", "/api/logout")
    status, body = await th.call("GET", "/api/inbox")
    assert status == 401


async def test_bad_input_at_the_door_sends_nothing(
    desks: tuple[Desk, Desk, Clock, Relay], kafka_bootstrap: str, topics: Topics
) -> None:
    th, _, _, _ = desks
    await th.login("th-desk")
    good = json.dumps(notice(), ensure_ascii=False)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "BAD_REQUEST",
        ),
        (
            {"data": good.encode(), "headers": {"Content-Type": "text/plain"}},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            {"data": good.encode("utf-16"), "headers": {"Content-Type": "application/json"}},
            400,
            "BAD_ENCODING",
        ),
        (
            {
                "data": good.encode(),
                "headers": {"Content-Type": "application/json; charset=latin-1"},
            },
            400,
            "BAD_ENCODING",
        ),
        ({"json": [notice()]}, 400, "BAD_REQUEST"),
        ({"json": notice(to=5)}, 400, "BAD_REQUEST"),
        ({"json": notice(colour="red")}, 400, "BAD_REQUEST"),
        ({"json": {**notice(), "payload": {"shoe_size": 3}}}, 400, "UNKNOWN_FIELD"),
        ({"json": {**notice(), "payload": {"planned_at": "soon"}}}, 400, "INVALID_PAYLOAD"),
        ({"json": notice(**{"from": "KH"})}, 403, "FORBIDDEN"),
        ({"json": notice(to=["TH"])}, 400, "BAD_REQUEST"),
        ({"json": notice(to=["XX1"])}, 400, "UNKNOWN_COUNTRY"),
        (
            {
                "data": b'{"type": "referral", "type": "handover_notice"}',
                "headers": {"Content-Type": "application/json"},
            },
            400,
            "BAD_REQUEST",
        ),
        (
            {"data": io.BytesIO(b"x" * (2 << 20)), "headers": {"Content-Type": "application/json"}},
            413,
            "OVERSIZED",
        ),
    ]
    for kw, want_status, want_reason in cases:
        status, body = await th.call("POST", "/api/events", **kw)
        assert (status, body["error"]["reason"]) == (want_status, want_reason), (kw.keys(), body)
        assert body["error"]["detail"]
    status, body = await th.call("DELETE", "/api/events")
    assert (status, body["error"]["reason"]) == (405, "METHOD_NOT_ALLOWED")
    status, body = await th.call("GET", "/api/nowhere")
    assert (status, body["error"]["reason"]) == (404, "NOT_FOUND")
    assert await read_topic(kafka_bootstrap, topics.outbox("TH")) == []  # nothing half-sent


async def test_submit_inbox_ack_and_overdue_follow_up(
    desks: tuple[Desk, Desk, Clock, Relay],
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    th, kh, clock, relay = desks
    await th.login("th-desk")
    await kh.login("kh-desk")
    planned = clock() + 72 * HOUR  # later than the deadline: the deadline rules
    body = notice()
    body["payload"]["planned_at"] = planned
    status, sent = await th.call("POST", "/api/events", json=body)
    assert status == 201, sent
    event_id = sent["event_id"]
    assert await relay.run("TH") == 1

    async def kh_notices() -> list[Any]:
        _, body = await kh.call("GET", "/api/inbox?type=handover_notice")
        return list(body["events"])

    events = await eventually(kh_notices)
    assert [e["event_id"] for e in events] == [event_id]
    ev = events[0]
    assert ev["status"] == "AWAITING_ACK"
    assert ev["overdue"] is False
    assert "escort_officers" in ev["withheld"]
    assert ev["fields"]["names"][0]["full_name"] == "សុខ ស្រីពៅ"
    _, doc = await kh.call("GET", "/api/openapi.json")
    schema = {**doc["components"]["schemas"]["InboxRecord"], "components": doc["components"]}
    jsonschema.validate(ev, schema)
    status, one = await kh.call("GET", f"/api/inbox/{event_id}")
    assert status == 200
    assert one["due_at_ms"] == ev["created_at_ms"] + 24 * HOUR
    status, body = await kh.call("GET", "/api/inbox/0190aaaa-0000-7000-8000-000000000000")
    assert (status, body["error"]["reason"]) == (404, "NOT_FOUND")

    # Not acknowledged within the deadline: an overdue alert on both desks.
    _, alerts = await kh.call("GET", "/api/alerts")
    assert alerts["alerts"] == []
    clock.offset_ms = 25 * HOUR
    status, body = await kh.call("GET", "/api/alerts")
    assert (status, body["error"]["reason"]) == (401, "UNAUTHENTICATED")  # 8 h sessions
    await th.login("th-desk")
    await kh.login("kh-desk")
    _, alerts = await kh.call("GET", "/api/alerts")
    assert [(a["side"], a["event_id"]) for a in alerts["alerts"]] == [("receiving", event_id)]
    _, alerts = await th.call("GET", "/api/alerts")
    assert [(a["side"], a["event_id"]) for a in alerts["alerts"]] == [("sending", event_id)]

    status, body = await kh.call("POST", f"/api/inbox/{event_id}/ack", json={"status": "LOST"})
    assert (status, body["error"]["reason"]) == (400, "BAD_REQUEST")
    status, body = await kh.call(
        "POST", f"/api/inbox/{event_id}/ack", json={"status": "HANDED_OVER"}
    )
    assert status == 201, body
    _, alerts = await kh.call("GET", "/api/alerts")
    assert alerts["alerts"] == []
    _, one = await kh.call("GET", f"/api/inbox/{event_id}")
    assert one["status"] == "HANDED_OVER"

    assert await relay.run("KH") == 1

    async def th_cleared() -> bool:
        _, alerts = await th.call("GET", "/api/alerts")
        return bool(alerts["alerts"] == [])

    await eventually(th_cleared)
    _, sent_list = await th.call("GET", "/api/sent")
    assert [(s["event_id"], s["status"]) for s in sent_list["sent"]] == [(event_id, "HANDED_OVER")]


async def test_rejections_listed(
    desks: tuple[Desk, Desk, Clock, Relay], kafka_bootstrap: str, topics: Topics
) -> None:
    th, _, _, _ = desks
    await th.login("th-desk")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        value = {
            "event_id": "e9",
            "producer": "TH",
            "recipient": "CN",
            "reason": "NO_AGREEMENT",
            "detail": "none",
            "source": "s",
        }
        await producer.send_and_wait(topics.rejections("TH"), json.dumps(value).encode())
    finally:
        await producer.stop()

    async def listed() -> list[Any]:
        _, body = await th.call("GET", "/api/rejections")
        return list(body["rejections"])

    got = await eventually(listed)
    assert got[0]["reason"] == "NO_AGREEMENT"


async def test_broker_down_gives_503_and_costs_nothing(tmp_path: Path) -> None:
    from hub.ops.broker import free_port

    clock = Clock()
    users = desk_users(tmp_path, clock)
    dead = f"127.0.0.1:{free_port()}"
    th = await gateway("TH", tmp_path / "th", dead, Topics("tdead"), users=users, clock=clock)
    try:
        await th.login("th-desk")
        status, body = await th.call("POST", "/api/events", json=notice())
        assert (status, body["error"]["reason"]) == (503, "KAFKA_UNAVAILABLE")
        status, _ = await th.call("GET", "/api/inbox")  # the desk still answers
        assert status == 200
    finally:
        await th.client.close()
    assert not (tmp_path / "th" / "nodes" / "TH" / "sequence").exists()  # no number used


async def test_a_recipients_rejected_acknowledgement_is_listed_as_its_rejection(
    desks: tuple[Desk, Desk, Clock, Relay],
) -> None:
    th, kh, _, relay = desks
    relay.keep["acknowledgement"] = ACK_KEEP | {"reason"}
    await th.login("th-desk")
    await kh.login("kh-desk")
    status, sent = await th.call("POST", "/api/events", json=notice())
    assert status == 201, sent
    event_id = sent["event_id"]
    assert await relay.run("TH") == 1

    async def kh_has_it() -> bool:
        status, _ = await kh.call("GET", f"/api/inbox/{event_id}")
        return status == 200

    await eventually(kh_has_it)
    reason = "SEAL_MISMATCH: the sealed disclosure of field 'names' does not decrypt"
    status, body = await kh.call(
        "POST", f"/api/inbox/{event_id}/ack", json={"status": "REJECTED", "reason": reason}
    )
    assert status == 201, body
    assert await relay.run("KH") == 1

    async def by_recipient() -> list[Any]:
        _, body = await th.call("GET", "/api/rejections")
        return [r for r in body["rejections"] if r["source"].startswith("recipient")]

    (rejection,) = await eventually(by_recipient)
    assert (rejection["event_id"], rejection["recipient"], rejection["producer"]) == (
        event_id,
        "KH",
        "TH",
    )
    assert rejection["reason"] == "SEAL_MISMATCH"
    assert rejection["detail"] == "the sealed disclosure of field 'names' does not decrypt"
