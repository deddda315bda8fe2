"""Trust lists: threshold signatures, root rotation, rollback, revocation, validity."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import Reason, TrustError
from hub.keys import KeyRole, private_key_from_seed
from hub.signed_doc import SignedDocument
from hub.trust import (
    HUB_OWNER,
    KeySpec,
    TrustList,
    build_trust_document,
    load_trust_file,
    revoke_key,
)

COUNTRIES = ("KH", "CN", "LA", "MM", "TH", "VN")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000


def _key(name: str) -> Ed25519PrivateKey:
    return private_key_from_seed(hashlib.sha256(name.encode()).digest())


ROOTS = {cc: _key(f"root-{cc}") for cc in COUNTRIES}
PRODUCERS = {cc: _key(f"producer-{cc}") for cc in COUNTRIES}
HUB = _key("hub")


def _specs(roots: dict[str, Ed25519PrivateKey] = ROOTS) -> list[KeySpec]:
    specs = [KeySpec(cc, frozenset({KeyRole.ROOT}), k.public_key(), T0) for cc, k in roots.items()]
    specs += [
        KeySpec(cc, frozenset({KeyRole.PRODUCER}), k.public_key(), T0, T0 + 365 * DAY)
        for cc, k in PRODUCERS.items()
    ]
    specs.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), HUB.public_key(), T0))
    return specs


def _doc(
    *,
    version: int = 1,
    threshold: int = 4,
    signers: list[Ed25519PrivateKey] | None = None,
    roots: dict[str, Ed25519PrivateKey] = ROOTS,
) -> SignedDocument:
    return build_trust_document(
        _specs(roots),
        members={cc: cc for cc in roots},
        threshold=threshold,
        version=version,
        issued_at_ms=T0,
        signers=list(ROOTS.values()) if signers is None else signers,
    )


def test_a_fully_signed_list_verifies_and_answers_key_queries() -> None:
    trust = TrustList.from_signed(_doc().to_json())
    assert trust.version == 1
    assert trust.countries == frozenset(COUNTRIES)
    (th,) = trust.keys_for("TH", KeyRole.PRODUCER, T0 + DAY)
    assert th.country == "TH"
    assert trust.keys_for("TH", KeyRole.PRODUCER, T0 - 1) == ()
    assert trust.keys_for("TH", KeyRole.PRODUCER, T0 + 366 * DAY) == ()
    assert trust.keys_for("TH", KeyRole.HUB, T0 + DAY) == ()
    assert len(trust.hub_keys(T0 + DAY)) == 1
    assert trust.key(th.key_id) is th
    assert trust.key("00" * 32) is None


def test_below_threshold_is_refused_and_counts_countries_not_signatures() -> None:
    three = [ROOTS["KH"], ROOTS["LA"], ROOTS["TH"]]
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(_doc(signers=three).to_json())
    assert info.value.reason is Reason.TRUST_THRESHOLD_NOT_MET
    assert "found 3" in info.value.detail
    # Producer keys do not count as roots, however many sign.
    with pytest.raises(TrustError):
        TrustList.from_signed(_doc(signers=[*three, *PRODUCERS.values()]).to_json())
    assert TrustList.from_signed(_doc(signers=[*three, ROOTS["VN"]]).to_json()).version == 1


def test_changing_the_body_after_signing_breaks_every_signature() -> None:
    obj: dict[str, Any] = copy.deepcopy(_doc().to_json())
    obj["signed"]["keys"][6]["not_after_ms"] = T0 + 10 * 365 * DAY
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(obj)
    assert info.value.reason is Reason.TRUST_THRESHOLD_NOT_MET


def test_rotation_needs_the_previous_roots_and_a_higher_version() -> None:
    v1 = TrustList.from_signed(_doc())
    new_roots = dict(ROOTS) | {"TH": _key("root-TH-2")}
    # Signed only by the new roots' holders where they differ: TH's new root
    # plus three old ones is 4 countries of v2 but only 3 of v1 for TH... the
    # old TH root did not sign, so v1 sees KH, LA, VN = 3 < 4.
    signers = [new_roots["TH"], ROOTS["KH"], ROOTS["LA"], ROOTS["VN"]]
    v2_doc = _doc(version=2, roots=new_roots, signers=signers)
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(v2_doc, previous=v1)
    assert info.value.reason is Reason.TRUST_THRESHOLD_NOT_MET
    assert "version 1" in info.value.detail
    v2 = TrustList.from_signed(v2_doc.with_signature(ROOTS["MM"]), previous=v1)
    assert v2.version == 2
    # Replaying v1 over v2 is a rollback.
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(_doc(), previous=v2)
    assert info.value.reason is Reason.TRUST_ROLLBACK


def test_hub_operator_alone_cannot_add_a_key() -> None:
    v1 = TrustList.from_signed(_doc())
    rogue = _key("rogue")
    specs = [*_specs(), KeySpec("TH", frozenset({KeyRole.PRODUCER}), rogue.public_key(), T0)]
    doc = build_trust_document(
        specs,
        members={cc: cc for cc in COUNTRIES},
        threshold=4,
        version=2,
        issued_at_ms=T0,
        signers=[HUB, rogue],
    )
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(doc, previous=v1)
    assert info.value.reason is Reason.TRUST_THRESHOLD_NOT_MET


def test_revocation_keeps_earlier_events_and_refuses_later_ones() -> None:
    v1 = TrustList.from_signed(_doc())
    (th,) = v1.keys_for("TH", KeyRole.PRODUCER, T0 + DAY)
    unsigned = revoke_key(v1, th.key_id, revoked_at_ms=T0 + 10 * DAY, reason="laptop stolen")
    with pytest.raises(TrustError):
        TrustList.from_signed(unsigned, previous=v1)
    signed = unsigned
    for cc in ("KH", "LA", "MM", "VN"):
        signed = signed.with_signature(ROOTS[cc])
    v2 = TrustList.from_signed(signed, previous=v1)
    assert v2.version == 2
    assert v2.keys_for("TH", KeyRole.PRODUCER, T0 + 9 * DAY) != ()
    assert v2.keys_for("TH", KeyRole.PRODUCER, T0 + 10 * DAY) == ()
    revoked = v2.key(th.key_id)
    assert revoked is not None
    assert revoked.revoked_at_ms == T0 + 10 * DAY
    with pytest.raises(TrustError) as info:
        revoke_key(v2, "ab" * 32, revoked_at_ms=T0)
    assert info.value.reason is Reason.UNKNOWN_KEY


def test_a_revoked_root_no_longer_counts() -> None:
    v1 = TrustList.from_signed(_doc(threshold=6))
    doc = revoke_key(v1, next(k.key_id for k in v1.roots() if k.country == "TH"), revoked_at_ms=T0)
    for key in ROOTS.values():
        doc = doc.with_signature(key)
    assert len(TrustList.signing_countries(v1, [])) == 0
    # v1's six roots all signed, but v2 revokes TH's root: by v2's own roots only
    # five countries signed, below its threshold of six.
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(doc, previous=v1)
    assert info.value.reason is Reason.TRUST_THRESHOLD_NOT_MET
    assert "of version 2; found 5" in info.value.detail


def test_expiry_is_checked_against_the_time_given() -> None:
    doc = build_trust_document(
        _specs(),
        members={cc: cc for cc in COUNTRIES},
        threshold=4,
        version=1,
        issued_at_ms=T0,
        expires_at_ms=T0 + DAY,
        signers=list(ROOTS.values()),
    )
    trust = TrustList.from_signed(doc)
    trust.check_fresh(T0)
    with pytest.raises(TrustError) as info:
        trust.check_fresh(T0 + DAY)
    assert info.value.reason is Reason.TRUST_EXPIRED
    # what was expected (valid now) and what arrived (the expiry), readable and exact
    assert "valid at 2026-01-02T00:00:00Z" in info.value.detail
    assert f"version 1 expired at 2026-01-02T00:00:00Z ({T0 + DAY})" in info.value.detail


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s.update(version=0), "version >= 1"),
        (lambda s: s.update(threshold=7), "exceeds"),
        (lambda s: s.update(extra=1), "unknown fields"),
        (lambda s: s["keys"][0].update(key_id="00" * 32), "key_id"),
        (lambda s: s["keys"][0].update(owner="XX"), "not among the members"),
        (lambda s: s["keys"][0].update(roles=["hub"]), "only the HUB owner"),
        (lambda s: s["keys"][-1].update(roles=["hub", "root"]), "exactly the role 'hub'"),
        (lambda s: s["keys"][0].update(roles=["king"]), "roles"),
        (lambda s: s["keys"][0].update(public="not base64!"), "base64"),
        (lambda s: s["keys"][6].update(not_after_ms=T0), "not_after_ms must be after"),
        (lambda s: s["keys"].append(dict(s["keys"][0])), "listed twice"),
        (lambda s: s.update(members={}), "members"),
    ],
)
def test_malformed_lists_are_refused_with_the_path(mutate: Any, expected: str) -> None:
    obj: dict[str, Any] = copy.deepcopy(_doc().to_json())
    mutate(obj["signed"])
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(obj)
    assert info.value.reason is Reason.TRUST_MALFORMED
    assert expected in info.value.detail


def test_wrong_document_type_is_refused() -> None:
    obj: dict[str, Any] = copy.deepcopy(_doc().to_json())
    obj["signed"]["_type"] = "trm.agreement/v1"
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(obj)
    assert info.value.reason is Reason.TRUST_MALFORMED


def test_a_trust_file_with_a_member_name_twice_is_refused(tmp_path: Path) -> None:
    """A reader keeping the first value would see threshold 1 where the roots signed 4."""
    text = json.dumps(_doc().to_json(), separators=(",", ":"))
    assert TrustList.from_bytes(text).version == 1
    doubled = text.replace('"threshold":4', '"threshold":1,"threshold":4')
    path = tmp_path / "trust.json"
    path.write_text(doubled, encoding="utf-8")
    with pytest.raises(TrustError) as info:
        load_trust_file(path)
    assert info.value.reason is Reason.TRUST_MALFORMED
    assert "'threshold' appears twice" in info.value.detail
    with pytest.raises(TrustError) as info:
        TrustList.from_bytes(doubled)
    assert info.value.reason is Reason.TRUST_MALFORMED


def test_an_integer_beyond_2_53_is_malformed_not_a_crash() -> None:
    obj: dict[str, Any] = copy.deepcopy(_doc().to_json())
    obj["signed"]["issued_at_ms"] = 2**53
    with pytest.raises(TrustError) as info:
        TrustList.from_signed(obj)
    assert info.value.reason is Reason.TRUST_MALFORMED
