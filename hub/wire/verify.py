"""Verification: the producer's signature, the disclosure rules, the hub's attestations.

The hot path is :func:`verify`; it raises on the first failure. Steps, in
order (``docs/protocol.md`` section 3 is the normative text):

1. look up the signing key by id; it must belong to the header's producer,
   hold the PRODUCER role, and be valid (not revoked) at ``created_at``;
2. Ed25519-verify the signature over ``PAE(HEADER_PAYLOAD_TYPE, header bytes)``;
3. every disclosure's digest must be listed in the header, no digest may
   appear twice among the disclosures, no field twice, every field must be
   in the payload schema, and every value must decode exactly under the
   field's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import DeliveryError, DisclosureError, Reason, SealError, SignatureError, TrmError
from hub.keys import KeyDirectory, KeyRole, PublicKey, ed25519_verify

from . import native
from .cloudevents import check_cloudevents
from .codec import FRAME_LEN, FieldCodec, PayloadCodec, payload_codec
from .disclosures import Disclosure
from .envelope import Attestation, Envelope, Header, Signature, pae
from .fields import Fields, type_mismatch
from .sealing import open_sealed
from .vocab import (
    ATTESTATION_PAYLOAD_TYPE,
    DEFAULT_MAX_SIZE,
    DELIVERED_MAX_SIZE,
    HEADER_PAYLOAD_TYPE,
    POLICY_ATTRIBUTES,
)

__all__ = [
    "DeliveredEvent",
    "Finding",
    "VerificationResult",
    "VerifiedEvent",
    "check_key",
    "open_envelope",
    "payload_record_bytes",
    "require_every_wrap",
    "unseal",
    "verification_result",
    "verify",
    "verify_attestation",
]


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """An envelope whose signature and disclosures verified.

    ``fields`` maps each disclosed payload field to its decoded value (of a
    sealed event not yet unsealed, only the clear policy attributes);
    ``withheld`` names the schema fields with no disclosure (withheld by the
    hub, or never filled by the producer: a recipient cannot tell which).
    """

    envelope: Envelope
    header: Header
    fields: Mapping[str, Any]
    disclosed: frozenset[str]
    withheld: frozenset[str]
    key_id: str
    # A sealed event before :func:`unseal`: the disclosed fields still
    # encrypted (``fields`` holds only the clear policy attributes). Empty for
    # a v1 event and once unsealed.
    sealed: frozenset[str] = frozenset()
    # The decrypted disclosures of an unsealed event (payload_record_bytes).
    opened: tuple[Disclosure, ...] = ()

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        envelope: Envelope,
        header: Header,
        fields: Mapping[str, Any],
        disclosed: frozenset[str],
        withheld: frozenset[str],
        key_id: str,
        sealed: frozenset[str] = frozenset(),
        opened: tuple[Disclosure, ...] = (),
    ) -> None:
        object.__setattr__(self, "envelope", envelope)  # the constructor written out: D26
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "disclosed", disclosed)
        object.__setattr__(self, "withheld", withheld)
        object.__setattr__(self, "key_id", key_id)
        object.__setattr__(self, "sealed", sealed)
        object.__setattr__(self, "opened", opened)


def check_key(
    keys: KeyDirectory,
    signature: Signature,
    *,
    country: str | None,
    role: KeyRole,
    at_ms: int,
    payload_type: str,
    payload: bytes,
    reason: Reason,
) -> PublicKey:
    """Check ``signature`` over ``PAE(payload_type, payload)`` against the directory.

    ``country`` None accepts a key of any country (hub keys). ``reason`` is the
    code for a signature that does not verify (BAD_SIGNATURE, BAD_ATTESTATION).

    Raises:
        SignatureError: UNKNOWN_KEY, KEY_ROLE_NOT_ALLOWED, KEY_REVOKED,
            KEY_NOT_VALID_AT_TIME, or ``reason``.
    """
    key = keys.key(signature.key_id)
    if key is None:
        raise SignatureError(
            Reason.UNKNOWN_KEY, f"no key {signature.key_id[:16]}... in the trust list"
        )
    if country is not None and key.country != country:
        raise SignatureError(
            Reason.KEY_ROLE_NOT_ALLOWED,
            f"expected a key of {country}, key {key.key_id[:16]}... belongs to {key.country}",
        )
    if role not in key.roles:
        raise SignatureError(
            Reason.KEY_ROLE_NOT_ALLOWED,
            f"expected a {role} key, key {key.key_id[:16]}... has roles "
            f"{sorted(r.value for r in key.roles)}",
        )
    if key.revoked_at_ms is not None and at_ms >= key.revoked_at_ms:
        raise SignatureError(
            Reason.KEY_REVOKED,
            f"key {key.key_id[:16]}... was revoked at {key.revoked_at_ms}, signature dated {at_ms}",
        )
    if not key.valid_at(at_ms):
        raise SignatureError(
            Reason.KEY_NOT_VALID_AT_TIME,
            f"key {key.key_id[:16]}... is valid from {key.not_before_ms} until "
            f"{key.not_after_ms}, signature dated {at_ms}",
        )
    if not ed25519_verify(key.raw, signature.sig, pae(payload_type, payload)):
        raise SignatureError(reason, f"the signature of key {key.key_id[:16]}... does not verify")
    return key


def _disclosed_values(
    disclosures: Sequence[Disclosure], header: Header, codec: PayloadCodec
) -> Mapping[str, Any]:
    """Each disclosed field's value; raises on the first disclosure that breaks a rule.

    Raises:
        DisclosureError: DUPLICATE_DIGEST, UNREFERENCED_DISCLOSURE,
            DUPLICATE_FIELD, UNKNOWN_FIELD, FIELD_TYPE_MISMATCH.
    """
    codecs = codec.codecs
    values: dict[str, Any] = {}
    digests = [d.digest for d in disclosures]
    names = [d.field for d in disclosures]
    count = len(disclosures)
    if (
        len(set(digests)) == count
        and len(set(names)) == count
        and set(header.disclosure_digests).issuperset(digests)
        and codecs.keys() >= set(names)
    ):
        # No duplicate, unlisted or unknown disclosure anywhere (checked at C
        # speed): the first problem can only be a value, found in order below.
        raw = [d.value for d in disclosures]
        if native.values_exact([codecs[name].native for name in names], raw):
            # keyed by the digest of the schema these codecs decode with (hub.policy's memo)
            return Fields(dict(zip(names, raw, strict=True)), codecs, codec.sha256)
        for disclosure in disclosures:
            name = disclosure.field
            try:
                values[name] = codecs[name].decode(disclosure.value)
            except ValueError:
                raise type_mismatch(name) from None
        return values
    return _disclosed_values_one_by_one(disclosures, header, codecs)


def _disclosed_values_one_by_one(
    disclosures: Sequence[Disclosure], header: Header, codecs: Mapping[str, FieldCodec]
) -> dict[str, Any]:
    """:func:`_disclosed_values`, every rule checked disclosure by disclosure."""
    values: dict[str, Any] = {}
    listed = frozenset(header.disclosure_digests)
    seen_digests: set[bytes] = set()
    for disclosure in disclosures:
        digest = disclosure.digest
        if digest in seen_digests:
            raise DisclosureError(
                Reason.DUPLICATE_DIGEST, f"disclosure {digest.hex()[:16]}... appears twice"
            )
        seen_digests.add(digest)
        if digest not in listed:
            raise DisclosureError(
                Reason.UNREFERENCED_DISCLOSURE,
                f"disclosure {digest.hex()[:16]}... is not listed in the signed header",
            )
        name = disclosure.field
        if name in values:
            raise DisclosureError(Reason.DUPLICATE_FIELD, f"field {name!r} is disclosed twice")
        field_codec = codecs.get(name)
        if field_codec is None:
            raise DisclosureError(
                Reason.UNKNOWN_FIELD,
                f"field {name!r} is not in the {header.event_type} schema",
            )
        try:
            values[name] = field_codec.decode(disclosure.value)
        except ValueError:
            raise type_mismatch(name) from None
    return values


def verify_ahead(raws: list[bytes], keys: KeyDirectory) -> int:
    """Start the producer signatures of envelopes ``raws`` verifying on a native thread.

    For a batch about to be judged one by one: while :func:`verify` judges
    the first records, the thread verifies the signatures of the next ones
    on another core, and :func:`verify` takes each verdict instead of
    computing it (:func:`hub.keys.ed25519_verify`). Only a verdict on the
    very key, signature and message :func:`check_key` asks about is used, so
    what is decided, and every refusal, is as without it; an envelope this
    cannot read, or whose key is not listed, is simply verified in line.
    Forgets what an earlier call started. Returns how many were started (0
    when :data:`hub.wire.native.AHEAD` is off).
    """
    if native.AHEAD is None:
        return 0
    return int(native.AHEAD.submit(raws, FRAME_LEN, _header_pae, keys.key))


def _header_pae(header: bytes) -> bytes:
    """What a producer signs: the PAE of its header (:func:`check_key`'s message)."""
    return pae(HEADER_PAYLOAD_TYPE, header)


def verify_ahead_clear() -> None:
    """Forget the verifies :func:`verify_ahead` started (those running finish unheard)."""
    if native.AHEAD is not None:
        native.AHEAD.clear()


def verify(envelope: Envelope, keys: KeyDirectory) -> VerifiedEvent:
    """Verify an envelope against a key directory (the trust list).

    Raises:
        SignatureError: see :func:`check_key`.
        DisclosureError: DUPLICATE_DIGEST, UNREFERENCED_DISCLOSURE,
            DUPLICATE_FIELD, UNKNOWN_FIELD, FIELD_TYPE_MISMATCH.
    """
    header = envelope.header
    check_key(
        keys,
        envelope.signature,
        country=header.producer,
        role=KeyRole.PRODUCER,
        at_ms=header.created_at_ms,
        payload_type=HEADER_PAYLOAD_TYPE,
        payload=envelope.header_bytes,
        reason=Reason.BAD_SIGNATURE,
    )
    codec = payload_codec(header.event_type.value)
    values = _disclosed_values(envelope.disclosures, header, codec)
    sealed = _sealed_labels(envelope, codec.codecs, values) if envelope.is_sealed else frozenset()
    disclosed = frozenset(values) | sealed
    return VerifiedEvent(
        envelope=envelope,
        header=header,
        fields=values if type(values) is Fields else MappingProxyType(values),
        disclosed=disclosed,
        withheld=frozenset(codec.fields) - disclosed,
        key_id=envelope.signature.key_id,
        sealed=sealed,
    )


def _sealed_labels(
    envelope: Envelope, codecs: Mapping[str, FieldCodec], clear: Mapping[str, Any]
) -> frozenset[str]:
    """The rules of a sealed event's parts (section 2.9); the sealed fields' labels.

    Raises:
        SealError: SEALING_INVALID; DisclosureError: DUPLICATE_DIGEST,
            UNREFERENCED_DISCLOSURE, DUPLICATE_FIELD, UNKNOWN_FIELD.
    """
    # The common case, checked at C speed: every part listed once, every label a
    # sealable field of the schema once, each wrap for a distinct addressee.
    header = envelope.header
    sealed = envelope.sealed
    names = {s.field for s in sealed}
    digests = {s.digest for s in sealed}
    wraps = envelope.key_wraps
    listed = frozenset(header.disclosure_digests)
    if (
        POLICY_ATTRIBUTES.issuperset(clear)
        and len(names) == len(sealed) == len(digests)
        and listed.issuperset(digests)
        and names.isdisjoint(clear)
        and names.isdisjoint(POLICY_ATTRIBUTES)
        and codecs.keys() >= names
        and digests.isdisjoint(d.digest for d in envelope.disclosures)
        and listed.issuperset(w.digest for w in wraps)
        and len({w.recipient for w in wraps}) == len(wraps)
        and set(header.recipients).issuperset(w.recipient for w in wraps)
    ):
        return frozenset(names)
    labels, problems = _sealed_problems(envelope, codecs, clear)
    if problems:
        reason, detail, _index = problems[0]
        if reason is Reason.SEALING_INVALID:
            raise SealError(reason, detail)
        raise DisclosureError(reason, detail)
    return labels


def _sealed_problems(
    envelope: Envelope, codecs: Mapping[str, FieldCodec], clear: Mapping[str, Any]
) -> tuple[frozenset[str], list[tuple[Reason, str, int | None]]]:
    """Every problem of a sealed event's parts, in the order the rules are applied.

    Returns the labels of the sealed disclosures that broke no rule, and each
    problem as (reason, detail, index of the sealed disclosure or None).
    """
    header = envelope.header
    problems: list[tuple[Reason, str, int | None]] = [
        (
            Reason.SEALING_INVALID,
            f"field {name!r} is in the clear; a sealed event shows only the policy "
            f"attributes ({', '.join(sorted(POLICY_ATTRIBUTES))})",
            None,
        )
        for name in clear
        if name not in POLICY_ATTRIBUTES
    ]
    listed = frozenset(header.disclosure_digests)
    seen_digests = {d.digest for d in envelope.disclosures}
    seen_fields = set(clear)
    labels: set[str] = set()
    for index, s in enumerate(envelope.sealed):
        problem: tuple[Reason, str] | None = None
        if s.digest in seen_digests:
            problem = (
                Reason.DUPLICATE_DIGEST,
                f"sealed disclosure {s.digest.hex()[:16]}... appears twice",
            )
        elif s.digest not in listed:
            problem = (
                Reason.UNREFERENCED_DISCLOSURE,
                f"sealed disclosure {s.digest.hex()[:16]}... is not listed in the signed header",
            )
        elif s.field in seen_fields:
            problem = (Reason.DUPLICATE_FIELD, f"field {s.field!r} is disclosed twice")
        elif s.field not in codecs:
            problem = (
                Reason.UNKNOWN_FIELD,
                f"field {s.field!r} is not in the {header.event_type} schema",
            )
        elif s.field in POLICY_ATTRIBUTES:
            problem = (
                Reason.SEALING_INVALID,
                f"policy attribute {s.field!r} is sealed; the hub must be able to read it",
            )
        seen_digests.add(s.digest)
        seen_fields.add(s.field)
        if problem is None:
            labels.add(s.field)
        else:
            problems.append((problem[0], problem[1], index))
    wrapped: set[str] = set()
    for w in envelope.key_wraps:
        if w.digest not in listed:
            problems.append(
                (
                    Reason.SEALING_INVALID,
                    f"the key wrap for {w.recipient} is not listed in the signed header",
                    None,
                )
            )
        elif w.recipient not in header.recipients or w.recipient in wrapped:
            problems.append(
                (
                    Reason.SEALING_INVALID,
                    f"expected one key wrap per addressed recipient, got another for {w.recipient}",
                    None,
                )
            )
        wrapped.add(w.recipient)
    return frozenset(labels), problems


def require_every_wrap(envelope: Envelope) -> None:
    """A sealed submission carries a key wrap for every addressed recipient.

    (A delivered copy carries only its recipient's: the hub drops the others.)

    Raises:
        SealError: SEALING_INVALID naming the recipients without one.
    """
    if not envelope.is_sealed:
        return
    missing = sorted(set(envelope.header.recipients) - {w.recipient for w in envelope.key_wraps})
    if missing:
        raise SealError(
            Reason.SEALING_INVALID,
            f"expected a key wrap for every addressed recipient, none for {', '.join(missing)}",
        )


def unseal(
    event: VerifiedEvent,
    *,
    recipient: str,
    private_key: Callable[[str], X25519PrivateKey],
) -> VerifiedEvent:
    """Decrypt a sealed event's fields as ``recipient``; a v1 event is returned as is.

    ``private_key(key_id)`` gives the recipient's epoch private key for the
    key id its wrap names (``hub.sealkeys.Keyring.private``), or raises.

    Raises:
        SealError: SEALING_INVALID (no key wrap for ``recipient``), SEAL_MISMATCH
            (does not decrypt, or not to what the producer signed),
            SEAL_KEY_MISSING / KEY_DESTROYED from ``private_key``;
        DisclosureError: FIELD_TYPE_MISMATCH for a value the producer sealed
            that is not of its field's type.
    """
    envelope = event.envelope
    if not envelope.is_sealed:
        return event
    wraps = [w for w in envelope.key_wraps if w.recipient == recipient]
    if len(wraps) != 1:
        raise SealError(
            Reason.SEALING_INVALID,
            f"expected one key wrap for {recipient}, found {len(wraps)}",
        )
    opened = open_sealed(
        envelope.sealed, wraps[0], private_key(wraps[0].key_id), event_id=event.header.event_id
    )
    codecs = payload_codec(event.header.event_type.value).codecs
    values = dict(event.fields)
    for disclosure in opened:
        try:
            values[disclosure.field] = codecs[disclosure.field].decode(disclosure.value)
        except ValueError:
            raise type_mismatch(disclosure.field) from None
    return replace(event, fields=MappingProxyType(values), sealed=frozenset(), opened=opened)


def verify_attestation(
    envelope: Envelope, keys: KeyDirectory, *, recipient: str | None = None
) -> Attestation:
    """Verify every hub attestation; return the last one, which must match this copy.

    Each attestation must be signed by a HUB key valid at its ``attested_at``
    and name this event's digest; the last one must list exactly the fields
    disclosed in this envelope. A ``recipient`` (the node reading its inbox)
    must be the last attestation's recipient and one of the header's
    (docs/protocol.md section 4).

    Raises:
        SignatureError: BAD_ATTESTATION, or a key reason from :func:`check_key`.
        DeliveryError: NOT_ADDRESSED, a copy attested for another country.
    """
    if not envelope.attestations:
        raise SignatureError(
            Reason.BAD_ATTESTATION, "expected at least one hub attestation, found none"
        )
    digest = envelope.event_digest
    for attestation in envelope.attestations:
        check_key(
            keys,
            attestation.signature,
            country=None,
            role=KeyRole.HUB,
            at_ms=attestation.attested_at_ms,
            payload_type=ATTESTATION_PAYLOAD_TYPE,
            payload=attestation.statement,
            reason=Reason.BAD_ATTESTATION,
        )
        if attestation.event_digest != digest:
            raise SignatureError(
                Reason.BAD_ATTESTATION,
                f"attestation names event {attestation.event_digest.hex()[:16]}..., "
                f"this event is {digest.hex()[:16]}...",
            )
    last = envelope.attestations[-1]
    present = sorted(envelope.labels)
    if list(last.fields) != present:
        raise SignatureError(
            Reason.BAD_ATTESTATION,
            f"attestation lists fields {list(last.fields)}, envelope discloses {present}",
        )
    if recipient is not None and (
        last.recipient != recipient or recipient not in envelope.header.recipients
    ):
        raise DeliveryError(
            Reason.NOT_ADDRESSED,
            f"expected a copy attested for {recipient} and addressed to it, got one attested "
            f"for {last.recipient} of an event addressed to {list(envelope.header.recipients)}",
        )
    return last


def payload_record_bytes(event: VerifiedEvent) -> bytes:
    """The Avro binary of the payload record as the recipient may see it.

    A record's encoding is its fields' encodings in schema order, and each
    disclosure value is its field's encoding, so the record is the disclosed
    values in order with ``00`` (the null branch) for each withheld field. Any
    Avro library decodes it with the payload schema.
    """
    if event.sealed:
        raise SealError(
            Reason.SEAL_KEY_MISSING, "the event is still sealed: unseal it before reading values"
        )
    by_field = {d.field: d.value for d in (*event.envelope.disclosures, *event.opened)}
    codec = payload_codec(event.header.event_type.value)
    return b"".join(by_field.get(name, b"\x00") for name in codec.fields)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in an envelope: a reason code and a detail."""

    reason: Reason
    detail: str
    disclosure: int | None = None  # index of the disclosure concerned, if any


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """Everything :func:`verification_result` found (for auditors; not the hot path)."""

    findings: tuple[Finding, ...]
    disclosed: frozenset[str]
    withheld: frozenset[str]
    attested: bool

    @property
    def ok(self) -> bool:
        return not self.findings


def verification_result(envelope: Envelope, keys: KeyDirectory) -> VerificationResult:
    """Check everything :func:`verify` checks, and attestations, without stopping.

    Where :func:`verify` raises on the first failure, this reports every
    finding: the producer signature, each disclosure, each attestation.
    """
    findings: list[Finding] = []
    header = envelope.header
    try:
        check_key(
            keys,
            envelope.signature,
            country=header.producer,
            role=KeyRole.PRODUCER,
            at_ms=header.created_at_ms,
            payload_type=HEADER_PAYLOAD_TYPE,
            payload=envelope.header_bytes,
            reason=Reason.BAD_SIGNATURE,
        )
    except TrmError as exc:
        findings.append(Finding(exc.reason, exc.detail))
    codec = payload_codec(header.event_type.value)
    listed = frozenset(header.disclosure_digests)
    seen_digests: set[bytes] = set()
    seen_fields: set[str] = set()
    good: set[str] = set()
    for index, disclosure in enumerate(envelope.disclosures):
        problem: tuple[Reason, str] | None = None
        name = disclosure.field
        field_codec = codec.codecs.get(name)
        if disclosure.digest in seen_digests:
            problem = (Reason.DUPLICATE_DIGEST, "the same disclosure appears twice")
        elif disclosure.digest not in listed:
            problem = (Reason.UNREFERENCED_DISCLOSURE, f"field {name!r} is not listed")
        elif name in seen_fields:
            problem = (Reason.DUPLICATE_FIELD, f"field {name!r} is disclosed twice")
        elif field_codec is None:
            problem = (Reason.UNKNOWN_FIELD, f"field {name!r} is not in the schema")
        else:
            try:
                field_codec.decode(disclosure.value)
            except ValueError:
                problem = (Reason.FIELD_TYPE_MISMATCH, f"field {name!r} has a bad value")
        seen_digests.add(disclosure.digest)
        seen_fields.add(name)
        if problem is None:
            good.add(name)
        else:
            findings.append(Finding(problem[0], problem[1], index))
    if envelope.is_sealed:
        labels, problems = _sealed_problems(envelope, codec.codecs, dict.fromkeys(good))
        clear_problems = {name for name in good if name not in POLICY_ATTRIBUTES}
        good = (good - clear_problems) | labels
        findings.extend(Finding(reason, detail, index) for reason, detail, index in problems)
    attested = False
    if envelope.attestations:
        try:
            verify_attestation(envelope, keys)
            attested = True
        except TrmError as exc:
            findings.append(Finding(exc.reason, exc.detail))
    disclosed = frozenset(good)
    return VerificationResult(
        findings=tuple(findings),
        disclosed=disclosed,
        withheld=frozenset(codec.fields) - disclosed,
        attested=attested,
    )


@dataclass(frozen=True, slots=True)
class DeliveredEvent:
    """What a recipient gets from :func:`open_envelope`: the event and its attestation."""

    event: VerifiedEvent
    attestation: Attestation | None


def open_envelope(
    data: bytes | bytearray | memoryview,
    keys: KeyDirectory,
    *,
    kafka_headers: Iterable[tuple[str, bytes | None]] | None = None,
    require_attestation: bool = False,
    max_size: int | None = None,
    recipient: str | None = None,
    private_key: Callable[[str], X25519PrivateKey] | None = None,
) -> DeliveredEvent:
    """Everything a recipient checks, in the order of docs/protocol.md 2.8.

    Parse (``max_size``: by default :data:`DEFAULT_MAX_SIZE`, or
    :data:`DELIVERED_MAX_SIZE` when ``require_attestation`` is set, which leaves
    room for the hub's attestation on an envelope at the limit); :func:`verify`;
    if ``kafka_headers`` is given, the CloudEvents check; then
    :func:`verify_attestation` when the envelope carries attestations or
    ``require_attestation`` is set (a node's inbox sets it: everything there
    comes through the hub, and then the copy must be attested for
    ``recipient``); then, for a sealed event when ``recipient`` and
    ``private_key`` are given, :func:`unseal`.

    Raises:
        WireError, SignatureError, DisclosureError, DeliveryError.
    """
    if max_size is None:
        max_size = DELIVERED_MAX_SIZE if require_attestation else DEFAULT_MAX_SIZE
    envelope = Envelope.from_bytes(data, max_size=max_size)
    event = verify(envelope, keys)
    if kafka_headers is not None:  # computed from the verified header (section 5)
        check_cloudevents(kafka_headers, envelope.header)
    attestation = None
    if envelope.attestations or require_attestation:
        attestation = verify_attestation(
            envelope, keys, recipient=recipient if require_attestation else None
        )
    if recipient is not None and private_key is not None:
        event = unseal(event, recipient=recipient, private_key=private_key)
    return DeliveredEvent(event, attestation)
