"""The real broker the project starts: round trip, CLI lifecycle, 3-node failover."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.ops import broker as kafka_local
from hub.topics import COMMIT_COUNTRIES, Topics

pytestmark = pytest.mark.kafka


async def _consume(
    bootstrap: str, topic: str, count: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_round_trip_with_headers_and_acks_all(kafka_bootstrap: str, topics: Topics) -> None:
    topic = topics.outbox("TH")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = []
        for i in range(20):
            md = await producer.send_and_wait(
                topic,
                value=bytes([i]) * 100,
                key=f"case-{i % 3}".encode(),
                headers=[("ce_id", f"id-{i}".encode()), ("content-type", b"application/avro")],
            )
            sent.append(md)
    finally:
        await producer.stop()
    got = await _consume(kafka_bootstrap, topic, 20)
    assert sorted(r.value for r in got) == sorted(bytes([i]) * 100 for i in range(20))
    by_value = {r.value: dict(r.headers) for r in got}
    assert by_value[bytes([7]) * 100] == {"ce_id": b"id-7", "content-type": b"application/avro"}
    # One case key stays on one partition, in order.
    per_key: dict[bytes, set[int]] = {}
    for r in got:
        per_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(parts) == 1 for parts in per_key.values())


async def test_project_topics_exist_with_their_policies(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        expected = Topics().all()
        assert set(expected) <= names
        for cc in COMMIT_COUNTRIES:
            assert {f"trm.{cc}.outbox", f"trm.{cc}.inbox", f"trm.{cc}.rejections"} <= names
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, Topics().registry_trust)]
        )
        configs = {entry[0]: entry[1] for entry in described[0].resources[0][4]}
        assert configs["cleanup.policy"] == "compact"
    finally:
        await admin.close()


def _trm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "trm"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_up_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "TRM_HOME": str(tmp_path / "state")}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    up = _trm("kafka", "up", env=env)
    try:
        assert up.returncode == 0, up.stderr
        bootstrap = up.stdout.strip().splitlines()[-1]
        assert bootstrap.startswith("127.0.0.1:")
        assert (tmp_path / "state/kafka/bootstrap").read_text().strip() == bootstrap
        again = _trm("kafka", "up", env=env)
        assert again.returncode == 1
        assert "trm kafka down" in again.stderr
        status = _trm("kafka", "status", env=env)
        assert status.returncode == 0
        assert "running pid" in status.stdout
        cluster = kafka_local.load_cluster(tmp_path / "state/kafka")
        assert cluster is not None
        (pid,) = cluster.pids()
        assert pid is not None
    finally:
        down = _trm("kafka", "down", env=env)
    assert down.returncode == 0, down.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    status = _trm("kafka", "status", env=env)
    assert status.returncode == 1
    assert "rejected: KAFKA_UNAVAILABLE" in status.stderr


def test_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    from hub.errors import OperationalError, Reason

    with pytest.raises(OperationalError) as info:
        kafka_local.check_tools("java", "mvn")
    assert info.value.reason is Reason.TOOL_MISSING
    assert "openjdk-17-jre-headless" in info.value.detail


@pytest.mark.cluster
async def test_three_nodes_lose_one_and_lose_nothing(
    kafka_cluster3: kafka_local.LocalCluster,
) -> None:
    cluster = kafka_cluster3
    names = Topics("failover")
    topic = names.outbox("TH")
    plan = {spec.name: spec for spec in names.plan()}
    await kafka_local.create_topics(
        cluster.bootstrap,
        [plan[topic], plan[names.audit_leaves]],
        replication_factor=3,
        min_insync_replicas=2,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await admin.start()
    try:
        (meta,) = await admin.describe_topics([topic])
        assert all(len(p["replicas"]) == 3 for p in meta["partitions"])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=cluster.bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=30000,
    )
    await producer.start()
    try:
        for i in range(500):
            await producer.send(topic, value=f"m{i}".encode(), key=str(i % 7).encode())
        await producer.flush()
        await asyncio.to_thread(cluster.stop_node, 1, kill=True)  # a crash, not a clean stop
        for i in range(500, 1000):
            await producer.send(topic, value=f"m{i}".encode(), key=str(i % 7).encode())
        await producer.flush()
    finally:
        await producer.stop()

    got = await _consume(cluster.bootstrap_without(1), topic, 1000, timeout_s=90)
    values = [r.value.decode() for r in got]
    assert sorted(values) == sorted(f"m{i}" for i in range(1000))
    assert len(values) == len(set(values))

    await asyncio.to_thread(cluster.start_node, 1)
    await cluster.wait_ready_async(120, brokers=3)
    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(plan[topic].partitions)]
        ends = await consumer.end_offsets(parts)
        assert sum(ends.values()) == 1000
    finally:
        await consumer.stop()


def test_status_and_down_leave_alone_a_process_that_reuses_a_brokers_pid(tmp_path: Path) -> None:
    """After a crash or a reboot the recorded pid is someone else's: never signalled.

    The stranger here even names the node's server.properties on its command
    line (an operator's ``tail -f``): only the recorded start time tells it apart.
    """
    env = {**os.environ, "TRM_HOME": str(tmp_path / "state")}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    node = tmp_path / "state" / "kafka" / "node1"
    node.mkdir(parents=True)
    (node / "server.properties").write_text("node.id=1\n")
    stranger = subprocess.Popen(["tail", "-f", str(node / "server.properties")])
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        manifest = {
            "kafka_version": kafka_local.KAFKA_VERSION,
            "bootstrap": "127.0.0.1:1",
            "client_listener": "PLAINTEXT",
            "heap": "512m",
            "nodes": [
                {
                    "node_id": 1,
                    "client_port": 1,
                    "controller_port": 2,
                    "directory": str(node),
                    "pid": stranger.pid,
                    "start_ticks": 1,  # the broker that crashed started right after boot
                    "boot_id": boot_id,
                }
            ],
        }
        (node.parent / "cluster.json").write_text(json.dumps(manifest))
        (node / "broker.pid").write_text(f"{stranger.pid}\n")

        status = _trm("kafka", "status", env=env)
        assert status.returncode == 1, status.stdout
        assert "node 1: stopped" in status.stdout
        assert f"pid {stranger.pid} now belongs to another process" in status.stdout
        down = _trm("kafka", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert f"pid {stranger.pid} now belongs to another process; left alone" in down.stderr
        assert stranger.poll() is None  # never signalled
        up_again = _trm("kafka", "status", env=env)
        assert f"pid {stranger.pid}" not in up_again.stdout  # forgotten
    finally:
        stranger.kill()
        stranger.wait()
