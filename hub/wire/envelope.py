"""The envelope and its parts, parsed from bytes by validating constructors.

Byte layout (all Avro binary; "frame" = single-object encoding
``C3 01 || CRC-64-AVRO(PCF) || body``)::

    envelope    = frame(Envelope{header: bytes, signature: Signature,
                                 disclosures: array<bytes>,
                                 attestations: array<Attestation>})
    header      = frame(Header{...})            signed, never re-encoded
    disclosure  = Disclosure{salt: fixed16, field: string, value: bytes}
    digest      = SHA-256(disclosure bytes)     listed, sorted, in the header
    statement   = frame(AttestationStatement{...})   signed by a hub key

``Envelope.from_bytes`` checks structure only (framing, Avro, sizes, header
vocabulary); :func:`hub.wire.verify` checks signatures and disclosure rules.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import schemas
from hub.errors import Reason, SignatureError, WireError

from .codec import FRAME_LEN, MAGIC, frame, part, unframe
from .disclosures import (
    DATA_KEY_SIZE,
    SEALED_DOMAIN,
    TAG_SIZE,
    WRAP_DOMAIN,
    Disclosure,
    KeyWrap,
    SealedDisclosure,
    parse_disclosures,
    parse_key_wraps,
    parse_sealed,
    read_varint,
    sealing_invalid,
)
from .eventtypes import EventType
from .vocab import (
    COUNTRY_CODE,
    DEFAULT_MAX_SIZE,
    HANDLING_CODES,
    KEY_ID_HEX,
    MAX_ATTESTATIONS,
    MAX_DIGESTS,
    MAX_RECIPIENTS,
    PURPOSES,
    SEALED_VERSION,
    SPEC_VERSION,
    SPEC_VERSIONS,
    shown,
)

__all__ = [
    "DATA_KEY_SIZE",
    "SEALED_DOMAIN",
    "TAG_SIZE",
    "WRAP_DOMAIN",
    "Attestation",
    "Disclosure",
    "Envelope",
    "Header",
    "KeyWrap",
    "SealedDisclosure",
    "Signature",
    "attestation_record",
    "check_statement",
    "encode_envelope",
    "pae",
    "parse_disclosures",
    "parse_key_wraps",
    "parse_sealed",
    "read_varint",
]

_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
# A case key is the Kafka record key: printable ASCII without spaces, bounded.
_CASE_KEY = re.compile(r"^[A-Za-z0-9._:~-]{1,128}\Z")
_SIG_LEN: Final = 64
_sha256 = hashlib.sha256


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`` where LEN is
    the byte length in ASCII decimal without leading zeros.
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _bad_header(detail: str) -> WireError:
    return WireError(Reason.INVALID_HEADER, detail)


@dataclass(frozen=True, slots=True)
class Header:
    """The signed header of an event (see ``schemas/header.avsc``)."""

    spec_version: int
    event_id: str
    event_type: EventType
    payload_schema: bytes
    producer: str
    sequence: int
    created_at_ms: int
    recipients: tuple[str, ...]
    purpose: str
    handling: str
    case_key: str
    correlation_id: str | None
    disclosure_digests: tuple[bytes, ...]

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        spec_version: int,
        event_id: str,
        event_type: EventType,
        payload_schema: bytes,
        producer: str,
        sequence: int,
        created_at_ms: int,
        recipients: tuple[str, ...],
        purpose: str,
        handling: str,
        case_key: str,
        correlation_id: str | None,
        disclosure_digests: tuple[bytes, ...],
    ) -> None:
        object.__setattr__(self, "spec_version", spec_version)  # written out: D26
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "payload_schema", payload_schema)
        object.__setattr__(self, "producer", producer)
        object.__setattr__(self, "sequence", sequence)
        object.__setattr__(self, "created_at_ms", created_at_ms)
        object.__setattr__(self, "recipients", recipients)
        object.__setattr__(self, "purpose", purpose)
        object.__setattr__(self, "handling", handling)
        object.__setattr__(self, "case_key", case_key)
        object.__setattr__(self, "correlation_id", correlation_id)
        object.__setattr__(self, "disclosure_digests", disclosure_digests)
        self._check()

    def _check(self) -> None:
        if self.spec_version not in SPEC_VERSIONS:
            raise WireError(
                Reason.UNSUPPORTED_VERSION,
                f"expected spec_version {SPEC_VERSION} or {SEALED_VERSION}, "
                f"got {self.spec_version}",
            )
        if not _UUID7.match(self.event_id):
            raise _bad_header(
                f"expected event_id to be a lowercase UUIDv7, got {shown(self.event_id)}"
            )
        known = EventType.of_schema(self.payload_schema)
        if known is None:
            raise WireError(
                Reason.UNKNOWN_SCHEMA,
                f"expected the SHA-256 of a known {self.event_type} payload schema, "
                f"got {self.payload_schema.hex()}",
            )
        if known is not self.event_type:
            raise WireError(
                Reason.UNKNOWN_SCHEMA,
                f"payload schema {self.payload_schema.hex()[:16]}... is a {known} schema, "
                f"header says {self.event_type}",
            )
        if not COUNTRY_CODE.match(self.producer):
            raise _bad_header(
                f"expected producer to be an alpha-2 code, got {shown(self.producer)}"
            )
        if self.sequence < 0 or self.created_at_ms < 0:
            raise _bad_header(
                f"expected sequence and created_at >= 0, got {self.sequence} "
                f"and {self.created_at_ms}"
            )
        if not self.recipients or len(self.recipients) > MAX_RECIPIENTS:
            raise _bad_header(
                f"expected 1..{MAX_RECIPIENTS} recipients, got {len(self.recipients)}"
            )
        for country in self.recipients:
            if not COUNTRY_CODE.match(country):
                raise _bad_header(f"expected recipient alpha-2 codes, got {shown(country)}")
        if any(a >= b for a, b in zip(self.recipients, self.recipients[1:], strict=False)):
            raise _bad_header(
                f"expected recipients sorted without duplicates, got {list(self.recipients)}"
            )
        if self.producer in self.recipients:
            raise _bad_header(f"producer {self.producer} may not address itself")
        if self.purpose not in PURPOSES:
            raise _bad_header(
                f"expected a purpose in {sorted(PURPOSES)}, got {shown(self.purpose)}"
            )
        if self.handling not in HANDLING_CODES:
            raise _bad_header(
                f"expected a handling code in {sorted(HANDLING_CODES)}, got {shown(self.handling)}"
            )
        if not _CASE_KEY.match(self.case_key):
            raise _bad_header(
                "expected case_key of 1-128 characters from [A-Za-z0-9._:~-], "
                f"got {len(self.case_key)} characters"
            )
        if self.correlation_id is not None and not _UUID.match(self.correlation_id):
            raise _bad_header(
                f"expected correlation_id to be a lowercase UUID, got {shown(self.correlation_id)}"
            )
        digests = self.disclosure_digests
        if len(digests) > MAX_DIGESTS:
            raise WireError(
                Reason.OVERSIZED,
                f"expected at most {MAX_DIGESTS} disclosure digests, got {len(digests)}",
            )
        if len(set(digests)) == len(digests) and list(digests) == sorted(digests):
            return  # sorted, no duplicates (checked at C speed; the loop names a problem)
        for prev, cur in itertools.pairwise(digests):
            if prev == cur:
                raise WireError(
                    Reason.DUPLICATE_DIGEST,
                    f"digest {cur.hex()} is listed twice in the header",
                )
            if prev > cur:
                raise _bad_header("expected disclosure_digests sorted ascending bytewise")

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Header:
        """Build from a decoded Avro record, validating the vocabulary."""
        # The version first: a later version may bring event types this one lacks.
        if rec["spec_version"] not in SPEC_VERSIONS:
            raise WireError(
                Reason.UNSUPPORTED_VERSION,
                f"expected spec_version {SPEC_VERSION} or {SEALED_VERSION}, "
                f"got {rec['spec_version']}",
            )
        try:
            event_type = EventType(rec["event_type"])
        except ValueError:
            raise WireError(
                Reason.UNKNOWN_EVENT_TYPE,
                f"expected one of {[t.value for t in EventType]}, got {shown(rec['event_type'])}",
            ) from None
        return Header(
            spec_version=rec["spec_version"],
            event_id=rec["event_id"],
            event_type=event_type,
            payload_schema=rec["payload_schema"],
            producer=rec["producer"],
            sequence=rec["sequence"],
            created_at_ms=rec["created_at"],
            recipients=tuple(rec["recipients"]),
            purpose=rec["purpose"],
            handling=rec["handling"],
            case_key=rec["case_key"],
            correlation_id=rec["correlation_id"],
            disclosure_digests=tuple(rec["disclosure_digests"]),
        )

    def to_record(self) -> dict[str, Any]:
        """The Avro record (for encoding a new header when sealing)."""
        return {
            "spec_version": self.spec_version,
            "event_id": self.event_id,
            "event_type": self.event_type.value,
            "payload_schema": self.payload_schema,
            "producer": self.producer,
            "sequence": self.sequence,
            "created_at": self.created_at_ms,
            "recipients": list(self.recipients),
            "purpose": self.purpose,
            "handling": self.handling,
            "case_key": self.case_key,
            "correlation_id": self.correlation_id,
            "disclosure_digests": list(self.disclosure_digests),
        }

    def encode(self) -> bytes:
        """Fresh single-object bytes (only when sealing; never for a received header)."""
        return frame("header", part("header").encode(self.to_record()))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Header:
        """Parse single-object-encoded header bytes.

        Raises:
            WireError: MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO,
                UNSUPPORTED_VERSION, UNKNOWN_EVENT_TYPE, INVALID_HEADER,
                DUPLICATE_DIGEST, OVERSIZED.
        """
        body = unframe("header", bytes(data), "header")
        try:
            rec = part("header").decode(body)
        except ValueError as exc:
            raise WireError(
                Reason.MALFORMED_AVRO, f"expected an Avro Header record: {exc}"
            ) from exc
        return Header.from_record(rec)


@dataclass(frozen=True, slots=True)
class Signature:
    """An Ed25519 signature and the id of the key that made it."""

    key_id: str
    sig: bytes

    def __init__(self, key_id: str, sig: bytes) -> None:
        object.__setattr__(self, "key_id", key_id)  # the constructor written out: D26
        object.__setattr__(self, "sig", sig)
        if not KEY_ID_HEX.match(self.key_id):
            raise SignatureError(
                Reason.UNKNOWN_KEY,
                f"expected a key id of 64 lowercase hex digits, got {len(self.key_id)} chars",
            )
        if len(self.sig) != _SIG_LEN:
            raise SignatureError(
                Reason.BAD_SIGNATURE,
                f"expected a {_SIG_LEN}-byte Ed25519 signature, got {len(self.sig)} bytes",
            )

    def to_record(self) -> dict[str, Any]:
        return _signature_record(self.key_id, self.sig)


def _signature_record(key_id: str, sig: bytes) -> dict[str, Any]:
    """A signature's Avro record (a header's, an attestation's)."""
    return {"key_id": key_id, "sig": sig}


