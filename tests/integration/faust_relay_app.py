"""A minimal Faust app for the foundation test: raw bytes in, the same bytes out.

It proves the stack the hub runs on (faust-streaming 0.15.3 on aiokafka 0.14,
against the project's own broker) before any hub logic: ``value_serializer="raw"``
so bytes are never re-encoded, headers read from ``event.message.headers`` and
forwarded, one worker subprocess with its own web port.

    python -m faust -A tests.integration.faust_relay_app worker

Configuration comes from the environment: RELAY_BOOTSTRAP, RELAY_SOURCE,
RELAY_SINK, RELAY_APP_ID, RELAY_WEB_PORT, RELAY_DATADIR.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import faust

app = faust.App(
    os.environ.get("RELAY_APP_ID", "trm-relay-test"),
    broker=f"kafka://{os.environ.get('RELAY_BOOTSTRAP', '127.0.0.1:9092')}",
    value_serializer="raw",
    key_serializer="raw",
    web_port=int(os.environ.get("RELAY_WEB_PORT", "6066")),
    web_host="127.0.0.1",
    datadir=os.environ.get("RELAY_DATADIR", "/tmp/trm-relay"),
    topic_allow_declare=False,
    topic_disable_leader=True,
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(os.environ.get("RELAY_SOURCE", "relay-in"), value_type=bytes)
sink = app.topic(os.environ.get("RELAY_SINK", "relay-out"), value_type=bytes)


@app.agent(source)
async def relay(stream: faust.StreamT[Any]) -> AsyncIterator[None]:
    async for event in stream.events():
        headers = dict(event.message.headers or [])
        headers["relayed-by"] = b"faust"
        await sink.send(key=event.key, value=event.value, headers=headers)
        yield None
