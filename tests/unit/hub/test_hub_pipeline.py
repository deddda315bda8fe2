"""The hub's pure core: every ingest refusal, routing, redaction, attestation, dedupe."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from hub.decision import DecisionKind, DecisionRecord, SourceRef
from hub.errors import Reason
from hub.pipeline import Effect, Limits, Outcome, mark_written, new_effects, process
from hub.state import HubState
from hub.topics import Topics
from hub.wire import Envelope, open_envelope, payload_fields
from tests.support.hub import (
    HUB_KEY,
    KEYS,
    T0,
    example,
    quarantined_original,
    registry,
    sealed,
    trust_list,
)

TOPICS = Topics("tu")
KEEP = frozenset({"case_number", "needs", "languages", "is_child", "receiving_organisation"})
AGREEMENTS = {
    ("TH", "KH", "referral"): KEEP,
    ("KH", "TH", "acknowledgement"): frozenset(payload_fields("acknowledgement")),
    ("VN", "KH", "trafficker_alert"): frozenset(payload_fields("trafficker_alert")),
}


def run(
    raw: bytes,
    headers: list[tuple[str, bytes]],
    *,
    outbox: str = "TH",
    offset: int = 0,
    state: HubState | None = None,
    now_ms: int = T0 + 1000,
    limits: Limits | None = None,
    appended_at_ms: int | None = None,
) -> Outcome:
    return process(
        raw,
        headers,
        SourceRef(TOPICS.outbox(outbox), 0, offset),
        topics=TOPICS,
        registry=registry(AGREEMENTS),
        state=state if state is not None else HubState(),
        hub_key=HUB_KEY,
        now_ms=now_ms,
        limits=limits,
        appended_at_ms=appended_at_ms,
    )


def topics_of(outcome: Outcome) -> list[str]:
    return [e.topic for e in outcome.effects]


def test_referral_delivered_redacted_and_attested() -> None:
    raw, headers = sealed()
    outcome = run(raw, headers)
    assert outcome.status == "routed"
    assert outcome.delivered_to == ("KH",)
    (delivery,) = [e for e in outcome.effects if e.topic == TOPICS.inbox("KH")]
    opened = open_envelope(
        delivery.value, trust_list(), kafka_headers=delivery.headers, require_attestation=True
    )
    assert opened.event.disclosed == KEEP
    assert "names" not in opened.event.fields
    assert opened.attestation is not None
    assert opened.attestation.recipient == "KH"
    assert opened.attestation.agreement_id == "TH-KH"
    kinds = [d.kind for d in outcome.decisions]
    assert kinds == ["INGESTED", "DELIVERED"]
    delivered = outcome.decisions[1]
    assert delivered.fields == tuple(sorted(KEEP))
    assert delivered.agreement == "TH-KH@1"
    # decision records never carry payload values
    blob = b"".join(d.to_json_bytes() for d in outcome.decisions)
    assert b"Sreypov" not in blob
    assert b"TH-DSDW-2026-0042" not in blob
    assert DecisionRecord.from_json_bytes(delivered.to_json_bytes()) == delivered


def test_refused_recipient_gets_rejection_and_quarantine() -> None:
    raw, headers = sealed(recipients=("KH", "CN"))
    outcome = run(raw, headers)
    assert outcome.delivered_to == ("KH",)
    assert outcome.refused == (("CN", Reason.NO_AGREEMENT),)
    (rejection,) = [e for e in outcome.effects if e.topic == TOPICS.rejections("TH")]
    body = json.loads(rejection.value)
    assert body["reason"] == "NO_AGREEMENT"
    assert body["recipient"] == "CN"
    (quarantined,) = [e for e in outcome.effects if e.topic == TOPICS.quarantine]
    # A v1 event is readable: the quarantine keeps it sealed to its producer.
    assert raw not in quarantined.value
    assert quarantined_original(quarantined.value) == raw
    assert TOPICS.inbox("CN") not in topics_of(outcome)


def _assert_rejected(outcome: Outcome, reason: Reason, raw: bytes, submitter: str = "TH") -> None:
    assert outcome.status == "rejected"
    assert outcome.reason is reason
    assert not any(".inbox" in t for t in topics_of(outcome))
    (rej,) = [e for e in outcome.effects if e.topic == TOPICS.rejections(submitter)]
    assert json.loads(rej.value)["reason"] == str(reason)
    (q,) = [e for e in outcome.effects if e.topic == TOPICS.quarantine]
    assert quarantined_original(q.value) == raw
    assert [d.kind for d in outcome.decisions] == ["REJECTED"]
    assert outcome.decisions[0].reason == str(reason)


def test_garbage_is_rejected_not_raised() -> None:
    outcome = run(b"\x00not an envelope", [])
    assert outcome.status == "rejected"
    assert outcome.reason is not None
    _assert_rejected(outcome, outcome.reason, b"\x00not an envelope")


def test_oversized() -> None:
    raw, headers = sealed()
    _assert_rejected(run(raw, headers, limits=Limits(max_size=100)), Reason.OVERSIZED, raw)


def test_spoofed_producer() -> None:
    raw, headers = sealed(producer="TH")
    _assert_rejected(run(raw, headers, outbox="VN"), Reason.PRODUCER_MISMATCH, raw, "VN")


def test_signed_with_someone_elses_key() -> None:
    raw, headers = sealed(producer="TH", key=KEYS["VN"])
    outcome = run(raw, headers)
    assert outcome.status == "rejected"
    assert outcome.reason in {Reason.UNKNOWN_KEY, Reason.KEY_ROLE_NOT_ALLOWED, Reason.BAD_SIGNATURE}


def test_tampered_header_byte() -> None:
    raw, headers = sealed()
    env = Envelope.from_bytes(raw)
    # flip one byte of the signature inside the raw envelope
    i = raw.index(env.signature.sig)
    tampered = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]
    _assert_rejected(run(tampered, headers), Reason.BAD_SIGNATURE, tampered)


def test_cloudevents_mismatch() -> None:
    raw, headers = sealed()
    bad = [(k, b"urn:trm:VN" if k == "ce_source" else v) for k, v in headers]
    _assert_rejected(run(raw, bad), Reason.CLOUDEVENTS_MISMATCH, raw)


def test_clock_skew_future_and_past() -> None:
    raw, headers = sealed(created_at_ms=T0 + 3_600_000)
    _assert_rejected(run(raw, headers, now_ms=T0), Reason.CLOCK_SKEW, raw)
    raw, headers = sealed(created_at_ms=T0)
    _assert_rejected(run(raw, headers, now_ms=T0 + 90 * 86_400_000), Reason.CLOCK_SKEW, raw)


def test_replay_from_another_offset_is_refused_but_reprocessing_is_not() -> None:
    state = HubState()
    raw, headers = sealed()
    first = run(raw, headers, offset=5, state=state)
    assert first.status == "routed"
    again = run(raw, headers, offset=5, state=state)  # restart: same record again
    assert again.status == "routed"
    assert [e.effect_id for e in again.effects] == [e.effect_id for e in first.effects]
    replay = run(raw, headers, offset=9, state=state)
    _assert_rejected(replay, Reason.REPLAY, raw)
    assert {e.effect_id for e in replay.effects}.isdisjoint({e.effect_id for e in first.effects})


def test_reprocessed_after_a_crash_the_decision_names_the_bytes_already_delivered() -> None:
    """The inbox copy was written, its decision was not: the new decision names the old copy."""
    raw, headers = sealed()
    first = run(raw, headers, offset=5, now_ms=T0 + 1000)
    (delivery,) = [e for e in first.effects if e.topic == TOPICS.inbox("KH")]
    written = hashlib.sha256(delivery.value).hexdigest()
    # What recovery rebuilds from the topics after the crash: the delivery, no decision.
    recovered = HubState()
    recovered.mark(delivery.effect_id, written)
    again = run(raw, headers, offset=5, state=recovered, now_ms=T0 + 9000)
    (redone,) = [e for e in again.effects if e.topic == TOPICS.inbox("KH")]
    assert redone.effect_id == delivery.effect_id  # skipped by the adapter: already done
    assert redone.value != delivery.value  # a later attestation time: other bytes
    (decision,) = [d for d in again.decisions if d.kind == "DELIVERED"]
    assert decision.delivered_digest == written
    # Once the decision is written the digest is forgotten; without it, the fresh bytes count.
    recovered.mark(delivery.effect_id.decided(DecisionKind.DELIVERED))
    assert recovered.delivered == {}
    fresh = run(raw, headers, offset=5, state=HubState(), now_ms=T0 + 9000)
    (d2,) = [d for d in fresh.decisions if d.kind == "DELIVERED"]
    assert d2.delivered_digest == hashlib.sha256(redone.value).hexdigest()


def test_the_same_record_judged_twice_delivers_the_same_bytes() -> None:
    """Attestations carry the broker's append time, so a crash and a retry change nothing."""
    raw, headers = sealed()
    first = run(raw, headers, offset=5, now_ms=T0 + 1000, appended_at_ms=T0 + 700)
    again = run(raw, headers, offset=5, now_ms=T0 + 60_000, appended_at_ms=T0 + 700)
    # Only the decision records differ: they say when the hub decided.
    assert [e for e in first.effects if e.topic != TOPICS.decisions] == [
        e for e in again.effects if e.topic != TOPICS.decisions
    ]
    assert [d.delivered_digest for d in first.decisions] == [
        d.delivered_digest for d in again.decisions
    ]
    (delivery,) = [e for e in first.effects if e.topic == TOPICS.inbox("KH")]
    attestation = Envelope.from_bytes(delivery.value).attestations[-1]
    assert attestation.attested_at_ms == T0 + 700


