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
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.topics import COMMIT_COUNTRIES, Topics

__all__ = ["FaultRecord", "Recipients", "Stream", "Workers"]

ROOT = Path(__file__).resolve().parents[2]


def now() -> float:
    return time.monotonic()


@dataclass
class Stream:
    """``total`` events at ``rate`` per second; event i goes from country i%6 to (i+1)%6."""

    bootstrap: str
    topics: Topics
    total: int
    rate: float
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
                eid = str(uuid.uuid4())
                src = COMMIT_COUNTRIES[i % len(COMMIT_COUNTRIES)]
                dst = COMMIT_COUNTRIES[(i + 1) % len(COMMIT_COUNTRIES)]
                self.produced_at[eid] = now()
                pending.append(
                    await producer.send(self.topics.outbox(src), eid.encode(), key=dst.encode())
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
    first_seen: dict[str, float] = field(default_factory=dict)
    copies: Counter[str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = []
            for cc in COMMIT_COUNTRIES:
                name = self.topics.inbox(cc)
                for p in consumer.partitions_for_topic(name) or await _partitions(consumer, name):
                    parts.append(TopicPartition(name, p))
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                t = now()
                for records in batch.values():
                    for r in records:
                        eid = bytes(r.value).decode()
                        self.copies[eid] += 1
                        self.first_seen.setdefault(eid, t)
        finally:
            await consumer.stop()

    def stop(self) -> None:
        self._stop.set()

    def delivered(self) -> set[str]:
        return set(self.first_seen)

    async def wait_for(self, events: set[str], timeout_s: float) -> float | None:
        """Seconds until every one of ``events`` has arrived, or None on timeout."""
        start = now()
        while now() - start < timeout_s:
            if events <= self.first_seen.keys():
                return now() - start
            await asyncio.sleep(0.1)
        return None


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
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
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0

    def start(self, index: int) -> None:
        log = (self.log_dir / f"worker{index}.log").open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
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
    note: str = ""
