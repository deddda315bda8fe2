"""The auditor's replay over an in-memory run of the real pipeline, and each tamper it must catch.

The hub's pure core (hub.pipeline.process with the real policy engine and the
EXAMPLE agreements) judges a set of events; its effects are "written" to
in-memory topics; the sequencer's state turns the decisions into leaves and a
checkpoint. The honest run must replay clean; each tamper must be named.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hub.audit.log import origin_of
from hub.audit.note import Checkpoint, sign_note
from hub.audit.replay import Record, ReplayInput, _Index, _view_bytes, _view_of
from hub.conformance import policy as policy_vectors
from hub.conformance.base import read_json
from hub.keys import private_key_from_seed
from hub.policy import decide_one
from hub.wire import Envelope, attest, redact, seal, verify
from tests.support.audit import HUB_KEY, TOPICS, T, World, replay_input
from tests.support.examples import example_key, example_payload


@pytest.fixture
def world() -> World:
    w = World()
    w.submit("TH", "referral", ["KH"], "repatriation", "H2")  # delivered, redacted per TH-KH@2
    w.submit("VN", "trafficker_alert", ["KH", "LA", "TH"], "investigation", "H1")  # baseline
    w.submit("LA", "referral", ["MM"], "repatriation", "H2")  # refused: no flow
    w.write(TOPICS.outbox("TH"), b"\xc3\x01 not an envelope")  # malformed: quarantined
    w.hub(w.topics[TOPICS.outbox("TH")][-1])
    w.sequence_all()
    return w


def kinds(report: Any) -> dict[str, int]:
    return {k: v for k, v in report.summary().items() if k != "SEQUENCE_GAP"}


def log_delivery(  # noqa: PLR0917 - the decision record's fields
    world: World,
    env: Envelope,
    recipient: str,
    delivered: bytes,
    fields: list[str],
    agreement: str,
    decision_id: str,
    at_ms: int,
) -> None:
    """Write ``delivered`` to an inbox and log a DELIVERED decision for it (a dishonest hub)."""
    world.write(TOPICS.inbox(recipient), delivered)
    record = {
        "kind": "DELIVERED",
        "event_id": env.header.event_id,
        "producer": env.header.producer,
        "recipient": recipient,
        "event_digest": env.event_digest.hex(),
        "delivered_digest": hashlib.sha256(delivered).hexdigest(),
        "fields": fields,
        "agreement": agreement,
        "reason": "",
        "detail": "",
        "source": decision_id,
        "decided_at_ms": at_ms,
        "registry": "v1",
    }
    world.write(
        TOPICS.decisions, json.dumps(record).encode(), (("trm-effect", decision_id.encode()),)
    )
    world.sequence_all()


def test_an_honest_run_replays_clean(world: World) -> None:
    report = replay_input(world.input())
    assert report.ok, report.findings
    assert report.findings == []
    assert report.leaves == world.log.size > 0
    assert report.checkpoint_size == world.log.size
    assert report.counts["inbox_records"] == 4
    assert report.counts["rejected_leaves"] >= 2


def test_the_index_stays_in_one_transaction(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every lookup runs inside the index's one transaction: a statement in autocommit
    takes and drops the file's locks and writes its pages out (``executescript``
    commits, and the leaves' indexes are built by one). Watched through SQLite's own
    trace of each statement run (the replay may be compiled: its methods cannot be
    patched)."""
    seen: list[bool] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = connect(*args, **kwargs)

        def statement(sql: str) -> None:
            if sql.lstrip().upper().startswith("SELECT"):
                seen.append(db.in_transaction)

        db.set_trace_callback(statement)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    assert replay_input(world.input()).ok
    assert len(seen) >= len(world.input().inboxes), "the inbox pass made no lookups"
    assert all(seen), f"{seen.count(False)} of {len(seen)} lookups ran in autocommit"


def test_a_record_written_straight_into_an_inbox(world: World) -> None:
    data = world.input()
    forged = seal(
        "trafficker_alert",
        example_payload("trafficker_alert"),
        producer="VN",
        key=example_key("VN"),
        recipients=["KH"],
        purpose="investigation",
        handling="H1",
        case_key="x",
        sequence=99,
        created_at_ms=T,
    )
    data.inboxes.append(Record(TOPICS.inbox("KH"), 0, 99, forged.to_bytes()))
    report = replay_input(data)
    assert kinds(report) == {"INJECTION": 1}
    assert report.findings[0].offset == 99


