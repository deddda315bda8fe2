"""A Faust worker runs as the ``hub`` principal on the secure broker.

It proves that the hub's ACLs are enough for Faust itself (its consumer group
named by the app id, reading an outbox, writing an inbox) and that
``hub.app.kafka.faust_credentials`` gives Faust working SCRAM-over-TLS
settings. The app is the shape of ``hub.app.main`` (raw bytes, no topic
declaration, no leader topic) without the hub's logic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.app.kafka import client_env
from hub.home import StateDir
from hub.ops import broker as kafka_local
from hub.ops import security as ks
from hub.topics import HUB, Topics
from tests.support.secure import secure_broker

pytestmark = [pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[2]
T = Topics("sf")

APP = textwrap.dedent(
    """
    import os
    from pathlib import Path

    import faust

    from hub.app.kafka import client_config_from_file, faust_credentials

    config = client_config_from_file(Path(os.environ["TRM_KAFKA_CLIENT_CONFIG"]))
    app = faust.App(
        os.environ["APP_ID"],
        broker=f"kafka://{os.environ['BOOTSTRAP']}",
        broker_credentials=faust_credentials(config),
        value_serializer="raw",
        key_serializer="raw",
        web_port=int(os.environ["WEB_PORT"]),
        web_host="127.0.0.1",
        datadir=os.environ["DATADIR"],
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    outbox = app.topic(os.environ["SOURCE"], value_type=bytes)
    inbox = app.topic(os.environ["SINK"], value_type=bytes)


    @app.agent(outbox)
    async def route(stream):
        async for event in stream.events():
            await inbox.send(key=event.key, value=event.value)
            yield None
    """
)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StateDir]]:
    with secure_broker(tmp_path_factory.mktemp("secure-faust"), T) as running:
        yield running.bootstrap, running.state


async def test_faust_worker_as_hub_routes_on_the_secure_broker(
    secure: tuple[str, StateDir], tmp_path: Path
) -> None:
    bootstrap, state = secure
    (tmp_path / "secure_faust_app.py").write_text(APP, encoding="utf-8")
    env = {
        **client_env(HUB, state),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{tmp_path}:{REPO}",
        "APP_ID": ks.group_prefix(HUB, T),
        "BOOTSTRAP": bootstrap,
        "WEB_PORT": str(kafka_local.free_port()),
        "DATADIR": str(tmp_path / "faust"),
        "SOURCE": T.outbox("KH"),
        "SINK": T.inbox("CN"),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: ASYNC220 - starts at once; the worker runs apart
        [sys.executable, "-m", "faust", "-A", "secure_faust_app", "worker", "-l", "warn"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        kh = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", **ks.client_config("KH", state=state)
        )
        await kh.start()
        try:
            await kh.send_and_wait(T.outbox("KH"), b"alert for CN", key=b"case-1")
        finally:
            await kh.stop()
        cn = AIOKafkaConsumer(
            T.inbox("CN"),
            bootstrap_servers=bootstrap,
            group_id=ks.group_prefix("CN", T) + "inbox",
            auto_offset_reset="earliest",
            **ks.client_config("CN", state=state),
        )
        await cn.start()
        got: list[bytes] = []
        try:
            deadline = asyncio.get_running_loop().time() + 90
            while not got and asyncio.get_running_loop().time() < deadline:
                batch = await cn.getmany(timeout_ms=1000)
                got += [bytes(r.value) for rs in batch.values() for r in rs]
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        finally:
            await cn.stop()
        assert got == [b"alert for CN"], (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        log.close()
