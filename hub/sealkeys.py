"""Seal keys: each country's X25519 encryption keys, one per epoch, and their destruction.

A producer seals an event's data key to each recipient with HPKE (protocol v2),
using the recipient's *seal key* valid at the event's creation time. Seal keys
are X25519 key pairs of their own, never the Ed25519 signing keys. A seal key's
id is the lowercase hex SHA-256 of its 32 raw public bytes.

Each country publishes its public seal keys as a *seal-key set*, a signed
document (``hub.signed_doc``) of ``_type`` ``trm.seal-keys/v1``::

    {"signed": {"_type": "trm.seal-keys/v1", "country": "KH", "version": 3,
                "issued_at_ms": 0,
                "keys": [{"key_id": "<hex>", "public": "<base64 32 bytes>",
                          "not_before_ms": 0, "not_after_ms": 0,
                          "destroyed_at_ms": null}]},
     "signatures": [{"keyid": "...", "sig": "..."}]}

A set counts only when a key of that country with role ``root`` or
``producer``, valid at ``issued_at_ms`` in the trust list, signs it; versions
and issue times of one country only go up, and a key once destroyed stays
destroyed.

A node keeps its private seal keys in a :class:`Keyring` (``nodes/<CC>/seal-keys/``
in the state directory). Destroying an epoch's private key (crypto-shredding)
makes every copy of every event sealed to it unreadable, wherever the copy is;
:func:`due` says which keys the agreements' retention periods let go.

Errors: a malformed, badly signed or rolled-back set is a ``TrustError``
(TRUST_MALFORMED, UNKNOWN_KEY, KEY_ROLE_NOT_ALLOWED, KEY_NOT_VALID_AT_TIME,
BAD_SIGNATURE, TRUST_ROLLBACK); no usable key is a ``SealError``
(SEAL_KEY_MISSING, KEY_DESTROYED); a keyring's files are ``OperationalError``
(CONFIG_INVALID, KEY_FILE_INSECURE).

Pure: no clock (callers pass times in ms), no network; only :class:`Keyring`
touches files.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from hub.durable import shred, write_atomic
from hub.errors import OperationalError, Reason, SealError, TrmError, TrustError
from hub.keys import (
    KeyDirectory,
    KeyRole,
    PublicKey,
    key_id_of,
    load_seal_private_key,
    write_private_key,
)
from hub.signed_doc import SignedDocument, b64decode_strict, parse_json
from hub.trust import doc_int, doc_opt_int

if TYPE_CHECKING:
    from hub.home import StateDir
    from hub.policy.agreement import Agreement, Flow

__all__ = [
    "DAY_MS",
    "EPOCH_MS",
    "OVERLAP_MS",
    "SEAL_KEYS_TYPE",
    "SIGNER_ROLES",
    "DueKey",
    "Keyring",
    "SealKey",
    "SealKeyDirectory",
    "SealKeySet",
    "build_seal_key_set",
    "due",
    "lane_retention_ms",
    "retention_due",
    "seal_key_id",
]

SEAL_KEYS_TYPE: Final = "trm.seal-keys/v1"
DAY_MS: Final = 86_400_000
# An epoch: how long one seal key is used for new events (a month by default).
EPOCH_MS: Final = 30 * DAY_MS
# After a rotation the previous key stays valid this long, so that a producer
# that has not yet read the new set still seals to a key the recipient holds.
OVERLAP_MS: Final = DAY_MS
# A set's signer: the country's authority, or the key that signs its events.
SIGNER_ROLES: Final = (KeyRole.ROOT, KeyRole.PRODUCER)

_COUNTRY = re.compile(r"[A-Z]{2}")
_TOP_FIELDS = frozenset({"_type", "country", "version", "issued_at_ms", "keys"})
_KEY_FIELDS = frozenset({"key_id", "public", "not_before_ms", "not_after_ms", "destroyed_at_ms"})


def _when(ms: int) -> str:
    """Milliseconds since the epoch as an ISO 8601 UTC time, for messages."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "beyond 9999-12-31"


