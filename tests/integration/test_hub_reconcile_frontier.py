"""Records Faust never gave the agent, above the group's commit, are decided too.

Faust can drop a record in hand at a rebalance and read on; with two such
records at the head of what is not yet committed it never commits past them
(tests/unit/hub/test_faust_acks.py). The reconciler then cannot wait for a
commit: it checks up to the agent's frontier (the offset below which the agent
has written every record it was given), and, when a partition's bound stays put
with records waiting below its end, takes the first of those.

Against the session's Kafka: an outbox partition with six records and a
decision for one of them; the handler records what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from hub.app.reconcile import Reconciler, Record
from hub.topics import Topics
from tests.support.kafka import commit_group_to

pytestmark = pytest.mark.kafka


async def test_the_agents_frontier_and_a_stalled_tail_are_reconciled(
    kafka_bootstrap: str, topics: Topics
) -> None:
    tp = TopicPartition(topics.outbox("TH"), 0)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(6):
            await producer.send_and_wait(tp.topic, b"record %d" % i, partition=tp.partition)
        # offset 1 was decided by the agent: its decision is in the decisions topic
        decision = {"outcome": "delivered", "source": f"{tp.topic}/{tp.partition}/1"}
        await producer.send_and_wait(
            topics.decisions, json.dumps(decision, sort_keys=True, separators=(",", ":")).encode()
        )
    finally:
        await producer.stop()

    # The group committed up to offset 2 (Faust's commit, which went past offset 0).
    await commit_group_to(kafka_bootstrap, f"trm-hub-{topics.namespace}", {tp: 2})

    given: list[list[int]] = []
    settled: list[list[int]] = []

    async def handler(records: Sequence[Record]) -> None:
        given.append([source.offset for source, *_ in records])

    def settle(where: TopicPartition, offsets: Sequence[int]) -> None:
        assert where == tp
        settled.append(list(offsets))

    reconciler = Reconciler(
        kafka_bootstrap,
        f"trm-hub-{topics.namespace}",
        topics.decisions,
        handler,
        settle=settle,
        stall_s=0.0,
    )
    frontier = {(tp.topic, tp.partition): 4}  # the agent wrote up to offset 3
    try:
        # Below the commit, as before the frontier: 0 has no decision, 1 has one.
        assert await reconciler.run_once([tp], {}) == 1
        assert given == [[0]]
        assert settled == []  # nothing at or above the commit checked yet
        reconciler.stall_s = 3600.0  # a moved bound is never stalled
        # Checking only (a stop during a takeover's catch-up): nothing decided or
        # settled, and the mark stops at the first record without a decision.
        assert await reconciler.run_once([tp], frontier, decide=False) == 0
        assert given == [[0]]
        assert settled == []
        assert reconciler.checked_upto[(tp.topic, tp.partition)] == 2
        assert await reconciler.run_once([tp], frontier) == 2
        assert given == [[0], [2, 3]]  # not 4 or 5: the agent may have them
        assert settled == [[2, 3]]  # from the commit to the bound: Faust is told
        assert reconciler.checked_upto[(tp.topic, tp.partition)] == 4

        reconciler.stall_s = 0.0
        # The frontier stays at 4 with records below the end: the first pass noted
        # it, the next (stall_s elapsed) takes what waits there.
        assert await reconciler.run_once([tp], frontier) == 2
        assert given[-1] == [4, 5]
        assert settled[-1] == [2, 3, 4, 5]
        assert reconciler.checked_upto[(tp.topic, tp.partition)] == 6
        # The mark a bookmark carries stays at the commit (hub.state.anchor).
        assert reconciler.marks() == {(tp.topic, tp.partition): 2}
        assert await reconciler.run_once([tp], frontier) == 0  # settled: nothing more
        assert len(given) == 3
    finally:
        await reconciler.close()
