"""The audit-log vectors (``tests/vectors/audit``), applied: docs/protocol.md section 9.

``keys.json`` names the log (``origin``), the hub's checkpoint keys and the
witnesses' cosignature keys. Every other file is one vector whose ``type``
says how to apply it (the folder's README and section 9.7 say the same):

- ``leaf``: decode ``leaf`` (hex) as an audit leaf (9.1); accepted ones give
  the leaf's ``fields`` (:func:`leaf_json`) and its RFC 9162 ``leaf_hash``;
- ``log``: the leaves in order; ``leaf_hashes`` and the root at every size;
- ``checkpoint``: verify the signed note ``note`` (9.3); its ``size`` and ``root``;
- ``cosignature``: verify the checkpoint, then each witness's cosignature (9.4);
- ``extension``: verify checkpoints ``old`` and ``new``, then that ``new``
  extends ``old`` with ``proof`` (9.3);
- ``proof``: verify the sequencer's ``/audit/proof`` ``answer`` (9.5);
- ``merkle``: one Merkle verification (``check``: ``inclusion``,
  ``consistency``, ``subtree_inclusion``, ``subtree_consistency``) with the
  rules of 9.2 on hash lengths, size 0 and the empty subtree.

Every outcome is ``{"outcome": "accepted" | "rejected", "reason": CODE | null}``
plus, when accepted, what the vector's ``expected`` lists for its type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.audit.leaf import AuditLeaf
from hub.audit.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from hub.audit.note import verify_checkpoint, verify_cosignature
from hub.audit.witness import check_proof, verify_extension
from hub.conformance.base import Result, compare, read_json
from hub.errors import TrmError

__all__ = ["NAME", "TYPES", "Keys", "apply", "check", "leaf_json"]

NAME = "audit"
KEYS_FILE = "keys.json"


@dataclass(frozen=True, slots=True)
class Keys:
    """What ``keys.json`` gives a verifier: the log's origin and its public keys."""

    origin: str
    hub: tuple[bytes, ...]
    witnesses: dict[str, bytes]

    @classmethod
    def read(cls, path: Path) -> Keys:
        doc = read_json(path)
        return cls(
            origin=doc["origin"],
            hub=tuple(bytes.fromhex(k["public_key"]) for k in doc["hub_keys"]),
            witnesses={w["name"]: bytes.fromhex(w["public_key"]) for w in doc["witnesses"]},
        )


def leaf_json(leaf: AuditLeaf) -> dict[str, Any]:
    """An audit leaf's fields as JSON, in schema order (bytes as lowercase hex, 2.7)."""
    r = leaf.record
    return {
        "decision_id": leaf.decision_id,
        "kind": str(r.kind),
        "event_id": r.event_id,
        "producer": r.producer,
        "recipient": r.recipient,
        "event_digest": r.event_digest,
        "delivered_digest": r.delivered_digest,
        "fields": list(r.fields),
        "agreement": r.agreement,
        "reason": r.reason,
        "source": r.source,
        "decided_at_ms": r.decided_at_ms,
        "registry": r.registry,
    }


def _accepted(**extra: Any) -> dict[str, Any]:
    return {"outcome": "accepted", "reason": None, **extra}


def _refused(error: TrmError) -> dict[str, Any]:
    return {"outcome": "rejected", "reason": str(error.reason)}


def _hexes(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _leaf(v: dict[str, Any], _keys: Keys) -> dict[str, Any]:
    data = bytes.fromhex(v["leaf"])
    leaf = AuditLeaf.from_bytes(data)
    return _accepted(fields=leaf_json(leaf), leaf_hash=leaf_hash(data).hex())


def _log(v: dict[str, Any], _keys: Keys) -> dict[str, Any]:
    tree, roots = MerkleTree(), [MerkleTree().root().hex()]
    for data in _hexes(v["leaves"]):
        tree.append(data)
        roots.append(tree.root().hex())
    hashes = [tree.leaf(i).hex() for i in range(tree.size)]
    return _accepted(leaf_hashes=hashes, roots=roots)


def _checkpoint(v: dict[str, Any], keys: Keys) -> dict[str, Any]:
    _note, cp = verify_checkpoint(v["note"].encode(), keys.origin, keys.hub)
    return _accepted(size=cp.size, root=cp.root.hex())


def _cosignature(v: dict[str, Any], keys: Keys) -> dict[str, Any]:
    note, cp = verify_checkpoint(v["note"].encode(), keys.origin, keys.hub)
    times = {name: verify_cosignature(note, name, keys.witnesses[name]) for name in v["witnesses"]}
    return _accepted(size=cp.size, timestamps=times)


def _extension(v: dict[str, Any], keys: Keys) -> dict[str, Any]:
    _old_note, old = verify_checkpoint(v["old"].encode(), keys.origin, keys.hub)
    _new_note, new = verify_checkpoint(v["new"].encode(), keys.origin, keys.hub)
    verify_extension(old, new, _hexes(v["proof"]))
    return _accepted(old_size=old.size, new_size=new.size)


def _proof(v: dict[str, Any], keys: Keys) -> dict[str, Any]:
    cp = check_proof(v["answer"], keys.origin, keys.hub)
    return _accepted(size=cp.size, root=cp.root.hex())


def _merkle(v: dict[str, Any], _keys: Keys) -> dict[str, Any]:
    check, proof = v["check"], _hexes(v["proof"])
    if check == "inclusion":
        verify_inclusion(
            v["index"], v["size"], bytes.fromhex(v["leaf_hash"]), proof, bytes.fromhex(v["root"])
        )
    elif check == "consistency":
        verify_consistency(
            v["size1"], v["size2"], bytes.fromhex(v["root1"]), bytes.fromhex(v["root2"]), proof
        )
    elif check == "subtree_inclusion":
        verify_subtree_inclusion(
            v["index"],
            v["start"],
            v["end"],
            bytes.fromhex(v["leaf_hash"]),
            proof,
            bytes.fromhex(v["subtree_hash"]),
        )
    elif check == "subtree_consistency":
        verify_subtree_consistency(
            v["start"],
            v["end"],
            v["size"],
            proof,
            bytes.fromhex(v["subtree_hash"]),
            bytes.fromhex(v["root"]),
        )
    else:
        raise ValueError(f"unknown merkle check {check!r}")
    return _accepted()


TYPES: dict[str, Callable[[dict[str, Any], Keys], dict[str, Any]]] = {
    "leaf": _leaf,
    "log": _log,
    "checkpoint": _checkpoint,
    "cosignature": _cosignature,
    "extension": _extension,
    "proof": _proof,
    "merkle": _merkle,
}


def apply(v: dict[str, Any], keys: Keys) -> dict[str, Any]:
    """The outcome of one vector with this implementation."""
    try:
        return TYPES[v["type"]](v, keys)
    except TrmError as error:
        return _refused(error)


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory`` (every ``*.json`` but ``keys.json``)."""
    keys = Keys.read(directory / KEYS_FILE)
    return [
        compare(path.stem, (v := read_json(path))["expected"], apply(v, keys))
        for path in sorted(directory.glob("*.json"))
        if path.name != KEYS_FILE
    ]
