"""The reconciler reads a decision's source without decoding it, and agrees with JSON."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.app.reconcile import source_of_decision
from hub.decision import DecisionKind, DecisionRecord, SourceRef

_TEXT = st.text(max_size=40)


@settings(max_examples=300)
@given(
    detail=_TEXT,
    registry=_TEXT,
    topic=st.from_regex(r"[a-z][a-z0-9._-]{0,20}", fullmatch=True),
    partition=st.integers(min_value=0, max_value=99),
    offset=st.integers(min_value=0, max_value=10**12),
)
def test_the_source_of_every_record_the_hub_writes(
    detail: str, registry: str, topic: str, partition: int, offset: int
) -> None:
    source = SourceRef(topic, partition, offset)
    record = DecisionRecord(
        kind=DecisionKind.REJECTED,
        event_id="e",
        producer="TH",
        recipient="",
        event_digest="",
        delivered_digest="",
        fields=(),
        agreement="",
        reason="",
        detail=detail + ',"source":"x/1/2"}',  # a look-alike inside a string is escaped
        source=str(source),
        decided_at_ms=1,
        registry=registry,
    )
    assert source_of_decision(record.to_json_bytes()) == source


def test_other_json_is_decoded_and_junk_has_no_source() -> None:
    spaced = json.dumps({"source": "t.TH.outbox/2/7", "kind": "INGESTED"}).encode()
    assert source_of_decision(spaced) == SourceRef("t.TH.outbox", 2, 7)
    assert source_of_decision(b'{"source":"not a source"}') is None
    assert source_of_decision(b"\xff\x00") is None
    assert source_of_decision(None) is None
