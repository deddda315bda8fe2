"""The hub producer's partitioner puts every key where Kafka's default partitioner does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.app.kafka import partitioner


@settings(max_examples=500)
@given(key=st.binary(max_size=64), count=st.integers(min_value=1, max_value=12))
def test_same_partition_as_kafka_default(key: bytes, count: int) -> None:
    parts = list(range(count))
    assert partitioner(key, parts, parts) == DefaultPartitioner()(key, parts, parts)
    assert partitioner(key, parts, parts) == DefaultPartitioner()(key, parts, parts)  # remembered


def test_no_key_spreads_over_available_partitions() -> None:
    chosen = {partitioner(None, [0, 1, 2], [1, 2]) for _ in range(200)}
    assert chosen == {1, 2}
