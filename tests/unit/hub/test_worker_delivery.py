"""How the worker takes the outboxes' records from Faust (docs/decisions.md D28):
Faust's own messages in the outboxes' channel, read in batches by the hub's
task, and acknowledged to the consumer only once their effects are written.

The worker's delivery, rebalances, restarts and faults on a real broker are
tested in tests/integration/test_hub_worker.py and tests/fault/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types.tuples import TP, ConsumerMessage

from hub.app import main
from hub.decision import SourceRef


def _message(
    offset: int, *, value: bytes | None = b"v", partition: int = 0, generation: int = 0
) -> ConsumerMessage:
    return ConsumerMessage(
        main.TOPICS.outbox("TH"),
        partition,
        offset,
        1_772_323_200.5,
        1,  # LogAppendTime
        [("ce_id", b"x")],
        b"case-key",
        value,
        None,
        generation_id=generation,
    )


class _Consumer:
    """What the worker calls on Faust's consumer: tracking a message in hand, and the
    consumer's own ack (which ConsumerMessage.ack calls; Faust's bookkeeping)."""

    def __init__(self) -> None:
        self.acked: list[tuple[TP, int]] = []
        self.tracked: list[int] = []
        self.unacked: set[ConsumerMessage] = set()

    def track_message(self, message: ConsumerMessage) -> None:
        self.tracked.append(message.offset)
        self.unacked.add(message)

    def ack(self, message: ConsumerMessage) -> bool:
        message.acked = True
        self.acked.append((message.tp, message.offset))
        self.unacked.discard(message)
        return True


def test_the_outboxes_schema_hands_on_faust_s_message_itself() -> None:
    message = _message(7)
    schema: Any = main.outboxes.schema
    assert isinstance(schema, main._Messages)
    decode = schema.compile(main.app)
    assert asyncio.run(decode(message, propagate=True)) is message
    channel: Any = main._outbox_channel
    assert channel.is_iterator  # registered with the conductor, as a stream's channel is
    assert channel.schema is schema
    assert channel in main.app.topics


def test_a_batch_is_acknowledged_only_once_its_effects_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = _Consumer()
    noted: list[SourceRef] = []

    class Hub:
        def note_processed(self, source: SourceRef) -> None:
            noted.append(source)

    out: list[int] = []
    monkeypatch.setattr(main.app, "_consumer", consumer)
    monkeypatch.setattr(main, "_the_hub", Hub)
    monkeypatch.setattr(main, "_reconciler", None)
    monkeypatch.setattr(
        main.app.sensors, "on_message_out", lambda tp, offset, m: out.append(offset)
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        messages = [_message(offset) for offset in (3, 4)]
        for message in messages:
            message.incref()  # as the conductor does for its one channel
        batch: list[Any] = [
            (SourceRef(m.topic, m.partition, m.offset), m.value, (), None) for m in messages
        ]
        failed: asyncio.Future[None] = loop.create_future()
        failed.set_exception(RuntimeError("the write failed"))
        main._acknowledge(messages, batch, failed)
        cancelled: asyncio.Future[None] = loop.create_future()
        cancelled.cancel()
        main._acknowledge(messages, batch, cancelled)
        assert consumer.acked == []  # never for effects that are not written
        assert noted == []
        written: asyncio.Future[None] = loop.create_future()
        written.set_result(None)
        main._acknowledge(messages, batch, written)
        tp = TP(main.TOPICS.outbox("TH"), 0)
        assert consumer.acked == [(tp, 3), (tp, 4)]
        assert out == [3, 4]  # the sensors told, as Stream.ack tells them
        assert noted == [source for source, *_ in batch]
        main._acknowledge(messages, batch, written)  # a message is acknowledged once
        assert consumer.acked == [(tp, 3), (tp, 4)]
        assert out == [3, 4]

    asyncio.run(run())


def _run_task(
    monkeypatch: pytest.MonkeyPatch,
    put: list[tuple[float, ConsumerMessage]],
    judge: Any,
    until: int,
    *,
    flowing: Any = lambda: True,
) -> _Consumer:
    """hub_agent over a queue fed with ``put`` ((delay s, message)) until ``until``
    batches were judged; Faust's consumer and flow control stood in for."""
    consumer = _Consumer()
    monkeypatch.setattr(main.app, "_consumer", consumer)
    monkeypatch.setattr(main.app.flow_control, "is_active", flowing)
    monkeypatch.setattr(main, "_start_judging", judge)
    monkeypatch.setattr(main, "_acknowledge", lambda *args: None)
    monkeypatch.setattr(main, "JUDGE_RETRY_S", 0.0)

    async def run() -> None:
        queue: asyncio.Queue[ConsumerMessage] = asyncio.Queue()
        monkeypatch.setattr(main._outbox_channel, "_queue", queue)
        task = asyncio.ensure_future(main.hub_agent())
        for delay, message in put:
            if delay:
                await asyncio.sleep(delay)
            queue.put_nowait(message)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if judge.calls >= until:
                break
        task.cancel()

    asyncio.run(run())
    return consumer