def attestation_record(statement: bytes, key_id: str, sig: bytes) -> dict[str, Any]:
    """An attestation's Avro record: the framed statement and its signature's record
    (:meth:`Attestation.to_record`, and a copy the hub encodes without building one)."""
    return {"statement": statement, "signature": _signature_record(key_id, sig)}


def _attestation_signature(rec: dict[str, Any]) -> Signature:
    """An attestation's signature: a malformed one is BAD_ATTESTATION (protocol.md 4).

    A key id that is not 64 lowercase hex stays UNKNOWN_KEY, as for a header.
    """
    try:
        return Signature(rec["key_id"], rec["sig"])
    except SignatureError as exc:
        if exc.reason is Reason.BAD_SIGNATURE:
            raise SignatureError(Reason.BAD_ATTESTATION, exc.detail) from None
        raise


def check_statement(rec: dict[str, Any]) -> None:
    """An attestation statement's record names this version and an alpha-2 recipient.

    Raises:
        SignatureError: BAD_ATTESTATION otherwise.
    """
    if rec["spec_version"] != SPEC_VERSION or not COUNTRY_CODE.match(rec["recipient"]):
        raise SignatureError(
            Reason.BAD_ATTESTATION,
            f"expected spec_version {SPEC_VERSION} and an alpha-2 recipient, "
            f"got {rec['spec_version']} and {shown(rec['recipient'])}",
        )