def _bad(detail: str) -> TrustError:
    return TrustError(Reason.TRUST_MALFORMED, detail[:300])


def seal_key_id(public: bytes) -> str:
    """A seal key's id: lowercase hex SHA-256 of its 32 raw X25519 public bytes."""
    return key_id_of(public)


@lru_cache(maxsize=1024)
def _x25519_public(raw: bytes) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(raw)


def _raw_x25519(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class SealKey:
    """One epoch's public seal key of a country.

    Times are ms since the Unix epoch (UTC). The key seals events created in
    ``[not_before_ms, not_after_ms)`` (``not_after_ms`` None: open-ended), and
    none from ``destroyed_at_ms`` on.
    """

    key_id: str
    country: str
    public: bytes
    not_before_ms: int
    not_after_ms: int | None
    destroyed_at_ms: int | None

    def valid_at(self, at_ms: int) -> bool:
        """True when an event created at ``at_ms`` may be sealed to this key."""
        if at_ms < self.not_before_ms:
            return False
        if self.not_after_ms is not None and at_ms >= self.not_after_ms:
            return False
        return self.destroyed_at_ms is None or at_ms < self.destroyed_at_ms

    def x25519(self) -> X25519PublicKey:
        """The key object HPKE seals to."""
        return _x25519_public(self.public)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public": base64.b64encode(self.public).decode("ascii"),
            "not_before_ms": self.not_before_ms,
            "not_after_ms": self.not_after_ms,
            "destroyed_at_ms": self.destroyed_at_ms,
        }

    @classmethod
    def from_json(cls, entry: Any, country: str, where: str) -> SealKey:
        """Parse one entry of a set's ``keys``.

        Raises:
            TrustError: TRUST_MALFORMED naming the entry and what was expected.
        """
        if not isinstance(entry, dict):
            raise _bad(f"{where}: expected an object, got {type(entry).__name__}")
        if set(entry) != _KEY_FIELDS:
            raise _bad(
                f"{where}: expected exactly the fields {sorted(_KEY_FIELDS)}, got {sorted(entry)}"
            )
        try:
            raw = b64decode_strict(entry["public"])
        except ValueError as exc:
            raise _bad(f"{where}.public: expected base64 of 32 raw X25519 bytes: {exc}") from exc
        if len(raw) != 32:
            raise _bad(f"{where}.public: expected 32 raw X25519 bytes, got {len(raw)}")
        if entry["key_id"] != seal_key_id(raw):
            raise _bad(f"{where}.key_id: expected the hex SHA-256 of the public key")
        not_before = doc_int(entry, "not_before_ms", where)
        not_after = doc_opt_int(entry, "not_after_ms", where)
        destroyed = doc_opt_int(entry, "destroyed_at_ms", where)
        if not_after is not None and not_after <= not_before:
            raise _bad(
                f"{where}: expected not_after_ms after not_before_ms, got {not_after} <= "
                f"{not_before}"
            )
        return cls(seal_key_id(raw), country, raw, not_before, not_after, destroyed)


def _parse_body(signed: Mapping[str, Any]) -> tuple[str, int, int, tuple[SealKey, ...]]:
    if set(signed) != _TOP_FIELDS:
        raise _bad(
            f"signed: expected exactly the fields {sorted(_TOP_FIELDS)}, got {sorted(signed)}"
        )
    country = signed["country"]
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise _bad(f"signed.country: expected an upper-case country code, got {country!r}"[:120])
    version = doc_int(signed, "version", "signed")
    if version < 1:
        raise _bad(f"signed.version: expected 1 or more, got {version}")
    issued = doc_int(signed, "issued_at_ms", "signed")
    raw_keys = signed["keys"]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise _bad("signed.keys: expected a non-empty list of seal keys")
    keys: dict[str, SealKey] = {}
    for i, entry in enumerate(raw_keys):
        key = SealKey.from_json(entry, country, f"signed.keys[{i}]")
        if key.key_id in keys:
            raise _bad(
                f"signed.keys[{i}]: expected each key once; {key.key_id[:16]}… is listed twice"
            )
        keys[key.key_id] = key
    return country, version, issued, tuple(keys.values())


