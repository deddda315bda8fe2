"""Signed JSON documents: trust lists and agreements.

A signed document is ``{"signed": {...}, "signatures": [{"keyid", "sig"}]}`` (the
shape TUF uses). Each signature is Ed25519 over the RFC 8785 (JCS) canonical
JSON of ``signed``. ``signed["_type"]`` names the kind of document, and a verifier
checks it, so a signature on a trust list can never pass as one on an agreement.

Changing any byte of meaning in ``signed`` after signing changes its canonical
form and invalidates every signature; whitespace, key order and number spelling
in the file do not.

Reading is strict (docs/protocol.md section 6.1): the bytes are UTF-8 JSON with
no member name twice in any object (a reader that keeps the first value must
never see another document than the one verified), no ``NaN``/``Infinity``;
every base64 field is the standard alphabet with padding and nothing else, in
its one canonical spelling.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub import textdoc
from hub.errors import Reason, RequestError, TrmError
from hub.keys import PublicKey, ed25519_sign, key_id_of, raw_public

__all__ = [
    "MAX_JSON_INT",
    "Signature",
    "SignedDocument",
    "b64decode_strict",
    "canonical_json",
    "parse_json",
]

# The largest integer every JSON reader holds exactly, and RFC 8785 canonicalises.
MAX_JSON_INT = 2**53 - 1
_KEY_ID = re.compile(r"[0-9a-f]{64}")


def parse_json(data: bytes | str) -> Any:
    """Decode a signed document's bytes strictly (:func:`hub.textdoc.parse_json`).

    Raises:
        ValueError: not UTF-8, not JSON, a member name twice in one object,
            ``NaN``/``Infinity``, nesting too deep, an integer too long or a
            lone surrogate; the message says which.
    """
    try:
        return textdoc.parse_json(data, what="signed document")
    except RequestError as exc:
        raise ValueError(exc.detail) from exc


def b64decode_strict(text: Any) -> bytes:
    """The bytes of ``text``: RFC 4648 section 4 base64, padded, in its canonical spelling.

    Raises:
        ValueError: not a string, another alphabet (URL-safe), missing padding,
            whitespace, or non-zero padding bits (a second spelling of the same bytes).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"expected padded standard base64: {exc}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("expected the canonical base64 spelling (zero padding bits)")
    return raw


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``value``.

    Raises:
        ValueError: if ``value`` holds something JSON cannot represent exactly
            (floats out of range, non-string keys).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise ValueError(f"cannot canonicalise: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature: the signer's key id and 64 Ed25519 bytes."""

    keyid: str
    sig: bytes

    def to_json(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": base64.b64encode(self.sig).decode("ascii")}


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """A document and its signatures, parsed but not yet verified."""

    doc_type: str
    signed: Mapping[str, Any]
    signatures: tuple[Signature, ...]
    # Memo of the canonical bytes and of signature checks: the policy engine
    # asks on every event, and both are pure functions of this (immutable) document.
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(
        cls, obj: Any, doc_type: str, error: Callable[[Reason, str], TrmError], reason: Reason
    ) -> SignedDocument:
        """Parse ``obj`` (already JSON-decoded) as a signed document of ``doc_type``.

        Args:
            obj: the decoded JSON value.
            doc_type: the ``_type`` the caller expects, e.g. ``trm.trust-list/v1``.
            error: the error class to raise (TrustError, PolicyError).
            reason: the reason code for a malformed document.

        Raises:
            the given error class with ``reason`` when the shape is wrong.
        """
        if not isinstance(obj, dict) or set(obj) != {"signed", "signatures"}:
            raise error(reason, "expected an object with exactly 'signed' and 'signatures'")
        signed, sigs = obj["signed"], obj["signatures"]
        if not isinstance(signed, dict):
            raise error(reason, f"expected 'signed' to be an object, got {type(signed).__name__}")
        if signed.get("_type") != doc_type:
            raise error(reason, f"expected _type {doc_type!r}, got {signed.get('_type')!r}")
        if not isinstance(sigs, list):
            raise error(reason, f"expected 'signatures' to be a list, got {type(sigs).__name__}")
        parsed: list[Signature] = []
        seen: set[str] = set()
        for i, s in enumerate(sigs):
            if not isinstance(s, dict) or set(s) != {"keyid", "sig"}:
                raise error(reason, f"signatures[{i}]: expected exactly {{keyid, sig}}")
            keyid, sig_b64 = s["keyid"], s["sig"]
            if not isinstance(keyid, str) or not _KEY_ID.fullmatch(keyid):
                raise error(reason, f"signatures[{i}].keyid: expected 64 lowercase hex digits")
            if keyid in seen:
                raise error(reason, f"signatures[{i}]: key {keyid[:16]}… signs twice")
            seen.add(keyid)
            try:
                sig = b64decode_strict(sig_b64)
            except ValueError as exc:
                raise error(reason, f"signatures[{i}].sig: {exc}") from exc
            if len(sig) != 64:
                raise error(reason, f"signatures[{i}]: expected 64 signature bytes, got {len(sig)}")
            parsed.append(Signature(keyid, sig))
        doc = cls(doc_type, signed, tuple(parsed))
        try:
            doc.canonical()
        except ValueError as exc:  # e.g. an integer beyond 2**53 - 1, a lone surrogate
            raise error(reason, f"signed: {exc}"[:200]) from exc
        return doc

    @classmethod
    def from_bytes(
        cls,
        data: bytes | str,
        doc_type: str,
        error: Callable[[Reason, str], TrmError],
        reason: Reason,
    ) -> SignedDocument:
        """Parse the bytes of a signed document strictly (:func:`parse_json`), then its shape.

        Raises:
            the given error class with ``reason`` when the bytes or the shape are wrong.
        """
        try:
            obj = parse_json(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise error(reason, f"expected strict UTF-8 JSON: {exc}"[:200]) from exc
        return cls.from_json(obj, doc_type, error, reason)

    def canonical(self) -> bytes:
        """The bytes every signature covers."""
        cached = self._memo.get("canonical")
        if cached is None:
            cached = self._memo["canonical"] = canonical_json(self.signed)
        return bytes(cached)

    def valid_signers(self, candidates: Sequence[PublicKey]) -> frozenset[str]:
        """Key ids among ``candidates`` whose signature over ``signed`` verifies."""
        by_id = {k.key_id: k for k in candidates}
        message = self.canonical()
        return frozenset(
            s.keyid
            for s in self.signatures
            if s.keyid in by_id and self._ok(by_id[s.keyid], s, message)
        )

    def _ok(self, key: PublicKey, sig: Signature, message: bytes) -> bool:
        memo_key = ("sig", key.raw, sig.sig)
        ok = self._memo.get(memo_key)
        if ok is None:
            ok = self._memo[memo_key] = key.verify(sig.sig, message)
        return bool(ok)

    def with_signature(self, key: Ed25519PrivateKey) -> SignedDocument:
        """A copy signed also by ``key`` (replacing an older signature by it)."""
        keyid = key_id_of(raw_public(key.public_key()))
        sig = Signature(keyid, ed25519_sign(key, self.canonical()))
        others = tuple(s for s in self.signatures if s.keyid != keyid)
        return SignedDocument(self.doc_type, self.signed, (*others, sig))

    def to_json(self) -> dict[str, Any]:
        return {"signed": dict(self.signed), "signatures": [s.to_json() for s in self.signatures]}
