"""HPKE key wrap (temporary lead copy; helper B's module replaces it)."""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from hub.errors import Reason, SealError

__all__ = ["ENC_SIZE", "hpke_open", "hpke_seal"]

ENC_SIZE: Final = 32
_SUITE: Final = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)


def hpke_seal(public: X25519PublicKey, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    out = _SUITE.encrypt(plaintext, public, info)
    return out[:ENC_SIZE], out[ENC_SIZE:]


def hpke_open(private: X25519PrivateKey, enc: bytes, info: bytes, ct: bytes) -> bytes:
    try:
        return _SUITE.decrypt(enc + ct, private, info)
    except Exception:
        raise SealError(Reason.SEAL_MISMATCH, "the HPKE ciphertext does not open") from None