@dataclass(frozen=True, slots=True)
class Attestation:
    """A hub attestation: a signed statement about one delivered copy."""

    statement: bytes
    signature: Signature
    event_digest: bytes
    recipient: str
    agreement_id: str
    agreement_version: int
    fields: tuple[str, ...]
    leaf_ref: str
    attested_at_ms: int

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        statement: bytes,
        signature: Signature,
        event_digest: bytes,
        recipient: str,
        agreement_id: str,
        agreement_version: int,
        fields: tuple[str, ...],
        leaf_ref: str,
        attested_at_ms: int,
    ) -> None:
        object.__setattr__(self, "statement", statement)  # the constructor written out: D26
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "event_digest", event_digest)
        object.__setattr__(self, "recipient", recipient)
        object.__setattr__(self, "agreement_id", agreement_id)
        object.__setattr__(self, "agreement_version", agreement_version)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "leaf_ref", leaf_ref)
        object.__setattr__(self, "attested_at_ms", attested_at_ms)

    @classmethod
    def from_parts(cls, statement: bytes, signature: Signature) -> Attestation:
        """Parse the statement bytes.

        Raises:
            SignatureError: BAD_ATTESTATION when the statement is malformed.
        """
        try:
            body = unframe("attestation_statement", statement, "attestation statement")
            rec = part("attestation_statement").decode(body)
        except (WireError, ValueError) as exc:
            raise SignatureError(
                Reason.BAD_ATTESTATION, f"expected an AttestationStatement: {exc}"
            ) from exc
        return Attestation.from_record(statement, signature, rec)

    @classmethod
    def from_record(
        cls, statement: bytes, signature: Signature, rec: dict[str, Any]
    ) -> Attestation:
        """From ``statement`` and its decoded record (attest has it: no second decode).

        Raises:
            SignatureError: BAD_ATTESTATION for a wrong version or recipient.
        """
        check_statement(rec)
        return Attestation(
            statement=statement,
            signature=signature,
            event_digest=rec["event_digest"],
            recipient=rec["recipient"],
            agreement_id=rec["agreement_id"],
            agreement_version=rec["agreement_version"],
            fields=tuple(rec["fields"]),
            leaf_ref=rec["leaf_ref"],
            attested_at_ms=rec["attested_at"],
        )

    def to_record(self) -> dict[str, Any]:
        return attestation_record(self.statement, self.signature.key_id, self.signature.sig)

    def to_json(self) -> dict[str, Any]:
        """The statement in the JSON form of docs/protocol.md section 2.7."""
        return {
            "recipient": self.recipient,
            "agreement_id": self.agreement_id,
            "agreement_version": self.agreement_version,
            "fields": list(self.fields),
            "leaf_ref": self.leaf_ref,
            "attested_at_ms": self.attested_at_ms,
        }


