"""Ed25519 keys: identities, roles, validity windows, and key files on disk.

A key is named by its key id: the lowercase hex SHA-256 of its 32 raw public
key bytes. Keys carry roles; a trust list (``hub.trust``) says which country
holds which key, for which roles, and from when until when.

Private key files are PKCS#8 PEM, written with mode 0600 and refused when
group- or world-readable. Nothing here logs or prints key material.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.errors import OperationalError, Reason

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "KeyDirectory",
    "KeyRole",
    "PublicKey",
    "check_private_key_file",
    "ed25519_public",
    "ed25519_sign",
    "ed25519_verify",
    "key_id_of",
    "load_private_key",
    "load_seal_private_key",
    "private_key_from_seed",
    "raw_public",
    "signer_key_id",
    "write_private_key",
]


class KeyRole(StrEnum):
    """What a key may sign."""

    ROOT = "root"  # the country's authority: trust-list versions and agreements
    PRODUCER = "producer"  # events in the country's outbox
    HUB = "hub"  # attestations and audit checkpoints
    WITNESS = "witness"  # cosignatures of audit checkpoints


def raw_public(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@lru_cache(maxsize=1024)
def ed25519_public(raw: bytes) -> Ed25519PublicKey:
    """The key object for 32 raw public key bytes, loaded once per key.

    Keyed by the bytes themselves, so it can only ever return the key they
    are; which key id, country, roles and window they belong to is the trust
    list's business, checked by the caller every time.

    Raises:
        ValueError: not 32 bytes (not cached).
    """
    return Ed25519PublicKey.from_public_bytes(raw)


@cache
def _wire_native() -> ModuleType:
    """:mod:`hub.wire.native`, imported on first use: ``hub.wire`` imports this module."""
    from hub.wire import native  # noqa: PLC0415

    return native


@lru_cache(maxsize=1024)
def _native_public(raw: bytes) -> Any:  # hub.wire._native.Ed25519Public
    return _wire_native().ed25519_public(raw)


@lru_cache(maxsize=16)
def _native_private(key: Ed25519PrivateKey) -> Any:  # hub.wire._native.Ed25519Private
    # Keyed by the key object (private keys hash by identity), so a key's
    # native twin is only ever its own; a few at once for a process that signs
    # as several countries (tests, the load generator). The cache holds the
    # last 16 key objects alive; the native copy is zeroed when it is evicted.
    return _wire_native().ed25519_private(key.private_bytes_raw())


_Bytes = bytes | bytearray | memoryview


def ed25519_verify(raw: _Bytes, signature: _Bytes, message: _Bytes) -> bool:
    """True when ``signature`` is the Ed25519 signature of ``message`` by the key ``raw``.

    RFC 8032's verify with the cofactorless equation and ``s < L``, as
    OpenSSL (and so ``cryptography``) does it: in native code
    (``ed25519-dalek``, about 2.7x faster) when :mod:`hub.wire.native` is
    enabled, else with ``cryptography``; the two agree on the RFC 8032,
    Wycheproof and speccheck vectors (``tests/unit/test_ed25519_native.py``).
    False also for a key that is not 32 bytes or not a point of the curve, and
    for a signature that is not 64 bytes. Any bytes-like argument, as
    ``cryptography`` takes (the native code reads ``bytes`` only). The one
    place the hub verifies an Ed25519 signature.
    """
    if type(raw) is not bytes or type(signature) is not bytes or type(message) is not bytes:
        raw, signature, message = bytes(raw), bytes(signature), bytes(message)
    native = _wire_native()
    if native.ENABLED:
        if native.AHEAD is not None:  # verified ahead (hub.wire.verify.verify_ahead)?
            ahead = native.AHEAD.take(raw, signature, message)
            if ahead is not None:
                return bool(ahead)
        try:
            return bool(_native_public(raw).verify(signature, message))
        except ValueError:  # not 32 bytes (not cached)
            return False
    try:
        ed25519_public(raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def ed25519_sign(key: Ed25519PrivateKey, message: _Bytes) -> bytes:
    """``key``'s Ed25519 signature of ``message``: the same 64 bytes either way
    (Ed25519 is deterministic), in native code when :mod:`hub.wire.native` is
    enabled, else with ``cryptography``. The one place the hub signs with Ed25519.
    """
    if type(message) is not bytes:
        message = bytes(message)
    if _wire_native().ENABLED:
        return bytes(_native_private(key).sign(message))
    return key.sign(message)


def key_id_of(raw: bytes) -> str:
    """Key id: lowercase hex SHA-256 of the 32 raw public key bytes."""
    return hashlib.sha256(raw).hexdigest()


# The last signing key and its id. The key object itself is held (compared by
# identity), so its id cannot be taken by another key; one entry, as a process
# signs with one hub key (or one producer key) at a time.
_last_signer: tuple[Ed25519PrivateKey, str] | None = None


def signer_key_id(key: Ed25519PrivateKey) -> str:
    """``key_id_of(raw_public(key.public_key()))``, remembered for the last key used."""
    global _last_signer  # noqa: PLW0603 - a one-entry memo
    last = _last_signer
    if last is not None and last[0] is key:
        return last[1]
    key_id = key_id_of(raw_public(key.public_key()))
    _last_signer = (key, key_id)
    return key_id


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key as a trust list names it.

    Times are integer milliseconds since the Unix epoch (UTC); ``not_after_ms``
    and ``revoked_at_ms`` are None when open-ended / not revoked.
    """

    key_id: str
    country: str
    roles: frozenset[KeyRole]
    raw: bytes
    not_before_ms: int
    not_after_ms: int | None = None
    revoked_at_ms: int | None = None

    def valid_at(self, at_ms: int) -> bool:
        """True when the key may sign something created at ``at_ms``."""
        if at_ms < self.not_before_ms:
            return False
        if self.not_after_ms is not None and at_ms >= self.not_after_ms:
            return False
        return not (self.revoked_at_ms is not None and at_ms >= self.revoked_at_ms)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is this key's Ed25519 signature of ``message``."""
        return ed25519_verify(self.raw, signature, message)


