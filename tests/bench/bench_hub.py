"""Hub benchmark on one local broker: the hub against three honest baselines, in one run.

The same mix of events throughout (a referral and a handover notice TH->KH, a
trafficker alert VN->CN,KH,LA,TH, ratio 2:1:1: 1.75 delivered copies per event),
signed by the demo identities and judged under the sample agreements.

Baselines:

- **broker ceiling**: Kafka's own ``ProducerPerformance`` and
  ``ConsumerPerformance`` (``java -cp`` over the cached Kafka jars) on the same
  broker, records of the mix's mean envelope size, ``acks=all``. As events/s:
  min(producer records/s / copies per event, consumer records/s);
- **Python transport ceiling**: an aiokafka consume->produce relay, in its own
  process (``_hub_procs.py relay``): batched ``getmany``, pipelined sends
  gathered per batch, ``acks=all``, idempotent, offsets committed after the
  acks; no checks; one copy per recipient, outboxes -> inboxes;
- **bare cryptographic floor**: ``cryptography``, ``hashlib`` and ``fastavro``
  alone, one core: per event one Ed25519 verify and a SHA-256 of every
  disclosure and of the header; per delivered copy one Avro decode, one
  Ed25519 sign and one Avro encode (``bench_wire.measure``: one definition).

Beside them, not a target's baseline: **the relay with the bare floor's work in
line** (``_hub_procs.py relay --trust``): the same relay doing that work, with
those libraries alone, on each record it relays, and sending the copies it
encoded. Its drain is set against the floor measured just before and just
after it, and its ``work()`` is timed in line (the relay's thread CPU) and
alone, over the backlog's first 3,000 records, just before and just after
(:func:`work_alone`): what the floor's own work costs in a process that also
moves its records with aiokafka, and so how far one such process can get.
``--only relay`` runs it in turns with one running worker.

Measured: trm's wire code (open + redact + attest + encode, one core, also
``bench_wire.measure``); the hub
(``trm hub worker`` subprocesses) at saturation, with 1 and with 2 workers in
one group: the workers start on empty outboxes and settle (each ready, caught
up, holding partitions of its own), are held still (SIGSTOP) while the backlog
is written, and then drain it (time from the moment they are let go,
SIGCONT, to the last event's records, read from the records' timestamps; CPU
of the broker and each worker from ``/proc``; a sample of delivered copies
verified afterwards). A
start is measured apart (below), so neither a group's join and rebalance nor
the writer count against its throughput; ``--only scaling`` runs 1 and 2
workers in turns for the ratio alone; end-to-end latency (due -> recipient
verified, in a receiver process) at half of the 1-worker rate, each event
counted from the moment it was due to be sent, so that a load generator
falling behind adds to the latency instead of hiding it (coordinated
omission), and sent by a producer that lingers ``--load-linger-ms`` (2 ms) to
batch, every ``--load-tick-ms`` (2 ms) what is due by then: the generator
stands in for the sending countries' nodes (TH and VN in the mix) on
machines of their own, and what its sends cost here is taken from the cores
the hub runs on, while the time an event waits for its tick and in its batch
counts. The latency is measured twice at that rate, one run after the other:
first with the receiver standing in for the recipients' nodes on cores of
their own ("receiver apart": it notes when each copy arrives and verifies
every copy once the run is over, each counted as verified when it arrived
plus what verifying it took; it and the load generator run at nice
``--harness-nice``, 10, below the worker and the broker, as nodes on machines
of their own would not compete with them, while their delays still count;
the target's row), then with the receiver
verifying each copy as it comes on the two cores the hub and the broker run
on ("receiver in line", about half a core at that rate); and the start
time of a worker with 10,000 and 1,000,000 events already processed (spawn ->
``/hub/status`` says ``ready`` and ``lag`` 0), the history made by the hub
draining it (a long saturation run as well); and the hub with sealed events
(protocol v2: the same mix, each event sealed to its recipients' seal keys)
against v1, 1 worker, drains of each in turns (``--sealed``, ``--sealed-rounds``;
``--sealed only`` runs just that and writes ``hub_sealed.json``).

Prints one table, the issue 12 targets (met / not met; never a failure), and
writes ``artifacts/bench/hub.json``. Uses ``$TRM_KAFKA_BOOTSTRAP`` if set (then
broker CPU is not measured), else starts a broker in a temporary directory.
Run: ``python tests/bench/bench_hub.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from connectors.demo.scenario import example_payload
from connectors.demo.setup import make_identities, sign_agreements
from hub import compiled
from hub.home import StateDir
from hub.keys import load_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.policy import parse_agreement
from hub.topics import (
    OUTBOX_MAX_MESSAGE_BYTES,
    OUTBOX_PARTITIONS,
    RECORD_ALLOWANCE_BYTES,
    Topics,
)
from hub.trust import TrustList, load_trust_file
from hub.wire import (
    cloudevents_headers,
    open_envelope,
    seal,
)
from tests.bench._common import (
    ARTIFACTS,
    cpu_seconds,
    machine_busy_seconds,
    peak_rss_bytes,
    percentile,
    runq_wait_seconds,
    table_lines,
    target_lines,
    target_row,
    write_result,
)
from tests.bench.bench_sealed import bench_seal_keys

HERE = Path(__file__).resolve().parent
TRM = str(Path(sys.executable).parent / "trm")
PROCS = str(HERE / "_hub_procs.py")
# producer, type, recipients, purpose, handling: the mix, in this order, over and over
MIX: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    ("TH", "referral", ("KH",), "repatriation", "H2"),
    ("TH", "handover_notice", ("KH",), "repatriation", "H2"),
    ("TH", "referral", ("KH",), "repatriation", "H2"),
    ("VN", "trafficker_alert", ("CN", "KH", "LA", "TH"), "investigation", "H1"),
)
ROUTES = {"TH": ("KH",), "VN": ("CN", "KH", "LA", "TH")}
COPIES_PER_EVENT = sum(len(m[2]) for m in MIX) / len(MIX)
DECISIONS_PER_EVENT = sum(1 + len(m[2]) for m in MIX) / len(MIX)  # INGESTED + one per recipient
INBOXES = sorted({r for m in MIX for r in m[2]})
# The events of one case share its case key, which is their Kafka key (docs/protocol.md
# section 8): it decides each event's outbox partition, and so, with several workers,
# which worker judges it. Here a case is one round of the mix, four events in a row: TH's
# two referrals and handover notice, and VN's alert. Until 8 December 2026 the whole mix had
# 64 keys (event i: ``case-{i % 64}``), each always with the same row of MIX, so VN's
# alerts (4 copies each) had 16 keys over six partitions, and one of two workers judged
# 51-64 % of the backlog's work, as the group happened to assign the partitions
# (docs/performance-history.md, 8 December 2026).
EVENTS_PER_CASE = len(MIX)
# each recipient's seal key (deterministic test keys): a sealed (v2) event is sealed to them
SEAL_TO = bench_seal_keys(tuple(INBOXES))


# --- the events ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    country: str
    key: bytes
    raw: bytes
    headers: tuple[tuple[str, bytes], ...]
    event_id: str


def _sequence(i: int) -> int:
    """Event ``i``'s sequence number for its producer (TH: 3 of every 4, VN: 1)."""
    return 3 * (i // 4) + i % 4 + 1 if i % 4 < 3 else i // 4 + 1


def case_key(i: int) -> str:
    """Event ``i``'s case key (:data:`EVENTS_PER_CASE`)."""
    return f"case-{i // EVENTS_PER_CASE}"


def backlog_shares(
    backlog: Sequence[Event], held: Sequence[tuple[str, ...]], topics: Topics
) -> list[float]:
    """Each worker's share of the backlog's work, by the outbox partitions it holds
    (``held``, as :func:`wait_running` returns them): its events, each counted as one
    plus its delivered copies (a copy costs about what an event's own checks cost).

    Each event's partition is the one :func:`write_events`'s producer picks: aiokafka's
    default partitioner over :data:`OUTBOX_PARTITIONS`.
    """
    holder: dict[tuple[str | None, int], int] = {}
    for w, parts in enumerate(held):
        for a in parts:
            topic, _, partition = a.rpartition("/")
            holder[topics.country_of_outbox(topic), int(partition)] = w
    partitions = list(range(OUTBOX_PARTITIONS))
    pick = DefaultPartitioner()
    work = [0] * len(held)
    total = 0
    for e in backlog:
        cost = 1 + len(ROUTES[e.country])
        total += cost
        who = holder.get((e.country, pick(e.key, partitions, partitions)))
        if who is not None:
            work[who] += cost
    return [x / total if total else 0.0 for x in work]


_GEN: dict[str, Any] = {}


def _gen_init(key_files: dict[str, str], now_ms: int) -> None:
    _GEN["keys"] = {cc: load_private_key(Path(p)) for cc, p in key_files.items()}
    _GEN["payloads"] = {
        "referral": example_payload("referral", referred_at=now_ms),
        "handover_notice": example_payload(
            "handover_notice",
            planned_at=now_ms + 86_400_000,
            receiving_organisation={"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"},
        ),
        "trafficker_alert": example_payload(
            "trafficker_alert", valid_from=now_ms, valid_until=now_ms + 10**10
        ),
    }


def _gen(span: tuple[int, int, bool]) -> list[Event]:
    """Events ``start .. start+count-1`` of the endless mix, sealed now (v2 if ``sealed``)."""
    start, count, sealed = span
    keys, payloads = _GEN["keys"], _GEN["payloads"]
    out = []
    for i in range(start, start + count):
        producer, kind, to, purpose, handling = MIX[i % len(MIX)]
        env = seal(
            kind,
            payloads[kind],
            producer=producer,
            key=keys[producer],
            recipients=to,
            purpose=purpose,
            handling=handling,
            case_key=case_key(i),
            sequence=_sequence(i),
            created_at_ms=time.time_ns() // 1_000_000,
            seal_to={r: SEAL_TO[r] for r in to} if sealed else None,
        )
        out.append(
            Event(
                producer,
                case_key(i).encode(),
                env.to_bytes(),
                tuple(cloudevents_headers(env.header)),
                env.header.event_id,
            )
        )
    return out


def generate(
    pool: Pool, start: int, count: int, chunk: int = 2000, *, sealed: bool = False
) -> Iterator[list[Event]]:
    """Events ``start ..`` in chunks, sealed over every core of ``pool``, in order.

    ``sealed``: protocol v2, each event sealed to its recipients' seal keys.
    """
    spans = [(s, min(chunk, start + count - s), sealed) for s in range(start, start + count, chunk)]
    yield from pool.imap(_gen, spans)


def generate_all(pool: Pool, start: int, count: int, *, sealed: bool = False) -> list[Event]:
    """Events ``start ..`` as one list (:func:`generate`'s chunks joined)."""
    return [e for chunk in generate(pool, start, count, sealed=sealed) for e in chunk]


def decisions_of(start: int, count: int) -> int:
    return sum(1 + len(MIX[i % len(MIX)][2]) for i in range(start, start + count))


def copies_of(start: int, count: int) -> int:
    return sum(len(MIX[i % len(MIX)][2]) for i in range(start, start + count))


# --- rows ------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    events_per_s: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    ratios: bool = True  # a throughput, compared with the baselines

    def as_dict(
        self, broker: float | None, transport: float | None, crypto: float | None
    ) -> dict[str, Any]:
        def ratio(base: float | None) -> float | None:
            if not self.ratios or self.events_per_s is None or not base:
                return None
            return self.events_per_s / base

        return {
            "name": self.name,
            "events_per_s": self.events_per_s,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "to_broker": ratio(broker),
            "to_transport": ratio(transport),
            "to_crypto": ratio(crypto),
            "ready_s": self.extra.get("ready_s"),
            "note": self.note,
            **self.extra,
        }


# --- one core: the bare floor and trm's wire code -----------------------------


def one_core(seconds: float) -> tuple[float, float, dict[str, float]]:
    """Events/s of the bare floor and of trm's wire code over the mix: ``bench_wire.measure``.

    One definition of the floor for every benchmark (bench_wire.py says what it counts).
    """
    from tests.bench import bench_wire

    w = bench_wire.measure(seconds)
    return 1e6 / w["bare_floor_mix_us"], 1e6 / w["trm_hub_mix_us"], w


async def floor_now(seconds: float) -> float:
    """Events/s of the bare floor measured now, alone (``bench_wire.floor``), off the loop.

    On this machine the floor moves by several per cent within minutes
    (169-193 µs per event over five minutes on an idle machine, and 169, 175
    and 190 in three measurements of 1.5 s in a row; docs/performance-history.md, 7
    December 2026): a drain's ratio to the floor measured at the run's start
    carries that spread, so one worker's drains are also set against the floor
    measured just before and just after them.
    """
    from tests.bench import bench_wire

    return 1e6 / await asyncio.to_thread(bench_wire.floor, seconds)


def floor_around(d: Drain) -> tuple[float, float] | None:
    """The floor (events/s) measured just before and just after drain ``d``, if it was."""
    before, after = (
        d.counts.get("floor_before_events_per_s"),
        d.counts.get("floor_after_events_per_s"),
    )
    return (before, after) if before and after else None


def around_ratio(d: Drain) -> float | None:
    """``d``'s rate over the mean of the floors measured around it, if they were."""
    around = floor_around(d)
    return d.rate / (sum(around) / 2) if around else None


def _work_shown(d: Drain) -> str:
    """What the relay with the floor in line said its work() took per event."""
    us = d.counts.get("work_us_per_event")
    floor = floor_around(d)
    if us is None:
        return "its work() not timed"
    shown = f"its work() {us:.0f} µs of CPU per event"
    before, after = d.counts.get("work_alone_before_us"), d.counts.get("work_alone_after_us")
    if before and after:
        alone_us = (before + after) / 2
        medians = (
            d.counts.get("work_alone_before_median_us"),
            d.counts.get("work_alone_after_median_us"),
        )
        shown += (
            f" in line, {alone_us:.0f} alone ({before} before, {after} after; "
            f"{us / alone_us:.2f}x; medians of the passes {medians[0]} and {medians[1]})"
        )
    if floor:
        floor_us = 2e6 / sum(floor)  # µs per event at the mean of the two floors' rates
        shown += f", {us / floor_us:.2f}x the floor alone ({floor_us:.0f} µs)"
    return shown


def floor_around_shown(d: Drain) -> str:
    """:func:`around_ratio` for a report line."""
    around, ratio = floor_around(d), around_ratio(d)
    if around is None or ratio is None:
        return "the floor was not measured around this drain"
    return (
        f"{ratio:.3f} of the floor measured around the drain "
        f"({around[0]:.0f} events/s before, {around[1]:.0f} after)"
    )


# --- the broker ceiling: Kafka's own tools -------------------------------------


def tools_classpath() -> str:
    """The Kafka jars with ``kafka-tools`` (``ensure_jars`` fetches both, by the pom)."""
    return f"{kafka_local.ensure_jars()}/*"


def _java_tool(cls: str, args: list[str], timeout_s: float) -> str:
    cmd = [
        "java",
        "-Xmx512m",
        "-Dlog4j.configuration=file:/dev/null",
        "-cp",
        tools_classpath(),
        cls,
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cls} exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}")
    return done.stdout


