"""Hit/no-hit on the real broker: one query end to end with 100,000 entries in the index.

One broker, the hub worker and six evaluators (``trm match evaluator``, each its
own process, 3-of-6 key), all on this machine, as ``make demo`` runs them.

1. **The index**: 100,000 registrations signed by Viet Nam (random 64-byte match
   keys: the hub cannot tell them from computed ones) written back to back to
   the match requests topic; the hub's rate is the time until its last
   REGISTERED. This is the hub side of a registration: open, index, answer.
2. **Registrations end to end** (``connectors.sdk.matching.register``: the
   evaluations by the share holders, then the hub), one after the other.
3. **Queries end to end** (``query``: blind, EVALUATE to the five other holders,
   t = 3 valid partial evaluations checked and combined, finalize, QUERY, ANSWER)
   with the 100,000-entry index, half of them hits: p50/p95/p99.
4. **The floor**, measured in the same run: one bare ristretto255 scalar
   multiplication (``rbcl`` alone). The query's p50 is shown as a multiple of
   it, and of the whole crypto of a query done in one process (``bench_match``).

Writes ``artifacts/bench/match_kafka.json``. Run:
``python tests/bench/bench_match_kafka.py [--index N] [--queries N] [--registrations N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rbcl
from aiokafka import AIOKafkaProducer

from connectors.sdk import CountryNode
from connectors.sdk.matching import query, register
from hub.home import StateDir
from hub.keys import write_private_key
from hub.matching.ceremony import deal_ceremony, write_ceremony
from hub.matching.messages import (
    HUB,
    MatchMessage,
    MatchMessageKind,
    Register,
    Registered,
    new_reference,
    seal_message,
)
from hub.ops.broker import LocalCluster, create_topics, free_port
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import new_event_id
from tests.bench._common import ROOT, percentile, write_result
from tests.support.nodes import COUNTRIES, HUB_KEY, KEYS, T0, trust_list, write_state
from tests.support.procs import TRM, Proc, Worker

DAY_MS = 86_400_000


def _now() -> int:
    return time.time_ns() // 1_000_000


def _floor_us(seconds: float = 1.0) -> float:
    scalar = rbcl.crypto_core_ristretto255_scalar_random()
    point = rbcl.crypto_core_ristretto255_random()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            rbcl.crypto_scalarmult_ristretto255(scalar, point)
        n += 100
    return (time.perf_counter() - start) / n * 1e6


def _phone() -> str:
    return f"+66 8{secrets.randbelow(10)} {secrets.randbelow(10**7):07d}"


async def _fill_index(bootstrap: str, topics: Topics, node: CountryNode, n: int) -> float:
    """``n`` REGISTERs from VN, pipelined; seconds until the hub answered the last one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    expires = _now() + 30 * DAY_MS
    try:
        async with node.match_replies() as replies:
            started = time.perf_counter()
            pending = []
            for _ in range(n):
                now = _now()
                message = MatchMessage(
                    MatchMessageKind.REGISTER,
                    new_event_id(now),
                    "VN",
                    HUB,
                    None,
                    now,
                    Register(
                        new_reference(os.urandom), "phone", (os.urandom(64),), "suspect", expires
                    ),
                )
                raw = seal_message(message, KEYS["VN"])
                pending.append(
                    await producer.send(
                        topics.match_requests, value=raw, key=message.message_id.encode()
                    )
                )
                if len(pending) >= 2000:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
            answered = 0
            while answered < n:
                msg = await replies.next(60.0)
                if msg is None:
                    raise RuntimeError(f"the hub answered {answered} of {n} registrations")
                if isinstance(msg.body, Registered):
                    answered += 1
            return time.perf_counter() - started
    finally:
        await producer.stop()


