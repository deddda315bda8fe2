"""Faust's consumer served on the worker's loop (hub.app.kafka.faust_consumer_on_loop).

Faust's consumer service is built as before, on a real Faust app, and only its
aiokafka consumer is replaced by a stand-in (these tests run without a broker;
the hub's integration and fault tests run the real one this way). What must
hold: no thread is started, every consumer call runs on the worker's loop and
thread, a start that fails raises and crashes the app as Faust's thread does,
and a stop stops the consumer and returns.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import faust
import pytest
from faust.transport.consumer import ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as driver
from mode.threads import QueueServiceThread, ServiceThread

from hub.app import kafka


class _Consumer:
    """Stands in for aiokafka's consumer: records what ran, and on which thread."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    async def start(self) -> None:
        self.calls.append(("start", threading.get_ident()))
        if self.fail is not None:
            raise self.fail

    async def stop(self) -> None:
        self.calls.append(("stop", threading.get_ident()))


@pytest.fixture
def on_loop() -> Iterator[None]:
    """The patch applied afresh; Faust's own consumer-thread maker restored after."""
    before, kept = driver.Consumer._new_consumer_thread, dict(kafka._FAUST_CREATE)
    driver.Consumer._new_consumer_thread = kafka._FAUST_CREATE.get(  # type: ignore[method-assign]
        "consumer_thread", before
    )
    kafka._FAUST_CREATE.pop("consumer_thread", None)
    kafka.faust_consumer_on_loop()
    yield
    driver.Consumer._new_consumer_thread = before  # type: ignore[method-assign]
    kafka._FAUST_CREATE.clear()
    kafka._FAUST_CREATE.update(kept)


def _service(consumer: _Consumer) -> Any:
    app = faust.App("on-loop-test", broker="kafka://127.0.0.1:1")
    service: Any = app.consumer._thread  # type: ignore[attr-defined]
    service._create_consumer = lambda loop: consumer
    return service


def test_faust_makes_its_consumer_thread_where_the_patch_replaces_it() -> None:
    """The calls the patch relies on (a Faust or mode upgrade that changes them fails here)."""
    assert "self._thread = self._new_consumer_thread()" in inspect.getsource(
        ThreadDelegateConsumer.__init__
    )
    assert "self._create_consumer(loop=self.thread_loop)" in inspect.getsource(
        driver.AIOKafkaConsumerThread.on_start
    )
    # mode's serving of a thread's service, which _serve_on_loop does on the loop
    serve = inspect.getsource(ServiceThread._serve)
    for step in (
        "await self._default_start()",
        "await self.on_thread_started()",  # it only starts the method queue: left out
        "notify, self._thread_running",
        "await self.wait_until_stopped()",
        "await self.crash(exc)",
        "await self.beacon.root.data.crash(exc)",
        "await self._shutdown_thread()",
        "await self._gather_remaining_tasks()",  # every task of the thread's loop: left out
    ):
        assert step in serve, step
    assert driver.AIOKafkaConsumerThread.on_thread_started is QueueServiceThread.on_thread_started
    assert "await self.method_queue.start()" in inspect.getsource(
        QueueServiceThread.on_thread_started
    )
    start = inspect.getsource(ServiceThread.start)
    assert "self._thread_started.set()" in start
    assert "await self._thread_running" in start
    # mode's stop of a thread's service, which _serve_on_loop does step by step
    steps = inspect.getsource(ServiceThread._shutdown_thread)
    called = [line.strip() for line in steps.splitlines()[1:] if line.strip()]
    assert called == [
        "await self.on_thread_stop()",
        "await self._default_stop_children()",
        "self.set_shutdown()",
        "await self._default_stop_futures()",
        "await self._default_stop_exit_stacks()",
    ]


def test_patching_twice_patches_once(on_loop: None) -> None:
    patched = driver.Consumer._new_consumer_thread
    kafka.faust_consumer_on_loop()
    assert driver.Consumer._new_consumer_thread is patched
    assert kafka._FAUST_CREATE["consumer_thread"] is not patched  # Faust's own, kept


async def test_the_consumer_runs_on_the_workers_loop_without_a_thread(on_loop: None) -> None:
    consumer = _Consumer()
    service = _service(consumer)
    loop, me = asyncio.get_running_loop(), threading.get_ident()
    assert isinstance(service, driver.AIOKafkaConsumerThread)  # every Faust method kept
    assert service.thread_loop is loop
    assert service.parent_loop is loop
    threads = threading.active_count()

    await asyncio.wait_for(service.start(), 5)
    assert consumer.calls == [("start", me)]
    assert threading.active_count() == threads
    assert service._thread is None

    async def where(x: int) -> tuple[int, int]:
        return threading.get_ident(), x

    assert await service.call_thread(where, 7) == (me, 7)  # a coroutine function
    assert await service.call_thread(lambda x: x + 1, 1) == 2  # a plain function

    await asyncio.wait_for(service.stop(), 5)
    assert consumer.calls == [("start", me), ("stop", me)]
    assert service._shutdown.is_set()
    assert threading.active_count() == threads


async def test_a_start_that_fails_raises_and_crashes_the_app(
    on_loop: None, capsys: pytest.CaptureFixture[str]
) -> None:
    consumer = _Consumer(fail=ConnectionError("no broker at 127.0.0.1:1"))
    service = _service(consumer)
    with pytest.raises(ConnectionError, match="no broker"):
        await asyncio.wait_for(service.start(), 5)
    await asyncio.wait_for(service._shutdown.wait(), 5)  # nothing waits forever on a stop
    assert service._crashed.is_set()
    assert service.beacon.root.data._crashed.is_set()  # the app, as with Faust's thread
    assert [name for name, _ in consumer.calls] == ["start", "stop"]
    assert "crashed" in capsys.readouterr().err  # said, as mode's thread says it


async def test_a_second_start_is_refused(on_loop: None) -> None:
    service = _service(_Consumer())
    await asyncio.wait_for(service.start(), 5)
    try:
        with pytest.raises(RuntimeError, match="started already"):
            await service.start()
    finally:
        await asyncio.wait_for(service.stop(), 5)


async def test_a_start_cancelled_while_starting_is_cancelled_too(on_loop: None) -> None:
    asked = asyncio.Event()

    class Slow(_Consumer):
        async def start(self) -> None:
            self.calls.append(("start", threading.get_ident()))
            asked.set()
            await asyncio.Event().wait()  # a broker that never answers

    consumer = Slow()
    service = _service(consumer)
    starting = asyncio.ensure_future(service.start())
    await asyncio.wait_for(asked.wait(), 5)
    service._serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(starting, 5)  # not left waiting for a start that never comes
    assert service._shutdown.is_set()
    assert [name for name, _ in consumer.calls] == ["start", "stop"]
