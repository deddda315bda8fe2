"""The policy vectors in tests/vectors/policy/: no drift, each decides as expected, every reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance import policy
from hub.conformance.base import read_json
from hub.errors import Reason
from hub.policy import POLICY_FIELDS
from tests.vectors import generate_policy

FOLDER = Path(__file__).resolve().parents[2] / "vectors" / "policy"

# Every reason the engine gives for a recipient. NOT_ADDRESSED (a producer
# addressing itself) cannot be sealed: hub.wire refuses such a header, so no
# vector can carry it; the reply rule is the hub's, after the engine.
ENGINE_REASONS = {
    Reason.NO_AGREEMENT,
    Reason.AGREEMENT_NOT_IN_FORCE,
    Reason.EVENT_TYPE_NOT_ALLOWED,
    Reason.AGREEMENT_UNSIGNED,
    Reason.AGREEMENT_BAD_SIGNATURE,
    Reason.PURPOSE_NOT_ALLOWED,
    Reason.HANDLING_NOT_ALLOWED,
    Reason.SEALING_REQUIRED,
    Reason.CHILD_PROTECTION,
    Reason.CONSENT_REQUIRED,
}


def _decisions() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.stem, d)
        for path in policy.vector_files(FOLDER)
        for d in read_json(path)["expected"]["decisions"]
    ]


def test_every_vector_decides_as_expected() -> None:
    results = policy.check(FOLDER)
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"{r.vector}\n  expected {r.expected}\n  got      {r.got}")
    assert not failed, [r.vector for r in failed]
    assert len(results) == len(policy.vector_files(FOLDER)) >= 60


def test_generator_reproduces_the_folder_exactly() -> None:
    built = generate_policy.build()
    on_disk = {p.relative_to(FOLDER).as_posix() for p in FOLDER.rglob("*") if p.is_file()}
    assert on_disk == set(built)
    for name, text in built.items():
        assert (FOLDER / name).read_text(encoding="utf-8") == text, name


def test_every_policy_reason_has_a_vector() -> None:
    refused = {Reason(d["reason"]) for _, d in _decisions() if d["outcome"] == "refuse"}
    assert refused == ENGINE_REASONS
    delivered = [d for _, d in _decisions() if d["outcome"] == "deliver"]
    assert len(delivered) >= 30
    assert len({d["agreement"] for d in delivered}) >= 8


def test_the_vectors_cover_sealed_events_and_several_recipients() -> None:
    vectors = [read_json(p) for p in policy.vector_files(FOLDER)]
    sealed = [v for v in vectors if v["intermediate"]["spec_version"] == 2]
    assert len(sealed) >= 5
    for v in sealed:  # the hub judged only what stays in the clear
        assert set(v["intermediate"]["policy_attributes"]) <= POLICY_FIELDS
    assert sum(len(v["expected"]["decisions"]) > 1 for v in vectors) >= 4


def policy_attributes() -> set[str]:
    from hub.policy import POLICY_FIELDS

    return set(POLICY_FIELDS)


def test_a_delivery_lists_its_fields_sorted_and_only_disclosed_ones() -> None:
    for path in policy.vector_files(FOLDER):
        vector = read_json(path)
        disclosed = set(vector["intermediate"]["disclosed"])
        for d in vector["expected"]["decisions"]:
            if d["outcome"] == "deliver":
                assert d["fields"] == sorted(d["fields"]), path.stem
                assert set(d["fields"]) <= disclosed, path.stem


def test_a_changed_expectation_fails(tmp_path: Path) -> None:
    """The checker is not vacuous: one wrong field in one vector is one failure."""
    for path in FOLDER.rglob("*"):
        if path.is_file():
            target = tmp_path / path.relative_to(FOLDER)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    victim = tmp_path / "consent-02-refused.json"
    text = victim.read_text(encoding="utf-8")
    victim.write_text(text.replace('"retention_days": 1095', '"retention_days": 1096'), "utf-8")
    failed = [r.vector for r in policy.check(tmp_path) if not r.passed]
    assert failed == ["consent-02-refused"]
