"""The key wrap of sealed (v2) events: HPKE (RFC 9180), base mode, single shot.

One suite, fixed by the protocol: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
ChaCha20-Poly1305 (RFC 9180 Appendix A.2). ``hpke_seal`` wraps a data key for
one recipient's epoch public key; ``hpke_open`` unwraps it with the matching
private key. The application's ``info`` binds a wrap to its event, recipient
and key id; the HPKE associated data is empty (single shot, sequence 0).

Pure: no I/O, no logging. A wrap that does not open is a
:class:`hub.errors.SealError` with :attr:`Reason.SEAL_MISMATCH`; its detail
names sizes only, never a key, a shared secret or a plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.errors import Reason, SealError

__all__ = ["ENC_SIZE", "SUITE", "TAG_SIZE", "HpkeSuite", "hpke_open", "hpke_seal"]


@dataclass(frozen=True, slots=True)
class HpkeSuite:
    """The RFC 9180 identifiers of an HPKE suite (IANA "HPKE" registries)."""

    kem: int
    kdf: int
    aead: int

    @property
    def suite_id(self) -> bytes:
        """``"HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2)``."""
        return b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (self.kem, self.kdf, self.aead))


SUITE: Final = HpkeSuite(kem=0x0020, kdf=0x0001, aead=0x0003)
"""DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305."""

ENC_SIZE: Final = 32
"""Bytes of the encapsulated key: one serialized X25519 public key (Nenc)."""

TAG_SIZE: Final = 16
"""Bytes the AEAD adds to a plaintext (Nt): a ciphertext is never shorter."""

_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def hpke_seal(public: X25519PublicKey, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """Wrap ``plaintext`` for the holder of ``public``'s private key.

    Args:
        public: the recipient's X25519 seal public key for the epoch.
        info: the application's binding (event, recipient, key id).
        plaintext: what to wrap (the event's data key).

    Returns:
        ``(enc, ct)``: the 32-byte encapsulated key and the AEAD ciphertext
        (``len(plaintext) + 16`` bytes). A fresh ephemeral key each call.

    Raises:
        SealError: ``SEAL_KEY_MISSING`` if ``public`` is not a usable X25519
            key (a low-order point, whose shared secret would be all zero).
    """
    try:
        sealed = _SUITE.encrypt(plaintext, public, info)
    except ValueError as exc:
        raise SealError(
            Reason.SEAL_KEY_MISSING,
            "expected a usable X25519 seal public key; got one whose Diffie-Hellman "
            "result is all zero (a low-order point)",
        ) from exc
    return sealed[:ENC_SIZE], sealed[ENC_SIZE:]


def hpke_open(private: X25519PrivateKey, enc: bytes, info: bytes, ct: bytes) -> bytes:
    """Unwrap what :func:`hpke_seal` wrapped for ``private``'s public key.

    Args:
        private: the recipient's X25519 seal private key for the epoch.
        enc: the 32-byte encapsulated key.
        info: the same binding the producer used.
        ct: the AEAD ciphertext.

    Returns:
        The plaintext.

    Raises:
        SealError: ``SEAL_MISMATCH`` if ``enc`` or ``ct`` has the wrong size,
            or the wrap does not open: another key, another ``info``, or a
            changed ``enc`` or ``ct``.
    """
    if len(enc) != ENC_SIZE:
        raise SealError(
            Reason.SEAL_MISMATCH,
            f"expected an HPKE enc of {ENC_SIZE} bytes; got {len(enc)} bytes",
        )
    if len(ct) < TAG_SIZE:
        raise SealError(
            Reason.SEAL_MISMATCH,
            f"expected an HPKE ciphertext of at least {TAG_SIZE} bytes; got {len(ct)} bytes",
        )
    try:
        return _SUITE.decrypt(enc + ct, private, info)
    except (InvalidTag, ValueError) as exc:
        raise SealError(
            Reason.SEAL_MISMATCH,
            f"expected a key wrap that opens with this seal private key and info; "
            f"the {len(ct)}-byte wrap does not (another key, another info, or a changed "
            "enc or ciphertext)",
        ) from exc
