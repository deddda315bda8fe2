"""Making envelopes: seal (producer), redact (hub), attest (hub)."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.errors import Reason, SealError, WireError
from hub.keys import ed25519_sign, signer_key_id

from .codec import frame, part, payload_codec
from .disclosures import Disclosure, KeyWrap, SealedDisclosure
from .envelope import (
    Attestation,
    Envelope,
    Header,
    Signature,
    attestation_record,
    check_statement,
    encode_envelope,
    pae,
)
from .eventtypes import EventType
from .sealing import RecipientKey, seal_disclosures
from .vocab import (
    ATTESTATION_PAYLOAD_TYPE,
    HEADER_PAYLOAD_TYPE,
    POLICY_ATTRIBUTES,
    SALT_SIZE,
    SEALED_VERSION,
    SPEC_VERSION,
    shown,
)

__all__ = [
    "DeliveredCopy",
    "Rng",
    "attest",
    "deliver_copy",
    "new_event_id",
    "payload_fields",
    "redact",
    "seal",
]

Rng = Callable[[int], bytes]
"""A source of random bytes: ``rng(n)`` returns ``n`` bytes (default ``os.urandom``)."""

_VALUE_IN_MESSAGE = re.compile(r" is <.*> of type <class '([\w.]+)'>", re.DOTALL)


def _event_type(value: str | EventType) -> EventType:
    try:
        return EventType(value)
    except ValueError:
        raise WireError(
            Reason.UNKNOWN_EVENT_TYPE,
            f"expected one of {[t.value for t in EventType]}, got {shown(value)}",
        ) from None


def payload_fields(event_type: str | EventType) -> tuple[str, ...]:
    """All disclosable field names of an event type's payload, in schema order."""
    return payload_codec(_event_type(event_type).value).fields


