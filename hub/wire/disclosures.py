"""The parts of an envelope's payload: disclosures, sealed disclosures, key wraps.

Each is parsed once per part of every event, on the hub's hot path, so the
common shapes are read inline and the objects built by setting their slots
directly (the native walk of docs/decisions.md D22 fills a ``Disclosure``'s
slots from Rust). That is why these classes live here and not in
:mod:`hub.wire.envelope`: this module is not compiled (D25), since mypyc's
native classes have no slots to set from outside, while the envelope and its
header are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hub.errors import DisclosureError, Reason, SealError

from . import native
from .codec import part
from .vocab import COUNTRY_CODE, KEY_ID_HEX, SALT_SIZE, SEAL_PAD, shown

__all__ = [
    "DATA_KEY_SIZE",
    "SEALED_DOMAIN",
    "TAG_SIZE",
    "WRAP_DOMAIN",
    "Disclosure",
    "KeyWrap",
    "SealedDisclosure",
    "parse_disclosures",
    "parse_key_wraps",
    "parse_sealed",
    "read_varint",
    "sealing_invalid",
]

SEALED_DOMAIN: Final = b"trm.sealed.v2\x00"  # a sealed disclosure's digest prefix
WRAP_DOMAIN: Final = b"trm.key-wrap.v2\x00"  # a key wrap's digest prefix
DATA_KEY_SIZE: Final = 32
TAG_SIZE: Final = 16
_WRAPPED_SIZE: Final = DATA_KEY_SIZE + TAG_SIZE
_MAX_FIELD_NAME: Final = 64
_sha256 = hashlib.sha256


def sealing_invalid(detail: str) -> SealError:
    return SealError(Reason.SEALING_INVALID, detail)


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
            raise sealing_invalid(
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
            raise sealing_invalid(f"expected an Avro KeyWrap record: {exc}") from exc
        if not COUNTRY_CODE.match(rec["recipient"]) or not KEY_ID_HEX.match(rec["key_id"]):
            raise sealing_invalid(
                "expected a key wrap for an alpha-2 recipient and a 64-hex key id, got "
                f"{shown(rec['recipient'])} and {len(rec['key_id'])} characters"
            )
        if len(rec["wrapped"]) != _WRAPPED_SIZE:
            raise sealing_invalid(
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
            if COUNTRY_CODE.match(recipient) and KEY_ID_HEX.match(key_id):
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
