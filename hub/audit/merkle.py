"""RFC 9162 Merkle trees: hashing, an append-only tree, inclusion and consistency proofs.

Leaf hash = SHA-256(0x00 || leaf bytes); node hash = SHA-256(0x01 || left || right);
the root of the empty tree is SHA-256 of nothing. Proof generation and
verification follow RFC 9162 sections 2.1.3 and 2.1.4 step by step, and the
public vectors of transparency-dev/merkle pass (``tests/unit/audit``).

:class:`MerkleTree` keeps every complete subtree's hash by level, so a root or
a proof at any size costs O(log n) hashes and appending costs O(1) amortised.
It holds 32 bytes per leaf and about as much again for the inner levels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from hub.errors import AuditError, Reason

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes."""

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append_hash(h)

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Append a leaf by its bytes; return its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        """Append a leaf by its leaf hash; return its index."""
        if len(h) != 32:
            raise ValueError("a leaf hash is 32 bytes")
        index = len(self._levels[0])
        self._levels[0].append(h)
        level, i = 0, index
        while i & 1:  # a right child completes its parent
            parent = node_hash(self._levels[level][i - 1], self._levels[level][i])
            level += 1
            if len(self._levels) == level:
                self._levels.append([])
            self._levels[level].append(parent)
            i >>= 1
        return index

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi)."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:  # a complete, aligned subtree: stored
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def _check_size(self, size: int | None) -> int:
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise AuditError(
                Reason.INCLUSION_PROOF_INVALID,
                f"expected a tree size from 0 to {self.size}, got {n}",
            )
        return n

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all)."""
        return self._hash(0, self._check_size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[size])."""
        n = self._check_size(size)
        if not 0 <= index < n:
            raise AuditError(
                Reason.INCLUSION_PROOF_INVALID,
                f"expected a leaf index below the tree size {n}, got {index}",
            )
        return self._path(index, 0, n)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self._hash(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self._hash(lo, lo + k)]

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(size1, D[size2])."""
        n = self._check_size(size2)
        if not 0 <= size1 <= n:
            raise AuditError(
                Reason.CONSISTENCY_PROOF_INVALID,
                f"expected an old size from 0 to {n}, got {size1}",
            )
        if size1 in (0, n):
            return []
        return self._subproof(size1, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self._hash(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, complete), self._hash(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self._hash(lo, lo + k)]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2; raises INCLUSION_PROOF_INVALID unless ``leaf`` is at ``index``."""

    def bad(why: str) -> AuditError:
        return AuditError(
            Reason.INCLUSION_PROOF_INVALID, f"leaf {index} of tree size {size}: {why}"
        )

    if not 0 <= index < size:
        raise bad("expected the index below the size")
    if len(leaf) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
        raise bad("expected 32-byte hashes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise bad("expected a shorter proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise bad("expected a longer proof")
    if r != root:
        raise bad("the proof leads to another root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2; raises CONSISTENCY_PROOF_INVALID unless tree 1 is a prefix of tree 2."""

    def bad(why: str) -> AuditError:
        return AuditError(Reason.CONSISTENCY_PROOF_INVALID, f"sizes {size1} -> {size2}: {why}")

    if not 0 <= size1 <= size2:
        raise bad("expected the old size not above the new one")
    if size1 == size2:
        if size1 == 0:
            raise bad("expected trees that are not empty")
        if proof:
            raise bad("expected an empty proof for equal sizes")
        if root1 != root2:
            raise bad("equal sizes with different roots: a fork")
        return
    if size1 == 0:
        # Everything extends the empty tree: such a "proof" proves nothing, and
        # accepting one would let a checker skip the real check.
        raise bad("expected an old size above zero")
    if len(root1) != 32 or len(root2) != 32 or any(len(p) != 32 for p in proof):
        raise bad("expected 32-byte hashes")
    if not proof:
        raise bad("expected a non-empty proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root starts the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise bad("expected a shorter proof")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise bad("expected a longer proof")
    if fr != root1:
        raise bad("the proof does not lead to the old root")
    if sr != root2:
        raise bad("the proof does not lead to the new root")
