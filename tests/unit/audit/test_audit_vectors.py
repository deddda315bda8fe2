"""The audit vectors in tests/vectors/audit/: no drift, every one passes, enough of each kind."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from hub.audit.leaf import AuditLeaf
from hub.conformance import audit
from hub.decision import DecisionKind
from tests.vectors.generate_wire import render

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
AUDIT = VECTORS / "audit"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_audit", VECTORS / "generate_audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_bad(name: str) -> bool:
    return name.split("-")[1] == "bad"  # <type>-good-NN-... or <type>-bad-NN-...


def _vectors() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(AUDIT.glob("*.json"))
        if p.name != audit.KEYS_FILE
    }


def test_generator_reproduces_the_files_exactly() -> None:
    generator = _generator()
    built: dict[str, Any] = generator.build()
    assert {p.name for p in AUDIT.glob("*.json")} == set(built)
    for name, content in built.items():
        assert (AUDIT / name).read_text(encoding="utf-8") == render(content), name
    assert (AUDIT / "README.md").read_text(encoding="utf-8") == generator.readme(built)


def test_every_vector_gives_its_expected_outcome() -> None:
    results = audit.check(AUDIT)
    failed = [r for r in results if not r.passed]
    assert not failed, "\n".join(f"{r.vector}: expected {r.expected}, got {r.got}" for r in failed)
    assert len(results) == len(_vectors())


def test_every_vector_names_its_type_and_outcome() -> None:
    for name, v in _vectors().items():
        assert v["type"] in audit.TYPES, name
        assert v["description"], name
        outcome = v["expected"]["outcome"]
        assert outcome == ("rejected" if _is_bad(name) else "accepted"), name
        assert (v["expected"]["reason"] is None) == (outcome == "accepted"), name


def test_counts_of_each_kind() -> None:
    vectors = _vectors()
    good = Counter(v["type"] for n, v in vectors.items() if not _is_bad(n))
    bad = Counter(v["type"] for n, v in vectors.items() if _is_bad(n))
    assert good == {
        "leaf": 7,
        "log": 1,
        "checkpoint": 4,
        "cosignature": 2,
        "extension": 4,
        "proof": 1,
        "merkle": 7,
    }
    assert bad == {
        "leaf": 8,
        "checkpoint": 19,
        "cosignature": 6,
        "extension": 9,
        "proof": 5,
        "merkle": 20,
    }
    reasons = {v["expected"]["reason"] for n, v in vectors.items() if _is_bad(n)}
    assert reasons == {
        "CHECKPOINT_INVALID",
        "CHECKPOINT_BAD_SIGNATURE",
        "LOG_FORK",
        "CONSISTENCY_PROOF_INVALID",
        "INCLUSION_PROOF_INVALID",
    }


def test_every_decision_kind_has_a_leaf_and_the_hub_writes_its_bytes() -> None:
    leaves = [v for n, v in _vectors().items() if n.startswith("leaf-good-")]
    assert {v["expected"]["fields"]["kind"] for v in leaves} == {str(k) for k in DecisionKind}
    for v in leaves:
        data = bytes.fromhex(v["leaf"])
        assert AuditLeaf.from_bytes(data).to_bytes() == data


def test_a_delivered_leaf_is_named_by_its_decision_id() -> None:
    # Section 9.5: an attestation's leaf_ref is the decision id of its DELIVERED or
    # ACKNOWLEDGED leaf, and the sequencer's answer names the same id.
    vectors = _vectors()
    delivered = vectors["leaf-good-02-delivered"]["expected"]["fields"]
    assert delivered["decision_id"] == (
        f"decision:DELIVERED:{delivered['producer']}:{delivered['event_id']}:"
        f"{delivered['recipient']}"
    )
    assert vectors["proof-good-01-delivered"]["answer"]["decision_id"] == delivered["decision_id"]