def _describe_signers(doc: SignedDocument, trust: KeyDirectory) -> str:
    if not doc.signatures:
        return "no signature"
    names = []
    for s in doc.signatures:
        key = trust.key(s.keyid)
        if key is None:
            names.append(f"unknown key {s.keyid[:16]}…")
        else:
            roles = "+".join(sorted(r.value for r in key.roles))
            names.append(f"{key.country}'s {roles} key {s.keyid[:16]}…")
    return "signatures by " + ", ".join(names)


def _check_signed(doc: SignedDocument, trust: KeyDirectory, country: str, at_ms: int) -> str:
    """The key id of a valid signer of ``doc``; raises why there is none."""
    eligible: dict[str, PublicKey] = {}
    for role in SIGNER_ROLES:
        for key in trust.keys_for(country, role, at_ms):
            eligible[key.key_id] = key
    valid = doc.valid_signers(tuple(eligible.values()))
    if valid:
        return min(valid)
    expected = (
        f"expected a signature by a root or producer key {country} held at {_when(at_ms)} ({at_ms})"
    )
    found = _describe_signers(doc, trust)
    if any(s.keyid in eligible for s in doc.signatures):
        raise TrustError(
            Reason.BAD_SIGNATURE,
            f"{expected}; the signature by {country}'s key does not verify (the set changed "
            "after signing)",
        )
    known = [k for s in doc.signatures if (k := trust.key(s.keyid)) is not None]
    own = [k for k in known if k.country == country and set(SIGNER_ROLES) & k.roles]
    if own:
        raise TrustError(Reason.KEY_NOT_VALID_AT_TIME, f"{expected}; found {found}, not valid then")
    if known:
        raise TrustError(Reason.KEY_ROLE_NOT_ALLOWED, f"{expected}; found {found}")
    raise TrustError(Reason.UNKNOWN_KEY, f"{expected}; found {found}")


