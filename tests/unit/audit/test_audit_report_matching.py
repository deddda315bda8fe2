"""The matching exchange in the auditor's report: decisions by message and hit, evaluation
budgets per day, and match leaves linked with proofs (their facts encoded again byte for byte)."""

from __future__ import annotations

from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.report import replay_html
from hub.matching.exchange import MatchIndex
from hub.matching.messages import MatchMessage, Query, Register
from tests.support.audit import TOPICS, T, World, replay_input
from tests.support.audit_page import Page, resolve
from tests.support.matching import REF, match_key, message_id
from tests.unit.matching.test_exchange_audit import _evaluation, _send

DAY = 86_400_000


def test_matching_in_numbers_with_proofs() -> None:
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
    for n in (1, 2):
        _send(world, index, _evaluation(n, 2))
    world.sequence_all()
    report = replay_input(world.input(), now_ms=T + DAY)
    assert report.ok, report.findings
    decisions = report.matching["decisions"]
    assert sum(d["count"] for d in decisions) == report.leaves == 4
    assert {d["message"] for d in decisions} == {"REGISTER", "QUERY", "EVALUATION"}
    (query,) = [d for d in decisions if d["message"] == "QUERY"]
    assert query["hit"] == "true"
    (budget,) = report.matching["budgets"]
    assert (budget["evaluator"], budget["requester"], budget["day"]) == ("VN", "TH", "2026-03-01")
    assert (budget["evaluations"], budget["limit"]) == (2, 2)
    # Every match leaf is linked, and its proof verifies with its bytes encoded again.
    raw = [r.value for r in world.topics[TOPICS.audit_leaves]]
    linked = {leaf["index"]: leaf for leaf in report.linked_leaves}
    assert set(linked) == {0, 1, 2, 3}
    for i, leaf in linked.items():
        assert leaf["match"] is True
        proof = leaf["proof"]
        assert proof is not None, leaf
        assert bytes.fromhex(proof["leaf_bytes"]) == raw[i]
        verify_inclusion(
            i,
            proof["tree_size"],
            leaf_hash(raw[i]),
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(report.root),
        )
    doc = report.to_json() | {"namespace": "t", "seconds": 0.1}
    page = Page()
    page.feed(replay_html(doc))
    paths = {p for p, _, _ in page.numbers}
    assert "matching/budgets/0/evaluations" in paths
    for path, value, _ in page.numbers:
        assert resolve(doc, path) == value
