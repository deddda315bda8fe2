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
from hub.audit.note import Checkpoint, SignedNote, cosign, verify_checkpoint
from hub.errors import AuditError, Reason, RequestError
from hub.textdoc import parse_json

__all__ = [
    "Seen",
    "Witnessed",
    "check_proof",
    "latest_checkpoint",
    "proof_answer",
    "verify_extension",
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
            note, cp = verify_checkpoint(value, origin, hub_keys)
        except AuditError:
            continue
        if latest is None or cp.size >= latest[1].size:
            latest = (note, cp)
    if latest is None:
        raise AuditError(
            Reason.CHECKPOINT_INVALID, f"expected a signed checkpoint of {origin}; found none"
        )
    return latest


def verify_extension(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``new`` extends ``old``, two verified checkpoints of one log, ``old``
    the one seen first (docs/protocol.md 9.3).

    Every tree extends the empty one, so from size 0 there is nothing to prove and
    ``proof`` must be empty; otherwise it is the RFC 9162 consistency proof from
    ``old.size`` to ``new.size`` (empty for equal sizes).

    Raises:
        AuditError: LOG_FORK (a smaller size than the one seen, or one size with
            two roots: both are signed, they cannot both describe an append-only
            log), CONSISTENCY_PROOF_INVALID (the proof does not link them).
    """
    if new.size < old.size:
        raise AuditError(
            Reason.LOG_FORK,
            f"expected a checkpoint of size {old.size} or more after one of size {old.size}, "
            f"got {new.size}: the log cannot shrink",
        )
    if new.size == old.size and new.root != old.root:
        raise AuditError(
            Reason.LOG_FORK, f"two checkpoints of size {new.size} with different roots"
        )
    if old.size == 0:
        if proof:
            raise AuditError(
                Reason.CONSISTENCY_PROOF_INVALID,
                "expected no proof from the empty tree: every tree extends it",
            )
        return
    verify_consistency(old.size, new.size, old.root, new.root, proof)


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
            doc = parse_json(text, what="witness record")
            return cls(int(doc["size"]), base64.b64decode(doc["root"], validate=True))
        except (RequestError, ValueError, KeyError, TypeError) as exc:
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
            to its root, or it is smaller than ``seen`` or has another root at its
            size), CONSISTENCY_PROOF_INVALID (the log was rewritten since ``seen``).
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
    if seen is not None:
        verify_extension(
            Checkpoint(origin, seen.size, seen.root),
            cp,
            tree.consistency_proof(seen.size, cp.size) if 0 < seen.size < cp.size else [],
        )
    return Witnessed(cosign(note, name, key, now_s), cp, Seen(cp.size, cp.root))


def proof_answer(
    tree: MerkleTree, decision_id: str, index: int, size: int, checkpoint: str | None
) -> dict[str, Any]:
    """The sequencer's ``/audit/proof`` answer (docs/protocol.md 9.5), which
    :func:`check_proof` verifies: leaf ``index`` in the tree of ``size``, hashes base64,
    with the signed ``checkpoint`` of that size (its note text)."""
    return {
        "decision_id": decision_id,
        "index": index,
        "size": size,
        "leaf_hash": base64.b64encode(tree.leaf(index)).decode(),
        "root": base64.b64encode(tree.root(size)).decode(),
        "proof": [base64.b64encode(p).decode() for p in tree.inclusion_proof(index, size)],
        "checkpoint": checkpoint,
    }


def check_proof(body: Mapping[str, Any], origin: str, hub_keys: Sequence[bytes]) -> Checkpoint:
    """Verify an inclusion proof as the sequencer's ``/audit/proof`` serves it.

    ``body``: ``checkpoint`` (the signed note), ``size``, ``index``,
    ``leaf_hash`` and ``proof`` (base64).

    Raises:
        AuditError: CHECKPOINT_INVALID, CHECKPOINT_BAD_SIGNATURE (as
            :func:`verify_checkpoint`), INCLUSION_PROOF_INVALID.
    """
    try:
        checkpoint = str(body["checkpoint"]).encode()
        size, index = int(body["size"]), int(body["index"])
        leaf_hash = base64.b64decode(body["leaf_hash"])
        proof = [base64.b64decode(p) for p in body["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditError(
            Reason.INCLUSION_PROOF_INVALID,
            "expected checkpoint, size, index, leaf_hash and proof in the answer",
        ) from exc
    _note, cp = verify_checkpoint(checkpoint, origin, hub_keys)
    if cp.size != size:
        raise AuditError(
            Reason.INCLUSION_PROOF_INVALID,
            f"expected a proof for the checkpoint's size {cp.size}, got one for size {size}",
        )
    verify_inclusion(index, cp.size, leaf_hash, proof, cp.root)
    return cp
