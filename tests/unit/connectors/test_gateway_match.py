"""The gateway's matching doors without a broker: what they hand to
``connectors.sdk.matching`` (a fake module here, with the contract's names), what
they answer, and what they refuse before anything is asked (no identifier echoed).
Follow-ups on the real broker: tests/browser/test_desk_followups_browser.py.
"""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from connectors.gateway import DeskUsers, make_app
from connectors.sdk import CountryNode
from hub.home import StateDir
from tests.support.gateway import GatewayTestServer
from tests.support.nodes import KEYS, trust_list

PASSWORD = "correct horse battery"
PHONE = "0912 345 678"


@dataclass(frozen=True, slots=True)
class _Registration:
    reference: str
    kind: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class _Answer:
    hit: bool
    owner: str | None
    reference: str | None
    kind: str | None
    query_id: str


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], list[Any]]]:
    calls: list[Any] = []
    fake = types.ModuleType("connectors.sdk.matching")

    async def register(node: CountryNode, kind: str, value: str, **kw: Any) -> _Registration:
        calls.append(("register", node.country, kind, value, kw))
        return _Registration("3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58", kind, 1_800_000_000_000)

    async def query(node: CountryNode, kind: str, value: str, **kw: Any) -> _Answer:
        calls.append(("query", node.country, kind, value, kw))
        return _Answer(
            True,
            "VN",
            "3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58",
            kind,
            "019b71a0-2400-7a3c-9d3e-0000000000aa",
        )

    fake.register = register  # type: ignore[attr-defined]
    fake.query = query  # type: ignore[attr-defined]
    saved = sys.modules.get("connectors.sdk.matching")
    sys.modules["connectors.sdk.matching"] = fake
    users = DeskUsers.load(tmp_path / "users.json")
    users.add("th-desk", "TH", PASSWORD)
    node = CountryNode(
        "TH", KEYS["TH"], trust_list(), "127.0.0.1:1", state=StateDir(tmp_path / "th")
    )
    client: TestClient[Any, Any] = TestClient(GatewayTestServer(make_app(node, users)))
    await client.start_server()
    try:
        resp = await client.post("/api/login", json={"user": "th-desk", "password": PASSWORD})
        token = (await resp.json())["token"]
        client.session.headers["Authorization"] = f"Bearer {token}"
        yield client, calls
    finally:
        await client.close()
        if saved is None:
            del sys.modules["connectors.sdk.matching"]
        else:
            sys.modules["connectors.sdk.matching"] = saved


async def test_register_and_query_go_to_the_matching_sdk(
    desk: tuple[TestClient[Any, Any], list[Any]],
) -> None:
    client, calls = desk
    resp = await client.post(
        "/api/match/registrations",
        json={"kind": "phone", "value": PHONE, "expires_days": 30, "subject": "suspect"},
    )
    assert resp.status == 201
    assert await resp.json() == {
        "reference": "3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58",
        "kind": "phone",
        "expires_at_ms": 1_800_000_000_000,
    }
    resp = await client.post(
        "/api/match/queries",
        json={"kind": "name", "value": "Đức", "birth_year": 1988,
              "case_ref": "TH-DSI-1", "purpose": "investigation"},
    )  # fmt: skip
    assert resp.status == 200
    body = await resp.json()
    assert (body["hit"], body["owner"], body["kind"]) == (True, "VN", "name")
    assert calls[0] == (
        "register", "TH", "phone", PHONE,
        {"birth_year": None, "issuing_state": None, "expires_days": 30,
         "subject": "suspect", "consent": False},
    )  # fmt: skip
    assert calls[1][4]["case_ref"] == "TH-DSI-1"
    assert calls[1][4]["birth_year"] == 1988


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/api/match/registrations", {"kind": "iris", "value": PHONE}, "expected kind in"),
        ("/api/match/registrations", {"kind": "phone"}, "expected key 'value'"),
        ("/api/match/registrations", {"kind": "phone", "value": PHONE, "subject": "x"},
         "expected subject"),
        ("/api/match/registrations", {"kind": "phone", "value": PHONE, "birth_year": True},
         "expected 'birth_year'"),
        ("/api/match/queries", {"kind": "phone", "value": PHONE, "purpose": "investigation"},
         "expected key 'case_ref'"),
        ("/api/match/queries", {"kind": "phone", "value": PHONE, "case_ref": "c", "purpose": "x",
                                "colour": "red"}, "unknown key 'colour'"),
        ("/api/match/followups", {"owner": "VN"}, "expected key 'reference'"),
        ("/api/match/followups", {"owner": "VN", "reference": "x", "query_id": "q",
                                  "case_ref": "c", "purpose": "investigation"},
         "expected a match reference"),
        ("/api/match/followups/019b71a0-2400-7a3c-9d3e-0000000000aa/decline", {"reason": " "},
         "expected a reason"),
    ],
)  # fmt: skip
async def test_refused_before_anything_is_asked(
    desk: tuple[TestClient[Any, Any], list[Any]], path: str, body: dict[str, Any], said: str
) -> None:
    client, calls = desk
    resp = await client.post(path, json=body)
    assert resp.status == 400
    text = await resp.text()
    error = (await resp.json())["error"]
    assert error["reason"] == "BAD_REQUEST"
    assert said in error["detail"]
    assert PHONE not in text  # the identifier is never echoed
    assert calls == []


async def test_approving_an_unknown_request_is_not_found(
    desk: tuple[TestClient[Any, Any], list[Any]],
) -> None:
    client, _ = desk
    resp = await client.post("/api/match/followups/019b71a0-2400-7a3c-9d3e-0000000000aa/approve",
                             json={})  # fmt: skip
    assert resp.status == 404
    assert (await resp.json())["error"]["reason"] == "NOT_FOUND"
    resp = await client.get("/api/match/followups/pending")
    assert await resp.json() == {"pending": []}
