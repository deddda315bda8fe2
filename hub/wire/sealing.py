"""Sealed disclosures (protocol v2): the hub routes and withholds what it cannot read.

A sealed event keeps only the policy attributes in the clear (ordinary v1
disclosures). Every other disclosed field is a :class:`SealedDisclosure`: the
salted v1 disclosure bytes, zero-padded to a multiple of :data:`SEAL_PAD`,
encrypted with ChaCha20-Poly1305 under a data key drawn for this event, next
to SHA-256 of the plaintext (its *commitment*). The data key is wrapped to each
addressed recipient's epoch seal key with HPKE (:mod:`hub.wire.hpke`), one
:class:`KeyWrap` each. The signed header lists a domain-separated digest of
every sealed disclosure and every key wrap, so:

- the hub checks at ingest that each part is the producer's, and withholds by
  dropping whole sealed disclosures (by their readable field label) and every
  key wrap but the recipient's;
- the recipient decrypts and checks that the plaintext is the one committed
  to, under the label the hub routed it by (:func:`open_sealed`); a producer
  that sealed anything else is caught there (SEAL_MISMATCH).

``docs/protocol.md`` section 2.9 is the normative text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import schemas
from hub.errors import DisclosureError, Reason, SealError, WireError

from .codec import MAGIC, frame, part, unframe
from .disclosures import (
    DATA_KEY_SIZE,
    SEALED_DOMAIN,
    TAG_SIZE,
    WRAP_DOMAIN,
    Disclosure,
    KeyWrap,
    SealedDisclosure,
    parse_disclosures,
    read_varint,
)
from .hpke import ENC_SIZE, hpke_open, hpke_seal
from .vocab import SALT_SIZE, SEAL_PAD, shown

__all__ = [
    "DATA_KEY_SIZE",
    "NONCE_SIZE",
    "QUARANTINE_DOMAIN",
    "SEALED_DOMAIN",
    "TAG_SIZE",
    "WRAP_DOMAIN",
    "KeyWrap",
    "RecipientKey",
    "SealedDisclosure",
    "is_sealed_quarantine",
    "open_quarantined",
    "open_sealed",
    "padded_size",
    "quarantined_digest",
    "seal_disclosures",
    "seal_quarantined",
    "sealed_aad",
    "wrap_info",
]

NONCE_SIZE: Final = 12
_sha256 = hashlib.sha256


def padded_size(size: int) -> int:
    """The plaintext size a disclosure of ``size`` bytes is padded to (next multiple)."""
    return -(-size // SEAL_PAD) * SEAL_PAD


def sealed_aad(event_id: str, field: str) -> bytes:
    """Associated data of a sealed disclosure: binds it to its event and label."""
    return SEALED_DOMAIN + event_id.encode("ascii") + b"\x00" + field.encode("utf-8")


def wrap_info(event_id: str, recipient: str, key_id: str) -> bytes:
    """HPKE ``info`` of a key wrap: binds it to its event, recipient and epoch key."""
    return WRAP_DOMAIN + b"\x00".join(s.encode("ascii") for s in (event_id, recipient, key_id))


class RecipientKey(Protocol):
    """A recipient's published seal key (``hub.sealkeys.SealKey`` is one)."""

    @property
    def key_id(self) -> str: ...

    def x25519(self) -> X25519PublicKey: ...


def seal_disclosures(
    disclosures: Sequence[Disclosure],
    *,
    event_id: str,
    seal_to: Mapping[str, RecipientKey],
    rng: Callable[[int], bytes],
) -> tuple[tuple[SealedDisclosure, ...], tuple[KeyWrap, ...]]:
    """Encrypt ``disclosures`` under a fresh data key and wrap it to each recipient."""
    data_key = rng(DATA_KEY_SIZE)
    aead = ChaCha20Poly1305(data_key)
    sealed = []
    for d in disclosures:
        plaintext = d.raw + bytes(padded_size(len(d.raw)) - len(d.raw))
        nonce = rng(NONCE_SIZE)
        ciphertext = aead.encrypt(nonce, plaintext, sealed_aad(event_id, d.field))
        sealed.append(SealedDisclosure.build(d.field, d.digest, nonce, ciphertext))
    wraps = []
    for recipient in sorted(seal_to):
        key = seal_to[recipient]
        enc, wrapped = hpke_seal(key.x25519(), wrap_info(event_id, recipient, key.key_id), data_key)
        wraps.append(KeyWrap.build(recipient, key.key_id, enc, wrapped))
    return tuple(sealed), tuple(wraps)


def _mismatch(detail: str) -> SealError:
    return SealError(Reason.SEAL_MISMATCH, detail)


