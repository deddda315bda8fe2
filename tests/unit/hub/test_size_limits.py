"""The size limits agree: whatever an outbox accepts, the hub can record (refuse and keep).

The envelope limit is the wire's (hub.wire.DEFAULT_MAX_SIZE); the topic plan
derives every topic's max.message.bytes from it; the hub's quarantine copy of
the largest record an outbox accepts fits the quarantine topic, and the hub's
producer may send it.
"""

from __future__ import annotations

import hashlib
import os

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from hub.app.writer import EffectWriter
from hub.decision import SourceRef
from hub.errors import Reason
from hub.pipeline import Effect, Outcome, process
from hub.state import HubState
from hub.topics import (
    HUB_MAX_RECORD_BYTES,
    OUTBOX_MAX_MESSAGE_BYTES,
    QUARANTINE_MAX_MESSAGE_BYTES,
    RECORD_ALLOWANCE_BYTES,
    Topics,
)
from hub.wire import DEFAULT_MAX_SIZE, DELIVERED_MAX_SIZE
from hub.wire.sealing import is_sealed_quarantine, quarantined_digest
from tests.support.hub import HUB_KEY, T0, quarantined_original, registry, sealed
from tests.support.wire import SEAL_KEYS

TOPICS = Topics("tz")


def _run(raw: bytes, headers: list[tuple[str, bytes]]) -> Outcome:
    return process(
        raw,
        headers,
        SourceRef(TOPICS.outbox("TH"), 0, 7),
        topics=TOPICS,
        registry=registry({}),
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=T0 + 1000,
    )


def _batch_bytes(effect: Effect) -> int:
    """What the broker compares with max.message.bytes: a batch of this one record."""
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(
            effect.key, effect.value, list(effect.headers)
        )
    )


def _quarantined(outcome: Outcome) -> Effect:
    (copy,) = [e for e in outcome.effects if e.topic == TOPICS.quarantine]
    return copy


def test_every_topic_limit_is_derived_from_the_envelope_limit() -> None:
    assert DEFAULT_MAX_SIZE < OUTBOX_MAX_MESSAGE_BYTES < QUARANTINE_MAX_MESSAGE_BYTES
    assert HUB_MAX_RECORD_BYTES >= QUARANTINE_MAX_MESSAGE_BYTES
    # a delivered copy (the envelope and the hub's attestation) fits an inbox with its headers
    assert DELIVERED_MAX_SIZE + RECORD_ALLOWANCE_BYTES <= QUARANTINE_MAX_MESSAGE_BYTES
    for spec in TOPICS.plan():
        limit = spec.config.get("max.message.bytes")
        if TOPICS.country_of_outbox(spec.name) is not None:
            assert limit == str(OUTBOX_MAX_MESSAGE_BYTES)
            # checked on the bytes as stored, not on a batch a producer compressed
            assert spec.config["compression.type"] == "uncompressed"
        elif spec.name == TOPICS.quarantine or spec.name.endswith(".inbox"):
            assert limit == str(QUARANTINE_MAX_MESSAGE_BYTES)
        assert limit is None or int(limit) <= HUB_MAX_RECORD_BYTES
    assert EffectWriter("127.0.0.1:1").settings["max_request_size"] == HUB_MAX_RECORD_BYTES


def test_the_largest_record_an_outbox_accepts_is_refused_and_kept_whole() -> None:
    headers = [("ce_id", b"x" * 4000), ("ce_type", b"y" * 4000)]
    overhead = DefaultRecordBatchBuilder.estimate_size_in_bytes(b"case", b"", headers)
    raw = os.urandom(OUTBOX_MAX_MESSAGE_BYTES - overhead)  # one-record batch at the limit
    outcome = _run(raw, headers)
    assert outcome.status == "rejected"
    assert outcome.reason is Reason.OVERSIZED
    copy = _quarantined(outcome)
    assert _batch_bytes(copy) <= QUARANTINE_MAX_MESSAGE_BYTES
    assert quarantined_original(copy.value) == raw  # the original bytes are kept
    for effect in outcome.effects:
        assert _batch_bytes(effect) <= HUB_MAX_RECORD_BYTES


def test_a_sealed_envelope_kept_as_it_came_fits_too() -> None:
    raw, headers = sealed(recipients=("KH",), seal_to={"KH": SEAL_KEYS["KH"]})
    padded = [*headers, ("x-pad", b"p" * (OUTBOX_MAX_MESSAGE_BYTES - len(raw) - 2048))]
    outcome = _run(raw, padded)  # no agreement: refused, the event kept as it came
    copy = _quarantined(outcome)
    assert copy.value == raw
    assert _batch_bytes(copy) <= QUARANTINE_MAX_MESSAGE_BYTES


def test_more_than_an_outbox_accepts_keeps_the_digest_and_length_only() -> None:
    # A topic set up otherwise than the plan let it in: the refusal is still recordable.
    raw = os.urandom(QUARANTINE_MAX_MESSAGE_BYTES + 1)
    outcome = _run(raw, [("ce_id", b"z" * 100)])
    assert outcome.reason is Reason.OVERSIZED
    copy = _quarantined(outcome)
    assert is_sealed_quarantine(copy.value)
    assert quarantined_digest(copy.value) == hashlib.sha256(raw).digest()
    assert _batch_bytes(copy) < 1024
    assert dict(copy.headers)["trm-reason"] == b"OVERSIZED"
    assert "ce_id" not in dict(copy.headers)
    (decision,) = outcome.decisions
    assert decision.reason == "OVERSIZED"
    assert str(QUARANTINE_MAX_MESSAGE_BYTES + 1) in decision.detail