def broker_ceiling(bootstrap: str, topic: str, records: int, size: int) -> tuple[Row, Row]:
    out = _java_tool(
        "org.apache.kafka.tools.ProducerPerformance",
        [
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=5",
            "batch.size=524288",
        ],
        600,
    )
    # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency,
    #  P ms 50th, P ms 95th, P ms 99th, P ms 99.9th."
    summary = [line for line in out.splitlines() if "99.9th" in line][-1]
    num = [float(x) for x in re.findall(r"([\d.]+) (?:records/sec|ms)", summary)]
    rate, avg, mx, p50, p95, p99 = num[0], num[1], num[2], num[3], num[4], num[5]
    producer = Row(
        "broker: ProducerPerformance, acks=all",
        rate,
        p50,
        p95,
        p99,
        note=f"records/s of {size} B, linger 5 ms, batch 512 KiB; latency under saturation: "
        f"avg {avg:.0f} ms, max {mx:.0f} ms",
        ratios=False,
    )
    out = _java_tool(
        "org.apache.kafka.tools.ConsumerPerformance",
        [
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--messages",
            str(records),
            "--group",
            f"bench-perf-{uuid.uuid4().hex[:6]}",
            "--timeout",
            "60000",
        ],
        600,
    )
    lines = [ln for ln in out.splitlines() if ln.strip()]
    header = [h.strip() for h in lines[-2].split(",")]
    values = [v.strip() for v in lines[-1].split(",")]
    stats = dict(zip(header, values, strict=False))
    fetch_rate = float(stats.get("fetch.nMsg.sec", stats.get("nMsg.sec", "0")))
    consumer = Row(
        "broker: ConsumerPerformance",
        fetch_rate,
        note=f"records/s over its fetch time; {float(stats.get('nMsg.sec', 'nan')):.0f} with the "
        "group join",
        ratios=False,
    )
    return producer, consumer


# --- Kafka helpers -------------------------------------------------------------


async def write_events(
    bootstrap: str, topics: Topics, chunks: AsyncIterator[list[Event]] | Sequence[list[Event]]
) -> int:
    """Write every event to its producer's outbox (acks=all, idempotent); how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        # A record batch must fit the outbox's max.message.bytes (a bigger one is
        # refused whole: MessageSizeTooLargeError).
        max_batch_size=OUTBOX_MAX_MESSAGE_BYTES - RECORD_ALLOWANCE_BYTES,
        max_request_size=4 << 20,
    )
    await producer.start()
    n = 0
    try:

        async def each() -> AsyncIterator[list[Event]]:
            if isinstance(chunks, Sequence):
                for c in chunks:
                    yield c
            else:
                async for c in chunks:
                    yield c

        async for chunk in each():
            futures = [
                await producer.send(
                    topics.outbox(e.country), e.raw, key=e.key, headers=list(e.headers)
                )
                for e in chunk
            ]
            await asyncio.gather(*futures)
            n += len(chunk)
    finally:
        await producer.stop()
    return n


async def _pool_chunks(pool: Pool, start: int, count: int) -> AsyncIterator[list[Event]]:
    it = generate(pool, start, count)
    while True:
        chunk = await asyncio.to_thread(next, it, None)
        if chunk is None:
            return
        yield chunk


def _parts(names: Sequence[str]) -> list[TopicPartition]:
    """Every partition of these topics, as the namespace's plan makes them."""
    out: list[TopicPartition] = []
    for name in names:
        spec = next(x for x in Topics(name.split(".")[0]).plan() if x.name == name)
        out.extend(TopicPartition(name, p) for p in range(spec.partitions))
    return out


@dataclass
class Drain:
    events: int
    seconds: float  # workers let go (a running hub), else first output record -> last
    first_ms: int
    last_ms: int
    cpu: dict[str, float]  # name -> % of one core over the drain ("machine": all of it, all users)
    counts: dict[str, int]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _cpu(pids: Mapping[str, int], *, waits: bool = False) -> dict[str, float | None]:
    """CPU seconds so far of each process, and of the whole machine (every user) as "machine".

    With ``waits``, also the seconds each one's threads waited for a core ("<name>
    waiting": :func:`runq_wait_seconds`). That reads a file per thread, a few ms for the
    broker's, on the cores being measured: the latency run takes it at its window's two
    ends, not the drains' four samples a second.
    """
    cpu = {n: cpu_seconds(p) for n, p in pids.items()}
    if waits:
        cpu |= {f"{n} waiting": runq_wait_seconds(p) for n, p in pids.items()}
    return {**cpu, "machine": machine_busy_seconds()}


CpuSample = tuple[float, dict[str, float | None]]  # (wall time, _cpu's seconds)


def _cpu_percent(a: CpuSample, b: CpuSample) -> dict[str, float]:
    """Each process's CPU between two samples, as % of one core ("machine": all of it)."""
    wall = b[0] - a[0]
    return {
        n: 100 * (cb - ca) / wall
        for n, ca in a[1].items()
        # a thread that ended between the samples takes its wait with it: no figure
        if wall > 0 and ca is not None and (cb := b[1].get(n)) is not None and cb >= ca
    }


