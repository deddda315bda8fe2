"""Generate the sealed-event (protocol v2) test vectors in ``tests/vectors/sealed/``.

Deterministic: fixed signing keys and seal keys (``tests.support.wire``), salts,
event ids, data keys, nonces and decoys from SHA-256 in counter mode, and a
fixed clock. The HPKE key wraps are made with pyhpke, an RFC 9180
implementation that takes a fixed ephemeral key, each ephemeral key pair
derived with RFC 9180 ``DeriveKeyPair(ikmE)`` from
``ikmE = SHA-256("trm-vector-eph:" || label)``. Everything else is built from
the spec's parts (``Disclosure.build``, ``SealedDisclosure.build``,
``KeyWrap.build``, ``Header``, ``Envelope.assemble``, ``redact``, ``attest``),
with the associated data, the HPKE info and the part encodings computed here
from the spec's formulas and checked against ``hub.wire``.
Rerunning this script must reproduce the files byte for byte;
``tests/unit/wire/test_wire_sealed_vectors.py`` checks that it does.

Each vector is one JSON file::

    {"description": str,
     "envelope": hex,                     the bytes received
     "max_size": int,
     "kafka_headers": [[name, text], ...] | null,
     "ingest": bool,                      apply the hub's ingest rule (a submission)
     "recipient": "CC" | null,            open as this recipient
     "seal_key_id": hex | null,           the key id the recipient's key wrap names
     "expected": {"outcome": "accepted" | "rejected",
                  "step": null | "verify" | "ingest" | "open",
                  "reason": CODE | null,
                  accepted only: "disclosed" {field: JSON value (section 2.7)},
                  "sealed_fields" [...], "withheld" [...], "event_digest" hex,
                  "attestation" {...} | null},
     "intermediate": {...}                (good-01 and good-03: every value on the way)}

Apply, in order (the step a rejection belongs to in brackets):

1. [verify] parse (``max_size``); verify against ``trust.json`` (a signed
   trust list, protocol.md section 6); if ``kafka_headers`` is not null, the
   CloudEvents check; if the envelope carries attestations, verify them (the
   last one for ``recipient`` when that is not null). Anyone can do this: no
   seal key is needed.
2. [ingest] if ``ingest``: a key wrap for every addressed recipient (the hub,
   on a producer's submission).
3. [open] if ``recipient`` is not null: unseal as that recipient with the
   private keys of ``seal-keys.json``: the key whose ``key_id`` the wrap names
   and whose country is the recipient; none is SEAL_KEY_MISSING, one whose
   ``private_key`` is null (destroyed) is KEY_DESTROYED.

Run from the repository root: ``python -m tests.vectors.generate_sealed``
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

import schemas
from hub.errors import Reason, SealError, TrmError
from hub.keys import KeyRole, signer_key_id
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, TRUST_TYPE, TrustList
from hub.wire import (
    HEADER_PAYLOAD_TYPE,
    POLICY_ATTRIBUTES,
    SEALED_VERSION,
    Disclosure,
    Envelope,
    EventType,
    Header,
    KeyWrap,
    SealedDisclosure,
    Signature,
    VerifiedEvent,
    attest,
    check_cloudevents,
    cloudevents_headers,
    new_event_id,
    pae,
    payload_from_json,
    payload_record_bytes,
    payload_to_json,
    redact,
    require_every_wrap,
    seal,
    unseal,
    verify,
    verify_attestation,
)
from hub.wire.codec import encode, frame, parsed, payload_codec
from hub.wire.envelope import TAG_SIZE
from hub.wire.sealing import padded_size, sealed_aad, wrap_info
from hub.wire.vocab import SEAL_PAD
from tests.support.wire import (
    HUB_KEY,
    KH_KEY,
    SEAL_KEYS,
    T0,
    TH_KEY,
    TestSealKey,
    public_of,
    seal_key,
)
from tests.vectors.generate_wire import counter_rng, leaf_ref, write_vectors

OUT = Path(__file__).resolve().parent / "sealed"
DAY: Final = 86_400_000
MAX_SIZE: Final = 1_000_000
# The spec's domain strings, written out (not imported): the vectors follow the
# spec's formulas, and each value is checked against hub.wire's as it is made.
SEALED_PREFIX: Final = b"trm.sealed.v2\x00"
WRAP_PREFIX: Final = b"trm.key-wrap.v2\x00"
HPKE: Final = CipherSuite.new(
    KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.CHACHA20_POLY1305
)

SIGNERS: Final = {"TH": TH_KEY, "KH": KH_KEY, "HUB": HUB_KEY}
PRODUCER_ROLES: Final = frozenset({KeyRole.ROOT, KeyRole.PRODUCER})


@dataclasses.dataclass(frozen=True)
class Published:
    """A seal key in seal-keys.json (its private key written as null once destroyed)."""

    label: str
    country: str
    key: TestSealKey
    not_before_ms: int
    not_after_ms: int | None
    destroyed_at_ms: int | None = None


# The recipients' epoch seal keys (X25519, private key = SHA-256("trm-test-seal:" + label)).
PUBLISHED: Final = (
    Published("KH", "KH", SEAL_KEYS["KH"], T0, T0 + 31 * DAY),
    Published("LA", "LA", SEAL_KEYS["LA"], T0, T0 + 31 * DAY),
    Published("TH", "TH", SEAL_KEYS["TH"], T0, T0 + 31 * DAY),
    Published("MM", "MM", SEAL_KEYS["MM"], T0, T0 + 31 * DAY),
    # KH's previous epoch key (its window overlaps T0 by a day), destroyed since.
    Published("KH-previous", "KH", seal_key("KH-previous"), T0 - 31 * DAY, T0 + DAY, T0 + 2 * DAY),
)
SEAL: Final = {p.label: p.key for p in PUBLISHED}
# Keys KH does not hold: another key (a producer's mistake) and one never published.
OTHER_KEY: Final = seal_key("KH-other")
UNPUBLISHED_KEY: Final = seal_key("KH-unpublished")


# --- deterministic sources ---------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _varint(value: int) -> bytes:
    acc = (value << 1) ^ (value >> 63)
    out = bytearray()
    while acc & ~0x7F:
        out.append((acc & 0x7F) | 0x80)
        acc >>= 7
    out.append(acc)
    return bytes(out)


def _avro_bytes(data: bytes) -> bytes:
    """Avro ``bytes``/``string``: a zig-zag varint length, then the bytes."""
    return _varint(len(data)) + data


# --- the parts, from the spec's formulas ------------------------------------


def _disclosure(rng: Callable[[int], bytes], event_type: str, name: str, value: Any) -> Disclosure:
    return Disclosure.build(rng(16), name, payload_codec(event_type).codecs[name].encode(value))


def _aad(event_id: str, label: str) -> bytes:
    return SEALED_PREFIX + event_id.encode("ascii") + b"\x00" + label.encode("utf-8")


def _info(event_id: str, recipient: str, key_id: str) -> bytes:
    return WRAP_PREFIX + b"\x00".join(s.encode("ascii") for s in (event_id, recipient, key_id))


def _seal_part(
    plaintext: bytes,
    label: str,
    *,
    data_key: bytes,
    nonce: bytes,
    event_id: str,
    commitment: bytes | None = None,
    padding: bytes | None = None,
    aad_event_id: str | None = None,
) -> tuple[SealedDisclosure, dict[str, Any]]:
    """A sealed disclosure; the keyword overrides make a lying producer's."""
    pad = bytes(padded_size(len(plaintext)) - len(plaintext)) if padding is None else padding
    padded = plaintext + pad
    aad = _aad(aad_event_id or event_id, label)
    ciphertext = ChaCha20Poly1305(data_key).encrypt(nonce, padded, aad)
    commit = _sha256(plaintext) if commitment is None else commitment
    part = SealedDisclosure.build(label, commit, nonce, ciphertext)
    # The record by hand (Avro: string, fixed 32, fixed 12, bytes) and its digest.
    assert part.raw == _avro_bytes(label.encode()) + commit + nonce + _avro_bytes(ciphertext)
    assert part.digest == _sha256(SEALED_PREFIX + part.raw)
    if aad_event_id is None:
        assert aad == sealed_aad(event_id, label)
    return part, {
        "field": label,
        "plaintext": plaintext.hex(),
        "commitment": commit.hex(),
        "padded_plaintext": padded.hex(),
        "nonce": nonce.hex(),
        "aad": aad.hex(),
        "ciphertext": ciphertext.hex(),
        "bytes": part.raw.hex(),
        "digest": part.digest.hex(),
    }


