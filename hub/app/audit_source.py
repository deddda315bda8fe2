"""What the auditor's replay reads from Kafka: every topic it cross-checks.

:func:`stream_replay_input` takes one snapshot of every partition's end
offset (the checkpoints' first, so that the leaves cover every checkpoint
read), then hands the replay six iterables that each read their topics from
the beginning up to that snapshot while the replay consumes them, batch by
batch: a log of any length is replayed without holding it in memory, and all
six streams describe the same moment. It reads committed records only
(:func:`hub.app.kafka.committed_only`): the leaves of a batch the sequencer
never committed are not part of the log. :func:`read_replay_input` reads the
same into lists, for tests that tamper with what was read.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from hub.app.kafka import Follower, committed_only
from hub.audit.replay import Record, ReplayInput
from hub.topics import COMMIT_COUNTRIES, HUB_MAX_RECORD_BYTES, Topics

__all__ = [
    "StreamedInput",
    "read_replay_input",
    "replay_topics",
    "stream_replay_input",
    "stream_topics",
]

# Records per fetch: big enough for throughput, small enough that a batch is
# a few megabytes however long the topic.
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class StreamedInput:
    """The six streams :func:`hub.audit.replay.replay` reads, each iterable once."""

    leaves: Iterable[Record]
    checkpoints: Iterable[Record]
    outboxes: Iterable[Record]
    inboxes: Iterable[Record]
    rejections: Iterable[Record]
    quarantine: Iterable[Record]
    sizes: dict[str, int]  # records per stream at the snapshot, for a progress bar


def replay_topics(topics: Topics, countries: tuple[str, ...]) -> dict[str, list[str]]:
    """The topics behind each stream."""
    return {
        "leaves": [topics.audit_leaves],
        "checkpoints": [topics.audit_checkpoints],
        "outboxes": [topics.outbox(cc) for cc in countries],
        "inboxes": [topics.inbox(cc) for cc in countries],
        "rejections": [topics.rejections(cc) for cc in countries],
        "quarantine": [topics.quarantine],
    }


Snapshot = dict[TopicPartition, tuple[int, int]]  # partition -> (first offset, end offset)


async def _snapshot(bootstrap: str, names: list[str], client: dict[str, Any]) -> Snapshot:
    follower = Follower(bootstrap, names, **committed_only(client))
    try:
        return await follower.spans()
    finally:
        await follower.close()


class _Reader:
    """Records of some partitions up to the snapshot; reads Kafka as it is iterated."""

    def __init__(self, bootstrap: str, snapshot: Snapshot, client: dict[str, Any]) -> None:
        self._bootstrap = bootstrap
        self._snapshot = {tp: span for tp, span in snapshot.items() if span[1] > span[0]}
        self._client = client

    def __iter__(self) -> Iterator[Record]:
        if not self._snapshot:
            return
        loop = asyncio.new_event_loop()
        follower = Follower(
            self._bootstrap,
            sorted({tp.topic for tp in self._snapshot}),
            # the largest record of the plan comes whole in one fetch
            max_partition_fetch_bytes=max(1 << 20, HUB_MAX_RECORD_BYTES),
            **committed_only(self._client),
        )
        until = {tp: end for tp, (_first, end) in self._snapshot.items()}
        batches = follower.records(until=until, max_records=_BATCH)
        try:
            while True:
                try:
                    batch = loop.run_until_complete(anext(batches))
                except StopAsyncIteration:
                    break
                yield from (
                    Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.value,
                        tuple((k, v) for k, v in r.headers),
                        r.timestamp,
                    )
                    for r in batch
                    if r.value is not None
                )
        finally:
            loop.run_until_complete(batches.aclose())
            loop.run_until_complete(follower.close())
            loop.close()


def stream_topics(bootstrap: str, names: list[str], client: dict[str, Any]) -> Iterable[Record]:
    """Every record of ``names`` now, read lazily (for a witness: just the audit topics)."""
    return _Reader(bootstrap, asyncio.run(_snapshot(bootstrap, names, client)), client)


def _within(
    records: Iterable[Record], since_ms: int | None, until_ms: int | None
) -> Iterator[Record]:
    lo, hi = since_ms or 0, until_ms or sys.maxsize
    return (r for r in records if lo <= r.timestamp_ms < hi)


def stream_replay_input(
    bootstrap: str,
    topics: Topics,
    *,
    countries: tuple[str, ...] = COMMIT_COUNTRIES,
    client: dict[str, Any] | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> StreamedInput:
    """The replay's input as of now, read lazily.

    ``since_ms`` / ``until_ms`` narrow the outbox and inbox cross-checks to
    records in that time window; the tree and checkpoints are always checked
    whole, and rejections and quarantine are read whole (what they confirm may
    lie outside the window).
    """
    groups = replay_topics(topics, countries)
    # The checkpoints' ends first, then the rest: a checkpoint is committed only
    # after the leaves it covers, so every checkpoint read is covered by the
    # leaves read (one request for both could sample the leaves first).
    snapshot = asyncio.run(_snapshot(bootstrap, groups["checkpoints"], client or {}))
    rest = [n for group, names in groups.items() if group != "checkpoints" for n in names]
    snapshot.update(asyncio.run(_snapshot(bootstrap, rest, client or {})))

    def reader(group: str) -> _Reader:
        wanted = set(groups[group])
        return _Reader(
            bootstrap, {tp: s for tp, s in snapshot.items() if tp.topic in wanted}, client or {}
        )

    def size(group: str) -> int:
        wanted = set(groups[group])
        return sum(end - first for tp, (first, end) in snapshot.items() if tp.topic in wanted)

    windowed = since_ms is not None or until_ms is not None
    return StreamedInput(
        leaves=reader("leaves"),
        checkpoints=reader("checkpoints"),
        outboxes=_within(reader("outboxes"), since_ms, until_ms)
        if windowed
        else reader("outboxes"),
        inboxes=_within(reader("inboxes"), since_ms, until_ms) if windowed else reader("inboxes"),
        rejections=reader("rejections"),
        quarantine=reader("quarantine"),
        sizes={group: size(group) for group in groups},
    )


def read_replay_input(
    bootstrap: str,
    topics: Topics,
    countries: tuple[str, ...] = COMMIT_COUNTRIES,
    client: dict[str, Any] | None = None,
) -> ReplayInput:
    """Everything the replay needs, read into lists (one snapshot, as above)."""
    streamed = stream_replay_input(bootstrap, topics, countries=countries, client=client)
    return ReplayInput(
        leaves=list(streamed.leaves),
        checkpoints=list(streamed.checkpoints),
        outboxes=list(streamed.outboxes),
        inboxes=list(streamed.inboxes),
        rejections=list(streamed.rejections),
        quarantine=list(streamed.quarantine),
    )