def new_event_id(created_at_ms: int, rng: Rng = os.urandom) -> str:
    """A UUIDv7 (RFC 9562) whose timestamp is ``created_at_ms``."""
    rand = int.from_bytes(rng(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (created_at_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62
    value |= rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _clean_problem(name: str, problem: str) -> str:
    # fastavro quotes the offending value; a value may be personal data, so
    # keep only its type and what the schema expected.
    try:
        messages = json.loads(problem)  # fastavro's ValidationError is a JSON list
    except ValueError:
        messages = [problem]
    if not isinstance(messages, list) or not messages:
        messages = [problem]
    last = str(messages[-1])
    last = _VALUE_IN_MESSAGE.sub(r" is a \1", last)
    last = re.sub(r"^Field\((.*?)\) is None", r"\1 is missing", last)
    if " expected {" in last:
        head, expected = last.split(" expected ", 1)
        last = f"{head} expected {_describe(expected)}"
    return f"field {name!r}: {last}"


def _describe(expected: str) -> str:
    """A schema repr from fastavro as a short phrase (schemas hold no personal data)."""
    try:
        schema = ast.literal_eval(expected)
    except (ValueError, SyntaxError):
        return "a different type"
    if not isinstance(schema, dict):
        return str(schema)
    kind = schema.get("type")
    if kind == "enum":
        return "one of " + ", ".join(schema.get("symbols", []))
    if kind in ("record", "fixed"):
        return f"a {schema.get('name', kind)} {kind}"
    if kind == "array":
        return "an array"
    return str(kind)


def seal(
    event_type: str | EventType,
    payload: Mapping[str, Any],
    *,
    producer: str,
    key: Ed25519PrivateKey,
    recipients: Iterable[str],
    purpose: str,
    handling: str,
    case_key: str,
    sequence: int,
    created_at_ms: int,
    event_id: str | None = None,
    correlation_id: str | None = None,
    decoys: int | None = None,
    rng: Rng | None = None,
    seal_to: Mapping[str, RecipientKey] | None = None,
) -> Envelope:
    """Seal a payload into a signed envelope.

    One salted disclosure per non-null field; the header lists their digests
    plus ``decoys`` random ones, sorted. With ``decoys=None`` the digest count
    is padded to the number of fields in the schema (plus the recipients, in a
    sealed event), so it says nothing about which or how many fields were filled.

    ``seal_to`` (each recipient's seal key) makes a sealed v2 event: only the
    policy attributes stay in the clear, every other field is encrypted and
    the data key wrapped to each recipient (``hub.wire.sealing``). Without it
    the event is v1, readable by the hub: only for interop, when asked for.

    Raises:
        WireError: UNKNOWN_EVENT_TYPE; INVALID_PAYLOAD naming the bad field
            (never quoting its value); INVALID_HEADER and friends from
            :class:`Header` for bad header arguments.
    """
    rand = rng or os.urandom
    kind = _event_type(event_type)
    codec = payload_codec(kind.value)
    if not isinstance(payload, Mapping):
        raise WireError(
            Reason.INVALID_PAYLOAD,
            f"expected the payload to be an object, got {type(payload).__name__}",
        )
    unknown = sorted(set(payload) - set(codec.fields))
    if unknown:
        raise WireError(
            Reason.INVALID_PAYLOAD,
            f"field {shown(unknown[0])} is not in the {kind} schema "
            f"(fields: {', '.join(codec.fields)})",
        )
    disclosures: list[Disclosure] = []
    for name in codec.fields:
        value = payload.get(name)
        if value is None:
            continue
        field_codec = codec.codecs[name]
        # The compiled writer answers only for values of exactly the field's
        # types (valid by construction); anything else is validated and
        # written by fastavro, as before.
        encoded = field_codec.fast_encode(value)
        if encoded is None:
            problem = field_codec.problem(value)
            if problem is not None:
                raise WireError(Reason.INVALID_PAYLOAD, _clean_problem(name, problem))
            encoded = field_codec.encode(value)
        disclosures.append(Disclosure.build(rand(SALT_SIZE), name, encoded))
    addressed = tuple(sorted(set(recipients)))
    sealed: tuple[SealedDisclosure, ...] = ()
    wraps: tuple[KeyWrap, ...] = ()
    if seal_to is not None:
        event_id = event_id or new_event_id(created_at_ms, rand)
        missing = sorted(set(addressed) - set(seal_to))
        if missing:
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected a seal key for every recipient, none for {', '.join(missing)}",
            )
        secret = [d for d in disclosures if d.field not in POLICY_ATTRIBUTES]
        disclosures = [d for d in disclosures if d.field in POLICY_ATTRIBUTES]
        sealed, wraps = seal_disclosures(
            secret,
            event_id=event_id,
            seal_to={r: seal_to[r] for r in addressed},
            rng=rand,
        )
    parts = [d.digest for d in disclosures] + [s.digest for s in sealed] + [w.digest for w in wraps]
    if decoys is None:
        decoys = max(0, len(codec.fields) + len(wraps) - len(parts))
    if decoys < 0:
        raise WireError(Reason.INVALID_PAYLOAD, f"expected decoys >= 0, got {decoys}")
    digests = parts + [rand(32) for _ in range(decoys)]
    # (after the decoys: a v1 event draws its random bytes in the order it always did)
    event_id = event_id or new_event_id(created_at_ms, rand)
    header = Header(
        spec_version=SPEC_VERSION if seal_to is None else SEALED_VERSION,
        event_id=event_id,
        event_type=kind,
        payload_schema=codec.sha256,
        producer=producer,
        sequence=sequence,
        created_at_ms=created_at_ms,
        recipients=addressed,
        purpose=purpose,
        handling=handling,
        case_key=case_key,
        correlation_id=correlation_id,
        disclosure_digests=tuple(sorted(digests)),
    )
    header_bytes = header.encode()
    signature = Signature(
        signer_key_id(key), ed25519_sign(key, pae(HEADER_PAYLOAD_TYPE, header_bytes))
    )
    return Envelope.assemble(
        header_bytes, signature, disclosures, sealed=sealed, key_wraps=wraps, header=header
    )


def redact(envelope: Envelope, keep: Iterable[str], *, recipient: str | None = None) -> Envelope:
    """The same envelope with only the disclosures of fields in ``keep``.

    Header, signature and attestations are carried over byte for byte; the
    result verifies against the same keys. Sealed disclosures are kept or
    dropped whole by their field label; with ``recipient`` given, a sealed
    event keeps only that recipient's key wrap.
    """
    disclosures, sealed, wraps = _kept(envelope, frozenset(keep), recipient)
    return Envelope.assemble(
        envelope.header_bytes,
        envelope.signature,
        disclosures,
        envelope.attestations,
        sealed=sealed,
        key_wraps=wraps,
        header=envelope.header,
        event_digest=envelope.event_digest,
    )


def _kept(
    envelope: Envelope, wanted: frozenset[str], recipient: str | None
) -> tuple[list[Disclosure], list[SealedDisclosure], list[KeyWrap]]:
    """The parts :func:`redact` keeps: disclosures and sealed parts by field, wraps by recipient."""
    return (
        [d for d in envelope.disclosures if d.field in wanted],
        [s for s in envelope.sealed if s.field in wanted],
        [w for w in envelope.key_wraps if recipient is None or w.recipient == recipient],
    )


def attest(
    envelope: Envelope,
    *,
    recipient: str,
    agreement_id: str,
    agreement_version: int,
    fields: Iterable[str],
    leaf_ref: str,
    hub_key: Ed25519PrivateKey,
    attested_at_ms: int,
) -> Envelope:
    """Append a hub attestation for the copy delivered to ``recipient``.

    ``fields`` should be exactly the fields disclosed in ``envelope`` (redact
    first, or use :func:`deliver_copy`); :func:`hub.wire.verify_attestation`
    checks that.
    """
    statement, record, sig = _statement(
        envelope.event_digest,
        recipient=recipient,
        agreement_id=agreement_id,
        agreement_version=agreement_version,
        fields=sorted(set(fields)),
        leaf_ref=leaf_ref,
        hub_key=hub_key,
        attested_at_ms=attested_at_ms,
    )
    signature = Signature(signer_key_id(hub_key), sig)
    attestation = (
        Attestation.from_parts(statement, signature)
        if record is None
        else Attestation.from_record(statement, signature, record)
    )
    return Envelope.assemble(
        envelope.header_bytes,
        envelope.signature,
        envelope.disclosures,
        (*envelope.attestations, attestation),
        sealed=envelope.sealed,
        key_wraps=envelope.key_wraps,
        header=envelope.header,
        event_digest=envelope.event_digest,
    )


@dataclass(frozen=True, slots=True)
class DeliveredCopy:
    """What :func:`deliver_copy` makes: the copy's envelope bytes and the fields it
    carries (clear and sealed, sorted: as its attestation names them)."""

    value: bytes
    fields: tuple[str, ...]

    def __init__(self, value: bytes, fields: tuple[str, ...]) -> None:
        object.__setattr__(self, "value", value)  # the constructor written out: D26
        object.__setattr__(self, "fields", fields)


def deliver_copy(
    envelope: Envelope,
    keep: Iterable[str],
    *,
    recipient: str,
    agreement_id: str,
    agreement_version: int,
    leaf_ref: str,
    hub_key: Ed25519PrivateKey,
    attested_at_ms: int,
) -> DeliveredCopy:
    """The copy the hub delivers: :func:`redact` to ``keep`` for ``recipient``, then
    :func:`attest` naming exactly the fields the copy carries; the bytes of those
    two calls, encoded once and with no envelope built (the hub only sends them;
    an attestation is built, and its statement parsed, only where the fast
    encoder declines the statement's values).

    Raises:
        SignatureError: BAD_ATTESTATION for a recipient that is no alpha-2 code.
        SealError: SEALING_INVALID for sealed parts in a v1 envelope.
    """
    disclosures, sealed, wraps = _kept(envelope, frozenset(keep), recipient)
    fields = sorted({*(d.field for d in disclosures), *(s.field for s in sealed)})
    statement, record, sig = _statement(
        envelope.event_digest,
        recipient=recipient,
        agreement_id=agreement_id,
        agreement_version=agreement_version,
        fields=fields,
        leaf_ref=leaf_ref,
        hub_key=hub_key,
        attested_at_ms=attested_at_ms,
    )
    if record is None:  # the fast encoder declined: parse what was written, as attest does
        Attestation.from_parts(statement, Signature(signer_key_id(hub_key), sig))
    else:
        check_statement(record)
    value = encode_envelope(
        envelope.header,
        envelope.header_bytes,
        envelope.signature.to_record(),
        [d.raw for d in disclosures],
        [
            *(a.to_record() for a in envelope.attestations),
            attestation_record(statement, signer_key_id(hub_key), sig),
        ],
        sealed=[s.raw for s in sealed],
        key_wraps=[w.raw for w in wraps],
    )
    return DeliveredCopy(value, tuple(fields))


def _statement(
    event_digest: bytes,
    *,
    recipient: str,
    agreement_id: str,
    agreement_version: int,
    fields: list[str],
    leaf_ref: str,
    hub_key: Ed25519PrivateKey,
    attested_at_ms: int,
) -> tuple[bytes, dict[str, Any] | None, bytes]:
    """The hub's attestation statement about the copy for ``recipient`` of the event
    with ``event_digest`` (``fields`` sorted, each once), framed, and its signature;
    with the record it encodes when the fast encoder wrote it (its values then
    decode back to themselves), else None."""
    record = {
        "spec_version": SPEC_VERSION,
        "event_digest": event_digest,
        "recipient": recipient,
        "agreement_id": agreement_id,
        "agreement_version": agreement_version,
        "fields": fields,
        "leaf_ref": leaf_ref,
        "attested_at": attested_at_ms,
    }
    codec = part("attestation_statement")
    body = codec.fast_encode(record)
    statement = frame("attestation_statement", codec.encode(record) if body is None else body)
    sig = ed25519_sign(hub_key, pae(ATTESTATION_PAYLOAD_TYPE, statement))
    return statement, (None if body is None else record), sig
