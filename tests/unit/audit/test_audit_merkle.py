"""RFC 9162 trees against the public transparency-dev vectors, and properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    valid_subtree,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from hub.conformance import merkle
from hub.errors import AuditError

# The public transparency-dev/merkle vectors (Apache-2.0, LICENSE beside them),
# copied from the project's shared/vectors so the repository tests itself.
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc9162-merkle"
LEAVES = json.loads((VECTORS / "leaves.json").read_text())


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / "testdata" / kind).rglob("*.json"))


def _b64(values: list[str] | None) -> list[bytes]:  # a proof
    return [base64.b64decode(v) for v in values or []]


def test_the_vectors_are_there() -> None:
    assert len(_files("inclusion")) > 50
    assert len(_files("consistency")) > 50
    assert len(_files("subtreeinclusion")) > 100
    assert len(_files("subtreeconsistency")) > 100


def test_every_vector_gives_its_outcome() -> None:
    # One home for how a vector is applied: the conformance checker.
    results = merkle.check(VECTORS)
    failed = [r for r in results if not r.passed]
    assert not failed, "\n".join(f"{r.vector}: expected {r.expected}, got {r.got}" for r in failed)
    files = sum(len(_files(kind)) for kind in merkle.KINDS)
    assert len(results) == files + len(LEAVES["root_hex_by_size"])
    outcomes = [r.expected for r in results if not r.vector.startswith("roots/")]
    assert outcomes.count('"accepted"') >= 30
    assert outcomes.count('"rejected"') > 400


def test_where_the_protocol_is_stricter_than_the_library() -> None:
    # Section 9.2: these four accept a 12-byte root upstream; this protocol refuses
    # every hash input that is not 32 bytes. No other vector is turned around.
    turned = {
        f"{kind}/{path.stem}": merkle.stricter(kind, v)
        for kind in merkle.KINDS
        for path in _files(kind)
        if not (v := json.loads(path.read_text()))["wantErr"] and merkle.stricter(kind, v)
    }
    assert turned == {
        "consistency/sizes-are-equal-one-and-proof-is-empty": "a hash input that is not 32 bytes",
        "subtreeconsistency/sizes-are-equal-one-and-proof-is-empty": (
            "a hash input that is not 32 bytes"
        ),
        "subtreeconsistency/subtree-is-empty-sizes-are-equal-one-subtree-root-valid-tree-root-"
        "random-proof-is-empty": "a hash input that is not 32 bytes",
        "subtreeconsistency/subtree-is-empty-sizes-are-equal-zero-subtree-root-valid-tree-root-"
        "random-proof-is-empty": "a hash input that is not 32 bytes",
    }
    with pytest.raises(AuditError, match="32-byte"):
        verify_consistency(1, 1, b"x" * 12, b"x" * 12, [])
    with pytest.raises(AuditError, match="above zero"):
        verify_consistency(0, 1, EMPTY_ROOT, leaf_hash(b"a"), [])


def test_our_subtree_proofs_match_the_vectors() -> None:
    leaves = [bytes.fromhex(h) for h in LEAVES["leaf_inputs_hex"]]
    tree = MerkleTree(leaf_hash(x) for x in leaves)
    matched = 0
    for path in _files("subtreeconsistency"):
        v = json.loads(path.read_text())
        ours = (
            not v["wantErr"]
            and v["start"] < v["end"]
            and v["size"] <= len(leaves)
            and tree.root(v["size"]) == base64.b64decode(v["root2"])
        )
        if ours:
            assert tree.subtree_hash(v["start"], v["end"]) == base64.b64decode(v["root1"])
            got = tree.subtree_consistency_proof(v["start"], v["end"], v["size"])
            assert got == _b64(v["proof"]), path
            matched += 1
    assert matched >= 5


@settings(max_examples=120, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_subtree_proof_we_make_verifies_and_a_changed_one_fails(
    n: int, data: st.DataObject
) -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(n))
    subtrees = [(a, b) for a in range(n) for b in range(a + 1, n + 1) if valid_subtree(a, b)]
    start, end = data.draw(st.sampled_from(subtrees))
    size = data.draw(st.integers(min_value=end, max_value=n))
    sub = tree.subtree_hash(start, end)
    proof = tree.subtree_consistency_proof(start, end, size)
    verify_subtree_consistency(start, end, size, proof, sub, tree.root(size))
    index = data.draw(st.integers(min_value=start, max_value=end - 1))
    path = tree.subtree_inclusion_proof(index, start, end)
    verify_subtree_inclusion(index, start, end, tree.leaf(index), path, sub)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        broken = [*proof[:i], bytes(32), *proof[i + 1 :]]
        with pytest.raises(AuditError):
            verify_subtree_consistency(start, end, size, broken, sub, tree.root(size))
    with pytest.raises(AuditError):
        verify_subtree_consistency(start, end, size, proof, bytes(32), tree.root(size))


def test_a_misaligned_range_is_not_a_subtree() -> None:
    for good in ((4, 7), (0, 3), (6, 7), (0, 8)):
        assert valid_subtree(*good)
    assert not valid_subtree(2, 5)  # width 3 needs a start that is a multiple of 4
    assert not valid_subtree(3, 3)
    assert not valid_subtree(-1, 1)
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(8))
    with pytest.raises(AuditError, match="valid subtree"):
        tree.subtree_consistency_proof(2, 5, 8)


def test_our_proofs_match_the_vectors() -> None:
    leaves = [bytes.fromhex(h) for h in LEAVES["leaf_inputs_hex"]]
    tree = MerkleTree(leaf_hash(x) for x in leaves)
    for path in _files("inclusion"):
        v = json.loads(path.read_text())
        ours = (
            not v["wantErr"]
            and v["treeSize"] <= len(leaves)
            and tree.leaf(v["leafIdx"]) == base64.b64decode(v["leafHash"])
        )
        if ours:
            assert tree.inclusion_proof(v["leafIdx"], v["treeSize"]) == _b64(v["proof"])
    for path in _files("consistency"):
        v = json.loads(path.read_text())
        ours = (
            not v["wantErr"]
            and v["size2"] <= len(leaves)
            and tree.root(v["size2"]) == base64.b64decode(v["root2"])
        )
        if ours:
            assert tree.consistency_proof(v["size1"], v["size2"]) == _b64(v["proof"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_proof_we_make_verifies_and_any_change_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MerkleTree()
    for x in leaves:
        tree.append(x)
    n = len(leaves)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(index, size, leaf_hash(leaves[index]), proof, tree.root(size))
    with pytest.raises(AuditError):
        verify_inclusion(index, size, leaf_hash(leaves[index] + b"x"), proof, tree.root(size))
    old = data.draw(st.integers(1, size))
    cproof = tree.consistency_proof(old, size)
    verify_consistency(old, size, tree.root(old), tree.root(size), cproof)
    if 0 < old < size:
        forged = tree.root(old)[:-1] + bytes([tree.root(old)[-1] ^ 1])
        with pytest.raises(AuditError):
            verify_consistency(old, size, forged, tree.root(size), cproof)
