"""The public transparency-dev/merkle vectors (``tests/vectors/rfc9162-merkle``), applied.

The folder holds ``leaves.json`` (eight leaf inputs and the RFC 9162 root of
every prefix) and ``testdata/<kind>/**.json``, one proof per file, for four
kinds: ``inclusion``, ``consistency``, ``subtreeinclusion``,
``subtreeconsistency``. Each proof file gives its inputs (base64 hashes) and
``wantErr``. A verifier of this protocol accepts exactly the files with
``wantErr`` false, except where docs/protocol.md section 9.2 is stricter than
the library the vectors come from; those files are expected refused whatever
their ``wantErr`` says:

- any hash input (root, leaf or subtree hash, proof element) that is not 32
  bytes (four files accept a 12-byte "don't care" root the library never reads);
- a consistency proof from size 0 (the library accepts one; it proves nothing).

:func:`check` gives one result per file (``<kind>/<path>``) plus one per prefix
root (``roots/<n>``); :func:`stricter` says which files the rules above turn
around, so a test can count them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.audit.merkle import (
    MerkleTree,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from hub.conformance.base import Result, compare, read_json
from hub.errors import AuditError

__all__ = ["KINDS", "NAME", "check", "stricter"]

NAME = "rfc9162-merkle"
KINDS = ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def _inclusion(v: dict[str, Any]) -> None:
    verify_inclusion(
        v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"])
    )


def _consistency(v: dict[str, Any]) -> None:
    verify_consistency(
        v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), _proof(v["proof"])
    )


def _subtree_inclusion(v: dict[str, Any]) -> None:
    verify_subtree_inclusion(
        v["leafIdx"],
        v["start"],
        v["end"],
        _b64(v["leafHash"]),
        _proof(v["proof"]),
        _b64(v["root"]),
    )


def _subtree_consistency(v: dict[str, Any]) -> None:
    verify_subtree_consistency(
        v["start"], v["end"], v["size"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"])
    )


_VERIFY: dict[str, Callable[[dict[str, Any]], None]] = {
    "inclusion": _inclusion,
    "consistency": _consistency,
    "subtreeinclusion": _subtree_inclusion,
    "subtreeconsistency": _subtree_consistency,
}


def stricter(kind: str, v: dict[str, Any]) -> str | None:
    """Why section 9.2 refuses this vector although the library accepts it, or None."""
    hashes = [v[k] for k in ("leafHash", "root", "root1", "root2") if k in v]
    if any(len(_b64(h)) != 32 for h in hashes) or any(len(p) != 32 for p in _proof(v["proof"])):
        return "a hash input that is not 32 bytes"
    if kind == "consistency" and v["size1"] == 0:
        return "a consistency proof from size 0"
    return None


def _outcome(kind: str, v: dict[str, Any]) -> str:
    try:
        _VERIFY[kind](v)
    except AuditError as error:
        return f"rejected {error.reason}"
    return "accepted"


def _roots(directory: Path) -> list[Result]:
    leaves = read_json(directory / "leaves.json")
    tree = MerkleTree()
    results = []
    inputs = [bytes.fromhex(h) for h in leaves["leaf_inputs_hex"]]
    for n, want in enumerate(leaves["root_hex_by_size"]):
        results.append(compare(f"roots/{n}", want, tree.root().hex()))
        if n < len(inputs):
            tree.append(inputs[n])
    return results


def check(directory: Path) -> list[Result]:
    """One result per vector file of ``directory`` and per prefix root of ``leaves.json``."""
    results = _roots(directory)
    for kind in KINDS:
        base = directory / "testdata" / kind
        for path in sorted(base.rglob("*.json")):
            v = read_json(path)
            name = f"{kind}/{path.relative_to(base).with_suffix('').as_posix()}"
            refused = v["wantErr"] or stricter(kind, v) is not None
            got = _outcome(kind, v)
            results.append(
                compare(name, "rejected" if refused else "accepted", got.partition(" ")[0])
            )
    return results
