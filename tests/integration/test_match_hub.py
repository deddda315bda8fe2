"""The hub's match agent on the real broker: register, query, relay, refuse, expire.

The hub worker (``trm hub worker``, a subprocess) reads ``<ns>.match.requests``;
the members' messages are built and signed here (the evaluators' service and
the SDK flow are helper "matchnode"'s). Every answer is opened as a node opens
it: verified against the trust list, the hub's signature included.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.audit.leaf import AuditLeaf
from hub.decision import DecisionKind
from hub.keys import write_private_key
from hub.matching.messages import (
    HUB,
    Answer,
    Body,
    Evaluate,
    MatchMessage,
    Query,
    Refused,
    Register,
    Registered,
    open_message,
    seal_message,
)
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire.seal import new_event_id
from tests.support.hub import HUB_KEY, KEYS, trust_list
from tests.support.kafka import collect_records, send_records
from tests.support.matching import element, match_key
from tests.support.policy import DELIVERY_POLICY, agreement_from_table
from tests.support.procs import Worker

pytestmark = pytest.mark.kafka
REF = "a" * 32
DAY = 86_400_000


def _now() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def worker(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> Iterator[Worker]:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    agreement = agreement_from_table(DELIVERY_POLICY, KEYS)
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, [agreement]))
    w = Worker(kafka_bootstrap, topics, tmp_path)
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _msg(body: Body, sender: str, recipient: str = HUB, *, key: Any = None) -> bytes:
    now = _now()
    message = MatchMessage.of(
        body, message_id=new_event_id(now), sender=sender, recipient=recipient, created_at_ms=now
    )
    return seal_message(message, key or KEYS[sender])


def _query(keys: tuple[bytes, ...], kind: str = "phone") -> Query:
    return Query(new_event_id(_now()), kind, keys, "TH-2026-0042", "investigation")


async def _send(bootstrap: str, topics: Topics, *values: bytes) -> None:
    await send_records(bootstrap, [(topics.match_requests, v, []) for v in values], key=b"m")


async def _read(bootstrap: str, topic: str, n: int, worker: Worker) -> list[MatchMessage]:
    got = await collect_records(bootstrap, {topic: n}, worker)
    return [open_message(r.value, trust_list(), now_ms=_now()) for r in got[topic]]


def _answers(messages: list[MatchMessage]) -> dict[str, Answer]:
    return {m.body.query_id: m.body for m in messages if isinstance(m.body, Answer)}


async def test_register_query_hit_and_no_hit_refusals_and_expiry(
    kafka_bootstrap: str, topics: Topics, worker: Worker
) -> None:
    vn, th = topics.match("VN"), topics.match("TH")
    now = _now()
    await _send(
        kafka_bootstrap,
        topics,
        _msg(Register(REF, "phone", (match_key(1), match_key(2)), "suspect", now + DAY), "VN"),
    )
    [registered] = await _read(kafka_bootstrap, vn, 1, worker)
    assert registered.body == Registered(REF, now + DAY)
    assert registered.sender == HUB
    # the worker is up now: an entry that lives three seconds
    short = _now() + 3000
    await _send(
        kafka_bootstrap,
        topics,
        _msg(Register("b" * 32, "phone", (match_key(5),), "suspect", short), "VN"),
    )
    assert (await _read(kafka_bootstrap, vn, 2, worker))[1].body == Registered("b" * 32, short)

    hit_q, miss_q = _query((match_key(2),)), _query((match_key(99),))
    await _send(kafka_bootstrap, topics, _msg(hit_q, "TH"), _msg(miss_q, "TH"))
    answers = _answers(await _read(kafka_bootstrap, th, 2, worker))
    assert answers[hit_q.query_id] == Answer(hit_q.query_id, True, "VN", REF, "phone")
    assert answers[miss_q.query_id] == Answer(miss_q.query_id, False)

    # unsigned garbage, a tampered query, a query KH signs in TH's name: each refused
    good = _msg(_query((match_key(1),)), "TH")
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    spoofed = _msg(_query((match_key(1),)), "TH", key=KEYS["KH"])
    await _send(kafka_bootstrap, topics, b"\xc3\x01garbage", tampered, spoofed)
    refused = await _read(kafka_bootstrap, th, 4, worker)
    reasons = sorted(m.body.reason for m in refused if isinstance(m.body, Refused))
    assert reasons == ["BAD_SIGNATURE", "PRODUCER_MISMATCH"]
    worker.alive()  # bad input did not kill it
    rejections = await collect_records(kafka_bootstrap, {topics.rejections("TH"): 2}, worker)
    assert sorted(json.loads(r.value)["reason"] for r in rejections[topics.rejections("TH")]) == [
        "BAD_SIGNATURE",
        "PRODUCER_MISMATCH",
    ]

    # the short-lived entry has expired: no hit; and the hub still answers
    await asyncio.sleep(max(0.0, (short + 500 - _now()) / 1000))
    expired_q = _query((match_key(5),))
    await _send(kafka_bootstrap, topics, _msg(expired_q, "TH"))
    answers = _answers(await _read(kafka_bootstrap, th, 5, worker))
    assert answers[expired_q.query_id] == Answer(expired_q.query_id, False)

    # an EVALUATE is relayed to the evaluator byte for byte
    ask = _msg(Evaluate(new_event_id(_now()), "investigation", (element(1),)), "TH", "KH")
    await _send(kafka_bootstrap, topics, ask)
    got = await collect_records(kafka_bootstrap, {topics.match("KH"): 1}, worker)
    assert [r.value for r in got[topics.match("KH")]] == [ask]

    # the decisions: no match key anywhere, the hit's owner and reference on it
    decided = await collect_records(kafka_bootstrap, {topics.decisions: 9}, worker)
    leaves = [
        AuditLeaf.from_decision(dict(r.headers)["trm-effect"].decode(), r.value)
        for r in decided[topics.decisions]
    ]
    assert len(leaves) == 9  # 2 registrations, 3 queries, 3 refusals, 1 relay: each once
    for leaf in leaves:
        raw = leaf.to_bytes()
        for secret in (match_key(1), match_key(2), match_key(5), element(1)):
            assert secret not in raw
            assert secret.hex().encode() not in raw
    hits = [
        leaf.record.match
        for leaf in leaves
        if leaf.record.match is not None and leaf.record.match.hit == "true"
    ]
    assert [(f.owner, f.reference, f.query_id) for f in hits if f] == [("VN", REF, hit_q.query_id)]
    assert sum(leaf.record.kind is DecisionKind.REJECTED for leaf in leaves) == 3
    index = await collect_records(kafka_bootstrap, {topics.match_index: 2}, worker)
    for r in index[topics.match_index]:
        assert match_key(1).hex().encode() not in r.value