class Watch:
    """End offsets of output topics; timestamps of their first and last new records."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Watch:
        await self.consumer.start()
        await self.consumer.topics()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def ends(self, names: Sequence[str]) -> dict[TopicPartition, int]:
        parts = _parts(names)
        return dict(await self.consumer.end_offsets(parts)) if parts else {}

    async def ts_at(self, tp: TopicPartition, offset: int) -> int:
        self.consumer.assign([tp])
        self.consumer.seek(tp, offset)
        for _ in range(100):
            records = (await self.consumer.getmany(tp, timeout_ms=200, max_records=1)).get(tp)
            if records:
                return int(records[0].timestamp)
        raise RuntimeError(f"no record at {tp} offset {offset}")

    async def drain(
        self,
        *,
        events: int,
        wait_for: dict[str, int],  # topic group name -> new records expected
        groups: Mapping[str, Sequence[str]],  # topic group name -> topics
        before: dict[TopicPartition, int],
        pids: dict[str, int],
        procs: Sequence[Proc] = (),
        timeout_s: float,
        grace_s: float = 5.0,
        label: str = "",
        start_ms: int | None = None,
    ) -> Drain:
        """Wait until every group has its new records (or the timeout); measure the span.

        The span ends at the last new record's timestamp. It starts at the first
        new record's, or at ``start_ms`` when given: the moment the workers were
        let go on a backlog already written (the counts then say how long after it
        the first record came). A worker starts deciding at once and writes what
        it decided while it decides more (up to ``UNWRITTEN_MAX`` records ahead),
        so its first record comes after its work began (about 0.6 s in a drain of
        60,000 events): work that a span from the first record leaves out, the
        more of it the more room the agent has.
        """
        samples: list[CpuSample] = []
        started = time.monotonic()
        names = [t for g in groups.values() for t in g]
        done_at: float | None = None
        counts: dict[str, int] = {}
        last_print = 0.0
        while True:
            samples.append((time.time(), _cpu(pids)))
            ends = await self.ends(names)
            counts = {
                g: sum(ends[tp] - before.get(tp, 0) for tp in ends if tp.topic in ts)
                for g, ts in groups.items()
            }
            first = next(iter(wait_for))
            if counts[first] >= wait_for[first] and done_at is None:
                done_at = time.monotonic()
            if done_at is not None and (
                all(counts[g] >= n for g, n in wait_for.items())
                or time.monotonic() - done_at > grace_s
            ):
                break
            gone = [p.name for p in procs if p.popen.poll() is not None]
            if gone:
                print(f"  ! {label}: {', '.join(gone)} exited; see its log", flush=True)
                break
            if time.monotonic() - started > timeout_s:
                print(f"  ! {label}: timed out with {counts} of {wait_for}", flush=True)
                break
            if time.monotonic() - last_print > 30:
                last_print = time.monotonic()
                print(
                    f"  {label}: {counts} of {wait_for} ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
            await asyncio.sleep(0.25)
        samples.append((time.time(), _cpu(pids)))
        first_ms, last_ms = 2**63, 0
        for tp, end in ends.items():
            start = before.get(tp, 0)
            if end > start:
                first_ms = min(first_ms, await self.ts_at(tp, start))
                last_ms = max(last_ms, await self.ts_at(tp, end - 1))
        if start_ms is not None and last_ms > 0:
            # how long after the workers were let go their first record came
            counts["first_record_after_ms"] = first_ms - start_ms
            first_ms = start_ms
        cpu: dict[str, float] = {}
        if last_ms > 0:
            a = max(
                (s for s in samples if s[0] <= first_ms / 1000),
                default=samples[0],
                key=lambda s: s[0],
            )
            b = min(
                (s for s in samples if s[0] >= last_ms / 1000),
                default=samples[-1],
                key=lambda s: s[0],
            )
            cpu = _cpu_percent(a, b)
        else:
            first_ms = last_ms = 0
        return Drain(events, (last_ms - first_ms) / 1000, first_ms, last_ms, cpu, counts)


# --- processes -------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    spawned: float  # time.time()
    port: int = 0

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def spawn_worker(state: StateDir, work: Path, bootstrap: str, ns: str, name: str) -> Proc:
    """``trm hub worker`` with a home of its own (a copy of the keys and trust list)."""
    return spawn_trm(
        state,
        work,
        ns,
        name,
        ["hub", "worker", "--bootstrap", bootstrap, "--namespace", ns, "--loglevel", "warn"],
    )


def spawn_trm(state: StateDir, work: Path, ns: str, name: str, args: list[str]) -> Proc:
    """``trm ARGS --web-port P`` (a hub service) with a home of its own.

    The home is a copy of ``state`` (keys, trust list); the service's log is
    ``<work>/<ns>-<name>.log``. ``trm`` execs the Faust worker: the pid is the service's.
    """
    home = work / f"home-{ns}-{name}"
    if not home.exists():
        shutil.copytree(state.root, home, ignore=shutil.ignore_patterns("hub", "*.log"))
    port = kafka_local.free_port()
    log = (work / f"{ns}-{name}.log").open("ab")
    popen = subprocess.Popen(
        [TRM, *args, "--web-port", str(port)],
        env={**os.environ, "TRM_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return Proc(name, popen, time.time(), port)


def spawn_script(work: Path, name: str, args: list[str]) -> Proc:
    log = (work / f"{name}.log").open("ab")
    popen = subprocess.Popen([sys.executable, PROCS, *args], stdout=subprocess.PIPE, stderr=log)
    log.close()
    return Proc(name, popen, time.time())


async def wait_line(proc: Proc, text: bytes, timeout_s: float = 60) -> None:
    assert proc.popen.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.popen.stdout.readline), timeout_s)
    if text not in line:
        raise RuntimeError(f"{proc.name}: expected {text!r}, got {line!r}")


def status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/status", timeout=1) as r:
            data = json.loads(r.read())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


async def time_to_ready(proc: Proc, timeout_s: float) -> tuple[float | None, float | None, str]:
    """Seconds from spawn to ``ready`` and ``lag`` 0 on /hub/status; and to its first answer."""
    return await until_ready(proc, proc.spawned, timeout_s)


async def until_ready(
    proc: Proc, since: float, timeout_s: float, holding: frozenset[str] = frozenset()
) -> tuple[float | None, float | None, str]:
    """Seconds from ``since`` until ``proc``'s /hub/status says ``ready``, ``lag`` 0 and
    holding (at least) ``holding``; and to the page's first answer; why not, if not."""
    first: float | None = None
    last: dict[str, Any] | None = None
    while time.time() - since < timeout_s:
        if proc.popen.poll() is not None:
            return None, first, f"worker exited {proc.popen.returncode}"
        data = await asyncio.to_thread(status, proc.port)
        now = time.time()
        if data is not None:
            last = data
            if first is None:
                first = now - since
            if "ready" not in data or "lag" not in data:
                return None, first, "/hub/status has no 'ready'/'lag' fields (yet)"
            held = frozenset(data.get("assigned", []))
            if data["ready"] is True and data["lag"] == 0 and holding <= held:
                return now - since, first, ""
        await asyncio.sleep(0.1)
    return None, first, f"not ready within {timeout_s:.0f} s; last status {last}"


async def verify_sample(
    bootstrap: str, topics: Topics, trust: TrustList, n: int, *, sealed: bool = False
) -> tuple[int, int]:
    """Open ``n`` delivered copies spread over the inboxes as a node does; (ok, failed).

    ``sealed``: each copy is also unsealed with its inbox country's seal key,
    and counts as ok only if every field then reads.
    """
    country_of = {topics.inbox(c): c for c in INBOXES}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    ok = failed = 0
    try:
        await consumer.topics()
        parts = _parts([topics.inbox(c) for c in INBOXES])
        ends = await consumer.end_offsets(parts)
        begins = await consumer.beginning_offsets(parts)
        total = sum(ends[tp] - begins[tp] for tp in parts)
        for tp in parts:
            span = ends[tp] - begins[tp]
            k = round(n * span / total) if total else 0
            for j in range(min(k, span)):
                offset = begins[tp] + j * span // max(1, k)
                consumer.assign([tp])
                consumer.seek(tp, offset)
                records = (await consumer.getmany(tp, timeout_ms=2000, max_records=1)).get(tp)
                if not records:
                    failed += 1
                    continue
                recipient = country_of[tp.topic]
                try:
                    delivered = open_envelope(
                        records[0].value or b"",
                        trust,
                        kafka_headers=records[0].headers,
                        require_attestation=True,
                        recipient=recipient if sealed else None,
                        private_key=_private_key(recipient) if sealed else None,
                    )
                    if sealed and (
                        delivered.event.sealed or not delivered.event.envelope.is_sealed
                    ):
                        failed += 1
                    else:
                        ok += 1
                except Exception:
                    failed += 1
    finally:
        await consumer.stop()
    return ok, failed


def _private_key(country: str) -> Callable[[str], X25519PrivateKey]:
    """``private_key(key_id)`` of ``country``'s bench seal key, for ``unseal``."""
    own = SEAL_TO[country]

    def private_key(key_id: str) -> X25519PrivateKey:
        if key_id != own.key_id:
            raise KeyError(f"no seal key {key_id[:16]}... for {country}")
        return own.private

    return private_key


# --- the run ---------------------------------------------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    work: Path
    bootstrap: str
    broker_pid: int | None
    state: StateDir
    trust: TrustList
    pool: Pool
    rows: list[Row] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def pids(self, procs: Sequence[Proc]) -> dict[str, int]:
        out = {p.name: p.popen.pid for p in procs}
        if self.broker_pid:
            out["broker"] = self.broker_pid
        return out


async def hub_namespace(s: Setup, prefix: str) -> Topics:
    topics = Topics(prefix + uuid.uuid4().hex[:6])
    await kafka_local.create_topics(s.bootstrap, topics.plan())
    blobs = [
        (parse_agreement(p.read_bytes()).agreement.ref, p.read_bytes())
        for p in sorted(s.state.agreements.glob("*.yaml"))
    ]
    await provision_registry(s.bootstrap, topics, s.state.trust.read_bytes(), blobs)
    return topics