class KeyDirectory(Protocol):
    """Where verifiers look keys up. ``hub.trust.TrustList`` implements it."""

    def key(self, key_id: str) -> PublicKey | None:
        """The key with this id, valid or not, or None if never listed."""
        ...

    def keys_for(self, country: str, role: KeyRole, at_ms: int) -> Sequence[PublicKey]:
        """The keys ``country`` holds for ``role`` that are valid at ``at_ms``."""
        ...


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """A deterministic key from a 32-byte seed (test vectors and examples only)."""
    return Ed25519PrivateKey.from_private_bytes(seed)


def write_private_key(key: Ed25519PrivateKey | X25519PrivateKey, path: Path) -> None:
    """Write ``key`` as PKCS#8 PEM with mode 0600, created so from the start.

    Signing keys are Ed25519; a node's seal keys (``hub.sealkeys``) are X25519.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)


def check_private_key_file(path: Path) -> None:
    """Refuse a private key file that is missing or that others can read.

    Raises:
        OperationalError: KEY_FILE_INSECURE if the mode allows group or other
            access; CONFIG_INVALID if the file is missing.
    """
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a private key file at {path}, found nothing"
        ) from exc
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise OperationalError(
            Reason.KEY_FILE_INSECURE,
            f"expected {path} to have mode 0600, found {mode:04o}; run: chmod 600 {path}",
        )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a signing key file, refusing one that others can read.

    Raises:
        OperationalError: KEY_FILE_INSECURE if the mode allows group or other
            access; CONFIG_INVALID if the file is missing or not an Ed25519 key.
    """
    key = _load_pem(path, "Ed25519")
    if not isinstance(key, Ed25519PrivateKey):
        raise _not_a(path, "Ed25519", key)
    return key


def load_seal_private_key(path: Path) -> X25519PrivateKey:
    """Load a seal key file (``hub.sealkeys``): as :func:`load_private_key`, X25519."""
    key = _load_pem(path, "X25519")
    if not isinstance(key, X25519PrivateKey):
        raise _not_a(path, "X25519", key)
    return key


def _load_pem(path: Path, name: str) -> object:
    """A PKCS#8 PEM private key file of mode 0600, parsed (not yet of a known kind)."""
    check_private_key_file(path)
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a PKCS#8 PEM {name} key in {path}"
        ) from exc


def _not_a(path: Path, name: str, key: object) -> OperationalError:
    return OperationalError(
        Reason.CONFIG_INVALID, f"expected an {name} key in {path}, found {type(key).__name__}"
    )
