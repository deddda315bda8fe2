"""RFC 9162 trees against the public transparency-dev vectors, and properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from hub.errors import AuditError

# The public transparency-dev/merkle vectors (Apache-2.0, LICENSE beside them),
# copied from the project's shared/vectors so the repository tests itself.
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc9162-merkle"
LEAVES = json.loads((VECTORS / "leaves.json").read_text())


def _files(kind: str) -> list[Path]:
    return sorted((VECTORS / "testdata" / kind).rglob("*.json"))


def _b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def test_the_vectors_are_there() -> None:
    assert len(_files("inclusion")) > 50
    assert len(_files("consistency")) > 50


def test_roots_of_every_prefix() -> None:
    leaves = [bytes.fromhex(h) for h in LEAVES["leaf_inputs_hex"]]
    tree = MerkleTree()
    assert tree.root() == EMPTY_ROOT
    for n, want in enumerate(LEAVES["root_hex_by_size"]):
        assert tree.root() == bytes.fromhex(want), n
        if n < len(leaves):
            tree.append(leaves[n])
    for n, want in enumerate(LEAVES["root_hex_by_size"]):
        assert tree.root(n) == bytes.fromhex(want)


@pytest.mark.parametrize("path", _files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vector(path: Path) -> None:
    v: dict[str, Any] = json.loads(path.read_text())
    args = (
        v["leafIdx"],
        v["treeSize"],
        base64.b64decode(v["leafHash"] or ""),
        _b64(v["proof"]),
        base64.b64decode(v["root"] or ""),
    )
    if v["wantErr"]:
        with pytest.raises(AuditError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _files("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vector(path: Path) -> None:
    v: dict[str, Any] = json.loads(path.read_text())
    args = (
        v["size1"],
        v["size2"],
        base64.b64decode(v["root1"] or ""),
        base64.b64decode(v["root2"] or ""),
        _b64(v["proof"]),
    )
    if v["wantErr"]:
        with pytest.raises(AuditError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


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