async def drop_namespace(s: Setup, topics: Topics) -> None:
    """Delete a namespace's topics once its drain is measured: every namespace left on
    the broker (35 topics, 91 partitions) adds to the broker's idle work, and the
    later drains of a run would pay for the earlier ones."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
    try:
        await admin.start()
        await admin.delete_topics([spec.name for spec in topics.plan()])
    except Exception as exc:  # a benchmark reports, it does not stop
        print(f"  ! namespace {topics.namespace} not deleted: {exc}", flush=True)
    finally:
        await admin.close()


def _cpu_shown(cpu: Mapping[str, float]) -> str:
    """Per process, % of one core, as one line ("<name> waiting": runnable, waiting for a
    core); "machine" is every process of every user."""
    named = {("machine (all users)" if n == "machine" else n): v for n, v in cpu.items()}
    return ", ".join(f"{n} {v:.0f}%" for n, v in sorted(named.items()))


def _rss_shown(d: Drain) -> str:
    """Each worker's peak resident memory so far (from its start), as one line."""
    prefix = "peak_rss_mib_"
    peaks = sorted((k[len(prefix) :], v) for k, v in d.counts.items() if k.startswith(prefix))
    return ", ".join(f"{n} {v} MiB" for n, v in peaks)


def _outboxes_held(page: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The outbox partitions a /hub/status page says its worker holds (none if no page)."""
    return tuple(a for a in (page or {}).get("assigned", []) if ".outbox/" in a)


async def outbox_assignments(procs: Sequence[Proc]) -> list[tuple[str, ...]]:
    """Each worker's outbox partitions as its /hub/status says (empty if it does not answer)."""
    return [_outboxes_held(await asyncio.to_thread(status, p.port)) for p in procs]


async def wait_running(
    procs: Sequence[Proc], timeout_s: float, label: str
) -> tuple[float, list[tuple[str, ...]]]:
    """Wait until every worker is ready, caught up and holds outbox partitions no other
    holds, the same for three polls in a row (the group has settled); seconds waited,
    and what each holds."""
    started = time.monotonic()
    last: list[tuple[str, ...]] = []
    steady = 0
    while time.monotonic() - started < timeout_s:
        gone = [p.name for p in procs if p.popen.poll() is not None]
        if gone:
            raise RuntimeError(f"{label}: {', '.join(gone)} exited; see its log")
        seen = [await asyncio.to_thread(status, p.port) for p in procs]
        held = [_outboxes_held(x) for x in seen]
        flat = [a for h in held for a in h]
        settled = (
            all(x is not None and x.get("ready") is True and x.get("lag") == 0 for x in seen)
            and all(held)
            and len(flat) == len(set(flat))
        )
        steady = steady + 1 if settled and held == last else 0
        last = held
        if steady >= 3:
            return time.monotonic() - started, held
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{label}: the workers did not settle within {timeout_s:.0f} s: {last}")


async def _write_held(
    s: Setup, topics: Topics, procs: Sequence[Proc], backlog: Sequence[Event]
) -> float:
    """Write ``backlog`` with the workers held still (SIGSTOP); seconds it took.

    A second or two, inside the group's 6 s session timeout (the drain checks that no
    rebalance happened), so the writer's CPU is not taken from the drain and the drain
    starts with the whole backlog there, as a drain from a start does.
    """
    stopped: list[Proc] = []
    started = time.monotonic()
    try:
        for p in procs:
            os.kill(p.popen.pid, signal.SIGSTOP)
            stopped.append(p)
        await write_events(s.bootstrap, topics, [list(backlog)])
    finally:
        for p in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.popen.pid, signal.SIGCONT)
    return time.monotonic() - started


async def drain_hub(
    s: Setup,
    topics: Topics,
    *,
    workers: int,
    start: int,
    count: int,
    label: str,
    verify_n: int,
    sealed: bool = False,
    backlog: Sequence[Event] | None = None,
    floor: bool = False,
) -> tuple[Drain, float, list[Proc]]:
    """Start ``workers``; wait for the backlog's decisions; keep them running.

    With ``backlog`` None, the backlog was written before the workers start, and the
    drain includes their start (the group's join and, with two, its rebalance). With a
    ``backlog``, the workers start on empty outboxes and settle first (every one ready,
    caught up, holding partitions of its own; :func:`wait_running`), and only then is
    the backlog written, the workers held still (SIGSTOP) until it is all there: a
    running hub's saturation, with no start-up and no writer in it. The second
    number is "start-up" seconds: first decision after spawn, or the time to settle.
    ``floor`` (with a ``backlog``): the bare floor is measured again once the
    workers have settled, just before the backlog is written, and just after the
    drain (:func:`floor_now`; ``counts["floor_before_events_per_s"]`` and
    ``["floor_after_events_per_s"]``).
    """
    groups = {"decisions": [topics.decisions], "inboxes": [topics.inbox(c) for c in INBOXES]}
    async with Watch(s.bootstrap) as w:
        before = await w.ends([t for g in groups.values() for t in g])
        procs = [
            spawn_worker(s.state, s.work, s.bootstrap, topics.namespace, f"worker{i + 1}")
            for i in range(workers)
        ]
        spawned = min(p.spawned for p in procs)
        settle_s: float | None = None
        held: list[tuple[str, ...]] = []
        wrote = 0.0
        released_ms: int | None = None
        try:
            floors: dict[str, int] = {}
            split: dict[str, int] = {}  # each worker's share of the backlog's work, per mille
            if backlog is not None:
                settle_s, held = await wait_running(procs, s.args.start_timeout, label)
                if workers > 1:
                    shown = []
                    for p, x in zip(procs, backlog_shares(backlog, held, topics), strict=True):
                        split[f"backlog_share_permille_{p.name}"] = round(x * 1000)
                        shown.append(f"{p.name} {x:.1%}")
                    print(
                        f"  {label}: each worker's share of the backlog's work (events and "
                        f"copies, by the partitions it holds): {', '.join(shown)}",
                        flush=True,
                    )
                if floor:
                    floors["floor_before_events_per_s"] = round(await floor_now(s.args.seconds))
                wrote = await _write_held(s, topics, procs, backlog)
                released_ms = time.time_ns() // 1_000_000
                print(f"  {label}: backlog written in {wrote:.1f} s, workers held", flush=True)
            d = await w.drain(
                events=count,
                wait_for={
                    "decisions": decisions_of(start, count),
                    "inboxes": copies_of(start, count),
                },
                groups=groups,
                before=before,
                pids=s.pids(procs),
                procs=procs,
                timeout_s=s.args.timeout,
                label=label,
                start_ms=released_ms,
            )
            if floors:
                floors["floor_after_events_per_s"] = round(await floor_now(s.args.seconds))
                d.counts.update(floors)
            d.counts.update(split)
            for p in procs:  # each worker's peak since its start (VmHWM)
                peak = peak_rss_bytes(p.popen.pid)
                if peak is not None:
                    d.counts[f"peak_rss_mib_{p.name}"] = peak >> 20
            if backlog is not None:
                # The same partitions after the drain: no member left or joined in it.
                moved = await outbox_assignments(procs) != held
                d.counts["backlog_write_ms"] = round(wrote * 1000)
                d.counts["rebalanced"] = int(moved)
                if moved:
                    print(f"  ! {label}: the group rebalanced during the drain", flush=True)
        except BaseException:
            for p in procs:
                p.stop()
            raise
    startup = d.first_ms / 1000 - spawned if d.first_ms else float("nan")
    if settle_s is not None:
        startup = settle_s
    if verify_n:
        ok, failed = await verify_sample(s.bootstrap, topics, s.trust, verify_n, sealed=sealed)
        d.counts["verified_ok"], d.counts["verified_failed"] = ok, failed
        print(f"  {label}: {ok} sampled copies verified, {failed} failed", flush=True)
    return d, startup, procs


async def drain_apart(
    s: Setup,
    prefix: str,
    *,
    workers: int,
    label: str,
    backlog: Sequence[Event],
    running: bool,
    sealed: bool = False,
    floor: bool = False,
) -> tuple[Drain, float]:
    """One drain of ``backlog`` in a fresh namespace, its workers stopped and its topics
    deleted afterwards; the drain and :func:`drain_hub`'s seconds (start-up or settling).

    ``running``: the workers settle before the backlog is written (a running hub);
    otherwise it is written first and the drain includes their start. ``floor``:
    as in :func:`drain_hub`.
    """
    topics = await hub_namespace(s, prefix)
    if not running:
        await write_events(s.bootstrap, topics, [list(backlog)])
    d, seconds, procs = await drain_hub(
        s,
        topics,
        workers=workers,
        start=0,
        count=len(backlog),
        label=label,
        verify_n=s.args.verify,
        sealed=sealed,
        backlog=backlog if running else None,
        floor=floor,
    )
    for p in procs:
        p.stop()
    await drop_namespace(s, topics)
    return d, seconds


def work_alone(
    trust: Path, topics: Topics, backlog: Sequence[Event], events: int = 3000
) -> tuple[int, int]:
    """µs of CPU per event of the relay's work() alone, over the backlog's first
    ``events`` records (each its own bytes) and the relay's own inbox names: the
    least of seven passes (as the floor is timed) and their median."""
    from tests.bench._hub_procs import _floor_work

    work = _floor_work(trust)
    items = [(e.raw, [topics.inbox(c) for c in ROUTES[e.country]]) for e in backlog[:events]]
    passes = []
    for _ in range(7):
        t = time.thread_time()
        for raw, dests in items:
            work(raw, dests)
        passes.append(time.thread_time() - t)
    passes.sort()
    return round(passes[0] * 1e6 / len(items)), round(passes[3] * 1e6 / len(items))


