"""The trust list: which keys each member country and the hub hold, and since when.

A trust list is a signed document (``hub.signed_doc``) of ``_type``
``trm.trust-list/v1``. Its keys carry an owner (a country code, or ``HUB`` for
the hub operator), roles (root, producer, hub, witness), a validity window and
an optional revocation time. Verifiers ask it for the keys an owner held for a
role at an event's creation time (:class:`hub.keys.KeyDirectory`).

Who may change it (TUF-style root rotation): version N+1 is accepted only when
root keys of at least ``threshold`` distinct member countries *as listed in
version N* sign it, and at least its own ``threshold`` countries' roots as
listed in N+1 also sign it; a root counts when it is valid at N+1's
``issued_at_ms`` and never revoked, so a root closed by ``not_after_ms`` signs
no later version. The hub holds no root key, so the hub operator alone can
neither add nor swap a key. Version numbers and issue times only go up.

Pure: no clock (callers pass ``now_ms``), no I/O except :func:`load_trust_file`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.errors import Reason, TrustError
from hub.keys import KeyRole, PublicKey, key_id_of, raw_public
from hub.signed_doc import MAX_JSON_INT, SignedDocument, b64decode_strict, parse_json

__all__ = [
    "HUB_OWNER",
    "TRUST_TYPE",
    "KeySpec",
    "TrustList",
    "build_trust_document",
    "doc_int",
    "doc_opt_int",
    "load_public_key_file",
    "load_trust_file",
    "public_key_pem",
    "renew",
    "revoke_key",
]

TRUST_TYPE = "trm.trust-list/v1"
HUB_OWNER = "HUB"  # the owner name of hub keys; never a member country
_OWNER = re.compile(r"[A-Z]{2}|HUB")
_MEMBER = re.compile(r"[A-Z]{2}")
_KEY_FIELDS = {
    "key_id",
    "owner",
    "roles",
    "public",
    "not_before_ms",
    "not_after_ms",
    "revoked_at_ms",
    "revocation_reason",
}
_TOP_FIELDS = {"_type", "version", "threshold", "issued_at_ms", "expires_at_ms", "members", "keys"}


def _utc(ms: int) -> str:
    """Milliseconds since the epoch as an ISO 8601 UTC time, for messages."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # beyond year 9999: say so plainly
        return "beyond 9999-12-31"


def _bad(detail: str) -> TrustError:
    return TrustError(Reason.TRUST_MALFORMED, detail)


def doc_int(obj: Mapping[str, Any], name: str, where: str) -> int:
    """``obj[name]`` as a signed document's integer (protocol.md §6.1), else TRUST_MALFORMED."""
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_JSON_INT:
        raise _bad(f"{where}.{name}: expected an integer in [0, 2**53 - 1], got {value!r}"[:200])
    return value


def _exact_fields(obj: Mapping[str, Any], fields: set[str], where: str) -> None:
    """Every field present (null where allowed), none other (protocol.md §6.2)."""
    unknown, missing = set(obj) - fields, fields - set(obj)
    if unknown:
        raise _bad(f"{where}: unknown fields {sorted(unknown)}; expected only {sorted(fields)}")
    if missing:
        raise _bad(f"{where}: missing fields {sorted(missing)} (write null where allowed)")


