"""Generate the wire-format test vectors in ``tests/vectors/wire/`` (deterministic).

Fixed keys (from seeds), fixed salts and event ids (SHA-256 counter mode), a
fixed clock: rerunning this script must reproduce the files byte for byte, and
``tests/unit/wire/test_wire_vectors.py`` checks that it does.

``trust.json`` is the key directory: a signed trust list
(``docs/protocol.md`` section 6), accepted as a first, pinned version. Each
other file is one vector::

    {"description": str,
     "envelope": hex,                 the bytes received
     "max_size": int,                 the size limit to apply
     "kafka_headers": [[name, value-as-text], ...] | null,
     "recipient": alpha-2 | null,     the node reading its inbox, or null
     "expected": {"outcome": "accepted" | "rejected",
                  "reason": CODE | null,
                  "disclosed": {field: JSON value} (accepted only),
                  "withheld": [field, ...], "event_digest": hex,
                  "attestation": {...} | null}}

A verifier applies, in order (protocol.md 2.8): parse with max_size; verify
against trust.json; if kafka_headers is not null, the CloudEvents check; the
attestation check when ``recipient`` is not null (then at least one
attestation, the last one for that recipient) or when the envelope carries
attestations.

Run: ``python tests/vectors/generate_wire.py``
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import schemas
from hub.decision import DecisionKind, EffectId, EffectKind
from hub.keys import KeyRole, key_id_of, private_key_from_seed, raw_public
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, TRUST_TYPE, TrustList
from hub.wire import (
    ATTESTATION_PAYLOAD_TYPE,
    HEADER_PAYLOAD_TYPE,
    Disclosure,
    Envelope,
    Signature,
    attest,
    cloudevents_headers,
    pae,
    payload_from_json,
    payload_to_json,
    redact,
    seal,
)
from hub.wire.codec import encode, frame, parsed, payload_codec

OUT = Path(__file__).resolve().parent / "wire"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY = 86_400_000


def _key(label: str) -> Ed25519PrivateKey:
    return private_key_from_seed(hashlib.sha256(b"trm-vector-key:" + label.encode()).digest())


def counter_rng(label: str) -> Callable[[int], bytes]:
    """Deterministic "random" bytes: SHA-256 of ``trm-vector-rng:<label>:<n>``, n = 1, 2, ..."""
    state = [0]

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            state[0] += 1
            out += hashlib.sha256(f"trm-vector-rng:{label}:{state[0]}".encode()).digest()
        return out[:n]

    return rng


KEYS = {
    "TH": _key("TH"),
    "KH": _key("KH"),
    "HUB": _key("HUB"),
    "TH-revoked": _key("TH-revoked"),
    "TH-future": _key("TH-future"),
    "XX-unlisted": _key("XX-unlisted"),
}


def _kid(label: str) -> str:
    return key_id_of(raw_public(KEYS[label].public_key()))


def trust_list() -> dict[str, Any]:
    """trust.json: the signed trust list every vector is checked against.

    TH and KH are members with a root-and-producer key each; the hub has its
    hub key; TH also has a producer key revoked a day before T0 and one valid
    only from a day after. Both roots sign (threshold 2): a first version,
    pinned.
    """

    def entry(label: str, owner: str, roles: list[KeyRole], **window: int | None) -> Any:
        raw = raw_public(KEYS[label].public_key())
        revoked = window.get("revoked_at_ms")
        return {
            "key_id": key_id_of(raw),
            "owner": owner,
            "roles": sorted(r.value for r in roles),
            "public": base64.b64encode(raw).decode("ascii"),
            "not_before_ms": window.get("not_before_ms", 0),
            "not_after_ms": window.get("not_after_ms"),
            "revoked_at_ms": revoked,
            "revocation_reason": None if revoked is None else "superseded",
        }

    body = {
        "_type": TRUST_TYPE,
        "version": 1,
        "threshold": 2,
        "issued_at_ms": T0 - 10 * DAY,
        "expires_at_ms": None,
        "members": {"KH": "Cambodia", "TH": "Thailand"},
        "keys": [
            entry("TH", "TH", [KeyRole.ROOT, KeyRole.PRODUCER]),
            entry("KH", "KH", [KeyRole.ROOT, KeyRole.PRODUCER]),
            entry("HUB", HUB_OWNER, [KeyRole.HUB]),
            entry("TH-revoked", "TH", [KeyRole.PRODUCER], revoked_at_ms=T0 - DAY),
            entry("TH-future", "TH", [KeyRole.PRODUCER], not_before_ms=T0 + DAY),
        ],
    }
    doc = SignedDocument(TRUST_TYPE, body, ())
    for label in ("KH", "TH"):
        doc = doc.with_signature(KEYS[label])
    return doc.to_json()


def _example(event_type: str) -> dict[str, Any]:
    path = schemas.SCHEMA_DIR / "examples" / f"{event_type}.json"
    return payload_from_json(event_type, json.loads(path.read_text(encoding="utf-8")))


def _seal(
    event_type: str = "referral",
    *,
    label: str = "a",
    key: str = "TH",
    producer: str = "TH",
    payload: dict[str, Any] | None = None,
    created_at_ms: int = T0,
) -> Envelope:
    return seal(
        event_type,
        _example(event_type) if payload is None else payload,
        producer=producer,
        key=KEYS[key],
        recipients=["KH", "LA"],
        purpose="repatriation",
        handling="H2",
        case_key="case-0042",
        sequence=7,
        created_at_ms=created_at_ms,
        rng=counter_rng(f"{event_type}:{label}"),
    )


def _sign(header_bytes: bytes, key: str = "TH") -> Signature:
    return Signature(_kid(key), KEYS[key].sign(pae(HEADER_PAYLOAD_TYPE, header_bytes)))


def _raw_envelope(
    header_bytes: bytes,
    signature: Signature | dict[str, Any],
    disclosures: list[bytes],
    attestations: list[dict[str, Any]] | None = None,
) -> bytes:
    """Encode an envelope without any validation (for broken vectors)."""
    body = encode(
        parsed("envelope@1"),
        {
            "header": header_bytes,
            "signature": signature if isinstance(signature, dict) else signature.to_record(),
            "disclosures": disclosures,
            "attestations": attestations or [],
        },
    )
    return frame("envelope@1", body)


def _header_with(env: Envelope, **changes: Any) -> bytes:
    """Header bytes with raw record changes, unvalidated."""
    record = env.header.to_record() | changes
    return frame("header", encode(parsed("header"), record))


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def leaf_ref(env: Envelope, recipient: str) -> str:
    """An attestation's leaf_ref: the id of the DELIVERED decision (protocol.md 4, 9.5)."""
    delivery = EffectId.of_event(
        EffectKind.DELIVERY, env.header.producer, env.header.event_id, recipient
    )
    return str(delivery.decided(DecisionKind.DELIVERED))


