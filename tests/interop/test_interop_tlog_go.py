"""Go's golang.org/x/mod/sumdb/tlog and sumdb/note check our roots, proofs and checkpoints.

The Go code is someone else's implementation of the same RFC 6962/9162 tree
and of signed notes (Debian's golang-golang-x-mod-dev, built offline). Missing
Go or the package is a failure, never a skip: deploy/scripts/system-deps.sh
installs them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hub.audit.merkle import MerkleTree
from hub.audit.note import Checkpoint, cosign, sign_note, verifier_key
from hub.keys import private_key_from_seed, raw_public

HERE = Path(__file__).resolve().parent / "go_tlog"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


@pytest.fixture(scope="module")
def go_tlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    assert Path(go).exists(), "Go is required: run deploy/scripts/system-deps.sh"
    out = tmp_path_factory.mktemp("go") / "go_tlog"
    env = {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOCACHE": str(tmp_path_factory.mktemp("gocache")),
    }
    done = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def _cases() -> dict[str, Any]:
    leaves = [f"leaf {i}: decision".encode() * (i % 3 + 1) for i in range(37)]
    tree = MerkleTree()
    roots = []
    for leaf in leaves:
        tree.append(leaf)
        roots.append(_b64(tree.root()))
    inclusion = []
    for size in (1, 2, 7, 8, 16, 31, 37):
        for index in sorted({0, size // 2, size - 1}):
            proof = [_b64(p) for p in tree.inclusion_proof(index, size)]
            case = {
                "name": f"inclusion {index}/{size}",
                "leaf": _b64(leaves[index]),
                "index": index,
                "size": size,
                "root": _b64(tree.root(size)),
                "proof": proof,
            }
            inclusion.append(case)
            if proof:
                bad = dict(case, name=f"tampered inclusion {index}/{size}", want_err=True)
                bad["proof"] = [_b64(bytes(32)), *proof[1:]]
                inclusion.append(bad)
    consistency = []
    for size1, size2 in ((1, 2), (3, 7), (4, 8), (7, 37), (16, 37), (36, 37)):
        proof = [_b64(p) for p in tree.consistency_proof(size1, size2)]
        case = {
            "name": f"consistency {size1}->{size2}",
            "size1": size1,
            "size2": size2,
            "root1": _b64(tree.root(size1)),
            "root2": _b64(tree.root(size2)),
            "proof": proof,
        }
        consistency.append(case)
        consistency.append(
            dict(
                case,
                name=f"forked {size1}->{size2}",
                root1=_b64(tree.root(size1 - 1) if size1 > 1 else bytes(32)),
                want_err=True,
            )
        )
    hub_key = private_key_from_seed(bytes(range(32)))
    witness = private_key_from_seed(bytes(range(1, 33)))
    text = Checkpoint("trm-hub/test", 37, tree.root()).text()
    signed = cosign(sign_note(text, "trm-hub/test", hub_key), "KH", witness, 1_767_225_600)
    vkey = verifier_key("trm-hub/test", raw_public(hub_key.public_key()))
    forged = signed.to_bytes().decode().replace("\n37\n", "\n38\n")
    checkpoints = [
        {"name": "checkpoint", "note": signed.to_bytes().decode(), "verifier": vkey, "text": text},
        {
            "name": "altered checkpoint",
            "note": forged,
            "verifier": vkey,
            "text": text,
            "want_err": True,
        },
    ]
    return {
        "leaves": [_b64(x) for x in leaves],
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoints": checkpoints,
    }


def test_go_verifies_our_log(go_tlog: Path) -> None:
    cases = _cases()
    done = subprocess.run(
        [str(go_tlog)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failures = [line for line in lines if not line.startswith("ok ")]
    assert failures == []
    expected = (
        len(cases["leaves"])
        + len(cases["inclusion"])
        + len(cases["consistency"])
        + len(cases["checkpoints"])
    )
    assert len(lines) == expected
    assert sum("(refused:" in line for line in lines) == sum(
        1
        for kind in ("inclusion", "consistency", "checkpoints")
        for c in cases[kind]
        if c.get("want_err")
    )