async def relay_drain(
    s: Setup, prefix: str, backlog: Sequence[Event], *, label: str, floor: bool = False
) -> Drain:
    """The relay (``_hub_procs.py relay``) draining ``backlog``, written before it starts.

    ``floor``: the relay does the bare floor's work on each record (its
    ``--trust``), and the floor is measured alone just before and just after
    its drain, as around a hub worker's (:func:`floor_around`).
    """
    ns = await hub_namespace(s, prefix)
    await write_events(s.bootstrap, ns, [list(backlog)])
    async with Watch(s.bootstrap) as w:
        groups = {"inboxes": [ns.inbox(c) for c in INBOXES]}
        before = await w.ends(groups["inboxes"])
        routes = [f"--route={src}={','.join(dst)}" for src, dst in ROUTES.items()]
        work = ["--trust", str(s.state.trust)] if floor else []
        floors: dict[str, int] = {}
        if floor:  # work() alone first, then the floor: the floor just before the relay
            alone = await asyncio.to_thread(work_alone, s.state.trust, ns, backlog)
            floors["work_alone_before_us"], floors["work_alone_before_median_us"] = alone
            floors["floor_before_events_per_s"] = round(await floor_now(s.args.seconds))
        name = f"relay-{ns.namespace}"  # a log of its own: what it says at its stop
        relay = spawn_script(
            s.work,
            name,
            ["relay", "--bootstrap", s.bootstrap, "--namespace", ns.namespace, *routes, *work],
        )
        try:
            await wait_line(relay, b"ready")
            d = await w.drain(
                events=len(backlog),
                wait_for={"inboxes": copies_of(0, len(backlog))},
                groups=groups,
                before=before,
                pids=s.pids([relay]),
                procs=[relay],
                timeout_s=s.args.timeout,
                label=label,
            )
        finally:
            relay.stop()
        if floor:
            floors["floor_after_events_per_s"] = round(await floor_now(s.args.seconds))
            alone = await asyncio.to_thread(work_alone, s.state.trust, ns, backlog)
            floors["work_alone_after_us"], floors["work_alone_after_median_us"] = alone
            d.counts.update(floors)
            # what the relay said as it stopped: the CPU its work() took, records refused
            log = (s.work / f"{name}.log").read_text(encoding="utf-8", errors="replace")
            said = re.findall(r"the floor's work: \d+ records, ([\d.]+) µs", log)
            if said:
                d.counts["work_us_per_event"] = round(float(said[-1]))
            refused = re.findall(r"refused (\d+)", log)
            if refused:
                d.counts["refused"] = int(refused[-1])
                print(f"  ! {label}: the relay refused {refused[-1]} records", flush=True)
    await drop_namespace(s, ns)
    return d


async def run(s: Setup) -> None:
    a = s.args
    s.result["load_average_1m_at_start"] = os.getloadavg()[0]
    backlog = generate_all(s.pool, 0, a.events)
    size = round(sum(len(e.raw) for e in backlog[:400]) / min(400, len(backlog)))
    s.result.update(
        mean_envelope_bytes=size,
        copies_per_event=COPIES_PER_EVENT,
        decisions_per_event=DECISIONS_PER_EVENT,
        backlog_events=a.events,
    )
    print(f"mix: mean envelope {size} B, {COPIES_PER_EVENT} copies per event", flush=True)

    # one core, nothing else of ours running
    floor, wire, wire_numbers = one_core(a.seconds)
    s.result["wire"] = wire_numbers
    crypto = Row(
        "bare crypto floor (1 core)",
        floor,
        note="verify+SHA-256 per event; decode+sign+encode per copy",
    )
    native_floor = 1e6 / wire_numbers["native_floor_mix_us"]
    native_crypto = Row(
        "native crypto floor (1 core)",
        native_floor,
        note="the same work with the Ed25519 the hub calls (hub/native: ed25519-dalek)",
    )
    wire_row = Row("trm wire code: open+redact+attest (1 core)", wire)
    print(f"  crypto floor {floor:.0f} events/s, trm wire {wire:.0f} events/s", flush=True)

    # broker ceiling
    perf = await hub_namespace(s, "bperf")
    try:
        producer_row, consumer_row = broker_ceiling(
            s.bootstrap, perf.outbox("KH"), a.perf_records, size
        )
        s.rows += [producer_row, consumer_row]
        produced, consumed = producer_row.events_per_s or 0.0, consumer_row.events_per_s or 0.0
        broker_events = min(produced / COPIES_PER_EVENT, consumed) or None
    except Exception as exc:  # a benchmark reports, it does not stop
        print(f"  ! broker ceiling not measured: {exc}", flush=True)
        broker_events = None
    broker_row = Row(
        f"broker ceiling (events/s at {COPIES_PER_EVENT} copies)",
        broker_events,
        note="min(producer/copies, consumer)",
    )
    print(f"  broker ceiling {broker_events} events/s", flush=True)
    await drop_namespace(s, perf)

    # Python transport ceiling; then the same relay doing the bare floor's work in line
    d = await relay_drain(s, "brelay", backlog, label="relay")
    transport = Row("Python transport ceiling (aiokafka relay)", d.rate, note=_cpu_shown(d.cpu))
    print(f"  transport ceiling {d.rate:.0f} events/s ({_cpu_shown(d.cpu)})", flush=True)
    d = await relay_drain(s, "bfrelay", backlog, label="relay, floor in line", floor=True)
    floor_relay = Row(
        "the relay with the bare floor's work in line (1 process)",
        d.rate,
        note=f"{_cpu_shown(d.cpu)}; {floor_around_shown(d)}; {_work_shown(d)}",
        extra={"cpu_percent": d.cpu, "counts": d.counts},
    )
    print(f"  relay with the floor in line {d.rate:.0f} events/s ({floor_relay.note})", flush=True)

    # hub, 1 worker; then latency at half its rate on the same worker
    hub1_ns = await hub_namespace(s, "bhub1")
    d1, startup1, procs = await drain_hub(
        s,
        hub1_ns,
        workers=1,
        start=0,
        count=a.events,
        label="hub 1 worker",
        verify_n=a.verify,
        backlog=backlog,
        floor=True,
    )
    hub1 = Row(
        "hub, 1 worker, saturation",
        d1.rate,
        note=(
            f"settled {startup1:.1f} s before the backlog; CPU {_cpu_shown(d1.cpu)}; "
            f"peak RSS {_rss_shown(d1)}"
        ),
        extra={"settle_s": startup1, "cpu_percent": d1.cpu, "counts": d1.counts},
    )
    print(f"  hub 1 worker {d1.rate:.0f} events/s ({hub1.note})", flush=True)
    print(f"  hub 1 worker: {floor_around_shown(d1)}", flush=True)
    try:
        lats = await latencies(s, hub1_ns, procs, start=a.events, rate=max(1.0, d1.rate / 2))
    finally:
        for p in procs:
            p.stop()
    await drop_namespace(s, hub1_ns)

    # hub, 2 workers
    d2, startup2 = await drain_apart(
        s, "bhub2", workers=2, label="hub 2 workers", backlog=backlog, running=True
    )
    hub2 = Row(
        "hub, 2 workers, saturation",
        d2.rate,
        note=(
            f"settled {startup2:.1f} s before the backlog; CPU {_cpu_shown(d2.cpu)}; "
            f"peak RSS {_rss_shown(d2)}"
        ),
        extra={"settle_s": startup2, "cpu_percent": d2.cpu, "counts": d2.counts},
    )
    print(f"  hub 2 workers {d2.rate:.0f} events/s ({hub2.note})", flush=True)

    # the same mix sealed (v2) against v1, 1 worker, in turns
    sealed = await sealed_comparison(s, backlog) if a.sealed != "off" else []

    # start with history
    starts = await start_times(s)

    s.rows = [
        *s.rows,
        broker_row,
        transport,
        floor_relay,
        crypto,
        native_crypto,
        wire_row,
        hub1,
        hub2,
        *lats,
        *sealed,
        *starts,
    ]
    base = {"broker": broker_events, "transport": transport.events_per_s, "crypto": floor}
    rows = [r.as_dict(broker_events, transport.events_per_s, floor) for r in s.rows]
    low = min(x for x in (transport.events_per_s, floor) if x)
    start_rows = [r for r in starts if r.extra.get("kind") == "start"]
    targets = [
        target_row(
            "hub 1 worker >= 70% of min(transport, crypto floor)", d1.rate / low, 0.70, "x of min"
        ),
        target_row(
            "hub 1 worker >= 70% of the floor measured around its drain",
            around_ratio(d1),
            0.70,
            "x of it",
        ),
        target_row(
            "hub 1 worker >= 70% of min(transport, native crypto floor)",
            d1.rate / min(transport.events_per_s or native_floor, native_floor),
            0.70,
            "x of min",
        ),
        target_row("2 workers >= 1.5x 1 worker", d2.rate / d1.rate if d1.rate else None, 1.5, "x"),
        target_row(
            f"p99 <= 50 ms at half saturation ({lats[0].events_per_s or 0:.0f}/s, receiver apart)",
            lats[0].p99_ms,
            50.0,
            " ms",
            higher=False,
        ),
        target_row(
            "trm wire code <= 1.25x the floor's cost",
            floor / wire if wire else None,
            1.25,
            "x",
            higher=False,
        ),
    ]
    for r in start_rows:
        targets.append(
            target_row(f"{r.name} <= 15 s", r.extra.get("ready_s"), 15.0, " s", higher=False)
        )
    s.result.update(rows=rows, targets=targets, baselines=base)
    against_relay = d1.rate / floor_relay.events_per_s if floor_relay.events_per_s else None
    s.result["worker_to_floor_relay"] = against_relay
    print()
    print(f"hub benchmark, one broker ({a.events} events backlog; ratios to the baselines above)")
    for line in table_lines(rows):
        print(line)
    print("  notes:")
    for row in rows:
        if row["note"]:
            print(f"    {row['name']}: {row['note']}")
    print("  targets (issue 12; a benchmark never fails on them):")
    for line in target_lines(targets):
        print(line)
    if against_relay is not None:
        print(
            f"  not a target: hub 1 worker / the relay with the floor in line {against_relay:.2f}x"
        )


async def run_part(s: Setup, part: str) -> None:
    """One part of :func:`run` alone (``--only``), for profiling and trying a change."""
    a = s.args
    if part == "start":
        s.rows = await start_times(s)
    elif part == "scaling":
        s.rows = await scaling(s)
    elif part == "relay":
        s.rows = await relay_and_worker(s)
    else:
        # a running hub's drain, timed from when its worker is let go, as in the full run
        topics = await hub_namespace(s, "blat")
        backlog = generate_all(s.pool, 0, a.events)
        d, _startup, procs = await drain_hub(
            s,
            topics,
            workers=1,
            start=0,
            count=a.events,
            label="warm-up",
            verify_n=0,
            backlog=backlog,
        )
        print(f"  warm-up drain {d.rate:.0f} events/s ({_cpu_shown(d.cpu)})", flush=True)
        rate = a.latency_rate or max(1.0, d.rate / 2)
        try:
            s.rows = await latencies(s, topics, procs, start=a.events, rate=rate)
        finally:
            for p in procs:
                p.stop()
    rows = [r.as_dict(None, None, None) for r in s.rows]
    s.result.update(rows=rows)
    for line in table_lines(rows):
        print(line)


