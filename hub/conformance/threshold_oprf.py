"""The threshold OPRF vectors (``tests/vectors/threshold-oprf/``, docs/protocol.md section 13.2).

``key.json`` holds a 3-of-6 sharing of RFC 9497's VOPRF test key (``skSm`` of
Appendix A.1.1): the threshold, the Feldman commitments, each share with its
index, and the share public keys the commitments give. Each ``good-*`` or
``bad-*`` file holds a blinded element (with the input and blind that make it,
for the good ones), a list of partial evaluations (index, evaluated element,
proof, and for an honest one the proof's random scalar ``r``) and ``expected``:
``combined`` with the evaluated element and the PRF output, or ``rejected``
with the reason code and the share index it names (or null).

A verifier applies them so (section 13.2): check every share against the
commitments (``shares/<i>``); for each vector, recompute every honest partial
from its share and ``r`` byte for byte (``<vector>/partial-<i>``), then verify
all partials and combine (``<vector>``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.errors import TrmError
from hub.matching import oprf
from hub.matching.threshold import (
    Commitments,
    KeyShare,
    PartialEvaluation,
    combine,
    partial_evaluate,
)

__all__ = ["KEY_FILE", "NAME", "check", "outcome"]

NAME = "threshold-oprf"
KEY_FILE = "key.json"
_NAMED = re.compile(r"share (\d+)")


def _partials(vector: dict[str, Any]) -> list[PartialEvaluation]:
    return [
        PartialEvaluation(p["index"], bytes.fromhex(p["evaluated"]), bytes.fromhex(p["proof"]))
        for p in vector["partials"]
    ]


def outcome(vector: dict[str, Any], commitments: Commitments) -> dict[str, Any]:
    """What this implementation makes of one vector, in the form of ``expected``."""
    blinded = bytes.fromhex(vector["blinded"])
    try:
        evaluated = combine(commitments, blinded, _partials(vector))
    except TrmError as error:
        named = _NAMED.search(error.detail)
        return {
            "outcome": "rejected",
            "reason": str(error.reason),
            "index": int(named.group(1)) if named else None,
        }
    found: dict[str, Any] = {"outcome": "combined", "evaluated": evaluated.hex()}
    if vector.get("input") is not None:
        x, blind = bytes.fromhex(vector["input"]), bytes.fromhex(vector["blind"])
        found["output"] = oprf.finalize(x, blind, evaluated).hex()
    return found


def check(directory: Path) -> list[Result]:
    """One result per share of ``key.json``, per honest partial and per vector file."""
    key = read_json(directory / KEY_FILE)
    commitments = Commitments(key["threshold"], tuple(bytes.fromhex(c) for c in key["commitments"]))
    shares = {s["index"]: KeyShare(s["index"], bytes.fromhex(s["share"])) for s in key["shares"]}
    results = [compare("public_key", key["public_key"], commitments.public_key().hex())]
    for index, share in sorted(shares.items()):
        got = commitments.share_public_key(index).hex()
        results.append(compare(f"shares/{index}", key["share_public_keys"][str(index)], got))
        results.append(
            compare(f"shares/{index}/scalar", got, oprf.base_multiply(share.scalar).hex())
        )
    for path in sorted(directory.glob("*.json")):
        if not path.name.startswith(("good-", "bad-")):
            continue
        vector = read_json(path)
        blinded = bytes.fromhex(vector["blinded"])
        if vector.get("input") is not None:
            remade = oprf.blind(
                bytes.fromhex(vector["input"]), blind=bytes.fromhex(vector["blind"])
            )[1]
            results.append(compare(f"{path.stem}/blinded", vector["blinded"], remade.hex()))
        for p in vector["partials"]:
            if p.get("r") is None:
                continue  # a forged partial: nothing to recompute
            honest = partial_evaluate(
                shares[p["index"]], commitments, blinded, r=bytes.fromhex(p["r"])
            )
            results.append(
                compare(
                    f"{path.stem}/partial-{p['index']}",
                    {"evaluated": p["evaluated"], "proof": p["proof"]},
                    {"evaluated": honest.evaluated.hex(), "proof": honest.proof.hex()},
                )
            )
        results.append(compare(path.stem, vector["expected"], outcome(vector, commitments)))
    return results
