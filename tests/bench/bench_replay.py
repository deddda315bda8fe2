"""Benchmark: the auditor's replay rate and memory, as the log grows.

    .venv/bin/python tests/bench/bench_replay.py [N]     (default N = 100000 events)

For N/4, N/2 and N events: a child process builds an honest log with the
hub's real pipeline (trafficker alerts VN -> KH, TH under the COMMIT baseline:
one INGESTED and two DELIVERED leaves each, a checkpoint every 1,000 events)
and spools every topic to disk; a second child replays it, streaming each
topic from the spool as the CLI streams it from Kafka, and reports its time
and peak resident memory. Memory is flat when the peak does not grow with N.

Prints events/s, leaves/s, µs per event, the ratio to bare Ed25519 verify
measured in the same run (the replay verifies five signatures per event:
the outbox producer signature, and per delivery the producer signature again
and the hub attestation), and peak RSS.
"""

from __future__ import annotations

import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

STREAMS = ("leaves", "checkpoints", "outboxes", "inboxes", "rejections", "quarantine")


def _verify_rate(n: int = 20000) -> float:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    msg = b"x" * 600
    sig = key.sign(msg)
    start = time.perf_counter()
    for _ in range(n):
        pub.verify(sig, msg)
    return n / (time.perf_counter() - start)


def build(n: int, spool: Path) -> None:
    """Child 1: run the pipeline over n events and spool each topic."""
    from tests.support.audit import World

    world = World()
    for i in range(n):
        world.submit("VN", "trafficker_alert", ["KH", "TH"], "investigation", "H1")
        if (i + 1) % 1000 == 0:
            world.sequence_all()  # one checkpoint per 1,000 events
    world.sequence_all()
    data = world.input()
    for name in STREAMS:
        with (spool / f"{name}.pickle").open("wb") as f:
            for rec in getattr(data, name):
                pickle.dump(rec, f, protocol=pickle.HIGHEST_PROTOCOL)


class _Spooled:
    """One stream, read record by record from its spool file when iterated."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[object]:
        with self.path.open("rb") as f:
            while True:
                try:
                    yield pickle.load(f)  # noqa: S301 - our own spool
                except EOFError:
                    return


def replay_spool(spool: Path) -> None:
    """Child 2: replay the spool; print one JSON line of results."""
    from types import SimpleNamespace
    from typing import cast

    from hub.audit.log import origin_of
    from hub.audit.replay import ReplaySource, hub_public_keys, replay
    from tests.support.audit import AGREEMENTS, TOPICS, TRUST

    data = cast(
        ReplaySource,
        SimpleNamespace(**{name: _Spooled(spool / f"{name}.pickle") for name in STREAMS}),
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = replay(
        data,
        trust=TRUST,
        agreements=AGREEMENTS,
        topics=TOPICS,
        origin=origin_of("t"),
        hub_keys=hub_public_keys(TRUST),
        scratch_dir=str(spool),
    )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "ok": report.ok,
                "findings": report.summary(),
                "leaves": report.leaves,
                "checkpoints": report.checkpoints,
                "seconds": elapsed,
                "rss_before_kib": before,
                "rss_peak_kib": peak,
            }
        )
    )


def _child(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["build"]:
        build(int(argv[1]), Path(argv[2]))
        return
    if argv[:1] == ["replay"]:
        replay_spool(Path(argv[1]))
        return
    n = int(argv[0]) if argv else 100_000
    verify = _verify_rate()
    print(f"bare Ed25519 verify: {verify:,.0f}/s ({1e6 / verify:.1f} µs)")
    for size in sorted({max(1, n // 4), max(1, n // 2), n}):
        with tempfile.TemporaryDirectory(prefix="trm-bench-replay-") as tmp:
            built = time.perf_counter()
            _child("build", str(size), tmp)
            built = time.perf_counter() - built
            spooled = sum(p.stat().st_size for p in Path(tmp).glob("*.pickle"))
            r = json.loads(_child("replay", tmp))
        assert r["ok"], r["findings"]
        rate = size / r["seconds"]
        print(
            f"replay {size:>7,} events / {r['leaves']:>7,} leaves / {r['checkpoints']:>4} "
            f"checkpoints ({spooled / 1e6:,.0f} MB of records; built in {built:.0f} s): "
            f"{rate:,.0f} events/s, {r['leaves'] / r['seconds']:,.0f} leaves/s, "
            f"{1e6 / rate:.0f} µs/event, {rate * 5 / verify:.2f} of the 5-verify floor; "
            f"peak RSS {r['rss_peak_kib'] / 1024:,.0f} MiB "
            f"({(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:,.0f} MiB above the "
            "process before the replay)"
        )


if __name__ == "__main__":
    main()