def doc_opt_int(obj: Mapping[str, Any], name: str, where: str) -> int | None:
    """:func:`doc_int`, or None where null is written."""
    return None if obj.get(name) is None else doc_int(obj, name, where)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key to list in a new trust list (what ``trm trust build`` collects)."""

    owner: str
    roles: frozenset[KeyRole]
    public: Ed25519PublicKey
    not_before_ms: int = 0
    not_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TrustList:
    """A verified trust list. Implements :class:`hub.keys.KeyDirectory`."""

    version: int
    threshold: int
    issued_at_ms: int
    expires_at_ms: int | None
    members: Mapping[str, str]  # country code -> name
    keys: Mapping[str, PublicKey]  # key id -> key
    document: SignedDocument

    # --- KeyDirectory -----------------------------------------------------

    def key(self, key_id: str) -> PublicKey | None:
        return self.keys.get(key_id)

    def keys_for(self, country: str, role: KeyRole, at_ms: int) -> Sequence[PublicKey]:
        return tuple(
            k
            for k in self.keys.values()
            if k.country == country and role in k.roles and k.valid_at(at_ms)
        )

    # --- views ------------------------------------------------------------

    @property
    def countries(self) -> frozenset[str]:
        return frozenset(self.members)

    def hub_keys(self, at_ms: int) -> Sequence[PublicKey]:
        return self.keys_for(HUB_OWNER, KeyRole.HUB, at_ms)

    def roots(self, at_ms: int | None = None) -> tuple[PublicKey, ...]:
        """Member root keys never revoked and valid at ``at_ms`` (default: this list's
        ``issued_at_ms``): those that may sign a version issued then (protocol.md §6.3).
        """
        at = self.issued_at_ms if at_ms is None else at_ms
        return tuple(
            k
            for k in self.keys.values()
            if KeyRole.ROOT in k.roles
            and k.country in self.members
            and k.revoked_at_ms is None
            and k.valid_at(at)
        )

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical signed body: names this version in audit records."""
        return hashlib.sha256(self.document.canonical()).digest()

    def check_fresh(self, now_ms: int) -> None:
        """Raise TRUST_EXPIRED when the list is past its ``expires_at_ms`` at ``now_ms``.

        The hub checks the list in force before judging each record, a node
        when it loads a list and before reading its inbox (protocol.md §6.5).

        Raises:
            TrustError: TRUST_EXPIRED, naming the expiry and the time of the check.
        """
        if self.expires_at_ms is not None and now_ms >= self.expires_at_ms:
            raise TrustError(
                Reason.TRUST_EXPIRED,
                f"expected a trust list valid at {_utc(now_ms)} ({now_ms}); version "
                f"{self.version} expired at {_utc(self.expires_at_ms)} ({self.expires_at_ms}); "
                "a renewed version signed by the member roots is needed",
            )

    def signing_countries(self, roots: Iterable[PublicKey]) -> frozenset[str]:
        """Distinct countries among ``roots`` whose signature on this list verifies."""
        roots = tuple(roots)
        signers = self.document.valid_signers(roots)
        return frozenset(k.country for k in roots if k.key_id in signers)

    # --- construction -----------------------------------------------------

    @classmethod
    def from_signed(
        cls, doc: SignedDocument | Mapping[str, Any], *, previous: TrustList | None = None
    ) -> TrustList:
        """Parse and verify a trust list.

        Without ``previous`` the list must be signed by its own threshold of
        member roots (a pinned first version, trusted on first use). With
        ``previous``, its version must be higher and its ``issued_at_ms`` not
        earlier, and ``previous.threshold`` countries' roots of ``previous``
        must sign it. Roots count when valid at the new ``issued_at_ms``.

        Raises:
            TrustError: TRUST_MALFORMED, TRUST_THRESHOLD_NOT_MET or TRUST_ROLLBACK.
        """
        if not isinstance(doc, SignedDocument):
            doc = SignedDocument.from_json(doc, TRUST_TYPE, TrustError, Reason.TRUST_MALFORMED)
        elif doc.doc_type != TRUST_TYPE or doc.signed.get("_type") != TRUST_TYPE:
            raise _bad(f"expected _type {TRUST_TYPE!r}, got {doc.signed.get('_type')!r}"[:200])
        trust = cls._parse(doc)
        own = trust.signing_countries(trust.roots())
        if len(own) < trust.threshold:
            raise TrustError(
                Reason.TRUST_THRESHOLD_NOT_MET,
                f"expected root signatures of {trust.threshold} member countries of version "
                f"{trust.version}; found {len(own)} ({', '.join(sorted(own)) or 'none'})",
            )
        if previous is not None:
            if trust.version <= previous.version:
                raise TrustError(
                    Reason.TRUST_ROLLBACK,
                    f"expected a version above {previous.version}, got {trust.version}",
                )
            if trust.issued_at_ms < previous.issued_at_ms:
                raise TrustError(
                    Reason.TRUST_ROLLBACK,
                    f"expected version {trust.version} issued at or after version "
                    f"{previous.version} ({_utc(previous.issued_at_ms)}), got "
                    f"{_utc(trust.issued_at_ms)}",
                )
            old = trust.signing_countries(previous.roots(trust.issued_at_ms))
            if len(old) < previous.threshold:
                raise TrustError(
                    Reason.TRUST_THRESHOLD_NOT_MET,
                    f"expected root signatures of {previous.threshold} member countries of "
                    f"version {previous.version} on version {trust.version}; found {len(old)} "
                    f"({', '.join(sorted(old)) or 'none'})",
                )
        return trust

    @classmethod
    def from_bytes(cls, data: bytes | str, *, previous: TrustList | None = None) -> TrustList:
        """Parse (strictly: no member name twice, see :func:`hub.signed_doc.parse_json`)
        and verify a trust list's bytes, as :meth:`from_signed` does.

        Raises:
            TrustError: TRUST_MALFORMED, TRUST_THRESHOLD_NOT_MET or TRUST_ROLLBACK.
        """
        doc = SignedDocument.from_bytes(data, TRUST_TYPE, TrustError, Reason.TRUST_MALFORMED)
        return cls.from_signed(doc, previous=previous)

    @classmethod
    def _parse(cls, doc: SignedDocument) -> TrustList:
        body = doc.signed
        _exact_fields(body, _TOP_FIELDS, "signed")
        version = doc_int(body, "version", "signed")
        threshold = doc_int(body, "threshold", "signed")
        issued = doc_int(body, "issued_at_ms", "signed")
        expires = doc_opt_int(body, "expires_at_ms", "signed")
        if version < 1 or threshold < 1:
            raise _bad(f"expected version >= 1 and threshold >= 1, got {version}, {threshold}")
        members = body.get("members")
        if not isinstance(members, dict) or not members:
            raise _bad("signed.members: expected an object of country code -> name")
        for code, name in members.items():
            if not _MEMBER.fullmatch(code) or not isinstance(name, str):
                raise _bad(f"signed.members: expected CC -> name, got {code!r} -> {name!r}"[:200])
        if threshold > len(members):
            raise _bad(f"threshold {threshold} exceeds the {len(members)} member countries")
        raw_keys = body.get("keys")
        if not isinstance(raw_keys, list) or not raw_keys:
            raise _bad("signed.keys: expected a non-empty list")
        keys: dict[str, PublicKey] = {}
        for i, entry in enumerate(raw_keys):
            key = _parse_key(entry, f"signed.keys[{i}]", members)
            if key.key_id in keys:
                raise _bad(f"signed.keys[{i}]: key {key.key_id[:16]}… listed twice")
            keys[key.key_id] = key
        return cls(version, threshold, issued, expires, dict(members), keys, doc)

    def to_json(self) -> dict[str, Any]:
        return self.document.to_json()