def _envelope_part(version: int) -> str:
    """The schema an envelope of header ``version`` is written with."""
    return "envelope@1" if version == SPEC_VERSION else "envelope"


def encode_envelope(
    header: Header,
    header_bytes: bytes,
    signature: dict[str, Any],
    disclosures: list[bytes],
    attestations: list[dict[str, Any]],
    *,
    sealed: list[bytes] | None = None,
    key_wraps: list[bytes] | None = None,
) -> bytes:
    """An envelope's bytes (framed Avro) from its parts: ``header`` parsed from
    ``header_bytes``, the signature's and attestations' records, the disclosures',
    sealed parts' and key wraps' bytes (lists: what the fast encoder writes). A v1
    header is written in a v1 envelope.

    Raises:
        SealError: SEALING_INVALID for sealed parts in a v1 envelope.
    """
    record: dict[str, Any] = {
        "header": header_bytes,
        "signature": signature,
        "disclosures": disclosures,
        "attestations": attestations,
    }
    name = _envelope_part(header.spec_version)
    if header.spec_version == SEALED_VERSION:
        record["sealed"] = sealed or []
        record["key_wraps"] = key_wraps or []
    elif sealed or key_wraps:
        raise sealing_invalid("a v1 (unsealed) event has no sealed disclosures or key wraps")
    return frame(name, part(name).encode(record))