def test_a_leaf_removed_from_a_rewritten_topic(world: World) -> None:
    data = world.input()
    del data.leaves[2]
    report = replay_input(data)
    assert not report.ok
    assert "FORK" in report.summary()
    assert any("removed" in f.detail or "rewritten" in f.detail for f in report.findings)


def test_an_altered_disclosure(world: World) -> None:
    data = world.input()
    rec = next(r for r in data.inboxes if r.topic == TOPICS.inbox("KH"))
    env = Envelope.from_bytes(rec.value)
    d = env.disclosures[0]
    altered_value = d.raw[:-1] + bytes([d.raw[-1] ^ 0x01])
    tampered = rec.value.replace(d.raw, altered_value, 1)
    assert tampered != rec.value
    data.inboxes[data.inboxes.index(rec)] = Record(rec.topic, rec.partition, rec.offset, tampered)
    report = replay_input(data)
    assert kinds(report).get("ALTERATION") == 1, report.findings
    assert not report.ok


def test_a_delivery_of_a_field_outside_the_agreement(world: World) -> None:
    # A dishonest hub delivers names to LA under the COMMIT baseline, which
    # allows no referral at all, and logs it as if it were allowed.
    env = world.submit("TH", "referral", ["LA"], "repatriation", "H2")
    leaky = attest(
        redact(env, ["names", "case_number"]),
        recipient="LA",
        agreement_id="COMMIT-baseline",
        agreement_version=1,
        fields=["case_number", "names"],
        leaf_ref="decision:x",
        hub_key=HUB_KEY,
        attested_at_ms=T,
    )
    log_delivery(
        world,
        env,
        "LA",
        leaky.to_bytes(),
        ["case_number", "names"],
        "COMMIT-baseline@1",
        "decision:x",
        T,
    )
    report = replay_input(world.input())
    assert kinds(report) == {"BEYOND_AGREEMENT": 1}, report.findings
    assert report.findings[0].topic == TOPICS.inbox("LA")


def test_a_forked_checkpoint(world: World) -> None:
    data = world.input()
    size = world.log.size
    other = copy.copy(world.log.tree.root())
    fork = Checkpoint(origin_of("t"), size, hashlib.sha256(other).digest())
    data.checkpoints.append(
        Record(
            TOPICS.audit_checkpoints,
            0,
            9,
            sign_note(fork.text(), origin_of("t"), HUB_KEY).to_bytes(),
        )
    )
    report = replay_input(data)
    assert kinds(report) == {"FORK": 2}  # it matches neither the leaves nor the last checkpoint


def test_a_dropped_outbox_record(world: World) -> None:
    data = world.input()
    env = seal(
        "trafficker_alert",
        example_payload("trafficker_alert"),
        producer="VN",
        key=example_key("VN"),
        recipients=["KH"],
        purpose="investigation",
        handling="H1",
        case_key="x",
        sequence=2,
        created_at_ms=T,
    )
    data.outboxes.append(Record(TOPICS.outbox("VN"), 0, 7, env.to_bytes()))
    report = replay_input(data)
    assert kinds(report) == {"DROP": 1}
    assert report.findings[0].topic == TOPICS.outbox("VN")


def test_a_copy_written_into_another_members_inbox(world: World) -> None:
    # KH's copy of the VN alert lands in LA's inbox instead: LA's inbox holds
    # bytes the log records for KH (not LA's delivery), and KH never got its
    # copy. The inbox records are keyed by the inbox they are in, so the copy
    # seen elsewhere does not count as delivered to KH.
    data = world.input()
    at = next(
        i
        for i, r in enumerate(data.inboxes)
        if r.topic == TOPICS.inbox("KH") and b"trafficker_alert" in r.value
    )
    moved = data.inboxes[at]
    data.inboxes[at] = Record(TOPICS.inbox("LA"), 0, 50, moved.value)
    report = replay_input(data)
    assert kinds(report) == {"ALTERATION": 1, "DROP": 1}, report.findings
    by_kind = {f.kind: f for f in report.findings}
    assert by_kind["ALTERATION"].topic == TOPICS.inbox("LA")
    assert by_kind["ALTERATION"].offset == 50
    assert by_kind["DROP"].detail == "logged delivery to KH is not in its inbox"
    assert by_kind["DROP"].event_id == by_kind["ALTERATION"].event_id


