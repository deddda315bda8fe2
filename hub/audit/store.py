"""The audit sequencer's log on disk (pure): the tree's levels, the id index, a cursor.

The sequencer's memory must not grow with the log, and a restart must not read
every leaf again. A :class:`LeafStore` in the sequencer's data directory keeps:

- ``level-NN.hashes``: the tree (:meth:`MerkleTree.persistent`): every leaf
  hash and every complete subtree hash, 32 bytes each, append-only: about
  64 bytes per leaf, read back by ``pread`` for roots and proofs;
- ``index.sqlite``: decision id -> leaf index (the dedupe of redelivered
  decisions, and ``/audit/proof``'s lookup), and one ``meta`` row: the
  committed size, its root, the next offset to read in the leaves and the
  checkpoints topics, and the latest signed checkpoint.

What is in memory is the tree's right edge (O(log n) hashes, read through the
level files' small write buffers), the ids appended since the last commit,
and SQLite's page cache (capped).

A commit (after the broker acknowledged a batch of leaves) writes the level
files out, then in one SQLite transaction the batch's ids and the new meta
row. Opening cuts the level files to the committed size (hashes of leaves
never acknowledged), recomputes every stored subtree hash from its children
(:meth:`MerkleTree.check_levels`: about 2 s at a million leaves, reading 64 MB)
and checks that the right edge gives the committed root; anything
else (a missing or unreadable file, a root that differs, an index that does
not end at the committed size) raises LOG_FORK and the sequencer rebuilds the
store from the leaves topic. The topic is the truth: the store is a cache of
it that the sequencer checks against the topic's end and last leaf and the
latest signed checkpoint before using it (``hub.app.sequencer``).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from hub.audit.merkle import MerkleTree
from hub.errors import AuditError, Reason

__all__ = ["LeafIndex", "LeafStore", "StoreMeta"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids(idx INTEGER PRIMARY KEY, decision_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS meta(
  one INTEGER PRIMARY KEY CHECK (one = 1), origin TEXT NOT NULL, size INTEGER NOT NULL,
  root BLOB NOT NULL, leaves_offset INTEGER NOT NULL, checkpoints_offset INTEGER NOT NULL,
  checkpoint BLOB);
"""


@dataclass(frozen=True, slots=True)
class StoreMeta:
    """What a commit records besides the tree and the ids."""

    origin: str
    size: int
    root: bytes
    leaves_offset: int  # the next offset of the leaves topic to read
    checkpoints_offset: int  # the next offset of the checkpoints topic to read
    checkpoint: bytes | None  # the latest signed checkpoint note, as published