def test_sequence_gap_is_recorded_not_dropped() -> None:
    state = HubState()
    raw1, h1 = sealed(sequence=1)
    raw3, h3 = sealed(sequence=3)
    assert run(raw1, h1, offset=0, state=state).decisions[0].reason == ""
    outcome = run(raw3, h3, offset=1, state=state)
    assert outcome.status == "routed"
    assert outcome.delivered_to == ("KH",)
    assert outcome.decisions[0].kind == "INGESTED"
    assert outcome.decisions[0].reason == "SEQUENCE_GAP"
    assert "expected sequence 2" in outcome.decisions[0].detail


def test_acknowledgement_goes_back_as_acknowledged() -> None:
    raw, headers = sealed()
    state = HubState()
    run(raw, headers, state=state)
    ack_raw, ack_headers = sealed(
        "acknowledgement",
        payload=example("acknowledgement"),
        producer="KH",
        recipients=("TH",),
        created_at_ms=T0 + 500,
    )
    outcome = run(ack_raw, ack_headers, outbox="KH", state=state)
    assert outcome.delivered_to == ("TH",)
    assert [d.kind for d in outcome.decisions] == ["INGESTED", "ACKNOWLEDGED"]
    assert TOPICS.inbox("TH") in topics_of(outcome)


def test_policy_engine_crash_refuses_all_recipients() -> None:
    from hub.pipeline import Registry
    from hub.policy import AgreementSet, Decision

    def boom(*_: object) -> list[Decision]:
        raise RuntimeError("bug")

    raw, headers = sealed(recipients=("KH", "LA"))
    reg = Registry(keys=trust_list(), agreements=AgreementSet(), decide=boom, version="x")
    outcome = process(
        raw,
        headers,
        SourceRef(TOPICS.outbox("TH"), 0, 0),
        topics=TOPICS,
        registry=reg,
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=T0,
    )
    assert outcome.delivered_to == ()
    assert {r for r, _ in outcome.refused} == {"KH", "LA"}


