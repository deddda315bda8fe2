"""Checkpoints as C2SP signed notes (tlog-checkpoint v1.0.0) and witness cosignatures.

A checkpoint commits the log operator to one tree::

    trm-hub/<namespace>          origin: names the log
    1234                         tree size
    base64(root hash)            RFC 9162 root of the first 1234 leaves
                                 (exactly these three lines: no extension lines)

    — trm-hub/<namespace> base64(key id || Ed25519 signature over the three lines)
    — KH base64(key id || timestamp || Ed25519 cosignature)

Signed-note rules (C2SP signed-note): UTF-8 with no control character but
newline; the text ends with a newline; a blank line separates it from
signature lines ``— <name> <base64>``; an Ed25519 key id is the first 4 bytes
of SHA-256(name || 0x0A || 0x01 || public key). Witness cosignatures follow
C2SP tlog-cosignature (``cosignature/v1``, type 0x04): key id
SHA-256(name || 0x0A || 0x04 || key)[:4], then an 8-byte big-endian UNIX time
in seconds, then Ed25519 over ``"cosignature/v1\\ntime <t>\\n" + checkpoint text``.

:func:`verify_checkpoint` is the one way a signed checkpoint is accepted
(docs/protocol.md 9.3, in this order): the note parses, its text is a
checkpoint, its origin is the log's, and a hub key signed it under that name.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.merkle import EMPTY_ROOT
from hub.errors import AuditError, Reason, TrmError
from hub.keys import ed25519_sign, ed25519_verify, raw_public

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "cosign",
    "note_key_id",
    "sign_note",
    "signed_by_any",
    "verifier_key",
    "verify_checkpoint",
    "verify_cosignature",
    "verify_note_signature",
]

_DASH = "\u2014 "
_NAME = re.compile(r"^[^\s+]+$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # C2SP signed-note: no control but newline
ED25519 = 0x01
COSIGNATURE_V1 = 0x04


def _bad(reason: Reason, detail: str) -> AuditError:
    return AuditError(reason, detail)


def note_key_id(name: str, public: bytes, alg: int = ED25519) -> bytes:
    """The 4-byte key id of a note key: SHA-256(name || \\n || alg || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    """The verifier key string Go's ``note.NewVerifier`` reads: name+hash+base64(alg||key)."""
    kid = note_key_id(name, public).hex()
    return f"{name}+{kid}+{base64.b64encode(bytes([ED25519]) + public).decode()}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The body of a checkpoint: origin, size, root hash. Exactly three lines: this
    protocol allows no extension lines, so the text a witness cosigns is the whole body."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint of a note text.

        Raises:
            AuditError: CHECKPOINT_INVALID unless ``text`` is three lines, each ending
                in a newline: a non-empty origin, a decimal size without leading zeros,
                the base64 of a 32-byte root (the empty tree's root at size 0).
        """
        if not text.endswith("\n"):
            raise _bad(
                Reason.CHECKPOINT_INVALID, "expected the checkpoint text to end in a newline"
            )
        lines = text[:-1].split("\n")
        if len(lines) != 3:
            raise _bad(
                Reason.CHECKPOINT_INVALID,
                f"expected 3 lines (origin, size, root; no extension lines), got {len(lines)}",
            )
        origin, size_text, root_text = lines
        if not origin or not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text):
            raise _bad(
                Reason.CHECKPOINT_INVALID,
                f"expected an origin and a decimal size, got {origin[:40]!r}, {size_text[:24]!r}",
            )
        try:
            root = base64.b64decode(root_text, validate=True)
        except ValueError as exc:  # binascii.Error, or a character outside ASCII
            raise _bad(Reason.CHECKPOINT_INVALID, "expected a base64 root hash") from exc
        if len(root) != 32:
            raise _bad(Reason.CHECKPOINT_INVALID, f"expected a 32-byte root, got {len(root)}")
        size = int(size_text)
        if size == 0 and root != EMPTY_ROOT:
            raise _bad(
                Reason.CHECKPOINT_INVALID,
                "expected the empty tree's root in a checkpoint of size 0",
            )
        return cls(origin, size, root)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    body: bytes  # after the 4-byte key id: the signature (and a timestamp for cosignatures)

    def line(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.body).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    """Note text plus signature lines, as on the wire."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedNote:
        try:
            whole = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(Reason.CHECKPOINT_INVALID, "expected a UTF-8 note") from exc
        if _CONTROL.search(whole):
            raise _bad(
                Reason.CHECKPOINT_INVALID, "expected no control character but newline in a note"
            )
        split = whole.rfind("\n\n")
        if split < 0 or not whole.endswith("\n"):
            raise _bad(Reason.CHECKPOINT_INVALID, "expected text, a blank line, then signatures")
        text, sig_block = whole[: split + 1], whole[split + 2 :]
        sigs: list[NoteSignature] = []
        for line in sig_block[:-1].split("\n"):
            if not line.startswith(_DASH):
                raise _bad(Reason.CHECKPOINT_INVALID, "expected signature lines starting '— '")
            name, _, b64 = line[len(_DASH) :].partition(" ")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError as exc:  # binascii.Error, or a character outside ASCII
                raise _bad(Reason.CHECKPOINT_INVALID, f"signature of {name}: not base64") from exc
            if not _NAME.match(name) or len(raw) < 5:
                raise _bad(Reason.CHECKPOINT_INVALID, f"malformed signature line for {name!r}")
            sigs.append(NoteSignature(name, raw[:4], raw[4:]))
        if not sigs:
            raise _bad(Reason.CHECKPOINT_INVALID, "expected at least one signature")
        return cls(text, tuple(sigs))

    def with_signature(self, sig: NoteSignature) -> SignedNote:
        others = tuple(s for s in self.signatures if (s.name, s.key_id) != (sig.name, sig.key_id))
        return SignedNote(self.text, (*others, sig))


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> SignedNote:
    """A note signed by ``key`` under ``name`` (the hub's checkpoint signature)."""
    if not _NAME.match(name):
        raise ValueError("a note key name has no spaces or '+'")
    kid = note_key_id(name, raw_public(key.public_key()))
    return SignedNote(text, (NoteSignature(name, kid, ed25519_sign(key, text.encode())),))


def verify_note_signature(note: SignedNote, name: str, public: bytes) -> None:
    """Raise CHECKPOINT_BAD_SIGNATURE unless ``name``'s key signed ``note``."""
    kid = note_key_id(name, public)
    for sig in note.signatures:
        if sig.name == name and sig.key_id == kid:
            if not ed25519_verify(public, sig.body, note.text.encode()):
                break
            return
    raise _bad(
        Reason.CHECKPOINT_BAD_SIGNATURE,
        f"expected a valid signature by {name} (key id {kid.hex()}) on the checkpoint; none",
    )


def _cosigned_message(text: str, timestamp: int) -> bytes:
    # The whole note text (C2SP tlog-cosignature); a checkpoint has exactly three lines.
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(note: SignedNote, name: str, key: Ed25519PrivateKey, timestamp: int) -> SignedNote:
    """``note`` with a witness cosignature added (call only after checking consistency)."""
    kid = note_key_id(name, raw_public(key.public_key()), COSIGNATURE_V1)
    sig = ed25519_sign(key, _cosigned_message(note.text, timestamp))
    return note.with_signature(NoteSignature(name, kid, timestamp.to_bytes(8, "big") + sig))


def verify_cosignature(note: SignedNote, name: str, public: bytes) -> int:
    """The timestamp of ``name``'s valid cosignature; CHECKPOINT_BAD_SIGNATURE if none."""
    kid = note_key_id(name, public, COSIGNATURE_V1)
    for sig in note.signatures:
        if sig.name == name and sig.key_id == kid and len(sig.body) == 72:
            timestamp = int.from_bytes(sig.body[:8], "big")
            if not ed25519_verify(public, sig.body[8:], _cosigned_message(note.text, timestamp)):
                break
            return timestamp
    raise _bad(
        Reason.CHECKPOINT_BAD_SIGNATURE,
        f"expected a valid cosignature by witness {name} on the checkpoint; none",
    )


def verify_checkpoint(
    data: bytes, origin: str, hub_keys: Iterable[bytes]
) -> tuple[SignedNote, Checkpoint]:
    """A signed checkpoint of the log ``origin``, checked in the protocol's order.

    Raises:
        AuditError: CHECKPOINT_INVALID (not a signed note, not a checkpoint, or
            another origin), CHECKPOINT_BAD_SIGNATURE (no valid signature by a hub
            key under the name ``origin``; other signature lines are ignored).
    """
    note = SignedNote.from_bytes(data)
    cp = Checkpoint.parse(note.text)
    if cp.origin != origin:
        raise _bad(
            Reason.CHECKPOINT_INVALID,
            f"expected a checkpoint of {origin}, got one of {cp.origin[:80]!r}",
        )
    if not signed_by_any(note, origin, hub_keys):
        raise _bad(
            Reason.CHECKPOINT_BAD_SIGNATURE,
            f"expected a valid hub signature under {origin} on checkpoint size {cp.size}",
        )
    return note, cp


def signed_by_any(note: SignedNote, origin: str, keys: Iterable[bytes]) -> bool:
    """True if one of ``keys`` signed ``note`` under the log's ``origin``."""
    for key in keys:
        try:
            verify_note_signature(note, origin, key)
        except TrmError:
            continue
        return True
    return False
