"""A small KRaft launcher for the security and fault tests.

It starts 1 or 3 combined broker+controller nodes on free loopback ports from
the cached Kafka jars (``connectors.kafka_local.ensure_jars`` when present, else
the same cache directory), with extra broker properties and StorageTool format
arguments, so the secure broker is provisioned exactly as ``trm kafka up
--secure`` does, and a fault test can stop and restart single nodes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import kafka_security as ks
from connectors.state import StateDir

__all__ = ["Cluster", "SecureBroker", "free_port", "jars_dir", "start_secure_broker"]

_LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jars_dir() -> Path:
    """The Kafka 3.9.2 jars (fetched by Maven from deploy/kafka/pom.xml if missing)."""
    try:
        from connectors.kafka_local import ensure_jars  # type: ignore[import-not-found,unused-ignore]

        return Path(ensure_jars())
    except ImportError:
        pass
    cache = Path(os.environ.get("TRM_KAFKA_CACHE", Path.home() / ".cache/trm/kafka-3.9.2"))
    lib = cache / "lib"
    if not any(lib.glob("kafka_2.13-*.jar")):
        pom = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"
        subprocess.run(
            [
                "mvn",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={lib}",
                "-DincludeScope=runtime",
            ],
            check=True,
            timeout=600,
        )
    return lib


@dataclass
class _Node:
    node_id: int
    client_port: int
    controller_port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"


@dataclass
class Cluster:
    """``nodes`` combined KRaft nodes under ``root``; call :meth:`start`, then :meth:`stop`."""

    root: Path
    nodes: int = 1
    secure: ks.SecureSetup | None = None
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    heap: str = "384m"
    _nodes: list[_Node] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.client_port}" for n in self._nodes)

    def bootstrap_without(self, index: int) -> str:
        return ",".join(
            f"127.0.0.1:{n.client_port}" for i, n in enumerate(self._nodes) if i != index
        )

    @property
    def client_config(self) -> dict[str, Any]:
        return self.secure.admin_config if self.secure else {}

    def _properties(self, node: _Node) -> dict[str, str]:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self._nodes)
        client = ks.CLIENT_LISTENER if self.secure else "PLAINTEXT"
        rf = str(min(3, self.nodes))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"{client}://127.0.0.1:{node.client_port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"{client}://127.0.0.1:{node.client_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.directory / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": str(min(2, self.nodes)),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
        }
        if self.secure:
            props.update(self.secure.broker_properties)
        props.update(self.extra_properties)
        return props

    def start(self, timeout_s: float = 90.0) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log4j.properties").write_text(_LOG4J, encoding="utf-8")
        self._nodes = [
            _Node(i + 1, free_port(), free_port(), self.root / f"node{i + 1}")
            for i in range(self.nodes)
        ]
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        fmt = list(self.secure.format_args) if self.secure else []
        for node in self._nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            text = "".join(f"{k}={v}\n" for k, v in self._properties(node).items())
            fd = os.open(node.properties_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(node.properties_file),
                    *fmt,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        for i in range(self.nodes):
            self.start_node(i)
        self.wait_ready(timeout_s)
        return self

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{self.root / 'log4j.properties'}",
            "-cp",
            f"{jars_dir()}/*",
        ]

    def start_node(self, index: int) -> None:
        node = self._nodes[index]
        log = node.log_file.open("ab")
        node.proc = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(node.properties_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def stop_node(self, index: int, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        node = self._nodes[index]
        if node.proc is None:
            return
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                node.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)
        node.proc = None

    def stop(self) -> None:
        for i in range(len(self._nodes)):
            self.stop_node(i)

    def wait_ready(self, timeout_s: float = 90.0, *, brokers: int | None = None) -> None:
        """Wait until a metadata request lists ``brokers`` (default: all) live brokers."""
        asyncio.run(self.wait_ready_async(timeout_s, brokers=brokers))

    async def wait_ready_async(
        self, timeout_s: float = 90.0, *, brokers: int | None = None
    ) -> None:
        from aiokafka.client import AIOKafkaClient

        want = brokers or self.nodes
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            for node in self._nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(
                        f"broker {node.node_id} exited {node.proc.returncode}: "
                        + node.log_file.read_text(errors="replace")[-3000:]
                    )
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap, **self.client_config)
            try:
                await client.bootstrap()
                await client.force_metadata_update()
                if len(client.cluster.brokers()) >= want:
                    return
                last = f"{len(client.cluster.brokers())} brokers"
            except Exception as exc:
                last = exc
            finally:
                await client.close()
            await asyncio.sleep(0.5)
        raise RuntimeError(f"cluster not ready after {timeout_s}s: {last!r}")

    def pid(self, index: int) -> int | None:
        proc = self._nodes[index].proc
        return proc.pid if proc else None


@dataclass
class SecureBroker:
    """A running secure single broker and the state directory it was provisioned in."""

    cluster: Cluster
    state: StateDir
    setup: ks.SecureSetup

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap

    @property
    def properties_file(self) -> Path:
        return self.cluster._nodes[0].properties_file


@contextmanager
def start_secure_broker(
    state: StateDir, *, topics: Sequence[str] | None = None, nodes: int = 1
) -> Iterator[SecureBroker]:
    """Provision (as ``trm kafka up --secure``), start, create topics and ACLs, yield, stop."""
    setup = ks.provision_secure(state)
    cluster = Cluster(state.kafka / "cluster", nodes=nodes, secure=setup)
    try:
        cluster.start()
        asyncio.run(_finish(cluster, setup))
        yield SecureBroker(cluster, state, setup)
    finally:
        cluster.stop()


async def _finish(cluster: Cluster, setup: ks.SecureSetup) -> None:
    from hub.topics import Topics

    await ks.ensure_topics(
        cluster.bootstrap, setup.admin_config, Topics(), replication_factor=cluster.nodes
    )
    await setup.finish(cluster.bootstrap)