def test_a_leaf_that_misnames_the_event_it_delivered() -> None:
    # A dishonest sequencer or hub logs the delivery of the TH referral under
    # another event id: the copy in KH's inbox is the logged bytes, but the leaf
    # lies about which event they carried. The inbox pass finds these bytes by
    # digest and names both ids; the leaf's (event id, bytes) is in no inbox.
    w = World()
    env = w.submit("TH", "referral", ["KH"], "repatriation", "H2")
    decisions = w.topics[TOPICS.decisions]
    at = next(i for i, r in enumerate(decisions) if json.loads(r.value)["kind"] == "DELIVERED")
    record = json.loads(decisions[at].value)
    other = "019ca6b1-dc00-7000-8000-000000000000"
    assert record["event_id"] == env.header.event_id != other
    record["event_id"] = other
    decisions[at] = dataclasses.replace(decisions[at], value=json.dumps(record).encode())
    w.sequence_all()
    report = replay_input(w.input())
    assert kinds(report) == {"ALTERATION": 1, "DROP": 1}, report.findings
    by_kind = {f.kind: f for f in report.findings}
    assert by_kind["ALTERATION"].topic == TOPICS.inbox("KH")
    assert by_kind["ALTERATION"].event_id == env.header.event_id
    assert f"a delivery of event {other}" in by_kind["ALTERATION"].detail
    assert by_kind["DROP"].event_id == other


def test_a_byte_identical_second_copy_is_a_redelivery_not_a_duplicate(world: World) -> None:
    # At-least-once: a worker killed with a produce request in flight leaves a
    # copy that the next worker writes again, byte for byte (D11).
    data = world.input()
    rec = data.inboxes[0]
    data.inboxes.append(Record(rec.topic, rec.partition, rec.offset + 100, rec.value))
    report = replay_input(data)
    assert report.ok, report.findings
    assert kinds(report) == {"REDELIVERY": 1}
    assert report.findings[0].offset == rec.offset + 100
    assert f"{rec.topic}/{rec.partition}/{rec.offset}" in report.findings[0].detail


def test_the_first_copy_is_found_before_and_after_its_row_is_inserted() -> None:
    """The inbox pass notes each event's first copy per recipient in memory until its
    batch is inserted; a later copy finds it in either place (the caller's lookup says
    whether the table holds one)."""
    index = _Index(None)
    try:
        assert index.first_copy("KH", "e1", "kh/0/1", b"d1", stored=False) is None
        assert index.first_copy("TH", "e1", "th/0/1", b"d2", stored=False) is None
        assert index.first_copy("KH", "e1", "kh/0/9", b"d3", stored=False) == ("kh/0/1", b"d1")
        index.flush()
        row = index.one("SELECT * FROM inbox_seen WHERE recipient = 'KH'", ())
        assert tuple(row) == ("KH", "e1", "kh/0/1", b"d1")
        assert index.first_copy("KH", "e1", "kh/0/9", b"d3", stored=True) == ("kh/0/1", b"d1")
        assert index.first_copy("TH", "e1", "th/0/9", b"d2", stored=True) == ("th/0/1", b"d2")
        assert index.one("SELECT COUNT(*) FROM inbox_seen", ()) == (2,)
    finally:
        index.close()


def test_a_second_different_delivery_of_one_event_is_a_duplicate(world: World) -> None:
    # A dishonest hub delivers the TH referral to KH a second time, attested
    # later, and logs it under a decision id of its own: each copy is a logged,
    # valid delivery, but the event reached KH twice.
    first = next(r for r in world.topics[TOPICS.inbox("KH")] if b"referral" in r.value)
    delivered = Envelope.from_bytes(first.value)
    env = Envelope.from_bytes(world.topics[TOPICS.outbox("TH")][0].value)
    again = attest(
        redact(env, sorted(d.field for d in delivered.disclosures)),
        recipient="KH",
        agreement_id="TH-KH-protection",
        agreement_version=2,
        fields=sorted(d.field for d in delivered.disclosures),
        leaf_ref="decision:again",
        hub_key=HUB_KEY,
        attested_at_ms=T + 5000,
    )
    log_delivery(
        world,
        env,
        "KH",
        again.to_bytes(),
        sorted(d.field for d in delivered.disclosures),
        "TH-KH-protection@2",
        "decision:again",
        T + 5000,
    )
    report = replay_input(world.input())
    assert kinds(report) == {"DUPLICATE": 1}, report.findings
    assert report.findings[0].topic == TOPICS.inbox("KH")