def _wrap(
    data_key: bytes,
    recipient: str,
    key: TestSealKey,
    *,
    event_id: str,
    eph: str,
    key_id: str | None = None,
    info_event_id: str | None = None,
    wrapped_suffix: bytes = b"",
) -> tuple[KeyWrap, dict[str, Any]]:
    """A key wrap made with pyhpke and a fixed ephemeral key; overrides make bad ones."""
    named = key.key_id if key_id is None else key_id
    info = _info(info_event_id or event_id, recipient, named)
    if info_event_id is None:
        assert info == wrap_info(event_id, recipient, named)
    ikm = _sha256(b"trm-vector-eph:" + eph.encode())
    eks = HPKE.kem.derive_key_pair(ikm)
    pkr = HPKE.kem.deserialize_public_key(key.public_raw)
    shared_secret, enc = HPKE.kem.encap(pkr, None, eks)
    enc_again, sender = HPKE.create_sender_context(pkr, info, eks=eks)
    assert enc_again == enc
    wrapped = sender.seal(data_key) + wrapped_suffix
    wrap = KeyWrap.build(recipient, named, enc, wrapped)
    assert wrap.raw == (
        _avro_bytes(recipient.encode()) + _avro_bytes(named.encode()) + enc + _avro_bytes(wrapped)
    )
    assert wrap.digest == _sha256(WRAP_PREFIX + wrap.raw)
    return wrap, {
        "recipient": recipient,
        "key_id": named,
        "recipient_public_key": key.public_raw.hex(),
        "info": info.hex(),
        "ikm_e": ikm.hex(),
        "sk_e": eks.private_key.to_private_bytes().hex(),
        "enc": enc.hex(),
        "shared_secret": shared_secret.hex(),
        "wrapped": wrapped.hex(),
        "bytes": wrap.raw.hex(),
        "digest": wrap.digest.hex(),
    }


@dataclasses.dataclass(frozen=True)
class Made:
    """A signed v2 event and the values that went into it."""

    envelope: Envelope
    data_key: bytes
    detail: dict[str, Any]


