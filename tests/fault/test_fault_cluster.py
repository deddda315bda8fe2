"""Faults on a 3-broker KRaft cluster under a steady stream of 20,000 events.

Replication factor 3, ``min.insync.replicas=2``, producers with ``acks=all`` and
idempotence. On one stream, in order: SIGKILL one of two hub workers; SIGKILL a
broker and bring it back 10 s later; SIGKILL every worker three times. After
each fault the test waits until every event produced before it has been
accounted for (delivered to its recipient's inbox, or rejected with a reason),
and at the end checks that every event was. Raw duplicate copies in inboxes are
counted per fault (recipients drop them by event id, docs/architecture.md).

Workers: the real hub worker (``trm hub worker`` under a real signed test
agreement: this test is about delivery, not about which fields an agreement
allows), with the audit sequencer beside it (SIGKILLed once too); at the end
the auditor's replay must find nothing wrong with the whole log. Or
``TRM_FAULT_WORKER=relay`` for the plain at-least-once relay. Numbers are
printed and written to ``$TRM_FAULT_REPORT`` (default: the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from connectors.cli.agreements import load_directory
from connectors.cli.audit import run_replay
from hub.app.kafka import committed_only
from hub.ops import security as ks
from hub.ops.broker import LocalCluster, free_port
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import load_trust_file
from tests.support.fault import FaultRecord, Recipients, Stream, Workers, now, relay_command
from tests.support.world import HubWorld, inbox_event_id

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.slow]

# "hub": the real Faust hub worker (trm hub worker); "relay": the plain relay.
WORKER = os.environ.get("TRM_FAULT_WORKER", "hub")
TOTAL = int(os.environ.get("TRM_FAULT_EVENTS", "20000"))
# The stream must stay below capacity to measure recovery. Everything shares this
# 2-core machine: three JVM brokers (about 0.8 of a core under this load), two hub
# workers, the sequencer, the producer, the recipients. When the hub saturated near
# 250 events/s, a freshly booted machine already saturated at 150/s, and CI ran at
# 100/s. Since the batched agent (docs/performance.md) one worker saturates near
# 1,200/s and two near 1,400/s on one broker: 200/s is about a sixth of that, so the
# run still measures recovery, not saturation, with the backlog of each outage twice
# as large, in half the time. The relay manages 300/s. `make test` runs another test
# file beside this one (two processes): on the 2-core machine of 7 December, whose hub
# drains at about half the speed of the one these numbers were measured on, it still
# passed in 168 s beside the suite's other heavy files, as it did alone (174 s).
RATE = float(os.environ.get("TRM_FAULT_RATE", "200" if WORKER == "hub" else "300"))
DURATION = TOTAL / RATE


def _tails(where: Path) -> str:
    return "\n".join(
        f"--- {p.name}:\n" + p.read_text(errors="replace")[-2000:]
        for p in where.glob("worker*.log")
    )


async def _isr_full(bootstrap: str, topics: list[str], timeout_s: float) -> float | None:
    """Seconds until every partition of ``topics`` has 3 in-sync replicas again."""
    start = now()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while now() - start < timeout_s:
            try:
                described = await admin.describe_topics(topics)
            except KafkaError:  # the restarted broker may not answer yet: ask again
                described = []
            if described and all(len(p["isr"]) == 3 for t in described for p in t["partitions"]):
                return now() - start
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return None


async def _log_settled(bootstrap: str, topics: Topics, web: str, timeout_s: float) -> float | None:
    """Seconds until the sequencer has logged every decision and checkpointed them all.

    The leaves are counted as an auditor reads them, committed only: their
    topic also holds transaction markers, and the leaves of a batch a killed
    sequencer never committed.
    """
    start = now()
    # read_committed for the leaves; the decisions are written without
    # transactions, so their ends are the same either way.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **committed_only({})
    )
    await consumer.start()
    try:
        parts = await _parts(consumer, topics.decisions)
        decisions = [TopicPartition(topics.decisions, p) for p in parts]
        leaves = TopicPartition(topics.audit_leaves, 0)
        consumer.assign([leaves])
        await consumer.seek_to_beginning(leaves)
        counted = 0
        group = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await group.start()
        try:
            while now() - start < timeout_s:
                ends = await consumer.end_offsets(decisions)
                committed = await group.list_consumer_group_offsets(topics.audit_group)
                lagging = any(
                    (committed.get(tp).offset if committed.get(tp) else 0) < ends[tp]
                    for tp in decisions
                )
                stable = (await consumer.end_offsets([leaves]))[leaves]
                while now() - start < timeout_s and await consumer.position(leaves) < stable:
                    got = await consumer.getmany(leaves, timeout_ms=500)
                    counted += sum(1 for r in got.get(leaves, ()) if r.value)
                size = await asyncio.to_thread(_checkpoint_size, web)
                if not lagging and size == counted:
                    return now() - start
                await asyncio.sleep(0.5)
        finally:
            await group.close()
    finally:
        await consumer.stop()
    return None


async def _hub_settled(
    bootstrap: str, topics: Topics, status_urls: list[str], timeout_s: float
) -> float | None:
    """Seconds until the workers' reconcilers have checked every outbox record has a decision.

    Deliveries reaching the recipients is not enough: a worker killed between a
    delivery and its decisions leaves the decisions to the reconciler.
    """
    start = now()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        outboxes = [
            TopicPartition(topics.outbox(cc), p)
            for cc in COMMIT_COUNTRIES
            for p in await _parts(consumer, topics.outbox(cc))
        ]
        ends = {
            f"{tp.topic}/{tp.partition}": e
            for tp, e in (await consumer.end_offsets(outboxes)).items()
        }
        while now() - start < timeout_s:
            reconciled: dict[str, int] = {}
            for url in status_urls:
                status = await asyncio.to_thread(_get_json, url)
                for part, upto in (status or {}).get("reconciled", {}).items():
                    reconciled[part] = max(reconciled.get(part, 0), upto)
            if all(reconciled.get(part, 0) >= end for part, end in ends.items() if end > 0):
                return now() - start
            await asyncio.sleep(1.0)
    finally:
        await consumer.stop()
    return None


def _get_json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            value = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


async def _parts(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no partitions for {topic}")


def _checkpoint_size(web: str) -> int:
    try:
        with urllib.request.urlopen(f"{web}/audit/checkpoint", timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
    except OSError:
        return -1
    return int(text.splitlines()[1])


async def test_stream_survives_broker_and_worker_faults(
    kafka_cluster3: LocalCluster, tmp_path: Path
) -> None:
    cluster3 = kafka_cluster3
    topics = Topics("f" + uuid.uuid4().hex[:8])
    bootstrap = cluster3.bootstrap
    await ks.ensure_topics(bootstrap, {}, topics, replication_factor=3)
    if WORKER == "hub":
        world = HubWorld(tmp_path / "world").build()
        await world.provision(bootstrap, topics)
        workers = Workers(world.command(bootstrap, topics), tmp_path, env_for=world.env)
        recipients = Recipients(bootstrap, topics, event_id=inbox_event_id)
        stream = Stream(bootstrap, topics, total=TOTAL, rate=RATE, make=world.event)
    else:
        command = relay_command(bootstrap, topics.namespace, f"{topics.namespace}-hub")
        workers = Workers(command, tmp_path)
        recipients = Recipients(bootstrap, topics)
        stream = Stream(bootstrap, topics, total=TOTAL, rate=RATE)
    sequencer: Workers | None = None
    web = f"http://127.0.0.1:{free_port()}"
    if WORKER == "hub":
        (tmp_path / "audit").mkdir()
        sequencer = Workers(
            world.sequencer_command(bootstrap, topics, web.rsplit(":", 1)[1]),
            tmp_path / "audit",
            env_for=lambda _i: {"TRM_HOME": str(tmp_path / "audit")},
        )
        sequencer.start(0)
    workers.start(0)
    workers.start(1)
    rec_task = asyncio.create_task(recipients.run())
    stream_task: asyncio.Task[None] | None = None
    warm_s: float | None = None
    faults: list[FaultRecord] = []

    async def at(offset_s: float) -> None:
        await stream.begun.wait()
        await asyncio.sleep(max(0.0, stream.started + offset_s - now()))

    def watch(fault: FaultRecord, timeout_s: float = 240.0) -> asyncio.Task[float | None]:
        """From the fault on: time until every event produced before it is delivered."""
        faults.append(fault)
        return asyncio.create_task(recipients.wait_for(stream.produced_before(fault.at), timeout_s))

    crashes: list[str] = []
    hub_settled: float | None = None

    async def settle(fault: FaultRecord, watching: asyncio.Task[float | None]) -> None:
        fault.catch_up_s = await watching
        crashes.extend(f"worker {i} after {fault.name}" for i in workers.crashed())
        if sequencer is not None:
            crashes.extend(f"sequencer after {fault.name}" for _ in sequencer.crashed())

    try:
        # Warm up: one event through before the stream starts, so the workers are up.
        warm = Stream(bootstrap, topics, total=1, rate=1.0, make=stream.make)
        await warm.run()
        warm_s = await recipients.wait_for(set(warm.produced_at), 120)
        assert warm_s is not None, f"workers did not deliver a first event: {_tails(tmp_path)}"
        stream.produced_at.update(warm.produced_at)
        stream_task = asyncio.create_task(stream.run())

        # 1. Two workers; SIGKILL one. The other takes its partitions after the
        #    session times out.
        await at(0.1 * DURATION)
        fault = FaultRecord("SIGKILL 1 of 2 workers", now())
        watching = watch(fault)
        workers.kill(1)
        await settle(fault, watching)
        workers.start(1)

        # 2. SIGKILL a broker; bring it back 10 s later.
        await at(0.25 * DURATION)
        fault = FaultRecord("SIGKILL broker 2, restart after 10 s", now())
        watching = watch(fault)
        cluster3.stop_node(1, kill=True)
        await asyncio.sleep(10)
        fault.outage_s = now() - fault.at
        cluster3.start_node(1)
        await cluster3.wait_ready_async(90, brokers=3)
        rejoin = now() - fault.at - fault.outage_s
        isr = await _isr_full(bootstrap, [topics.outbox(c) for c in COMMIT_COUNTRIES], 90)
        fault.note = (
            f"broker registered {rejoin:.1f}s after restart; "
            f"all outbox partitions back to 3 in-sync replicas {isr:.1f}s later"
            if isr is not None
            else f"broker registered {rejoin:.1f}s after restart; ISR not full after 90s"
        )
        await settle(fault, watching)

        # 3. SIGKILL every worker, three times; restart after 1 s.
        for k in range(3):
            await at((0.5 + 0.1 * k) * DURATION)
            fault = FaultRecord(f"SIGKILL all workers ({k + 1}/3)", now())
            watching = watch(fault)
            for index in list(workers.procs):
                workers.kill(index)
            if k == 1 and sequencer is not None:
                fault.name += " and the audit sequencer"
                sequencer.kill(0)
            await asyncio.sleep(1.0)
            workers.start(0)
            workers.start(1)
            if sequencer is not None and not sequencer.procs:
                sequencer.start(0)
            fault.outage_s = now() - fault.at
            await settle(fault, watching)

        await stream_task
        final = await recipients.wait_for(set(stream.produced_at), 120)
        if WORKER == "hub":
            hub_settled = await _hub_settled(bootstrap, topics, world.status_urls(), 120)
    finally:
        if stream_task is not None and not stream_task.done():
            stream_task.cancel()
        workers.stop_all()
        recipients.stop()
        await rec_task

    audit: dict[str, Any] | None = None
    if sequencer is not None:
        try:
            settled = await _log_settled(bootstrap, topics, web, 180)
        finally:
            sequencer.stop_all()
        started = now()
        replayed = await asyncio.to_thread(
            run_replay,
            bootstrap,
            topics,
            load_trust_file(world.trust),
            load_directory(world.policy),
        )
        audit = {
            "hub_settled_after_delivery_s": round(hub_settled, 1)
            if hub_settled is not None
            else None,
            "log_settled_after_stream_s": round(settled, 1) if settled is not None else None,
            "replay_s": round(now() - started, 1),
            "leaves": replayed.leaves,
            "checkpoint_size": replayed.checkpoint_size,
            "ok": replayed.ok,
            "counts": replayed.counts,
            "discrepancies": replayed.summary(),
            "first_findings": [f.to_json() for f in replayed.findings[:5]],
        }

    ends = [f.at for f in faults[1:]] + [float("inf")]
    for f, end in zip(faults, ends, strict=True):
        f.duplicates = sum(f.at <= t < end for t in recipients.extra_copies_at)
    for f in faults:
        # The worst end-to-end latency of events produced in the 15 s after the fault.
        window = [
            recipients.first_seen[e] - at
            for e, at in stream.produced_at.items()
            if f.at <= at < f.at + 15 and e in recipients.first_seen
        ]
        f.max_latency_s = round(max(window), 2) if window else None
    baseline = [
        recipients.first_seen[e] - at
        for e, at in stream.produced_at.items()
        if at < stream.started + 7 and e in recipients.first_seen
    ]
    produced = set(stream.produced_at)
    delivered = recipients.accounted()
    duration = stream.finished - stream.started
    report: dict[str, Any] = {
        "worker": WORKER,
        "events": len(produced),
        "rejected": len(recipients.rejected),
        "rejection_reasons": sorted(set(recipients.rejected.values())),
        "stream_rate_per_s": round(len(produced) / duration, 1),
        "stream_duration_s": round(duration, 1),
        "send_errors": stream.send_errors,
        "delivered_distinct": len(delivered),
        "redelivered_copies": sum(c - 1 for c in recipients.copies.values()),
        "duplicates_before_first_fault": sum(t < faults[0].at for t in recipients.extra_copies_at)
        if faults
        else None,
        "final_catch_up_s": final,
        "worker_kills": workers.kills,
        "workers_first_delivery_s": round(warm_s, 1) if warm_s is not None else None,
        "worker_crashes": crashes,
        "baseline_p50_latency_s": round(sorted(baseline)[len(baseline) // 2], 3)
        if baseline
        else None,
        "faults": [asdict(f) | {"at": round(f.at - stream.started, 1)} for f in faults],
        "audit": audit,
    }
    out = Path(os.environ.get("TRM_FAULT_REPORT", tmp_path / "fault_report.json"))
    await asyncio.to_thread(out.write_text, json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))

    # Every failure carries the summary, and names what failed on its first line (the
    # short summary's) and its last: CI keeps the head and the tail of a failure's
    # output, not its middle.
    brief = json.dumps({k: v for k, v in report.items() if k != "faults"})

    def check(ok: bool, what: str) -> None:
        if not ok:
            pytest.fail(f"{what}\n{brief}\nFAILED CHECK: {what}", pytrace=False)

    check(TOTAL >= 20000 or "TRM_FAULT_EVENTS" in os.environ, "CI runs 20,000 events")
    check(len(produced) == TOTAL + 1, f"{len(produced)} events produced of {TOTAL + 1}")
    check(stream.send_errors == 0, f"{stream.send_errors} sends failed")
    check(crashes == [], f"a process died unkilled: {crashes}")
    for f in faults:
        check(f.catch_up_s is not None, f"{f.name}: events before it not all delivered")
    check(final is not None, f"{len(produced - delivered)} events never delivered")
    check(delivered == produced, f"{len(delivered - produced)} events delivered never produced")
    if audit is not None:
        check(audit["hub_settled_after_delivery_s"] is not None, "the hub never settled")
        check(audit["log_settled_after_stream_s"] is not None, "the audit log never caught up")
        check(audit["ok"], "the replay found discrepancies")
        check(
            audit["counts"]["outbox_records"] == len(produced),
            f"the replay counted {audit['counts']['outbox_records']} outbox records",
        )
