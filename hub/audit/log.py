"""The sequencer's state (pure): leaves in order, each decision once, and checkpoints.

The single writer appends each hub decision as one leaf. Its whole state can be
rebuilt by reading ``<ns>.audit.leaves`` from the start (:meth:`AuditLog.restore`),
so a restart neither duplicates nor skips a leaf: a decision whose leaf is
already in the topic is recognised by its decision id and not appended again.

The tree and the id index are in memory by default; the sequencer passes a
file-backed tree (:meth:`MerkleTree.persistent`) and an on-disk index
(:class:`hub.audit.store.LeafStore`) so its memory does not grow with the log
and a restart reads only the leaves the store does not hold yet.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.leaf import AuditLeaf
from hub.audit.merkle import MerkleTree
from hub.audit.note import Checkpoint, SignedNote, sign_note
from hub.errors import AuditError, Reason

__all__ = ["AuditLog", "CheckpointPolicy", "origin_of"]


def origin_of(namespace: str) -> str:
    """The checkpoint origin (and note key name) of the log of a topic namespace."""
    return f"trm-hub/{namespace}"


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Publish a checkpoint every ``every_leaves`` leaves or ``every_ms`` ms, whichever first."""

    every_leaves: int = 100
    every_ms: int = 5_000


@dataclass(slots=True)
class AuditLog:
    """The tree, the index of every decision id, and the last checkpoint."""

    origin: str
    tree: MerkleTree = field(default_factory=MerkleTree)
    index_of: MutableMapping[str, int] = field(default_factory=dict)
    checkpointed_size: int = 0
    checkpointed_at_ms: int = 0

    @property
    def size(self) -> int:
        return self.tree.size

    def restore(self, leaf_bytes: bytes) -> int:
        """Replay one record of the leaves topic (in order) into the state."""
        leaf = AuditLeaf.from_bytes(leaf_bytes)
        if leaf.decision_id in self.index_of:
            raise AuditError(
                Reason.LOG_FORK,
                f"expected each decision once in the leaves topic; {leaf.decision_id} "
                f"appears at {self.index_of[leaf.decision_id]} and {self.size}",
            )
        index = self.tree.append(leaf_bytes)
        self.index_of[leaf.decision_id] = index
        return index

    def append(self, leaf: AuditLeaf) -> tuple[int, bytes] | None:
        """Append a decision; None if its id is already in the log (a redelivery)."""
        if leaf.decision_id in self.index_of:
            return None
        data = leaf.to_bytes()
        index = self.tree.append(data)
        self.index_of[leaf.decision_id] = index
        return index, data

    def checkpoint_due(self, now_ms: int, policy: CheckpointPolicy) -> bool:
        if self.size == self.checkpointed_size:
            return False
        return (
            self.size - self.checkpointed_size >= policy.every_leaves
            or now_ms - self.checkpointed_at_ms >= policy.every_ms
        )

    def checkpoint(self, key: Ed25519PrivateKey, now_ms: int) -> SignedNote:
        """Sign the current tree head (the hub key, under the origin's name)."""
        note = sign_note(
            Checkpoint(self.origin, self.size, self.tree.root()).text(), self.origin, key
        )
        self.checkpointed_size = self.size
        self.checkpointed_at_ms = now_ms
        return note

    def mark_checkpointed(self, size: int, now_ms: int) -> None:
        """Record a checkpoint read back from the topic on restart."""
        self.checkpointed_size = max(self.checkpointed_size, size)
        self.checkpointed_at_ms = now_ms