def open_sealed(
    sealed: Sequence[SealedDisclosure],
    wrap: KeyWrap,
    private: X25519PrivateKey,
    *,
    event_id: str,
) -> tuple[Disclosure, ...]:
    """Unwrap the data key and decrypt every sealed disclosure; check what was signed.

    Each plaintext must be a disclosure zero-padded to the next multiple of
    :data:`SEAL_PAD`, whose SHA-256 is the commitment and whose field is the
    label the hub routed it by.

    Raises:
        SealError: SEAL_MISMATCH naming the field (never a value).
    """
    if len(wrap.enc) != ENC_SIZE:
        raise _mismatch(f"expected a {ENC_SIZE}-byte encapsulated key, got {len(wrap.enc)}")
    data_key = hpke_open(
        private, wrap.enc, wrap_info(event_id, wrap.recipient, wrap.key_id), wrap.wrapped
    )
    if len(data_key) != DATA_KEY_SIZE:
        raise _mismatch(f"expected a {DATA_KEY_SIZE}-byte data key, got {len(data_key)} bytes")
    aead = ChaCha20Poly1305(data_key)
    out: list[Disclosure] = []
    for s in sealed:
        try:
            plaintext = aead.decrypt(s.nonce, s.ciphertext, sealed_aad(event_id, s.field))
        except InvalidTag:
            raise _mismatch(
                f"the sealed disclosure of field {s.field!r} does not decrypt"
            ) from None
        end = _disclosure_end(plaintext, s.field)
        if len(plaintext) != padded_size(end) or plaintext[end:].strip(b"\x00"):
            raise _mismatch(f"the sealed disclosure of field {s.field!r} is not padded with zeros")
        raw = plaintext[:end]
        if _sha256(raw).digest() != s.commitment:
            raise _mismatch(
                f"the sealed disclosure of field {s.field!r} is not the plaintext the "
                "producer committed to"
            )
        try:
            (disclosure,) = parse_disclosures((raw,))
        except DisclosureError as exc:
            raise _mismatch(f"field {s.field!r}: {exc.detail}") from None
        if disclosure.field != s.field:
            raise _mismatch(
                f"the sealed disclosure labelled {s.field!r} holds another field "
                f"({shown(disclosure.field)})"
            )
        out.append(disclosure)
    return tuple(out)


def _disclosure_end(plaintext: bytes, label: str) -> int:
    """Where the disclosure at the start of a padded plaintext ends."""
    try:
        n, pos = read_varint(plaintext, SALT_SIZE)
        if n < 0 or pos + n > len(plaintext):
            raise ValueError("field name length")
        m, pos = read_varint(plaintext, pos + n)
        if m < 0 or pos + m > len(plaintext):
            raise ValueError("value length")
    except ValueError:
        raise _mismatch(
            f"the sealed disclosure of field {label!r} does not hold a disclosure record"
        ) from None
    return pos + m


QUARANTINE_DOMAIN: Final = b"trm.quarantine.v2\x00"


def _quarantine_info(producer: str, key_id: str, digest: bytes) -> bytes:
    return QUARANTINE_DOMAIN + producer.encode("ascii") + b"\x00" + key_id.encode("ascii") + digest


def seal_quarantined(raw: bytes, *, producer: str, key: RecipientKey | None) -> bytes:
    """A refused record's bytes as the quarantine keeps them: sealed to its producer.

    The hub can refuse what it cannot read, and keeps the original so nothing
    is lost, but only the producer (whose record it is) can open the copy
    (:func:`open_quarantined`). Without a seal key of the producer the bytes
    are not kept, only their digest and length: the producer still has them.
    """
    digest = _sha256(raw).digest()
    record: dict[str, object] = {
        "producer": producer,
        "key_id": "",
        "digest": digest,
        "size": len(raw),
        "enc": b"",
        "ciphertext": b"",
    }
    if key is not None:
        enc, ciphertext = hpke_seal(
            key.x25519(), _quarantine_info(producer, key.key_id, digest), raw
        )
        record.update(key_id=key.key_id, enc=enc, ciphertext=ciphertext)
    return frame("sealed_quarantine", part("sealed_quarantine").encode(record))


def open_quarantined(value: bytes, private_key: Callable[[str], X25519PrivateKey]) -> bytes:
    """The original bytes of a quarantine copy, opened by its producer.

    Raises:
        WireError: MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO (not a sealed
            quarantine copy); SealError: SEAL_KEY_MISSING (the bytes were not
            kept, or no key), KEY_DESTROYED, SEAL_MISMATCH (does not open, or
            not to the bytes whose digest it names).
    """
    rec = _quarantine_record(value)
    if not rec["key_id"]:
        raise SealError(
            Reason.SEAL_KEY_MISSING,
            "the quarantine kept only the digest and length: the producer had no seal key",
        )
    raw = hpke_open(
        private_key(rec["key_id"]),
        rec["enc"],
        _quarantine_info(rec["producer"], rec["key_id"], rec["digest"]),
        rec["ciphertext"],
    )
    if _sha256(raw).digest() != rec["digest"] or len(raw) != rec["size"]:
        raise _mismatch("the quarantine copy does not open to the bytes it names")
    return raw


def is_sealed_quarantine(value: bytes) -> bool:
    """A ``sealed_quarantine`` frame (else a sealed event kept as it came)."""
    return value[:2] == MAGIC and value[2:10] == schemas.crc64("sealed_quarantine")


def quarantined_digest(value: bytes) -> bytes:
    """SHA-256 of the original bytes a quarantine copy stands for (no key needed).

    A ``sealed_quarantine`` frame names it; any other copy is a sealed event
    kept as it came, whose digest is its own.

    Raises:
        WireError: MALFORMED_AVRO for a ``sealed_quarantine`` frame that does not decode.
    """
    if not is_sealed_quarantine(value):
        return _sha256(value).digest()
    digest: bytes = _quarantine_record(value)["digest"]
    return digest


def _quarantine_record(value: bytes) -> dict[str, Any]:
    """The decoded ``sealed_quarantine`` record of a quarantine copy.

    Raises:
        WireError: MALFORMED_FRAME, UNKNOWN_SCHEMA, MALFORMED_AVRO.
    """
    try:
        rec: dict[str, Any] = part("sealed_quarantine").decode(
            unframe("sealed_quarantine", value, "quarantine copy")
        )
    except ValueError as exc:
        raise WireError(
            Reason.MALFORMED_AVRO, f"expected an Avro SealedQuarantine record: {exc}"
        ) from exc
    return rec