def test_not_an_outbox_topic_is_still_accounted_for() -> None:
    raw, headers = sealed()
    outcome = process(
        raw,
        headers,
        SourceRef("elsewhere", 0, 0),
        topics=TOPICS,
        registry=registry(AGREEMENTS),
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=T0,
    )
    assert outcome.status == "rejected"
    assert [e.topic for e in outcome.effects] == [TOPICS.quarantine, TOPICS.decisions]


@pytest.mark.parametrize("cut", [1, 10, 50])
def test_truncated_records_are_rejected(cut: int) -> None:
    raw, headers = sealed()
    outcome = run(raw[:-cut], headers)
    assert outcome.status == "rejected"


def test_acknowledgement_goes_only_to_the_original_producer() -> None:
    raw, headers = sealed()
    state = HubState()
    first = run(raw, headers, state=state)
    ack_raw, ack_headers = sealed(
        "acknowledgement",
        payload={**example("acknowledgement"), "acknowledged_event_id": first.event_id},
        producer="KH",
        recipients=("TH", "VN"),
        created_at_ms=T0 + 500,
    )
    outcome = run(ack_raw, ack_headers, outbox="KH", state=state)
    assert outcome.delivered_to == ("TH",)
    assert outcome.refused == (("VN", Reason.NOT_ADDRESSED),)


