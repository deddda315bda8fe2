"""Benchmark: the audit sequencer's memory and restart time as the log grows.

    .venv/bin/python tests/bench/bench_sequencer.py [N] [KAFKA_N]
        (defaults: N = 1,000,000 leaves, KAFKA_N = 20,000 leaves)

1. The store, driven directly (no Kafka: the classes the sequencer uses,
   ``AuditLog`` over ``LeafStore``, appended and committed in batches of 500
   as the sequencer commits after each acknowledged batch). For 10,000 and N
   leaves, a fresh child process appends the log and reports its peak RSS;
   another opens the store as a restart does (checking every stored hash)
   and serves 1,000 inclusion proofs and a consistency proof from it. The
   baseline, in the same run: the in-memory ``AuditLog`` the sequencer kept
   before (every leaf hash and every decision id in memory).
2. A real restart through Kafka at KAFKA_N leaves: a local broker, KAFKA_N
   leaves written to ``<ns>.audit.leaves`` and a checkpoint, then the
   sequencer's own restore (``hub.app.sequencer.STATE.restore``) timed
   without a store (a rebuild: what every restart did before) and with one
   (reads only the tail: here the 100 leaves written after it).

Results: ``artifacts/bench/sequencer.json``; ``measure(n)`` returns the dict.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench._common import own_peak_rss_mib  # noqa: E402 - after the path

ARTIFACTS = ROOT / "artifacts" / "bench"
DEFAULT_N = 1_000_000
DEFAULT_KAFKA_N = 20_000
BATCH = 500  # the sequencer's TRM_AUDIT_BATCH default
ORIGIN = "trm-hub/bench"


def _leaf_bytes(i: int) -> tuple[str, bytes]:
    from tests.support.audit import ingested_leaf

    leaf = ingested_leaf(i, "bench", event_id=f"01J{i:023d}")
    return leaf.decision_id, leaf.to_bytes()


def child_append(n: int, directory: str, mode: str) -> dict[str, Any]:
    """Append n leaves: ``store`` (the sequencer now) or ``memory`` (before)."""
    from hub.audit.leaf import AuditLeaf
    from hub.audit.log import AuditLog
    from hub.audit.store import LeafStore

    before = own_peak_rss_mib()
    store = LeafStore.open(Path(directory), ORIGIN) if mode == "store" else None
    log = (
        AuditLog(ORIGIN, tree=store.tree, index_of=store.ids)
        if store is not None
        else AuditLog(ORIGIN)
    )
    started = time.perf_counter()
    for i in range(n):
        _decision_id, data = _leaf_bytes(i)
        log.append(AuditLeaf.from_bytes(data))
        if store is not None and (i + 1) % BATCH == 0:
            store.commit(leaves_offset=i + 1)
    if store is not None:
        store.commit(leaves_offset=n)
    elapsed = time.perf_counter() - started
    root = log.tree.root().hex()
    if store is not None:
        store.close()
    return {
        "seconds": elapsed,
        "rss_before_mib": before,
        "rss_peak_mib": own_peak_rss_mib(),
        "root": root,
    }


def child_restart(n: int, directory: str) -> dict[str, Any]:
    """Open the store as a restart does; then serve proofs from it."""
    from hub.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
    from hub.audit.store import LeafStore

    before = own_peak_rss_mib()
    started = time.perf_counter()
    store = LeafStore.open(Path(directory), ORIGIN)
    opened = time.perf_counter() - started
    tree = store.tree
    rng = random.Random(12)
    started = time.perf_counter()
    root = tree.root()
    for _ in range(1000):
        i = rng.randrange(n)
        decision_id, data = _leaf_bytes(i)
        index = store.ids[decision_id]
        verify_inclusion(index, n, leaf_hash(data), tree.inclusion_proof(index), root)
    proofs = (time.perf_counter() - started) / 1000
    old = n // 3
    verify_consistency(old, n, tree.root(old), root, tree.consistency_proof(old))
    store.close()
    disk = sum(p.stat().st_size for p in Path(directory).iterdir())
    return {
        "open_seconds": opened,
        "proof_ms": proofs * 1000,
        "rss_before_mib": before,
        "rss_peak_mib": own_peak_rss_mib(),
        "root": root.hex(),
        "disk_bytes": disk,
    }


def child_kafka(n: int) -> dict[str, Any]:
    """A local broker; n leaves in the leaves topic; the sequencer's restore timed."""
    from aiokafka import AIOKafkaProducer

    from hub.audit.log import origin_of
    from hub.audit.merkle import CompactRange
    from hub.audit.note import Checkpoint, sign_note
    from hub.ops.broker import LocalCluster, create_topics
    from hub.topics import Topics
    from tests.support.examples import HUB_KEY

    topics = Topics("benchseq")
    with tempfile.TemporaryDirectory(prefix="trm-bench-seq-") as tmp:
        cluster = LocalCluster(Path(tmp) / "kafka", nodes=1)
        cluster.start()
        try:
            asyncio.run(create_topics(cluster.bootstrap, topics.plan()))

            async def write(lo: int, hi: int, edge: CompactRange) -> None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True
                )
                await producer.start()
                try:
                    for i in range(lo, hi):
                        decision_id, data = _leaf_bytes(i)
                        edge.append(data)
                        await producer.send(
                            topics.audit_leaves, data, key=decision_id.encode(), partition=0
                        )
                    origin = origin_of(topics.namespace)
                    note = sign_note(
                        Checkpoint(origin, edge.size, edge.root()).text(), origin, HUB_KEY
                    )
                    await producer.send(topics.audit_checkpoints, note.to_bytes(), partition=0)
                    await producer.flush()
                finally:
                    await producer.stop()

            edge = CompactRange()
            asyncio.run(write(0, n, edge))
            datadir = Path(tmp) / "seqdata"
            rebuild = _restore_child(cluster.bootstrap, topics.namespace, datadir)
            asyncio.run(write(n, n + 100, edge))
            resumed = _restore_child(cluster.bootstrap, topics.namespace, datadir)
        finally:
            cluster.stop()
    if rebuild["size"] != n or resumed["size"] != n + 100:
        raise RuntimeError(f"expected {n} then {n + 100} leaves, got {rebuild}, {resumed}")
    if resumed["root"] != edge.root().hex():
        raise RuntimeError("the resumed tree's root is not the log's")
    return {"leaves": n, "rebuild": rebuild, "resume": resumed}


