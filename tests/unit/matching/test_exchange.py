"""The hub's exchange core: register, query, relay, refuse; outcomes as values."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hub.decision import DecisionKind, DecisionRecord, MatchFacts, SourceRef
from hub.errors import Reason
from hub.matching.exchange import (
    IndexEntry,
    IndexUpdate,
    MatchIndex,
    MatchOutcome,
    index_key,
    process,
)
from hub.matching.messages import (
    HUB,
    Answer,
    Body,
    Evaluate,
    Evaluation,
    MatchMessage,
    Query,
    Refused,
    Register,
    Registered,
    open_message,
    seal_message,
)
from hub.topics import Topics
from tests.support.matching import REF, element, match_key, message_id, partial
from tests.support.wire import HUB_KEY, KEYS, KH_KEY, T0, TH_KEY

NOW = T0 + 1000
T = Topics("t")
SRC = SourceRef(T.match_requests, 0, 7)
SIGNERS = {"TH": TH_KEY, "KH": KH_KEY, HUB: HUB_KEY}
DAY = 24 * 3600 * 1000


def _msg(body: Body, sender: str, recipient: str = HUB, label: str = "m", **kw: object) -> bytes:
    message = MatchMessage.of(
        body,
        message_id=message_id(label),
        sender=sender,
        recipient=recipient,
        created_at_ms=T0,
        **kw,  # type: ignore[arg-type]
    )
    return seal_message(message, SIGNERS[sender])


def _run(raw: bytes, index: MatchIndex, **kw: object) -> MatchOutcome:
    outcome = process(
        raw,
        SRC,
        index=index,
        topics=T,
        keys=KEYS,
        hub_key=HUB_KEY,
        now_ms=NOW,
        **kw,  # type: ignore[arg-type]
    )
    for update in outcome.index_updates:
        index.apply(update)
    return outcome


def _sent(outcome: MatchOutcome, country: str) -> list[MatchMessage]:
    return [
        open_message(e.value, KEYS, now_ms=NOW)
        for e in outcome.effects
        if e.topic == T.match(country)
    ]


def _register(index: MatchIndex, owner: str = "KH", **changes: object) -> MatchOutcome:
    body = Register(REF, "phone", (match_key(1), match_key(2)), "suspect", T0 + DAY)
    return _run(_msg(dataclasses.replace(body, **changes), owner, label=f"reg{changes}"), index)  # type: ignore[arg-type]


def _query(
    index: MatchIndex, querier: str = "TH", key: bytes | None = None, kind: str = "phone"
) -> Answer:
    body = Query(message_id("q"), kind, (key or match_key(2),), "TH-2026-1", "investigation")
    outcome = _run(_msg(body, querier, label="query"), index)
    assert outcome.status == "accepted", outcome.reason
    [answer] = _sent(outcome, querier)
    assert isinstance(answer.body, Answer)
    return answer.body


def _decision(outcome: MatchOutcome) -> DecisionRecord:
    [record] = outcome.decisions
    return record


def test_register_then_query_hits_with_owner_reference_and_kind_only() -> None:
    index = MatchIndex()
    outcome = _register(index)
    assert outcome.status == "accepted"
    [registered] = _sent(outcome, "KH")
    assert registered.body == Registered(REF, T0 + DAY)
    assert registered.sender == HUB
    assert set(index.by_key) == {index_key(match_key(1)), index_key(match_key(2))}
    answer = _query(index)
    assert (answer.hit, answer.owner, answer.reference, answer.match_kind) == (
        True,
        "KH",
        REF,
        "phone",
    )


def test_no_hit_for_an_unknown_key_another_kind_or_the_owner_itself() -> None:
    index = MatchIndex()
    _register(index)
    assert _query(index, key=match_key(99)) == Answer(message_id("q"), False)
    assert not _query(index, kind="name").hit
    assert not _query(index, querier="KH").hit  # its own registration


def test_expired_entries_never_answer_and_reregistration_replaces() -> None:
    index = MatchIndex()
    _register(index, keys=(match_key(7),), expires_at_ms=NOW + 1)
    assert _query(index, key=match_key(7)).hit
    outcome = process(
        _msg(Query(message_id("q"), "phone", (match_key(7),), "c", "investigation"), "TH"),
        SRC,
        index=index,
        topics=T,
        keys=KEYS,
        hub_key=HUB_KEY,
        now_ms=NOW + 1,
    )
    [answer] = [
        open_message(e.value, KEYS, now_ms=NOW) for e in outcome.effects if e.topic == T.match("TH")
    ]
    assert answer.body.hit is False  # type: ignore[union-attr]
    _register(index, keys=(match_key(8),))  # the same reference, other keys
    assert not _query(index, key=match_key(7)).hit
    assert _query(index, key=match_key(8)).hit
    assert len(index.entries) == 1


def test_refusals_of_a_registration() -> None:
    index = MatchIndex()
    assert _register(index, subject="victim").reason is Reason.CONSENT_REQUIRED
    assert _register(index, subject="victim", consent=True).status == "accepted"
    assert _register(index, expires_at_ms=NOW).reason is Reason.MATCH_EXPIRED
    outcome = _register(index, owner="TH")
    assert outcome.reason is Reason.MATCH_REFERENCE_CONFLICT
    [refused] = _sent(outcome, "TH")
    assert refused.body == Refused("MATCH_REFERENCE_CONFLICT", refused.body.detail)  # type: ignore[union-attr]
    assert refused.correlation_id == message_id("reg{}")  # the refused REGISTER's id
    assert index.entries[REF].owner == "KH"
    rejection = [e for e in outcome.effects if e.topic == T.rejections("TH")]
    assert json.loads(rejection[0].value)["reason"] == "MATCH_REFERENCE_CONFLICT"


def test_a_query_without_case_ref_is_refused_to_its_sender() -> None:
    from hub.wire.codec import frame, part
    from tests.unit.matching.test_messages import _resign

    raw = _msg(Query(message_id("q"), "phone", (match_key(1),), "c", "investigation"), "TH")
    wrapper = part("match_signed").decode(raw[10:])
    rec = part("match_message").decode(wrapper["message"][10:])
    rec["body"] = ("trm.match.v1.Query", {**rec["body"], "case_ref": ""})
    bad = _resign(frame("match_message", part("match_message").encode(rec)), TH_KEY)
    outcome = _run(bad, MatchIndex())
    assert outcome.reason is Reason.MATCH_CASE_REQUIRED
    assert [m.body.reason for m in _sent(outcome, "TH")] == ["MATCH_CASE_REQUIRED"]  # type: ignore[union-attr]
    record = _decision(outcome)
    assert record.kind is DecisionKind.REJECTED
    assert record.producer == "TH"
    assert record.match == MatchFacts("REFUSED")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), Reason.BAD_SIGNATURE),
        (lambda raw: b"garbage", Reason.MALFORMED_FRAME),
        (lambda raw: raw + b"\x00", Reason.MALFORMED_AVRO),
    ],
)
def test_broken_messages_are_refused_and_never_raise(mutate: object, reason: Reason) -> None:
    raw = _msg(Query(message_id("q"), "phone", (match_key(1),), "c", "investigation"), "TH")
    outcome = _run(mutate(raw), MatchIndex())  # type: ignore[operator]
    assert outcome.status == "refused"
    assert outcome.reason is reason
    assert _decision(outcome).kind is DecisionKind.REJECTED


def test_a_spoofed_sender_is_refused_to_the_claimed_member() -> None:
    # KH signs a query that says it is from TH: TH is told someone spoke as it.
    message = MatchMessage.of(
        Query(message_id("q"), "phone", (match_key(1),), "c", "investigation"),
        message_id=message_id("spoof"),
        sender="TH",
        recipient=HUB,
        created_at_ms=T0,
    )
    outcome = _run(seal_message(message, KH_KEY), MatchIndex())
    assert outcome.reason is Reason.PRODUCER_MISMATCH
    assert [m.correlation_id for m in _sent(outcome, "TH")] == [message_id("spoof")]
    assert _sent(outcome, "KH") == []


def test_evaluate_and_evaluation_are_relayed_byte_for_byte() -> None:
    index = MatchIndex()
    ask = _msg(Evaluate(message_id("q"), "investigation", (element(1),)), "TH", "KH", "ev")
    outcome = _run(ask, index, share_holders=frozenset({"KH", "TH"}))
    [relayed] = [e for e in outcome.effects if e.topic == T.match("KH")]
    assert relayed.value == ask
    record = _decision(outcome)
    assert (record.kind, record.producer, record.recipient) == (DecisionKind.DELIVERED, "TH", "KH")
    assert record.match == MatchFacts(
        "EVALUATE", query_id=message_id("q"), purpose="investigation", elements=1
    )
    answer = _msg(
        Evaluation(message_id("q"), (partial(1),), 4, 50, "2026-01-01"),
        "KH",
        "TH",
        "evn",
        correlation_id=message_id("ev"),
    )
    outcome = _run(answer, index)
    assert [e.value for e in outcome.effects if e.topic == T.match("TH")] == [answer]
    facts = _decision(outcome).match
    assert facts is not None
    assert (facts.budget_used, facts.budget_limit, facts.budget_day) == (4, 50, "2026-01-01")


def test_evaluate_to_a_non_holder_or_a_non_member() -> None:
    ask = _msg(Evaluate(message_id("q"), "investigation", (element(1),)), "TH", "KH", "ev")
    outcome = _run(ask, MatchIndex(), share_holders=frozenset({"TH", "VN"}))
    assert outcome.reason is Reason.MATCH_NOT_EVALUATOR
    stranger = _msg(Evaluate(message_id("q"), "investigation", (element(1),)), "TH", "VN", "ev")
    assert _run(stranger, MatchIndex()).reason is Reason.UNKNOWN_COUNTRY


def test_no_audit_record_holds_a_key_an_element_or_the_registration_plaintext() -> None:
    index = MatchIndex()
    outcomes = [
        _register(index),
        _run(
            _msg(Evaluate(message_id("q"), "investigation", (element(1),)), "TH", "KH", "e"), index
        ),
    ]
    secrets = [match_key(1), match_key(2), element(1), index_key(match_key(1))]
    for outcome in outcomes:
        for record in outcome.decisions:
            text = record.to_json_bytes()
            for secret in secrets:
                assert secret.hex().encode() not in text
                assert secret not in text


def test_outcomes_are_the_same_bytes_when_processed_again() -> None:
    raw = _msg(Register(REF, "phone", (match_key(1),), "suspect", T0 + DAY), "KH")
    first = process(raw, SRC, index=MatchIndex(), topics=T, keys=KEYS, hub_key=HUB_KEY, now_ms=NOW)
    again = process(raw, SRC, index=MatchIndex(), topics=T, keys=KEYS, hub_key=HUB_KEY, now_ms=NOW)
    assert first == again


def test_index_entries_round_trip_and_load_skips_expired_and_tombstones() -> None:
    entry = IndexEntry("KH", REF, "phone", "suspect", T0 + DAY, (index_key(match_key(1)),))
    assert IndexEntry.from_json_bytes(entry.to_json_bytes()) == entry
    other = dataclasses.replace(entry, reference="f" * 32, expires_at_ms=T0)
    index = MatchIndex()
    count = index.load(
        [
            (REF.encode(), entry.to_json_bytes()),
            (other.reference.encode(), other.to_json_bytes()),
            (b"e" * 32, b"{not json"),
        ],
        NOW,
    )
    assert count == 1
    index.load([(REF.encode(), None)], NOW)
    assert index.entries == {}
    assert index.by_key == {}
    assert IndexUpdate(REF, None).value is None
