"""The exchange in the audit log, and the replay's checks of it (each with a log that breaks it).

Match decisions go through the real sequencer into leaves (the EXAMPLE world
of the replay tests); the replay keeps them out of the event checks and holds
them to their own: evaluator budgets, follow-ups that had a hit and a request.
"""

from __future__ import annotations

from typing import Any

from hub.audit.replay import Finding, Report, _Index, _matches
from hub.decision import DecisionKind, MatchFacts, SourceRef
from hub.matching.exchange import MatchIndex, process
from hub.matching.messages import Evaluation, MatchMessage, Query, Register, seal_message
from tests.support.audit import HUB_KEY, TOPICS, TRUST, T, World, replay_input
from tests.support.examples import example_key, example_payload
from tests.support.matching import REF, match_key, message_id, partial

DAY = 86_400_000


def _send(world: World, index: MatchIndex, message: MatchMessage) -> None:
    raw = seal_message(message, example_key(message.sender))
    rec = world.write(TOPICS.match_requests, raw)
    outcome = process(
        raw,
        SourceRef(rec.topic, rec.partition, rec.offset),
        index=index,
        topics=TOPICS,
        keys=TRUST,
        hub_key=HUB_KEY,
        now_ms=T + 1000,
        registry_version="v1",
    )
    for update in outcome.index_updates:
        index.apply(update)
    for effect in outcome.effects:
        world.write(effect.topic, effect.value, effect.headers)


def _evaluation(n: int, limit: int, day: str = "2026-03-01") -> MatchMessage:
    return MatchMessage.of(
        # budget_used as the evaluator says it: the replay counts for itself
        Evaluation(message_id("q"), (partial(n),), min(n, limit), limit, day),
        message_id=message_id(f"evaluation{n}{day}", T),
        sender="VN",
        recipient="TH",
        created_at_ms=T,
        correlation_id=message_id(f"evaluate{n}", T),
    )


def test_match_decisions_are_logged_kept_out_of_event_checks_and_replay_clean() -> None:
    world, index = World(), MatchIndex()
    _send(
        world,
        index,
        MatchMessage.of(
            Register(REF, "phone", (match_key(1),), "suspect", T + DAY),
            message_id=message_id("r", T),
            sender="VN",
            recipient="hub",
            created_at_ms=T,
        ),
    )
    _send(
        world,
        index,
        MatchMessage.of(
            Query(message_id("q", T), "phone", (match_key(1),), "TH-7", "investigation"),
            message_id=message_id("query", T),
            sender="TH",
            recipient="hub",
            created_at_ms=T,
        ),
    )
    _send(world, index, _evaluation(1, 2))
    _send(world, index, _evaluation(2, 2))
    world.sequence_all()
    report = replay_input(world.input(), now_ms=T + DAY)
    assert report.ok, report.findings
    assert report.findings == []
    assert report.leaves == 4
    leaves = [rec.value for rec in world.topics[TOPICS.audit_leaves]]
    for secret in (match_key(1), match_key(1).hex().encode()):
        assert not any(secret in leaf for leaf in leaves)


def test_over_budget_an_evaluator_answering_beyond_its_signed_limit() -> None:
    world, index = World(), MatchIndex()
    for n in (1, 2, 3):  # limit 2, three answers to TH on one day
        _send(world, index, _evaluation(n, 2))
    _send(world, index, _evaluation(1, 2, "2026-03-02"))  # another day: its own count
    world.sequence_all()
    report = replay_input(world.input(), now_ms=T + DAY)
    assert not report.ok
    [finding] = report.findings
    assert finding.kind == "OVER_BUDGET"
    assert finding.event_id == message_id("evaluation32026-03-01", T)
    assert "VN answered 3 evaluations for TH on 2026-03-01; its signed limit is 2" in finding.detail


# --- follow-ups: the index as the replay fills it, a broken log written into it -----------
# (the hand-made index pins each rule; the end-to-end tests below run the real event types)


def _index_with(
    leaves: list[tuple[str, str, bytes, bool]],
    followups: list[tuple[str, str, bytes, str, str]],
    matches: list[tuple[str, str, str, str, str]],
) -> Report:
    """Run the replay's match check over hand-made rows.

    leaves: (event_id, recipient, event_digest, logged); followups: (kind,
    event_id, digest, producer, correlation_id); matches: (message, producer,
    recipient, query_id, hit owner or "").
    """
    index = _Index(None)
    try:
        for i, (event_id, recipient, digest, logged) in enumerate(leaves):
            index.db.execute(
                "INSERT INTO leaf(idx, decision_id, kind, event_id, producer, recipient,"
                " event_digest, delivered_digest, reason, source, topic, part, off, logged,"
                " decided) VALUES (?, ?, 'DELIVERED', ?, '', ?, ?, NULL, '', '', 'l', 0, ?, ?, 0)",
                (i, f"d{i}", event_id, recipient, digest, i, logged),
            )
        for kind, event_id, digest, producer, correlation in followups:
            index.db.execute(
                "INSERT INTO followup VALUES (?, ?, ?, ?, ?, 'o', 0, 1)",
                (kind, event_id, digest, producer, correlation),
            )
        for i, (message, producer, recipient, query_id, owner) in enumerate(matches):
            index.db.execute(
                "INSERT INTO match VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, '', 'l', 0, ?)",
                (
                    100 + i,
                    str(DecisionKind.DELIVERED),
                    message,
                    f"m{i}",
                    producer,
                    recipient,
                    query_id,
                    "true" if owner else "false",
                    owner,
                    i,
                ),
            )
        report = Report()
        _matches(index, report)
        return report
    finally:
        index.close()