def _parse_key(entry: Any, where: str, members: Mapping[str, str]) -> PublicKey:
    if not isinstance(entry, dict):
        raise _bad(f"{where}: expected an object")
    _exact_fields(entry, _KEY_FIELDS, where)
    owner = entry.get("owner")
    if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
        raise _bad(f"{where}.owner: expected a member country code or HUB, got {owner!r}"[:200])
    if owner != HUB_OWNER and owner not in members:
        raise _bad(f"{where}.owner: {owner} is not among the members")
    roles_raw = entry.get("roles")
    if not isinstance(roles_raw, list) or not roles_raw:
        raise _bad(f"{where}.roles: expected a non-empty list")
    try:
        roles = frozenset(KeyRole(r) for r in roles_raw)
    except ValueError as exc:
        raise _bad(f"{where}.roles: expected some of {[r.value for r in KeyRole]}") from exc
    if len(roles) != len(roles_raw):
        raise _bad(f"{where}.roles: expected each role once, got {roles_raw}")
    # Separation of duties: the hub signs attestations and checkpoints, never
    # events or trust lists; a country never signs as the hub.
    if owner == HUB_OWNER and roles != {KeyRole.HUB}:
        raise _bad(f"{where}: a HUB key has exactly the role 'hub'")
    if owner != HUB_OWNER and KeyRole.HUB in roles:
        raise _bad(f"{where}: only the HUB owner may hold the 'hub' role")
    try:
        raw = b64decode_strict(entry.get("public"))
    except ValueError as exc:
        raise _bad(f"{where}.public: expected base64 of 32 raw Ed25519 bytes: {exc}") from exc
    if len(raw) != 32:
        raise _bad(f"{where}.public: expected 32 raw Ed25519 bytes, got {len(raw)}")
    if entry.get("key_id") != key_id_of(raw):
        raise _bad(f"{where}.key_id: expected the hex SHA-256 of the public key")
    not_before = doc_int(entry, "not_before_ms", where)
    not_after = doc_opt_int(entry, "not_after_ms", where)
    revoked = doc_opt_int(entry, "revoked_at_ms", where)
    reason = entry.get("revocation_reason")
    if reason is not None and not isinstance(reason, str):
        raise _bad(f"{where}.revocation_reason: expected a string or null")
    if not_after is not None and not_after <= not_before:
        raise _bad(f"{where}: not_after_ms must be after not_before_ms")
    return PublicKey(
        key_id=key_id_of(raw),
        country=owner,
        roles=roles,
        raw=raw,
        not_before_ms=not_before,
        not_after_ms=not_after,
        revoked_at_ms=revoked,
    )