class _Judge:
    """Records each batch's offsets; raises for the batches listed in ``failing``."""

    def __init__(self, failing: tuple[int, ...] = ()) -> None:
        self.batches: list[list[int]] = []
        self.calls = 0
        self.failing = failing

    async def __call__(self, batch: list[Any]) -> asyncio.Future[None]:
        self.calls += 1
        if self.calls in self.failing:
            raise RuntimeError("the registry is not readable yet")
        self.batches.append([source.offset for source, *_ in batch])
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        written.set_result(None)
        return written


def test_the_task_takes_what_the_queue_holds_up_to_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to BATCH_MAX at once, in the queue's order, as soon as there is one;
    every message taken is tracked as in hand."""
    monkeypatch.setattr(main, "BATCH_MAX", 3)
    judge = _Judge()
    put = [(0.0, _message(offset)) for offset in range(4)]
    put.append((0.05, _message(4, value=None)))
    consumer = _run_task(monkeypatch, put, judge, until=3)
    assert judge.batches == [[0, 1, 2], [3], [4]]
    assert consumer.tracked == [0, 1, 2, 3, 4]


def test_a_message_from_before_the_last_rebalance_is_skipped_untracked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As Faust's stream does: Faust reads it again from the group's commit."""
    monkeypatch.setattr(main.app, "consumer_generation_id", 2)
    judge = _Judge()
    put = [(0.0, _message(0, generation=1)), (0.0, _message(1, generation=2))]
    consumer = _run_task(monkeypatch, put, judge, until=1)
    assert judge.batches == [[1]]
    assert consumer.tracked == [1]


def test_a_message_taken_while_the_flow_is_suspended_is_skipped_untracked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rebalance under way (Faust suspends the flow): read again from the commit."""
    flow = iter([False, True])
    judge = _Judge()
    put = [(0.0, _message(0)), (0.05, _message(1))]
    consumer = _run_task(monkeypatch, put, judge, until=1, flowing=lambda: next(flow))
    assert judge.batches == [[1]]
    assert consumer.tracked == [1]


def test_a_batch_that_cannot_be_judged_is_let_go_unacknowledged_and_the_task_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As when Faust restarted a failed agent: the records stay unacknowledged (no
    commit passes them; the reconciler judges them), no longer tracked (a
    rebalance does not wait for them), and the next batch is judged."""
    judge = _Judge(failing=(1,))
    put = [(0.0, _message(0)), (0.05, _message(1))]
    consumer = _run_task(monkeypatch, put, judge, until=2)
    assert judge.calls == 2
    assert judge.batches == [[1]]
    assert consumer.tracked == [0, 1]
    assert [m.offset for m in consumer.unacked] == [1]  # 0 let go; 1 written, ack stubbed
