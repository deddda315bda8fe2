"""Every wire test vector through the hub's core: bad ones refused with their reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.conformance import wire
from hub.topics import Topics
from tests.support.hub import (
    WIRE_VECTORS,
    quarantined_original,
    vector_field,
    wire_vector_outcome,
)

FILES = wire.vector_files(WIRE_VECTORS)
TOPICS = Topics("tv")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_hub_refuses_each_bad_vector_with_its_reason(path: Path) -> None:
    vector, raw, envelope, outcome = wire_vector_outcome(path, TOPICS)
    expected = vector_field(vector, "expected")
    if envelope is not None and envelope.attestations:
        # a delivered copy (the recipient's vectors): never a valid submission
        expected = {"outcome": "rejected", "reason": "BAD_ATTESTATION"}
    elif envelope is not None and vector["recipient"] is not None:
        # a copy a node must refuse for want of an attestation is, without
        # one, a valid submission to the hub
        expected = {"outcome": "accepted"}
    if expected["outcome"] == "rejected":
        assert outcome.status == "rejected", path.name
        assert str(outcome.reason) == expected["reason"], path.name
        assert any(
            e.topic == TOPICS.quarantine and quarantined_original(e.value) == raw
            for e in outcome.effects
        )
    else:
        assert outcome.status == "routed", (path.name, outcome.reason)
