"""The hub, its audit sequencer and the auditor on the secure broker, each as its own principal.

Broker with TLS + SCRAM and deny-by-default ACLs (``trm kafka up --secure``'s
setup); the operator provisions the registry as admin; ``trm hub worker`` and
``trm audit sequencer`` connect as ``hub``; Thailand publishes as ``th``;
Cambodia reads its inbox as ``kh`` and witnesses the log; ``trm audit replay``
runs as ``auditor`` and finds everything in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.app.kafka import client_env
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops import security as ks
from hub.topics import HUB, Topics
from hub.wire import Envelope, cloudevents_headers, seal
from tests.support.examples import AGREEMENTS_DIR, HUB_KEY, TRUST, example_key, example_payload
from tests.support.procs import TRM, Proc
from tests.support.secure import secure_broker

pytestmark = [pytest.mark.kafka]

T = Topics("sh")


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, StateDir]]:
    with secure_broker(tmp_path_factory.mktemp("secure-hub"), T) as running:
        yield running.bootstrap, running.state


async def _publish_as_th(bootstrap: str, state: StateDir) -> Envelope:
    env = seal(
        "referral",
        example_payload("referral"),
        producer="TH",
        key=example_key("TH"),
        recipients=["KH"],
        purpose="repatriation",
        handling="H2",
        case_key="case-secure",
        sequence=1,
        created_at_ms=time.time_ns() // 1_000_000,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", **ks.client_config("TH", state=state)
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            T.outbox("TH"),
            env.to_bytes(),
            key=b"case-secure",
            headers=list(cloudevents_headers(env.header)),
        )
    finally:
        await producer.stop()
    return env


async def _kh_inbox(bootstrap: str, state: StateDir) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **ks.client_config("KH", state=state)
    )
    await consumer.start()
    try:
        parts = [TopicPartition(T.inbox("KH"), p) for p in range(3)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        batch = await consumer.getmany(timeout_ms=2000)
        return [r.value for records in batch.values() for r in records if r.value]
    finally:
        await consumer.stop()


def test_hub_sequencer_and_auditor_work_under_acls(secure: tuple[str, StateDir]) -> None:
    bootstrap, state = secure
    write_private_key(HUB_KEY, state.private_key("HUB"))
    write_private_key(example_key("KH"), state.private_key("KH"))
    state.trust.write_text(json.dumps(TRUST.document.to_json()), encoding="utf-8")
    state.agreements.mkdir(exist_ok=True)
    for f in AGREEMENTS_DIR.glob("*.yaml"):
        shutil.copy(f, state.agreements / f.name)
    env = {**os.environ, "TRM_HOME": str(state.root)}
    env.pop("TRM_KAFKA_CLIENT_CONFIG", None)
    common = ["--bootstrap", bootstrap, "--namespace", T.namespace]
    done = subprocess.run(
        [TRM, "hub", "provision", *common],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    hub = Proc([TRM, "hub", "worker", *common], state.root, "hub")
    seq = Proc(
        [
            TRM,
            "audit",
            "sequencer",
            *common,
            "--web-port",
            str(kafka_local.free_port()),
            "--every-ms",
            "1000",
        ],
        state.root,
        "sequencer",
    )
    os.environ["TRM_HOME"] = str(state.root)
    try:
        hub.start()
        seq.start()
        sent = asyncio.run(_publish_as_th(bootstrap, state))
        deadline = time.monotonic() + 90
        got: list[bytes] = []
        while not got and time.monotonic() < deadline:
            hub.alive()
            seq.alive()
            got = asyncio.run(_kh_inbox(bootstrap, state))
        assert got, hub.log.read_text(errors="replace")[-3000:]
        delivered = Envelope.from_bytes(got[0])
        assert delivered.header.event_id == sent.header.event_id
        assert delivered.attestations  # the hub attested it, as the hub principal
        time.sleep(3.0)  # a checkpoint covering the decisions
        replay = subprocess.run(
            [TRM, "audit", "replay", *common],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr[-2000:]
        assert "OK:" in replay.stdout
        witness = subprocess.run(
            [TRM, "audit", "witness", "--country", "KH", *common],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert witness.returncode == 0, witness.stderr
        assert "KH cosigned" in witness.stdout
    finally:
        os.environ.pop("TRM_HOME", None)
        seq.stop()
        hub.stop()


def test_credentials_are_private(secure: tuple[str, StateDir]) -> None:
    _, state = secure
    creds = ks.security_dir(state) / "credentials"
    files = list(creds.glob("*.json"))
    assert files
    assert all((f.stat().st_mode & 0o077) == 0 for f in files)
    assert Path(client_env(HUB, state)["TRM_KAFKA_CLIENT_CONFIG"]).exists()
