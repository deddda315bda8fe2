"""Every wire test vector through the hub's core: bad ones refused with their reason."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from hub.conformance import wire
from hub.decision import SourceRef
from hub.pipeline import Limits, Registry, process
from hub.policy import AgreementSet
from hub.state import HubState
from hub.topics import Topics
from hub.wire import Envelope, EventType, cloudevents_headers
from tests.support.hub import HUB_KEY, TestSealKeys, quarantined_original, unsafe_fake_policy

WIRE = Path(__file__).resolve().parents[2] / "vectors" / "wire"
FILES = wire.vector_files(WIRE)
TOPICS = Topics("tv")


def _field(vector: dict[str, Any], name: str) -> Any:
    value = vector.get(name)
    return ast.literal_eval(value) if isinstance(value, str) and value[:1] in "[{" else value


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_hub_refuses_each_bad_vector_with_its_reason(path: Path) -> None:
    vector = json.loads(path.read_text(encoding="utf-8"))
    expected = _field(vector, "expected")
    raw = bytes.fromhex(vector["envelope"])
    headers = _field(vector, "kafka_headers")
    producer, created = "TH", 1_767_225_600_000
    try:
        envelope = Envelope.from_bytes(raw, max_size=int(vector["max_size"]))
        producer, created = envelope.header.producer, envelope.header.created_at_ms
        if envelope.attestations:
            # a delivered copy (the recipient's vectors): never a valid submission
            expected = {"outcome": "rejected", "reason": "BAD_ATTESTATION"}
        elif vector["recipient"] is not None:
            # a copy a node must refuse for want of an attestation is, without
            # one, a valid submission to the hub
            expected = {"outcome": "accepted"}
        if headers is None:  # only the intended defect should show
            headers = cloudevents_headers(envelope.header)
    except Exception:
        headers = headers or []
    pairs = [(k, v.encode() if isinstance(v, str) else v) for k, v in headers]
    allow_all = {
        (producer, r, t.value): frozenset({"*"})
        for r in ("KH", "CN", "LA", "MM", "TH", "VN", "ZZ")
        for t in EventType
    }
    registry = Registry(
        keys=wire.key_directory(WIRE),
        agreements=AgreementSet(),
        decide=unsafe_fake_policy(allow_all),
        version="v",
        seal_keys=TestSealKeys(),
    )
    outcome = process(
        raw,
        pairs,
        SourceRef(TOPICS.outbox(producer if len(producer) == 2 else "TH"), 0, 0),
        topics=TOPICS,
        registry=registry,
        state=HubState(),
        hub_key=HUB_KEY,
        now_ms=created + 1000,
        limits=Limits(max_size=int(vector["max_size"])),
    )
    if expected["outcome"] == "rejected":
        assert outcome.status == "rejected", path.name
        assert str(outcome.reason) == expected["reason"], path.name
        assert any(
            e.topic == TOPICS.quarantine and quarantined_original(e.value) == raw
            for e in outcome.effects
        )
    else:
        assert outcome.status == "routed", (path.name, outcome.reason)
