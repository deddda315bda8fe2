"""hub.app.writer.EffectWriter on a real broker: prepared at a worker's start.

A worker connects its writer and learns its outputs' partitions before it
serves (``HubApp.on_start``), so that its first write after a start does not
wait for those round trips while the loop is busy judging the batches behind
it (docs/performance-history.md, 6 December 2026, night).
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.app.recovery import output_names
from hub.app.writer import EffectWriter
from hub.topics import COMMIT_COUNTRIES, Topics

pytestmark = pytest.mark.kafka


async def test_prepare_connects_and_learns_the_partitions_of_every_topic_named(
    kafka_bootstrap: str, topics: Topics
) -> None:
    names = [*output_names(topics, COMMIT_COUNTRIES), topics.hub_state]
    planned = {spec.name: spec.partitions for spec in topics.plan()}
    writer = EffectWriter(kafka_bootstrap)
    try:
        await writer.prepare(names)
        producer = writer.producer  # started: this raises before start()
        cluster = producer.client.cluster
        for name in names:  # the producer's metadata knows each one's partitions
            assert cluster.partitions_for_topic(name) == set(range(planned[name])), name
        asked: list[str] = []
        learn = producer.partitions_for

        async def partitions_for(topic: str) -> Any:
            asked.append(topic)
            return await learn(topic)

        producer.partitions_for = partitions_for
        await writer.prepare(names)  # again: the same producer, nothing asked again
        assert writer.producer is producer
        # a write to every topic named: the writer asks for no topic's partitions
        await writer.write([(name, b"case", b"value", []) for name in names])
        assert asked == []
        await writer.write([(topics.match_index, b"case", b"value", [])])  # not named
        assert asked == [topics.match_index]
    finally:
        await writer.stop()
