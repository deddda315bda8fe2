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


def _message(offset: int, *, value: bytes | None = b"v", partition: int = 0) -> ConsumerMessage:
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
    )


class _Consumer:
    """What ConsumerMessage.ack calls: the consumer's own ack (Faust's bookkeeping)."""

    def __init__(self) -> None:
        self.acked: list[tuple[TP, int]] = []

    def ack(self, message: ConsumerMessage) -> bool:
        message.acked = True
        self.acked.append((message.tp, message.offset))
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

    monkeypatch.setattr(main.app, "_consumer", consumer)
    monkeypatch.setattr(main, "_the_hub", Hub)
    monkeypatch.setattr(main, "_reconciler", None)

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
        assert noted == [source for source, *_ in batch]
        main._acknowledge(messages, batch, written)  # a message is acknowledged once
        assert consumer.acked == [(tp, 3), (tp, 4)]

    asyncio.run(run())


def test_the_task_takes_what_the_queue_holds_up_to_a_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to BATCH_MAX at once, in the queue's order, as soon as there is one."""
    batches: list[list[SourceRef]] = []
    monkeypatch.setattr(main, "BATCH_MAX", 3)

    async def run() -> None:
        queue: asyncio.Queue[ConsumerMessage] = asyncio.Queue()
        monkeypatch.setattr(main._outbox_channel, "_queue", queue)
        done = asyncio.Event()

        async def start_judging(batch: list[Any]) -> asyncio.Future[None]:
            batches.append([source for source, *_ in batch])
            if sum(map(len, batches)) == 5:
                done.set()
            written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            written.set_result(None)
            return written

        monkeypatch.setattr(main, "_start_judging", start_judging)
        monkeypatch.setattr(main, "_acknowledge", lambda *args: None)
        for offset in range(4):
            queue.put_nowait(_message(offset))
        task = asyncio.ensure_future(main.hub_agent())
        await asyncio.sleep(0.01)
        queue.put_nowait(_message(4, value=None))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()

    asyncio.run(run())
    outbox = main.TOPICS.outbox("TH")
    assert batches == [
        [SourceRef(outbox, 0, 0), SourceRef(outbox, 0, 1), SourceRef(outbox, 0, 2)],
        [SourceRef(outbox, 0, 3)],
        [SourceRef(outbox, 0, 4)],
    ]
