"""The reconciler reads the decisions topic only when something is not known decided.

Every worker's decisions are in one topic, and reading it was most of what a
pass cost at a high rate. The worker tells the reconciler of each record the
agent wrote the effects of; a pass whose offsets are all known that way reads
nothing. A record the agent was not given sends the pass to the topic, from
where it last stopped, and a plan proven by bookmarks moves that place on.

Against the session's Kafka: an outbox partition with six records, decisions
for some of them; the handler records what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from hub.app.reconcile import Handler, Reconciler, Record
from hub.decision import SourceRef
from hub.topics import Topics
from tests.support.kafka import commit_group_to

pytestmark = pytest.mark.kafka


def _decision(tp: TopicPartition, offset: int) -> bytes:
    record = {"outcome": "delivered", "source": f"{tp.topic}/{tp.partition}/{offset}"}
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


async def _write(
    bootstrap: str, tp: TopicPartition, records: int, topics: Topics, decided: Sequence[int]
) -> list[int]:
    """``records`` outbox records, then a decision for each of ``decided``; their offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(records):
            await producer.send_and_wait(tp.topic, b"record %d" % i, partition=tp.partition)
        return [
            (await producer.send_and_wait(topics.decisions, _decision(tp, o))).offset
            for o in decided
        ]
    finally:
        await producer.stop()


def _recording() -> tuple[list[list[int]], Handler]:
    """A handler that records the offsets of each call, and what it recorded."""
    given: list[list[int]] = []

    async def handler(records: Sequence[Record]) -> None:
        given.append([source.offset for source, *_ in records])

    return given, handler


async def test_a_pass_reads_decisions_only_for_offsets_not_known_decided(
    kafka_bootstrap: str, topics: Topics
) -> None:
    tp = TopicPartition(topics.outbox("TH"), 0)
    key = (tp.topic, tp.partition)
    # The agent decided 0-3 and 5; offset 4 was decided by an earlier holder.
    await _write(kafka_bootstrap, tp, 7, topics, decided=[0, 1, 2, 3, 4, 5])
    group = f"trm-hub-{topics.namespace}"
    await commit_group_to(kafka_bootstrap, group, {tp: 2})
    given, handler = _recording()
    settled: list[list[int]] = []
    reconciler = Reconciler(
        kafka_bootstrap,
        group,
        topics.decisions,
        handler,
        settle=lambda _tp, offsets: settled.append(list(offsets)),
    )
    try:
        reconciler.note_decided(SourceRef(tp.topic, tp.partition, o) for o in (0, 1, 2, 3, 5))
        # Everything below the agent's frontier is known decided: nothing is read.
        assert await reconciler.run_once([tp], {key: 4}) == 0
        assert reconciler.decisions_read == 0
        assert settled == [[2, 3]]
        assert reconciler.checked_upto[key] == 4
        # Offset 4 is not known: the pass reads the topic and finds its decision;
        # offset 6 has none anywhere and goes to the handler.
        assert await reconciler.run_once([tp], {key: 7}) == 1
        assert reconciler.decisions_read == 6
        assert given == [[6]]
        assert settled[-1] == [2, 3, 4, 5, 6]
        # Settled and known: the next pass reads nothing more.
        assert await reconciler.run_once([tp], {key: 7}) == 0
        assert reconciler.decisions_read == 6
    finally:
        await reconciler.close()


async def test_a_proven_plan_moves_the_decisions_read_on(
    kafka_bootstrap: str, topics: Topics
) -> None:
    tp = TopicPartition(topics.outbox("TH"), 0)
    key = (tp.topic, tp.partition)
    at = await _write(kafka_bootstrap, tp, 5, topics, decided=[0, 1, 2, 3])
    given, handler = _recording()
    reconciler = Reconciler(
        kafka_bootstrap, f"trm-hub-{topics.namespace}", topics.decisions, handler
    )
    try:
        # A plan: every record from offset 2 on has its decision at or after the
        # decision of record 2 (what bookmarks prove; here, by construction).
        reconciler.advance({key: 2}, {f"{topics.decisions}/0": at[2]})
        assert reconciler.checked_upto[key] == 2
        assert await reconciler.run_once([tp], {key: 4}) == 0
        assert given == []
        assert reconciler.decisions_read == 2  # the decisions of 2 and 3, not of 0 and 1
        # A plan never moves the read (or a mark) back: record 4, with no decision,
        # sends the next pass to the topic, which has nothing new for it.
        reconciler.advance({key: 0}, {f"{topics.decisions}/0": at[0]})
        assert reconciler.checked_upto[key] == 4
        assert await reconciler.run_once([tp], {key: 5}) == 1
        assert given == [[4]]
        assert reconciler.decisions_read == 2
    finally:
        await reconciler.close()
