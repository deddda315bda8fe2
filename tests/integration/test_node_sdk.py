"""CountryNode on the real broker: publish, inbox verification and dedupe, ack, rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from connectors.sdk import WITHHELD, CountryNode, Submission
from hub.errors import Reason, RequestError, TrustError, WireError
from hub.home import StateDir
from hub.keys import private_key_from_seed
from hub.sealkeys import Keyring
from hub.topics import Topics
from hub.wire import Envelope, check_cloudevents, open_envelope
from tests.support.kafka import read_topic
from tests.support.nodes import (
    DAY,
    KEYS,
    T0,
    delivered_copy,
    example,
    node_seal_keys,
    trust_list,
)
from tests.support.trust import with_expiry

pytestmark = pytest.mark.kafka


def _node(cc: str, bootstrap: str, topics: Topics, root: Path) -> CountryNode:
    return CountryNode(cc, KEYS[cc], trust_list(), bootstrap, topics=topics, state=StateDir(root))


async def test_publish_signed_with_cloudevents_and_sequence_continues(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    sub = Submission.from_json(
        {
            "type": "handover_notice",
            "to": ["KH"],
            "case_key": "c-9",
            "payload": example("handover_notice"),
        }
    )
    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["KH"])
    async with _node("TH", kafka_bootstrap, topics, tmp_path) as node:
        first = await node.publish(sub)
        # Bad payload: refused before a sequence number is used or anything sent.
        bad = Submission.from_json(
            {
                **{"type": "handover_notice", "to": "KH", "case_key": "c"},
                "payload": {"planned_at": "tomorrow"},
            }
        )
        with pytest.raises(WireError) as info:
            await node.publish(bad)
        assert info.value.reason is Reason.INVALID_PAYLOAD
        with pytest.raises(RequestError):
            await node.publish(
                Submission.from_json(
                    {"type": "referral", "to": "TH", "case_key": "c", "payload": {}}
                )
            )
    async with _node("TH", kafka_bootstrap, topics, tmp_path) as node:  # a restart
        second = await node.publish(sub)
    records = await read_topic(kafka_bootstrap, topics.outbox("TH"))
    assert len(records) == 2
    envs = [Envelope.from_bytes(r.value) for r in records]
    assert [e.header.event_id for e in envs] == [first, second]
    assert [e.header.sequence for e in envs] == [1, 2]
    for r, e in zip(records, envs, strict=True):
        check_cloudevents(list(r.headers), e.header)
        assert r.key == b"c-9"
        open_envelope(e.to_bytes(), trust_list())


async def test_inbox_verifies_dedupes_across_restart_and_refuses_forgeries(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    good, headers = delivered_copy(
        "handover_notice",
        example("handover_notice"),
        producer="TH",
        recipient="KH",
        keep={"status", "names", "planned_at"},
        created_at_ms=1_767_300_000_000,
    )
    forged, fheaders = delivered_copy(
        "handover_notice",
        example("handover_notice"),
        producer="TH",
        recipient="KH",
        keep={"status"},
        created_at_ms=1_767_300_000_000,
        hub_key=private_key_from_seed(b"\x01" * 32),
    )
    other, oheaders = delivered_copy(
        "referral",
        example("referral"),
        producer="TH",
        recipient="KH",
        keep={"case_number"},
        created_at_ms=1_767_300_000_000,
        attest_for="VN",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        inbox = topics.inbox("KH")
        await producer.send_and_wait(inbox, good.to_bytes(), key=b"case-1", headers=headers)
        await producer.send_and_wait(inbox, good.to_bytes(), key=b"case-1", headers=headers)
        await producer.send_and_wait(inbox, forged.to_bytes(), key=b"case-1", headers=fheaders)
        await producer.send_and_wait(inbox, other.to_bytes(), key=b"case-1", headers=oheaders)
        await producer.send_and_wait(inbox, b"not an envelope", key=b"x")
    finally:
        await producer.stop()
    crashed = _node("KH", kafka_bootstrap, topics, tmp_path)
    gen = crashed.inbox()
    first = await gen.__anext__()
    await gen.aclose()  # the caller died while handling it: not marked seen
    node = _node("KH", kafka_bootstrap, topics, tmp_path)
    got = [r async for r in node.inbox()]
    assert first.event_id == good.header.event_id
    assert [r.event_id for r in got] == [good.header.event_id]
    rec = got[0]
    assert rec.get("status") == "SCHEDULED"
    assert rec.get("escort_officers") is WITHHELD
    assert rec.fields["names"][0]["full_name"] == "សុខ ស្រីពៅ"
    # Partitions interleave: compare as a set. The forged copy's hub key is not trusted.
    assert {r.reason for r in crashed.refused + node.refused} == {
        Reason.UNKNOWN_KEY,
        Reason.NOT_ADDRESSED,
        Reason.MALFORMED_FRAME,
    }, crashed.refused + node.refused
    await node_seal_keys(kafka_bootstrap, topics, tmp_path, ["TH"])
    again = _node("KH", kafka_bootstrap, topics, tmp_path)  # restart: nothing new
    assert [r async for r in again.inbox()] == []
    assert [r.event_id async for r in again.inbox(include_seen=True)] == [good.header.event_id]
    async with again:
        ack_id = await again.acknowledge(rec, status="ACCEPTED")
    acks = await read_topic(kafka_bootstrap, topics.outbox("KH"))
    env = Envelope.from_bytes(acks[-1].value)
    th_keys = Keyring.of(StateDir(tmp_path), "TH")  # sealed to TH: opened with TH's key
    opened = open_envelope(
        env.to_bytes(), trust_list(), recipient="TH", private_key=th_keys.private
    )
    assert env.header.event_id == ack_id
    assert env.header.recipients == ("TH",)
    assert env.header.correlation_id == rec.event_id
    assert opened.event.fields["acknowledged_event_digest"].hex() == rec.event_digest
    assert again.store.journal("ack")[0]["event_id"] == rec.event_id


async def test_rejections_are_read(kafka_bootstrap: str, topics: Topics, tmp_path: Path) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        value = {
            "event_id": "e1",
            "producer": "TH",
            "recipient": "CN",
            "reason": "NO_AGREEMENT",
            "detail": "no TH->CN",
            "source": "x",
        }
        await producer.send_and_wait(topics.rejections("TH"), json.dumps(value).encode())
        await producer.send_and_wait(topics.rejections("TH"), b"\xff garbage")
    finally:
        await producer.stop()
    node = _node("TH", kafka_bootstrap, topics, tmp_path)
    got = [r async for r in node.rejections()]
    assert [(r.event_id, r.reason, r.recipient) for r in got] == [("e1", "NO_AGREEMENT", "CN")]


async def test_node_refuses_an_expired_trust_list_on_load_and_on_reading(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    expires = T0 + 3 * DAY
    expiring = with_expiry(trust_list(), expires, KEYS)
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(expiring.to_json()), encoding="utf-8")
    state = StateDir(tmp_path / "state")
    # Loading: a file (or a list) already past its expiry is refused at the door.
    for trust in (trust_file, expiring):
        with pytest.raises(TrustError) as info:
            CountryNode(
                "KH", KEYS["KH"], trust, kafka_bootstrap, topics=topics, state=state,
                clock=lambda: expires + 1,
            )  # fmt: skip
        assert info.value.reason is Reason.TRUST_EXPIRED
        assert "expected a trust list valid at 2026-01-04T00:00:00Z" in info.value.detail
        assert f"version 1 expired at 2026-01-04T00:00:00Z ({expires})" in info.value.detail
    copies = [
        delivered_copy(
            "handover_notice",
            example("handover_notice"),
            producer="TH",
            recipient="KH",
            keep={"status"},
            created_at_ms=T0 + DAY + n,
        )
        for n in range(2)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for env, headers in copies:
            await producer.send_and_wait(
                topics.inbox("KH"), env.to_bytes(), key=b"case-1", headers=headers
            )
    finally:
        await producer.stop()
    # Reading: the list expires between two records; the second is not verified with it.
    now = [expires - 1]
    node = CountryNode(
        "KH", KEYS["KH"], trust_file, kafka_bootstrap, topics=topics, state=state,
        clock=lambda: now[0],
    )  # fmt: skip
    seen: list[str] = []

    async def read_while_the_clock_passes_the_expiry() -> None:
        async for record in node.inbox():
            seen.append(record.event_id)
            now[0] = expires

    with pytest.raises(TrustError) as info:
        await read_while_the_clock_passes_the_expiry()
    assert info.value.reason is Reason.TRUST_EXPIRED
    assert seen == [copies[0][0].header.event_id]
    assert node.refused == []  # the records are not at fault: nothing is refused as bad
    with pytest.raises(TrustError):  # and nothing is read at all while it stays expired
        await node.inbox(include_seen=True).__anext__()
    # A renewed list (version 2, chained, no expiry) reads on where the node stopped.
    renewed = with_expiry(expiring, None, KEYS, version=2)
    node = CountryNode(
        "KH", KEYS["KH"], renewed, kafka_bootstrap, topics=topics, state=state,
        clock=lambda: expires + DAY,
    )  # fmt: skip
    assert [r.event_id async for r in node.inbox()] == [copies[1][0].header.event_id]


async def test_read_inbox_marks_nothing_until_mark_shown(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """Issue 16 (5): a pass shown at once counts as seen only after it was shown."""
    copies = [
        delivered_copy(
            "handover_notice",
            example("handover_notice"),
            producer="TH",
            recipient="KH",
            keep={"status", "names"},
            created_at_ms=1_767_300_000_000 + i,
            case_key=f"case-{i}",
            sequence=i + 1,
        )
        for i in range(2)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for env, headers in copies:
            await producer.send_and_wait(topics.inbox("KH"), env.to_bytes(), headers=headers)
        await producer.send_and_wait(topics.inbox("KH"), b"not an envelope")
    finally:
        await producer.stop()
    ids = sorted(env.header.event_id for env, _ in copies)
    node = _node("KH", kafka_bootstrap, topics, tmp_path)
    first = await node.read_inbox()
    assert sorted(r.event_id for r in first.records) == ids
    assert [r.reason for r in first.refused] == [Reason.MALFORMED_FRAME]
    assert sum(first.next_offsets.values()) == 3  # every record read, over the partitions
    again = _node("KH", kafka_bootstrap, topics, tmp_path)  # a run that failed to show them
    assert sorted(r.event_id for r in (await again.read_inbox()).records) == ids
    again.mark_shown(first)
    later = _node("KH", kafka_bootstrap, topics, tmp_path)
    assert (await later.read_inbox()).records == ()
    assert [r async for r in later.inbox()] == []
    assert later.refused == []  # the cursor moved past the refused record too
    everything = await later.read_inbox(include_seen=True)
    assert sorted(r.event_id for r in everything.records) == ids
