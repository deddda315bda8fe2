"""Hub benchmark on a real local broker: throughput and latency, with two baselines.

In one run, on one broker, with the same realistic mix of events (a referral and
a handover notice from Thailand to Cambodia, a Vietnamese trafficker alert to
four members, in the ratio 2:1:1):

- **floor**: the per-event primitives the hub cannot avoid, in this process on
  one core: parse + verify the producer's signature + per recipient redact,
  attest (sign) and encode;
- **relay**: a bare aiokafka consume->produce relay (no checks), in this process;
- **hub**: ``trm hub worker`` (a subprocess, real policy and agreements).

For relay and hub: saturation throughput (a backlog of events sent as fast as
possible; events/s until the last one reached a recipient) and latency
p50/p95/p99 from producer send to recipient verified at a fixed offered rate.
Ratios are printed against the floor and the relay.

Run: ``python tests/bench/bench_hub.py [--events N] [--rate R] [--seconds S]``
(uses ``$TRM_KAFKA_BOOTSTRAP`` if set, else starts a broker in a temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.demo.scenario import example_payload
from connectors.demo.setup import make_identities, sign_agreements
from hub.home import StateDir
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.trust import TrustList
from hub.wire import (
    Envelope,
    attest,
    cloudevents_headers,
    open_envelope,
    redact,
    seal,
    verify,
)

TRM = str(Path(sys.executable).parent / "trm")


@dataclass(frozen=True, slots=True)
class Event:
    topic_country: str
    raw: bytes
    headers: list[tuple[str, bytes]]
    event_id: str
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_events(
    keys: dict[str, Ed25519PrivateKey], n: int, start_seq: dict[str, int]
) -> list[Event]:
    referral = example_payload("referral", referred_at=_now_ms())
    handover = example_payload(
        "handover_notice",
        planned_at=_now_ms() + 86_400_000,
        receiving_organisation={"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"},
    )
    alert = example_payload(
        "trafficker_alert", valid_from=_now_ms(), valid_until=_now_ms() + 10**10
    )
    mix = [
        ("TH", "referral", referral, ("KH",), "repatriation", "H2"),
        ("TH", "handover_notice", handover, ("KH",), "repatriation", "H2"),
        ("TH", "referral", referral, ("KH",), "repatriation", "H2"),
        ("VN", "trafficker_alert", alert, ("CN", "KH", "LA", "TH"), "investigation", "H1"),
    ]
    out = []
    for i in range(n):
        producer, kind, payload, to, purpose, handling = mix[i % len(mix)]
        start_seq[producer] = start_seq.get(producer, 0) + 1
        env = seal(
            kind,
            payload,
            producer=producer,
            key=keys[producer],
            recipients=to,
            purpose=purpose,
            handling=handling,
            case_key=f"case-{i % 64}",
            sequence=start_seq[producer],
            created_at_ms=_now_ms(),
        )
        out.append(
            Event(
                producer, env.to_bytes(), cloudevents_headers(env.header), env.header.event_id, to
            )
        )
    return out


def floor(events: list[Event], trust: TrustList, hub_key: Ed25519PrivateKey, seconds: float) -> Run:
    """Parse + verify + per recipient redact, attest, encode; one core, no broker."""
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for e in events:
            env = Envelope.from_bytes(e.raw)
            verified = verify(env, trust)
            for r in e.recipients:
                kept = redact(env, list(verified.disclosed)[: max(1, len(verified.disclosed) // 2)])
                attest(
                    kept,
                    recipient=r,
                    agreement_id="bench",
                    agreement_version=1,
                    fields=[d.field for d in kept.disclosures],
                    leaf_ref="bench",
                    hub_key=hub_key,
                    attested_at_ms=_now_ms(),
                ).to_bytes()
            done += 1
    return Run("floor (verify+sign+codec, 1 core)", done, time.perf_counter() - started, [])


async def _relay(bootstrap: str, topics: Topics, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topics.outbox("TH"),
        topics.outbox("VN"),
        bootstrap_servers=bootstrap,
        group_id=f"relay-{topics.namespace}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            futures = []
            for records in batch.values():
                for r in records:
                    futures.append(
                        await producer.send(
                            topics.inbox("KH"), r.value, key=r.key, headers=list(r.headers)
                        )
                    )
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def measure(
    name: str,
    bootstrap: str,
    topics: Topics,
    events: list[Event],
    trust: TrustList,
    *,
    rate: float | None,
    attested: bool,
    timeout_s: float = 300.0,
) -> Run:
    """Send ``events`` (at ``rate``/s, or all at once) and time their arrival, verified."""
    inboxes = sorted({topics.inbox(r) for e in events for r in e.recipients} | {topics.inbox("KH")})
    consumer = AIOKafkaConsumer(
        *inboxes, bootstrap_servers=bootstrap, auto_offset_reset="latest", fetch_max_wait_ms=10
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    for tp in consumer.assignment():
        await consumer.position(tp)  # pin "latest" before anything is sent
    wanted = {e.event_id for e in events}
    sent_at: dict[str, float] = {}
    got_at: dict[str, float] = {}

    async def receive() -> None:
        while len(got_at) < len(wanted):
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for r in records:
                    eid = dict(r.headers).get("ce_id", b"").decode()
                    if eid in wanted and eid not in got_at:
                        open_envelope(
                            r.value, trust, kafka_headers=r.headers, require_attestation=attested
                        )
                        got_at[eid] = time.perf_counter()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    receiver = asyncio.create_task(receive())
    try:
        t0 = time.perf_counter()
        futures = []
        for i, e in enumerate(events):
            if rate is not None:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[e.event_id] = time.perf_counter()
            futures.append(
                await producer.send(
                    topics.outbox(e.topic_country), e.raw, key=b"k", headers=e.headers
                )
            )
        await asyncio.gather(*futures)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(receiver), timeout_s)
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        await producer.stop()
        await consumer.stop()
    if len(got_at) < len(wanted):
        print(f"  ! {name}: only {len(got_at)} of {len(wanted)} arrived", flush=True)
    last = max(got_at.values(), default=t0)
    latencies = [(got_at[k] - sent_at[k]) * 1000 for k in got_at]
    return Run(name, len(got_at), last - t0, latencies)


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[str]:
    external = os.environ.get("TRM_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    cluster = kafka_local.LocalCluster(workdir / "kafka", nodes=1)
    cluster.start()
    try:
        yield cluster.bootstrap
    finally:
        cluster.stop()


@contextlib.asynccontextmanager
async def hub_worker(bootstrap: str, topics: Topics, state: StateDir) -> AsyncIterator[None]:
    env = {**os.environ, "TRM_HOME": str(state.root)}
    log = (state.root / "bench-worker.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - our own CLI, runs apart
        [TRM, "hub", "worker", "--bootstrap", bootstrap, "--namespace", topics.namespace],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def report(runs: list[Run], floor_run: Run) -> None:
    print(f"{'run':44} {'events':>7} {'events/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in [floor_run, *runs]:
        print(
            f"{r.name:44} {r.events:7d} {r.rate:9.1f} {r.pct(50):8.1f} {r.pct(95):8.1f} "
            f"{r.pct(99):8.1f}"
        )


async def bench(args: argparse.Namespace, work: Path, bootstrap: str) -> None:
    if True:
        state = StateDir(work / "state")
        keys, trust = make_identities(state, _now_ms())
        sign_agreements(state, keys)
        hub_key_path = state.private_key("HUB")
        from hub.keys import load_private_key

        hub_key = load_private_key(hub_key_path)
        seqs: dict[str, int] = {}
        sample = make_events(keys, 64, {})
        floor_run = floor(sample, trust, hub_key, args.seconds)
        if True:
            relay_topics = Topics("brelay" + uuid.uuid4().hex[:6])
            hub_topics = Topics("bhub" + uuid.uuid4().hex[:6])
            for t in (relay_topics, hub_topics):
                await kafka_local.create_topics(bootstrap, t.plan())
            runs: list[Run] = []
            # relay
            stop = asyncio.Event()
            relay = asyncio.create_task(_relay(bootstrap, relay_topics, stop))
            await measure("warm-up", bootstrap, relay_topics, make_events(keys, 20, seqs), trust,
                          rate=None, attested=False)  # fmt: skip
            runs.append(await measure("relay, saturation", bootstrap, relay_topics,
                                      make_events(keys, args.events, seqs), trust,
                                      rate=None, attested=False))  # fmt: skip
            runs.append(await measure(f"relay, {args.rate:.0f}/s offered", bootstrap,
                                      relay_topics, make_events(keys, int(args.rate * 10), seqs),
                                      trust, rate=args.rate, attested=False))  # fmt: skip
            stop.set()
            await relay
            # hub
            trust_doc = state.trust.read_bytes()
            from hub.app.registry import parse_agreement

            blobs = [
                (parse_agreement(p.read_bytes()).agreement.ref, p.read_bytes())
                for p in sorted(state.agreements.glob("*.yaml"))
            ]
            await provision_registry(bootstrap, hub_topics, trust_doc, blobs)
            async with hub_worker(bootstrap, hub_topics, state):
                await measure("warm-up", bootstrap, hub_topics, make_events(keys, 20, seqs),
                              trust, rate=None, attested=True, timeout_s=120)  # fmt: skip
                runs.append(await measure("hub, saturation", bootstrap, hub_topics,
                                          make_events(keys, args.events, seqs), trust,
                                          rate=None, attested=True))  # fmt: skip
                runs.append(await measure(f"hub, {args.rate:.0f}/s offered", bootstrap,
                                          hub_topics, make_events(keys, int(args.rate * 10), seqs),
                                          trust, rate=args.rate, attested=True))  # fmt: skip
        report(runs, floor_run)
        hub_sat = next(r for r in runs if r.name == "hub, saturation")
        relay_sat = next(r for r in runs if r.name == "relay, saturation")
        print(
            json.dumps(
                {
                    "hub_events_per_s": round(hub_sat.rate, 1),
                    "relay_events_per_s": round(relay_sat.rate, 1),
                    "floor_events_per_s": round(floor_run.rate, 1),
                    "hub_to_floor": round(hub_sat.rate / floor_run.rate, 3),
                    "hub_to_relay": round(hub_sat.rate / relay_sat.rate, 3),
                }
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="saturation backlog")
    parser.add_argument("--rate", type=float, default=100.0, help="fixed offered rate, events/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="floor measuring time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trm-bench-hub-") as tmp, broker(Path(tmp)) as servers:
        asyncio.run(bench(args, Path(tmp), servers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
