"""The HTTP gateway on the real broker: OpenAPI, auth, bad input at the door,
submit -> (test hub relay) -> inbox -> acknowledge, and the overdue follow-up."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiokafka import AIOKafkaProducer
from openapi_spec_validator import validate

from connectors.gateway import LOGIN_MAX_BODY, MAX_BODY, DeskUsers, make_app
from connectors.sdk import CountryNode
from hub.errors import Reason
from hub.home import StateDir
from hub.topics import Topics
from hub.wire import DEFAULT_MAX_SIZE, Envelope, attest, cloudevents_headers, redact
from tests.support.gateway import GatewayTestServer
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
    cc: str,
    root: Path,
    bootstrap: str,
    topics: Topics,
    *,
    users: DeskUsers,
    clock: Clock,
    alert_every_s: float = 0.0,
) -> Desk:
    node = CountryNode(cc, KEYS[cc], trust_list(), bootstrap, topics=topics, state=StateDir(root))
    app = make_app(node, users, deadline_ms=24 * HOUR, clock=clock, alert_every_s=alert_every_s)
    client: TestClient[Any, Any] = TestClient(GatewayTestServer(app))
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


# --- every door holds (issue 16) ------------------------------------------------------

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")
HOSTILE_BODIES: dict[str, bytes] = {
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "nested 5,000 deep": b'{"user": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    "a lone surrogate": b'{"user": "\\ud800", "password": "x"}',
    "a 5,001-digit integer": b'{"user": "u", "password": "x", "n": ' + b"7" * 5001 + b"}",
    "a key twice": b'{"user": "u", "user": "v", "password": "x"}',
    "not JSON": b"{user",
    "a JSON array": b"[]",
}


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert loud == [], [r.getMessage() for r in loud]


async def test_hostile_json_is_refused_at_each_door_without_a_traceback(
    desks: tuple[Desk, Desk, Clock, Relay],
    caplog: pytest.LogCaptureFixture,
    kafka_bootstrap: str,
    topics: Topics,
) -> None:
    """Failure 8: these gave HTTP 500 and a 20-line traceback in the log."""
    th, _, _, _ = desks
    caplog.set_level(logging.INFO)
    await th.login("th-desk")
    for door in ("/api/login", "/api/events"):
        for what, data in HOSTILE_BODIES.items():
            status, body = await th.call(
                "POST", door, data=data, headers={"Content-Type": "application/json"}
            )
            if door == "/api/login" and len(data) > LOGIN_MAX_BODY:  # not even read
                assert (status, body["error"]["reason"]) == (413, "OVERSIZED"), (what, body)
            else:
                assert status == 400, (door, what, body)
                assert body["error"]["reason"] in {"BAD_REQUEST", "BAD_ENCODING"}, (door, what)
            assert body["error"]["detail"].startswith("request body: expected"), body
    _no_tracebacks(caplog)
    assert await read_topic(kafka_bootstrap, topics.outbox("TH")) == []


def _padded_notice(size: int) -> bytes:
    """A valid submission of exactly ``size`` bytes (a long note)."""
    body = notice()
    body["payload"]["notes"] = [{"text": "", "lang": "en"}]
    short = len(json.dumps(body).encode())
    body["payload"]["notes"][0]["text"] = "x" * (size - short)
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


async def test_the_body_limit_is_the_envelope_limit(
    desks: tuple[Desk, Desk, Clock, Relay], kafka_bootstrap: str, topics: Topics
) -> None:
    """Failure 3: a 1,040,004-byte body got 201; the hub then refused it OVERSIZED."""
    th, _, _, _ = desks
    assert MAX_BODY == DEFAULT_MAX_SIZE  # one limit, the hub's
    await th.login("th-desk")
    json_type = {"Content-Type": "application/json"}
    for size in (1_040_004, MAX_BODY + 1):
        status, body = await th.call(
            "POST", "/api/events", data=_padded_notice(size), headers=json_type
        )
        assert (status, body["error"]["reason"]) == (413, "OVERSIZED"), size
        assert f"at most {MAX_BODY} bytes" in body["error"]["detail"]
    # Within the body limit, but sealing and signing make the envelope larger
    # than the hub accepts: the node refuses it before sending.
    status, body = await th.call(
        "POST", "/api/events", data=_padded_notice(MAX_BODY - 100), headers=json_type
    )
    assert (status, body["error"]["reason"]) == (413, "OVERSIZED"), body
    status, body = await th.call(
        "POST", "/api/login", data=b" " * (MAX_BODY + 1), headers=json_type
    )
    assert (status, body["error"]["reason"]) == (413, "OVERSIZED")
    assert await read_topic(kafka_bootstrap, topics.outbox("TH")) == []


async def test_a_notice_the_hub_refused_shows_refused_at_the_sender(
    desks: tuple[Desk, Desk, Clock, Relay], kafka_bootstrap: str, topics: Topics
) -> None:
    """Failure 10: a refused notice stayed AWAITING_ACK and became OVERDUE_ACK."""
    th, _, clock, _ = desks
    await th.login("th-desk")
    status, sent = await th.call("POST", "/api/events", json=notice())
    assert status == 201, sent
    event_id = sent["event_id"]
    # What the hub writes to TH's rejections topic (protocol section 8) when its
    # policy refuses the notice for KH; only TH reads that topic.
    refusal = {
        "event_id": event_id,
        "producer": "TH",
        "recipient": "KH",
        "reason": "CHILD_PROTECTION",
        "detail": "the agreement TH-KH v1 does not allow handover_notice about a child",
        "source": f"{topics.outbox('TH')}/0/0",
    }
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.rejections("TH"),
            json.dumps(refusal).encode(),
            key=event_id.encode(),
            headers=[("trm-reason", b"CHILD_PROTECTION")],
        )
    finally:
        await producer.stop()

    async def refused() -> list[Any]:
        _, body = await th.call("GET", "/api/sent")
        return [s for s in body["sent"] if s["status"] == "REFUSED"]

    (entry,) = await eventually(refused)
    assert entry["event_id"] == event_id
    assert entry["refused"] == [
        {"recipient": "KH", "reason": "CHILD_PROTECTION", "detail": refusal["detail"]}
    ]
    assert entry["awaited_from"] == []
    clock.offset_ms = 25 * HOUR  # past the deadline: nothing is overdue
    await th.login("th-desk")
    _, alerts = await th.call("GET", "/api/alerts")
    assert alerts["alerts"] == []
    _, body = await th.call("GET", "/api/sent")
    assert [(s["status"], s["overdue"]) for s in body["sent"]] == [("REFUSED", False)]
    _, body = await th.call("GET", "/api/rejections")
    assert [r["reason"] for r in body["rejections"]] == ["CHILD_PROTECTION"]
    _, doc = await th.call("GET", "/api/openapi.json")
    _, body = await th.call("GET", "/api/sent")
    documented = doc["paths"]["/api/sent"]["get"]["responses"]["200"]
    jsonschema.validate(body, _schema(doc, documented))


async def test_static_files_and_http_level_errors_are_json_and_echo_nothing(
    desks: tuple[Desk, Desk, Clock, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    """Failure 11: /static/x gave an empty 404, /static/ a plain-text 403, and an
    overlong header a plain-text 400 echoing the start of the Authorization header."""
    th, _, _, _ = desks
    caplog.set_level(logging.INFO)
    await th.login("th-desk")
    secret = "Zm9vYmFyc2VjcmV0" * 600  # 9,600 bytes: over aiohttp's 8,190
    cases = [
        ("GET", "/static/x", {}, 404, "NOT_FOUND"),
        ("GET", "/static/", {}, 404, "NOT_FOUND"),
        ("GET", "/static/..%2Fgateway%2Fapp.py", {}, 404, "NOT_FOUND"),
        ("GET", "/static/../gateway/app.py", {}, 404, "NOT_FOUND"),
        ("POST", "/static/desk.js", {}, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/api/inbox", {"Authorization": f"Bearer {secret}"}, 400, "BAD_REQUEST"),
        ("GET", "/api/inbox", {"X-Long": secret}, 400, "BAD_REQUEST"),
        ("GET", f"/api/inbox?type={secret}", {}, 400, "BAD_REQUEST"),
    ]
    for method, path, headers, want_status, want_reason in cases:
        resp = await th.client.request(method, path, headers=headers, skip_auto_headers=())
        text = await resp.text()
        assert (resp.status, resp.content_type) == (want_status, "application/json"), (path, text)
        assert json.loads(text)["error"]["reason"] == want_reason
        for name in SECURITY_HEADERS:
            assert name in resp.headers, (path, name)
        assert secret[:16] not in text
        assert th.token not in text
    resp = await th.client.get("/static/desk.js")
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    # RFC 9110: the authentication scheme is case-insensitive.
    for scheme in ("bearer", "BEARER"):
        status, body = await th.call(
            "GET", "/api/inbox", headers={"Authorization": f"{scheme} {th.token}"}
        )
        assert status == 200, body
    assert secret[:16] not in caplog.text
    _no_tracebacks(caplog)


_METHODS = ("get", "put", "post", "delete", "patch", "options")


def _urls(path: str, present: str) -> list[str]:
    """Concrete URLs for a documented path: present and missing resources."""
    samples = {
        "{event_id}": [present, "0190aaaa-0000-7000-8000-000000000000", "%ff%fe%00", "x" * 300],
        "{name}": ["desk.js", "desk.css", "index.html", "x", "..%2f..%2fpyproject.toml"],
        "{lang}": ["th", "km", "xx", "..%2fen", "%ff%fe"],
        "{case_key}": ["case-77", "no-such-case", "%ff%fe", "x" * 300],
    }
    for param, values in samples.items():
        if param in path:
            return [path.replace(param, v) for v in values]
    if path == "/api/inbox":
        return [path, f"{path}?type=handover_notice", f"{path}?type=%ff%fe"]
    return [path]


def _bodies(path: str) -> list[dict[str, Any]]:
    by_path: dict[str, list[dict[str, Any]]] = {
        "/api/login": [
            {"user": "th-desk", "password": PASSWORD},
            {"user": "kh-desk", "password": PASSWORD},  # a desk of another country
            {"user": "th-desk", "password": "not the password"},
            {"user": "th-desk", "password": 7},
        ],
        "/api/events": [notice(), notice(to=["XX"]), notice(**{"from": "KH"})],
        "/api/logout": [{}],
        "/api/cases/{case_key}/status": [
            {"status": "ACCEPTED", "to": ["KH"]},
            {"status": "CLOSED", "to": ["KH"]},  # a skip without a reason
            {"status": "LOST", "to": ["KH"]},
            {"status": "ACCEPTED", "to": "nobody"},
        ],
        "/api/me/preferences": [
            {"locale": "th", "calendar": "buddhist", "time_zone": "Asia/Bangkok"},
            {"locale": "xx"},
            {"calendar": "islamic"},
            {"time_zone": "Nowhere/Land"},
            {"colour": "blue"},
        ],
    }
    valid = by_path.get(path, [{"status": "RECEIVED"}, {"status": "LOST"}])
    return [
        {},
        *({"json": body} for body in valid),
        {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
        {"data": b"x" * (MAX_BODY + 1), "headers": {"Content-Type": "application/json"}},
        *(
            {"data": data, "headers": {"Content-Type": "application/json"}}
            for data in HOSTILE_BODIES.values()
        ),
    ]


def _schema(doc: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a documented response ({} when it is not JSON)."""
    content = response.get("content", {}).get("application/json")
    return {} if content is None else {**content["schema"], "components": doc["components"]}


