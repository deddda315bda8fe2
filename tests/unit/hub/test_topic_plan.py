"""The one topic plan (hub.topics.Topics.plan) and what is derived from it."""

from __future__ import annotations

import dataclasses

import pytest

from hub.errors import Reason, RequestError
from hub.ops import security as ks
from hub.topics import (
    ADMIN,
    AUDITOR,
    COMMIT_COUNTRIES,
    COUNTRY_PARTITIONS,
    HUB,
    KEEP_FOREVER_MS,
    MATCH_RETENTION_MS,
    OUTBOX_PARTITIONS,
    QUARANTINE_MAX_MESSAGE_BYTES,
    QUARANTINE_RETENTION_MS,
    STATE_RETENTION_MS,
    Record,
    Topics,
)


def test_every_topic_once_with_one_partition_count_per_kind() -> None:
    t = Topics("t1")
    plan = t.plan()
    names = [s.name for s in plan]
    assert len(names) == len(set(names)) == 4 * len(COMMIT_COUNTRIES) + 11
    assert t.all() == tuple(names)
    by_name = {s.name: s for s in plan}
    for cc in COMMIT_COUNTRIES:
        assert by_name[t.outbox(cc)].partitions == OUTBOX_PARTITIONS
        for name in (t.inbox(cc), t.rejections(cc)):
            assert by_name[name].partitions == COUNTRY_PARTITIONS
    assert by_name[t.quarantine].partitions == COUNTRY_PARTITIONS
    for name in (
        t.decisions,
        t.hub_state,
        t.hub_bookmarks,
        t.audit_leaves,
        t.audit_checkpoints,
        t.registry_trust,
        t.registry_agreements,
        t.registry_seal_keys,
        t.match_requests,
        t.match_index,
        *(t.match(cc) for cc in COMMIT_COUNTRIES),
    ):
        assert by_name[name].partitions == 1, name


def test_settings_evidence_kept_registry_compacted_outboxes_stamped_by_broker() -> None:
    t = Topics()
    for spec in t.plan():
        registry = spec.name in (t.registry_trust, t.registry_agreements, t.registry_seal_keys)
        match = spec.record is Record.MATCH_MESSAGE
        compacted = (t.hub_state, t.hub_bookmarks, t.match_index)
        assert spec.compacted == (registry or spec.name in compacted)
        if spec.name == t.match_index:
            # match-key digests of live registrations: the hub's alone, latest per reference
            assert spec.config == {"cleanup.policy": "compact"}
            assert spec.writers == (HUB,)
            assert spec.readers == (HUB, AUDITOR)
        elif match:
            # match keys and blinded elements: kept a week, not forever
            assert spec.config == {
                "cleanup.policy": "delete",
                "retention.ms": str(MATCH_RETENTION_MS),
            }
            if spec.name == t.match_requests:
                assert spec.readers == (HUB, AUDITOR)
            else:
                assert spec.writers == (HUB,)
                assert len([r for r in spec.readers if r not in (HUB, AUDITOR)]) == 1
        elif registry:
            assert spec.config == {"cleanup.policy": "compact"}
            # Each country publishes its own seal keys; the operator the rest.
            members = tuple(c.lower() for c in COMMIT_COUNTRIES)
            assert spec.writers == (members if spec.name == t.registry_seal_keys else (ADMIN,))
        elif spec.name in (t.hub_state, t.hub_bookmarks):
            # recovery notes, not evidence: compacted, and forgotten past the dedupe window
            assert spec.config == {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(STATE_RETENTION_MS),
            }
            assert spec.writers == (HUB,)
            assert spec.readers == (HUB, AUDITOR)
        elif spec.name == t.quarantine:
            # sealed copies of refused records, for the producer to look: kept briefly
            # (and room for a sealed copy of anything an outbox accepts: test_size_limits)
            assert spec.config == {
                "cleanup.policy": "delete",
                "retention.ms": str(QUARANTINE_RETENTION_MS),
                "max.message.bytes": str(QUARANTINE_MAX_MESSAGE_BYTES),
            }
        else:
            assert spec.config["cleanup.policy"] == "delete"
            assert spec.config["retention.ms"] == str(KEEP_FOREVER_MS)
        stamped = spec.config.get("message.timestamp.type") == "LogAppendTime"
        assert stamped == (t.country_of_outbox(spec.name) is not None)


def test_records_and_their_avro_schemas() -> None:
    t = Topics()
    by_name = {s.name: s for s in t.plan()}
    assert by_name[t.outbox("TH")].record is Record.EVENT
    assert by_name[t.inbox("TH")].record is Record.DELIVERY
    assert by_name[t.audit_leaves].record is Record.AUDIT_LEAF
    assert by_name[t.registry_seal_keys].record is Record.SEAL_KEYS
    assert by_name[t.registry_seal_keys].key == "<CC>/<version:010d>"
    assert Record.EVENT.avro_schema == Record.DELIVERY.avro_schema == "envelope"
    assert Record.AUDIT_LEAF.avro_schema == "audit_leaf"
    assert Record.DECISION.avro_schema is None


def test_a_new_country_gets_its_lanes_and_may_witness() -> None:
    t = Topics()
    plan = {s.name: s for s in t.plan((*COMMIT_COUNTRIES, "PH"))}
    assert plan[t.outbox("PH")].writers == ("ph",)
    assert plan[t.inbox("PH")].readers == ("ph", HUB, AUDITOR)
    assert "ph" in plan[t.audit_checkpoints].writers
    assert "ph" in plan[t.registry_trust].readers
    assert "ph" in plan[t.registry_seal_keys].writers
    assert {"ph", HUB, AUDITOR} <= set(plan[t.registry_seal_keys].readers)
    with pytest.raises(RequestError) as info:
        t.plan(("th",))
    assert info.value.reason is Reason.UNKNOWN_COUNTRY


def test_plan_records_are_frozen() -> None:
    spec = Topics().plan()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.partitions = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.extra_config["retention.ms"] = "1"  # type: ignore[index]


def test_topic_acls_are_exactly_the_plans_writers_and_readers() -> None:
    t = Topics("t2")
    plan = t.plan()
    topic_rules = {
        (b.principal, b.resource_name, b.operation)
        for b in ks.acl_bindings(t)
        if b.resource_type is ks.ResourceType.TOPIC and b.pattern is ks.PatternType.LITERAL
    }
    expected = {
        (who, s.name, op)
        for s in plan
        for op, principals in ((ks.Operation.WRITE, s.writers), (ks.Operation.READ, s.readers))
        for who in principals
        if who != ADMIN  # a super user needs no rule
    }
    assert topic_rules == expected