@dataclass(frozen=True, slots=True)
class SealKeySet:
    """A country's verified seal-key set, one version of it."""

    country: str
    version: int
    issued_at_ms: int
    keys: tuple[SealKey, ...]
    document: SignedDocument
    signer: str  # the key id whose signature was accepted

    @classmethod
    def from_signed(
        cls,
        doc: SignedDocument | Mapping[str, Any] | bytes | str,
        trust: KeyDirectory,
        previous: SealKeySet | None = None,
    ) -> SealKeySet:
        """Parse and verify one version of a country's seal-key set.

        Args:
            doc: the signed document, its decoded JSON, or its bytes (decoded
                strictly: :func:`hub.signed_doc.parse_json`).
            trust: the trust list (any :class:`hub.keys.KeyDirectory`).
            previous: the version held so far for that country, if any; the new
                one must be of the same country, of a higher version, and keep
                every destroyed key destroyed.

        Raises:
            TrustError: TRUST_MALFORMED; UNKNOWN_KEY, KEY_ROLE_NOT_ALLOWED,
                KEY_NOT_VALID_AT_TIME or BAD_SIGNATURE when no root or producer
                key of the country valid at ``issued_at_ms`` signed it;
                TRUST_ROLLBACK.
        """
        if isinstance(doc, bytes | bytearray | str):
            doc = SignedDocument.from_bytes(doc, SEAL_KEYS_TYPE, TrustError, Reason.TRUST_MALFORMED)
        elif not isinstance(doc, SignedDocument):
            doc = SignedDocument.from_json(doc, SEAL_KEYS_TYPE, TrustError, Reason.TRUST_MALFORMED)
        elif doc.doc_type != SEAL_KEYS_TYPE or doc.signed.get("_type") != SEAL_KEYS_TYPE:
            raise _bad(f"expected _type {SEAL_KEYS_TYPE!r}, got {doc.signed.get('_type')!r}")
        country, version, issued, keys = _parse_body(doc.signed)
        signer = _check_signed(doc, trust, country, issued)
        new = cls(country, version, issued, keys, doc, signer)
        if previous is not None:
            new._check_follows(previous)
        return new

    def _check_follows(self, previous: SealKeySet) -> None:
        if previous.country != self.country:
            raise _bad(f"expected a seal-key set of {previous.country}, got {self.country}")
        if self.version <= previous.version:
            raise TrustError(
                Reason.TRUST_ROLLBACK,
                f"expected a {self.country} seal-key set version above {previous.version}, "
                f"got {self.version}",
            )
        # A set backdated to before the one held could be signed by a key that
        # has since closed; issue times, like versions, only go up.
        if self.issued_at_ms < previous.issued_at_ms:
            raise TrustError(
                Reason.TRUST_ROLLBACK,
                f"expected {self.country} seal-key set version {self.version} issued at or "
                f"after version {previous.version} ({_when(previous.issued_at_ms)}), got "
                f"{_when(self.issued_at_ms)}",
            )
        for old in previous.keys:
            if old.destroyed_at_ms is None:
                continue
            now = self.key(old.key_id)
            if now is not None and now.destroyed_at_ms != old.destroyed_at_ms:
                raise TrustError(
                    Reason.TRUST_ROLLBACK,
                    f"expected key {old.key_id[:16]}… to stay destroyed at "
                    f"{_when(old.destroyed_at_ms)} as version {previous.version} says; "
                    f"version {self.version} lists destroyed_at_ms {now.destroyed_at_ms}",
                )

    def key(self, key_id: str) -> SealKey | None:
        """The key with this id, valid or not, or None if this set does not list it."""
        return next((k for k in self.keys if k.key_id == key_id), None)

    def key_for(self, at_ms: int) -> SealKey:
        """The newest key (latest ``not_before_ms``) valid at ``at_ms``.

        Raises:
            SealError: SEAL_KEY_MISSING when none is.
        """
        valid = [k for k in self.keys if k.valid_at(at_ms)]
        if not valid:
            ends = [k.not_after_ms for k in self.keys if k.not_after_ms is not None]
            last = f"; its last window ended {_when(max(ends))}" if ends else ""
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected a seal key of {self.country} valid at {_when(at_ms)} ({at_ms}); "
                f"version {self.version} lists {len(self.keys)} key(s), none valid then{last} "
                f"({self.country} must rotate: trm keys epoch rotate --country {self.country})",
            )
        return max(valid, key=lambda k: (k.not_before_ms, k.key_id))

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical signed body."""
        return hashlib.sha256(self.document.canonical()).digest()

    def to_json(self) -> dict[str, Any]:
        return self.document.to_json()


def build_seal_key_set(
    country: str,
    keys: Sequence[SealKey],
    *,
    version: int,
    issued_at_ms: int,
    signers: Sequence[Ed25519PrivateKey] = (),
) -> SignedDocument:
    """A seal-key set document, signed by ``signers`` (more may sign later).

    Raises:
        TrustError: TRUST_MALFORMED when the result would not parse.
    """
    body = {
        "_type": SEAL_KEYS_TYPE,
        "country": country,
        "version": version,
        "issued_at_ms": issued_at_ms,
        "keys": [k.to_json() for k in sorted(keys, key=lambda k: (k.not_before_ms, k.key_id))],
    }
    for k in keys:
        if k.country != country:
            raise _bad(f"expected keys of {country}, got one of {k.country}")
    doc = SignedDocument(SEAL_KEYS_TYPE, body, ())
    _parse_body(doc.signed)  # refuse to produce a malformed set
    for key in signers:
        doc = doc.with_signature(key)
    return doc


@dataclass(frozen=True, slots=True)
class SealKeyDirectory:
    """The newest verified seal-key set of each country: where producers find keys."""

    sets: Mapping[str, SealKeySet] = field(default_factory=lambda: MappingProxyType({}))

    def key_for(self, country: str, at_ms: int) -> SealKey:
        """``country``'s newest seal key valid at ``at_ms``.

        Raises:
            SealError: SEAL_KEY_MISSING when the country published no set, or
                none of its keys is valid (and not destroyed) then.
        """
        found = self.sets.get(country)
        if found is None:
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected a published seal-key set of {country}; the registry holds "
                f"{len(self.sets)} other countries' sets "
                f"({', '.join(sorted(self.sets)) or 'none'})",
            )
        return found.key_for(at_ms)

    def set_for(self, country: str) -> SealKeySet | None:
        return self.sets.get(country)

    def key(self, key_id: str) -> SealKey | None:
        """The key with this id in any country's set, or None."""
        for s in self.sets.values():
            found = s.key(key_id)
            if found is not None:
                return found
        return None

    @property
    def countries(self) -> frozenset[str]:
        return frozenset(self.sets)

    def with_set(self, new: SealKeySet) -> SealKeyDirectory:
        """This directory with ``new`` in force for its country.

        Raises:
            TrustError: TRUST_ROLLBACK (and the other checks of ``from_signed``)
                when ``new`` does not follow the set held now.
        """
        held = self.sets.get(new.country)
        if held is not None:
            new._check_follows(held)
        return SealKeyDirectory(MappingProxyType({**self.sets, new.country: new}))

    @classmethod
    def from_documents(
        cls, docs: Iterable[bytes | Mapping[str, Any]], trust: KeyDirectory
    ) -> tuple[SealKeyDirectory, tuple[TrmError, ...]]:
        """The newest verified set per country from the documents of a registry.

        Versions of each country are taken in order, each verified against the
        one accepted before it; a document that does not verify is returned
        among the refusals and skipped, so a forged record cannot replace a
        country's keys (the newest genuine version stays in force).

        Returns:
            the directory, and the errors of every document refused.
        """
        refused: list[TrmError] = []
        by_country: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for doc in docs:
            try:
                obj = parse_json(doc) if isinstance(doc, bytes | bytearray) else doc
                signed = obj["signed"]
                country, version = signed["country"], signed["version"]
                if not isinstance(country, str) or not isinstance(version, int):
                    raise TypeError(country)
            except (ValueError, KeyError, TypeError) as exc:
                refused.append(_bad(f"expected a signed seal-key set: {type(exc).__name__}"))
                continue
            by_country.setdefault(country, []).append((version, obj))
        out: dict[str, SealKeySet] = {}
        for country, versions in sorted(by_country.items()):
            current: SealKeySet | None = None
            for version, obj in sorted(versions, key=lambda v: v[0]):
                if current is not None and version <= current.version:
                    continue  # the same version again (a re-publication), or a stale copy
                try:
                    current = SealKeySet.from_signed(obj, trust, previous=current)
                except TrmError as error:
                    refused.append(error)
            if current is not None:
                out[country] = current
        return cls(MappingProxyType(out)), tuple(refused)