async def scaling(s: Setup) -> list[Row]:
    """``--only scaling``: 1 and 2 running workers in turns (1 2, 2 1, ...), the same backlog.

    Each drain is of a fresh namespace whose workers settled before the backlog was
    written (:func:`drain_hub` with a ``backlog``); rows: the mean of each, and the
    2-worker / 1-worker ratio of each round's back-to-back pair beside the ratio of means.
    """
    a = s.args
    backlog = generate_all(s.pool, 0, a.events)
    drains: dict[int, list[Drain]] = {1: [], 2: []}
    for r in range(a.scaling_rounds):
        for n in (1, 2) if r % 2 == 0 else (2, 1):
            label = f"hub {n} worker{'s' if n > 1 else ''} (round {r + 1})"
            d, settle = await drain_apart(
                s, f"bsc{n}", workers=n, label=label, backlog=backlog, running=True, floor=n == 1
            )
            drains[n].append(d)
            print(
                f"  {label}: {d.rate:.0f} events/s, settled in {settle:.1f} s, the first "
                f"record {d.counts.get('first_record_after_ms', 'n/a')} ms after the workers "
                f"were let go ({_cpu_shown(d.cpu)}; peak RSS {_rss_shown(d)})",
                flush=True,
            )
            if n == 1:
                print(f"  {label}: {floor_around_shown(d)}", flush=True)
    means = {n: sum(d.rate for d in ds) / len(ds) for n, ds in drains.items()}
    pairs = [b.rate / a1.rate for a1, b in zip(drains[1], drains[2], strict=True) if a1.rate]
    ratio = means[2] / means[1] if means[1] else None
    s.result.update(scaling_2_to_1=ratio, scaling_2_to_1_rounds=pairs)
    print(
        f"  2 workers / 1: {ratio or 0:.3f}x (rounds: {', '.join(f'{x:.3f}' for x in pairs)})",
        flush=True,
    )
    return [
        Row(
            f"hub, {n} worker{'s' if n > 1 else ''}, saturation (running; mean of {len(ds)})",
            means[n],
            note="; ".join(f"{d.rate:.0f}/s, {_cpu_shown(d.cpu)}" for d in ds),
            extra={"rounds": [{"events_per_s": d.rate, "cpu": d.cpu, **d.counts} for d in ds]},
        )
        for n, ds in drains.items()
    ]


async def relay_and_worker(s: Setup) -> list[Row]:
    """The relay with the floor in line and one running worker, in turns, on one backlog."""
    backlog = generate_all(s.pool, 0, s.args.events)
    drains: dict[str, list[Drain]] = {"relay": [], "worker": []}
    for r in range(s.args.scaling_rounds):
        d = await relay_drain(s, "bfrelay", backlog, label="relay, floor in line", floor=True)
        print(
            f"  relay, floor in line (round {r + 1}): {d.rate:.0f} events/s "
            f"({_cpu_shown(d.cpu)}); {floor_around_shown(d)}; {_work_shown(d)}",
            flush=True,
        )
        drains["relay"].append(d)
        d, _ = await drain_apart(
            s,
            "bhub1",
            workers=1,
            label=f"hub 1 worker (round {r + 1})",
            backlog=backlog,
            running=True,
            floor=True,
        )
        print(
            f"  hub 1 worker (round {r + 1}): {d.rate:.0f} events/s ({_cpu_shown(d.cpu)}); "
            f"{floor_around_shown(d)}",
            flush=True,
        )
        drains["worker"].append(d)
    pairs = [w.rate / r.rate for r, w in zip(drains["relay"], drains["worker"], strict=True)]
    s.result.update(worker_to_floor_relay_rounds=pairs)
    print(
        f"  hub 1 worker / relay with the floor in line: {', '.join(f'{x:.3f}' for x in pairs)}",
        flush=True,
    )
    return [
        Row(
            name,
            sum(d.rate for d in ds) / len(ds),
            note="; ".join(f"{d.rate:.0f}/s, {_cpu_shown(d.cpu)}" for d in ds),
            extra={"rounds": [{"events_per_s": d.rate, "cpu": d.cpu, **d.counts} for d in ds]},
        )
        for name, ds in (
            ("the relay with the bare floor's work in line", drains["relay"]),
            ("hub, 1 worker, saturation (running)", drains["worker"]),
        )
    ]


async def sealed_comparison(s: Setup, v1_backlog: Sequence[Event] | None = None) -> list[Row]:
    """The hub, 1 worker, draining the mix as v1 events and sealed (v2), in turns.

    Each round drains a backlog of ``--events`` v1 events and one of the same
    events sealed to their recipients (protocol v2), each written to a fresh
    namespace once its worker has settled there (a running hub, as the saturation
    rows; :func:`drain_hub`); the order alternates (v1 v2, v2 v1,
    ...) so that a change in the machine's load falls on both. A sample of the
    v2 copies is unsealed by its recipient. Rows: mean events/s of each, and
    the worker's CPU per event (the steadier number on a shared machine); the
    v2/v1 ratios of both go into the result as ``sealed_v2_to_v1_*``.
    """
    a = s.args
    backlogs = {
        "v1": list(v1_backlog or generate_all(s.pool, 0, a.events)),
        "v2": generate_all(s.pool, 0, a.events, sealed=True),
    }
    size = {
        v: round(sum(len(e.raw) for e in b[:400]) / min(400, len(b))) for v, b in backlogs.items()
    }
    print(f"sealed comparison: mean envelope {size['v1']} B v1, {size['v2']} B v2", flush=True)
    drains: dict[str, list[Drain]] = {"v1": [], "v2": []}
    for r in range(a.sealed_rounds):
        for version in ("v1", "v2") if r % 2 == 0 else ("v2", "v1"):
            label = f"hub 1 worker {version} (round {r + 1})"
            d, startup = await drain_apart(
                s,
                f"bs{version}",
                workers=1,
                label=label,
                backlog=backlogs[version],
                running=True,
                sealed=version == "v2",
                floor=version == "v1",
            )
            drains[version].append(d)
            print(
                f"  {label}: {d.rate:.0f} events/s, worker {_cpu_per_event(d) or 0:.0f} µs CPU "
                f"per event, settled in {startup:.1f} s ({_cpu_shown(d.cpu)})",
                flush=True,
            )
            if version == "v1":
                print(f"  {label}: {floor_around_shown(d)}", flush=True)
    rows: list[Row] = []
    means: dict[str, tuple[float, float | None]] = {}
    for version, ds in drains.items():
        rate = sum(d.rate for d in ds) / len(ds)
        cpus = [c for c in map(_cpu_per_event, ds) if c is not None]
        cpu = sum(cpus) / len(cpus) if len(cpus) == len(ds) else None
        means[version] = (rate, cpu)
        rounds = "; ".join(
            f"{d.rate:.0f}/s, {_cpu_per_event(d) or 0:.0f} µs, {_cpu_shown(d.cpu)}"
            + (f", {q:.3f} of the floor around it" if (q := around_ratio(d)) else "")
            for d in ds
        )
        verified = sum(d.counts.get("verified_ok", 0) for d in ds)
        failed = sum(d.counts.get("verified_failed", 0) for d in ds)
        rows.append(
            Row(
                f"hub, 1 worker, {'sealed v2' if version == 'v2' else 'v1'} (sealed comparison)",
                rate,
                note=f"mean of {len(ds)}; worker CPU per event {cpu or 0:.0f} µs; "
                f"{size[version]} B mean envelope; {verified} copies verified"
                + (" and unsealed" if version == "v2" else "")
                + f", {failed} failed; rounds: {rounds}",
                extra={
                    "worker_cpu_us_per_event": cpu,
                    "mean_envelope_bytes": size[version],
                    "rounds": [
                        {"events_per_s": d.rate, "cpu_us_per_event": _cpu_per_event(d), **d.counts}
                        for d in ds
                    ],
                },
            )
        )
    (r1, c1), (r2, c2) = means["v1"], means["v2"]
    # each round's v1 and v2 drains ran back to back: their ratio is the least disturbed
    pairs = list(zip(drains["v1"], drains["v2"], strict=True))
    rate_pairs = [b.rate / a.rate for a, b in pairs if a.rate]
    cpu_pairs = [
        cb / ca
        for ca, cb in ((_cpu_per_event(a), _cpu_per_event(b)) for a, b in pairs)
        if ca and cb
    ]
    s.result.update(
        sealed_v1_events_per_s=r1,
        sealed_v2_events_per_s=r2,
        sealed_v2_to_v1_events_per_s=r2 / r1 if r1 else None,
        sealed_v2_to_v1_events_per_s_median_of_rounds=percentile(rate_pairs, 50),
        sealed_v1_worker_cpu_per_event_us=c1,
        sealed_v2_worker_cpu_per_event_us=c2,
        sealed_v2_to_v1_worker_cpu_per_event=c2 / c1 if c1 and c2 else None,
        sealed_v2_to_v1_worker_cpu_per_event_median_of_rounds=percentile(cpu_pairs, 50),
        sealed_mean_envelope_bytes_v1=size["v1"],
        sealed_mean_envelope_bytes_v2=size["v2"],
    )
    print(
        f"  sealed v2 / v1: {s.result['sealed_v2_to_v1_events_per_s'] or 0:.3f}x events/s "
        f"(rounds: {', '.join(f'{x:.3f}' for x in rate_pairs)}), "
        f"{s.result['sealed_v2_to_v1_worker_cpu_per_event'] or 0:.3f}x worker CPU per event "
        f"(rounds: {', '.join(f'{x:.3f}' for x in cpu_pairs)})",
        flush=True,
    )
    return rows


def _cpu_per_event(d: Drain, worker: str = "worker1") -> float | None:
    """µs of the worker's CPU per event over the drain."""
    pct = d.cpu.get(worker)
    if pct is None or not d.events or d.seconds <= 0:
        return None
    return pct / 100 * d.seconds / d.events * 1e6