class LeafIndex(MutableMapping[str, int]):
    """Decision id -> leaf index: committed rows in SQLite, the uncommitted in a dict."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.pending: dict[str, int] = {}

    def __getitem__(self, decision_id: str) -> int:
        found = self.pending.get(decision_id)
        if found is not None:
            return found
        row = self._db.execute(
            "SELECT idx FROM ids WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        if row is None:
            raise KeyError(decision_id)
        return int(row[0])

    def __setitem__(self, decision_id: str, index: int) -> None:
        self.pending[decision_id] = index

    def __delitem__(self, decision_id: str) -> None:
        raise AuditError(Reason.LOG_FORK, "expected an append-only index; a leaf is never removed")

    def __iter__(self) -> Iterator[str]:
        for (decision_id,) in self._db.execute("SELECT decision_id FROM ids ORDER BY idx"):
            yield decision_id
        yield from self.pending

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM ids").fetchone()
        return int(count) + len(self.pending)


class LeafStore:
    """The tree, the id index and the meta row of one audit log, in ``directory``."""

    CACHE_KIB = 8 * 1024  # SQLite's page cache: the index's memory, whatever its size

    def __init__(self, directory: Path, tree: MerkleTree, db: sqlite3.Connection) -> None:
        self.directory = directory
        self.tree = tree
        self._db = db
        self.ids = LeafIndex(db)
        self.meta = self._read_meta()

    @classmethod
    def open(cls, directory: Path, origin: str) -> LeafStore:
        """Open (or create) the store; check it is whole and consistent.

        Raises:
            AuditError: LOG_FORK when the files disagree with each other or
                belong to another log (the caller rebuilds with :meth:`reset`).
        """
        directory.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(directory / "index.sqlite", isolation_level=None)
            db.execute(f"PRAGMA cache_size=-{cls.CACHE_KIB}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT origin, size, root FROM meta").fetchone()
        except sqlite3.DatabaseError as exc:
            raise AuditError(
                Reason.LOG_FORK, f"expected a readable audit store index: {exc}"
            ) from None
        if row is None:
            if any(p.stat().st_size for p in directory.glob("level-*.hashes")):
                db.close()
                raise AuditError(
                    Reason.LOG_FORK,
                    "expected an id index beside the tree's level files, found none",
                )
            db.execute(
                "INSERT INTO meta VALUES (1, ?, 0, ?, 0, 0, NULL)",
                (origin, MerkleTree().root()),
            )
            row = (origin, 0, MerkleTree().root())
        stored_origin, size, root = row
        if stored_origin != origin:
            db.close()
            raise AuditError(
                Reason.LOG_FORK, f"expected a store of {origin}, found one of {stored_origin}"
            )
        (last,) = db.execute("SELECT MAX(idx) FROM ids").fetchone()
        if (last if last is not None else -1) != size - 1:
            db.close()
            raise AuditError(
                Reason.LOG_FORK,
                f"expected the id index to end at leaf {size - 1}, it ends at {last}",
            )
        try:
            tree = MerkleTree.persistent(str(directory), size)
        except (AuditError, OSError) as exc:
            db.close()
            raise AuditError(Reason.LOG_FORK, f"expected the tree's level files: {exc}") from None
        try:
            tree.check_levels()  # every stored hash is its children's: a flipped byte shows
        except AuditError:
            tree.close()
            db.close()
            raise
        if tree.root() != root:  # and the right edge (hashes with no stored parent) is committed
            tree.close()
            db.close()
            raise AuditError(
                Reason.LOG_FORK,
                f"the level files give another root at size {size} than the one committed",
            )
        return cls(directory, tree, db)

    @classmethod
    def reset(cls, directory: Path, origin: str) -> LeafStore:
        """Delete whatever is in ``directory`` and open an empty store."""
        shutil.rmtree(directory, ignore_errors=True)
        return cls.open(directory, origin)

    def _read_meta(self) -> StoreMeta:
        row = self._db.execute(
            "SELECT origin, size, root, leaves_offset, checkpoints_offset, checkpoint FROM meta"
        ).fetchone()
        origin, size, root, leaves_offset, checkpoints_offset, checkpoint = row
        return StoreMeta(origin, size, bytes(root), leaves_offset, checkpoints_offset, checkpoint)

    def commit(
        self,
        *,
        leaves_offset: int | None = None,
        checkpoints_offset: int | None = None,
        checkpoint: bytes | None = None,
    ) -> None:
        """Make the tree as it is now, its ids and the cursors durable, in that order."""
        self.tree.flush()
        size = self.tree.size
        pending = sorted(self.ids.pending.items(), key=lambda kv: kv[1])
        if len(pending) + self.meta.size != size or any(
            i != self.meta.size + n for n, (_id, i) in enumerate(pending)
        ):
            raise AuditError(
                Reason.LOG_FORK,
                f"expected ids for leaves {self.meta.size}..{size - 1}, "
                f"got {len(pending)} uncommitted ids",
            )
        meta = StoreMeta(
            self.meta.origin,
            size,
            self.tree.root(),
            self.meta.leaves_offset if leaves_offset is None else leaves_offset,
            self.meta.checkpoints_offset if checkpoints_offset is None else checkpoints_offset,
            self.meta.checkpoint if checkpoint is None else checkpoint,
        )
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT INTO ids VALUES (?, ?)", [(i, d) for d, i in pending])
            db.execute(
                "UPDATE meta SET size = ?, root = ?, leaves_offset = ?, checkpoints_offset = ?,"
                " checkpoint = ?",
                (
                    meta.size,
                    meta.root,
                    meta.leaves_offset,
                    meta.checkpoints_offset,
                    meta.checkpoint,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.ids.pending.clear()
        self.meta = meta

    def close(self) -> None:
        self.tree.close()
        self._db.close()

    @staticmethod
    def files(directory: Path) -> list[Path]:
        """The store's files (for tests and operators)."""
        return sorted(p for p in directory.iterdir() if p.is_file()) if directory.exists() else []