# --- retention ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueKey:
    """When an epoch key may be destroyed, and why.

    Events sealed to ``key`` were created before its ``not_after_ms``; the
    longest retention of any flow addressed to its country, in any agreement
    in force during its window, runs ``retention_days`` from there.
    """

    key: SealKey
    due_at_ms: int
    retention_days: int
    agreement: str  # id@version of the agreement whose flow keeps events longest
    reason: str


def _addressed_to(flow: Flow, country: str, any_party: str) -> bool:
    """A flow whose events go to ``country`` (by name, or to every party but the sender)."""
    return bool(
        flow.recipient == country or (flow.recipient == any_party and flow.sender != country)
    )


def lane_retention_ms(agreements: Iterable[Agreement], country: str) -> int | None:
    """How long ``country``'s outbox, inbox and rejections topics keep a record.

    Everything in them is sealed to some epoch key, which is destroyed once the
    longest retention of the flows it served has run (:func:`retention_due`);
    a record is kept that long plus one epoch and the overlap (the latest a key
    that sealed it can close), after which no key could open it anyway. None
    when no flow to or from the country exists (nothing is sent: keep the
    default).
    """
    from hub.policy.agreement import ANY_PARTY  # noqa: PLC0415 - hub.wire imports this module

    days = [
        f.retention_days
        for a in agreements
        if country in a.parties
        for f in a.flows
        if _addressed_to(f, country, ANY_PARTY) or f.sender in (country, ANY_PARTY)
    ]
    if not days:
        return None
    return max(days) * DAY_MS + EPOCH_MS + OVERLAP_MS


