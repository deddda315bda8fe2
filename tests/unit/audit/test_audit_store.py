"""The sequencer's on-disk log: the same roots and proofs as the in-memory tree, across
restarts, and a store that is damaged is refused (so the sequencer rebuilds it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hub.audit.log import AuditLog
from hub.audit.merkle import CompactRange, MerkleTree, leaf_hash
from hub.audit.store import LeafStore
from hub.errors import AuditError, Reason
from tests.support.audit import ingested_leaf

ORIGIN = "trm-hub/t"


def _stored_log(directory: Path) -> tuple[LeafStore, AuditLog]:
    store = LeafStore.open(directory, ORIGIN)
    return store, AuditLog(ORIGIN, tree=store.tree, index_of=store.ids)


def test_compact_range_gives_every_root_of_the_tree() -> None:
    tree, edge = MerkleTree(), CompactRange()
    for i in range(300):
        assert edge.root() == tree.root()
        assert edge.hashes == tree.right_edge()
        assert len(edge.hashes) == i.bit_count()
        tree.append(bytes([i % 256, i // 256]))
        edge.append(bytes([i % 256, i // 256]))


def test_proofs_from_the_store_equal_proofs_from_memory_for_every_size(tmp_path: Path) -> None:
    # One store grown leaf by leaf, committed at irregular points, reopened (a
    # restart) at every size up to 260: roots, inclusion and consistency proofs
    # read from the level files equal the in-memory tree's.
    memory = MerkleTree()
    store, log = _stored_log(tmp_path / "s")
    for n in range(1, 261):
        leaf = ingested_leaf(n - 1)
        memory.append(leaf.to_bytes())
        assert log.append(leaf) is not None
        if n % 3 == 0 or n < 20:
            store.commit(leaves_offset=n)
            store.close()
            store, log = _stored_log(tmp_path / "s")
            tree = store.tree
            assert tree.size == n
            assert tree.root() == memory.root()
            for index in range(n):
                assert tree.inclusion_proof(index) == memory.inclusion_proof(index, n)
            for old in range(1, n + 1):
                assert tree.consistency_proof(old) == memory.consistency_proof(old, n)
            assert store.ids[leaf.decision_id] == n - 1
    store.close()


def test_restart_resumes_with_the_same_root_and_refuses_a_redelivered_decision(
    tmp_path: Path,
) -> None:
    store, log = _stored_log(tmp_path / "s")
    for i in range(100):
        log.append(ingested_leaf(i))
    store.commit(leaves_offset=100, checkpoints_offset=7, checkpoint=b"note")
    root = log.tree.root()
    store.close()

    store, log = _stored_log(tmp_path / "s")
    assert (log.size, log.tree.root()) == (100, root)
    assert (store.meta.leaves_offset, store.meta.checkpoints_offset) == (100, 7)
    assert store.meta.checkpoint == b"note"
    assert log.append(ingested_leaf(42)) is None  # already a leaf before the restart: not twice
    assert log.append(ingested_leaf(100)) == (100, ingested_leaf(100).to_bytes())
    assert log.index_of[ingested_leaf(100).decision_id] == 100
    store.close()


def test_hashes_written_but_never_committed_are_cut_off_on_open(tmp_path: Path) -> None:
    # A crash after the level files were written but before the commit: the
    # store opens at the committed size, and the leaves are read again.
    store, log = _stored_log(tmp_path / "s")
    for i in range(50):
        log.append(ingested_leaf(i))
    store.commit(leaves_offset=50)
    committed = log.tree.root()
    for i in range(50, 90):
        log.append(ingested_leaf(i))
    store.tree.flush()  # on disk, not committed
    store.close()
    store, log = _stored_log(tmp_path / "s")
    assert (log.size, log.tree.root()) == (50, committed)
    assert ingested_leaf(60).decision_id not in log.index_of
    store.close()


@pytest.mark.parametrize(
    "damage",
    ["missing level file", "flipped hash", "truncated level file", "missing index", "junk index"],
)
def test_a_damaged_store_is_refused(tmp_path: Path, damage: str) -> None:
    directory = tmp_path / "s"
    store, log = _stored_log(directory)
    for i in range(37):
        log.append(ingested_leaf(i))
    store.commit(leaves_offset=37)
    store.close()
    level0 = directory / "level-00.hashes"
    if damage == "missing level file":
        (directory / "level-02.hashes").unlink()
    elif damage == "flipped hash":
        data = bytearray(level0.read_bytes())
        data[32 * 5] ^= 1
        level0.write_bytes(bytes(data))
    elif damage == "truncated level file":
        os.truncate(level0, 32 * 30)
    elif damage == "missing index":
        for p in directory.glob("index.sqlite*"):
            p.unlink()
    else:
        for p in directory.glob("index.sqlite*"):
            p.unlink()
        (directory / "index.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(AuditError) as caught:
        LeafStore.open(directory, ORIGIN)
    assert caught.value.reason == Reason.LOG_FORK


def test_a_store_of_another_log_is_refused_and_reset_starts_empty(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    store, log = _stored_log(directory)
    log.append(ingested_leaf(0))
    store.commit(leaves_offset=1)
    store.close()
    with pytest.raises(AuditError, match="expected a store of trm-hub/other"):
        LeafStore.open(directory, "trm-hub/other")
    store = LeafStore.reset(directory, ORIGIN)
    assert (store.tree.size, store.meta.leaves_offset, len(store.ids)) == (0, 0, 0)
    assert store.tree.root() == MerkleTree().root()
    store.close()


def test_a_rebuild_from_the_leaves_gives_the_store_the_same_root(tmp_path: Path) -> None:
    # What the sequencer does with a refused store: reset, then restore() every leaf.
    store, log = _stored_log(tmp_path / "a")
    leaves = [log.append(ingested_leaf(i)) for i in range(70)]
    store.commit(leaves_offset=70)
    root = log.tree.root()
    store.close()
    shutil.rmtree(tmp_path / "a")
    rebuilt = LeafStore.reset(tmp_path / "a", ORIGIN)
    log = AuditLog(ORIGIN, tree=rebuilt.tree, index_of=rebuilt.ids)
    for appended in leaves:
        assert appended is not None
        log.restore(appended[1])
    rebuilt.commit(leaves_offset=70)
    assert log.tree.root() == root
    assert log.tree.leaf(69) == leaf_hash(ingested_leaf(69).to_bytes())
    rebuilt.close()


def test_commit_refuses_ids_that_do_not_match_the_leaves(tmp_path: Path) -> None:
    store, _log = _stored_log(tmp_path / "s")
    store.tree.append(b"a leaf with no id")
    with pytest.raises(AuditError) as caught:
        store.commit(leaves_offset=1)
    assert caught.value.reason == Reason.LOG_FORK
    store.close()
