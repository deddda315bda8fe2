"""``trm kafka up --secure`` end to end: what a newcomer types, then a country connects."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from hub.app.kafka import default_client_config
from hub.home import StateDir
from hub.ops import security as ks
from hub.topics import ADMIN, Topics

pytestmark = [pytest.mark.kafka]


def _trm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRM_HOME": str(home)}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-c", "from connectors.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_trm_kafka_up_secure_gives_each_country_its_lane(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _trm(home, "kafka", "up", "--secure")
    try:
        assert up.returncode == 0, up.stderr
        bootstrap = up.stdout.strip().splitlines()[-1]
        state = StateDir(home)
        assert state.bootstrap_file.read_text().strip() == bootstrap
        t = Topics()
        kh = default_client_config("KH", state)  # what every verb picks up by default
        assert kh["security_protocol"] == "SASL_SSL"
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **kh)
        await p.start()
        try:
            await p.send_and_wait(t.outbox("KH"), b"from KH")
            with pytest.raises(TopicAuthorizationFailedError):
                await asyncio.wait_for(p.send_and_wait(t.outbox("TH"), b"as TH"), 15)
        finally:
            await p.stop()
        plain = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(plain.start(), 20)
        await plain.stop()
        found = await ks.describe_acls(bootstrap, ks.client_config(ADMIN, state=state))
        assert found == set(ks.acl_bindings(t))
    finally:
        down = _trm(home, "kafka", "down")
        assert down.returncode == 0, down.stderr