def retention_due(key: SealKey, agreements: Iterable[Agreement]) -> DueKey | None:
    """When ``key`` may be destroyed; None while its window is open-ended or no flow
    addressed to its country was in force during its window (nothing to judge by:
    a key is never destroyed on a guess).
    """
    from hub.policy.agreement import ANY_PARTY  # noqa: PLC0415 - hub.wire imports this module

    if key.not_after_ms is None:
        return None
    start, end, cc = key.not_before_ms, key.not_after_ms, key.country
    best: tuple[int, str, str] | None = None
    for a in agreements:
        overlaps = a.effective_from_ms < end and (
            a.effective_until_ms is None or a.effective_until_ms > start
        )
        if not overlaps or cc not in a.parties:
            continue
        for f in a.flows:
            to_cc = _addressed_to(f, cc, ANY_PARTY)
            if to_cc and (best is None or f.retention_days > best[0]):
                best = (f.retention_days, a.ref, f"{f.sender}->{f.recipient} {f.event_type}")
    if best is None:
        return None
    days, ref, flow = best
    due_at = end + days * DAY_MS
    return DueKey(
        key,
        due_at,
        days,
        ref,
        f"events sealed to it were created before {_when(end)}; {ref} ({flow}) keeps them "
        f"{days} days, the longest of any flow to {cc}; due {_when(due_at)}",
    )


def due(
    keys: Iterable[SealKey], agreements: Iterable[Agreement], now_ms: int
) -> tuple[DueKey, ...]:
    """The keys, not yet destroyed, whose retention has run out by ``now_ms``, oldest first.

    Args:
        keys: seal keys (of one country or several).
        agreements: every agreement version that may have been in force (old
            ones too: an event is kept as long as the version it went under says).
        now_ms: the time of the check.
    """
    agreements = tuple(agreements)
    out = []
    for key in keys:
        if key.destroyed_at_ms is not None:
            continue
        when = retention_due(key, agreements)
        if when is not None and when.due_at_ms <= now_ms:
            out.append(when)
    return tuple(sorted(out, key=lambda d: (d.due_at_ms, d.key.key_id)))


# --- a node's private keys ---------------------------------------------------------

_LEDGER = "epochs.json"
_LEDGER_TYPE = "trm.seal-keyring/v1"


@dataclass(frozen=True, slots=True)
class _Ledger:
    version: int  # the last seal-key set version built from this keyring
    keys: tuple[SealKey, ...]