async def run_sealed_only(s: Setup) -> None:
    """``--sealed only``: just the v1 / sealed v2 comparison (no baselines, starts, latency)."""
    s.result["load_average_1m_at_start"] = os.getloadavg()[0]
    s.result["backlog_events"] = s.args.events
    rows = [r.as_dict(None, None, None) for r in await sealed_comparison(s)]
    s.result["rows"] = rows
    print()
    print(f"hub, v1 against sealed v2 events, 1 worker ({s.args.events} events backlog each)")
    for line in table_lines(rows):
        print(line)
    print("  notes:")
    for row in rows:
        print(f"    {row['name']}: {row['note']}")


def latency_events(s: Setup, rate: float) -> int:
    """Events one latency run sends at ``rate``."""
    return max(10, int(rate * s.args.latency_seconds))


async def latencies(
    s: Setup, topics: Topics, workers: list[Proc], *, start: int, rate: float
) -> list[Row]:
    """The latency at ``rate`` with the receiver apart (the target's), then in line."""
    apart = await latency(s, topics, workers, start=start, rate=rate, apart=True)
    start += latency_events(s, rate)
    return [apart, await latency(s, topics, workers, start=start, rate=rate, apart=False)]


class _HarnessNice:
    """The load generator (this thread) at nice ``+n`` for a latency run, then back.

    The load generator and the receiver stand in for the countries' nodes, on
    machines of their own; here they share the hub's two cores. At the same
    priority the worker waited, runnable, about a fifth of each second for a
    core (docs/performance.md). Below the worker and the broker, they take
    what those leave; their delays still count, each event from when it was
    due. Linux keeps a nice value per thread: this sets the calling thread's.
    Raising it back needs root or an RLIMIT_NICE that allows it: without, the
    generator stays at its nice value (``n`` is then 0, and the run says so),
    since everything this thread starts afterwards (the in-line run's
    receiver, the workers of the parts after) would inherit a lowered one.
    """

    def __init__(self, n: int) -> None:
        self.before = os.getpriority(os.PRIO_PROCESS, 0)
        self.n = n if n and self.can_restore(self.before) else 0
        if self.n:
            os.setpriority(os.PRIO_PROCESS, 0, self.before + self.n)

    @staticmethod
    def can_restore(before: int) -> bool:
        """Whether this thread may go back to nice ``before`` once lowered."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)  # a ceiling of 20 - soft
        return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or 20 - soft <= before

    def restore(self) -> None:
        if self.n:
            os.setpriority(os.PRIO_PROCESS, 0, self.before)


async def latency(
    s: Setup, topics: Topics, workers: list[Proc], *, start: int, rate: float, apart: bool
) -> Row:
    """Send at ``rate`` for ``--latency-seconds``; a receiver process verifies every copy.

    Each event's latency runs from when it was due (the start plus its place
    over ``rate``), not from when the generator got to it. ``apart``: the
    receiver verifies the copies once all have come, each counted as verified
    when it arrived plus what verifying it took (recipients' nodes on cores of
    their own), and it and the load generator run below the hub
    (:class:`_HarnessNice`); else as they come, on the cores the hub runs on,
    everything at the same priority.
    """
    n = latency_events(s, rate)
    receiver_is = "apart" if apart else "in line"
    # apart, the load generator and the receiver stand in for nodes on machines of
    # their own, below the hub (_HarnessNice); in line, everything shares the cores
    nice = s.args.harness_nice if apart else 0
    where = f"receiver {receiver_is}"
    events = generate_all(s.pool, start, n)
    expect = copies_of(start, n)
    out = s.work / f"latency-{receiver_is.replace(' ', '-')}.json"  # one per run
    receiver = spawn_script(
        s.work,
        "receiver",
        [
            "receive",
            "--bootstrap",
            s.bootstrap,
            "--namespace",
            topics.namespace,
            "--inboxes",
            ",".join(INBOXES),
            "--trust",
            str(s.state.trust),
            "--expect",
            str(expect),
            "--deadline-s",
            str(s.args.latency_seconds + 120),
            "--out",
            str(out),
            "--nice",
            str(nice),
            *(["--verify-after"] if apart else []),
        ],
    )
    sent: dict[str, int] = {}
    try:
        await wait_line(receiver, b"ready")
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=s.args.load_linger_ms,
        )
        await producer.start()
        pids = {**s.pids([*workers, receiver]), "load generator": os.getpid()}
        before: CpuSample = (time.time(), _cpu(pids, waits=True))
        # The load generator does not stop for its collector while it sends (a
        # pass over the events and futures it holds delayed sends, and every
        # event's delay counts from when it was due).
        gc.collect()
        gc.freeze()
        gc.disable()
        niced = _HarnessNice(nice)
        try:
            t0, t0_ns = time.perf_counter(), time.time_ns()
            futures = []
            # what is due goes out every tick (a sleep per event cost the generator
            # a fifth of its CPU in wake-ups); each event still counts from when due
            tick = s.args.load_tick_ms / 1000
            for i, e in enumerate(events):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(max(delay, tick))
                sent[e.event_id] = t0_ns + int(i * 1e9 / rate)
                futures.append(
                    await producer.send(
                        s_topic(topics, e), e.raw, key=e.key, headers=list(e.headers)
                    )
                )
            await asyncio.gather(*futures)
            offered = n / (time.perf_counter() - t0)
            after: CpuSample = (time.time(), _cpu(pids, waits=True))
        finally:
            niced.restore()
            gc.enable()
            gc.unfreeze()
            await producer.stop()
        await asyncio.to_thread(receiver.popen.wait, s.args.latency_seconds + 180)
    finally:
        receiver.stop()
    cpu = _cpu_percent(before, after)
    cpu_note = _cpu_shown(cpu)
    print(f"  latency, {where}: CPU while sending: {cpu_note}", flush=True)
    print(
        f"  latency, {where}: load generator at nice +{niced.n}, receiver at nice +{nice}, "
        f"over the hub's worker and the broker (at the bench's own, {niced.before})",
        flush=True,
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    # Every copy of an event sent here, in the order they were due: (due time ns,
    # verified ns, its record's timestamp ms: the hub writer's clock, same machine,
    # and the outbox's append time ms: the broker's clock, carried by its attestation)
    copies = sorted(
        (sent[eid], t, w, a)
        for eid, ts in data["received"].items()
        if eid in sent
        for t, w, a in zip(ts, data["written"][eid], data["appended"][eid], strict=True)
    )
    lat = [(t - at) / 1e6 for at, t, _w, _a in copies]
    got = sum(len(v) for v in data["received"].values())
    print(
        f"  latency, {where}: {got} of {expect} copies verified, {data['failed']} failed",
        flush=True,
    )
    # p50 in each fifth of the run (by due time): flat, or growing (the hub falling behind)
    fifths = [percentile(lat[k * len(lat) // 5 : (k + 1) * len(lat) // 5], 50) for k in range(5)]
    shown = ", ".join("-" if f is None else f"{f:.0f}" for f in fifths)
    print(f"  latency, {where}: p50 ms in each fifth of the run: {shown}", flush=True)
    # Each copy's latency split at its record's timestamp: due -> written by the
    # hub, written -> verified; the hub's part again at the outbox's append time:
    # the way to the outbox, then the worker.
    hub_ms = [(w * 1e6 - at) / 1e6 for at, _t, w, _a in copies]
    receiver_ms = [(t - w * 1e6) / 1e6 for _at, t, w, _a in copies]
    # Due -> written by the second it was due: a stall shows as a run of seconds whose
    # maximum grows by about a second per second, then falls back.
    t_first = copies[0][0] if copies else 0
    per_second: dict[int, list[float]] = {}
    for (at, *_rest), ms in zip(copies, hub_ms, strict=True):
        per_second.setdefault((at - t_first) // 10**9, []).append(ms)
    seconds = [
        {"second": k, "copies": len(v), "p50": percentile(v, 50), "max": max(v)}
        for k, v in sorted(per_second.items())
    ]
    shown = ", ".join(f"{row['max']:.0f}" for row in seconds)
    print(f"  latency, {where}: due -> written, max ms in each second: {shown}", flush=True)
    parts = {
        "to written (due -> written)": hub_ms,
        "  load generator, producer and broker (due -> appended to the outbox)": [
            (a * 1e6 - at) / 1e6 for at, _t, _w, a in copies
        ],
        "  worker (appended -> written)": [float(w - a) for _at, _t, w, a in copies],
        "receiver (written -> verified)": receiver_ms,
    }
    for name, values in parts.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(
            f"  latency, {where}: {name}: p50 {round(p50 or 0)} ms, p99 {round(p99 or 0)} ms",
            flush=True,
        )
    return Row(
        f"hub latency at {rate:.0f}/s offered, 1 worker, {where}",
        offered,
        percentile(lat, 50),
        percentile(lat, 95),
        percentile(lat, 99),
        note=f"due to be sent -> each copy verified in a receiver process "
        f"({'verified after the run: arrived + its verify' if apart else 'as it came'}); "
        f"{got}/{expect} copies, "
        f"{data['failed']} failed; CPU {cpu_note}",
        extra={
            "copies_received": got,
            "copies_expected": expect,
            "failed": data["failed"],
            "cpu_percent": cpu,
            "receiver": receiver_is,
            "harness_nice": {"load generator": niced.n, "receiver": nice},
            "hub_part_by_second": seconds,
            "split_ms": {
                name.strip(): {"p50": percentile(v, 50), "p99": percentile(v, 99)}
                for name, v in parts.items()
            },
        },
        ratios=False,
    )


def s_topic(topics: Topics, e: Event) -> str:
    return topics.outbox(e.country)


async def start_times(s: Setup) -> list[Row]:
    """History made by the hub draining it; then a fresh worker's time to ready, per size."""
    rows: list[Row] = []
    topics = await hub_namespace(s, "bstart")
    written = 0
    for target in sorted(s.args.start_events):
        t0 = time.perf_counter()
        await write_events(s.bootstrap, topics, _pool_chunks(s.pool, written, target - written))
        print(
            f"  history: {target - written} events sealed and written in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        d, _startup, procs = await drain_hub(
            s,
            topics,
            workers=s.args.history_workers,
            start=written,
            count=target - written,
            label=f"history to {target}",
            verify_n=s.args.verify,
        )
        # A hub in its steady state, as a new worker meets it: the reconciler's
        # marks and the bookmarks catch up with the drained history (two
        # reconciler passes and several bookmark ticks), then the workers stop.
        await asyncio.sleep(s.args.settle_seconds)
        for p in procs:
            p.stop()
        rows.append(
            Row(
                f"hub, {s.args.history_workers} worker(s), history {written}->{target}",
                d.rate,
                note=f"CPU {_cpu_shown(d.cpu)}",
                extra={"counts": d.counts},
            )
        )
        written = target
        fresh = spawn_worker(s.state, s.work, s.bootstrap, topics.namespace, f"fresh{target}")
        moves: list[Row] = []
        try:
            ready, first, why = await time_to_ready(fresh, s.args.start_timeout)
            # what its recovery read (from the bookmarks, or the whole log)
            recovery = (await asyncio.to_thread(status, fresh.port) or {}).get("recovery")
            if ready is not None:
                moves = await takeovers(s, topics, fresh, target)
        finally:
            fresh.stop()
        shown = f"{ready:.1f} s" if ready is not None else "not ready"
        print(f"  start with {target} events processed: {shown} {why}", flush=True)
        if ready is None:  # the worker's own words, before the work directory goes
            log = s.work / f"{topics.namespace}-fresh{target}.log"
            tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
            print("\n".join(f"    | {line}" for line in tail), flush=True)
        print(f"  its recovery: {recovery}", flush=True)
        if ready is None or (recovery or {}).get("output_records"):
            # A start that read output records had no usable last bookmarks: keep
            # every log of this namespace (the history's workers' stops say why).
            kept = ARTIFACTS / f"start-logs-{topics.namespace}"
            kept.mkdir(parents=True, exist_ok=True)
            for log_file in s.work.glob(f"{topics.namespace}-*.log"):
                shutil.copy(log_file, kept / log_file.name)
            print(f"  ! it read output records: the logs are kept in {kept}", flush=True)
        rows.append(
            Row(
                f"hub start, {target:,} events in the log",
                None,
                note=f"spawn -> ready, lag 0: {shown}"
                + (f"; status page first answered at {first:.1f} s" if first else "")
                + (f"; {why}" if why else ""),
                extra={
                    "ready_s": ready,
                    "status_first_s": first,
                    "kind": "start",
                    "history_events": target,
                    "recovery": recovery,
                    "settle_seconds": s.args.settle_seconds,
                },
                ratios=False,
            )
        )
        rows += moves
    return rows