def _sign(
    template: Header,
    clear: Sequence[Disclosure],
    sealed: Sequence[SealedDisclosure],
    wraps: Sequence[KeyWrap],
    *,
    rng: Callable[[int], bytes],
    signer: str,
) -> tuple[Envelope, list[bytes]]:
    """List every part (decoys pad the count to fields + wraps), sign, assemble."""
    parts = [d.digest for d in clear] + [s.digest for s in sealed] + [w.digest for w in wraps]
    fields = payload_codec(template.event_type.value).fields
    decoys = [rng(32) for _ in range(max(0, len(fields) + len(wraps) - len(parts)))]
    header = dataclasses.replace(template, disclosure_digests=tuple(sorted(parts + decoys)))
    header_bytes = header.encode()
    key = SIGNERS[signer]
    signature = Signature(signer_key_id(key), key.sign(pae(HEADER_PAYLOAD_TYPE, header_bytes)))
    envelope = Envelope.assemble(
        header_bytes, signature, clear, sealed=sealed, key_wraps=wraps, header=header
    )
    return envelope, decoys


def _template(
    event_type: str,
    event_id: str,
    *,
    producer: str,
    recipients: Sequence[str],
    correlation_id: str | None = None,
    sequence: int = 7,
) -> Header:
    kind = EventType(event_type)
    return Header(
        spec_version=SEALED_VERSION,
        event_id=event_id,
        event_type=kind,
        payload_schema=payload_codec(kind.value).sha256,
        producer=producer,
        sequence=sequence,
        created_at_ms=T0,
        recipients=tuple(sorted(recipients)),
        purpose="repatriation",
        handling="H2",
        case_key="case-0042",
        correlation_id=correlation_id,
        disclosure_digests=(),
    )


def produce(
    event_type: str,
    payload: dict[str, Any],
    *,
    producer: str,
    recipients: Sequence[str],
    label: str,
    correlation_id: str | None = None,
) -> Made:
    """A sealed event as an honest producer makes it.

    Random bytes are drawn in the order ``hub.wire.seal`` draws them (salts in
    schema order, event id, data key, one nonce per sealed field, decoys), so
    the reference producer given the same source makes the same clear and
    sealed disclosures: only the key wraps (HPKE's ephemeral keys) differ.
    """
    rng = counter_rng(label)
    codec = payload_codec(event_type)
    disclosures = [
        _disclosure(rng, event_type, name, payload[name])
        for name in codec.fields
        if payload.get(name) is not None
    ]
    event_id = new_event_id(T0, rng)
    data_key = rng(32)
    clear = [d for d in disclosures if d.field in POLICY_ATTRIBUTES]
    sealed, sealed_detail = [], []
    for d in disclosures:
        if d.field in POLICY_ATTRIBUTES:
            continue
        part, detail = _seal_part(
            d.raw, d.field, data_key=data_key, nonce=rng(12), event_id=event_id
        )
        sealed.append(part)
        sealed_detail.append(detail)
    wraps, wrap_detail = [], []
    for r in sorted(recipients):
        wrap, detail = _wrap(data_key, r, SEAL[r], event_id=event_id, eph=f"{label}:{r}")
        wraps.append(wrap)
        wrap_detail.append(detail)
    template = _template(
        event_type,
        event_id,
        producer=producer,
        recipients=recipients,
        correlation_id=correlation_id,
    )
    envelope, decoys = _sign(template, clear, sealed, wraps, rng=rng, signer=producer)
    _same_as_the_reference_producer(envelope, event_type, payload, label)
    detail = {
        "event_id": event_id,
        "data_key": data_key.hex(),
        "clear_disclosures": [
            {"field": d.field, "bytes": d.raw.hex(), "digest": d.digest.hex()} for d in clear
        ],
        "sealed_disclosures": sealed_detail,
        "key_wraps": wrap_detail,
        "decoys": [d.hex() for d in decoys],
        "disclosure_digests": [d.hex() for d in envelope.header.disclosure_digests],
        "header": envelope.header_bytes.hex(),
        "pae": pae(HEADER_PAYLOAD_TYPE, envelope.header_bytes).hex(),
        "key_id": envelope.signature.key_id,
        "signature": envelope.signature.sig.hex(),
    }
    return Made(envelope, data_key, detail)


def _same_as_the_reference_producer(
    envelope: Envelope, event_type: str, payload: dict[str, Any], label: str
) -> None:
    reference = seal(
        event_type,
        payload,
        producer=envelope.header.producer,
        key=SIGNERS[envelope.header.producer],
        recipients=envelope.header.recipients,
        purpose=envelope.header.purpose,
        handling=envelope.header.handling,
        case_key=envelope.header.case_key,
        sequence=envelope.header.sequence,
        created_at_ms=envelope.header.created_at_ms,
        correlation_id=envelope.header.correlation_id,
        rng=counter_rng(label),
        seal_to={r: SEAL[r] for r in envelope.header.recipients},
    )
    assert reference.header.event_id == envelope.header.event_id
    assert [d.raw for d in reference.disclosures] == [d.raw for d in envelope.disclosures]
    assert [s.raw for s in reference.sealed] == [s.raw for s in envelope.sealed]
    ours = set(envelope.header.disclosure_digests) - {w.digest for w in envelope.key_wraps}
    theirs = set(reference.header.disclosure_digests) - {w.digest for w in reference.key_wraps}
    assert ours == theirs