def _envelope_version(data: bytes) -> int:
    """The envelope version its frame names (1 or 2).

    Raises:
        WireError: MALFORMED_FRAME or UNKNOWN_SCHEMA.
    """
    if len(data) < FRAME_LEN or data[:2] != MAGIC:
        raise WireError(
            Reason.MALFORMED_FRAME,
            "expected the envelope to start with C3 01 and an 8-byte schema fingerprint, "
            f"got {data[:2].hex() or 'nothing'} ({len(data)} bytes)",
        )
    fingerprint = data[2:FRAME_LEN]
    for version in (SEALED_VERSION, SPEC_VERSION):
        if fingerprint == schemas.crc64(_envelope_part(version)):
            return version
    raise WireError(
        Reason.UNKNOWN_SCHEMA,
        f"expected an envelope schema fingerprint ({schemas.crc64('envelope@1').hex()} for v1, "
        f"{schemas.crc64('envelope').hex()} for v2), got {fingerprint.hex()}",
    )


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event as it travels: signed header, signature, disclosures, attestations.

    A sealed (v2) event also carries its sealed disclosures and key wraps; a
    v1 event has none and is written with the v1 envelope schema.
    """

    header: Header
    header_bytes: bytes
    signature: Signature
    disclosures: tuple[Disclosure, ...]
    attestations: tuple[Attestation, ...]
    raw: bytes = field(repr=False)
    sealed: tuple[SealedDisclosure, ...] = ()
    key_wraps: tuple[KeyWrap, ...] = ()
    # The event digest once computed, or carried over by ``assemble`` from the
    # envelope it redacts (same header bytes). Not an init field, so a
    # ``dataclasses.replace`` never copies a stale one.
    _event_digest: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __init__(  # noqa: PLR0917 - the dataclass's signature
        self,
        header: Header,
        header_bytes: bytes,
        signature: Signature,
        disclosures: tuple[Disclosure, ...],
        attestations: tuple[Attestation, ...],
        raw: bytes,
        sealed: tuple[SealedDisclosure, ...] = (),
        key_wraps: tuple[KeyWrap, ...] = (),
    ) -> None:
        object.__setattr__(self, "header", header)  # the constructor written out: D26
        object.__setattr__(self, "header_bytes", header_bytes)
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "disclosures", disclosures)
        object.__setattr__(self, "attestations", attestations)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "sealed", sealed)
        object.__setattr__(self, "key_wraps", key_wraps)
        object.__setattr__(self, "_event_digest", b"")

    @property
    def event_digest(self) -> bytes:
        """SHA-256 of the header bytes: names the event across redactions."""
        digest = self._event_digest
        if not digest:
            digest = _sha256(self.header_bytes).digest()
            object.__setattr__(self, "_event_digest", digest)
        return digest

    @property
    def is_sealed(self) -> bool:
        """A v2 event: every field but the policy attributes is encrypted."""
        return self.header.spec_version == SEALED_VERSION

    @property
    def labels(self) -> tuple[str, ...]:
        """The fields this copy carries, clear and sealed, in envelope order."""
        return (*(d.field for d in self.disclosures), *(s.field for s in self.sealed))

    @classmethod
    def assemble(
        cls,
        header_bytes: bytes,
        signature: Signature,
        disclosures: Sequence[Disclosure],
        attestations: Sequence[Attestation] = (),
        *,
        sealed: Sequence[SealedDisclosure] = (),
        key_wraps: Sequence[KeyWrap] = (),
        header: Header | None = None,
        event_digest: bytes = b"",
    ) -> Envelope:
        """Build from parts and encode (``raw`` is the canonical encoding).

        ``header`` is the already parsed ``header_bytes`` and ``event_digest``
        their SHA-256, if the caller has them (an envelope it redacts). A v1
        header is written in a v1 envelope, which has no sealed parts.

        Raises:
            SealError: SEALING_INVALID for sealed parts in a v1 envelope.
        """
        if header is None:
            header = Header.from_bytes(header_bytes)
        raw = encode_envelope(
            header,
            header_bytes,
            signature.to_record(),
            [d.raw for d in disclosures],
            [a.to_record() for a in attestations],
            sealed=[s.raw for s in sealed],
            key_wraps=[w.raw for w in key_wraps],
        )
        envelope = Envelope(
            header,
            header_bytes,
            signature,
            tuple(disclosures),
            tuple(attestations),
            raw,
            tuple(sealed),
            tuple(key_wraps),
        )
        if event_digest:
            object.__setattr__(envelope, "_event_digest", event_digest)
        return envelope

    def to_bytes(self) -> bytes:
        """The envelope's bytes (as received, or as assembled)."""
        return self.raw

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, *, max_size: int = DEFAULT_MAX_SIZE
    ) -> Envelope:
        """Parse envelope bytes; structure only, no signature check.

        Raises:
            WireError: OVERSIZED, MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO,
                UNSUPPORTED_VERSION and the header's reasons; DisclosureError
                MALFORMED_DISCLOSURE; SignatureError BAD_SIGNATURE, UNKNOWN_KEY,
                BAD_ATTESTATION; SealError SEALING_INVALID.
        """
        data = bytes(data)
        if len(data) > max_size:
            raise WireError(Reason.OVERSIZED, f"expected at most {max_size} bytes, got {len(data)}")
        version = _envelope_version(data)
        name = _envelope_part(version)
        try:
            rec = part(name).decode(data[FRAME_LEN:])
        except ValueError as exc:
            raise WireError(
                Reason.MALFORMED_AVRO, f"expected an Avro Envelope record: {exc}"
            ) from exc
        sealed_raws: list[bytes] = rec.get("sealed", [])
        wrap_raws: list[bytes] = rec.get("key_wraps", [])
        if len(rec["disclosures"]) + len(sealed_raws) > MAX_DIGESTS:
            raise WireError(
                Reason.OVERSIZED,
                f"expected at most {MAX_DIGESTS} disclosures, got "
                f"{len(rec['disclosures']) + len(sealed_raws)}",
            )
        if len(rec["attestations"]) > MAX_ATTESTATIONS:
            raise WireError(
                Reason.OVERSIZED,
                f"expected at most {MAX_ATTESTATIONS} attestations, got {len(rec['attestations'])}",
            )
        if len(wrap_raws) > MAX_RECIPIENTS:
            raise WireError(
                Reason.OVERSIZED,
                f"expected at most {MAX_RECIPIENTS} key wraps, got {len(wrap_raws)}",
            )
        header_bytes = rec["header"]
        header = Header.from_bytes(header_bytes)
        if header.spec_version != version:
            raise WireError(
                Reason.UNSUPPORTED_VERSION,
                f"expected a v{version} header in a v{version} envelope, "
                f"got spec_version {header.spec_version}",
            )
        sig = rec["signature"]
        signature = Signature(sig["key_id"], sig["sig"])
        disclosures = parse_disclosures(rec["disclosures"])
        sealed = parse_sealed(sealed_raws)
        key_wraps = parse_key_wraps(wrap_raws)
        attestations = tuple(
            Attestation.from_parts(a["statement"], _attestation_signature(a["signature"]))
            for a in rec["attestations"]
        )
        return Envelope(
            header, header_bytes, signature, disclosures, attestations, data, sealed, key_wraps
        )
