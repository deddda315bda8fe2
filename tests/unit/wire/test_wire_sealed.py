"""Sealed disclosures (protocol v2): the hub routes what it cannot read; recipients check."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import DisclosureError, Reason, SealError, TrmError, WireError
from hub.wire import (
    POLICY_ATTRIBUTES,
    SEALED_VERSION,
    Envelope,
    Header,
    KeyWrap,
    SealedDisclosure,
    Signature,
    attest,
    open_envelope,
    pae,
    payload_fields,
    payload_record_bytes,
    redact,
    require_every_wrap,
    unseal,
    verification_result,
    verify,
)
from hub.wire.codec import decode_exact, parsed, payload_codec
from hub.wire.envelope import Disclosure
from hub.wire.sealing import seal_disclosures
from hub.wire.vocab import HEADER_PAYLOAD_TYPE
from tests.support.wire import (
    HUB_KEY,
    KEYS,
    REFERRAL,
    SEAL_KEYS,
    TH_KEY,
    counter_rng,
    private_keys,
    sealed,
    sealed_v2,
)

CANARIES = ("សុខ ស្រីពៅ", "Sok Sreypov", "2009-04", "TH-2026-0042")


def _delivered(env: Envelope, recipient: str, keep: list[str]) -> Envelope:
    copy = redact(env, keep, recipient=recipient)
    return attest(
        copy,
        recipient=recipient,
        agreement_id="A",
        agreement_version=1,
        fields=copy.labels,
        leaf_ref="decision:x",
        hub_key=HUB_KEY,
        attested_at_ms=copy.header.created_at_ms,
    )


def test_only_policy_attributes_are_in_the_clear() -> None:
    env = sealed_v2(recipients=("KH", "LA"))
    assert env.header.spec_version == SEALED_VERSION
    assert {d.field for d in env.disclosures} == POLICY_ATTRIBUTES
    filled = {k for k, v in REFERRAL.items() if v is not None}
    assert {s.field for s in env.sealed} == filled - POLICY_ATTRIBUTES
    assert sorted(w.recipient for w in env.key_wraps) == ["KH", "LA"]
    raw = env.to_bytes()
    for canary in CANARIES:
        assert canary.encode() not in raw
    # Every part is listed in the signed header; decoys pad the count.
    listed = set(env.header.disclosure_digests)
    parts = [d.digest for d in env.disclosures] + [s.digest for s in env.sealed]
    assert {*parts, *(w.digest for w in env.key_wraps)} <= listed
    assert len(listed) == len(payload_fields("referral")) + 2


def test_the_hub_verifies_without_keys_and_a_recipient_opens_everything() -> None:
    env = Envelope.from_bytes(sealed_v2().to_bytes())
    event = verify(env, KEYS)
    require_every_wrap(env)
    assert event.sealed == {s.field for s in env.sealed}
    assert set(event.fields) == POLICY_ATTRIBUTES  # all the hub can read
    assert event.fields["is_child"] is True
    opened = unseal(event, recipient="KH", private_key=private_keys("KH"))
    assert dict(opened.fields) == {k: v for k, v in REFERRAL.items() if v is not None}
    assert opened.sealed == frozenset()
    # The payload record is the one a v1 event of the same payload gives.
    record = decode_exact(payload_codec("referral").schema, payload_record_bytes(opened))
    assert {k: v for k, v in record.items() if v is not None} == {
        k: v for k, v in REFERRAL.items() if v is not None
    }


def test_a_delivered_copy_carries_only_its_recipients_key_wrap() -> None:
    env = sealed_v2(recipients=("KH", "LA"))
    keep = ["is_child", "consent", "sex", "case_number"]
    kh = _delivered(env, "KH", keep)
    assert [w.recipient for w in kh.key_wraps] == ["KH"]
    assert sorted(kh.labels) == sorted(keep)
    got = open_envelope(
        kh.to_bytes(),
        KEYS,
        require_attestation=True,
        recipient="KH",
        private_key=private_keys("KH"),
    )
    assert set(got.event.fields) == set(keep)
    assert got.event.fields["sex"] == "FEMALE"
    assert got.event.withheld == frozenset(payload_fields("referral")) - set(keep)
    # LA's key cannot open KH's copy: there is no wrap for it.
    with pytest.raises(SealError) as err:
        open_envelope(kh.to_bytes(), KEYS, recipient="LA", private_key=private_keys("LA"))
    assert err.value.reason is Reason.SEALING_INVALID


def test_a_wrong_private_key_cannot_open() -> None:
    env = sealed_v2()
    event = verify(env, KEYS)
    wrong = X25519PrivateKey.generate()
    with pytest.raises(SealError) as err:
        unseal(event, recipient="KH", private_key=lambda _key_id: wrong)
    assert err.value.reason is Reason.SEAL_MISMATCH


def test_a_destroyed_key_says_so() -> None:
    def destroyed(key_id: str) -> X25519PrivateKey:
        raise SealError(Reason.KEY_DESTROYED, f"seal key {key_id[:16]}... was destroyed")

    with pytest.raises(SealError) as err:
        unseal(verify(sealed_v2(), KEYS), recipient="KH", private_key=destroyed)
    assert err.value.reason is Reason.KEY_DESTROYED


def _with_sealed_raw(env: Envelope, index: int, raw: bytes) -> Envelope:
    sealed_parts = list(env.sealed)
    sealed_parts[index] = SealedDisclosure.from_bytes(raw)
    return Envelope.assemble(
        env.header_bytes,
        env.signature,
        env.disclosures,
        sealed=sealed_parts,
        key_wraps=env.key_wraps,
    )


def test_a_tampered_ciphertext_is_refused_at_ingest() -> None:
    env = sealed_v2()
    raw = bytearray(env.sealed[0].raw)
    raw[-1] ^= 1  # the last byte of the tag
    tampered = Envelope.from_bytes(_with_sealed_raw(env, 0, bytes(raw)).to_bytes())
    with pytest.raises(DisclosureError) as err:
        verify(tampered, KEYS)
    assert err.value.reason is Reason.UNREFERENCED_DISCLOSURE


def _forge(
    disclosures: list[Disclosure],
    sealed_parts: list[SealedDisclosure],
    wraps: list[KeyWrap],
    *,
    event_id: str,
    spec_version: int = SEALED_VERSION,
) -> Envelope:
    """A validly signed v2 envelope of exactly these parts (a lying producer)."""
    base = sealed_v2().header
    digests = sorted(
        [d.digest for d in disclosures]
        + [s.digest for s in sealed_parts]
        + [w.digest for w in wraps]
    )
    header = dataclasses.replace(
        base, event_id=event_id, spec_version=spec_version, disclosure_digests=tuple(digests)
    )
    header_bytes = header.encode()
    sig = Signature(
        sealed_v2().signature.key_id, TH_KEY.sign(pae(HEADER_PAYLOAD_TYPE, header_bytes))
    )
    return Envelope.assemble(
        header_bytes, sig, disclosures, sealed=sealed_parts, key_wraps=wraps, header=header
    )


def _plain(name: str, value: Any) -> Disclosure:
    return Disclosure.build(
        b"\x05" * 16, name, payload_codec("referral").codecs[name].encode(value)
    )


EVENT_ID = "019b7580-0000-7000-8000-000000000001"


def test_a_producer_lying_inside_the_ciphertext_is_caught_by_the_recipient() -> None:
    rng = counter_rng("liar")
    truth = _plain("sex", "FEMALE")
    other = _plain("sex", "MALE")
    (s,), wraps = seal_disclosures(
        [other], event_id=EVENT_ID, seal_to={"KH": SEAL_KEYS["KH"]}, rng=rng
    )
    # Commit to one plaintext, encrypt another: the hub cannot tell.
    lying = SealedDisclosure.build(s.field, truth.digest, s.nonce, s.ciphertext)
    env = _forge([], [lying], list(wraps), event_id=EVENT_ID)
    event = verify(Envelope.from_bytes(env.to_bytes()), KEYS)
    with pytest.raises(SealError) as err:
        unseal(event, recipient="KH", private_key=private_keys("KH"))
    assert err.value.reason is Reason.SEAL_MISMATCH
    assert "sex" in err.value.detail
    assert "MALE" not in err.value.detail


def test_a_producer_mislabelling_a_field_is_caught_by_the_recipient() -> None:
    names = _plain("names", [{"full_name": "X", "lang": "en", "given": None, "family": None}])
    (s,), wraps = seal_disclosures(
        [names], event_id=EVENT_ID, seal_to={"KH": SEAL_KEYS["KH"]}, rng=counter_rng("label")
    )
    # Labelled "sex" (which the agreement may allow) but holding the names.
    relabelled = SealedDisclosure.build("sex", s.commitment, s.nonce, s.ciphertext)
    env = _forge([], [relabelled], list(wraps), event_id=EVENT_ID)
    event = verify(Envelope.from_bytes(env.to_bytes()), KEYS)
    with pytest.raises(SealError) as err:
        unseal(event, recipient="KH", private_key=private_keys("KH"))
    assert err.value.reason is Reason.SEAL_MISMATCH  # the label is bound as associated data


def test_sealing_rules_at_ingest() -> None:
    rng = counter_rng("rules")
    sex = _plain("sex", "FEMALE")
    child = _plain("is_child", True)
    (s_sex,), wraps = seal_disclosures(
        [sex], event_id=EVENT_ID, seal_to={"KH": SEAL_KEYS["KH"]}, rng=rng
    )
    # A non-policy field in the clear.
    env = _forge([sex], [], list(wraps), event_id=EVENT_ID)
    with pytest.raises(SealError) as err:
        verify(Envelope.from_bytes(env.to_bytes()), KEYS)
    assert err.value.reason is Reason.SEALING_INVALID
    # A policy attribute sealed.
    (s_child,), wraps2 = seal_disclosures(
        [child], event_id=EVENT_ID, seal_to={"KH": SEAL_KEYS["KH"]}, rng=rng
    )
    env = _forge([], [s_child], list(wraps2), event_id=EVENT_ID)
    with pytest.raises(SealError) as err:
        verify(Envelope.from_bytes(env.to_bytes()), KEYS)
    assert err.value.reason is Reason.SEALING_INVALID
    # No key wrap for an addressed recipient.
    env = _forge([child], [s_sex], [], event_id=EVENT_ID)
    checked = Envelope.from_bytes(env.to_bytes())
    verify(checked, KEYS)  # a copy may lack wraps ...
    with pytest.raises(SealError) as err:
        require_every_wrap(checked)  # ... a submission may not
    assert err.value.reason is Reason.SEALING_INVALID
    # A key wrap the header does not list.
    unlisted = Envelope.assemble(
        env.header_bytes, env.signature, env.disclosures, sealed=env.sealed, key_wraps=wraps
    )
    with pytest.raises(SealError) as err:
        verify(Envelope.from_bytes(unlisted.to_bytes()), KEYS)
    assert err.value.reason is Reason.SEALING_INVALID


def test_v1_and_v2_frames_are_both_read_and_never_mixed() -> None:
    v1, v2 = sealed(), sealed_v2()
    assert v1.to_bytes()[2:10] != v2.to_bytes()[2:10]
    assert Envelope.from_bytes(v1.to_bytes()).header.spec_version == 1
    assert Envelope.from_bytes(v2.to_bytes()).is_sealed
    # A v1 envelope cannot carry sealed parts.
    with pytest.raises(SealError):
        Envelope.assemble(v1.header_bytes, v1.signature, [], sealed=v2.sealed)
    # A v2 header in a v1 frame (or the reverse) is refused.
    body = v2.to_bytes()[10:]
    rec = decode_exact(parsed("envelope"), body)
    from hub.wire.codec import encode, frame

    v1_frame = frame(
        "envelope@1",
        encode(
            parsed("envelope@1"),
            {k: rec[k] for k in ("header", "signature", "disclosures", "attestations")},
        ),
    )
    with pytest.raises(WireError) as err:
        Envelope.from_bytes(v1_frame)
    assert err.value.reason is Reason.UNSUPPORTED_VERSION


def test_sizes_are_checked_before_anything_is_decrypted() -> None:
    env = sealed_v2()
    s = env.sealed[0]
    short = SealedDisclosure.build(s.field, s.commitment, s.nonce, s.ciphertext[:-1])
    with pytest.raises(TrmError) as err:
        SealedDisclosure.from_bytes(short.raw)
    assert err.value.reason is Reason.SEALING_INVALID
    w = env.key_wraps[0]
    bad = KeyWrap.build(w.recipient, w.key_id, w.enc, w.wrapped + b"\x00")
    with pytest.raises(SealError) as err2:
        KeyWrap.from_bytes(bad.raw)
    assert err2.value.reason is Reason.SEALING_INVALID
    # Every ciphertext is a multiple of the padding: lengths say little.
    assert all((len(x.ciphertext) - 16) % 64 == 0 for x in env.sealed)


def test_header_v2_keeps_the_v1_schema() -> None:
    env = sealed_v2()
    assert env.header_bytes[2:10] == sealed().header_bytes[2:10]
    assert Header.from_bytes(env.header_bytes).spec_version == SEALED_VERSION


def test_an_auditor_sees_every_problem_of_a_sealed_event() -> None:
    env = sealed_v2()
    parts = list(env.sealed)
    for i in range(3):
        raw = bytearray(parts[i].raw)
        raw[-1] ^= 1
        parts[i] = SealedDisclosure.from_bytes(bytes(raw))
    broken = Envelope.assemble(
        env.header_bytes, env.signature, env.disclosures, sealed=parts, key_wraps=env.key_wraps
    )
    result = verification_result(Envelope.from_bytes(broken.to_bytes()), KEYS)
    assert [f.reason for f in result.findings] == [Reason.UNREFERENCED_DISCLOSURE] * 3
    assert [f.disclosure for f in result.findings] == [0, 1, 2]
    intact = {s.field for s in env.sealed[3:]}
    assert result.disclosed == POLICY_ATTRIBUTES | intact


def _outcome(parse: Any, raw: bytes) -> Any:
    try:
        return parse(raw)
    except TrmError as exc:
        return exc.reason


def test_the_one_pass_parsers_agree_with_the_general_ones() -> None:
    from hub.wire.envelope import parse_key_wraps, parse_sealed

    env = sealed_v2(recipients=("KH", "LA"))
    raws = [s.raw for s in env.sealed]
    assert parse_sealed(raws) == tuple(SealedDisclosure.from_bytes(r) for r in raws)
    wraps = [w.raw for w in env.key_wraps]
    assert parse_key_wraps(wraps) == tuple(KeyWrap.from_bytes(r) for r in wraps)
    # Every truncation and every single-byte change gives the same value or refusal.
    for raw, fast, slow in (
        (raws[0], parse_sealed, SealedDisclosure.from_bytes),
        (wraps[0], parse_key_wraps, KeyWrap.from_bytes),
    ):
        variants = [raw[:i] for i in range(len(raw))]
        variants += [raw[:i] + bytes([raw[i] ^ 0x81]) + raw[i + 1 :] for i in range(len(raw))]
        for v in variants:
            got = _outcome(lambda b, f=fast: f([b])[0], v)
            assert got == _outcome(slow, v), v.hex()