def _key_json(spec: KeySpec) -> dict[str, Any]:
    raw = raw_public(spec.public)
    return {
        "key_id": key_id_of(raw),
        "owner": spec.owner,
        "roles": sorted(r.value for r in spec.roles),
        "public": base64.b64encode(raw).decode("ascii"),
        "not_before_ms": spec.not_before_ms,
        "not_after_ms": spec.not_after_ms,
        "revoked_at_ms": None,
        "revocation_reason": None,
    }


def build_trust_document(
    keys: Sequence[KeySpec],
    *,
    members: Mapping[str, str],
    threshold: int,
    version: int,
    issued_at_ms: int,
    expires_at_ms: int | None = None,
    signers: Sequence[Ed25519PrivateKey] = (),
) -> SignedDocument:
    """A new trust list body, signed by ``signers`` (more may sign later)."""
    body = {
        "_type": TRUST_TYPE,
        "version": version,
        "threshold": threshold,
        "issued_at_ms": issued_at_ms,
        "expires_at_ms": expires_at_ms,
        "members": dict(sorted(members.items())),
        "keys": [_key_json(k) for k in keys],
    }
    doc = SignedDocument(TRUST_TYPE, body, ())
    TrustList._parse(doc)  # refuse to produce a malformed list
    for key in signers:
        doc = doc.with_signature(key)
    return doc


def revoke_key(
    trust: TrustList, key_id: str, *, revoked_at_ms: int, reason: str = "unspecified"
) -> SignedDocument:
    """The next version with ``key_id`` revoked from ``revoked_at_ms``; unsigned.

    Events a key signed before its revocation stay valid; from then on they
    are refused (KEY_REVOKED). Roots must sign the result before it counts.
    """
    if trust.key(key_id) is None:
        raise TrustError(
            Reason.UNKNOWN_KEY, f"expected a key id listed in version {trust.version}, got {key_id}"
        )
    body = json.loads(json.dumps(dict(trust.document.signed)))
    for entry in body["keys"]:
        if entry["key_id"] == key_id:
            entry["revoked_at_ms"] = revoked_at_ms
            entry["revocation_reason"] = reason
    body["version"] = trust.version + 1
    body["issued_at_ms"] = max(revoked_at_ms, trust.issued_at_ms)
    return SignedDocument(TRUST_TYPE, body, ())


def renew(trust: TrustList, *, issued_at_ms: int, expires_at_ms: int | None) -> SignedDocument:
    """The next version with the same members, keys and windows and a new expiry; unsigned.

    Roots must sign the result (section 6.3 of docs/protocol.md) before it counts.

    Raises:
        TrustError: TRUST_MALFORMED when the new expiry is not after ``issued_at_ms``.
    """
    if expires_at_ms is not None and expires_at_ms <= issued_at_ms:
        raise _bad(
            f"expected an expiry after the issue time {_utc(issued_at_ms)}, "
            f"got {_utc(expires_at_ms)}"
        )
    body = json.loads(json.dumps(dict(trust.document.signed)))
    body["version"] = trust.version + 1
    body["issued_at_ms"] = max(issued_at_ms, trust.issued_at_ms)
    body["expires_at_ms"] = expires_at_ms
    return SignedDocument(TRUST_TYPE, body, ())


def load_trust_file(path: str | Path, *, previous: TrustList | None = None) -> TrustList:
    """Read and verify a trust list file.

    A standalone file is verified against its own roots: the first version a
    node holds is pinned on first use (compare its digest out of band); every
    later version must chain to it (``previous``).
    """
    where = Path(path)
    try:
        obj = parse_json(where.read_bytes())
    except OSError as exc:  # missing, a directory, unreadable
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected a trust list at {where} ({exc.strerror})"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected strict UTF-8 JSON in {where}: {exc}"[:300]
        ) from exc
    return TrustList.from_signed(obj, previous=previous)


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """A public key file's content (SubjectPublicKeyInfo PEM)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_file(path: str | Path) -> Ed25519PublicKey:
    """Read a ``CC.pub`` file written by ``trm keys new``."""
    where = Path(path)
    try:
        key = serialization.load_pem_public_key(where.read_bytes())
    except (OSError, ValueError) as exc:
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected a PEM Ed25519 public key at {where}"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise TrustError(
            Reason.TRUST_MALFORMED, f"expected an Ed25519 key in {where}, got {type(key).__name__}"
        )
    return key