def test_a_refusal_never_told_to_the_producer(world: World) -> None:
    data = world.input()
    data.rejections = [r for r in data.rejections if r.topic != TOPICS.rejections("LA")]
    report = replay_input(data)
    assert kinds(report).get("DROP", 0) >= 1
    assert all(f.kind == "DROP" for f in report.findings)


def test_quarantine_copies_are_asked_for_only_within_its_retention(world: World) -> None:
    from hub.topics import QUARANTINE_RETENTION_MS

    data = world.input()
    data.quarantine = []  # every copy gone, as after the quarantine's retention

    def at(now_ms: int) -> Any:
        return replay_input(data, now_ms=now_ms)

    recent = at(T + 60_000)  # the refusals are a minute old: their copies must be there
    assert kinds(recent) == {"DROP": 2}
    assert all("quarantine" in f.detail for f in recent.findings)
    assert at(T + QUARANTINE_RETENTION_MS + 86_400_000).ok  # past retention: not asked for


def test_a_checkpoint_not_signed_by_the_hub(world: World) -> None:
    data = world.input()
    impostor = private_key_from_seed(b"\x07" * 32)
    cp = Checkpoint(origin_of("t"), world.log.size, world.log.tree.root())
    data.checkpoints.append(
        Record(
            TOPICS.audit_checkpoints,
            0,
            5,
            sign_note(cp.text(), origin_of("t"), impostor).to_bytes(),
        )
    )
    assert kinds(replay_input(data)) == {"BAD_CHECKPOINT": 1}


def test_a_time_window_checks_only_what_falls_in_it(world: World) -> None:
    """Outside the window nothing is cross-checked, so nothing is reported missing."""
    data = world.input()
    later = (T + 10**9, T + 2 * 10**9)  # after every record and decision
    windowed = ReplayInput(
        leaves=data.leaves,
        checkpoints=data.checkpoints,
        outboxes=[r for r in data.outboxes if later[0] <= r.timestamp_ms < later[1]],
        inboxes=[r for r in data.inboxes if later[0] <= r.timestamp_ms < later[1]],
        rejections=data.rejections,
        quarantine=data.quarantine,
    )
    report = replay_input(windowed, window=later)
    assert report.ok, report.findings
    assert report.counts["outbox_records"] == 0
    # The same window around the run checks everything: a dropped inbox record shows.
    around = (T - 1, T + 10**6)
    data.inboxes.pop()
    report = replay_input(data, window=around)
    assert report.summary().get("DROP") == 1


def test_a_leaf_twice_and_a_record_that_is_no_leaf_are_named_in_stream_order(
    world: World,
) -> None:
    data = world.input()
    leaves = data.leaves
    n = len(leaves)
    again = leaves[1]
    data.leaves = [
        *leaves,
        Record(TOPICS.audit_leaves, 0, n, b"\xc3\x01 not a leaf"),
        Record(TOPICS.audit_leaves, 0, n + 1, again.value),
        Record(TOPICS.audit_leaves, 0, n + 2, leaves[0].value),
    ]
    report = replay_input(data)
    failing = [f for f in report.findings if f.kind in ("DUPLICATE", "INJECTION")]
    assert [(f.kind, f.offset) for f in failing] == [
        ("INJECTION", n),
        ("DUPLICATE", n + 1),
        ("DUPLICATE", n + 2),
    ]
    assert failing[1].detail.endswith("already at leaf 1")
    assert failing[2].detail.endswith("already at leaf 0")
    # The first copy stands: counted once, and nothing else is found wanting.
    assert kinds(report) == {"INJECTION": 1, "DUPLICATE": 2, "UNCHECKPOINTED": 1}
    assert report.counts == replay_input(world.input()).counts


def test_the_view_kept_of_an_original_is_judged_as_the_original() -> None:
    """What the inbox pass keeps of each verified outbox record (a few plain values in
    SQLite) gives every policy vector's decision, and accepts exactly its disclosures."""
    vectors = Path(__file__).resolve().parents[2] / "vectors" / "policy"
    registry = policy_vectors.load_registry(vectors)
    files = policy_vectors.vector_files(vectors)
    assert files
    for path in files:
        raw = bytes.fromhex(read_json(path)["event"])
        event = verify(Envelope.from_bytes(raw), registry.trust)
        view, signed = _view_of(_view_bytes(event))
        for r in event.header.recipients:
            assert decide_one(view, r, registry.agreements, registry.trust) == decide_one(
                event, r, registry.agreements, registry.trust
            ), path.stem
        assert signed.disclosed(event.envelope) == event.disclosed
