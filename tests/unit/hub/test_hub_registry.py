"""Registry records -> the registry in force: chained trust versions, agreements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.app.registry import build_registry
from hub.errors import PolicyError
from hub.policy import parse_agreement
from hub.trust import TrustList
from tests.support.hub import DAY, HUB_KEY, KEYS, T0, trust_list
from tests.support.trust import members_trust

AGREEMENTS = Path(__file__).resolve().parents[3] / "deploy" / "agreements"


def _blob(trust: TrustList) -> bytes:
    return json.dumps(trust.document.to_json()).encode()


def _v2(signers: list[str]) -> bytes:
    doc = members_trust(
        KEYS,
        HUB_KEY,
        T0 - DAY,
        threshold=1,  # an attempt to lower the bar
        version=2,
        issued_at_ms=T0,
        signers=[KEYS[cc] for cc in signers],
    )
    return json.dumps(doc.to_json()).encode()


def test_no_trust_list_means_no_registry() -> None:
    assert build_registry([], []) is None


def test_a_pinned_trust_list_alone_is_not_a_registry_until_one_is_published() -> None:
    # The hub's own trust.json anchors the chain; only a published list says the
    # agreements provisioned with it are there (they are written before it).
    pinned = trust_list()
    agreement = (sorted(AGREEMENTS.glob("*.yaml"))[0].read_bytes(), T0)
    assert build_registry([], [agreement], pinned=pinned) is None
    registry = build_registry([_blob(pinned)], [agreement], pinned=pinned)
    assert registry is not None
    assert registry.keys is pinned  # the published v1 is the pinned one: no new version
    assert len(registry.agreements.entries) == 1


def test_trust_versions_chain_and_an_undersigned_one_is_ignored() -> None:
    v1 = _blob(trust_list())
    forged = build_registry([v1, _v2(["TH"])], [])
    assert forged is not None
    assert forged.version.startswith("trust-v1/")
    good = build_registry([_v2(["TH", "KH", "VN", "LA"]), v1], [])
    assert good is not None
    assert good.version.startswith("trust-v2/")


def test_agreements_parse_and_bad_ones_are_left_out() -> None:
    files = sorted(AGREEMENTS.glob("*.yaml"))
    assert files
    records: list[tuple[bytes, int | None]] = [(f.read_bytes(), T0) for f in files]
    registry = build_registry([_blob(trust_list())], [*records, (b"id: [broken", T0)])
    assert registry is not None
    ids = {a.agreement.id for a in registry.agreements.entries}
    assert "COMMIT-baseline" in ids
    assert all(a.loaded_at_ms == T0 for a in registry.agreements.entries)
    assert len(registry.agreements.entries) == len(files)


def test_parse_agreement_refuses_non_yaml() -> None:
    with pytest.raises(PolicyError):
        parse_agreement(b"\xff\xfe")


def test_the_real_policy_engine_is_always_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.policy import decide

    # An old test-only switch must have no effect: agreements can never be turned off.
    monkeypatch.setenv("TRM_UNSAFE_TEST_POLICY", "/nonexistent.json")
    registry = build_registry([_blob(trust_list())], [])
    assert registry is not None
    assert registry.decide is decide


def test_a_trust_record_with_a_member_name_twice_is_ignored() -> None:
    v1 = _blob(trust_list())
    v2 = _v2(["TH", "KH", "VN", "LA"])
    # a reader taking the first "version" would see 1, the verifier the last: never accepted
    twice = v2.replace(b'"version": 2', b'"version": 1, "version": 2', 1)
    assert twice != v2
    registry = build_registry([v1, twice], [])
    assert registry is not None
    assert registry.version.startswith("trust-v1/")


def test_two_texts_of_one_agreement_version_keep_the_first() -> None:
    path = AGREEMENTS / "th-kh-protection.v2.yaml"
    first = path.read_bytes()
    second = first.replace(b"title: ", b"title: 'Changed' #", 1)
    assert second != first
    registry = build_registry([_blob(trust_list())], [(first, T0), (second, T0 + 1)])
    assert registry is not None
    [kept] = [a for a in registry.agreements.entries if a.agreement.id == "TH-KH-protection"]
    assert kept.loaded_at_ms == T0
