"""hub.app.kafka.Follower on a real broker: a read up to given ends loses nothing after them.

A fetch can bring back records past the ends a read stops at (appended while it
ran, or simply past the bound it was given). Those must be read by the next
read, not skipped: the hub's registry, state and decisions followers poll with
the ends of the moment while other workers keep appending.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from hub.app.kafka import Follower
from hub.topics import Topics
from tests.support.kafka import send_records

pytestmark = pytest.mark.kafka


async def test_a_read_up_to_an_end_leaves_what_follows_it_for_the_next_read(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.decisions  # one partition
    await send_records(kafka_bootstrap, [(topic, b"%d" % i, ()) for i in range(10)], key=b"k")
    tp = TopicPartition(topic, 0)
    follower = Follower(kafka_bootstrap, [topic])
    try:
        first = [r.value async for batch in follower.records(until={tp: 4}) for r in batch]
        rest = [value for _topic, _key, value, _headers, _ts in await follower.poll()]
        again = await follower.poll()
    finally:
        await follower.close()
    assert first == [b"0", b"1", b"2", b"3"]
    assert rest == [b"%d" % i for i in range(4, 10)]
    assert again == []


async def test_polls_while_records_are_appended_read_each_record_once(
    kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.decisions
    total = 4000
    follower = Follower(kafka_bootstrap, [topic])
    await follower.poll()  # connected and positioned before the writes begin
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    seen: list[bytes | None] = []

    async def write() -> None:
        for start in range(0, total, 20):  # small batches, one after another
            sends = [await producer.send(topic, b"%d" % i) for i in range(start, start + 20)]
            await asyncio.gather(*sends)

    try:
        writer = asyncio.ensure_future(write())
        polls = 0
        while not writer.done():
            seen += [value for _t, _k, value, _h, _ts in await follower.poll()]
            polls += 1
        await writer
        seen += [value for _t, _k, value, _h, _ts in await follower.poll()]  # the rest
    finally:
        await producer.stop()
        await follower.close()
    missing = sorted(set(range(total)) - {int(v or b"-1") for v in seen})
    assert not missing, f"{len(missing)} records never read, e.g. {missing[:5]} ({polls} polls)"
    assert seen == [b"%d" % i for i in range(total)]


async def test_a_read_with_turns_lets_the_loop_run_after_each_batch(
    kafka_bootstrap: str, topics: Topics
) -> None:
    """``turn=True``: other tasks run between two batches, even when both were fetched at once."""
    topic = topics.decisions  # one partition
    await send_records(kafka_bootstrap, [(topic, b"%d" % i, ()) for i in range(30)], key=b"k")
    follower = Follower(kafka_bootstrap, [topic])
    loop = asyncio.get_running_loop()
    turned: list[bool] = []
    got: list[bytes] = []
    ran: list[int] = []
    try:
        async for batch in follower.batches(max_records=10, turn=True):
            if got:  # did the callback scheduled while handling the last batch run?
                turned.append(bool(ran))
            ran = []
            loop.call_soon(ran.append, 1)
            got += [r.value for r in batch]
    finally:
        await follower.close()
    assert got == [b"%d" % i for i in range(30)]  # every record, in order, none twice
    assert len(turned) >= 2
    assert all(turned)