class Keyring:
    """A node's private seal keys on disk, one PKCS#8 PEM file per epoch (mode 0600).

    Layout of the directory (``nodes/<CC>/seal-keys/``, mode 0700)::

        <key id>.key    the private X25519 key of one epoch (until destroyed)
        epochs.json     every key's public part and window, destroyed ones too
                        (the tombstones), and the last set version built
        seal-keys.json  the last signed seal-key set (``trm keys epoch`` writes it)

    Args:
        directory: where the files live.
        country: the country whose keys these are.
    """

    def __init__(self, directory: Path, country: str) -> None:
        if not _COUNTRY.match(country):
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected an upper-case country code, got {country!r}"
            )
        self.directory = directory
        self.country = country
        self._ledger: tuple[tuple[int, int], _Ledger] | None = None
        self._private: dict[str, X25519PrivateKey] = {}

    @classmethod
    def of(cls, state: StateDir, country: str) -> Keyring:
        """The keyring of ``country`` in a state directory (``nodes/<CC>/seal-keys``)."""
        return cls(state.seal_keys(country), country)

    # --- reading --------------------------------------------------------------

    @property
    def _ledger_path(self) -> Path:
        return self.directory / _LEDGER

    @property
    def signed_set_path(self) -> Path:
        """Where ``trm keys epoch`` keeps the last signed set, to publish it again."""
        return self.directory / "seal-keys.json"

    def _key_path(self, key_id: str) -> Path:
        return self.directory / f"{key_id}.key"

    def _load(self) -> _Ledger:
        path = self._ledger_path
        try:
            st = path.stat()
        except FileNotFoundError:
            return _Ledger(0, ())
        stamp = (st.st_mtime_ns, st.st_size)
        if self._ledger is not None and self._ledger[0] == stamp:
            return self._ledger[1]
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            if obj.get("_type") != _LEDGER_TYPE or obj.get("country") != self.country:
                raise ValueError("type or country")
            version = obj["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 0:
                raise ValueError("version")
            keys = tuple(
                SealKey.from_json(e, self.country, f"keys[{i}]") for i, e in enumerate(obj["keys"])
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, TrmError) as exc:
            detail = exc.detail if isinstance(exc, TrmError) else type(exc).__name__
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected {path} to list {self.country}'s seal keys; it is malformed ({detail})",
            ) from exc
        ledger = _Ledger(version, keys)
        self._ledger = (stamp, ledger)
        return ledger

    def keys(self) -> tuple[SealKey, ...]:
        """Every key's public part, destroyed ones too, oldest first."""
        return tuple(sorted(self._load().keys, key=lambda k: (k.not_before_ms, k.key_id)))

    @property
    def version(self) -> int:
        """The last seal-key set version built here (0: none yet)."""
        return self._load().version

    def private(self, key_id: str) -> X25519PrivateKey:
        """The private key of epoch ``key_id``, to open what was sealed to it.

        Raises:
            SealError: KEY_DESTROYED when the key was destroyed (the event can
                never be opened again); SEAL_KEY_MISSING when this keyring never
                held it, or its file is gone.
            OperationalError: KEY_FILE_INSECURE (mode not 0600), CONFIG_INVALID.
        """
        key = next((k for k in self._load().keys if k.key_id == key_id), None)
        if key is None:
            self._private.pop(key_id, None)
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected {self.country}'s private seal key {key_id[:16]}…; this keyring "
                "never held it",
            )
        if key.destroyed_at_ms is not None:
            self._private.pop(key_id, None)
            raise SealError(
                Reason.KEY_DESTROYED,
                f"{self.country}'s seal key {key_id[:16]}… was destroyed at "
                f"{_when(key.destroyed_at_ms)}: what was sealed to it can never be opened again",
            )
        cached = self._private.get(key_id)
        if cached is not None:
            return cached
        path = self._key_path(key_id)
        if not path.exists():
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected {self.country}'s private seal key {key_id[:16]}… at {path}; the file "
                "is gone though the key was never destroyed (restore it from the key backup)",
            )
        private = load_seal_private_key(path)
        if seal_key_id(_raw_x25519(private.public_key())) != key_id:
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected {path} to hold the key {key_id[:16]}…; it does not",
            )
        self._private[key_id] = private
        return private

    # --- changing -------------------------------------------------------------

    def _save(self, ledger: _Ledger) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = {
            "_type": _LEDGER_TYPE,
            "country": self.country,
            "version": ledger.version,
            "keys": [k.to_json() for k in ledger.keys],
        }
        write_atomic(
            self._ledger_path,
            (json.dumps(body, indent=2) + "\n").encode("utf-8"),
            tmp=self.directory / f".{_LEDGER}.tmp",
        )
        self._ledger = None

    def rotate(
        self, now_ms: int, epoch_ms: int = EPOCH_MS, *, overlap_ms: int = OVERLAP_MS
    ) -> SealKey:
        """A new epoch key, valid for events created in ``[now_ms, now_ms + epoch_ms)``.

        Every key still valid later than ``now_ms + overlap_ms`` has its window
        closed there: producers that have not yet read the new set keep
        sealing to the old key for at most ``overlap_ms``.

        Raises:
            OperationalError: CONFIG_INVALID for an epoch not longer than the
                overlap, or a ``now_ms`` before the newest key's start (the
                clock went back).
        """
        if epoch_ms <= overlap_ms or overlap_ms < 0:
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected an epoch longer than the {overlap_ms} ms overlap, got {epoch_ms} ms",
            )
        ledger = self._load()
        newest = max((k.not_before_ms for k in ledger.keys), default=0)
        if now_ms < newest:
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected a time after the newest key's start {_when(newest)}, got "
                f"{_when(now_ms)} (is the clock right?)",
            )
        close_at = now_ms + overlap_ms
        kept = tuple(
            dataclasses.replace(k, not_after_ms=close_at)
            if k.destroyed_at_ms is None and (k.not_after_ms is None or k.not_after_ms > close_at)
            else k
            for k in ledger.keys
        )
        private = X25519PrivateKey.generate()
        raw = _raw_x25519(private.public_key())
        new = SealKey(seal_key_id(raw), self.country, raw, now_ms, now_ms + epoch_ms, None)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The private key first: a crash before the ledger names it leaves an
        # unused file, never a listed key without its private half.
        write_private_key(private, self._key_path(new.key_id))
        self._save(_Ledger(ledger.version, (*kept, new)))
        return new

    def destroy(self, key_id: str, at_ms: int) -> SealKey:
        """Destroy an epoch's private key (crypto-shredding); idempotent.

        The tombstone (``destroyed_at_ms`` in ``epochs.json``) is written first,
        then the key file is overwritten and unlinked, so a crash in between
        leaves a key that already counts as destroyed; calling again finishes.

        Raises:
            SealError: SEAL_KEY_MISSING when this keyring never held the key.
            OperationalError: CONFIG_INVALID when the key's window is still open
                at ``at_ms`` (rotate first, then destroy it once it has closed).
        """
        ledger = self._load()
        key = next((k for k in ledger.keys if k.key_id == key_id), None)
        if key is None:
            raise SealError(
                Reason.SEAL_KEY_MISSING,
                f"expected a key id of {self.country}'s keyring, got {key_id[:16]}…",
            )
        if key.destroyed_at_ms is None:
            if key.not_after_ms is None or key.not_after_ms > at_ms:
                raise OperationalError(
                    Reason.CONFIG_INVALID,
                    f"expected a key whose window has closed; {key_id[:16]}… seals events "
                    f"until {_when(key.not_after_ms) if key.not_after_ms else 'open-ended'}: "
                    "rotate first, then destroy it after its window closes",
                )
            key = dataclasses.replace(key, destroyed_at_ms=at_ms)
            self._save(
                _Ledger(
                    ledger.version,
                    tuple(key if k.key_id == key_id else k for k in ledger.keys),
                )
            )
        self._private.pop(key_id, None)
        shred(self._key_path(key_id))
        return key

    def seal_key_set(self, version: int, issued_at_ms: int) -> SignedDocument:
        """The unsigned seal-key set of every key here, as version ``version``.

        The version is recorded, so this keyring never builds two different
        sets under one version.

        Raises:
            TrustError: TRUST_ROLLBACK when ``version`` is not above the last one
                built; TRUST_MALFORMED when there is no key yet.
        """
        ledger = self._load()
        if version <= ledger.version:
            raise TrustError(
                Reason.TRUST_ROLLBACK,
                f"expected a {self.country} seal-key set version above {ledger.version}, "
                f"got {version}",
            )
        doc = build_seal_key_set(
            self.country, ledger.keys, version=version, issued_at_ms=issued_at_ms
        )
        self._save(_Ledger(version, ledger.keys))
        return doc

    def forget_cached(self) -> None:
        """Drop private keys held in memory (they are read again from disk when needed)."""
        self._private.clear()
        self._ledger = None