def _deliver(env: Envelope, keep: list[str], hub: str = "HUB", recipient: str = "KH") -> Envelope:
    return attest(
        redact(env, keep),
        recipient=recipient,
        agreement_id="TH-KH-referral",
        agreement_version=2,
        fields=keep,
        leaf_ref=leaf_ref(env, recipient),
        hub_key=KEYS[hub],
        attested_at_ms=T0 + 60_000,
    )


def _accepted(
    env: Envelope, description: str, *, recipient: str | None = None, **extra: Any
) -> dict[str, Any]:
    from hub.wire import verify, verify_attestation

    directory = _directory()
    event = verify(env, directory)
    att = (
        verify_attestation(env, directory, recipient=recipient)
        if env.attestations or recipient is not None
        else None
    )
    return _vector(
        description,
        env.to_bytes(),
        expected={
            "outcome": "accepted",
            "reason": None,
            "disclosed": payload_to_json(dict(sorted(event.fields.items()))),
            "withheld": sorted(event.withheld),
            "event_digest": env.event_digest.hex(),
            "attestation": None if att is None else att.to_json(),
        },
        recipient=recipient,
        **extra,
    )


def _rejected(description: str, data: bytes, reason: str, **extra: Any) -> dict[str, Any]:
    return _vector(description, data, expected={"outcome": "rejected", "reason": reason}, **extra)


