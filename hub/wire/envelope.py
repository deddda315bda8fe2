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
from hub.errors import DisclosureError, Reason, SealError, SignatureError, WireError

from . import native
from .codec import MAGIC, frame, part, unframe
from .eventtypes import EventType
from .vocab import (
    DEFAULT_MAX_SIZE,
    HANDLING_CODES,
    MAX_ATTESTATIONS,
    MAX_DIGESTS,
    MAX_RECIPIENTS,
    PURPOSES,
    SALT_SIZE,
    SEAL_PAD,
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

_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_KEY_ID = re.compile(r"^[0-9a-f]{64}$")
# A case key is the Kafka record key: printable ASCII without spaces, bounded.
_CASE_KEY = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
_SIG_LEN: Final = 64
_FRAME_LEN: Final = 10
SEALED_DOMAIN: Final = b"trm.sealed.v2\x00"  # a sealed disclosure's digest prefix
WRAP_DOMAIN: Final = b"trm.key-wrap.v2\x00"  # a key wrap's digest prefix
DATA_KEY_SIZE: Final = 32
TAG_SIZE: Final = 16
_WRAPPED_SIZE: Final = DATA_KEY_SIZE + TAG_SIZE
_DIGEST_LEN: Final = 32
_MAX_FIELD_NAME: Final = 64
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

    def __post_init__(self) -> None:
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
        if not _COUNTRY.match(self.producer):
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
            if not _COUNTRY.match(country):
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
        return cls(
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
    def from_bytes(cls, data: bytes) -> Header:
        """Parse single-object-encoded header bytes.

        Raises:
            WireError: MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO,
                UNSUPPORTED_VERSION, UNKNOWN_EVENT_TYPE, INVALID_HEADER,
                DUPLICATE_DIGEST, OVERSIZED.
        """
        body = unframe("header", data, "header")
        try:
            rec = part("header").decode(body)
        except ValueError as exc:
            raise WireError(
                Reason.MALFORMED_AVRO, f"expected an Avro Header record: {exc}"
            ) from exc
        return cls.from_record(rec)


@dataclass(frozen=True, slots=True)
class Signature:
    """An Ed25519 signature and the id of the key that made it."""

    key_id: str
    sig: bytes

    def __post_init__(self) -> None:
        if not _KEY_ID.match(self.key_id):
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


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Avro zig-zag varint long at ``pos``; returns (value, next position)."""
    if pos < len(data) and data[pos] < 0x80:  # one byte: the common case here
        byte = data[pos]
        return (byte >> 1) ^ -(byte & 1), pos + 1
    shift = 0
    acc = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        acc |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (acc >> 1) ^ -(acc & 1), pos


def _write_varint(value: int) -> bytes:
    acc = (value << 1) ^ (value >> 63)
    out = bytearray()
    while acc & ~0x7F:
        out.append((acc & 0x7F) | 0x80)
        acc >>= 7
    out.append(acc)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One salted payload field: ``Disclosure{salt, field, value}`` Avro bytes.

    ``value`` is the Avro binary of the field's value under its nullable union
    type; it is decoded (and type-checked) by :func:`hub.wire.verify`.
    """

    raw: bytes
    digest: bytes
    salt: bytes
    field: str
    value: bytes

    @classmethod
    def build(cls, salt: bytes, field_name: str, value: bytes) -> Disclosure:
        """A new disclosure (sealing)."""
        name = field_name.encode("utf-8")
        raw = salt + _write_varint(len(name)) + name + _write_varint(len(value)) + value
        return cls(raw, hashlib.sha256(raw).digest(), salt, field_name, value)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Disclosure:
        """Parse one disclosure.

        Raises:
            DisclosureError: MALFORMED_DISCLOSURE.
        """
        return parse_disclosures((raw,))[0]


# A frozen dataclass's __init__ sets each field through object.__setattr__ by
# name; setting the slots through their descriptors builds the same object
# (Disclosure has no __post_init__) in half the time, once per disclosure.
_DISCLOSURE_FIELDS = ("raw", "digest", "salt", "field", "value")
_DISCLOSURE_SLOTS = tuple(getattr(Disclosure, name).__set__ for name in _DISCLOSURE_FIELDS)
_NATIVE_DISCLOSURES = native.disclosure_builder(
    Disclosure, tuple(getattr(Disclosure, name) for name in _DISCLOSURE_FIELDS)
)
_FIELD_AT: Final = SALT_SIZE + 1  # where the field name starts after a one-byte length


def parse_disclosures(raws: Sequence[bytes]) -> tuple[Disclosure, ...]:
    """Parse disclosures (hand-decoded, the common case inline: the hot path).

    The common case, inline, is a field name of at most 63 bytes and a value
    of at most 8 KiB (one- and two-byte lengths); anything else goes through
    :func:`_parse_disclosure`, which reads any varint and gives every refusal.

    The native walk (:mod:`hub.wire.native`) answers for the same common case
    when every disclosure is one; otherwise this loop does.

    Raises:
        DisclosureError: MALFORMED_DISCLOSURE.
    """
    built = native.disclosures(_NATIVE_DISCLOSURES, raws)
    if built is not None:
        return built  # type: ignore[no-any-return]
    set_raw, set_digest, set_salt, set_field, set_value = _DISCLOSURE_SLOTS
    new = object.__new__
    sha256 = _sha256
    out: list[Disclosure] = []
    append = out.append
    for raw in raws:
        size = len(raw)
        if size > _FIELD_AT:
            n = raw[SALT_SIZE]
            if n < 0x80 and not n & 1:  # a name length of 0..63 (the limit is 64)
                pos = _FIELD_AT + (n >> 1)
                if pos + 1 < size:
                    m = raw[pos]
                    start = pos + 1
                    if m >= 0x80:  # a two-byte value length (64 B .. 8 KiB)
                        high = raw[start]
                        m = (m & 0x7F) | (high << 7) if high < 0x80 else 1
                        start += 1
                    if not m & 1 and start + (m >> 1) == size:
                        try:
                            name = raw[_FIELD_AT:pos].decode("utf-8")
                        except UnicodeDecodeError:
                            pass
                        else:
                            obj = new(Disclosure)
                            set_raw(obj, raw)
                            set_digest(obj, sha256(raw).digest())
                            set_salt(obj, raw[:SALT_SIZE])
                            set_field(obj, name)
                            set_value(obj, raw[start:])
                            append(obj)
                            continue
        append(_parse_disclosure(raw))
    return tuple(out)


def _parse_disclosure(raw: bytes) -> Disclosure:
    """One disclosure, any varint lengths; the reasons a malformed one is refused."""
    size = len(raw)
    try:
        if size < SALT_SIZE:
            raise ValueError(f"expected a {SALT_SIZE}-byte salt, got {size} bytes")
        n, pos = read_varint(raw, SALT_SIZE)
        if n < 0 or n > _MAX_FIELD_NAME or pos + n > size:
            raise ValueError(f"bad field name length {n}")
        name = raw[pos : pos + n].decode("utf-8")
        pos += n
        m, pos = read_varint(raw, pos)
        if m < 0 or pos + m != size:
            raise ValueError(f"value length {m} does not match the {size - pos} bytes left")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DisclosureError(
            Reason.MALFORMED_DISCLOSURE, f"expected an Avro Disclosure record: {exc}"
        ) from exc
    return Disclosure(raw, _sha256(raw).digest(), raw[:SALT_SIZE], name, raw[pos:])


def _sealing_invalid(detail: str) -> SealError:
    return SealError(Reason.SEALING_INVALID, detail)


@dataclass(frozen=True, slots=True)
class SealedDisclosure:
    """One encrypted payload field (``schemas/sealed_disclosure.avsc``)."""

    raw: bytes
    digest: bytes  # SHA-256(SEALED_DOMAIN || raw): what the header lists
    field: str
    commitment: bytes
    nonce: bytes
    ciphertext: bytes

    @classmethod
    def build(
        cls, field: str, commitment: bytes, nonce: bytes, ciphertext: bytes
    ) -> SealedDisclosure:
        raw = part("sealed_disclosure").encode(
            {"field": field, "commitment": commitment, "nonce": nonce, "ciphertext": ciphertext}
        )
        return cls(raw, _sha256(SEALED_DOMAIN + raw).digest(), field, commitment, nonce, ciphertext)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SealedDisclosure:
        """Parse one sealed disclosure (structure and sizes; nothing is decrypted).

        Raises:
            DisclosureError: MALFORMED_DISCLOSURE (not the record, a field name
                over 64 bytes); SealError: SEALING_INVALID (a ciphertext whose
                size is not a padded plaintext plus the tag).
        """
        try:
            rec = part("sealed_disclosure").decode(raw)
        except ValueError as exc:
            raise DisclosureError(
                Reason.MALFORMED_DISCLOSURE, f"expected an Avro SealedDisclosure record: {exc}"
            ) from exc
        name = rec["field"]
        if not name or len(name.encode("utf-8")) > _MAX_FIELD_NAME:
            raise DisclosureError(
                Reason.MALFORMED_DISCLOSURE,
                f"expected a field name of 1..{_MAX_FIELD_NAME} bytes, got {shown(name)}",
            )
        size = len(rec["ciphertext"]) - TAG_SIZE
        if size < SEAL_PAD or size % SEAL_PAD:
            raise _sealing_invalid(
                f"expected the ciphertext of field {name!r} to be a multiple of {SEAL_PAD} "
                f"bytes plus a {TAG_SIZE}-byte tag, got {len(rec['ciphertext'])} bytes"
            )
        return cls(
            raw,
            _sha256(SEALED_DOMAIN + raw).digest(),
            name,
            rec["commitment"],
            rec["nonce"],
            rec["ciphertext"],
        )


@dataclass(frozen=True, slots=True)
class KeyWrap:
    """The event's data key wrapped to one recipient (``schemas/key_wrap.avsc``)."""

    raw: bytes
    digest: bytes  # SHA-256(WRAP_DOMAIN || raw): what the header lists
    recipient: str
    key_id: str
    enc: bytes
    wrapped: bytes

    @classmethod
    def build(cls, recipient: str, key_id: str, enc: bytes, wrapped: bytes) -> KeyWrap:
        raw = part("key_wrap").encode(
            {"recipient": recipient, "key_id": key_id, "enc": enc, "wrapped": wrapped}
        )
        return cls(raw, _sha256(WRAP_DOMAIN + raw).digest(), recipient, key_id, enc, wrapped)

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeyWrap:
        """Parse one key wrap.

        Raises:
            SealError: SEALING_INVALID (not the record, a bad recipient, key id
                or wrapped-key size).
        """
        try:
            rec = part("key_wrap").decode(raw)
        except ValueError as exc:
            raise _sealing_invalid(f"expected an Avro KeyWrap record: {exc}") from exc
        if not _COUNTRY.match(rec["recipient"]) or not _KEY_ID.match(rec["key_id"]):
            raise _sealing_invalid(
                "expected a key wrap for an alpha-2 recipient and a 64-hex key id, got "
                f"{shown(rec['recipient'])} and {len(rec['key_id'])} characters"
            )
        if len(rec["wrapped"]) != _WRAPPED_SIZE:
            raise _sealing_invalid(
                f"expected a wrapped data key of {_WRAPPED_SIZE} bytes, got {len(rec['wrapped'])}"
            )
        return cls(
            raw,
            _sha256(WRAP_DOMAIN + raw).digest(),
            rec["recipient"],
            rec["key_id"],
            rec["enc"],
            rec["wrapped"],
        )


_SEALED_SLOTS = tuple(
    getattr(SealedDisclosure, name).__set__
    for name in ("raw", "digest", "field", "commitment", "nonce", "ciphertext")
)
_WRAP_SLOTS = tuple(
    getattr(KeyWrap, name).__set__
    for name in ("raw", "digest", "recipient", "key_id", "enc", "wrapped")
)
_COMMITMENT_LEN: Final = 32
_NONCE_LEN: Final = 12
_ENC_LEN: Final = 32


def parse_sealed(raws: Sequence[bytes]) -> tuple[SealedDisclosure, ...]:
    """Parse sealed disclosures (the hot path: one pass, the common case inline).

    The common case is a field name of 1..63 bytes and a ciphertext of at most
    8 KiB of the right shape; anything else goes through
    :meth:`SealedDisclosure.from_bytes`, which gives every refusal.

    Raises:
        DisclosureError: MALFORMED_DISCLOSURE; SealError: SEALING_INVALID.
    """
    set_raw, set_digest, set_field, set_commitment, set_nonce, set_ciphertext = _SEALED_SLOTS
    new = object.__new__
    sha256 = _sha256
    out: list[SealedDisclosure] = []
    for raw in raws:
        size = len(raw)
        n = raw[0] if size else 1
        if 0 < n < 0x80 and not n & 1:
            pos = 1 + (n >> 1)
            nonce_end = pos + _COMMITMENT_LEN + _NONCE_LEN
            if nonce_end + 1 < size:
                m = raw[nonce_end]
                start = nonce_end + 1
                if m >= 0x80:
                    high = raw[start]
                    m = (m & 0x7F) | (high << 7) if high < 0x80 else 1
                    start += 1
                body = (m >> 1) - TAG_SIZE
                if (
                    not m & 1
                    and start + (m >> 1) == size
                    and body >= SEAL_PAD
                    and not body % SEAL_PAD
                ):
                    try:
                        name = raw[1:pos].decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                    else:
                        obj = new(SealedDisclosure)
                        set_raw(obj, raw)
                        set_digest(obj, sha256(SEALED_DOMAIN + raw).digest())
                        set_field(obj, name)
                        set_commitment(obj, raw[pos : pos + _COMMITMENT_LEN])
                        set_nonce(obj, raw[pos + _COMMITMENT_LEN : nonce_end])
                        set_ciphertext(obj, raw[start:])
                        out.append(obj)
                        continue
        out.append(SealedDisclosure.from_bytes(raw))
    return tuple(out)


_WRAP_SIZE: Final = 1 + 2 + 2 + 64 + _ENC_LEN + 1 + _WRAPPED_SIZE  # the one valid shape


def parse_key_wraps(raws: Sequence[bytes]) -> tuple[KeyWrap, ...]:
    """Parse key wraps (one pass for the one shape a valid wrap has, else the general path).

    Raises:
        SealError: SEALING_INVALID.
    """
    set_raw, set_digest, set_recipient, set_key_id, set_enc, set_wrapped = _WRAP_SLOTS
    out: list[KeyWrap] = []
    for raw in raws:
        # 04 CC | 80 01 <64 hex> | enc(32) | 60 <48 bytes>
        if (
            len(raw) == _WRAP_SIZE
            and raw[0] == 4
            and raw[3] == 0x80
            and raw[4] == 1
            and raw[69 + _ENC_LEN] == _WRAPPED_SIZE << 1
        ):
            recipient = raw[1:3].decode("latin-1")
            key_id = raw[5:69].decode("latin-1")
            if _COUNTRY.match(recipient) and _KEY_ID.match(key_id):
                obj = object.__new__(KeyWrap)
                set_raw(obj, raw)
                set_digest(obj, _sha256(WRAP_DOMAIN + raw).digest())
                set_recipient(obj, recipient)
                set_key_id(obj, key_id)
                set_enc(obj, raw[69 : 69 + _ENC_LEN])
                set_wrapped(obj, raw[70 + _ENC_LEN :])
                out.append(obj)
                continue
        out.append(KeyWrap.from_bytes(raw))
    return tuple(out)


def check_statement(rec: dict[str, Any]) -> None:
    """An attestation statement's record names this version and an alpha-2 recipient.

    Raises:
        SignatureError: BAD_ATTESTATION otherwise.
    """
    if rec["spec_version"] != SPEC_VERSION or not _COUNTRY.match(rec["recipient"]):
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
        return cls.from_record(statement, signature, rec)

    @classmethod
    def from_record(
        cls, statement: bytes, signature: Signature, rec: dict[str, Any]
    ) -> Attestation:
        """From ``statement`` and its decoded record (attest has it: no second decode).

        Raises:
            SignatureError: BAD_ATTESTATION for a wrong version or recipient.
        """
        check_statement(rec)
        return cls(
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
        raise _sealing_invalid("a v1 (unsealed) event has no sealed disclosures or key wraps")
    return frame(name, part(name).encode(record))


def _envelope_version(data: bytes) -> int:
    """The envelope version its frame names (1 or 2).

    Raises:
        WireError: MALFORMED_FRAME or UNKNOWN_SCHEMA.
    """
    if len(data) < _FRAME_LEN or data[:2] != MAGIC:
        raise WireError(
            Reason.MALFORMED_FRAME,
            "expected the envelope to start with C3 01 and an 8-byte schema fingerprint, "
            f"got {data[:2].hex() or 'nothing'} ({len(data)} bytes)",
        )
    fingerprint = data[2:_FRAME_LEN]
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
        envelope = cls(
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
    def from_bytes(cls, data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Envelope:
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
            rec = part(name).decode(data[_FRAME_LEN:])
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
        return cls(
            header, header_bytes, signature, disclosures, attestations, data, sealed, key_wraps
        )