async def test_every_answer_of_every_route_is_in_the_openapi_document(
    desks: tuple[Desk, Desk, Clock, Relay], caplog: pytest.LogCaptureFixture
) -> None:
    """Failure 11: no 500 anywhere, 405 undocumented, /api/login without 413/415.

    Every documented route with every method, authenticated or not, with good and
    hostile bodies: each status answered is documented for that operation, an
    error is the documented Error object with a reason code, every answer has the
    security headers, and none echoes a credential.
    """
    th, kh, _, relay = desks
    caplog.set_level(logging.INFO)
    await th.login("th-desk")
    await kh.login("kh-desk")
    status, sent = await kh.call("POST", "/api/events", json={**notice(), "to": ["TH"]})
    assert status == 201, sent
    assert await relay.run("KH") == 1

    async def th_has_it() -> bool:
        status, _ = await th.call("GET", f"/api/inbox/{sent['event_id']}")
        return status == 200

    await eventually(th_has_it)
    _, doc = await th.call("GET", "/api/openapi.json")
    validate(doc)
    reasons = {str(r) for r in Reason}
    secrets = {PASSWORD, th.token, "forged-token-value", "p" * 100, "q" * 100}
    answered: dict[tuple[str, str], set[int]] = {}

    async def probe(path: str, method: str, url: str, auth: str | None, kw: dict[str, Any]) -> None:
        documented = doc["paths"][path].get(method)
        allowed = [m for m in _METHODS if m in doc["paths"][path]]
        headers = dict(kw.get("headers", {}))
        if auth == "token":
            headers["Authorization"] = f"Bearer {th.token}"
        elif auth is not None:
            headers["Authorization"] = auth
        resp = await th.client.request(method, url, **{**kw, "headers": headers})
        text = await resp.text()
        where = f"{method.upper()} {url[:60]} ({auth}, {sorted(kw)}) -> {resp.status}"
        answered.setdefault((path, method), set()).add(resp.status)
        if documented is None:  # another method on this path: a 405 on each of its own
            assert resp.status == 405, where
            assert all("405" in doc["paths"][path][m]["responses"] for m in allowed), where
            documented = doc["paths"][path][allowed[0]]
        response = documented["responses"].get(str(resp.status))
        assert response is not None, f"{where}: not documented"
        for name in SECURITY_HEADERS:
            assert name in resp.headers, (where, name)
        assert not any(s in text for s in secrets - {th.token if "login" in url else ""}), where
        schema = _schema(doc, response)
        if resp.status >= 400:
            assert schema["$ref"] == "#/components/schemas/Error", where
            error = json.loads(text)
            jsonschema.validate(error, schema)
            assert error["error"]["reason"] in reasons, where
        elif schema:
            jsonschema.validate(json.loads(text), schema)
        if path == "/api/logout" and auth == "token":
            await th.login("th-desk")  # that probe ended the session
            secrets.add(th.token)

    for path, item in doc["paths"].items():
        for method in _METHODS:
            documented = method in item
            bodies = _bodies(path) if documented and method in ("post", "put") else [{}]
            auths = (None, "token", "bearer nope", "Basic Zm9yZ2VkLXRva2VuLXZhbHVl")
            urls = _urls(path, sent["event_id"])
            for url in urls if documented else urls[:1]:
                for auth in auths if documented else (None,):
                    for kw in bodies:
                        await probe(path, method, url, auth, kw)
            if documented:  # a request line, a header over the limit
                await probe(path, method, urls[0], None, {"headers": {"X-Pad": "p" * 9000}})
                await probe(path, method, urls[0] + "?" + "q" * 9000, None, {})
    walked = {(p, m): sorted(v) for (p, m), v in answered.items() if m in doc["paths"][p]}
    assert walked[("/api/events", "post")] == [201, 400, 401, 403, 413, 415]
    assert walked[("/api/inbox/{event_id}/ack", "post")] == [201, 400, 401, 404, 413, 415]
    assert walked[("/api/login", "post")] == [200, 400, 401, 403, 413, 415]
    assert walked[("/api/me/preferences", "put")] == [200, 400, 401, 413, 415]
    assert walked[("/api/i18n/{lang}", "get")] == [200, 400, 404]
    assert walked[("/api/events/{event_id}", "get")] == [200, 400, 401, 404]
    assert walked[("/api/cases/{case_key}", "get")] == [200, 400, 401, 404]
    assert walked[("/api/cases/{case_key}/status", "post")] == [201, 400, 401, 413, 415]
    _no_tracebacks(caplog)