def test_an_unsealed_erasure_confirmation_names_the_request_in_its_payload_too() -> None:
    """v1: the type's reply_field names the answered event when the header does not."""
    state = HubState()
    raw, headers = sealed()
    first = run(raw, headers, state=state)
    confirmation_raw, confirmation_headers = sealed(
        "erasure_confirmation",
        payload={**example("erasure_confirmation"), "request_event_id": first.event_id},
        producer="KH",
        recipients=("TH", "VN"),
        created_at_ms=T0 + 500,
    )
    assert Envelope.from_bytes(confirmation_raw).header.correlation_id is None
    agreements = {
        **AGREEMENTS,
        ("KH", "TH", "erasure_confirmation"): frozenset(payload_fields("erasure_confirmation")),
        ("KH", "VN", "erasure_confirmation"): frozenset(payload_fields("erasure_confirmation")),
    }
    outcome = process(
        confirmation_raw,
        confirmation_headers,
        SourceRef(TOPICS.outbox("KH"), 0, 0),
        topics=TOPICS,
        registry=registry(agreements),
        state=state,
        hub_key=HUB_KEY,
        now_ms=T0 + 1000,
    )
    assert outcome.delivered_to == ("TH",)
    assert outcome.refused == (("VN", Reason.NOT_ADDRESSED),)


def test_new_effects_keeps_what_is_neither_written_nor_being_written_once() -> None:
    """The worker's filter between deciding and writing (hub.app.main)."""
    raw, headers = sealed()
    state = HubState()
    outcome = run(raw, headers, state=state)
    first, second, *rest = outcome.effects
    state.mark(first.effect_id, first.digest)  # written before
    pending = {str(second.effect_id)}  # being written by another call
    into: dict[str, Effect] = {}
    again = [dataclasses.replace(e) for e in rest]  # equal, not the same objects
    new_effects([*outcome.effects, *again], state, pending, into)
    assert list(into) == [str(e.effect_id) for e in rest]
    assert all(into[str(e.effect_id)] is e for e in rest)  # the first of an id kept


def test_mark_written_marks_each_effect_and_ends_its_pending() -> None:
    raw, headers = sealed()
    state = HubState()
    outcome = run(raw, headers, state=state)
    effects = {str(e.effect_id): e for e in outcome.effects}
    (delivery,) = [e for e in outcome.effects if e.topic == TOPICS.inbox("KH")]
    pending = {*effects, "other"}
    mark_written({str(delivery.effect_id): delivery}, state, pending)
    # a delivery whose decision is not written yet keeps the digest of what was sent
    assert state.written_delivery(delivery.effect_id) == delivery.digest
    mark_written(effects, state, pending)
    assert pending == {"other"}
    assert all(state.done(e.effect_id) for e in outcome.effects)
    assert state.written_delivery(delivery.effect_id) is None  # its decision is written