async def _measure(
    args: argparse.Namespace, home: Path, bootstrap: str, topics: Topics
) -> dict[str, Any]:
    def node(cc: str) -> CountryNode:
        return CountryNode(
            cc, KEYS[cc], trust_list(), bootstrap, topics=topics, state=StateDir(home)
        )

    vn, th = node("VN"), node("TH")
    async with vn, th:
        # Warm up (the first message waits for the hub and the evaluators).
        await register(vn, "phone", "+66 81 000 0000", timeout_s=180)
        fill_s = await _fill_index(bootstrap, topics, vn, args.index)

        numbers = [_phone() for _ in range(args.registrations)]
        started = time.perf_counter()
        for number in numbers:
            await register(vn, "phone", number)
        register_s = time.perf_counter() - started

        latencies, hits = [], 0
        for i in range(args.queries):
            number = numbers[i % len(numbers)] if i % 2 == 0 else _phone()
            t0 = time.perf_counter()
            answer = await query(th, "phone", number, case_ref="BENCH-1", purpose="investigation")
            latencies.append((time.perf_counter() - t0) * 1000)
            hits += answer.hit
    expected_hits = (args.queries + 1) // 2
    if hits < expected_hits:
        raise RuntimeError(f"expected at least {expected_hits} hits, got {hits}")
    return {
        "index_entries": args.index + args.registrations + 1,
        "hub_registrations_per_s": args.index / fill_s,
        "e2e_registrations_per_s": args.registrations / register_s,
        "query_p50_ms": percentile(latencies, 50),
        "query_p95_ms": percentile(latencies, 95),
        "query_p99_ms": percentile(latencies, 99),
        "queries": args.queries,
        "hits": hits,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=int, default=100_000)
    parser.add_argument("--registrations", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    floor_us = _floor_us()
    with tempfile.TemporaryDirectory(prefix="bench-match-") as tmp:
        root = Path(tmp)
        cluster = LocalCluster(root / "kafka", nodes=1)
        cluster.start()
        topics = Topics("benchmatch")
        home = root / "home"
        write_state(home)
        write_private_key(HUB_KEY, home / "keys" / "HUB.key")
        write_ceremony(StateDir(home), deal_ceremony(COUNTRIES, 3, now_ms=T0))
        flags = ["--bootstrap", cluster.bootstrap, "--namespace", topics.namespace]
        procs: list[Proc] = [Worker(cluster.bootstrap, topics, home)]
        procs += [
            Proc(
                [TRM, "match", "evaluator", "--country", cc, "--budget-per-day", "10000000",
                 "--web-port", str(free_port()), *flags],
                home,
                f"evaluator-{cc}",
            )
            for cc in COUNTRIES
        ]  # fmt: skip
        try:
            asyncio.run(create_topics(cluster.bootstrap, topics.plan()))
            trust_doc = json.dumps(trust_list().document.to_json()).encode()
            asyncio.run(provision_registry(cluster.bootstrap, topics, trust_doc, []))
            for p in procs:
                p.start()
            result = asyncio.run(_measure(args, home, cluster.bootstrap, topics))
        finally:
            for p in procs:
                p.stop()
            cluster.stop()
    result["floor_scalarmult_us"] = floor_us
    result["query_p50_x_floor"] = result["query_p50_ms"] * 1000 / floor_us
    crypto_path = ROOT / "artifacts" / "bench" / "match.json"
    if crypto_path.exists():
        one_process = json.loads(crypto_path.read_text(encoding="utf-8")).get("query_crypto_t3_us")
        if one_process:
            result["query_p50_x_crypto_one_process"] = result["query_p50_ms"] * 1000 / one_process
    print(f"  index: {result['index_entries']} entries")
    print(f"  hub side of a registration:      {result['hub_registrations_per_s']:10.0f} /s")
    print(f"  registrations end to end:        {result['e2e_registrations_per_s']:10.1f} /s")
    print(
        f"  one query end to end (ms):       p50 {result['query_p50_ms']:.1f}"
        f"  p95 {result['query_p95_ms']:.1f}  p99 {result['query_p99_ms']:.1f}"
        f"  ({result['hits']} hits of {result['queries']})"
    )
    print(f"  floor: one scalar mult (rbcl):   {floor_us:10.1f} µs")
    print(f"  query p50 / floor:               {result['query_p50_x_floor']:10.0f} x")
    if "query_p50_x_crypto_one_process" in result:
        ratio = result["query_p50_x_crypto_one_process"]
        print(f"  query p50 / its crypto in one process: {ratio:.1f} x")
    path = write_result("match_kafka", result)
    print(f"  written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    sys.exit(main())
