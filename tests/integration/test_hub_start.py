"""A worker's start reads the tail of the log, not its history (docs/decisions.md D14).

One worker takes in a first batch of events and writes its bookmarks; the
next worker starts from them and reads only the tail (a), still refuses a
REPLAY of an event taken in before the restart (c), and, killed mid-flood
with its group offsets rewound to before everything it wrote (a crash before
any commit), the third writes no delivery twice (b). A worker stopped cleanly
before any timer wrote a bookmark leaves last ones, and the next start plans
from them (d).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from hub.app.kafka import read_all
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.state import BOOKMARK_PREFIX, Bookmark
from hub.topics import COMMIT_COUNTRIES, OUTBOX_PARTITIONS, Topics
from tests.support.hub import HUB_KEY, KEYS, sealed, trust_list
from tests.support.kafka import collect_records, send_records
from tests.support.policy import DELIVERY_POLICY as POLICY
from tests.support.policy import agreement_from_table
from tests.support.procs import Worker, wait_for

pytestmark = pytest.mark.kafka


async def _provisioned(bootstrap: str, topics: Topics, home: Path) -> Worker:
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    agreement = agreement_from_table(POLICY, KEYS)
    await provision_registry(bootstrap, topics, trust_doc, [agreement])
    return Worker(bootstrap, topics, home)


@pytest.fixture
def hub(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Worker]:
    """A worker over a provisioned registry (restarted by the test as it likes)."""
    monkeypatch.setenv("TRM_HUB_PACK_NOTES", "100")  # packs of the notes at this scale too
    w = asyncio.run(_provisioned(kafka_bootstrap, topics, tmp_path))
    w.start()
    try:
        yield w
    finally:
        w.stop()


RECOVERED = re.compile(
    r"recovered in [\d.]+ s from (bookmarks|the whole log): read (\d+) state records "
    r"and (\d+) of (\d+) output records"
)


def _recoveries(worker: Worker) -> list[tuple[bool, int, int, int]]:
    return [
        (m[1] == "bookmarks", int(m[2]), int(m[3]), int(m[4]))
        for m in RECOVERED.finditer(worker.log.read_text(errors="replace"))
    ]


async def _bookmarks(bootstrap: str, topics: Topics) -> list[Bookmark]:
    rows = await read_all(bootstrap, [topics.hub_bookmarks])
    latest = {k: v for _t, k, v, _h, _ts in rows if k and k.startswith(BOOKMARK_PREFIX.encode())}
    return [Bookmark.from_record(k, v) for k, v in latest.items() if v is not None]


async def _wait_for_bookmark(
    bootstrap: str, topics: Topics, worker: Worker, position: int, partition: int
) -> None:
    """Until a bookmark of TH's outbox says the agent passed ``position`` and it is checked."""
    outbox = topics.outbox("TH")
    for _ in range(120):
        worker.alive()
        marks = await _bookmarks(bootstrap, topics)
        if any(
            b.outbox == outbox
            and b.partition == partition
            and b.position >= position
            and (b.checked or 0) >= position
            for b in marks
        ):
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"no bookmark reached {position}; log:\n{worker.log_tail()}")


async def _th_partition(bootstrap: str, topics: Topics) -> tuple[int, int]:
    """(partition, end offset) of the TH outbox partition the test's case key lands on."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.outbox("TH"), p) for p in range(OUTBOX_PARTITIONS)]
        ends = await consumer.end_offsets(tps)
        tp = max(ends, key=lambda t: ends[t])
        return tp.partition, ends[tp]
    finally:
        await consumer.stop()


async def _recovered_times(worker: Worker, n: int) -> bool:
    return len(_recoveries(worker)) >= n


async def _committed_past(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> bool:
    """Whether the group's committed offset of ``tp`` is at ``offset`` or beyond."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        return (await consumer.committed(tp) or 0) >= offset
    finally:
        await consumer.stop()