async def takeovers(s: Setup, topics: Topics, holder: Proc, target: int) -> list[Row]:
    """With ``holder`` ready and holding every partition: a second worker joins
    (spawn -> ready, with its share of the partitions taken from ``holder``) and
    stops, and ``holder`` takes its partitions back (stop -> ready, lag 0, holding
    them all again); then a third joins and is killed (SIGKILL: no last bookmarks,
    no leave; the group notices after its session timeout) and ``holder`` takes over
    again. No new events meanwhile: the log holds ``target``."""
    rows: list[Row] = []
    everything = await held_by(holder)
    if not everything:
        print("  takeovers not timed: the worker's status page never said what it holds")
        return rows
    for how in ("stopped", "killed"):
        name = f"{'join' if how == 'stopped' else 'crash'}{target}"
        joiner = spawn_worker(s.state, s.work, s.bootstrap, topics.namespace, name)
        try:
            joined, _first, why = await time_to_ready(joiner, s.args.start_timeout)
            share = await held_by(joiner) if joined is not None else frozenset()
        finally:
            t0 = time.time()
            if how == "stopped":
                joiner.stop()  # SIGTERM: it leaves the group, with its last bookmarks
            else:
                joiner.popen.kill()
                joiner.popen.wait()
        took, _first, why_took = await until_ready(holder, t0, s.args.start_timeout, everything)
        shown = "not ready" if joined is None else f"{joined:.1f} s"
        print(
            f"  a worker joins with {target} events in the log: {shown}, "
            f"holding {len(share)} of {len(everything)} partitions {why}",
            flush=True,
        )
        took_shown = "not ready" if took is None else f"{took:.1f} s"
        print(
            f"  it is {how}; the other takes its partitions back: {took_shown} {why_took}",
            flush=True,
        )
        if how == "stopped":  # the second join measures the same again
            rows.append(
                _ready_row(
                    f"hub join (a second worker), {target:,} events in the log",
                    joined,
                    target,
                    f"spawn -> ready, lag 0, holding {len(share)} of {len(everything)} partitions",
                )
            )
        rows.append(
            _ready_row(
                f"hub takeover from a worker {how}, {target:,} events in the log",
                took,
                target,
                f"{'SIGTERM' if how == 'stopped' else 'SIGKILL'} -> the other ready, lag 0, "
                f"holding all {len(everything)} partitions again"
                + ("" if how == "stopped" else " (the group's 6 s session timeout included)"),
            )
        )
    return rows


def _ready_row(name: str, seconds: float | None, target: int, what: str) -> Row:
    shown = "not ready" if seconds is None else f"{seconds:.1f} s"
    return Row(
        name,
        None,
        note=f"{what}: {shown}",
        extra={"ready_s": seconds, "kind": "start", "history_events": target},
        ratios=False,
    )


async def held_by(proc: Proc, timeout_s: float = 30.0) -> frozenset[str]:
    """The partitions ``proc`` holds, from its status page (which may take more than
    the one second :func:`status` waits while the worker is busy); empty if it never says."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        data = await asyncio.to_thread(status, proc.port)
        if data is not None and data.get("assigned"):
            return frozenset(data["assigned"])
        await asyncio.sleep(0.1)
    return frozenset()


@contextlib.contextmanager
def broker(work: Path) -> Iterator[tuple[str, int | None]]:
    external = os.environ.get("TRM_KAFKA_BOOTSTRAP")
    if external:
        yield external, None
        return
    cluster = kafka_local.LocalCluster(work / "kafka", nodes=1, heap="1024m")
    cluster.start()
    try:
        yield cluster.bootstrap, cluster.pids()[0]
    finally:
        cluster.stop()


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=60_000, help="saturation backlog (events)")
    parser.add_argument(
        "--perf-records",
        type=int,
        default=100_000,
        help="records for Kafka's producer/consumer performance tools",
    )
    parser.add_argument(
        "--seconds", type=float, default=1.5, help="time per one-core measurement (bench_wire)"
    )
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="latency run length")
    parser.add_argument(
        "--start-events",
        type=_sizes,
        default=[10_000, 1_000_000],
        help="history sizes for the start time, comma-separated",
    )
    parser.add_argument(
        "--history-workers", type=int, default=2, help="workers that drain the start-time history"
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=15.0,
        help="how long the history's workers keep running after the drain (0: stop at once)",
    )
    parser.add_argument(
        "--verify", type=int, default=200, help="delivered copies verified after a drain"
    )
    parser.add_argument(
        "--sealed",
        choices=("on", "off", "only"),
        default="on",
        help="the hub with sealed (v2) events against v1: in the full run (on), "
        "skipped (off), or alone (only: writes hub_sealed.json)",
    )
    parser.add_argument(
        "--sealed-rounds",
        type=int,
        default=2,
        help="v1 and v2 drains each for the sealed comparison (order alternates)",
    )
    parser.add_argument(
        "--only",
        choices=("latency", "start", "scaling", "relay"),
        default=None,
        help="one part alone: latency (a running worker's drain of --events, then "
        "--latency-rate, default half the drain's rate), start (the start times of "
        "--start-events), scaling (1 and 2 running workers in turns, --scaling-rounds each) "
        "or relay (the relay with the floor in line and one running worker, in turns, "
        "--scaling-rounds each); "
        "writes hub_<part>.json",
    )
    parser.add_argument(
        "--scaling-rounds",
        type=lambda v: max(1, int(v)),
        default=3,
        help="drains of each in --only scaling (at least 1)",
    )
    parser.add_argument(
        "--load-linger-ms",
        type=int,
        default=2,
        help="the latency run's load generator: its producer's linger (ms; counted in latency)",
    )
    parser.add_argument(
        "--load-tick-ms",
        type=float,
        default=2.0,
        help="the latency run's load generator sends what is due every tick (ms; counted "
        "in latency)",
    )
    parser.add_argument(
        "--latency-rate", type=float, default=None, help="events/s offered in --only latency"
    )
    parser.add_argument(
        "--harness-nice",
        type=int,
        default=10,
        help="the latency run's load generator and receiver run at this nice value, below "
        "the hub's worker and the broker (0: all alike, as before 7 December 2026)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="longest wait for one drain (s)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=300.0, help="longest wait for ready (s)"
    )
    args = parser.parse_args(argv)
    if args.harness_nice < 0:
        parser.error(f"--harness-nice: expected 0 or more, got {args.harness_nice}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trm-bench-hub-") as tmp:
        work = Path(tmp)
        state = StateDir(work / "state")
        _keys, trust = make_identities(state, time.time_ns() // 1_000_000 - 60_000)
        sign_agreements(state, _keys)
        trust = load_trust_file(state.trust)
        key_files = {cc: str(state.private_key(cc)) for cc in ("TH", "VN")}
        # forked before any thread or event loop exists
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(
            os.cpu_count() or 2, _gen_init, (key_files, time.time_ns() // 1_000_000)
        ) as pool:
            _gen_init(key_files, time.time_ns() // 1_000_000)
            with broker(work) as (servers, broker_pid):
                s = Setup(args, work, servers, broker_pid, state, trust, pool)
                s.result["args"] = dict(vars(args))
                head = subprocess.run(
                    ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                s.result["commit"] = head.stdout.strip() or None
                # the workers import the same build (hub.compiled): say which code ran
                s.result["compiled"] = compiled.STATUS
                print(f"compiled hot modules (hub/compiled.py): {compiled.STATUS}", flush=True)
                if args.only is not None:
                    asyncio.run(run_part(s, args.only))
                else:
                    asyncio.run(run_sealed_only(s) if args.sealed == "only" else run(s))
    s.result["seconds_total"] = time.perf_counter() - started
    # other work on the machine skews every number: say how busy it was
    s.result["load_average_1m_at_end"] = os.getloadavg()[0]
    name = f"hub_{args.only}" if args.only else "hub_sealed" if args.sealed == "only" else "hub"
    path = write_result(name, s.result)
    print(f"  written to {path} ({s.result['seconds_total']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    sys.exit(main())