def _restore_child(bootstrap: str, namespace: str, datadir: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "TRM_AUDIT_BOOTSTRAP": bootstrap,
        "TRM_AUDIT_NAMESPACE": namespace,
        "TRM_AUDIT_DATADIR": str(datadir),
    }
    out = subprocess.run(
        [sys.executable, __file__, "restore"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child_restore() -> dict[str, Any]:
    """The sequencer's restore (its module reads the environment), timed."""
    from hub.app.sequencer import STATE

    before = own_peak_rss_mib()
    started = time.perf_counter()
    asyncio.run(STATE.restore())
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "size": STATE.log.size,
        "root": STATE.log.tree.root().hex(),
        "checkpointed": STATE.log.checkpointed_size,
        "rss_before_mib": before,
        "rss_peak_mib": own_peak_rss_mib(),
    }


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(n: int, kafka_n: int = DEFAULT_KAFKA_N) -> dict[str, Any]:
    """Store vs in-memory at 10,000 and n leaves; a real restart through Kafka at kafka_n."""
    sizes: dict[str, Any] = {}
    for m in sorted({min(10_000, n), n}):
        with tempfile.TemporaryDirectory(prefix="trm-bench-seq-") as tmp:
            store = _child("append", str(m), tmp, "store")
            restart = _child("restart", str(m), tmp)
            memory = _child("append", str(m), tmp + "-unused", "memory")
        if not store["root"] == restart["root"] == memory["root"]:
            raise RuntimeError(f"the roots differ at {m} leaves: {store}, {restart}, {memory}")
        sizes[str(m)] = {"store": store, "restart": restart, "memory": memory}
    kafka = _child("kafka", str(kafka_n)) if kafka_n else None
    return {"n": n, "sizes": sizes, "kafka": kafka}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands: dict[str, Callable[[list[str]], dict[str, Any]]] = {
        "append": lambda a: child_append(int(a[0]), a[1], a[2]),
        "restart": lambda a: child_restart(int(a[0]), a[1]),
        "kafka": lambda a: child_kafka(int(a[0])),
        "restore": lambda _a: child_restore(),
    }
    if argv and argv[0] in commands:
        print(json.dumps(commands[argv[0]](argv[1:])))
        return
    n = int(argv[0]) if argv else DEFAULT_N
    kafka_n = int(argv[1]) if len(argv) > 1 else DEFAULT_KAFKA_N
    started = time.perf_counter()
    result = measure(n, kafka_n)
    for m, r in result["sizes"].items():
        s, rs, mem = r["store"], r["restart"], r["memory"]
        print(
            f"{int(m):>9,} leaves: store peak RSS {s['rss_peak_mib']:,.0f} MiB "
            f"(in-memory before: {mem['rss_peak_mib']:,.0f} MiB); append {s['seconds']:.1f} s "
            f"({int(m) / s['seconds']:,.0f} leaves/s; in memory {int(m) / mem['seconds']:,.0f}/s); "
            f"restart: open {rs['open_seconds']:.2f} s, peak RSS {rs['rss_peak_mib']:,.0f} MiB, "
            f"{rs['proof_ms']:.2f} ms per proof; {rs['disk_bytes'] / 1e6:,.0f} MB on disk"
        )
    peaks = [r["store"]["rss_peak_mib"] for r in result["sizes"].values()]
    first, last = peaks[0], peaks[-1]
    print(f"store peak RSS growth from the smallest to the largest log: {last - first:+.1f} MiB")
    k = result["kafka"]
    if k:
        print(
            f"through Kafka, {k['leaves']:,} leaves: restart without a store (rebuild, as "
            f"before) {k['rebuild']['seconds']:.1f} s, peak RSS "
            f"{k['rebuild']['rss_peak_mib']:,.0f} MiB; with the store (+100 new leaves) "
            f"{k['resume']['seconds']:.1f} s, peak RSS "
            f"{k['resume']['rss_peak_mib']:,.0f} MiB; "
            f"{k['rebuild']['seconds'] / k['resume']['seconds']:.1f}x faster"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sequencer.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    main()
