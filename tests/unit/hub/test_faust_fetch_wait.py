"""A Faust worker's fetch wait (hub.app.kafka.faust_fetch_wait), on Faust's own class.

The wrap is checked with Faust's builder replaced by a stand-in (building a real
aiokafka consumer needs a running loop and leaves state that upsets CPython
3.11's compiler at the end of a lone run); that aiokafka's consumer reads
``_fetch_max_wait_ms`` when it starts is what the latency bench measures
(docs/performance-history.md, 4 December 2026, "The fetch wait").
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as driver

from hub.app import kafka
from hub.errors import OperationalError, Reason


@pytest.fixture
def stand_in() -> Iterator[list[Any]]:
    """Faust's builder replaced by one that records its arguments; all restored after."""
    cls: Any = driver.AIOKafkaConsumerThread
    before, kept = cls._create_worker_consumer, dict(kafka._FAUST_CREATE)
    calls: list[Any] = []

    def build(self: Any, transport: Any) -> Any:
        calls.append((self, transport))
        return SimpleNamespace(_fetch_max_wait_ms=1500)

    kafka._FAUST_CREATE.clear()
    cls._create_worker_consumer = build
    yield calls
    cls._create_worker_consumer = before
    kafka._FAUST_CREATE.clear()
    kafka._FAUST_CREATE.update(kept)


def test_faust_fixes_the_wait_at_1500_ms() -> None:
    """Why the hub sets its own: Faust's builder passes a constant."""
    source = inspect.getsource(kafka._FAUST_CREATE.get("worker", _faust_builder()))
    assert "fetch_max_wait_ms=1500" in source


def _faust_builder() -> Any:
    cls: Any = driver.AIOKafkaConsumerThread
    return cls._create_worker_consumer


def test_the_worker_consumer_gets_the_wait_given(stand_in: list[Any]) -> None:
    cls: Any = driver.AIOKafkaConsumerThread
    thread, transport = object(), object()
    kafka.faust_fetch_wait(25)
    assert cls._create_worker_consumer(thread, transport)._fetch_max_wait_ms == 25
    kafka.faust_fetch_wait(40)  # again: Faust's builder wrapped once, the last wait wins
    assert cls._create_worker_consumer(thread, transport)._fetch_max_wait_ms == 40
    assert stand_in == [(thread, transport)] * 2  # its arguments passed through
    assert cls._create_worker_consumer.__wrapped__ is kafka._FAUST_CREATE["worker"]


def test_a_wait_under_one_ms_is_refused(stand_in: list[Any]) -> None:
    with pytest.raises(OperationalError) as refused:
        kafka.faust_fetch_wait(0)
    assert refused.value.reason is Reason.CONFIG_INVALID
    assert "at least 1 ms, got 0" in refused.value.detail
    assert not stand_in
