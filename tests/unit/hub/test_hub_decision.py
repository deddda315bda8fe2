"""The hub's decision vocabulary: kinds, effect ids, decision records and their audit leaves."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from hub.audit.leaf import AuditLeaf
from hub.decision import (
    EFFECT_HEADER,
    DecisionKind,
    DecisionRecord,
    EffectId,
    EffectKind,
    SourceRef,
)
from hub.errors import AuditError, Reason
from hub.pipeline import Outcome, process
from hub.state import HubState
from hub.topics import Topics
from tests.support.hub import HUB_KEY, T0, registry, sealed

TOPICS = Topics("tu")

EVENT = "019b76da-a800-7a4d-85c4-89557384226b"
WHERE = SourceRef(TOPICS.outbox("TH"), 2, 17)


def _run(raw: bytes, headers: list[tuple[str, bytes]], outbox: str = "TH") -> Outcome:
    return process(
        raw,
        headers,
        SourceRef(TOPICS.outbox(outbox), 0, 0),
        topics=TOPICS,
        registry=registry({("TH", "KH", "referral"): frozenset({"case_number"})}),
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=T0 + 1000,
    )


def _outcomes() -> list[Outcome]:
    raw, headers = sealed(recipients=("KH", "LA"))
    return [
        _run(raw, headers),  # delivered to KH, refused for LA
        _run(b"junk", []),  # refused whole, unparsable
        _run(raw, headers, outbox="KH"),  # refused whole, parsable
    ]


def test_every_effect_id_the_hub_writes_reads_back_to_itself() -> None:
    seen: set[EffectKind] = set()
    decided: set[DecisionKind] = set()
    for outcome in _outcomes():
        for effect in outcome.effects:
            text = str(effect.effect_id)
            assert EffectId.parse(text) == effect.effect_id
            assert (EFFECT_HEADER, text.encode()) in effect.headers
            seen.add(effect.effect_id.kind)
            if effect.effect_id.decision is not None:
                decided.add(effect.effect_id.decision)
                (record,) = [d for d in outcome.decisions if d.to_json_bytes() == effect.value]
                assert record.kind is effect.effect_id.decision
    assert seen == set(EffectKind)
    assert decided == {DecisionKind.INGESTED, DecisionKind.DELIVERED, DecisionKind.REJECTED}


@pytest.mark.parametrize(
    ("effect_id", "text"),
    [
        (
            EffectId.of_event(EffectKind.DELIVERY, "TH", EVENT, "KH"),
            f"delivery:TH:{EVENT}:KH",
        ),
        (
            EffectId.of_event(EffectKind.DELIVERY, "TH", EVENT, "KH").decided(
                DecisionKind.ACKNOWLEDGED
            ),
            f"decision:ACKNOWLEDGED:TH:{EVENT}:KH",
        ),
        (
            EffectId.of_event(EffectKind.DECISION, "TH", EVENT, decision=DecisionKind.INGESTED),
            f"decision:INGESTED:TH:{EVENT}",
        ),
        (
            EffectId.of_record(EffectKind.QUARANTINE, WHERE, EVENT, producer="TH"),
            f"quarantine:TH:{EVENT}:{WHERE}",
        ),
        (EffectId.of_record(EffectKind.REJECTION, WHERE, EVENT), f"rejection:{EVENT}:{WHERE}"),
        (
            EffectId.of_record(EffectKind.REJECTION, WHERE).decided(DecisionKind.REJECTED),
            f"decision:REJECTED:{WHERE}:{WHERE}",
        ),
    ],
)
def test_effect_id_text_form(effect_id: EffectId, text: str) -> None:
    """docs/decisions.md D5: the text forms are the ones the hub has always written."""
    assert str(effect_id) == text
    assert EffectId.parse(text) == effect_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "decision",
        "decision:leak",
        "decision:NOPE:TH:e1",
        "frob:TH:e1:KH",
        "delivery:TH:e1",  # a delivery names its recipient
        "delivery:TH:e1:KH:LA",
        f"delivery:{WHERE}:{WHERE}",  # a delivery names an event, not a record
        f"rejection:a:b:c:{WHERE}",
        "rejection:TH:e1:t/x/1",
        f"quarantine:TH::{WHERE}",
        f"quarantine:{WHERE}",
        f"rejection:{WHERE}:{SourceRef('other', 0, 1)}",  # not how the hub writes it
    ],
)
def test_a_malformed_effect_id_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(AuditError) as info:
        EffectId.parse(text)
    assert info.value.reason is Reason.CHECKPOINT_INVALID
    assert info.value.detail.startswith("expected ")


_PART = st.sampled_from(["", "TH", "KH", EVENT, "x"])


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.tuples(
        st.sampled_from(list(EffectKind)),
        st.sampled_from(list(DecisionKind)),
        st.sampled_from(list(DecisionKind)),
    ),
    parts=st.tuples(_PART, _PART, _PART),
    source=st.sampled_from([None, WHERE]),
)
def test_decided_and_delivery_are_the_ids_the_checked_constructor_makes(
    kinds: tuple[EffectKind, DecisionKind, DecisionKind],
    parts: tuple[str, str, str],
    source: SourceRef | None,
) -> None:
    """decided() and delivery() skip the checks: equal to the checked ids, field by field."""
    kind, decision, then = kinds
    producer, event_id, recipient = parts
    try:
        eid = EffectId(
            kind,
            producer,
            event_id,
            recipient,
            source,
            decision if kind is EffectKind.DECISION else None,
        )
    except AuditError:
        return  # not an id
    made = eid.decided(then)
    checked = EffectId(EffectKind.DECISION, producer, event_id, recipient, source, then)
    assert (made, str(made), repr(made), hash(made)) == (
        checked,
        str(checked),
        repr(checked),
        hash(checked),
    )
    assert EffectId.parse(str(made)) == made
    assert eid.decided_text(then) == str(made)  # the text alone, as the state asks for it
    try:
        expected: EffectId | type[AuditError] = EffectId(
            EffectKind.DELIVERY, producer, event_id, recipient
        )
    except AuditError:
        expected = AuditError
    try:
        got: EffectId | type[AuditError] = made.delivery()
    except AuditError:
        got = AuditError
    assert got == expected
    assert str(got) == str(expected)
    try:
        text: str | type[AuditError] = made.delivery_text()
    except AuditError:
        text = AuditError
    assert text == (AuditError if expected is AuditError else str(expected))


def test_source_refs_read_back_and_bad_ones_are_refused() -> None:
    assert SourceRef.parse(str(WHERE)) == WHERE
    assert SourceRef.parse("a/b.c/3/4") == SourceRef("a/b.c", 3, 4)
    for bad in ("", "t/1", "t/x/1", "/1/2", "t/1/-2"):
        with pytest.raises(AuditError) as info:
            SourceRef.parse(bad)
        assert info.value.reason is Reason.CHECKPOINT_INVALID


def test_decision_kinds_are_the_audit_leaf_schemas_enum() -> None:
    schema = json.loads((schemas.SCHEMA_DIR / "audit_leaf.avsc").read_text(encoding="utf-8"))
    (kind,) = [f for f in schema["fields"] if f["name"] == "kind"]
    assert kind["type"]["name"] == DecisionKind.__name__
    assert kind["type"]["symbols"] == [str(k) for k in DecisionKind]


def _record(**changes: object) -> DecisionRecord:
    record = DecisionRecord(
        kind=DecisionKind.REJECTED,
        event_id=EVENT,
        producer="TH",
        recipient="LA",
        event_digest="ab" * 32,
        delivered_digest="",
        fields=("b", "a"),
        agreement="",
        reason="NO_AGREEMENT",
        detail="no agreement TH->LA",
        source=str(WHERE),
        decided_at_ms=5,
        registry="r1",
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def test_a_leaf_wraps_its_decision_record_without_the_detail() -> None:
    record = _record()
    assert DecisionRecord.from_json_bytes(record.to_json_bytes()) == record
    leaf = AuditLeaf.from_decision("decision:x", record.to_json_bytes())
    assert leaf.record == dataclasses.replace(record, detail="", fields=("a", "b"))
    assert AuditLeaf.from_bytes(leaf.to_bytes()) == leaf
    assert leaf.event_digest == bytes.fromhex("ab" * 32)
    assert leaf.delivered_digest == b""
    assert b"no agreement" not in leaf.to_bytes()


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {**json.loads(_record().to_json_bytes()), "kind": "PONDERED"},
        {**json.loads(_record().to_json_bytes()), "event_digest": "zz"},
        {**json.loads(_record().to_json_bytes()), "decided_at_ms": "soon"},
        {k: v for k, v in json.loads(_record().to_json_bytes()).items() if k != "registry"},
        [],
    ],
)
def test_a_malformed_decision_record_is_refused_with_a_reason(obj: object) -> None:
    for data in (json.dumps(obj).encode(), b"{not json"):
        with pytest.raises(AuditError) as info:
            DecisionRecord.from_json_bytes(data)
        assert info.value.reason is Reason.CHECKPOINT_INVALID
        with pytest.raises(AuditError):
            AuditLeaf.from_decision("decision:x", data)


def test_a_delivery_digest_is_kept_until_its_decision_is_written() -> None:
    delivery = EffectId.of_event(EffectKind.DELIVERY, "KH", EVENT, "TH")
    state = HubState()
    state.mark(delivery, "d1")
    assert state.done(delivery)
    assert state.written_delivery(delivery) == "d1"
    state.mark(delivery.decided(DecisionKind.REJECTED))  # not the delivery's decision
    assert state.written_delivery(delivery) == "d1"
    state.mark(delivery.decided(DecisionKind.ACKNOWLEDGED))
    assert state.written_delivery(delivery) is None
    state.mark(delivery, "d2")  # its decision is already written: nothing to keep
    assert state.delivered == {}


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=300)
@given(
    kind=st.sampled_from(list(DecisionKind)),
    texts=st.lists(_TEXT, min_size=10, max_size=10),
    fields=st.lists(_TEXT, max_size=5),
    at=st.integers(min_value=-(2**63), max_value=2**63),
)
def test_a_decision_record_is_the_json_that_json_dumps_writes(
    kind: DecisionKind, texts: list[str], fields: list[str], at: int
) -> None:
    obj: dict[str, object] = {
        "kind": str(kind),
        "event_id": texts[0],
        "producer": texts[1],
        "recipient": texts[2],
        "event_digest": texts[3],
        "delivered_digest": texts[4],
        "fields": fields,
        "agreement": texts[5],
        "reason": texts[6],
        "detail": texts[7],
        "source": texts[8],
        "decided_at_ms": at,
        "registry": texts[9],
    }
    values = {k: v for k, v in obj.items() if k not in {"kind", "fields", "decided_at_ms"}}
    record = DecisionRecord(
        kind=kind,
        fields=tuple(fields),
        decided_at_ms=at,
        **values,  # type: ignore[arg-type]
    )
    expected = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record.to_json_bytes() == expected.encode("utf-8")
    assert record.to_json_bytes() == expected.encode("utf-8")  # its repeated values remembered


def test_the_remembered_json_of_repeated_values_stays_bounded_and_right() -> None:
    """to_json_bytes remembers the JSON of the values that repeat (agreements, field
    lists, ...) in bounded caches: memory does not grow with the values seen, and
    a value written after its entry was dropped is right."""
    from hub import decision

    limit = decision._QUOTED_MAX
    for i in range(limit + 50):
        record = _record(agreement=f'a"{i}@1', fields=(f"f{i}", "\\x"), reason=f"R{i % 7}")
        obj = json.loads(record.to_json_bytes())
        assert (obj["agreement"], obj["fields"], obj["reason"]) == (
            f'a"{i}@1',
            [f"f{i}", "\\x"],
            f"R{i % 7}",
        )
        assert decision._quoted.cache_info().currsize <= limit
        assert decision._quoted_fields.cache_info().currsize <= limit
