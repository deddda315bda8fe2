"""A Faust worker, run as a subprocess, moves raw bytes between two real topics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from hub.ops import broker as kafka_local
from hub.topics import Topics

pytestmark = pytest.mark.kafka
REPO = Path(__file__).resolve().parents[2]


async def test_faust_worker_relays_raw_bytes_and_headers(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    source, sink = topics.outbox("TH"), topics.inbox("KH")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RELAY_BOOTSTRAP": kafka_bootstrap,
        "RELAY_SOURCE": source,
        "RELAY_SINK": sink,
        "RELAY_APP_ID": f"relay-{topics.namespace}",
        "RELAY_WEB_PORT": str(kafka_local.free_port()),
        "RELAY_DATADIR": str(tmp_path / "faust"),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: ASYNC220 - starts at once; the worker runs apart
        [sys.executable, "-m", "faust", "-A", "tests.integration.faust_relay_app", "worker",
         "-l", "warn"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    # Bytes that are not valid UTF-8, JSON or Avro must pass untouched.
    payloads = [bytes([0xC3, 0x01, i, 0xFF, 0x00]) + os.urandom(32) for i in range(50)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    consumer = AIOKafkaConsumer(
        sink, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        for i, value in enumerate(payloads):
            await producer.send_and_wait(
                source, value, key=b"case-1", headers=[("ce_id", str(i).encode())]
            )
        got: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(120):
            while len(got) < len(payloads):
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(records)
    finally:
        await consumer.stop()
        await producer.stop()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
    assert [r.value for r in got] == payloads  # same bytes, same order (one key)
    assert all(dict(r.headers)["relayed-by"] == b"faust" for r in got)
    assert [dict(r.headers)["ce_id"] for r in got] == [str(i).encode() for i in range(50)]