def _deliver(
    envelope: Envelope, recipient: str, keep: Sequence[str], *, wrap_of: str | None = None
) -> Envelope:
    """The copy the hub delivers: redacted, one key wrap, attested."""
    copy = redact(envelope, keep, recipient=wrap_of or recipient)
    return attest(
        copy,
        recipient=recipient,
        agreement_id=f"{envelope.header.producer}-{recipient}-{envelope.header.event_type}",
        agreement_version=2,
        fields=copy.labels,
        leaf_ref=leaf_ref(envelope, recipient),
        hub_key=HUB_KEY,
        attested_at_ms=T0 + 60_000,
    )


# --- key material ------------------------------------------------------------


def trust_list() -> dict[str, Any]:
    """trust.json: the signed trust list every vector is verified against (protocol.md 6).

    TH and KH are members, each with one key of roles root and producer, both
    of which sign (threshold 2: a first, pinned version); the hub has its hub
    key.
    """

    def entry(owner: str, roles: frozenset[KeyRole], key: Ed25519PrivateKey) -> Any:
        public = public_of(key, owner, roles)
        return {
            "key_id": public.key_id,
            "owner": owner,
            "roles": sorted(r.value for r in roles),
            "public": base64.b64encode(public.raw).decode("ascii"),
            "not_before_ms": public.not_before_ms,
            "not_after_ms": public.not_after_ms,
            "revoked_at_ms": public.revoked_at_ms,
            "revocation_reason": None,
        }

    body = {
        "_type": TRUST_TYPE,
        "version": 1,
        "threshold": 2,
        "issued_at_ms": T0 - 10 * 86_400_000,
        "expires_at_ms": None,
        "members": {"KH": "Cambodia", "TH": "Thailand"},
        "keys": [
            entry("TH", PRODUCER_ROLES, TH_KEY),
            entry("KH", PRODUCER_ROLES, KH_KEY),
            entry(HUB_OWNER, frozenset({KeyRole.HUB}), HUB_KEY),
        ],
    }
    doc = SignedDocument(TRUST_TYPE, body, ())
    for key in (KH_KEY, TH_KEY):
        doc = doc.with_signature(key)
    return doc.to_json()


def seal_key_directory() -> dict[str, Any]:
    """seal-keys.json: the recipients' X25519 epoch seal keys, private halves included."""
    return {
        "description": (
            "Seal keys (X25519) of the recipients, as published (key_id, public_key, "
            "validity) and, since these are test vectors, with the private key "
            "(SHA-256('trm-test-seal:' + label)); null once destroyed. key_id is the "
            "lowercase hex SHA-256 of the 32 raw public key bytes."
        ),
        "keys": [
            {
                "label": p.label,
                "country": p.country,
                "key_id": p.key.key_id,
                "public_key": p.key.public_raw.hex(),
                "private_key": None
                if p.destroyed_at_ms is not None
                else p.key.private.private_bytes_raw().hex(),
                "not_before_ms": p.not_before_ms,
                "not_after_ms": p.not_after_ms,
                "destroyed_at_ms": p.destroyed_at_ms,
            }
            for p in PUBLISHED
        ],
    }


def _directory() -> TrustList:
    """trust.json as a key directory: the checks here verify against what is written."""
    return TrustList.from_signed(trust_list())


def keyring(recipient: str) -> Callable[[str], X25519PrivateKey]:
    """``private_key(key_id)`` of a recipient holding its seal-keys.json keys."""

    def private_key(key_id: str) -> X25519PrivateKey:
        for p in PUBLISHED:
            if p.key.key_id == key_id and p.country == recipient:
                if p.destroyed_at_ms is not None:
                    raise SealError(Reason.KEY_DESTROYED, f"seal key {key_id[:16]}... destroyed")
                return p.key.private
        raise SealError(Reason.SEAL_KEY_MISSING, f"no private seal key {key_id[:16]}...")

    return private_key


# --- vectors -------------------------------------------------------------------


def _example(event_type: str) -> dict[str, Any]:
    path = schemas.SCHEMA_DIR / "examples" / f"{event_type}.json"
    return payload_from_json(event_type, json.loads(path.read_text(encoding="utf-8")))


def _apply(
    envelope: bytes,
    *,
    kafka_headers: list[tuple[str, bytes]] | None,
    ingest: bool,
    recipient: str | None,
) -> tuple[str, VerifiedEvent | TrmError, Envelope | None]:
    """Run hub.wire's steps; returns the step reached and the event, or the error."""
    step = "verify"
    try:
        parsed_envelope = Envelope.from_bytes(envelope, max_size=MAX_SIZE)
        event = verify(parsed_envelope, _directory())
        if kafka_headers is not None:
            check_cloudevents(kafka_headers, parsed_envelope.header)
        if parsed_envelope.attestations:
            verify_attestation(parsed_envelope, _directory(), recipient=recipient)
        step = "ingest"
        if ingest:
            require_every_wrap(parsed_envelope)
        step = "open"
        if recipient is not None:
            event = unseal(event, recipient=recipient, private_key=keyring(recipient))
    except TrmError as exc:
        return step, exc, None
    return step, event, parsed_envelope