Q = "019b76da-a800-7000-8000-000000000001"
HIT = ("QUERY", "TH", "TH", Q, "VN")  # TH's query, answered to TH: a hit of VN's


def _kinds(report: Report) -> list[str]:
    return [f.kind for f in report.findings]


def test_a_followup_with_its_hit_and_an_answer_with_its_request_pass() -> None:
    report = _index_with(
        leaves=[("req", "VN", b"r", True), ("ans", "TH", b"a", True)],
        followups=[("request", "req", b"r", "TH", Q), ("answer", "ans", b"a", "VN", "req")],
        matches=[HIT],
    )
    assert report.findings == []


def test_followup_without_hit() -> None:
    leaves = [("req", "VN", b"r", True)]
    request = [("request", "req", b"r", "TH", Q)]
    assert _kinds(_index_with(leaves, request, [])) == ["FOLLOWUP_WITHOUT_HIT"]
    no_hit = ("QUERY", "TH", "TH", Q, "")
    assert _kinds(_index_with(leaves, request, [no_hit])) == ["FOLLOWUP_WITHOUT_HIT"]
    # the hit was MM's, or another country's query: not a hit for this follow-up
    assert _kinds(_index_with(leaves, request, [("QUERY", "TH", "TH", Q, "MM")])) == [
        "FOLLOWUP_WITHOUT_HIT"
    ]
    assert _kinds(_index_with(leaves, request, [("QUERY", "KH", "KH", Q, "VN")])) == [
        "FOLLOWUP_WITHOUT_HIT"
    ]
    # a request the hub never delivered is not checked (it was refused)
    assert _index_with([("req", "VN", b"r", False)], request, []).findings == []


def test_followup_answer_without_request() -> None:
    answer = [("answer", "ans", b"a", "VN", "req")]
    leaves = [("ans", "TH", b"a", True)]
    [finding] = _index_with(leaves, answer, [HIT]).findings
    assert finding == Finding(
        "FOLLOWUP_UNASKED",
        "o",
        0,
        1,
        "ans",
        "a follow-up answer from VN to TH answers no follow-up request of TH delivered to VN",
    )
    # a request that exists but went to another owner does not count
    other = [("request", "req", b"r", "TH", Q)]
    broken = _index_with([*leaves, ("req", "MM", b"r", True)], [*answer, *other], [HIT])
    assert "FOLLOWUP_UNASKED" in _kinds(broken)


def test_match_facts_survive_the_leaf() -> None:
    facts = MatchFacts("EVALUATION", query_id=Q, budget_used=1, budget_limit=2, budget_day="d")
    assert MatchFacts.from_fields(facts.to_fields()) == facts


# --- follow-ups end to end: the real event types, agreements and pipeline ------------------


def _hit_for_th(world: World, index: MatchIndex) -> str:
    """VN registers, TH queries and gets VN's hit; the query id."""
    _send(
        world,
        index,
        MatchMessage.of(
            Register(REF, "phone", (match_key(1),), "suspect", T + DAY),
            message_id=message_id("r", T),
            sender="VN",
            recipient="hub",
            created_at_ms=T,
        ),
    )
    query_id = message_id("q", T)
    _send(
        world,
        index,
        MatchMessage.of(
            Query(query_id, "phone", (match_key(1),), "TH-7", "investigation"),
            message_id=message_id("query", T),
            sender="TH",
            recipient="hub",
            created_at_ms=T,
        ),
    )
    return query_id


def _follow_up(world: World, query_id: str) -> Any:
    payload = {**example_payload("match_followup"), "reference": REF, "query_id": query_id}
    return world.submit(
        "TH", "match_followup", ["VN"], "investigation", "H2", payload,
        correlation_id=query_id,
    )  # fmt: skip


def _answer(world: World, request_event_id: str) -> Any:
    payload = {
        **example_payload("match_followup_answer"),
        "request_event_id": request_event_id,
        "reference": REF,
    }
    return world.submit(
        "VN", "match_followup_answer", ["TH"], "investigation", "H2", payload,
        correlation_id=request_event_id,
    )  # fmt: skip


def test_a_followup_after_its_hit_and_its_answer_replay_clean() -> None:
    world, index = World(), MatchIndex()
    request = _follow_up(world, _hit_for_th(world, index))
    _answer(world, request.header.event_id)
    world.sequence_all()
    assert len(world.topics[TOPICS.inbox("VN")]) == 1  # the agreement let both through
    assert len(world.topics[TOPICS.inbox("TH")]) == 1
    report = replay_input(world.input(), now_ms=T + DAY)
    assert report.findings == []


def test_replay_finds_a_followup_without_hit_end_to_end() -> None:
    world, index = World(), MatchIndex()
    _hit_for_th(world, index)
    stray = _follow_up(world, message_id("a query never answered", T))
    world.sequence_all()
    report = replay_input(world.input(), now_ms=T + DAY)
    assert [(f.kind, f.event_id) for f in report.findings] == [
        ("FOLLOWUP_WITHOUT_HIT", stray.header.event_id)
    ]


def test_replay_finds_an_unasked_answer_end_to_end() -> None:
    world, index = World(), MatchIndex()
    _hit_for_th(world, index)
    answer = _answer(world, message_id("no such request", T))
    world.sequence_all()
    report = replay_input(world.input(), now_ms=T + DAY)
    assert [(f.kind, f.event_id) for f in report.findings] == [
        ("FOLLOWUP_UNASKED", answer.header.event_id)
    ]
