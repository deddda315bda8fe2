"""What a country checks of the audit log: inclusion proofs, and as a witness, growth.

Pure: the caller reads the records and writes the results (``trm audit proof``
and ``trm audit witness`` in the CLI). A witness finds the newest checkpoint the
hub signed, checks that the leaves it read hash to that checkpoint's root (else
the hub shows different logs to different readers: LOG_FORK), checks that the
log only grew since the last checkpoint it cosigned (an RFC 9162 consistency
proof it computes itself from the leaves), and cosigns (C2SP tlog-cosignature).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.merkle import MerkleTree, verify_consistency, verify_inclusion
from hub.audit.note import Checkpoint, SignedNote, cosign, signed_by_any
from hub.errors import AuditError, Reason

__all__ = [
    "Seen",
    "Witnessed",
    "check_proof",
    "latest_checkpoint",
    "witness",
]


def latest_checkpoint(
    records: Iterable[bytes], origin: str, hub_keys: Sequence[bytes]
) -> tuple[SignedNote, Checkpoint]:
    """The largest checkpoint of ``origin`` the hub signed among checkpoint-topic records.

    Records that are not signed checkpoints of this log (cosignatures, junk) are
    passed over: the auditor's replay reports them.

    Raises:
        AuditError: CHECKPOINT_INVALID when there is none.
    """
    latest: tuple[SignedNote, Checkpoint] | None = None
    for value in records:
        try:
            note = SignedNote.from_bytes(value)
            cp = Checkpoint.parse(note.text)
        except AuditError:
            continue
        if cp.origin != origin or not signed_by_any(note, origin, hub_keys):
            continue
        if latest is None or cp.size >= latest[1].size:
            latest = (note, cp)
    if latest is None:
        raise AuditError(
            Reason.CHECKPOINT_INVALID, f"expected a signed checkpoint of {origin}; found none"
        )
    return latest


@dataclass(frozen=True, slots=True)
class Seen:
    """The last checkpoint a witness cosigned: its size and root."""

    size: int
    root: bytes

    def to_json(self) -> str:
        return json.dumps({"size": self.size, "root": base64.b64encode(self.root).decode()})

    @classmethod
    def from_json(cls, text: str) -> Seen:
        """Raises: AuditError CHECKPOINT_INVALID for a malformed record."""
        try:
            doc = json.loads(text)
            return cls(int(doc["size"]), base64.b64decode(doc["root"], validate=True))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(
                Reason.CHECKPOINT_INVALID,
                "expected the witness record {size, root}; it is malformed",
            ) from exc


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A cosigned checkpoint to publish, and what the witness has now seen."""

    cosigned: SignedNote
    checkpoint: Checkpoint
    seen: Seen


def witness(
    checkpoints: Iterable[bytes],
    leaves: Iterable[bytes],
    *,
    origin: str,
    hub_keys: Sequence[bytes],
    seen: Seen | None,
    name: str,
    key: Ed25519PrivateKey,
    now_s: int,
) -> Witnessed:
    """Check the newest signed checkpoint against the leaves and the last one seen; cosign it.

    Read the checkpoints before the leaves: the leaves read after then cover
    every checkpoint read.

    Raises:
        AuditError: CHECKPOINT_INVALID (none), LOG_FORK (the leaves do not hash
            to its root), CONSISTENCY_PROOF_INVALID (the log was rewritten since
            ``seen``).
    """
    note, cp = latest_checkpoint(checkpoints, origin, hub_keys)
    tree = MerkleTree.spilled()  # the whole log, in flat memory
    for value in leaves:
        tree.append(value)
    if cp.size > tree.size or tree.root(cp.size) != cp.root:
        raise AuditError(
            Reason.LOG_FORK,
            f"expected the leaves topic to hash to checkpoint size {cp.size}; "
            f"it holds {tree.size} leaves with another root",
        )
    if seen is not None and seen.size > 0:
        verify_consistency(
            seen.size,
            cp.size,
            seen.root,
            cp.root,
            tree.consistency_proof(seen.size, cp.size) if seen.size < cp.size else [],
        )
    return Witnessed(cosign(note, name, key, now_s), cp, Seen(cp.size, cp.root))


def check_proof(body: Mapping[str, Any], origin: str, hub_keys: Sequence[bytes]) -> Checkpoint:
    """Verify an inclusion proof as the sequencer's ``/audit/proof`` serves it.

    ``body``: ``checkpoint`` (the signed note), ``size``, ``index``,
    ``leaf_hash`` and ``proof`` (base64).

    Raises:
        AuditError: CHECKPOINT_BAD_SIGNATURE, INCLUSION_PROOF_INVALID.
    """
    try:
        note = SignedNote.from_bytes(str(body["checkpoint"]).encode())
        size, index = int(body["size"]), int(body["index"])
        leaf_hash = base64.b64decode(body["leaf_hash"])
        proof = [base64.b64decode(p) for p in body["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditError(
            Reason.INCLUSION_PROOF_INVALID,
            "expected checkpoint, size, index, leaf_hash and proof in the answer",
        ) from exc
    if not signed_by_any(note, origin, hub_keys):
        raise AuditError(
            Reason.CHECKPOINT_BAD_SIGNATURE, "expected the hub's signature on the checkpoint"
        )
    cp = Checkpoint.parse(note.text)
    if cp.size != size:
        raise AuditError(
            Reason.INCLUSION_PROOF_INVALID,
            f"expected a proof for the checkpoint's size {cp.size}, got one for size {size}",
        )
    verify_inclusion(index, cp.size, leaf_hash, proof, cp.root)
    return cp
