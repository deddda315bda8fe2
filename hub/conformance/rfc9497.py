"""RFC 9497 Appendix A.1.1 (``tests/vectors/rfc9497-oprf/``), applied with hub.matching.oprf.

``ristretto255-sha512.json`` holds the RFC's vectors for the suite
ristretto255-SHA512 in the three modes (OPRF, VOPRF, POPRF), with the RFC's
field names. For each mode the key pair is derived from ``Seed`` and
``KeyInfo`` (``<mode>/key``); for each vector every value is recomputed from
the inputs, the blinds and the proof's random scalar, and compared byte for
byte (``<mode>/<n>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.conformance.base import Result, compare, read_json
from hub.matching import oprf

__all__ = ["NAME", "VECTOR_FILE", "check", "computed"]

NAME = "rfc9497-oprf"
VECTOR_FILE = "ristretto255-sha512.json"
_MODES = {"OPRF": oprf.MODE_OPRF, "VOPRF": oprf.MODE_VOPRF, "POPRF": oprf.MODE_POPRF}


def _hex(values: Any) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def computed(mode: str, sk: bytes, pk: bytes, vector: dict[str, Any]) -> dict[str, Any]:
    """The vector's values as this implementation computes them, in the vector's names."""
    m = _MODES[mode]
    inputs = _hex(vector["Input"])
    blinds = [
        oprf.blind(x, mode=m, blind=b) for x, b in zip(inputs, _hex(vector["Blind"]), strict=True)
    ]
    blinded = [b for _, b in blinds]
    got: dict[str, Any] = {"BlindedElement": [b.hex() for b in blinded]}
    if m == oprf.MODE_OPRF:
        evaluated = tuple(oprf.blind_evaluate(sk, b) for b in blinded)
        outputs = [
            oprf.finalize(x, f, e, mode=m)
            for x, (f, _), e in zip(inputs, blinds, evaluated, strict=True)
        ]
    elif m == oprf.MODE_VOPRF:
        r = bytes.fromhex(vector["ProofRandomScalar"])
        evaluated, proof = oprf.blind_evaluate_batch(sk, blinded, r=r)
        if not oprf.verify_proof(oprf.GENERATOR, pk, blinded, evaluated, proof, mode=m):
            proof = b"(does not verify)"
        got["Proof"] = proof.hex()
        outputs = [
            oprf.finalize(x, f, e) for x, (f, _), e in zip(inputs, blinds, evaluated, strict=True)
        ]
    else:
        info, r = bytes.fromhex(vector["Info"]), bytes.fromhex(vector["ProofRandomScalar"])
        evaluated, proof = oprf.poprf_blind_evaluate(sk, blinded, info, r=r)
        got["Proof"] = proof.hex()
        outputs = list(
            oprf.poprf_finalize(
                inputs,
                [f for f, _ in blinds],
                evaluated,
                blinded,
                proof=proof,
                info=info,
                tweaked_key=oprf.poprf_tweaked_key(pk, info),
            )
        )
    got["EvaluationElement"] = [e.hex() for e in evaluated]
    got["Output"] = [o.hex() for o in outputs]
    return got


def check(directory: Path) -> list[Result]:
    """One result per mode's key pair and per vector."""
    suite = read_json(directory / VECTOR_FILE)
    results = []
    for mode in suite["modes"]:
        name = mode["mode"]
        sk, pk = oprf.derive_key_pair(
            bytes.fromhex(mode["Seed"]), bytes.fromhex(mode["KeyInfo"]), _MODES[name]
        )
        want_key = {"skSm": mode["skSm"], "pkSm": mode.get("pkSm", pk.hex())}
        results.append(compare(f"{name}/key", want_key, {"skSm": sk.hex(), "pkSm": pk.hex()}))
        for n, vector in enumerate(mode["vectors"], start=1):
            expected = {k: vector[k] for k in ("BlindedElement", "EvaluationElement", "Output")}
            if "Proof" in vector:
                expected["Proof"] = vector["Proof"]
            results.append(compare(f"{name}/{n}", expected, computed(name, sk, pk, vector)))
    return results
