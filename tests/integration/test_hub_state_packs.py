"""The state packer on a real broker: a pack never claims a range without all its notes.

One worker packs the state topic's notes (docs/decisions.md D14): every
``pack_notes`` notes become one pack naming the offsets it covers, and a start
reads the packs instead of the notes they cover. A pack that named a range but
lacked some of its notes would make every later start forget those events
(a REPLAY of one would then be taken in again). A stop cancels the packer
while it builds or sends a pack; the next call must pack those notes again.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from hub.app.recovery import StateFollower
from hub.decision import SourceRef
from hub.state import pack_range, taken_in_record, unpack
from hub.topics import Topics

pytestmark = pytest.mark.kafka


async def _notes(bootstrap: str, topic: str, first: int, n: int) -> list[tuple[bytes, bytes]]:
    """Notes of events ``first .. first+n-1`` appended to ``topic``."""
    notes = [
        taken_in_record("TH", f"e{i}", SourceRef("t.outbox.TH", 0, i), 1_000 + i)
        for i in range(first, first + n)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, v, key=k) for k, v in notes])
    finally:
        await producer.stop()
    return notes


async def test_a_pack_cancelled_while_it_is_sent_is_sent_again_with_all_its_notes(
    kafka_bootstrap: str, topics: Topics
) -> None:
    notes = await _notes(kafka_bootstrap, topics.hub_state, 0, 25)
    follower = StateFollower(kafka_bootstrap, topics, pack_notes=10)
    sent: list[tuple[bytes, bytes]] = []
    sending = asyncio.Event()

    async def stuck(key: bytes, value: bytes) -> None:
        sending.set()
        await asyncio.Event().wait()  # the broker never answers: the worker stops

    async def send(key: bytes, value: bytes) -> None:
        sent.append((key, value))

    try:
        first = asyncio.create_task(follower.pack(stuck))
        await asyncio.wait_for(sending.wait(), 30)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # the next call packs what the cancelled one had read, without reading it again
        assert await follower.pack(send) == 2
        more = await _notes(kafka_bootstrap, topics.hub_state, 25, 12)  # offsets 25..36
        assert await follower.pack(send) == 1
    finally:
        await follower.close()
    assert [pack_range(key) for key, _value in sent] == [(0, 10), (10, 20), (20, 30)]
    assert [unpack(value) for _key, value in sent] == [
        notes[0:10],
        notes[10:20],
        notes[20:25] + more[0:5],
    ]
