"""Reading topics in tests, through the project's one reader (hub.app.kafka.Follower),
and writing raw records to them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.app.kafka import Follower, partitions
from tests.support.procs import Proc

__all__ = [
    "collect_records",
    "commit_group_to",
    "commit_group_to_end",
    "read_topic",
    "send_records",
]

Item = tuple[str, bytes, Sequence[tuple[str, bytes]]]  # topic, value, headers


async def send_records(bootstrap: str, items: Sequence[Item], *, key: bytes) -> None:
    """Send raw records (acks=all, idempotent), pipelined, in order; all under one key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, value, key=key, headers=list(headers))
            for topic, value, headers in items
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, **client: Any) -> list[Any]:
    """Every record of ``topic`` now, all partitions, in timestamp order."""
    follower = Follower(bootstrap, [topic], **client)
    try:
        out = [r async for batch in follower.records() for r in batch]
        return sorted(out, key=lambda r: r.timestamp)
    finally:
        await follower.close()


async def collect_records(
    bootstrap: str, topic_counts: dict[str, int], proc: Proc, within_s: float = 120
) -> dict[str, list[Any]]:
    """Read each topic until it holds at least its count, while ``proc`` lives; then a
    little longer for extras (what should not be there shows)."""
    consumer = AIOKafkaConsumer(
        *topic_counts, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: dict[str, list[Any]] = {t: [] for t in topic_counts}
    try:
        try:
            async with asyncio.timeout(within_s):
                while any(len(got[t]) < n for t, n in topic_counts.items()):
                    proc.alive()
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for r in records:
                            got[r.topic].append(r)
        except TimeoutError:
            counts = {t: len(v) for t, v in got.items()}
            pytest.fail(f"timed out with {counts}; log:\n{proc.log_tail()}")
        for records in (await consumer.getmany(timeout_ms=1500)).values():
            for r in records:
                got[r.topic].append(r)
    finally:
        await consumer.stop()
    return got


async def commit_group_to(
    bootstrap: str, group_id: str, offsets: Mapping[TopicPartition, int]
) -> None:
    """Commit ``group_id``'s ``offsets`` (no member joins: a plain offset commit, as
    a faulty commit would leave them; the group has no running member yet)."""
    group = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await group.start()
    try:
        group.assign(list(offsets))
        await group.commit(dict(offsets))
    finally:
        await group.stop()


async def commit_group_to_end(bootstrap: str, topic: str, group_id: str) -> None:
    """Commit ``group_id``'s offsets on ``topic`` to the end: its consumers never see
    the records there, only the hub's reconciler does."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await reader.start()
    try:
        ends = await reader.end_offsets(await partitions(reader, [topic]))
    finally:
        await reader.stop()
    assert ends, f"no partitions for {topic}"
    await commit_group_to(bootstrap, group_id, ends)
