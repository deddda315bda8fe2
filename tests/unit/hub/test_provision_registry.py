"""Publishing a registry (hub.ops.provision.registry_records): a hub that reads the
registry topics at any moment between two of provisioning's writes either has no
registry yet or has every agreement published with the trust list it sees."""

from __future__ import annotations

import json
import time
from pathlib import Path

from connectors.demo.setup import make_identities, sign_agreements
from hub.app.registry import build_registry
from hub.home import StateDir
from hub.ops.provision import registry_records
from hub.policy import parse_agreement
from hub.topics import Topics
from hub.trust import TrustList


def _provisioned(tmp_path: Path) -> tuple[Topics, bytes, list[tuple[str, bytes]]]:
    state = StateDir(tmp_path / "hub")
    keys, _trust = make_identities(state, time.time_ns() // 1_000_000)
    sign_agreements(state, keys)
    blobs = [p.read_bytes() for p in sorted(state.agreements.glob("*.yaml"))]
    agreements = [(parse_agreement(b).agreement.ref, b) for b in blobs]
    return Topics("trm"), state.trust.read_bytes(), agreements


def test_the_trust_list_is_written_last_after_every_agreement(tmp_path: Path) -> None:
    topics, trust_doc, agreements = _provisioned(tmp_path)
    assert len(agreements) >= 2
    records = registry_records(topics, trust_doc, agreements)
    assert [r[0] for r in records] == [topics.registry_agreements] * len(agreements) + [
        topics.registry_trust
    ]
    assert records[-1][1:] == (b"trust/0000000001", trust_doc)
    assert [(k.decode(), v) for _t, k, v in records[:-1]] == agreements


def test_a_hub_reading_between_any_two_writes_never_judges_with_part_of_the_agreements(
    tmp_path: Path,
) -> None:
    topics, trust_doc, agreements = _provisioned(tmp_path)
    records = registry_records(topics, trust_doc, agreements)
    whole = build_registry([trust_doc], [(blob, None) for _ref, blob in agreements])
    assert whole is not None
    assert len(whole.agreements.entries) == len(agreements)
    pinned = TrustList.from_signed(json.loads(trust_doc))  # a hub with its own trust.json
    for seen in range(len(records) + 1):  # what a hub's poll finds after `seen` writes
        written = records[:seen]
        for anchor in (None, pinned):
            registry = build_registry(
                [v for t, _k, v in written if t == topics.registry_trust],
                [(v, None) for t, _k, v in written if t == topics.registry_agreements],
                pinned=anchor,
            )
            if registry is not None:
                where = f"after {seen} of {len(records)} writes, pinned={anchor is not None}"
                assert registry.version == whole.version, where
                assert len(registry.agreements.entries) == len(agreements)
            else:
                assert seen < len(records)  # the trust list is not written yet
