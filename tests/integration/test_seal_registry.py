"""Seal-key sets on the real broker: rotate and publish, then read the directory back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from click.testing import CliRunner
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from connectors.cli import main
from hub.app.seal_registry import publish_seal_keys, read_seal_keys, seal_keys_key
from hub.home import StateDir
from hub.sealkeys import Keyring, SealKeySet, build_seal_key_set
from hub.topics import Topics
from tests.support.kafka import read_topic
from tests.support.nodes import KEYS, trust_list, write_state

pytestmark = pytest.mark.kafka


async def test_rotate_publish_and_read_back_the_directory(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    write_state(home)
    trust = trust_list()
    runner = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": kafka_bootstrap})
    rotate = ["keys", "epoch", "rotate", "--country", "KH", "--namespace", topics.namespace]

    # KH rotates twice with the CLI; each rotation publishes the next version.
    first = await asyncio.to_thread(runner.invoke, main, rotate)
    assert first.exit_code == 0, first.output
    second = await asyncio.to_thread(runner.invoke, main, rotate)
    assert second.exit_code == 0, second.output
    assert f"published to {topics.registry_seal_keys}" in second.stderr
    kh_old, kh_new = first.stdout.strip(), second.stdout.strip()

    # TH rotates through the API and publishes its own set.
    now = time.time_ns() // 1_000_000
    th_ring = Keyring.of(StateDir(home), "TH")
    th_key = th_ring.rotate(now)
    th_set = SealKeySet.from_signed(th_ring.seal_key_set(1, now).with_signature(KEYS["TH"]), trust)
    await publish_seal_keys(kafka_bootstrap, topics, th_set)

    # TH may write the topic, but not speak for KH: a forged KH version 3 is refused.
    forged = build_seal_key_set(
        "KH",
        [dataclasses.replace(th_key, country="KH")],
        version=3,
        issued_at_ms=now,
        signers=[KEYS["TH"]],
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.registry_seal_keys,
            json.dumps(forged.to_json()).encode(),
            key=seal_keys_key("KH", 3),
        )
    finally:
        await producer.stop()

    records = await read_topic(kafka_bootstrap, topics.registry_seal_keys)
    assert [r.key for r in records] == [
        b"KH/0000000001",
        b"KH/0000000002",
        b"TH/0000000001",
        b"KH/0000000003",
    ]

    with caplog.at_level(logging.WARNING, logger="hub.app.seal_registry"):
        directory = await read_seal_keys(kafka_bootstrap, topics, trust)
    assert "KEY_ROLE_NOT_ALLOWED" in caplog.text
    kh = directory.set_for("KH")
    assert kh is not None
    assert kh.version == 2
    assert [k.key_id for k in kh.keys] == [kh_old, kh_new]
    later = time.time_ns() // 1_000_000
    assert directory.key_for("KH", later).key_id == kh_new
    assert directory.key_for("TH", later).key_id == th_key.key_id

    # What a producer seals to the published key, KH's keyring opens.
    suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
    info = b"trm.key-wrap.v2\x00test"
    sealed = suite.encrypt(b"\x07" * 32, directory.key_for("KH", later).x25519(), info)
    private = Keyring.of(StateDir(home), "KH").private(kh_new)
    assert suite.decrypt(sealed, private, info) == b"\x07" * 32