def _vector(
    description: str,
    envelope: Envelope | bytes,
    *,
    expected: dict[str, Any],
    ingest: bool = False,
    recipient: str | None = None,
    kafka_headers: list[tuple[str, bytes]] | None = None,
    intermediate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data = envelope.to_bytes() if isinstance(envelope, Envelope) else envelope
    seal_key_id = None
    if recipient is not None and isinstance(envelope, Envelope):
        seal_key_id = next((w.key_id for w in envelope.key_wraps if w.recipient == recipient), None)
    vector: dict[str, Any] = {
        "description": description,
        "envelope": data.hex(),
        "max_size": MAX_SIZE,
        "kafka_headers": None
        if kafka_headers is None
        else [[k, v.decode("utf-8")] for k, v in kafka_headers],
        "ingest": ingest,
        "recipient": recipient,
        "seal_key_id": seal_key_id,
        "expected": expected,
    }
    if intermediate is not None:
        vector["intermediate"] = intermediate
    return vector


def accepted(
    description: str,
    envelope: Envelope,
    *,
    payload: dict[str, Any],
    ingest: bool = False,
    recipient: str | None = None,
    kafka_headers: list[tuple[str, bytes]] | None = None,
    intermediate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A vector hub.wire accepts, with what it reads; checked against ``payload``."""
    step, event, _ = _apply(
        envelope.to_bytes(), kafka_headers=kafka_headers, ingest=ingest, recipient=recipient
    )
    if isinstance(event, TrmError):
        raise AssertionError(f"{description}: refused at {step}: {event}")
    verified = verify(envelope, _directory())
    labels = set(envelope.labels)
    readable = labels if recipient is not None else labels - {s.field for s in envelope.sealed}
    assert dict(event.fields) == {k: payload[k] for k in readable}, description
    if recipient is not None:
        assert payload_record_bytes(event) == b"".join(
            payload_codec(envelope.header.event_type.value).codecs[f].encode(payload.get(f))
            if f in labels
            else b"\x00"
            for f in payload_codec(envelope.header.event_type.value).fields
        )
    att = envelope.attestations[-1] if envelope.attestations else None
    if intermediate is not None and recipient is not None:
        intermediate = {**intermediate, "payload_record": payload_record_bytes(event).hex()}
    return _vector(
        description,
        envelope,
        expected={
            "outcome": "accepted",
            "step": None,
            "reason": None,
            "disclosed": payload_to_json(dict(sorted(event.fields.items()))),
            "sealed_fields": sorted(verified.sealed),
            "withheld": sorted(event.withheld),
            "event_digest": envelope.event_digest.hex(),
            "attestation": None if att is None else att.to_json(),
        },
        ingest=ingest,
        recipient=recipient,
        kafka_headers=kafka_headers,
        intermediate=intermediate,
    )


def rejected(
    description: str,
    envelope: Envelope | bytes,
    *,
    step: str,
    reason: Reason,
    ingest: bool = False,
    recipient: str | None = None,
) -> dict[str, Any]:
    """A vector hub.wire refuses at ``step`` with ``reason`` (checked here)."""
    data = envelope.to_bytes() if isinstance(envelope, Envelope) else envelope
    got_step, got, _ = _apply(data, kafka_headers=None, ingest=ingest, recipient=recipient)
    if not isinstance(got, TrmError) or (got_step, got.reason) != (step, reason):
        found = got.reason if isinstance(got, TrmError) else "accepted"
        raise AssertionError(
            f"{description}: expected {reason} at {step}, got {found} at {got_step}"
        )
    return _vector(
        description,
        envelope,
        expected={"outcome": "rejected", "step": step, "reason": reason.value},
        ingest=ingest,
        recipient=recipient,
    )


class _Small:
    """A short sealed referral from TH to KH and LA, whose parts a bad vector changes.

    Honest parts: is_child in the clear; sex and date_of_birth sealed; a key
    wrap for KH and for LA.
    """

    def __init__(self, label: str) -> None:
        self.rng = counter_rng(label)
        self.label = label
        self.child = _disclosure(self.rng, "referral", "is_child", True)
        self.sex = _disclosure(self.rng, "referral", "sex", "FEMALE")
        self.dob = _disclosure(self.rng, "referral", "date_of_birth", "2009-04")
        self.event_id = new_event_id(T0, self.rng)
        self.data_key = self.rng(32)

    def sealed(self, d: Disclosure, **lie: Any) -> SealedDisclosure:
        part, _ = _seal_part(
            d.raw,
            lie.pop("label", d.field),
            data_key=self.data_key,
            nonce=self.rng(12),
            event_id=self.event_id,
            **lie,
        )
        return part

    def wrap(self, recipient: str, key: TestSealKey | None = None, **lie: Any) -> KeyWrap:
        eph = f"{self.label}:{recipient}:{self.rng(4).hex()}"
        wrap, _ = _wrap(
            self.data_key,
            recipient,
            SEAL[recipient] if key is None else key,
            event_id=self.event_id,
            eph=eph,
            **lie,
        )
        return wrap

    def sign(
        self,
        clear: Sequence[Disclosure] | None = None,
        sealed: Sequence[SealedDisclosure] | None = None,
        wraps: Sequence[KeyWrap] | None = None,
    ) -> Envelope:
        """TH's signed submission of these parts (the honest ones where None)."""
        clear = [self.child] if clear is None else clear
        sealed = [self.sealed(self.sex), self.sealed(self.dob)] if sealed is None else sealed
        wraps = [self.wrap("KH"), self.wrap("LA")] if wraps is None else wraps
        template = _template("referral", self.event_id, producer="TH", recipients=("KH", "LA"))
        envelope, _ = _sign(template, clear, sealed, wraps, rng=self.rng, signer="TH")
        return envelope

    def to_kh(
        self,
        clear: Sequence[Disclosure] | None = None,
        sealed: Sequence[SealedDisclosure] | None = None,
        wraps: Sequence[KeyWrap] | None = None,
    ) -> Envelope:
        """The copy of :meth:`sign`'s event the hub delivers to KH, every field kept."""
        envelope = self.sign(clear, sealed, wraps)
        return _deliver(envelope, "KH", envelope.labels)


def _v1_frame(envelope: Envelope) -> bytes:
    """A v2 envelope's fields in the v1 envelope frame (which has no sealed parts)."""
    record = {
        "header": envelope.header_bytes,
        "signature": envelope.signature.to_record(),
        "disclosures": [d.raw for d in envelope.disclosures],
        "attestations": [a.to_record() for a in envelope.attestations],
    }
    return frame("envelope@1", encode(parsed("envelope@1"), record))


def _v2_frame(envelope: Envelope) -> bytes:
    """A v1 envelope written in the v2 frame (empty sealed parts)."""
    record = {
        "header": envelope.header_bytes,
        "signature": envelope.signature.to_record(),
        "disclosures": [d.raw for d in envelope.disclosures],
        "attestations": [],
        "sealed": [],
        "key_wraps": [],
    }
    return frame("envelope", encode(parsed("envelope"), record))


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


KEEP_KH: Final = (
    "is_child",
    "consent",
    "best_interest_assessment",
    "receiving_organisation",
    "case_number",
    "names",
    "date_of_birth",
    "sex",
    "needs",
    "languages",
    "interpreter_needed",
    "citizenship",
)


def _good(referral: dict[str, Any], good: Made) -> dict[str, Any]:
    g = good.envelope
    v: dict[str, Any] = {}
    v["good-01-referral-submission.json"] = accepted(
        "A sealed referral as TH submits it to the hub for KH and LA: the policy attributes "
        "in the clear, every other field sealed, a key wrap for each recipient. The hub "
        "(ingest) reads only the clear fields; KH opens all (LA's wrap opens the same way).",
        g,
        payload=referral,
        ingest=True,
        recipient="KH",
        kafka_headers=cloudevents_headers(g.header),
        intermediate=good.detail,
    )
    v["good-02-referral-delivered-kh.json"] = accepted(
        "The copy the hub delivers to KH: the sealed disclosures of withheld fields dropped "
        "by label, only KH's key wrap, a hub attestation; KH opens it.",
        _deliver(g, "KH", KEEP_KH),
        payload=referral,
        recipient="KH",
        kafka_headers=cloudevents_headers(g.header),
    )
    ack_payload = _example("acknowledgement") | {
        "acknowledged_event_id": g.header.event_id,
        "acknowledged_event_digest": g.event_digest,
    }
    ack = produce(
        "acknowledgement",
        ack_payload,
        producer="KH",
        recipients=["TH"],
        label="acknowledgement",
        correlation_id=g.header.event_id,
    )
    v["good-03-acknowledgement.json"] = accepted(
        "KH's sealed acknowledgement of good-01 to TH: no policy attribute in the schema, so "
        "every field is sealed; the hub routes it by the signed correlation_id. TH opens it.",
        ack.envelope,
        payload=ack_payload,
        ingest=True,
        recipient="TH",
        kafka_headers=cloudevents_headers(ack.envelope.header),
        intermediate=ack.detail,
    )
    v["good-04-referral-delivered-la.json"] = accepted(
        "The copy delivered to LA under a narrower agreement: five fields, LA's key wrap only.",
        _deliver(g, "LA", ["is_child", "consent", "case_number", "needs", "languages"]),
        payload=referral,
        recipient="LA",
    )
    v["good-05-referral-as-the-hub-sees-it.json"] = accepted(
        "good-01 checked without any seal key (the hub, an auditor): it verifies; only the "
        "policy attributes are readable, the other fields are listed as sealed.",
        g,
        payload=referral,
        ingest=True,
    )
    v["good-06-referral-policy-attributes-only.json"] = accepted(
        "A copy to KH with every sealed disclosure withheld: only the policy attributes and "
        "KH's key wrap, which still opens (there is nothing to decrypt).",
        _deliver(g, "KH", sorted(POLICY_ATTRIBUTES)),
        payload=referral,
        recipient="KH",
    )
    request_payload = _example("erasure_request") | {"event_ids": [g.header.event_id]}
    request = produce(
        "erasure_request", request_payload, producer="TH", recipients=["KH"], label="erasure"
    )
    v["good-07-erasure-request.json"] = accepted(
        "TH asks KH to erase good-01's case (same case key): every field sealed, none of them "
        "personal data; KH opens it.",
        request.envelope,
        payload=request_payload,
        ingest=True,
        recipient="KH",
        kafka_headers=cloudevents_headers(request.envelope.header),
    )
    answer_payload = _example("erasure_confirmation") | {
        "request_event_id": request.envelope.header.event_id,
        "request_event_digest": request.envelope.event_digest,
        "erased_event_ids": [g.header.event_id],
    }
    answer = produce(
        "erasure_confirmation",
        answer_payload,
        producer="KH",
        recipients=["TH"],
        label="erasure-confirmation",
        correlation_id=request.envelope.header.event_id,
    )
    v["good-08-erasure-confirmation.json"] = accepted(
        "KH confirms the erasure of good-07 to TH (correlation_id: the request's event id); "
        "TH opens it.",
        answer.envelope,
        payload=answer_payload,
        ingest=True,
        recipient="TH",
        kafka_headers=cloudevents_headers(answer.envelope.header),
    )
    return v


def _refused_by_anyone(referral: dict[str, Any], good: Made) -> list[tuple[str, dict[str, Any]]]:
    """Refused at the verify step: no seal key needed."""
    g = good.envelope
    raw = g.to_bytes()
    out: list[tuple[str, dict[str, Any]]] = []

    def refused(name: str, description: str, data: Envelope | bytes, reason: Reason) -> None:
        out.append((name, rejected(description, data, step="verify", reason=reason)))

    refused(
        "tampered-ciphertext",
        "One bit flipped in a sealed disclosure's ciphertext: its digest is no longer listed, "
        "so anyone refuses it without a key.",
        _flip(raw, raw.index(g.sealed[0].ciphertext) + 5),
        Reason.UNREFERENCED_DISCLOSURE,
    )
    s = g.sealed[1]
    relabelled = SealedDisclosure.build("sex", s.commitment, s.nonce, s.ciphertext)
    refused(
        "relabelled-by-a-third-party",
        f"good-01 with the sealed disclosure of {s.field!r} relabelled 'sex' on the way (by "
        "the hub, say): the label is part of the listed bytes.",
        Envelope.assemble(
            g.header_bytes,
            g.signature,
            g.disclosures,
            sealed=[relabelled if x is s else x for x in g.sealed],
            key_wraps=g.key_wraps,
        ),
        Reason.UNREFERENCED_DISCLOSURE,
    )
    small = _Small("truncated")
    short = SealedDisclosure.build(
        "sex", small.sex.digest, small.rng(12), small.rng(SEAL_PAD + TAG_SIZE - 1)
    )
    refused(
        "truncated-ciphertext",
        "A listed sealed disclosure whose ciphertext is 79 bytes: not a multiple of 64 plus "
        "the 16-byte tag.",
        small.sign(sealed=[short]),
        Reason.SEALING_INVALID,
    )
    small = _Small("clear")
    refused(
        "non-policy-field-in-clear",
        "Field 'sex' sent as a clear disclosure (listed and signed): a sealed event shows "
        "only the policy attributes.",
        small.sign(clear=[small.child, small.sex], sealed=[small.sealed(small.dob)]),
        Reason.SEALING_INVALID,
    )
    small = _Small("policy-sealed")
    refused(
        "policy-attribute-sealed",
        "The policy attribute is_child sealed: the hub must be able to read it.",
        small.sign(clear=[], sealed=[small.sealed(small.child), small.sealed(small.sex)]),
        Reason.SEALING_INVALID,
    )
    kh_again, _ = _wrap(
        good.data_key, "KH", SEAL["KH"], event_id=g.header.event_id, eph="unlisted:KH"
    )
    refused(
        "unlisted-key-wrap",
        "good-01 with KH's key wrap replaced by another (same data key, another ephemeral "
        "key) that the signed header does not list.",
        Envelope.assemble(
            g.header_bytes,
            g.signature,
            g.disclosures,
            sealed=g.sealed,
            key_wraps=[kh_again, g.key_wraps[1]],
        ),
        Reason.SEALING_INVALID,
    )
    small = _Small("two-wraps")
    refused(
        "two-wraps-one-recipient",
        "Two listed key wraps for KH.",
        small.sign(wraps=[small.wrap("KH"), small.wrap("KH"), small.wrap("LA")]),
        Reason.SEALING_INVALID,
    )
    small = _Small("unaddressed")
    refused(
        "wrap-for-unaddressed-recipient",
        "A listed key wrap for MM, which the header does not address.",
        small.sign(wraps=[small.wrap("KH"), small.wrap("LA"), small.wrap("MM")]),
        Reason.SEALING_INVALID,
    )
    small = _Small("wrapped-size")
    refused(
        "wrapped-key-wrong-size",
        "A listed key wrap whose wrapped data key is 49 bytes, not 32 plus the tag.",
        small.sign(wraps=[small.wrap("KH", wrapped_suffix=b"\x00"), small.wrap("LA")]),
        Reason.SEALING_INVALID,
    )
    small = _Small("unknown-field")
    refused(
        "sealed-unknown-field",
        "A listed sealed disclosure labelled 'home_address', not a referral field.",
        small.sign(sealed=[small.sealed(small.sex, label="home_address")]),
        Reason.UNKNOWN_FIELD,
    )
    small = _Small("twice")
    refused(
        "field-sealed-twice",
        "Field 'sex' sealed twice (two listed sealed disclosures).",
        small.sign(sealed=[small.sealed(small.sex), small.sealed(small.sex)]),
        Reason.DUPLICATE_FIELD,
    )
    refused(
        "v2-header-in-v1-frame",
        "good-01's signed v2 header in a v1 envelope frame (sealed parts dropped).",
        _v1_frame(g),
        Reason.UNSUPPORTED_VERSION,
    )
    v1 = seal(
        "referral",
        referral,
        producer="TH",
        key=TH_KEY,
        recipients=["KH", "LA"],
        purpose="repatriation",
        handling="H2",
        case_key="case-0042",
        sequence=7,
        created_at_ms=T0,
        rng=counter_rng("v1"),
    )
    refused(
        "v1-header-in-v2-frame",
        "A signed v1 event written in the v2 envelope frame.",
        _v2_frame(v1),
        Reason.UNSUPPORTED_VERSION,
    )
    return out


def _refused_at_ingest() -> list[tuple[str, dict[str, Any]]]:
    """Refused by the hub on a producer's submission."""
    small = _Small("missing-wrap")
    return [
        (
            "missing-wrap-on-submission",
            rejected(
                "A submission to KH and LA with a key wrap for KH only: it verifies (a "
                "delivered copy has one wrap), but the hub refuses it at ingest.",
                small.sign(wraps=[small.wrap("KH")]),
                step="ingest",
                reason=Reason.SEALING_INVALID,
                ingest=True,
            ),
        )
    ]


def _refused_when_opened(good: Made) -> list[tuple[str, dict[str, Any]]]:
    """Refused by the recipient (KH) opening its delivered copy with its seal key."""
    out: list[tuple[str, dict[str, Any]]] = []

    def refused(name: str, description: str, copy: Envelope, reason: Reason) -> None:
        vector = rejected(description, copy, step="open", reason=reason, recipient="KH")
        out.append((name, vector))

    refused(
        "no-wrap-for-recipient",
        "A copy delivered (and attested) to KH that carries LA's key wrap instead of KH's.",
        _deliver(good.envelope, "KH", KEEP_KH, wrap_of="LA"),
        Reason.SEALING_INVALID,
    )
    small = _Small("commitment")
    male = _disclosure(small.rng, "referral", "sex", "MALE")
    refused(
        "commitment-mismatch",
        "The producer committed to sex=MALE but sealed sex=FEMALE: it decrypts, and the "
        "plaintext's SHA-256 is not the commitment.",
        small.to_kh(sealed=[small.sealed(small.sex, commitment=male.digest)]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("label")
    names = _disclosure(
        small.rng,
        "referral",
        "names",
        [{"full_name": "Sok Sreypov", "lang": "km-Latn", "given": None, "family": None}],
    )
    refused(
        "label-field-mismatch",
        "A sealed disclosure labelled 'sex' (and bound to that label) whose plaintext is the "
        "disclosure of 'names', committed to: the label lies.",
        small.to_kh(sealed=[small.sealed(names, label="sex")]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("wrong-key")
    refused(
        "wrong-recipient-key",
        "KH's key wrap names KH's seal key id but was made for another X25519 key: KH's "
        "private key does not open it.",
        small.to_kh(
            wraps=[small.wrap("KH", OTHER_KEY, key_id=SEAL["KH"].key_id), small.wrap("LA")]
        ),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("padding")
    fill = padded_size(len(small.sex.raw)) - len(small.sex.raw)
    refused(
        "padding-not-zero",
        "A sealed plaintext padded with 0x01 bytes instead of zeros.",
        small.to_kh(sealed=[small.sealed(small.sex, padding=b"\x01" * fill)]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("padding-long")
    fill = padded_size(len(small.sex.raw)) - len(small.sex.raw) + SEAL_PAD
    refused(
        "padding-too-long",
        "A sealed plaintext zero-padded one block further than the next multiple of 64.",
        small.to_kh(sealed=[small.sealed(small.sex, padding=bytes(fill))]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("aad")
    elsewhere = new_event_id(T0, small.rng)
    refused(
        "sealed-for-another-event",
        "A sealed disclosure encrypted with the associated data of another event id: it does "
        "not decrypt in this one.",
        small.to_kh(sealed=[small.sealed(small.sex, aad_event_id=elsewhere)]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("info")
    elsewhere = new_event_id(T0, small.rng)
    refused(
        "wrap-for-another-event",
        "KH's key wrap made with the HPKE info of another event id: it does not open.",
        small.to_kh(wraps=[small.wrap("KH", info_event_id=elsewhere), small.wrap("LA")]),
        Reason.SEAL_MISMATCH,
    )
    small = _Small("type")
    not_an_enum = Disclosure.build(small.rng(16), "sex", b"\x02\x06yes")
    refused(
        "sealed-value-wrong-type",
        "A sealed 'sex' whose committed plaintext's value is not an exact encoding of the "
        "field's type (the enum branch followed by stray bytes).",
        small.to_kh(sealed=[small.sealed(not_an_enum)]),
        Reason.FIELD_TYPE_MISMATCH,
    )
    small = _Small("unpublished")
    refused(
        "seal-key-missing",
        "KH's key wrap is for a seal key KH holds no private key for.",
        small.to_kh(wraps=[small.wrap("KH", UNPUBLISHED_KEY), small.wrap("LA")]),
        Reason.SEAL_KEY_MISSING,
    )
    small = _Small("destroyed")
    refused(
        "key-destroyed",
        "Sealed to KH's previous epoch key, destroyed since (crypto-shredded): the "
        "event still verifies but can never be opened.",
        small.to_kh(wraps=[small.wrap("KH", SEAL["KH-previous"]), small.wrap("LA")]),
        Reason.KEY_DESTROYED,
    )
    return out


def build() -> dict[str, Any]:
    """Every file name -> its JSON content."""
    referral = _example("referral")
    good = produce("referral", referral, producer="TH", recipients=["KH", "LA"], label="referral")
    v: dict[str, Any] = {"trust.json": trust_list(), "seal-keys.json": seal_key_directory()}
    v |= _good(referral, good)
    bad = [
        *_refused_by_anyone(referral, good),
        *_refused_at_ingest(),
        *_refused_when_opened(good),
    ]
    for i, (name, vector) in enumerate(bad, 1):
        v[f"bad-{i:02d}-{name}.json"] = vector
    return v


def main() -> None:
    write_vectors(OUT, build())


if __name__ == "__main__":
    main()
