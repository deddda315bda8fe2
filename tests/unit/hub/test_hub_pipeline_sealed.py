"""The hub's pure core with sealed (v2) events: it routes and withholds what it cannot read."""

from __future__ import annotations

from hub.decision import SourceRef
from hub.errors import Reason
from hub.pipeline import Outcome, process
from hub.state import HubState
from hub.topics import Topics
from hub.wire import Envelope, open_envelope, payload_fields
from tests.support.hub import HUB_KEY, T0, example, registry, sealed, trust_list
from tests.support.wire import SEAL_KEYS, private_keys

TOPICS = Topics("tu")
KEEP = frozenset({"case_number", "needs", "sex", "is_child", "receiving_organisation"})
AGREEMENTS = {
    ("TH", "KH", "referral"): KEEP,
    ("TH", "LA", "referral"): frozenset(payload_fields("referral")),
    ("KH", "TH", "acknowledgement"): frozenset(payload_fields("acknowledgement")),
    ("KH", "VN", "acknowledgement"): frozenset(payload_fields("acknowledgement")),
    ("TH", "KH", "erasure_request"): frozenset(payload_fields("erasure_request")),
    ("KH", "TH", "erasure_confirmation"): frozenset(payload_fields("erasure_confirmation")),
    ("KH", "VN", "erasure_confirmation"): frozenset(payload_fields("erasure_confirmation")),
}


def run(
    raw: bytes, headers: list[tuple[str, bytes]], *, outbox: str = "TH", state: HubState
) -> Outcome:
    return process(
        raw,
        headers,
        SourceRef(TOPICS.outbox(outbox), 0, 0),
        topics=TOPICS,
        registry=registry(AGREEMENTS),
        state=state,
        hub_key=HUB_KEY,
        now_ms=T0 + 1000,
    )


def _secrets(payload: dict[str, object]) -> list[bytes]:
    """The personal values of the example referral, as UTF-8."""
    out = [str(payload["case_number"]).encode(), str(payload["date_of_birth"]).encode()]
    for name in payload["names"]:  # type: ignore[attr-defined]
        out.append(name["full_name"].encode())
    return out


def test_a_sealed_referral_is_routed_withheld_and_opened_only_by_its_recipient() -> None:
    payload = example("referral")
    raw, headers = sealed(recipients=("KH", "LA"), seal_to={c: SEAL_KEYS[c] for c in ("KH", "LA")})
    outcome = run(raw, headers, state=HubState())
    assert outcome.delivered_to == ("KH", "LA")
    # No effect the hub writes holds a personal value: not the inboxes, not the log.
    secrets = _secrets(payload)
    for effect in outcome.effects:
        for secret in secrets:
            assert secret not in effect.value, effect.topic
    for decision in outcome.decisions:
        blob = decision.to_json_bytes()
        assert not any(secret in blob for secret in secrets)
    inbox = {e.topic: e for e in outcome.effects if ".inbox" in e.topic}
    kh = inbox[TOPICS.inbox("KH")]
    copy = Envelope.from_bytes(kh.value)
    assert [w.recipient for w in copy.key_wraps] == ["KH"]
    assert set(copy.labels) == KEEP & set(payload)
    got = open_envelope(
        kh.value,
        trust_list(),
        kafka_headers=kh.headers,
        require_attestation=True,
        recipient="KH",
        private_key=private_keys("KH"),
    )
    assert got.event.fields["sex"] == payload["sex"]
    assert got.event.fields["case_number"] == payload["case_number"]
    assert "names" not in got.event.fields
    assert got.attestation is not None
    assert sorted(got.attestation.fields) == sorted(KEEP & set(payload))
    # LA got everything, under its own wrap only.
    la = Envelope.from_bytes(inbox[TOPICS.inbox("LA")].value)
    assert [w.recipient for w in la.key_wraps] == ["LA"]
    full = open_envelope(
        la.to_bytes(), trust_list(), recipient="LA", private_key=private_keys("LA")
    )
    assert full.event.fields["names"] == payload["names"]


def test_a_sealed_submission_without_a_wrap_for_every_recipient_is_refused() -> None:
    raw, headers = sealed(recipients=("KH", "LA"), seal_to={c: SEAL_KEYS[c] for c in ("KH", "LA")})
    env = Envelope.from_bytes(raw)
    short = Envelope.assemble(
        env.header_bytes,
        env.signature,
        env.disclosures,
        sealed=env.sealed,
        key_wraps=env.key_wraps[:1],
    )
    outcome = run(short.to_bytes(), headers, state=HubState())
    assert outcome.status == "rejected"
    assert outcome.reason is Reason.SEALING_INVALID
    quarantined = [e for e in outcome.effects if e.topic == TOPICS.quarantine]
    assert [q.value for q in quarantined] == [short.to_bytes()]


def test_a_sealed_acknowledgement_goes_back_only_to_the_producer_named_in_its_header() -> None:
    state = HubState()
    raw, headers = sealed(seal_to={"KH": SEAL_KEYS["KH"]})
    run(raw, headers, state=state)
    referral_id = Envelope.from_bytes(raw).header.event_id
    ack_raw, ack_headers = sealed(
        "acknowledgement",
        producer="KH",
        recipients=("TH", "VN"),
        created_at_ms=T0 + 500,
        seal_to={c: SEAL_KEYS[c] for c in ("TH", "VN")},
        correlation_id=referral_id,
    )
    outcome = run(ack_raw, ack_headers, outbox="KH", state=state)
    assert outcome.delivered_to == ("TH",)
    assert outcome.refused == (("VN", Reason.NOT_ADDRESSED),)


def test_an_erasure_confirmation_goes_back_only_to_the_requester() -> None:
    """The reply rule is the registry's: erasure_confirmation shares it with acknowledgement."""
    state = HubState()
    request_raw, request_headers = sealed(
        "erasure_request", seal_to={"KH": SEAL_KEYS["KH"]}, created_at_ms=T0 + 100
    )
    asked = run(request_raw, request_headers, state=state)
    assert asked.delivered_to == ("KH",)
    request = Envelope.from_bytes(request_raw)
    assert request.sealed  # its fields are sealed; the hub routes it by the header alone
    confirmation_raw, confirmation_headers = sealed(
        "erasure_confirmation",
        producer="KH",
        recipients=("TH", "VN"),
        created_at_ms=T0 + 500,
        seal_to={c: SEAL_KEYS[c] for c in ("TH", "VN")},
        correlation_id=request.header.event_id,
    )
    outcome = run(confirmation_raw, confirmation_headers, outbox="KH", state=state)
    assert outcome.delivered_to == ("TH",)
    assert outcome.refused == (("VN", Reason.NOT_ADDRESSED),)
    assert [d.kind for d in outcome.decisions] == ["INGESTED", "DELIVERED", "REJECTED"]
    # Without a known request, the agreements alone decide (as for an acknowledgement).
    unknown_raw, unknown_headers = sealed(
        "erasure_confirmation",
        producer="KH",
        recipients=("TH", "VN"),
        sequence=2,
        created_at_ms=T0 + 600,
        seal_to={c: SEAL_KEYS[c] for c in ("TH", "VN")},
        correlation_id="019b71a0-2400-7a3c-9d3e-000000000000",
    )
    loose = run(unknown_raw, unknown_headers, outbox="KH", state=state)
    assert loose.delivered_to == ("TH", "VN")