async def _rewind(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Commit ``offset`` for the group (no member: the crashed worker's session expired)."""
    for _ in range(30):
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.commit({tp: OffsetAndMetadata(offset, "")})
            if await consumer.committed(tp) == offset:
                return
        except Exception:  # the dead member's session has not expired yet
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()
    raise AssertionError(f"could not rewind {tp} to {offset}")


def _events(n: int, first_sequence: int) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    now = time.time_ns() // 1_000_000
    out = []
    for i in range(n):
        raw, headers = sealed(created_at_ms=now + i, sequence=first_sequence + i)
        out.append(("TH", raw, headers))
    return out


Sent = tuple[str, bytes, list[tuple[str, bytes]]]  # (outbox, value, headers)


async def _take_in(
    bootstrap: str, topics: Topics, worker: Worker, n: int
) -> tuple[list[Sent], int]:
    """``n`` events sent to TH's outbox and delivered; them, and the partition they are in."""
    batch = [(topics.outbox(cc), raw, h) for cc, raw, h in _events(n, 1)]
    await send_records(bootstrap, batch, key=b"case-0001")
    await collect_records(bootstrap, {topics.inbox("KH"): n}, worker, within_s=180)
    partition, end = await _th_partition(bootstrap, topics)
    assert end == n
    return batch, partition


async def _refused_as_replay(bootstrap: str, topics: Topics, worker: Worker, record: Sent) -> None:
    """The same event sent again, at another offset: refused as a REPLAY."""
    await send_records(bootstrap, [record], key=b"case-0001")
    got = await collect_records(bootstrap, {topics.rejections("TH"): 1}, worker, within_s=120)
    reasons = [json.loads(r.value)["reason"] for r in got[topics.rejections("TH")]]
    assert reasons == ["REPLAY"]


async def _packs(bootstrap: str, topics: Topics) -> set[bytes]:
    """The keys of the packs of notes in the bookmarks topic."""
    rows = await read_all(bootstrap, [topics.hub_bookmarks])
    return {k for _t, k, _v, _h, _ts in rows if k and k.startswith(b"pack/")}


async def test_a_start_reads_the_tail_and_keeps_every_guarantee(
    kafka_bootstrap: str, topics: Topics, hub: Worker
) -> None:
    worker = hub
    first = 400
    batch, partition = await _take_in(kafka_bootstrap, topics, worker, first)
    await _wait_for_bookmark(kafka_bootstrap, topics, worker, first, partition)
    packs = await _packs(kafka_bootstrap, topics)
    assert len(packs) == first // 100  # the notes of 400 events, in packs of 100
    worker.stop()  # SIGTERM: Faust commits

    # (a) the next start reads the state topic and the tail of the outputs only
    worker.start()
    # (c) the same event at another offset, after the restart: still a REPLAY
    await _refused_as_replay(kafka_bootstrap, topics, worker, batch[7])
    (from_bookmarks, state_records, read, history), *_ = _recoveries(worker)[1:]
    assert from_bookmarks
    # 400 events: 400 deliveries + 800 decisions in the outputs; a start read a few
    assert history >= 3 * first
    assert read < history // 10, (read, history)
    # the notes of every event (from the packs), plus the bookmarks and packs read
    assert state_records >= first

    # (b) killed mid-flood, and its commits undone: the next worker reprocesses
    # every record of the second batch; none is delivered twice
    await _wait_for_bookmark(kafka_bootstrap, topics, worker, first + 1, partition)
    second = 400
    more = [(topics.outbox(cc), raw, h) for cc, raw, h in _events(second, first + 1)]
    await send_records(kafka_bootstrap, more, key=b"case-0001")
    consumer = AIOKafkaConsumer(
        topics.inbox("KH"), bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen = 0
    try:
        async with asyncio.timeout(120):
            while seen < first + second // 2:
                worker.alive()
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen += len(records)
    finally:
        await consumer.stop()
    worker.stop(signal.SIGKILL)
    await _rewind(
        kafka_bootstrap,
        f"trm-hub-{topics.namespace}",
        TopicPartition(topics.outbox("TH"), partition),
        first + 1,
    )
    worker.start()
    # The killed worker may have delivered the whole second batch before it died:
    # then every copy is there before this one has read a record. Wait until it
    # has recovered and committed past every rewound record, so that a copy it
    # delivered again would be in the count below.
    await wait_for(lambda: _recovered_times(worker, 3), [worker], "the third start's recovery")
    _partition, end = await _th_partition(kafka_bootstrap, topics)
    tp = TopicPartition(topics.outbox("TH"), partition)
    await wait_for(
        lambda: _committed_past(kafka_bootstrap, f"trm-hub-{topics.namespace}", tp, end),
        [worker],
        f"a commit of {tp} at its end, {end}",
    )
    total = first + second
    got = await collect_records(kafka_bootstrap, {topics.inbox("KH"): total}, worker, within_s=240)
    ids = [dict(r.headers)["ce_id"] for r in got[topics.inbox("KH")]]
    assert len(set(ids)) == total  # none lost
    assert len(ids) == total  # none delivered twice
    third = _recoveries(worker)[2]
    assert third[0], third  # from bookmarks, even with the offsets rewound
    # still nothing new was refused: the reprocessed records are the hub's own
    got = await collect_records(kafka_bootstrap, {topics.rejections("TH"): 1}, worker, within_s=30)
    assert len(got[topics.rejections("TH")]) == 1


async def test_a_clean_stop_leaves_bookmarks_the_next_start_plans_from(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (d) No timer writes a bookmark or runs a reconciler pass in this test's
    # time: only the stop's last ones can spare the next start a full read.
    monkeypatch.setenv("TRM_HUB_BOOKMARK_S", "3600")
    monkeypatch.setenv("TRM_HUB_RECONCILE_S", "3600")
    monkeypatch.setenv("TRM_HUB_PACK_NOTES", "100")
    worker = await _provisioned(kafka_bootstrap, topics, tmp_path)
    worker.start()
    try:
        n = end = 300
        batch, partition = await _take_in(kafka_bootstrap, topics, worker, n)
        assert await _bookmarks(kafka_bootstrap, topics) == []
        assert await _packs(kafka_bootstrap, topics) == set()
        worker.stop()  # SIGTERM

        marks = await _bookmarks(kafka_bootstrap, topics)
        outbox = topics.outbox("TH")
        last = [b for b in marks if b.outbox == outbox and b.partition == partition]
        assert [(b.position, b.checked) for b in last] == [(end, end)], marks
        # every outbox partition held got one (the empty ones at 0)
        assert len(marks) == len(COMMIT_COUNTRIES) * OUTBOX_PARTITIONS, marks
        assert f"wrote {len(marks)} last bookmarks" in worker.log.read_text(errors="replace")
        assert len(await _packs(kafka_bootstrap, topics)) == n // 100  # the stop's last pack

        worker.start()
        await _refused_as_replay(kafka_bootstrap, topics, worker, batch[11])
        first, second = _recoveries(worker)
        assert not first[0]  # a first start: no bookmark at all
        from_bookmarks, state_records, read, history = second
        assert from_bookmarks, second
        assert history >= 3 * n
        assert read == 0, second  # the bookmarks name the outputs' ends: nothing to read
        assert state_records >= n  # the notes of every event (packed at the stop)
    finally:
        worker.stop()
