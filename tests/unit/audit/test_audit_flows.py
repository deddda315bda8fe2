"""Flow counts and acknowledgement times from the log (hub.audit.flows), computed by the replay
over an in-memory run of the real pipeline whose traffic is known event by event."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.audit.flows import (
    ACK_DUE_MS,
    AckTime,
    FlowCount,
    Flows,
    ack_summary,
    month_of,
    month_start_ms,
)
from hub.audit.leaf import AuditLeaf
from hub.audit.merkle import leaf_hash, verify_inclusion
from hub.audit.note import SignedNote, cosign
from hub.audit.replay import LeafFilter, Report
from hub.errors import RequestError
from hub.keys import KeyRole, PublicKey, private_key_from_seed, raw_public
from hub.wire import Envelope
from tests.support.audit import TOPICS, TRUST, T, World, child_notice, replay_input
from tests.support.examples import example_payload

DAY = 86_400_000
WITNESS_KEY = private_key_from_seed(bytes(range(32)))


@dataclass
class Traffic:
    """A log whose every event is known: what the flows must count."""

    world: World
    referral: Envelope
    handover: Envelope
    acks: list[Envelope] = field(default_factory=list)


def _ack(world: World, by: str, of: Envelope, at_ms: int) -> Envelope:
    payload = example_payload("acknowledgement") | {
        "acknowledged_event_id": of.header.event_id,
        "acknowledged_event_digest": of.event_digest,
        "acknowledged_at": at_ms,
    }
    return world.submit(
        by,
        "acknowledgement",
        [of.header.producer],
        "repatriation",
        "H2",
        payload,
        case_key=of.header.case_key,
        correlation_id=of.header.event_id,
        created_at_ms=at_ms,
    )


def traffic() -> Traffic:
    w = World()
    # Consent not yet asked: TH-KH-protection sends only the fields allowed without it.
    not_asked: dict[str, Any] = {
        "status": "NOT_ASKED",
        "given_by": None,
        "recorded_at": None,
        "scope": [],
    }
    referral = w.submit(
        "TH",
        "referral",
        ["KH"],
        "repatriation",
        "H2",
        example_payload("referral") | {"consent": not_asked},
        case_key="c-1",
        created_at_ms=T - 5 * DAY,
    )
    w.submit("VN", "trafficker_alert", ["KH", "LA", "TH"], "investigation", "H1")
    w.submit("LA", "referral", ["MM"], "repatriation", "H2")  # refused: no agreement
    first = _ack(w, "KH", referral, T - 4 * DAY)
    handover = w.submit(
        "TH",
        "handover_notice",
        ["KH"],
        "repatriation",
        "H2",
        child_notice(),
        case_key="c-1",
        created_at_ms=T - 2 * DAY,
    )
    second = _ack(w, "KH", handover, T - DAY)
    again = _ack(w, "KH", referral, T - DAY + 5)  # a later acknowledgement of the referral
    w.sequence_all()
    return Traffic(w, referral, handover, [first, second, again])


class WithWitness:
    """The EXAMPLE trust list plus a witness key for KH (the examples list none)."""

    def __init__(self, witness: bytes) -> None:
        self.witness = PublicKey("w-kh", "KH", frozenset({KeyRole.WITNESS}), witness, 0)

    def key(self, key_id: str) -> PublicKey | None:
        return self.witness if key_id == self.witness.key_id else TRUST.key(key_id)

    def keys_for(self, country: str, role: KeyRole, at_ms: int) -> Sequence[PublicKey]:
        if role is KeyRole.WITNESS:
            return (self.witness,) if country == "KH" else ()
        return TRUST.keys_for(country, role, at_ms)


def run(t: Traffic, **kw: Any) -> Report:
    return replay_input(t.world.input(), **kw)


@pytest.fixture(scope="module")
def t() -> Traffic:
    return traffic()


@pytest.fixture(scope="module")
def report(t: Traffic) -> Report:
    r = run(t)
    assert r.ok, r.findings
    return r


def leaf_records(t: Traffic) -> list[AuditLeaf]:
    return [AuditLeaf.from_bytes(r.value) for r in t.world.input().leaves]


def test_the_flows_count_what_was_sent(report: Report) -> None:
    got = {
        (c.producer, c.recipient, c.event_type, c.month): (c.delivered, c.refused)
        for c in report.flows.counts
    }
    assert got == {
        ("TH", "KH", "referral", "2026-02"): (1, 0),
        ("TH", "KH", "handover_notice", "2026-02"): (1, 0),
        ("KH", "TH", "acknowledgement", "2026-02"): (3, 0),
        ("VN", "KH", "trafficker_alert", "2026-03"): (1, 0),
        ("VN", "LA", "trafficker_alert", "2026-03"): (1, 0),
        ("VN", "TH", "trafficker_alert", "2026-03"): (1, 0),
        ("LA", "MM", "referral", "2026-03"): (0, 1),
    }
    # Sorted by month, then corridor and type: deterministic.
    keys = [(c.month, c.producer, c.recipient, c.event_type) for c in report.flows.counts]
    assert keys == sorted(keys)


def test_each_count_lists_the_leaves_it_counts(t: Traffic, report: Report) -> None:
    leaves = leaf_records(t)
    types = {
        e.header.event_id: e.header.event_type.value for e in (t.referral, t.handover, *t.acks)
    }
    for c in report.flows.counts:
        assert len(c.leaves) == c.delivered + c.refused
        assert not c.capped
        for i in c.leaves:
            d = leaves[i].record
            assert (d.producer, d.recipient) == (c.producer, c.recipient)
            assert str(d.kind) in ({"DELIVERED", "ACKNOWLEDGED"} if c.delivered else {"REJECTED"})
            assert types.get(d.event_id, c.event_type) == c.event_type


def test_acknowledgement_times_take_the_first_acknowledgement(t: Traffic, report: Report) -> None:
    leaves = leaf_records(t)
    times = {a.event_type: a for a in report.flows.ack_times}
    assert set(times) == {"referral", "handover_notice"}
    ref = times["referral"]
    assert (ref.producer, ref.recipient, ref.event_id) == ("TH", "KH", t.referral.header.event_id)
    assert (ref.created_at_ms, ref.acknowledged_at_ms) == (T - 5 * DAY, T - 4 * DAY)
    assert leaves[ref.leaf].record.event_id == t.referral.header.event_id
    assert str(leaves[ref.leaf].record.kind) == "DELIVERED"
    assert leaves[ref.ack_leaf].record.event_id == t.acks[0].header.event_id
    assert str(leaves[ref.ack_leaf].record.kind) == "ACKNOWLEDGED"
    ho = times["handover_notice"]
    assert ho.elapsed_ms == DAY
    assert report.flows.ack_times_omitted == 0


def test_referral_to_handover_acknowledgement(t: Traffic, report: Report) -> None:
    (h,) = report.flows.handover_times
    assert (h.producer, h.recipient, h.event_type) == ("TH", "KH", "referral")
    assert h.event_id == t.referral.header.event_id
    assert (h.created_at_ms, h.acknowledged_at_ms) == (T - 5 * DAY, T - DAY)
    leaves = leaf_records(t)
    assert leaves[h.ack_leaf].record.event_id == t.acks[1].header.event_id


def test_an_acknowledgement_of_a_refused_event_is_no_acknowledgement_time() -> None:
    w = World()
    refused = w.submit("LA", "referral", ["MM"], "repatriation", "H2", created_at_ms=T - DAY)
    _ack(w, "MM", refused, T)
    w.sequence_all()
    r = run(Traffic(w, refused, refused))
    assert r.flows.ack_times == ()


def test_the_same_log_gives_the_same_json(t: Traffic, report: Report) -> None:
    again = run(t)
    assert json.dumps(again.to_json(), sort_keys=True) == json.dumps(
        report.to_json(), sort_keys=True
    )


def test_flows_json_round_trips(report: Report) -> None:
    doc = report.to_json()
    assert Flows.from_json(doc["flows"]) == report.flows
    assert Flows.from_json(doc) == report.flows  # a whole replay report, too
    assert Flows.from_json(json.loads(json.dumps(doc["flows"]))).to_json() == doc["flows"]


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"counts": {}},
        {"counts": [{"producer": "TH"}]},
        {"counts": [dict.fromkeys(("producer", "recipient", "event_type"), "x") | {
            "month": "2026-13", "delivered": 1, "refused": 0, "leaves": []}]},
        {"counts": [], "ack_times": [{"producer": "TH", "created_at_ms": -1}]},
        {"counts": [dict.fromkeys(("producer", "recipient", "event_type"), "x") | {
            "month": "2026-01", "delivered": True, "refused": 0, "leaves": []}]},
        {"counts": [dict.fromkeys(("producer", "recipient", "event_type"), "x") | {
            "month": "2026-01", "delivered": 1, "refused": 0, "leaves": ["1"]}]},
    ],
)  # fmt: skip
def test_flows_from_json_refuses_anything_else(bad: Any) -> None:
    with pytest.raises(RequestError) as caught:
        Flows.from_json(bad)
    assert caught.value.reason == "BAD_REQUEST"


def test_within_keeps_whole_months_and_times_created_in_the_interval(report: Report) -> None:
    march = report.flows.within(month_start_ms("2026-03"), month_start_ms("2026-04"))
    assert {c.month for c in march.counts} == {"2026-03"}
    assert march.ack_times == ()
    assert march.handover_times == ()
    q1 = report.flows.within(month_start_ms("2026-01"), month_start_ms("2026-04"))
    assert q1.counts == report.flows.counts
    assert q1.ack_times == report.flows.ack_times


def test_months() -> None:
    assert month_of(T) == "2026-03"
    assert month_of(T - 1) == "2026-02"
    assert month_start_ms("2026-03") == T
    for bad in ("2026-3", "26-03-01", "2026-00", "abcd-ef"):
        with pytest.raises(RequestError):
            month_start_ms(bad)


def test_ack_summary_is_nearest_rank() -> None:
    def at(i: int, elapsed_h: int) -> AckTime:
        return AckTime("TH", "KH", "referral", f"e{i}", 0, elapsed_h * 3_600_000, i, 100 + i)

    times = [at(i, h) for i, h in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 30])]
    (row,) = ack_summary(times)
    hour = 3_600_000
    assert (row["n"], row["median_ms"], row["p90_ms"], row["max_ms"]) == (
        10,
        5 * hour,
        9 * hour,
        30 * hour,
    )
    assert row["overdue"] == sum(1 for a in times if a.elapsed_ms > ACK_DUE_MS) == 1
    assert row["slowest"] == {"leaf": 9, "ack_leaf": 109}
    assert ack_summary([]) == []


def test_leaf_filter_lists_what_a_count_counts(t: Traffic, report: Report) -> None:
    count = next(c for c in report.flows.counts if c.event_type == "acknowledgement")
    got: list[dict[str, Any]] = []
    run(
        t,
        select=LeafFilter(
            outcome="delivered", producer="KH", event_type="acknowledgement", month="2026-02"
        ),
        on_leaf=got.append,
    )
    assert [g["index"] for g in got] == list(count.leaves)
    assert {g["kind"] for g in got} == {"ACKNOWLEDGED"}
    refused: list[dict[str, Any]] = []
    run(
        t,
        select=LeafFilter(outcome="refused", reason="EVENT_TYPE_NOT_ALLOWED"),
        on_leaf=refused.append,
    )
    assert all(g["reason"] == "EVENT_TYPE_NOT_ALLOWED" for g in refused)
    with pytest.raises(RequestError):
        LeafFilter.of({"colour": "red"})


def test_sharing_counts_fields_delivered_and_withheld(t: Traffic, report: Report) -> None:
    row = next(s for s in report.sharing if s["event_type"] == "referral")
    assert (row["producer"], row["recipient"], row["delivered"]) == ("TH", "KH", 1)
    assert row["agreement"].startswith("TH-KH-protection@")
    # What TH-KH delivered and withheld of the referral, from the decision and the signed event.
    leaves = leaf_records(t)
    delivered = set(leaves[row["leaves"][0]].record.fields)
    assert set(row["fields"]) == delivered
    assert row["withheld"]
    assert not set(row["withheld"]) & delivered
    assert set(row["withheld"]) | delivered <= set(example_payload("referral"))


def test_refusals_by_reason(report: Report) -> None:
    (row,) = [r for r in report.refusals if r["producer"] == "LA"]
    assert (row["recipient"], row["event_type"], row["refused"]) == ("MM", "referral", 1)
    assert row["reason"]
    assert row["select"] == {
        "outcome": "refused",
        "reason": row["reason"],
        "producer": "LA",
        "recipient": "MM",
        "event_type": "referral",
    }


def test_linked_leaves_carry_proofs_that_verify(t: Traffic, report: Report) -> None:
    raw = [r.value for r in t.world.input().leaves]
    assert report.linked_leaves
    root = bytes.fromhex(report.root)
    for leaf in report.linked_leaves:
        proof = leaf["proof"]
        assert proof is not None, leaf
        data = bytes.fromhex(proof["leaf_bytes"])
        assert data == raw[leaf["index"]]  # encoded again, byte for byte the leaf
        assert leaf_hash(data).hex() == leaf["leaf_hash"]
        verify_inclusion(
            leaf["index"],
            proof["tree_size"],
            leaf_hash(data),
            [bytes.fromhex(h) for h in proof["path"]],
            root,
        )


def test_checkpoints_list_their_witnesses(t: Traffic) -> None:
    data = t.world.input()
    note = SignedNote.from_bytes(data.checkpoints[-1].value)
    cosigned = cosign(note, "KH", WITNESS_KEY, T // 1000 + 60)
    stranger = cosign(note, "LA", WITNESS_KEY, T // 1000 + 61)  # LA lists no witness key
    t.world.write(TOPICS.audit_checkpoints, cosigned.to_bytes())
    t.world.write(TOPICS.audit_checkpoints, stranger.to_bytes())
    try:
        r = run(t, trust=WithWitness(raw_public(WITNESS_KEY.public_key())))
    finally:
        del t.world.topics[TOPICS.audit_checkpoints][-2:]
    assert r.ok, r.findings
    log = r.checkpoint_log
    assert log["distinct"] == 1
    assert log["cosigned"] == 1
    (cp,) = log["listed"]
    assert cp["size"] == r.checkpoint_size
    assert cp["root"] == r.root
    assert cp["matches_tree"]
    by = {w["witness"]: w for w in cp["witnesses"]}
    assert by["KH"]["verified"] is True
    assert by["KH"]["signed_at_s"] == T // 1000 + 60
    assert by["LA"]["verified"] is False


def test_flow_count_capped() -> None:
    c = FlowCount("TH", "KH", "referral", "2026-03", 30, 2, tuple(range(20)))
    assert c.capped
    assert c.total == 32


def test_a_handover_notice_never_acknowledged_is_overdue() -> None:
    w = World()
    handover = w.submit(
        "TH",
        "handover_notice",
        ["KH"],
        "repatriation",
        "H2",
        child_notice(),
        case_key="c-9",
        created_at_ms=T - 2 * DAY,
    )
    w.submit("VN", "trafficker_alert", ["KH"], "investigation", "H1")  # awaits nothing
    w.sequence_all()
    t = Traffic(w, handover, handover)
    leaves = leaf_records(t)
    (row,) = run(t, now_ms=T).unacknowledged
    assert (row["producer"], row["recipient"], row["event_type"], row["count"]) == (
        "TH",
        "KH",
        "handover_notice",
        1,
    )
    assert row["oldest_created_at_ms"] == T - 2 * DAY
    assert leaves[row["leaves"][0]].record.event_id == handover.header.event_id
    # Not yet past the deadline, or acknowledged: nothing is overdue.
    assert run(t, now_ms=T - 2 * DAY + ACK_DUE_MS).unacknowledged == []
    _ack(w, "KH", handover, T - DAY)
    w.sequence_all()
    assert run(t, now_ms=T).unacknowledged == []


def test_a_window_counts_the_decisions_made_in_it(t: Traffic, report: Report) -> None:
    decided = {leaf.record.decided_at_ms for leaf in leaf_records(t)}
    assert decided == {T + 1000}  # the World's hub decides at one time
    before = run(t, window=(0, T + 1000))
    assert before.flows.counts == ()
    assert before.sharing == []
    assert before.refusals == []
    assert run(t, window=(T + 1000, T + 1001)).flows == report.flows