@dataclass
class Door:
    """A TCP port in front of the broker that can be opened later: while closed,
    connecting to it is refused, as to a broker that is down."""

    target: str
    port: int
    server: asyncio.Server | None = None

    async def open(self) -> None:
        host, port = self.target.rsplit(":", 1)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(1 << 16):
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            await asyncio.gather(
                pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
            )

        self.server = await asyncio.start_server(connect, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_an_unreachable_broker_is_said_once_and_its_return_once(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Failure 15: two full tracebacks every 2 s while the broker was unreachable."""
    from connectors.gateway.app import RETRY_S
    from hub.ops.broker import free_port

    caplog.set_level(logging.INFO)
    clock = Clock()
    users = desk_users(tmp_path, clock)
    await node_seal_keys(kafka_bootstrap, topics, {"TH": tmp_path, "KH": tmp_path}, ["TH", "KH"])
    door = Door(kafka_bootstrap, free_port())
    th = await gateway("TH", tmp_path, f"127.0.0.1:{door.port}", topics, users=users, clock=clock)

    def said(words: str) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "trm.gateway" and words in r.getMessage()]

    try:
        await asyncio.sleep(4 * RETRY_S)  # a few rounds of retries
        assert len(said("is unreachable")) == 1
        assert said("reachable again") == []
        await th.login("th-desk")
        status, body = await th.call("POST", "/api/events", json=notice())
        assert (status, body["error"]["reason"]) == (503, "KAFKA_UNAVAILABLE")
        await door.open()

        async def back() -> bool:
            return bool(said("reachable again"))

        await eventually(back)
        status, body = await th.call("POST", "/api/events", json=notice())
        assert status == 201, body
        await asyncio.sleep(2 * RETRY_S)
        assert (len(said("is unreachable")), len(said("reachable again"))) == (1, 1)
    finally:
        await th.client.close()
        await door.close()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
