#!/usr/bin/env python3
"""Generate the trust-list test vectors in tests/vectors/trust/ (deterministic).

Fixed seeds, fixed times: rerunning writes the same bytes, and
tests/unit/trust/test_trust_vectors.py fails if the files drift from this
script. Each vector is ``{"description", "previous", "document", "expect"}``:
``previous`` is the version held (or null), ``expect`` is "ok" or the reason
code a verifier must give.

    python tests/vectors/generate_trust.py [--check]
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.keys import KeyRole, private_key_from_seed
from hub.signed_doc import SignedDocument
from hub.trust import HUB_OWNER, TRUST_TYPE, KeySpec, build_trust_document

OUT = Path(__file__).resolve().parent / "trust"
COUNTRIES = ("KH", "CN", "LA", "MM", "TH", "VN")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def key(label: str) -> Ed25519PrivateKey:
    return private_key_from_seed(hashlib.sha256(f"trm-trust-vector:{label}".encode()).digest())


ROOT = {cc: key(f"root-{cc}") for cc in COUNTRIES}
PRODUCER = {cc: key(f"producer-{cc}") for cc in COUNTRIES}
HUB = key("hub")


def specs(roots: dict[str, Ed25519PrivateKey]) -> list[KeySpec]:
    out = [KeySpec(cc, frozenset({KeyRole.ROOT}), k.public_key(), T0) for cc, k in roots.items()]
    out += [
        KeySpec(cc, frozenset({KeyRole.PRODUCER}), k.public_key(), T0) for cc, k in PRODUCER.items()
    ]
    out.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), HUB.public_key(), T0))
    return out


def doc(
    version: int,
    signers: list[Ed25519PrivateKey],
    roots: dict[str, Ed25519PrivateKey] = ROOT,
    threshold: int = 4,
) -> SignedDocument:
    return build_trust_document(
        specs(roots),
        members={cc: cc for cc in COUNTRIES},
        threshold=threshold,
        version=version,
        issued_at_ms=T0 + version,
        signers=signers,
    )


def vectors() -> dict[str, dict[str, Any]]:
    v1 = doc(1, list(ROOT.values()))
    rotated = dict(ROOT) | {"TH": key("root-TH-2")}
    v2 = doc(2, [rotated["TH"], ROOT["KH"], ROOT["LA"], ROOT["MM"], ROOT["VN"]], roots=rotated)
    tampered = copy.deepcopy(v1.to_json())
    tampered["signed"]["keys"][6]["not_after_ms"] = T0 + 10**13  # extend a producer key
    added = copy.deepcopy(v1.to_json())
    added["signed"]["threshold"] = 1
    wrong_type = copy.deepcopy(v1.to_json())
    wrong_type["signed"]["_type"] = "trm.agreement/v1"
    bad_id = copy.deepcopy(v1.to_json())
    bad_id["signed"]["keys"][0]["key_id"] = "00" * 32
    hub_root = copy.deepcopy(v1.to_json())
    hub_root["signed"]["keys"][-1]["roles"] = ["hub", "root"]
    resigned = [SignedDocument(TRUST_TYPE, o["signed"], ()) for o in (bad_id, hub_root)]
    for i, unsigned in enumerate(resigned):
        signed = unsigned
        for k in ROOT.values():
            signed = signed.with_signature(k)
        resigned[i] = signed
    return {
        "good-01-first-version": {
            "description": "v1 signed by all six roots (pinned on first use)",
            "previous": None,
            "document": v1.to_json(),
            "expect": "ok",
        },
        "good-02-rotation": {
            "description": "v2 replaces TH's root; signed by 4 old roots and 5 new",
            "previous": v1.to_json(),
            "document": v2.to_json(),
            "expect": "ok",
        },
        "bad-01-below-threshold": {
            "description": "v1 signed by 3 of the 4 countries needed",
            "previous": None,
            "document": doc(1, [ROOT["KH"], ROOT["LA"], ROOT["TH"]]).to_json(),
            "expect": "TRUST_THRESHOLD_NOT_MET",
        },
        "bad-02-rolled-back": {
            "description": "v1 offered to a node holding v2",
            "previous": v2.to_json(),
            "document": v1.to_json(),
            "expect": "TRUST_ROLLBACK",
        },
        "bad-03-same-version": {
            "description": "v1 again after v1",
            "previous": v1.to_json(),
            "document": v1.to_json(),
            "expect": "TRUST_ROLLBACK",
        },
        "bad-04-new-roots-only": {
            "description": "v2 signed only by keys the previous version does not hold as roots",
            "previous": v1.to_json(),
            "document": doc(2, [rotated["TH"], *PRODUCER.values(), HUB], roots=rotated).to_json(),
            "expect": "TRUST_THRESHOLD_NOT_MET",
        },
        "bad-05-validity-extended-after-signing": {
            "description": "a producer key's validity extended after the roots signed",
            "previous": None,
            "document": tampered,
            "expect": "TRUST_THRESHOLD_NOT_MET",
        },
        "bad-06-threshold-lowered-after-signing": {
            "description": "threshold changed to 1 after signing",
            "previous": None,
            "document": added,
            "expect": "TRUST_THRESHOLD_NOT_MET",
        },
        "bad-07-wrong-document-type": {
            "description": "an agreement's _type",
            "previous": None,
            "document": wrong_type,
            "expect": "TRUST_MALFORMED",
        },
        "bad-08-key-id-mismatch": {
            "description": "a key id that is not the SHA-256 of its key",
            "previous": None,
            "document": resigned[0].to_json(),
            "expect": "TRUST_MALFORMED",
        },
        "bad-09-hub-holds-root": {
            "description": "the hub key given the root role",
            "previous": None,
            "document": resigned[1].to_json(),
            "expect": "TRUST_MALFORMED",
        },
        "bad-10-hub-signatures-only": {
            "description": "v2 signed by the hub operator alone",
            "previous": v1.to_json(),
            "document": doc(2, [HUB]).to_json(),
            "expect": "TRUST_THRESHOLD_NOT_MET",
        },
    }


def render(v: dict[str, Any]) -> str:
    return json.dumps(v, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    drift = []
    for name, v in vectors().items():
        path = OUT / f"{name}.json"
        text = render(v)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            drift.append(name)
            if not check:
                OUT.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and drift:
        print(f"trust vectors drifted: {drift}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
