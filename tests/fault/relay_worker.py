"""A plain relay standing in for the hub worker in the fault harness.

Consumes every outbox of a namespace in a consumer group, forwards each record
unchanged to the inbox named by its key, and commits offsets only after the
forwarded records are acknowledged (acks=all, idempotent producer): the same
at-least-once contract the hub has. Run as a subprocess so it can be SIGKILLed:

    python tests/fault/relay_worker.py BOOTSTRAP NAMESPACE GROUP
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import CommitFailedError, IllegalGenerationError, RebalanceInProgressError

from hub.topics import COMMIT_COUNTRIES, Topics


async def relay(bootstrap: str, namespace: str, group: str) -> None:
    topics = Topics(namespace)
    consumer = AIOKafkaConsumer(
        *(topics.outbox(cc) for cc in COMMIT_COUNTRIES),
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_records=500,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await producer.start()
    await consumer.start()
    print("relay ready", flush=True)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            futures = []
            for records in batch.values():
                for r in records:
                    recipient = (r.key or b"").decode()
                    futures.append(
                        await producer.send(
                            topics.inbox(recipient), r.value, key=r.key, headers=r.headers
                        )
                    )
            if futures:
                await asyncio.gather(*futures)
                try:
                    await consumer.commit()
                except (CommitFailedError, IllegalGenerationError, RebalanceInProgressError):
                    # A rebalance took these partitions away: the new owner replays
                    # from the last commit (duplicates, which recipients drop).
                    print("commit lost to a rebalance", flush=True)
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(relay(sys.argv[1], sys.argv[2], sys.argv[3]))
