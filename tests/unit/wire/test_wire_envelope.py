"""Envelopes: seal, parse, verify, redact, attest — and every refusal with its reason."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from hub.errors import DeliveryError, DisclosureError, Reason, SignatureError, WireError
from hub.keys import KeyRole, key_id_of, raw_public
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    Disclosure,
    Envelope,
    EventType,
    Header,
    Signature,
    attest,
    ce_time,
    check_cloudevents,
    cloudevents_headers,
    pae,
    payload_fields,
    redact,
    verify,
    verify_attestation,
)
from tests.support.wire import (
    HUB_KEY,
    KEYS,
    KH_KEY,
    REFERRAL,
    T0,
    TH_KEY,
    StaticKeys,
    public_of,
    sealed,
)


def forge(
    disclosures: list[Disclosure],
    *,
    digests: list[bytes] | None = None,
    key: Any = TH_KEY,
    **changes: Any,
) -> Envelope:
    """Sign a hand-made header (to build envelopes that break a rule)."""
    base = sealed().header
    listed = sorted(digests if digests is not None else [d.digest for d in disclosures])
    header = dataclasses.replace(base, disclosure_digests=tuple(listed), **changes)
    header_bytes = header.encode()
    sig = Signature(
        key_id_of(raw_public(key.public_key())), key.sign(pae(HEADER_PAYLOAD_TYPE, header_bytes))
    )
    return Envelope.assemble(header_bytes, sig, disclosures)


def reparse(env: Envelope) -> Envelope:
    return Envelope.from_bytes(env.to_bytes())


def test_sealed_envelope_round_trips_and_verifies() -> None:
    env = sealed()
    parsed = Envelope.from_bytes(env.to_bytes())
    assert parsed.raw == env.raw
    assert parsed.header == env.header
    event = verify(parsed, KEYS)
    assert dict(event.fields) == {k: v for k, v in REFERRAL.items() if v is not None}
    assert event.disclosed == frozenset(REFERRAL)
    assert event.withheld == frozenset(payload_fields("referral")) - frozenset(REFERRAL)
    assert event.header.producer == "TH"
    assert event.key_id == env.signature.key_id


def test_header_carries_what_was_sealed() -> None:
    env = sealed(correlation_id="0199c82c-c000-76ad-b388-86efb8b03e31", sequence=9)
    h = env.header
    assert h.event_type is EventType.REFERRAL
    assert h.payload_schema == schemas.sha256("referral")
    assert h.sequence == 9
    assert h.created_at_ms == T0
    assert h.recipients == ("KH",)
    assert h.event_id[14] == "7"
    assert int(h.event_id.replace("-", "")[:12], 16) == T0
    assert env.event_digest == hashlib.sha256(env.header_bytes).digest()


def test_digests_are_padded_to_the_field_count_with_decoys() -> None:
    small = sealed({"is_child": False})
    full = sealed()
    assert len(small.header.disclosure_digests) == len(payload_fields("referral"))
    assert len(full.header.disclosure_digests) == len(payload_fields("referral"))
    assert len(small.disclosures) == 1
    assert list(small.header.disclosure_digests) == sorted(small.header.disclosure_digests)
    assert len(sealed({"is_child": False}, decoys=3).header.disclosure_digests) == 4


def test_salts_differ_per_field_and_per_event() -> None:
    a = sealed(rng_label="a")
    b = sealed(rng_label="b")
    salts = [d.salt for d in a.disclosures]
    assert len(set(salts)) == len(salts)
    assert not set(salts) & {d.salt for d in b.disclosures}


@pytest.mark.parametrize(
    "keep", [[], ["is_child"], ["consent", "names", "is_child"], list(REFERRAL)]
)
def test_redacted_envelope_verifies_with_only_kept_fields(keep: list[str]) -> None:
    env = sealed()
    red = reparse(redact(env, keep))
    assert red.header_bytes == env.header_bytes
    assert red.signature == env.signature
    event = verify(red, KEYS)
    assert event.disclosed == frozenset(keep)
    assert set(event.withheld) >= set(REFERRAL) - set(keep)
    assert red.event_digest == env.event_digest


def test_seal_refuses_bad_payload_naming_field_without_value() -> None:
    bad = dict(REFERRAL, consent={"status": "MAYBE-secret", "scope": []})
    with pytest.raises(WireError) as err:
        sealed(bad)
    assert err.value.reason is Reason.INVALID_PAYLOAD
    assert "'consent'" in err.value.detail
    assert "MAYBE-secret" not in err.value.detail


def test_seal_refuses_unknown_field_and_unknown_type() -> None:
    with pytest.raises(WireError) as err:
        sealed(dict(REFERRAL, favourite_colour="red"))
    assert err.value.reason is Reason.INVALID_PAYLOAD
    assert "favourite_colour" in err.value.detail
    with pytest.raises(WireError) as err2:
        sealed(event_type="gossip")
    assert err2.value.reason is Reason.UNKNOWN_EVENT_TYPE


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"purpose": "curiosity"}, Reason.INVALID_HEADER),
        ({"handling": "H9"}, Reason.INVALID_HEADER),
        ({"recipients": ()}, Reason.INVALID_HEADER),
        ({"recipients": ("TH",)}, Reason.INVALID_HEADER),
        ({"case_key": "has space"}, Reason.INVALID_HEADER),
        ({"producer": "Thailand"}, Reason.INVALID_HEADER),
        ({"event_id": "not-a-uuid"}, Reason.INVALID_HEADER),
        # a pattern's end is the string's end, not a newline before it
        ({"producer": "TH\n"}, Reason.INVALID_HEADER),
        ({"recipients": ("KH\n",)}, Reason.INVALID_HEADER),
        ({"case_key": "case-1\n"}, Reason.INVALID_HEADER),
        ({"event_id": "01890a5d-ac96-774b-bcce-b302099a8057\n"}, Reason.INVALID_HEADER),
    ],
)
def test_seal_refuses_bad_header_arguments(changes: dict[str, Any], reason: Reason) -> None:
    with pytest.raises(WireError) as err:
        sealed(**changes)
    assert err.value.reason is reason


def test_a_key_id_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(SignatureError) as err:
        Signature("ab" * 32 + "\n", bytes(64))
    assert err.value.reason is Reason.UNKNOWN_KEY


def test_wrong_signer_and_tampered_signature_are_refused() -> None:
    with pytest.raises(SignatureError) as err:
        verify(sealed(key=KH_KEY), KEYS)  # KH's key signing as TH
    assert err.value.reason is Reason.KEY_ROLE_NOT_ALLOWED
    env = sealed()
    sig = bytearray(env.signature.sig)
    sig[5] ^= 1
    bad = Envelope.assemble(
        env.header_bytes, Signature(env.signature.key_id, bytes(sig)), env.disclosures
    )
    with pytest.raises(SignatureError) as err2:
        verify(reparse(bad), KEYS)
    assert err2.value.reason is Reason.BAD_SIGNATURE


def test_unknown_revoked_and_expired_keys_are_refused() -> None:
    env = sealed()
    with pytest.raises(SignatureError) as err:
        verify(env, StaticKeys([]))
    assert err.value.reason is Reason.UNKNOWN_KEY
    revoked = StaticKeys([public_of(TH_KEY, "TH", frozenset({KeyRole.PRODUCER}), revoked_at_ms=T0)])
    with pytest.raises(SignatureError) as err2:
        verify(env, revoked)
    assert err2.value.reason is Reason.KEY_REVOKED
    later = StaticKeys(
        [public_of(TH_KEY, "TH", frozenset({KeyRole.PRODUCER}), not_before_ms=T0 + 1)]
    )
    with pytest.raises(SignatureError) as err3:
        verify(env, later)
    assert err3.value.reason is Reason.KEY_NOT_VALID_AT_TIME
    root_only = StaticKeys([public_of(TH_KEY, "TH", frozenset({KeyRole.ROOT}))])
    with pytest.raises(SignatureError) as err4:
        verify(env, root_only)
    assert err4.value.reason is Reason.KEY_ROLE_NOT_ALLOWED
    # Revoked after the event was created: the event still verifies.
    fine = StaticKeys(
        [public_of(TH_KEY, "TH", frozenset({KeyRole.PRODUCER}), revoked_at_ms=T0 + 1)]
    )
    assert verify(env, fine).header.producer == "TH"


def _disclosure(name: str, value: Any, salt: bytes = b"\x07" * 16) -> Disclosure:
    from hub.wire.codec import payload_codec

    return Disclosure.build(salt, name, payload_codec("referral").codecs[name].encode(value))


def test_disclosure_rules() -> None:
    env = sealed()
    d0 = env.disclosures[0]
    # The same disclosure twice.
    twice = Envelope.assemble(env.header_bytes, env.signature, [d0, d0])
    with pytest.raises(DisclosureError) as err:
        verify(reparse(twice), KEYS)
    assert err.value.reason is Reason.DUPLICATE_DIGEST
    # A disclosure from another event.
    other = sealed(rng_label="other").disclosures[0]
    mixed = Envelope.assemble(env.header_bytes, env.signature, [other])
    with pytest.raises(DisclosureError) as err2:
        verify(reparse(mixed), KEYS)
    assert err2.value.reason is Reason.UNREFERENCED_DISCLOSURE
    # Two disclosures of one field, both listed.
    a = _disclosure("is_child", True, b"\x01" * 16)
    b = _disclosure("is_child", False, b"\x02" * 16)
    with pytest.raises(DisclosureError) as err3:
        verify(reparse(forge([a, b])), KEYS)
    assert err3.value.reason is Reason.DUPLICATE_FIELD
    # A field the schema does not have.
    u = Disclosure.build(b"\x03" * 16, "favourite_colour", b"\x02\x06red")
    with pytest.raises(DisclosureError) as err4:
        verify(reparse(forge([u])), KEYS)
    assert err4.value.reason is Reason.UNKNOWN_FIELD
    # A value that is not an exact encoding of the field's type.
    w = Disclosure.build(b"\x04" * 16, "is_child", b"\x02\x01\x00")
    with pytest.raises(DisclosureError) as err5:
        verify(reparse(forge([w])), KEYS)
    assert err5.value.reason is Reason.FIELD_TYPE_MISMATCH
    w2 = Disclosure.build(b"\x05" * 16, "consent", b"\x02\x09")
    with pytest.raises(DisclosureError) as err6:
        verify(reparse(forge([w2])), KEYS)
    assert err6.value.reason is Reason.FIELD_TYPE_MISMATCH


def test_header_with_duplicate_or_unsorted_digests_is_refused() -> None:
    d = _disclosure("is_child", True)
    with pytest.raises(WireError) as err:
        forge([d], digests=[d.digest, d.digest])
    assert err.value.reason is Reason.DUPLICATE_DIGEST


def test_structural_refusals() -> None:
    raw = sealed().to_bytes()
    cases: dict[Reason, Callable[[], Envelope]] = {
        Reason.OVERSIZED: lambda: Envelope.from_bytes(raw, max_size=len(raw) - 1),
        Reason.MALFORMED_FRAME: lambda: Envelope.from_bytes(b"\xc3\x02" + raw[2:]),
        Reason.UNKNOWN_SCHEMA: lambda: Envelope.from_bytes(raw[:2] + bytes(8) + raw[10:]),
        Reason.MALFORMED_AVRO: lambda: Envelope.from_bytes(raw[:-5]),
    }
    for reason, call in cases.items():
        with pytest.raises(WireError) as err:
            call()
        assert err.value.reason is reason, reason
    with pytest.raises(WireError) as err2:
        Envelope.from_bytes(raw + b"\x00")
    assert err2.value.reason is Reason.MALFORMED_AVRO
    with pytest.raises(WireError) as err3:
        Envelope.from_bytes(b"")
    assert err3.value.reason is Reason.MALFORMED_FRAME


def test_header_from_bytes_checks_schema_of_payload() -> None:
    env = sealed()
    h = env.header
    with pytest.raises(WireError) as err:
        dataclasses.replace(h, payload_schema=bytes(32))
    assert err.value.reason is Reason.UNKNOWN_SCHEMA
    with pytest.raises(WireError) as err2:
        dataclasses.replace(h, event_type=EventType.TRAFFICKER_ALERT)
    assert err2.value.reason is Reason.UNKNOWN_SCHEMA
    with pytest.raises(WireError) as err3:
        dataclasses.replace(h, spec_version=3)
    assert err3.value.reason is Reason.UNSUPPORTED_VERSION
    assert Header.from_bytes(env.header_bytes) == h


def test_attestation_binds_event_recipient_agreement_and_fields() -> None:
    env = redact(sealed(), ["is_child", "consent"])
    att = attest(
        env,
        recipient="KH",
        agreement_id="TH-KH-referral",
        agreement_version=3,
        fields=["consent", "is_child"],
        leaf_ref="17",
        hub_key=HUB_KEY,
        attested_at_ms=T0 + 5,
    )
    back = reparse(att)
    got = verify_attestation(back, KEYS)
    assert (got.recipient, got.agreement_id, got.agreement_version) == ("KH", "TH-KH-referral", 3)
    assert got.fields == ("consent", "is_child")
    assert got.leaf_ref == "17"
    assert got.event_digest == env.event_digest
    assert verify(back, KEYS).disclosed == {"is_child", "consent"}
    # Withholding one more field after attestation breaks the binding.
    with pytest.raises(SignatureError) as err:
        verify_attestation(reparse(redact(back, ["is_child"])), KEYS)
    assert err.value.reason is Reason.BAD_ATTESTATION
    # A producer key cannot attest.
    forged = attest(
        env,
        recipient="KH",
        agreement_id="x",
        agreement_version=1,
        fields=["consent", "is_child"],
        leaf_ref="1",
        hub_key=TH_KEY,
        attested_at_ms=T0,
    )
    with pytest.raises(SignatureError) as err2:
        verify_attestation(forged, KEYS)
    assert err2.value.reason is Reason.KEY_ROLE_NOT_ALLOWED
    with pytest.raises(SignatureError) as err3:
        verify_attestation(env, KEYS)
    assert err3.value.reason is Reason.BAD_ATTESTATION


def test_attestation_moved_to_another_event_is_refused() -> None:
    a = redact(sealed(), [])
    b = redact(sealed(rng_label="b"), [])
    att = attest(
        a,
        recipient="KH",
        agreement_id="x",
        agreement_version=1,
        fields=[],
        leaf_ref="1",
        hub_key=HUB_KEY,
        attested_at_ms=T0,
    )
    moved = Envelope.assemble(b.header_bytes, b.signature, b.disclosures, att.attestations)
    with pytest.raises(SignatureError) as err:
        verify_attestation(moved, KEYS)
    assert err.value.reason is Reason.BAD_ATTESTATION


def test_cloudevents_headers_mirror_the_signed_header() -> None:
    h = sealed().header
    headers = cloudevents_headers(h)
    got = dict(headers)
    assert got["ce_id"] == h.event_id.encode()
    assert got["ce_source"] == b"urn:trm:TH"
    assert got["ce_type"] == b"trm.referral.v1"
    assert got["ce_time"] == b"2026-01-01T00:00:00.000Z"
    check_cloudevents([*headers, ("traceparent", b"00-x")], h)
    check_cloudevents(dict(headers), h)
    for i, (name, _value) in enumerate(headers):
        changed = list(headers)
        changed[i] = (name, b"tampered")
        with pytest.raises(DeliveryError) as err:
            check_cloudevents(changed, h)
        assert err.value.reason is Reason.CLOUDEVENTS_MISMATCH
        with pytest.raises(DeliveryError):
            check_cloudevents(headers[:i] + headers[i + 1 :], h)
    with pytest.raises(DeliveryError):
        check_cloudevents([*headers, headers[1]], h)


def test_payload_fields_cover_the_policy_fields() -> None:
    for name in (
        "is_child",
        "best_interest_assessment",
        "consent",
        "receiving_organisation",
        "referring_organisation",
    ):
        assert name in payload_fields("referral")
        assert name in payload_fields(EventType.DETENTION_NOTICE)
        assert name in payload_fields("handover_notice")


@pytest.mark.parametrize(
    ("payload", "field", "expected"),
    [
        ({"names": [{"full_name": "SECRET-NAME", "lang": 5}]}, "names", "expected string"),
        ({"consent": {"status": "SECRET", "scope": []}}, "consent", "one of GIVEN"),
        ({"consent": {"scope": ["SECRET"]}}, "consent", "status is missing"),
        ({"recruitment_place": "SECRET"}, "recruitment_place", "Place record"),
        ({"needs": ["SECRET"]}, "needs", "one of SHELTER"),
        ({"referred_at": "SECRET"}, "referred_at", "expected long"),
    ],
)
def test_payload_errors_say_what_was_expected_never_the_value(
    payload: dict[str, Any], field: str, expected: str
) -> None:
    with pytest.raises(WireError) as err:
        sealed(payload)
    assert err.value.reason is Reason.INVALID_PAYLOAD
    assert f"field {field!r}" in err.value.detail
    assert expected in err.value.detail
    assert "SECRET" not in err.value.detail


def test_verification_result_reports_every_finding() -> None:
    from hub.wire import verification_result

    env = sealed()
    assert verification_result(env, KEYS).ok
    other = sealed(rng_label="other")
    d0, d1 = env.disclosures[0], env.disclosures[1]
    messy = Envelope.assemble(env.header_bytes, env.signature, [d0, d0, other.disclosures[2], d1])
    result = verification_result(reparse(messy), StaticKeys([]))
    reasons = [f.reason for f in result.findings]
    assert reasons == [Reason.UNKNOWN_KEY, Reason.DUPLICATE_DIGEST, Reason.UNREFERENCED_DISCLOSURE]
    assert [f.disclosure for f in result.findings] == [None, 1, 2]
    assert result.disclosed == {d0.field, d1.field}
    assert not result.ok


def test_all_is_complete() -> None:
    import hub.wire

    defined = {
        name
        for name in dir(hub.wire)
        if not name.startswith("_")
        and str(getattr(getattr(hub.wire, name), "__module__", "")).startswith("hub.wire")
    }
    assert defined <= set(hub.wire.__all__)
    assert {"seal", "verify", "redact", "attest", "Envelope", "EventType"} <= defined
    assert all(hasattr(hub.wire, name) for name in hub.wire.__all__)


def test_open_envelope_runs_every_recipient_check() -> None:
    from hub.wire import open_envelope

    env = sealed()
    headers = cloudevents_headers(env.header)
    opened = open_envelope(env.to_bytes(), KEYS, kafka_headers=headers)
    assert opened.event.disclosed == frozenset(REFERRAL)
    assert opened.attestation is None
    with pytest.raises(SignatureError) as err:
        open_envelope(env.to_bytes(), KEYS, require_attestation=True)
    assert err.value.reason is Reason.BAD_ATTESTATION
    with pytest.raises(DeliveryError):
        open_envelope(env.to_bytes(), KEYS, kafka_headers=headers[1:])
    delivered = attest(
        redact(env, ["is_child"]),
        recipient="KH",
        agreement_id="a",
        agreement_version=1,
        fields=["is_child"],
        leaf_ref="9",
        hub_key=HUB_KEY,
        attested_at_ms=T0,
    )
    got = open_envelope(delivered.to_bytes(), KEYS, require_attestation=True)
    assert got.attestation is not None
    assert got.attestation.leaf_ref == "9"
    with pytest.raises(WireError) as err2:
        open_envelope(delivered.to_bytes(), KEYS, max_size=100)
    assert err2.value.reason is Reason.OVERSIZED


def test_a_copy_of_an_envelope_at_the_limit_opens_at_its_recipient() -> None:
    """The hub's attestation on an envelope of exactly the limit is still readable."""
    from hub.wire import DEFAULT_MAX_SIZE, DELIVERED_MAX_SIZE, open_envelope

    def at(pad: int) -> Envelope:
        payload = {**REFERRAL, "case_number": "X" * pad}
        return sealed(payload)

    pad = DEFAULT_MAX_SIZE - len(sealed().to_bytes())
    env = at(pad)
    while len(env.to_bytes()) != DEFAULT_MAX_SIZE:  # a length's varint may shift a byte
        pad += DEFAULT_MAX_SIZE - len(env.to_bytes())
        env = at(pad)
    open_envelope(env.to_bytes(), KEYS)  # the producer's envelope, exactly at the limit
    fields = sorted(REFERRAL)
    copy = attest(
        redact(env, fields),
        recipient="KH",
        agreement_id="th-kh-" + "x" * 200,
        agreement_version=1,
        fields=fields,
        leaf_ref=f"decision:DELIVERED:TH:{env.header.event_id}:KH",
        hub_key=HUB_KEY,
        attested_at_ms=T0,
    ).to_bytes()
    assert DEFAULT_MAX_SIZE < len(copy) <= DELIVERED_MAX_SIZE
    got = open_envelope(copy, KEYS, require_attestation=True, recipient="KH")
    assert got.attestation is not None
    with pytest.raises(WireError) as err:  # a producer's envelope is held to the limit
        open_envelope(copy, KEYS)
    assert err.value.reason is Reason.OVERSIZED


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(10**13), max_value=253402300799999))
def test_ce_time_is_the_rfc_3339_time_of_its_milliseconds(ms: int) -> None:
    """ce_time formats each second once (cached); the text is the plain formula's."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert ce_time(ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
