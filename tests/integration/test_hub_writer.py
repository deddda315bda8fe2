"""hub.app.writer.EffectWriter on a real broker: prepared at a worker's start.

A worker connects its writer and learns its outputs' partitions before it
serves (``HubApp.on_start``), so that its first write after a start does not
wait for those round trips while the loop is busy judging the batches behind
it (docs/performance.md, 6 December 2026, night).
"""

from __future__ import annotations

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
        for name in names:
            assert cluster.partitions_for_topic(name) == set(range(planned[name])), name
        await writer.prepare(names)  # again: the same producer, nothing new
        assert writer.producer is producer
        inbox = topics.inbox("KH")
        await writer.write([(inbox, b"case", b"copy", [])])
    finally:
        await writer.stop()
    assert writer.in_flight == 0
