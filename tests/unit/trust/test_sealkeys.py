"""Seal-key sets, the directory, a node's keyring on disk, and when keys fall due."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import OperationalError, Reason, SealError, TrustError
from hub.home import StateDir
from hub.keys import KeyRole, private_key_from_seed
from hub.policy.agreement import Agreement, Flow, load_agreement_file
from hub.sealkeys import (
    DAY_MS,
    EPOCH_MS,
    OVERLAP_MS,
    SEAL_KEYS_TYPE,
    Keyring,
    SealKey,
    SealKeyDirectory,
    SealKeySet,
    build_seal_key_set,
    due,
    retention_due,
    seal_key_id,
)
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, KeySpec, TrustList, build_trust_document

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
AGREEMENTS = Path(__file__).resolve().parents[3] / "deploy" / "agreements"

KH_ROOT = private_key_from_seed(b"\x11" * 32)
KH_PRODUCER = private_key_from_seed(b"\x12" * 32)  # producer only
KH_WITNESS = private_key_from_seed(b"\x13" * 32)  # witness only
KH_OLD = private_key_from_seed(b"\x14" * 32)  # root + producer, expired before T0
TH_ROOT = private_key_from_seed(b"\x21" * 32)
HUB = private_key_from_seed(b"\x31" * 32)
STRANGER = private_key_from_seed(b"\x41" * 32)  # in no trust list


def _trust() -> TrustList:
    rp = frozenset({KeyRole.ROOT, KeyRole.PRODUCER})
    specs = [
        KeySpec("KH", rp, KH_ROOT.public_key(), 0),
        KeySpec("KH", frozenset({KeyRole.PRODUCER}), KH_PRODUCER.public_key(), 0),
        KeySpec("KH", frozenset({KeyRole.WITNESS}), KH_WITNESS.public_key(), 0),
        KeySpec("KH", rp, KH_OLD.public_key(), 0, not_after_ms=T0 - DAY_MS),
        KeySpec("TH", rp, TH_ROOT.public_key(), 0),
        KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), HUB.public_key(), 0),
    ]
    doc = build_trust_document(
        specs,
        members={"KH": "Cambodia", "TH": "Thailand"},
        threshold=2,
        version=1,
        issued_at_ms=0,
        signers=[KH_ROOT, TH_ROOT],
    )
    return TrustList.from_signed(doc.to_json())


TRUST = _trust()


def _key(seed: int, nb: int, na: int | None, destroyed: int | None = None) -> SealKey:
    raw = X25519PrivateKey.from_private_bytes(bytes([seed]) * 32).public_key()
    public = raw.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SealKey(seal_key_id(public), "KH", public, nb, na, destroyed)


def _set(
    keys: list[SealKey],
    *,
    version: int = 1,
    signer: Ed25519PrivateKey | None = KH_ROOT,
    issued: int = T0,
    country: str = "KH",
) -> SignedDocument:
    return build_seal_key_set(
        country,
        keys,
        version=version,
        issued_at_ms=issued,
        signers=[] if signer is None else [signer],
    )


def _verify(doc: SignedDocument | dict[str, Any], previous: SealKeySet | None = None) -> SealKeySet:
    return SealKeySet.from_signed(doc if isinstance(doc, dict) else doc.to_json(), TRUST, previous)


A = _key(1, T0, T0 + 30 * DAY_MS)
B = _key(2, T0 + 29 * DAY_MS, T0 + 60 * DAY_MS)


# --- signatures --------------------------------------------------------------------


@pytest.mark.parametrize("signer", [KH_ROOT, KH_PRODUCER], ids=["root", "producer"])
def test_a_set_signed_by_a_root_or_producer_key_of_its_country_verifies(
    signer: Ed25519PrivateKey,
) -> None:
    verified = _verify(_set([A, B], signer=signer))
    assert verified.country == "KH"
    assert verified.version == 1
    assert verified.keys == (A, B)
    assert verified.document.signed["_type"] == SEAL_KEYS_TYPE
    assert A.key_id == hashlib.sha256(A.public).hexdigest()
    assert A.x25519().public_bytes_raw() == A.public


@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        (TH_ROOT, Reason.KEY_ROLE_NOT_ALLOWED),  # another country's root
        (KH_WITNESS, Reason.KEY_ROLE_NOT_ALLOWED),  # the country's, but a witness key
        (HUB, Reason.KEY_ROLE_NOT_ALLOWED),  # the hub holds no country's authority
        (KH_OLD, Reason.KEY_NOT_VALID_AT_TIME),  # expired before issued_at
        (STRANGER, Reason.UNKNOWN_KEY),
        (None, Reason.UNKNOWN_KEY),  # unsigned
    ],
    ids=["other-country", "witness", "hub", "expired", "stranger", "unsigned"],
)
def test_a_set_not_signed_by_its_country_is_refused(
    signer: Ed25519PrivateKey | None, reason: Reason
) -> None:
    with pytest.raises(TrustError) as info:
        _verify(_set([A], signer=signer))
    assert info.value.reason is reason
    assert "expected a signature by a root or producer key KH" in info.value.detail


def test_a_set_changed_after_signing_is_refused() -> None:
    obj = _set([A]).to_json()
    obj["signed"]["keys"][0]["not_after_ms"] += DAY_MS  # extends the window
    with pytest.raises(TrustError) as info:
        _verify(obj)
    assert info.value.reason is Reason.BAD_SIGNATURE


def test_a_key_valid_for_the_country_later_does_not_sign_earlier_sets() -> None:
    # KH_OLD was valid until T0 - 1 day: a set it signed then verifies, not one dated T0.
    assert _verify(_set([A], signer=KH_OLD, issued=T0 - 2 * DAY_MS)).signer
    with pytest.raises(TrustError) as info:
        _verify(_set([A], signer=KH_OLD, issued=T0))
    assert info.value.reason is Reason.KEY_NOT_VALID_AT_TIME


# --- malformed -----------------------------------------------------------------------


def _mutations() -> dict[str, Callable[[dict[str, Any]], None]]:
    def key0(obj: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = obj["signed"]["keys"][0]
        return entry

    return {
        "type": lambda o: o["signed"].update(_type="trm.trust-list/v1"),
        "extra-field": lambda o: o["signed"].update(note="x"),
        "missing-field": lambda o: o["signed"].pop("issued_at_ms"),
        "country": lambda o: o["signed"].update(country="kh"),
        "version-0": lambda o: o["signed"].update(version=0),
        "version-bool": lambda o: o["signed"].update(version=True),
        "version-str": lambda o: o["signed"].update(version="2"),
        "no-keys": lambda o: o["signed"].update(keys=[]),
        "keys-not-list": lambda o: o["signed"].update(keys={}),
        "key-not-object": lambda o: o["signed"].update(keys=["x"]),
        "key-id": lambda o: key0(o).update(key_id="00" * 32),
        "public-short": lambda o: key0(o).update(public="AAAA"),
        "public-not-b64": lambda o: key0(o).update(public="not base64!"),
        "public-not-str": lambda o: key0(o).update(public=7),
        "window": lambda o: key0(o).update(not_after_ms=key0(o)["not_before_ms"]),
        "negative": lambda o: key0(o).update(destroyed_at_ms=-1),
        "key-extra": lambda o: key0(o).update(roles=["seal"]),
        "duplicate": lambda o: o["signed"]["keys"].append(copy.deepcopy(key0(o))),
        "no-signatures-list": lambda o: o.update(signatures={}),
        "shape": lambda o: o.update(extra=1),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_a_malformed_set_is_refused_with_trust_malformed(name: str) -> None:
    obj = _set([A]).to_json()
    _mutations()[name](obj)
    with pytest.raises(TrustError) as info:
        _verify(obj)
    assert info.value.reason is Reason.TRUST_MALFORMED
    assert "expected" in info.value.detail


def test_the_builder_refuses_to_produce_a_malformed_set() -> None:
    with pytest.raises(TrustError) as info:
        build_seal_key_set("KH", [], version=1, issued_at_ms=T0)
    assert info.value.reason is Reason.TRUST_MALFORMED
    with pytest.raises(TrustError) as info:
        build_seal_key_set("TH", [A], version=1, issued_at_ms=T0)
    assert info.value.reason is Reason.TRUST_MALFORMED


# --- versions ------------------------------------------------------------------------


def test_versions_only_go_up_and_destroyed_keys_stay_destroyed() -> None:
    v2 = _verify(_set([A, B], version=2))
    for version in (1, 2):
        with pytest.raises(TrustError) as info:
            _verify(_set([A, B], version=version), previous=v2)
        assert info.value.reason is Reason.TRUST_ROLLBACK
        assert "above 2" in info.value.detail
    destroyed = dataclasses.replace(A, destroyed_at_ms=T0 + 40 * DAY_MS)
    v3 = _verify(_set([destroyed, B], version=3), previous=v2)
    assert v3.key(A.key_id) == destroyed
    with pytest.raises(TrustError) as info:
        _verify(_set([A, B], version=4), previous=v3)  # A "un-destroyed"
    assert info.value.reason is Reason.TRUST_ROLLBACK
    # Dropping a destroyed key from the list is allowed; the keyring keeps the tombstone.
    assert _verify(_set([B], version=4), previous=v3).keys == (B,)


def test_a_set_of_another_country_does_not_follow() -> None:
    kh = _verify(_set([A]))
    th_key = dataclasses.replace(A, country="TH")
    th = _set([th_key], version=2, signer=TH_ROOT, country="TH")
    with pytest.raises(TrustError) as info:
        _verify(th, previous=kh)
    assert info.value.reason is Reason.TRUST_MALFORMED


# --- windows and key_for ---------------------------------------------------------------


def test_valid_at_is_the_window_and_not_destroyed() -> None:
    k = _key(3, 100, 200, destroyed=150)
    assert [k.valid_at(t) for t in (99, 100, 149, 150, 199, 200)] == [
        False,
        True,
        True,
        False,
        False,
        False,
    ]
    open_ended = _key(3, 100, None)
    assert open_ended.valid_at(10**15)
    assert not open_ended.valid_at(99)


def test_key_for_picks_the_newest_valid_key() -> None:
    s = _verify(_set([A, B]))
    assert s.key_for(T0) == A
    assert s.key_for(T0 + 29 * DAY_MS) == B  # the overlap: the newer one
    assert s.key_for(T0 + 45 * DAY_MS) == B
    for at in (T0 - 1, T0 + 60 * DAY_MS):
        with pytest.raises(SealError) as info:
            s.key_for(at)
        assert info.value.reason is Reason.SEAL_KEY_MISSING
    gone = _verify(_set([A, dataclasses.replace(B, destroyed_at_ms=T0 + 29 * DAY_MS)]))
    assert gone.key_for(T0 + 29 * DAY_MS) == A


# --- the directory -------------------------------------------------------------------


def _th(version: int, keys: list[SealKey]) -> SignedDocument:
    th_keys = [dataclasses.replace(k, country="TH") for k in keys]
    return _set(th_keys, version=version, signer=TH_ROOT, country="TH")


def test_the_directory_keeps_the_newest_verified_set_per_country() -> None:
    c = _key(4, T0 + 59 * DAY_MS, T0 + 90 * DAY_MS)
    docs: list[bytes | dict[str, Any]] = [
        json.dumps(_set([A, B], version=2).to_json()).encode(),
        _set([A], version=1).to_json(),
        _set([A, B, c], version=3, signer=TH_ROOT).to_json(),  # forged: TH signs for KH
        _th(1, [A]).to_json(),
        b"not json",
        json.dumps({"signed": {"country": "KH"}}).encode(),
        _set([A, B], version=2).to_json(),  # re-published
    ]
    directory, refused = SealKeyDirectory.from_documents(docs, TRUST)
    assert directory.countries == {"KH", "TH"}
    kh = directory.set_for("KH")
    assert kh is not None
    assert kh.version == 2
    assert directory.key_for("KH", T0 + 45 * DAY_MS) == B
    assert directory.key_for("TH", T0).country == "TH"
    assert directory.key(B.key_id) == B
    assert sorted(e.reason for e in refused) == sorted(
        [Reason.KEY_ROLE_NOT_ALLOWED, Reason.TRUST_MALFORMED, Reason.TRUST_MALFORMED]
    )
    with pytest.raises(SealError) as info:
        directory.key_for("VN", T0)
    assert info.value.reason is Reason.SEAL_KEY_MISSING
    with pytest.raises(SealError) as info:
        directory.key_for("KH", T0 + 60 * DAY_MS)
    assert info.value.reason is Reason.SEAL_KEY_MISSING


def test_with_set_refuses_a_rollback() -> None:
    directory = SealKeyDirectory().with_set(_verify(_set([A], version=2)))
    with pytest.raises(TrustError) as info:
        directory.with_set(_verify(_set([A, B], version=1)))
    assert info.value.reason is Reason.TRUST_ROLLBACK
    newer = directory.with_set(_verify(_set([A, B], version=3)))
    assert newer.key_for("KH", T0 + 45 * DAY_MS) == B
    assert directory.key_for("KH", T0) == A  # the old directory is unchanged


# --- the keyring ---------------------------------------------------------------------


def _keyring(tmp_path: Path) -> Keyring:
    return Keyring.of(StateDir(tmp_path), "KH")


def test_rotate_writes_private_files_0600_and_closes_the_previous_window(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    assert ring.directory == tmp_path / "nodes" / "KH" / "seal-keys"
    assert ring.keys() == ()
    first = ring.rotate(T0)
    assert (first.not_before_ms, first.not_after_ms) == (T0, T0 + EPOCH_MS)
    second = ring.rotate(T0 + 28 * DAY_MS, 10 * DAY_MS)
    assert (second.not_before_ms, second.not_after_ms) == (T0 + 28 * DAY_MS, T0 + 38 * DAY_MS)
    old, new = ring.keys()
    assert old.key_id == first.key_id
    assert old.not_after_ms == T0 + 28 * DAY_MS + OVERLAP_MS
    assert new == second
    assert stat.S_IMODE(ring.directory.stat().st_mode) == 0o700
    for key in (first, second):
        path = ring.directory / f"{key.key_id}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"PRIVATE KEY" in path.read_bytes()
        private = ring.private(key.key_id)
        assert private.public_key().public_bytes_raw() == key.public
    # The signed set lists both, and its newest key is what producers seal to.
    s = _verify(ring.seal_key_set(1, T0 + 28 * DAY_MS).with_signature(KH_ROOT))
    assert s.key_for(T0 + 28 * DAY_MS + 1) == new
    assert s.key_for(T0 + 1) == old


def test_rotation_refuses_a_clock_that_went_back_and_a_short_epoch(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    ring.rotate(T0)
    with pytest.raises(OperationalError) as info:
        ring.rotate(T0 - 1)
    assert info.value.reason is Reason.CONFIG_INVALID
    with pytest.raises(OperationalError) as info:
        ring.rotate(T0 + DAY_MS, OVERLAP_MS)
    assert info.value.reason is Reason.CONFIG_INVALID
    assert len(ring.keys()) == 1


def test_a_readable_private_key_file_is_refused(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    key = ring.rotate(T0)
    path = ring.directory / f"{key.key_id}.key"
    path.chmod(0o644)
    with pytest.raises(OperationalError) as info:
        _keyring(tmp_path).private(key.key_id)
    assert info.value.reason is Reason.KEY_FILE_INSECURE
    path.chmod(0o600)
    assert _keyring(tmp_path).private(key.key_id)


def test_destroy_shreds_the_file_and_leaves_a_tombstone(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    old = ring.rotate(T0)
    ring.rotate(T0 + 30 * DAY_MS)
    path = ring.directory / f"{old.key_id}.key"
    before = path.read_bytes()
    witness = tmp_path / "hardlink"  # the same inode: shows the bytes were overwritten
    os.link(path, witness)
    reader = _keyring(tmp_path)  # another process, e.g. the node's SDK
    assert reader.private(old.key_id)  # loaded and cached

    gone = ring.destroy(old.key_id, T0 + 31 * DAY_MS + OVERLAP_MS)
    assert gone.destroyed_at_ms == T0 + 31 * DAY_MS + OVERLAP_MS
    assert not path.exists()
    assert len(witness.read_bytes()) == len(before)
    assert witness.read_bytes() != before
    assert b"PRIVATE KEY" not in witness.read_bytes()
    for who in (ring, reader, _keyring(tmp_path)):
        with pytest.raises(SealError) as info:
            who.private(old.key_id)
        assert info.value.reason is Reason.KEY_DESTROYED
    with pytest.raises(SealError) as info:
        ring.private("ab" * 32)  # never held: not the same thing
    assert info.value.reason is Reason.SEAL_KEY_MISSING
    # Idempotent, and the tombstone is published in the next set.
    assert ring.destroy(old.key_id, T0 + 40 * DAY_MS) == gone
    s = _verify(ring.seal_key_set(1, T0 + 40 * DAY_MS).with_signature(KH_ROOT))
    assert s.key(old.key_id) == gone


def test_destroy_finishes_after_a_crash_between_tombstone_and_shredding(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    old = ring.rotate(T0)
    ring.rotate(T0 + 30 * DAY_MS)
    path = ring.directory / f"{old.key_id}.key"
    saved = path.read_bytes()
    ring.destroy(old.key_id, T0 + 40 * DAY_MS)
    path.write_bytes(saved)  # as if the process died after writing the tombstone
    path.chmod(0o600)
    with pytest.raises(SealError) as info:
        _keyring(tmp_path).private(old.key_id)
    assert info.value.reason is Reason.KEY_DESTROYED
    ring.destroy(old.key_id, T0 + 41 * DAY_MS)
    assert not path.exists()


def test_a_key_still_sealing_cannot_be_destroyed(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    current = ring.rotate(T0)
    with pytest.raises(OperationalError) as info:
        ring.destroy(current.key_id, T0 + DAY_MS)
    assert info.value.reason is Reason.CONFIG_INVALID
    assert "rotate first" in info.value.detail
    assert ring.private(current.key_id)
    with pytest.raises(SealError) as missing:
        ring.destroy("cd" * 32, T0)
    assert missing.value.reason is Reason.SEAL_KEY_MISSING


def test_a_lost_key_file_is_missing_not_destroyed(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    key = ring.rotate(T0)
    (ring.directory / f"{key.key_id}.key").unlink()
    with pytest.raises(SealError) as info:
        _keyring(tmp_path).private(key.key_id)
    assert info.value.reason is Reason.SEAL_KEY_MISSING


def test_a_swapped_or_foreign_key_file_is_refused(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    a, b = ring.rotate(T0), ring.rotate(T0 + DAY_MS)
    (ring.directory / f"{a.key_id}.key").write_bytes(
        (ring.directory / f"{b.key_id}.key").read_bytes()
    )
    with pytest.raises(OperationalError) as info:
        _keyring(tmp_path).private(a.key_id)
    assert info.value.reason is Reason.CONFIG_INVALID
    (ring.directory / f"{b.key_id}.key").write_bytes(
        KH_ROOT.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(OperationalError) as info:
        _keyring(tmp_path).private(b.key_id)
    assert info.value.reason is Reason.CONFIG_INVALID
    assert "X25519" in info.value.detail


def test_set_versions_built_by_a_keyring_only_go_up(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    with pytest.raises(TrustError) as info:
        ring.seal_key_set(1, T0)  # no key yet
    assert info.value.reason is Reason.TRUST_MALFORMED
    ring.rotate(T0)
    ring.seal_key_set(1, T0)
    assert ring.version == 1
    with pytest.raises(TrustError) as info:
        ring.seal_key_set(1, T0)
    assert info.value.reason is Reason.TRUST_ROLLBACK
    assert _keyring(tmp_path).seal_key_set(5, T0).signed["version"] == 5


def test_a_malformed_ledger_is_refused(tmp_path: Path) -> None:
    ring = _keyring(tmp_path)
    ring.rotate(T0)
    ledger = ring.directory / "epochs.json"
    obj = json.loads(ledger.read_text())
    obj["keys"][0]["key_id"] = "00" * 32
    ledger.write_text(json.dumps(obj))
    with pytest.raises(OperationalError) as info:
        _keyring(tmp_path).keys()
    assert info.value.reason is Reason.CONFIG_INVALID
    obj["country"] = "TH"
    ledger.write_text(json.dumps(obj))
    with pytest.raises(OperationalError):
        _keyring(tmp_path).keys()
    with pytest.raises(OperationalError) as bad:
        Keyring(tmp_path, "kh")
    assert bad.value.reason is Reason.CONFIG_INVALID


# --- retention: which keys fall due ------------------------------------------------------


def _deploy_agreements() -> list[Agreement]:
    return [load_agreement_file(f).agreement for f in sorted(AGREEMENTS.glob("*.yaml"))]


def _ms(text: str) -> int:
    from hub.policy.agreement import parse_time_ms

    return parse_time_ms(text, "test")


def test_due_dates_follow_the_longest_retention_to_the_country_in_force_then() -> None:
    agreements = _deploy_agreements()
    # 2025: only th-kh-protection v1 (since 2025-01-01, TH<->KH, 1095 days) is in force.
    k2025 = _key(5, _ms("2025-03-01T00:00:00Z"), _ms("2025-04-01T00:00:00Z"))
    when = retention_due(k2025, agreements)
    assert when is not None
    assert (when.retention_days, when.agreement) == (1095, "TH-KH-protection@1")
    assert when.due_at_ms == _ms("2025-04-01T00:00:00Z") + 1095 * DAY_MS
    # 2026: the COMMIT baseline (any -> any, 1825 days) is in force too, and longer.
    k2026 = dataclasses.replace(k2025, not_before_ms=T0, not_after_ms=T0 + 30 * DAY_MS)
    when = retention_due(k2026, agreements)
    assert when is not None
    assert (when.retention_days, when.agreement) == (1825, "COMMIT-baseline@1")
    # A window that straddles the baseline's start counts it.
    straddle = dataclasses.replace(k2025, not_after_ms=T0 + 1)
    assert retention_due(straddle, agreements) is not None
    assert retention_due(straddle, agreements).retention_days == 1825  # type: ignore[union-attr]
    # 2032: th-kh v1 has no end, so KH still has 1095; LA has no agreement left: never guessed.
    k2032 = dataclasses.replace(
        k2025, not_before_ms=_ms("2032-01-01T00:00:00Z"), not_after_ms=_ms("2032-02-01T00:00:00Z")
    )
    assert retention_due(k2032, agreements).retention_days == 1095  # type: ignore[union-attr]
    assert retention_due(dataclasses.replace(k2032, country="LA"), agreements) is None
    # An open-ended key is never due.
    assert retention_due(dataclasses.replace(k2026, not_after_ms=None), agreements) is None


def test_due_lists_only_undestroyed_keys_whose_time_has_come() -> None:
    agreements = _deploy_agreements()
    k1 = _key(6, _ms("2025-03-01T00:00:00Z"), _ms("2025-04-01T00:00:00Z"))
    k2 = _key(7, _ms("2025-04-01T00:00:00Z"), _ms("2025-05-01T00:00:00Z"))
    k3 = dataclasses.replace(k2, key_id="ef" * 32, destroyed_at_ms=_ms("2025-06-01T00:00:00Z"))
    due1 = _ms("2025-04-01T00:00:00Z") + 1095 * DAY_MS
    assert due([k1, k2, k3], agreements, due1 - 1) == ()
    found = due([k2, k1, k3], agreements, due1)
    assert [d.key for d in found] == [k1]
    assert found[0].due_at_ms == due1
    assert "TH-KH-protection@1" in found[0].reason
    assert "1095 days" in found[0].reason
    later = due([k1, k2, k3], agreements, due1 + 31 * DAY_MS)
    assert [d.key for d in later] == [k1, k2]


def _flow(sender: str, recipient: str, days: int) -> Flow:
    return Flow(
        sender,
        recipient,
        "referral",
        frozenset({"repatriation"}),
        frozenset({"H2"}),
        frozenset(),
        None,
        None,
        days,
    )


def test_only_flows_addressed_to_the_country_count() -> None:
    agreement = Agreement(
        id="X",
        version=1,
        title="t",
        parties=frozenset({"KH", "TH"}),
        effective_from_ms=0,
        effective_until_ms=None,
        flows=(_flow("KH", "TH", 9000), _flow("TH", "KH", 30), _flow("KH", "any", 8000)),
        example=True,
    )
    kh = _key(8, T0, T0 + DAY_MS)
    when = retention_due(kh, [agreement])
    assert when is not None
    assert when.retention_days == 30  # KH's own outgoing flows keep nothing at KH
    th = dataclasses.replace(kh, country="TH")
    assert retention_due(th, [agreement]).retention_days == 9000  # type: ignore[union-attr]
    any_to_any = dataclasses.replace(agreement, flows=(_flow("any", "any", 77),))
    assert retention_due(kh, [any_to_any]).retention_days == 77  # type: ignore[union-attr]
    not_party = dataclasses.replace(kh, country="VN")
    assert retention_due(not_party, [agreement, any_to_any]) is None


def test_lane_retention_is_the_longest_flow_plus_one_epoch() -> None:
    from connectors.cli.agreements import load_directory
    from hub.ops.retention import lane_retention
    from hub.sealkeys import EPOCH_MS, OVERLAP_MS, lane_retention_ms
    from hub.topics import Topics
    from tests.support.examples import AGREEMENTS_DIR

    agreements = [e.agreement for e in load_directory(AGREEMENTS_DIR).entries]
    longest = max(f.retention_days for a in agreements if "KH" in a.parties for f in a.flows)
    assert lane_retention_ms(agreements, "KH") == longest * 86_400_000 + EPOCH_MS + OVERLAP_MS
    assert lane_retention_ms(agreements, "ZZ") is None  # no flow: nothing is sent
    t = Topics("tu")
    plan = lane_retention(agreements, t, ["KH", "ZZ"])
    assert set(plan) == {t.outbox("KH"), t.inbox("KH"), t.rejections("KH")}


def test_a_registry_record_with_a_member_name_twice_is_refused() -> None:
    """The registry's bytes are read strictly: the set is refused, not filed as KH's."""
    good = json.dumps(_set([A]).to_json(), separators=(",", ":")).encode()
    doubled = good.replace(b'"country":"KH"', b'"country":"TH","country":"KH"')
    directory, refused = SealKeyDirectory.from_documents([doubled], TRUST)
    assert directory.countries == frozenset()
    assert [e.reason for e in refused] == [Reason.TRUST_MALFORMED]
    with pytest.raises(TrustError) as info:
        SealKeySet.from_signed(doubled, TRUST)
    assert info.value.reason is Reason.TRUST_MALFORMED
    assert SealKeySet.from_signed(good, TRUST).country == "KH"


def test_issue_times_only_go_up() -> None:
    v1 = _verify(_set([A], issued=T0 + DAY_MS))
    with pytest.raises(TrustError) as info:
        _verify(_set([A, B], version=2, issued=T0), previous=v1)
    assert info.value.reason is Reason.TRUST_ROLLBACK
