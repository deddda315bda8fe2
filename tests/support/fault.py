"""Fault harness: a steady event stream through workers on a 3-broker cluster.

* :class:`Stream` produces events at a fixed rate to the outboxes (acks=all,
  idempotent), remembering when each was produced.
* :class:`Recipients` reads every inbox (no consumer group: it sees every
  record, duplicates included) and remembers when each event arrived.
* :class:`Workers` runs worker subprocesses (the hub worker, or the plain relay
  until it lands) and kills them with SIGKILL.

The test schedules faults on one stream and, after each, measures how long it
took until every event produced before the fault had been delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["Event", "FaultRecord", "Recipients", "Stream", "Workers", "plain_event"]

ROOT = Path(__file__).resolve().parents[2]


def now() -> float:
    return time.monotonic()


@dataclass(frozen=True, slots=True)
class Event:
    """One record to produce, and the event id a recipient will see."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str


def plain_event(topics: Topics, i: int) -> Event:
    """For the relay: the value is the event id; the key names the recipient."""
    eid = str(uuid.uuid4())
    src = COMMIT_COUNTRIES[i % len(COMMIT_COUNTRIES)]
    dst = COMMIT_COUNTRIES[(i + 1) % len(COMMIT_COUNTRIES)]
    return Event(topics.outbox(src), dst.encode(), eid.encode(), [], eid)


def plain_event_id(value: bytes) -> str:
    return value.decode()


@dataclass
class Stream:
    """``total`` events at ``rate`` per second, each built by ``make(i)``."""

    bootstrap: str
    topics: Topics
    total: int
    rate: float
    make: Callable[[Topics, int], Event] = plain_event
    produced_at: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    send_errors: int = 0
    begun: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=30000,
        )
        await producer.start()
        self.started = now()
        self.begun.set()
        pending: list[asyncio.Future[object]] = []
        try:
            for i in range(self.total):
                due = self.started + i / self.rate
                delay = due - now()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = self.make(self.topics, i)
                self.produced_at[event.event_id] = now()
                pending.append(
                    await producer.send(
                        event.topic, event.value, key=event.key, headers=event.headers
                    )
                )
                if len(pending) >= 200:
                    await self._settle(pending)
            await self._settle(pending)
        finally:
            self.finished = now()
            await producer.stop()

    async def _settle(self, pending: list[asyncio.Future[object]]) -> None:
        results = await asyncio.gather(*pending, return_exceptions=True)
        self.send_errors += sum(isinstance(r, BaseException) for r in results)
        pending.clear()

    def produced_before(self, t: float) -> set[str]:
        return {e for e, at in self.produced_at.items() if at < t}


@dataclass
class Recipients:
    """Everything that reaches any inbox, with arrival times and raw counts."""

    bootstrap: str
    topics: Topics
    event_id: Callable[[bytes], str] = plain_event_id
    first_seen: dict[str, float] = field(default_factory=dict)
    copies: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, str] = field(default_factory=dict)  # event id -> reason
    extra_copies_at: list[float] = field(default_factory=list)  # arrival of each duplicate
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = []
            names = [self.topics.inbox(cc) for cc in COMMIT_COUNTRIES]
            names += [self.topics.rejections(cc) for cc in COMMIT_COUNTRIES]
            for name in names:
                for p in consumer.partitions_for_topic(name) or await partitions_of(consumer, name):
                    parts.append(TopicPartition(name, p))
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                t = now()
                for tp, records in batch.items():
                    for r in records:
                        if tp.topic.endswith(".rejections"):
                            doc = json.loads(r.value)
                            self.rejected[doc["event_id"]] = doc["reason"]
                            self.first_seen.setdefault(doc["event_id"], t)
                            continue
                        eid = self.event_id(bytes(r.value))
                        self.copies[eid] += 1
                        if eid in self.first_seen:
                            self.extra_copies_at.append(t)
                        self.first_seen.setdefault(eid, t)
        finally:
            await consumer.stop()

    def stop(self) -> None:
        self._stop.set()

    def accounted(self) -> set[str]:
        """Events delivered to a recipient or rejected with a reason."""
        return set(self.first_seen)

    async def wait_for(self, events: set[str], timeout_s: float) -> float | None:
        """Seconds until every one of ``events`` has arrived, or None on timeout."""
        start = now()
        while now() - start < timeout_s:
            if events <= self.first_seen.keys():
                return now() - start
            await asyncio.sleep(0.1)
        return None


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no partitions for {topic}")


@dataclass
class Workers:
    """Worker subprocesses running ``command`` (bootstrap, namespace, group appended)."""

    command: Sequence[str]
    log_dir: Path
    env_for: Callable[[int], dict[str, str]] | None = None
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0

    def start(self, index: int) -> None:
        log = (self.log_dir / f"worker{index}.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("TRM_KAFKA_BOOTSTRAP", None)
        if self.env_for is not None:
            env.update(self.env_for(index))
        self.procs[index] = subprocess.Popen(
            list(self.command), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )
        log.close()

    def kill(self, index: int) -> None:
        proc = self.procs.pop(index)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.kills += 1

    def stop_all(self) -> None:
        for index in list(self.procs):
            proc = self.procs.pop(index)
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs.values())

    def crashed(self) -> list[int]:
        """Workers that exited on their own (not killed by the harness)."""
        return [i for i, p in self.procs.items() if p.poll() is not None]


def relay_command(bootstrap: str, namespace: str, group: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "tests" / "fault" / "relay_worker.py"),
        bootstrap,
        namespace,
        group,
    ]


@dataclass
class FaultRecord:
    """One injected fault and what it cost."""

    name: str
    at: float
    outage_s: float = 0.0
    catch_up_s: float | None = None  # until every event produced before the fault arrived
    max_latency_s: float | None = None  # worst latency of events produced just after it
    duplicates: int = 0  # raw copies that reached an inbox between this fault and the next
    note: str = ""
