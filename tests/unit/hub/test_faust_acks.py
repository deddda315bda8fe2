"""The reconciler's offsets reach Faust's commit (hub.app.kafka.acknowledge_offsets).

Run against Faust's own consumer (the pinned version), not a copy of its logic:
two records missing at the head of what is acknowledged hold Faust's commit
back for good; once the reconciler has settled them, the commit moves on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust
import pytest
from aiokafka import TopicPartition
from faust.types import TP

from hub.app.kafka import acknowledge_offsets

OUTBOX = TopicPartition("t.TH.outbox", 3)


@pytest.fixture(scope="module")
def app() -> faust.App:
    # One app for the module; its consumer is built, never started (no broker).
    return faust.App("trm-test-acks", broker="kafka://127.0.0.1:1")


@pytest.fixture
def consumer(app: faust.App) -> Iterator[Any]:
    consumer: Any = app.consumer  # the driver's Consumer, with the fields used here
    held = {TP(*OUTBOX)}
    consumer.assignment = lambda: held  # never started: it holds what the test says
    yield consumer
    del consumer.assignment
    for held in (consumer._acked, consumer._acked_index, consumer._committed_offset):
        held.clear()


def _agent_acks(consumer: Any, *offsets: int) -> None:
    for offset in offsets:  # as Consumer.ack does for a record the agent was given
        consumer._acked[TP(*OUTBOX)].append(offset)
        consumer._acked_index[TP(*OUTBOX)].add(offset)


def test_two_dropped_records_hold_faust_back_until_settled(consumer: Any) -> None:
    consumer._committed_offset[TP(*OUTBOX)] = 10
    _agent_acks(consumer, 12, 13, 14)  # 10 and 11 never reached the agent
    assert consumer._new_offset(TP(*OUTBOX)) is None  # Faust would never commit
    acknowledge_offsets(consumer, OUTBOX, [10, 11])
    assert consumer._new_offset(TP(*OUTBOX)) == 15


def test_offsets_below_the_commit_or_already_acked_are_left_alone(consumer: Any) -> None:
    consumer._committed_offset[TP(*OUTBOX)] = 10
    _agent_acks(consumer, 10)
    acknowledge_offsets(consumer, OUTBOX, [7, 10, 11])
    assert sorted(consumer._acked[TP(*OUTBOX)]) == [10, 11]
    assert consumer._new_offset(TP(*OUTBOX)) == 12


def test_a_partition_never_committed_takes_every_offset(consumer: Any) -> None:
    acknowledge_offsets(consumer, OUTBOX, [0, 1, 2])
    assert consumer._new_offset(TP(*OUTBOX)) == 3


def test_a_partition_no_longer_held_is_left_alone(consumer: Any) -> None:
    consumer._committed_offset[TP(*OUTBOX)] = 10
    acknowledge_offsets(consumer, TopicPartition(OUTBOX.topic, 4), [10, 11])
    acknowledge_offsets(consumer, OUTBOX, [10])
    assert dict(consumer._acked) == {TP(*OUTBOX): [10]}
