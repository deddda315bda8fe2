"""Benchmark: the auditor's replay rate, as a ratio to bare Ed25519 verification.

    .venv/bin/python tests/bench/bench_replay.py [N]     (default N = 100000 events)

Builds an honest log in memory with the hub's real pipeline (trafficker alerts
VN -> KH, TH under the COMMIT baseline: one INGESTED and two DELIVERED leaves
each), sequences it, then times :func:`hub.audit.replay.replay` over it.
Prints events/s, leaves/s, µs per event, the ratio to bare Ed25519 verify
measured in the same run, and peak traced memory per event at N/4, N/2 and N.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit.log import origin_of as _origin
from hub.audit.replay import hub_public_keys, replay
from tests.unit.audit.test_audit_replay import AGREEMENTS, TOPICS, TRUST, World


def _verify_rate(n: int = 20000) -> float:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    msg = b"x" * 600
    sig = key.sign(msg)
    start = time.perf_counter()
    for _ in range(n):
        pub.verify(sig, msg)
    return n / (time.perf_counter() - start)


def _world(n: int) -> World:
    world = World()
    for _ in range(n):
        world.submit("VN", "trafficker_alert", ["KH", "TH"], "investigation", "H1")
    world.sequence_all()
    return world


def _run(n: int) -> tuple[float, int, int]:
    world = _world(n)
    data = world.input()
    start = time.perf_counter()
    report = replay(
        data,
        trust=TRUST,
        agreements=AGREEMENTS,
        topics=TOPICS,
        origin=_origin("t"),
        hub_keys=hub_public_keys(TRUST),
    )
    elapsed = time.perf_counter() - start
    assert report.ok, report.findings[:3]
    # Memory in a second pass: tracemalloc slows Python code several times over.
    tracemalloc.start()
    replay(
        data,
        trust=TRUST,
        agreements=AGREEMENTS,
        topics=TOPICS,
        origin=_origin("t"),
        hub_keys=hub_public_keys(TRUST),
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, report.leaves, peak


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 100_000
    verify = _verify_rate()
    print(f"bare Ed25519 verify: {verify:,.0f}/s ({1e6 / verify:.1f} µs)")
    for size in sorted({max(1, n // 4), max(1, n // 2), n}):
        elapsed, leaves, peak = _run(size)
        rate = size / elapsed
        # Per event the replay verifies 1 outbox signature and, per delivery, the
        # producer signature again plus a hub attestation: 5 Ed25519 verifies here.
        print(
            f"replay {size:>7,} events / {leaves:>7,} leaves: {rate:,.0f} events/s, "
            f"{leaves / elapsed:,.0f} leaves/s, {1e6 / rate:.0f} µs/event, "
            f"{rate * 5 / verify:.2f} of the 5-verify floor; peak traced memory "
            f"{peak / size:,.0f} B/event beyond the input"
        )


if __name__ == "__main__":
    main()