def _vector(
    description: str,
    data: bytes,
    *,
    expected: dict[str, Any],
    max_size: int = 1_000_000,
    kafka_headers: list[tuple[str, bytes]] | None = None,
    recipient: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    vector: dict[str, Any] = {
        "description": description,
        "envelope": data.hex(),
        "max_size": max_size,
        "kafka_headers": None
        if kafka_headers is None
        else [[k, v.decode("utf-8")] for k, v in kafka_headers],
        "recipient": recipient,
        "expected": expected,
    }
    if detail:
        vector["intermediate"] = detail
    return vector


def _directory() -> TrustList:
    return TrustList.from_signed(trust_list())


def build() -> dict[str, Any]:
    """Every vector file name -> its JSON content."""
    v: dict[str, Any] = {"trust.json": trust_list()}
    good = _seal()
    other = _seal(label="b")
    first = good.disclosures[0]
    header_pae = pae(HEADER_PAYLOAD_TYPE, good.header_bytes)

    # --- accepted ----------------------------------------------------------
    v["good-01-referral.json"] = _accepted(
        good,
        "A referral with every field disclosed (Khmer, Thai and Latin names).",
        kafka_headers=cloudevents_headers(good.header),
        detail={
            "header": good.header_bytes.hex(),
            "pae": header_pae.hex(),
            "signature": good.signature.sig.hex(),
            "key_id": good.signature.key_id,
            "disclosures": [
                {"field": d.field, "bytes": d.raw.hex(), "digest": d.digest.hex()}
                for d in good.disclosures
            ],
            "payload_record": b"".join(d.value for d in good.disclosures).hex(),
        },
    )
    for i, event_type in enumerate(
        ["handover_notice", "trafficker_alert", "acknowledgement", "detention_notice"], 2
    ):
        env = _seal(event_type)
        v[f"good-{i:02d}-{event_type}.json"] = _accepted(
            env,
            f"A {event_type} with the example payload.",
            kafka_headers=cloudevents_headers(env.header),
        )
    v["good-06-redacted.json"] = _accepted(
        redact(good, ["is_child", "consent", "needs", "languages"]),
        "The referral with all but four fields withheld: still verifies.",
    )
    v["good-07-nothing-disclosed.json"] = _accepted(
        redact(good, []), "Every field withheld: the signed header alone verifies."
    )
    v["good-08-delivered.json"] = _accepted(
        _deliver(good, ["consent", "is_child", "needs"]),
        "A delivered copy, read by KH: redacted, with a hub attestation for KH.",
        recipient="KH",
    )
    v["good-09-reordered.json"] = _accepted(
        Envelope.assemble(good.header_bytes, good.signature, tuple(reversed(good.disclosures))),
        "Disclosures in another order: order carries no meaning.",
    )
    v["good-10-revoked-after-creation.json"] = _accepted(
        _seal(key="TH-revoked", created_at_ms=T0 - 2 * DAY, label="old"),
        "Signed by a key revoked later than the event's creation: accepted.",
    )

    # --- rejected ------------------------------------------------------------
    raw = good.to_bytes()
    header_at = raw.index(good.header_bytes)
    sig_at = raw.index(good.signature.sig)
    disc_at = raw.index(first.raw)
    kid_at = raw.index(good.signature.key_id.encode())
    bad: list[tuple[str, str, bytes, str, dict[str, Any]]] = [
        (
            "bitflip-header-uuid-version",
            "One bit flipped in the event id's version digit (7 -> 6): not a UUIDv7.",
            _flip(raw, header_at + 12 + 14),
            "INVALID_HEADER",
            {},
        ),
        (
            "bitflip-header-case-key",
            "One bit flipped in the signed header's case key.",
            _flip(raw, raw.index(b"case-0042") + 5),
            "BAD_SIGNATURE",
            {},
        ),
        (
            "bitflip-signature",
            "One bit flipped in the Ed25519 signature.",
            _flip(raw, sig_at + 10),
            "BAD_SIGNATURE",
            {},
        ),
        (
            "bitflip-disclosure",
            "One bit flipped in a disclosure's value.",
            _flip(raw, disc_at + len(first.raw) - 1),
            "UNREFERENCED_DISCLOSURE",
            {},
        ),
        (
            "bitflip-key-id",
            "One bit flipped in the signature's key id.",
            _flip(raw, kid_at + 3),
            "UNKNOWN_KEY",
            {},
        ),
        ("truncated", "The envelope cut short by 7 bytes.", raw[:-7], "MALFORMED_AVRO", {}),
        (
            "trailing-byte",
            "One byte appended after the envelope.",
            raw + b"\x00",
            "MALFORMED_AVRO",
            {},
        ),
        (
            "bad-magic",
            "Not single-object encoding: the marker is C3 02.",
            b"\xc3\x02" + raw[2:],
            "MALFORMED_FRAME",
            {},
        ),
        (
            "unknown-envelope-schema",
            "The frame's fingerprint names no known envelope schema.",
            raw[:2] + bytes(8) + raw[10:],
            "UNKNOWN_SCHEMA",
            {},
        ),
        (
            "oversized",
            "An envelope over the 1024-byte limit set for this vector.",
            raw,
            "OVERSIZED",
            {"max_size": 1024},
        ),
    ]
    hdr = _header_with(good, payload_schema=bytes(32))
    bad.append(
        (
            "unknown-payload-schema",
            "The signed header names an unknown payload schema.",
            _raw_envelope(hdr, _sign(hdr), [d.raw for d in good.disclosures]),
            "UNKNOWN_SCHEMA",
            {},
        )
    )
    hdr = _header_with(good, spec_version=2)
    bad.append(
        (
            "unsupported-version",
            "spec_version 2 (sealed) in the signed header of a v1 envelope.",
            _raw_envelope(hdr, _sign(hdr), []),
            "UNSUPPORTED_VERSION",
            {},
        )
    )
    hdr = _header_with(good, event_type="gossip")
    bad.append(
        (
            "unknown-event-type",
            "event_type 'gossip' in the signed header.",
            _raw_envelope(hdr, _sign(hdr), []),
            "UNKNOWN_EVENT_TYPE",
            {},
        )
    )
    hdr = _header_with(good, purpose="marketing")
    bad.append(
        (
            "invalid-purpose",
            "A purpose outside the vocabulary.",
            _raw_envelope(hdr, _sign(hdr), []),
            "INVALID_HEADER",
            {},
        )
    )
    digests = sorted([*good.header.disclosure_digests, first.digest])
    hdr = _header_with(good, disclosure_digests=digests)
    bad.append(
        (
            "duplicate-digest-in-header",
            "The header lists one digest twice.",
            _raw_envelope(hdr, _sign(hdr), [first.raw]),
            "DUPLICATE_DIGEST",
            {},
        )
    )
    bad.append(
        (
            "duplicate-disclosure",
            "The same disclosure sent twice.",
            _raw_envelope(good.header_bytes, good.signature, [first.raw, first.raw]),
            "DUPLICATE_DIGEST",
            {},
        )
    )
    bad.append(
        (
            "disclosure-from-another-event",
            "A disclosure of another event (same payload, other salts) added.",
            _raw_envelope(
                good.header_bytes,
                good.signature,
                [good.disclosures[1].raw, other.disclosures[0].raw],
            ),
            "UNREFERENCED_DISCLOSURE",
            {},
        )
    )
    bad.append(
        (
            "swapped-disclosures",
            "Another event's disclosures under this event's signed header.",
            _raw_envelope(good.header_bytes, good.signature, [d.raw for d in other.disclosures]),
            "UNREFERENCED_DISCLOSURE",
            {},
        )
    )
    codec = payload_codec("referral")
    twin_a = Disclosure.build(b"\x11" * 16, "is_child", codec.codecs["is_child"].encode(True))
    twin_b = Disclosure.build(b"\x22" * 16, "is_child", codec.codecs["is_child"].encode(False))
    hdr = _header_with(good, disclosure_digests=sorted([twin_a.digest, twin_b.digest]))
    bad.append(
        (
            "duplicate-field",
            "Two disclosures of field is_child, both listed.",
            _raw_envelope(hdr, _sign(hdr), [twin_a.raw, twin_b.raw]),
            "DUPLICATE_FIELD",
            {},
        )
    )
    stray = Disclosure.build(b"\x33" * 16, "home_address", b"\x02\x08Wat ")
    hdr = _header_with(good, disclosure_digests=[stray.digest])
    bad.append(
        (
            "unknown-field",
            "A listed disclosure of a field not in the schema.",
            _raw_envelope(hdr, _sign(hdr), [stray.raw]),
            "UNKNOWN_FIELD",
            {},
        )
    )
    wrong = Disclosure.build(b"\x44" * 16, "is_child", b"\x02\x06yes")
    hdr = _header_with(good, disclosure_digests=[wrong.digest])
    bad.append(
        (
            "wrong-type",
            "is_child disclosed with a string value.",
            _raw_envelope(hdr, _sign(hdr), [wrong.raw]),
            "FIELD_TYPE_MISMATCH",
            {},
        )
    )
    broken = b"\x55" * 16 + b"\x7f"
    hdr = _header_with(good, disclosure_digests=[hashlib.sha256(broken).digest()])
    bad.append(
        (
            "malformed-disclosure",
            "A disclosure whose field-name length runs past its end.",
            _raw_envelope(hdr, _sign(hdr), [broken]),
            "MALFORMED_DISCLOSURE",
            {},
        )
    )
    bad.append(
        (
            "wrong-key",
            "Signed by KH's producer key, header says producer TH.",
            _seal(key="KH", label="kh").to_bytes(),
            "KEY_ROLE_NOT_ALLOWED",
            {},
        )
    )
    bad.append(
        (
            "unlisted-key",
            "Signed by a key that is in no trust list.",
            _seal(key="XX-unlisted", label="xx").to_bytes(),
            "UNKNOWN_KEY",
            {},
        )
    )
    bad.append(
        (
            "revoked-key",
            "Signed by a key revoked a day before the event.",
            _seal(key="TH-revoked", label="rev").to_bytes(),
            "KEY_REVOKED",
            {},
        )
    )
    bad.append(
        (
            "key-not-yet-valid",
            "Signed by a key valid only from the day after.",
            _seal(key="TH-future", label="fut").to_bytes(),
            "KEY_NOT_VALID_AT_TIME",
            {},
        )
    )
    ce = cloudevents_headers(good.header)
    ce = [(k, b"urn:trm:KH" if k == "ce_source" else val) for k, val in ce]
    bad.append(
        (
            "cloudevents-mismatch",
            "Kafka header ce_source says KH, signed header TH.",
            raw,
            "CLOUDEVENTS_MISMATCH",
            {"kafka_headers": ce},
        )
    )
    ce_missing = [(k, val) for k, val in cloudevents_headers(good.header) if k != "ce_id"]
    bad.append(
        (
            "cloudevents-missing",
            "Kafka header ce_id missing.",
            raw,
            "CLOUDEVENTS_MISMATCH",
            {"kafka_headers": ce_missing},
        )
    )
    delivered = _deliver(good, ["consent", "is_child"])
    bad.append(
        (
            "attestation-by-producer-key",
            "An attestation signed by TH's producer key.",
            _deliver(good, ["consent"], hub="TH").to_bytes(),
            "KEY_ROLE_NOT_ALLOWED",
            {},
        )
    )
    bad.append(
        (
            "attestation-fields-mismatch",
            "A delivered copy redacted further after the hub attested it.",
            redact(delivered, ["consent"]).to_bytes(),
            "BAD_ATTESTATION",
            {},
        )
    )
    att_raw = delivered.to_bytes()
    stmt = delivered.attestations[0].statement
    bad.append(
        (
            "bitflip-attestation",
            "One bit flipped in the attestation statement's leaf ref.",
            _flip(att_raw, att_raw.index(stmt) + stmt.index(leaf_ref(good, "KH").encode()) + 9),
            "BAD_ATTESTATION",
            {},
        )
    )
    moved = Envelope.assemble(other.header_bytes, other.signature, [], delivered.attestations)
    bad.append(
        (
            "attestation-moved",
            "An attestation copied onto another event.",
            redact(moved, []).to_bytes(),
            "BAD_ATTESTATION",
            {},
        )
    )
    bad += _later_bad(good)
    for i, (name, description, data, reason, extra) in enumerate(bad, 1):
        v[f"bad-{i:02d}-{name}.json"] = _rejected(description, data, reason, **extra)
    v.update(_later_good(good))
    return v


def _later_good(good: Envelope) -> dict[str, Any]:
    """Accepted vectors added with protocol.md's clarifications (issue 17)."""
    v: dict[str, Any] = {}
    for i, event_type in enumerate(["erasure_request", "erasure_confirmation"], 11):
        env = _seal(event_type)
        v[f"good-{i:02d}-{event_type}.json"] = _accepted(
            env,
            f"An {event_type} with the example payload.",
            kafka_headers=cloudevents_headers(env.header),
        )
    codec = payload_codec("referral")
    null_notes = Disclosure.build(b"\x66" * 16, "notes", codec.codecs["notes"].encode(None))
    kept = [d for d in good.disclosures if d.field != "notes"]
    hdr = _header_with(
        good, disclosure_digests=sorted([*(d.digest for d in kept), null_notes.digest])
    )
    v["good-13-null-value-disclosed.json"] = _accepted(
        Envelope.from_bytes(
            _raw_envelope(hdr, _sign(hdr), [*(d.raw for d in kept), null_notes.raw])
        ),
        "A disclosure holding the null branch (00) of field notes: valid; notes is disclosed "
        "as null, not withheld (2.4).",
    )
    hdr = _header_with(good, disclosure_digests=sorted(d.digest for d in good.disclosures[:3]))
    v["good-14-no-decoys.json"] = _accepted(
        Envelope.from_bytes(_raw_envelope(hdr, _sign(hdr), [d.raw for d in good.disclosures[:3]])),
        "Three disclosures and no decoys: fewer digests than payload fields is valid; a "
        "verifier never counts decoys (2.4).",
    )
    extra = [hashlib.sha256(f"trm-vector-decoy:{i}".encode()).digest() for i in range(40)]
    hdr = _header_with(good, disclosure_digests=sorted([*good.header.disclosure_digests, *extra]))
    v["good-15-more-digests-than-fields.json"] = _accepted(
        Envelope.from_bytes(_raw_envelope(hdr, _sign(hdr), [d.raw for d in good.disclosures])),
        "Forty more decoys than the producer's default: more digests than payload fields is "
        "valid (2.4).",
    )
    hdr = _header_with(good, recipients=["KH", "ZZ"], disclosure_digests=[])
    v["good-16-unassigned-country-code.json"] = _accepted(
        Envelope.from_bytes(_raw_envelope(hdr, _sign(hdr), [])),
        "Recipient ZZ, which ISO 3166-1 does not assign: the wire checks only [A-Z]{2}; the "
        "hub refuses ZZ by the agreements (NO_AGREEMENT), not the verifier (2.3).",
    )
    first = _deliver(good, ["consent", "is_child", "needs"])
    twice = attest(
        redact(first, ["consent"]),
        recipient="KH",
        agreement_id="TH-KH-referral",
        agreement_version=3,
        fields=["consent"],
        leaf_ref=leaf_ref(good, "KH"),
        hub_key=KEYS["HUB"],
        attested_at_ms=T0 + 120_000,
    )
    v["good-17-attested-twice.json"] = _accepted(
        twice,
        "A copy attested twice (withheld further after the first attestation): only the last "
        "attestation describes this copy (4).",
        recipient="KH",
    )
    return v


def _statement(good: Envelope, **changes: Any) -> dict[str, Any]:
    """An attestation record with raw statement changes, signed by the hub key, unvalidated."""
    record = {
        "spec_version": 1,
        "event_digest": good.event_digest,
        "recipient": "KH",
        "agreement_id": "TH-KH-referral",
        "agreement_version": 2,
        "fields": [],
        "leaf_ref": leaf_ref(good, "KH"),
        "attested_at": T0 + 60_000,
    } | changes
    statement = frame("attestation_statement", encode(parsed("attestation_statement"), record))
    sig = KEYS["HUB"].sign(pae(ATTESTATION_PAYLOAD_TYPE, statement))
    return {"statement": statement, "signature": {"key_id": _kid("HUB"), "sig": sig}}


def _later_bad(good: Envelope) -> list[tuple[str, str, bytes, str, dict[str, Any]]]:
    """Refused vectors added with protocol.md's clarifications (issue 17)."""
    out: list[tuple[str, str, bytes, str, dict[str, Any]]] = []

    def header_case(name: str, description: str, reason: str, **changes: Any) -> None:
        hdr = _header_with(good, **changes)
        out.append((name, description, _raw_envelope(hdr, _sign(hdr), []), reason, {}))

    eid = good.header.event_id
    bad_variant = eid[:19] + "c" + eid[20:]
    bad_version = eid[:14] + "4" + eid[15:]
    header_case(
        "uuid-variant",
        "An event id whose variant bits are 11 (c...), not the RFC 9562 variant 10.",
        "INVALID_HEADER",
        event_id=bad_variant,
        disclosure_digests=[],
    )
    header_case(
        "lowercase-recipient",
        "Recipient kh in lower case.",
        "INVALID_HEADER",
        recipients=["kh"],
        disclosure_digests=[],
    )
    header_case(
        "producer-three-letters",
        "Producer THA (alpha-3).",
        "INVALID_HEADER",
        producer="THA",
        disclosure_digests=[],
    )
    header_case(
        "first-rule-version",
        "spec_version 3 and event type gossip: the version is checked first.",
        "UNSUPPORTED_VERSION",
        spec_version=3,
        event_type="gossip",
        disclosure_digests=[],
    )
    header_case(
        "first-rule-event-type",
        "Event type gossip and an event id that is not a UUIDv7: the type is checked first.",
        "UNKNOWN_EVENT_TYPE",
        event_type="gossip",
        event_id=bad_version,
        disclosure_digests=[],
    )
    header_case(
        "first-rule-event-id",
        "An event id that is not a UUIDv7 and an unknown payload schema: the event id is "
        "checked first.",
        "INVALID_HEADER",
        event_id=bad_version,
        payload_schema=bytes(32),
        disclosure_digests=[],
    )
    header_case(
        "first-rule-payload-schema",
        "An unknown payload schema and producer th in lower case: the schema is checked first.",
        "UNKNOWN_SCHEMA",
        payload_schema=bytes(32),
        producer="th",
        disclosure_digests=[],
    )
    first = good.disclosures[0]
    header_case(
        "first-rule-purpose",
        "Purpose marketing and a digest listed twice: the purpose is checked before the digests.",
        "INVALID_HEADER",
        purpose="marketing",
        disclosure_digests=[first.digest, first.digest],
    )
    raw = good.to_bytes()
    ce = [
        (k, b"urn:trm:KH" if k == "ce_source" else val)
        for k, val in cloudevents_headers(good.header)
    ]
    out.append(
        (
            "signature-before-cloudevents",
            "A bit flipped in the signature and ce_source saying KH: the signature is "
            "checked before the CloudEvents headers (2.8, 5).",
            _flip(raw, raw.index(good.signature.sig) + 10),
            "BAD_SIGNATURE",
            {"kafka_headers": ce},
        )
    )
    hdr = good.header_bytes
    short = {"key_id": good.signature.key_id, "sig": good.signature.sig[:63]}
    out.append(
        (
            "signature-63-bytes",
            "The producer's signature cut to 63 bytes.",
            _raw_envelope(hdr, short, []),
            "BAD_SIGNATURE",
            {},
        )
    )
    upper = {"key_id": good.signature.key_id.upper(), "sig": good.signature.sig}
    out.append(
        (
            "key-id-upper-case",
            "The signature's key id in upper-case hex.",
            _raw_envelope(hdr, upper, []),
            "UNKNOWN_KEY",
            {},
        )
    )
    bare = redact(good, ["consent"])
    out.append(
        (
            "delivered-without-attestation",
            "A copy read by KH from its inbox without any hub attestation.",
            bare.to_bytes(),
            "BAD_ATTESTATION",
            {"recipient": "KH"},
        )
    )
    out.append(
        (
            "attested-for-another-recipient",
            "A copy attested for LA, read by KH.",
            _deliver(good, ["consent"], recipient="LA").to_bytes(),
            "NOT_ADDRESSED",
            {"recipient": "KH"},
        )
    )
    out.append(
        (
            "reader-not-addressed",
            "A copy attested for VN, read by VN, of an event addressed to KH and LA only.",
            _deliver(good, ["consent"], recipient="VN").to_bytes(),
            "NOT_ADDRESSED",
            {"recipient": "VN"},
        )
    )
    fields = {"fields": ["consent"]}
    for name, description, changes, sig_len, key_id, reason in [
        ("attestation-spec-version-2", "An attestation statement with spec_version 2.",
         {"spec_version": 2}, 64, None, "BAD_ATTESTATION"),
        ("attestation-signature-63-bytes", "An attestation signature cut to 63 bytes.",
         {}, 63, None, "BAD_ATTESTATION"),
        ("attestation-key-id-upper-case", "An attestation's key id in upper-case hex.",
         {}, 64, _kid("HUB").upper(), "UNKNOWN_KEY"),
    ]:  # fmt: skip
        att = _statement(good, **(fields | changes))
        att["signature"]["sig"] = att["signature"]["sig"][:sig_len]
        if key_id is not None:
            att["signature"]["key_id"] = key_id
        out.append(
            (
                name,
                description,
                _raw_envelope(good.header_bytes, good.signature, [_disc(good, "consent")], [att]),
                reason,
                {"recipient": "KH"},
            )
        )
    return out


def _disc(env: Envelope, field: str) -> bytes:
    return next(d.raw for d in env.disclosures if d.field == field)


def render(content: Any) -> str:
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"


def write_vectors(out: Path, built: dict[str, Any]) -> None:
    """Write every vector file into ``out`` (rendered), removing stale ones."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        if stale.name not in built:
            stale.unlink()
    for name, content in built.items():
        (out / name).write_text(render(content), encoding="utf-8")
    print(f"wrote {len(built)} files to {out}", file=sys.stderr)


def main() -> None:
    write_vectors(OUT, build())


if __name__ == "__main__":
    main()
