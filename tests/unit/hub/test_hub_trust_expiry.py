"""The pure core refuses every record while the trust list in force is expired."""

from __future__ import annotations

import json

from hub.decision import SourceRef
from hub.errors import Reason
from hub.pipeline import Outcome, Registry, process
from hub.policy import AgreementSet
from hub.state import HubState
from hub.topics import Topics
from tests.support.hub import (
    HUB_KEY,
    KEYS,
    T0,
    TestSealKeys,
    quarantined_original,
    sealed,
    trust_list,
    unsafe_fake_policy,
)
from tests.support.trust import with_expiry

TOPICS = Topics("tx")
EXPIRES = T0 + 60_000
AGREEMENTS = {("TH", "KH", "referral"): frozenset({"case_number"})}


def _run(raw: bytes, headers: list[tuple[str, bytes]], now_ms: int, state: HubState) -> Outcome:
    registry = Registry(
        keys=with_expiry(trust_list(), EXPIRES, KEYS),
        agreements=AgreementSet(),
        decide=unsafe_fake_policy(AGREEMENTS),
        version="trust-v1/x",
        seal_keys=TestSealKeys(),
    )
    return process(
        raw,
        headers,
        SourceRef(TOPICS.outbox("TH"), 0, 7),
        topics=TOPICS,
        registry=registry,
        state=state,
        hub_key=HUB_KEY,
        now_ms=now_ms,
    )


def test_before_expiry_the_list_judges_as_usual() -> None:
    raw, headers = sealed(created_at_ms=EXPIRES - 1000)
    outcome = _run(raw, headers, EXPIRES - 1, HubState())
    assert outcome.delivered_to == ("KH",)


def test_at_expiry_every_record_is_refused_trust_expired() -> None:
    state = HubState()
    raw, headers = sealed(created_at_ms=EXPIRES - 1000)
    outcome = _run(raw, headers, EXPIRES, state)
    assert outcome.status == "rejected"
    assert outcome.reason is Reason.TRUST_EXPIRED
    assert outcome.delivered_to == ()
    rejection = next(e for e in outcome.effects if e.topic == TOPICS.rejections("TH"))
    body = json.loads(rejection.value)
    assert body["reason"] == "TRUST_EXPIRED"
    assert body["event_id"]  # the producer learns which of its events was refused
    assert f"expired at 2026-01-01T00:01:00Z ({EXPIRES})" in body["detail"]
    assert any(
        e.topic == TOPICS.quarantine and quarantined_original(e.value) == raw
        for e in outcome.effects
    )
    (decision,) = outcome.decisions
    assert (decision.kind, decision.reason) == ("REJECTED", "TRUST_EXPIRED")
    assert not any(e.topic == TOPICS.inbox("KH") for e in outcome.effects)
    # not taken in: once a renewed list is in force the same event can still go
    assert state.seen_at("TH", body["event_id"]) is None
    # a record that does not even parse is refused for the expiry too (checked first)
    garbage = _run(b"\xc3\x01garbage", [], EXPIRES + 1, state)
    assert garbage.reason is Reason.TRUST_EXPIRED
