"""Threshold OPRF benchmark: trm's matching crypto against one bare ristretto255 multiplication.

The floor (``rbcl`` alone, no trm code): one ``crypto_scalarmult_ristretto255``
of a random point by a random scalar -- the one operation an evaluator cannot
avoid per blinded element. Also shown: the fixed-base multiplication
(``crypto_scalarmult_ristretto255_base``) and libsodium's hash-to-group map.

trm's code, on a 3-of-6 key dealt by :func:`hub.matching.threshold.deal`:

- **blind**: ``oprf.blind`` (expand_message_xmd + from_hash + one multiplication);
- **partial_evaluate**: one evaluator's answer with its DLEQ proof (checks its
  share against the commitments, evaluates, proves);
- **verify_partial**: the requester's check of one partial (the share public key
  from the commitments, the proof);
- **combine t=3**: ``combine`` of three partials (verifies all three, then the
  Lagrange interpolation in the exponent);
- **finalize**: unblinding and the output hash;
- **query crypto, t=3**: blind + three partial evaluations + combine + finalize,
  in one process (what the network adds is the lead's Kafka end-to-end benchmark).

Prints µs per operation and each as a multiple of the floor; writes
``artifacts/bench/match.json``. Run: ``python tests/bench/bench_match.py [--seconds S]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rbcl

from hub.matching import oprf
from hub.matching.threshold import combine, deal, partial_evaluate, verify_partial
from tests.bench._common import ROOT, write_result

INPUT = b"+66812345678"


def _per_op_us(fn: Callable[[], object], seconds: float) -> float:
    """Median of five timed batches, µs per call; a batch lasts about seconds / 5."""
    fn()
    n, start = 1, time.perf_counter()
    while time.perf_counter() - start < 0.05:
        fn()
        n += 1
    per = (time.perf_counter() - start) / n
    batch = max(1, int(seconds / 5 / per))
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    return sorted(samples)[2]


def measure(seconds: float) -> dict[str, float]:
    """Every number of the table, µs per operation (and ratios to the floor)."""
    scalar = rbcl.crypto_core_ristretto255_scalar_random()
    point = rbcl.crypto_core_ristretto255_random()
    uniform = bytes(range(64))
    floor = _per_op_us(lambda: rbcl.crypto_scalarmult_ristretto255(scalar, point), seconds)
    base = _per_op_us(lambda: rbcl.crypto_scalarmult_ristretto255_base(scalar), seconds)
    from_hash = _per_op_us(lambda: rbcl.crypto_core_ristretto255_from_hash(uniform), seconds)

    key = oprf.random_scalar()
    commitments, shares = deal(key, 3, (1, 2, 3, 4, 5, 6))
    factor, blinded = oprf.blind(INPUT)
    partials = [partial_evaluate(s, commitments, blinded) for s in shares[:3]]
    evaluated = combine(commitments, blinded, partials)

    def query() -> bytes:
        f, b = oprf.blind(INPUT)
        ps = [partial_evaluate(s, commitments, b) for s in shares[2:5]]
        return oprf.finalize(INPUT, f, combine(commitments, b, ps))

    assert query() == oprf.evaluate(key, INPUT)
    trm = {
        "blind": _per_op_us(lambda: oprf.blind(INPUT), seconds),
        "partial_evaluate": _per_op_us(
            lambda: partial_evaluate(shares[0], commitments, blinded), seconds
        ),
        "verify_partial": _per_op_us(
            lambda: verify_partial(commitments, blinded, partials[0]), seconds
        ),
        "combine_t3": _per_op_us(lambda: combine(commitments, blinded, partials), seconds),
        "finalize": _per_op_us(lambda: oprf.finalize(INPUT, factor, evaluated), seconds),
        "query_crypto_t3": _per_op_us(query, seconds),
    }
    result: dict[str, float] = {
        "floor_scalarmult_us": floor,
        "bare_scalarmult_base_us": base,
        "bare_from_hash_us": from_hash,
    }
    for name, us in trm.items():
        result[f"{name}_us"] = us
        result[f"{name}_x_floor"] = us / floor
    return result


def report(result: dict[str, float]) -> None:
    floor = result["floor_scalarmult_us"]
    print(f"  {'operation':44} {'µs/op':>10} {'ops/s':>10} {'x floor':>8}")
    rows = [
        ("floor: one scalar mult (rbcl alone)", "floor_scalarmult"),
        ("bare: fixed-base scalar mult (rbcl)", "bare_scalarmult_base"),
        ("bare: hash-to-group map (rbcl)", "bare_from_hash"),
        ("blind", "blind"),
        ("partial_evaluate (with DLEQ proof)", "partial_evaluate"),
        ("verify_partial", "verify_partial"),
        ("combine, t=3 (verifies 3 partials)", "combine_t3"),
        ("finalize", "finalize"),
        ("query crypto, t=3, one process", "query_crypto_t3"),
    ]
    for label, key in rows:
        us = result[f"{key}_us"]
        print(f"  {label:44} {us:10.1f} {1e6 / us:10.0f} {us / floor:8.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args(argv)
    result = measure(args.seconds)
    report(result)
    path = write_result("match", result)
    print(f"  written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
