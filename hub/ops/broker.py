"""Local Apache Kafka 3.9.2 in KRaft mode, on 127.0.0.1, for the demo and the tests.

The jars come from Maven Central through ``hub/ops/data/pom.xml`` (package data) into a cache
directory (``$TRM_KAFKA_CACHE``, default ``~/.cache/trm/kafka-3.9.2``), never into
the repository. Each node is one ``java -cp 'lib/*' kafka.Kafka`` process acting
as broker and controller, started in its own session so it outlives the command
that started it; its pid, log and config live under the data directory, and a
``cluster.json`` manifest there lets ``trm kafka status|down`` find exactly the
processes that ``trm kafka up`` started.

A cluster counts as ready only when a real client metadata request lists every
node: a listening socket is not a working broker.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import logging
import os
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from hub.durable import held_lock
from hub.errors import OperationalError, Reason
from hub.ops.process import ProcessIdentity, start_ticks
from hub.topics import TopicSpec

__all__ = [
    "KAFKA_VERSION",
    "LocalCluster",
    "Progress",
    "cache_dir",
    "check_tools",
    "create_topics",
    "ensure_jars",
    "free_port",
    "load_cluster",
    "log_tail",
    "port_pool",
    "require_free_port",
]

KAFKA_VERSION = "3.9.2"
# Package data (hub/ops/data): the Maven pom and the broker config templates ship
# with the package, so an installed ``trm`` runs a broker from any directory.
_DATA = resources.files("hub.ops") / "data"
_MANIFEST = "cluster.json"
_INSTALL_HINT = {
    "java": "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
    "mvn": "Apache Maven (Debian: apt-get install maven)",
}


def cache_dir() -> Path:
    """Where the Kafka jars are kept: ``$TRM_KAFKA_CACHE`` or ``~/.cache/trm/kafka-3.9.2``."""
    env = os.environ.get("TRM_KAFKA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "trm" / f"kafka-{KAFKA_VERSION}"


def check_tools(*tools: str) -> None:
    """Refuse early, naming what to install, when ``java`` or ``mvn`` is missing."""
    for tool in tools or ("java", "mvn"):
        if shutil.which(tool) is None:
            raise OperationalError(
                Reason.TOOL_MISSING,
                f"expected '{tool}' on PATH to run Kafka; install {_INSTALL_HINT.get(tool, tool)}",
            )


def ensure_jars(cache: Path | None = None) -> Path:
    """The directory of Kafka's runtime jars, fetched by Maven if missing.

    A directory counts only once a whole fetch has landed in it: Maven fills a fresh
    directory, which takes the place of ``lib`` with a marker written last, so a fetch
    cut short (or one still running) is never taken for the jars.
    """
    lib = (cache or cache_dir()) / "lib"
    if _jars_in(lib):
        return lib
    check_tools("java", "mvn")
    lib.parent.mkdir(parents=True, exist_ok=True)
    # Processes that start at once (the test suite's workers, two shells) fetch once: the
    # others wait on the lock and find the jars.
    with held_lock(lib.parent / ".fetch.lock"):
        if not _jars_in(lib):
            _fetch_jars(lib)
    return lib


_JARS_COMPLETE = ".complete"  # written last into a directory a whole fetch filled


def _jars_in(lib: Path) -> bool:
    return (lib / _JARS_COMPLETE).is_file()


def _fetch_jars(lib: Path) -> None:
    """Maven into a fresh directory, then that directory in place of ``lib`` (lock held)."""
    part = lib.with_name(f"{lib.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir()
    try:
        _maven_copy(part)
        (part / _JARS_COMPLETE).write_text(f"Kafka {KAFKA_VERSION}\n", encoding="utf-8")
        old = lib.with_name(f"{lib.name}.old-{os.getpid()}")
        if lib.exists():  # a fetch cut short, or jars from before the marker
            lib.rename(old)
        part.rename(lib)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(part, ignore_errors=True)


def _maven_copy(into: Path) -> None:
    try:
        with resources.as_file(_DATA / "pom.xml") as pom:
            cmd = [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={into}",
                "-DincludeScope=runtime",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, "expected Maven to fetch the Kafka jars within 15 minutes"
        ) from exc
    # the broker, and the performance tools `make bench` runs (both in the pom)
    wanted = (f"kafka_2.13-{KAFKA_VERSION}.jar", f"kafka-tools-{KAFKA_VERSION}.jar")
    if done.returncode != 0 or not all((into / name).is_file() for name in wanted):
        tail = (done.stdout + done.stderr)[-2000:]
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected Maven to fetch Kafka {KAFKA_VERSION} ({', '.join(wanted)}); it exited "
            f"{done.returncode}: {tail}",
        )


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PORTS_GIVEN: set[int] = set()  # never hand the same port out twice in one process
# Its own source: a test that seeds the shared ``random`` would make processes agree.
_PORT_RANDOM = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def port_pool() -> range:
    """The ports ``free_port`` draws from: ``$TRM_FREE_PORTS`` (``low-high``, high excluded)
    or the 12,000 ports below the kernel's ephemeral range.

    Processes that pick ports at once and cannot see each other's picks (the test suite's
    workers: tests/conftest.py) each set a part of the pool of their own; the processes
    they start inherit it.
    """
    given = os.environ.get("TRM_FREE_PORTS")
    if given:
        low_s, _, high_s = given.partition("-")
        if not (low_s.isdigit() and high_s.isdigit() and 1024 <= int(low_s) < int(high_s) <= 65536):
            raise OperationalError(
                Reason.CONFIG_INVALID,
                "expected TRM_FREE_PORTS as low-high with 1024 <= low < high <= 65536;"
                f" found {given!r}",
            )
        return range(int(low_s), int(high_s))
    low = _ephemeral_low()
    return range(max(1024, low - 12_000), low) if low > 11_024 else range(0)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at this moment, below the ephemeral range.

    The port that ``bind(0)`` gives is drawn from the kernel's ephemeral range,
    the same range every outgoing connection's local port comes from. Between
    this pick and the server's own bind, a Kafka client connecting somewhere
    can take it (seen: 'trm up' lost a matching evaluator's status port to a
    connection made while it started). A port below that range is never given
    to an outgoing connection, and this process never hands one out twice.
    Where the range cannot be read, or leaves too little room below it, the
    kernel's pick is the fallback.
    """
    pool = port_pool()
    for _ in range(200):
        if not pool:
            break
        port = _PORT_RANDOM.choice(pool)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _PORTS_GIVEN.add(port)
    return port


def require_free_port(host: str, port: int, *, what: str) -> None:
    """Refuse before starting a server whose address is taken or cannot be had.

    Binds ``host:port`` as the server will (address reuse on, as aiohttp does)
    and lets it go. A web server that finds its port taken only after
    connecting to Kafka dies with a traceback; this says so first, plainly.

    Raises:
        OperationalError: CONFIG_INVALID naming the address and what to change.
    """
    if not 0 < port < 65536:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a {what} port of 1-65535, got {port}"
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a {what} address that resolves (e.g. 127.0.0.1), got {host!r}",
        ) from exc
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            probe.listen(1)
        except OSError as exc:
            busy = exc.errno == errno.EADDRINUSE
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected to listen on {host}:{port} for the {what}; "
                + (
                    "another process is listening there (choose another port)"
                    if busy
                    else f"the address cannot be used here: {exc.strerror}"
                ),
            ) from exc


class Progress:
    """One line on stderr while something is awaited, e.g. "waiting for the broker (3 s)".

    On a terminal the line is rewritten in place; elsewhere (a log, a test's
    captured stderr) it is written once, and :meth:`done` ends it.
    """

    def __init__(self, what: str, stream: TextIO | None = None) -> None:
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self._shown = False

    def update(self, what: str | None = None) -> None:
        if what is not None:
            self.what = what
        if self.tty:
            line = f"waiting for {self.what} ({time.monotonic() - self.started:.0f} s)"
            self.stream.write(f"\r{line}\x1b[K")
            self.stream.flush()
        elif not self._shown:
            self.stream.write(f"waiting for {self.what} ...\n")
            self.stream.flush()
        self._shown = True

    def done(self, message: str | None = None) -> None:
        """End the line: with ``message`` (e.g. "broker ready"), or just clear it."""
        elapsed = time.monotonic() - self.started
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
        if message is not None:
            self.stream.write(f"{message} ({elapsed:.0f} s)\n")
        self.stream.flush()


def _runs(node: _Node) -> bool:
    """The node's pid is still the JVM that was started there, not a reused pid.

    Its start time and boot must be the recorded ones (``hub.ops.process``),
    and its command line, once the launcher has exec'd, must name the node's
    own server.properties.
    """
    identity = node.identity
    if identity is None or not identity.is_running():
        return False
    try:
        cmdline = Path(f"/proc/{identity.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return not cmdline or str(node.properties_file).encode() in cmdline


@dataclass
class _Node:
    node_id: int
    client_port: int
    controller_port: int
    directory: Path
    pid: int | None = None
    start_ticks: int | None = None  # of the process started (hub.ops.process)
    boot_id: str = ""

    @property
    def identity(self) -> ProcessIdentity | None:
        if self.pid is None:
            return None
        return ProcessIdentity(self.pid, self.start_ticks, self.boot_id)

    def is_foreign(self) -> bool:
        """The recorded pid is alive but is another process now (a crash, a reboot)."""
        if self.pid is None or _runs(self):
            return False
        return start_ticks(self.pid) is not None

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "broker.pid"


@dataclass
class LocalCluster:
    """``nodes`` combined KRaft nodes under ``data_dir``.

    ``extra_properties`` go into every node's config and ``format_args`` to
    every StorageTool format (e.g. SCRAM users); ``client_listener`` names the
    listener clients use and ``client_config`` the aiokafka settings to reach
    it (both set by ``hub.ops.security`` for a secure cluster).
    """

    data_dir: Path
    nodes: int = 1
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    format_args: Sequence[str] = ()
    client_listener: str = "PLAINTEXT"
    client_config: Mapping[str, Any] = field(default_factory=dict)
    heap: str = "512m"
    _nodes: list[_Node] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.client_port}" for n in self._nodes)

    def bootstrap_without(self, index: int) -> str:
        return ",".join(
            f"127.0.0.1:{n.client_port}" for i, n in enumerate(self._nodes) if i != index
        )

    def pids(self) -> list[int | None]:
        """Each node's pid while it is the node's own broker process, else None."""
        return [n.pid if _runs(n) else None for n in self._nodes]

    def foreign_pids(self) -> list[int | None]:
        """Each node's recorded pid if another process holds it now, else None."""
        return [n.pid if n.is_foreign() else None for n in self._nodes]

    @property
    def log_files(self) -> list[Path]:
        return [n.log_file for n in self._nodes]

    # --- lifecycle --------------------------------------------------------

    def start(self, timeout_s: float = 120.0) -> LocalCluster:
        """Format fresh storage, start every node, wait until all answer."""
        if self.nodes not in (1, 3):
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected 1 or 3 nodes, got {self.nodes}"
            )
        check_tools("java")
        lib = ensure_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j.properties").write_text(
            (_DATA / "log4j.properties").read_text(encoding="utf-8"), encoding="utf-8"
        )
        self._nodes = [
            _Node(i + 1, free_port(), free_port(), self.data_dir / f"node{i + 1}")
            for i in range(self.nodes)
        ]
        cluster_id = "-"
        while cluster_id.startswith("-"):  # StorageTool reads a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        for node in self._nodes:
            if node.directory.exists():
                shutil.rmtree(node.directory)
            node.directory.mkdir(parents=True)
            _write_private(node.properties_file, self._render(node))
            done = subprocess.run(
                [
                    *self._java(lib),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(node.properties_file),
                    *self.format_args,
                ],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            if done.returncode != 0:
                raise OperationalError(
                    Reason.KAFKA_UNAVAILABLE,
                    f"expected StorageTool to format {node.directory}; it exited "
                    f"{done.returncode}: {(done.stdout + done.stderr)[-1500:]}",
                )
        for i in range(self.nodes):
            self.start_node(i)
        self._save()
        try:
            self.wait_ready(timeout_s)
        except OperationalError:
            self.stop()
            raise
        return self

    def _render(self, node: _Node) -> str:
        template = "single.properties" if self.nodes == 1 else "cluster-node.properties"
        text = (_DATA / template).read_text(encoding="utf-8")
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self._nodes)
        rendered = string.Template(text).substitute(
            node_id=node.node_id,
            client_port=node.client_port,
            controller_port=node.controller_port,
            voters=voters,
            log_dirs=node.directory / "data",
            client_listener=self.client_listener,
        )
        lines = [rendered.rstrip("\n")]
        if self.extra_properties:
            lines.append("# --- added by the launcher (e.g. TLS, SASL, ACLs) ---")
            lines.extend(f"{k}={v}" for k, v in self.extra_properties.items())
        return "\n".join(lines) + "\n"

    def _java(self, lib: Path) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            f"-Xms{min(128, int(self.heap.rstrip('m')))}m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp",
            f"{lib}/*",
        ]

    def start_node(self, index: int) -> None:
        """Start (or restart) one node on its existing storage and ports."""
        node = self._nodes[index]
        if _runs(node):
            return
        with node.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [*self._java(ensure_jars()), "kafka.Kafka", str(node.properties_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI; stopped by pid
            )
        identity = ProcessIdentity.of(proc.pid)
        node.pid, node.start_ticks, node.boot_id = proc.pid, identity.start_ticks, identity.boot_id
        node.pid_file.write_text(f"{proc.pid}\n", encoding="utf-8")
        self._save()

    def stop_node(self, index: int, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        """Stop one node: SIGTERM (a clean shutdown) or SIGKILL (a crash).

        Only the node's own process is signalled (:func:`_runs`); a pid another
        process holds now is forgotten, never signalled.
        """
        node = self._nodes[index]
        identity = node.identity
        if identity is not None and _runs(node):
            identity.stop(timeout_s, kill=kill)
        node.pid, node.start_ticks, node.boot_id = None, None, ""
        node.pid_file.unlink(missing_ok=True)
        self._save()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node this cluster started (by pid): all at once, then wait.

        One at a time, the last nodes of a 3-node quorum cannot finish a clean
        shutdown without the others and sit out the whole timeout.
        """
        live = [p for n in self._nodes if (p := n.identity) is not None and _runs(n)]
        for identity in live:
            identity.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(p.is_running() for p in live) and time.monotonic() < deadline:
            time.sleep(0.1)
        for identity in live:
            if not identity.is_running():
                identity.wait_reaped()
        for i in range(len(self._nodes)):
            self.stop_node(i, kill=True, timeout_s=5.0)  # whatever is left, and the pid files

    def wait_ready(self, timeout_s: float = 120.0, *, brokers: int | None = None) -> None:
        """Block until a metadata request lists ``brokers`` (default: all) live brokers."""
        asyncio.run(self.wait_ready_async(timeout_s, brokers=brokers))

    async def wait_ready_async(self, timeout_s: float = 120.0, *, brokers: int | None) -> None:
        want = brokers or sum(1 for p in self.pids() if p)
        progress = Progress("the broker" if want == 1 else f"{want} brokers")
        # aiokafka logs "Unable connect to ..." on every refused attempt while the
        # JVM starts: a screen of noise. The progress line says the same once.
        aiokafka_log = logging.getLogger("aiokafka")
        level = aiokafka_log.level
        aiokafka_log.setLevel(logging.CRITICAL)
        try:
            await self._wait_ready(timeout_s, want, progress)
        finally:
            aiokafka_log.setLevel(level)

    async def _wait_ready(self, timeout_s: float, want: int, progress: Progress) -> None:
        from aiokafka.client import AIOKafkaClient  # noqa: PLC0415

        deadline = time.monotonic() + timeout_s
        last: object = "no answer"
        while time.monotonic() < deadline:
            progress.update()
            for node in self._nodes:
                if node.pid is not None and not _runs(node):
                    progress.done()
                    raise OperationalError(
                        Reason.KAFKA_UNAVAILABLE,
                        f"expected broker {node.node_id} to keep running; it exited. "
                        f"Last lines of {node.log_file}:\n{log_tail(node.log_file)}",
                    )
            client = AIOKafkaClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **self.client_config
            )
            try:
                await client.bootstrap()
                await client.force_metadata_update()
                seen = len(client.cluster.brokers())
                if seen >= want:
                    progress.done("broker ready" if want == 1 else f"{want} brokers ready")
                    return
                last = f"{seen} of {want} brokers"
            except Exception as exc:
                last = exc
            finally:
                await client.close()
            await asyncio.sleep(0.5)
        progress.done()
        tails = "\n".join(f"--- {n.log_file}:\n{log_tail(n.log_file)}" for n in self._nodes)
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected {want} broker(s) to answer a metadata request within {timeout_s:.0f}s; "
            f"last answer: {last!r}\n{tails}",
        )

    # --- manifest ---------------------------------------------------------

    def _save(self) -> None:
        manifest = {
            "kafka_version": KAFKA_VERSION,
            "bootstrap": self.bootstrap,
            "client_listener": self.client_listener,
            "heap": self.heap,
            "nodes": [
                {
                    "node_id": n.node_id,
                    "client_port": n.client_port,
                    "controller_port": n.controller_port,
                    "directory": str(n.directory),
                    "pid": n.pid,
                    "start_ticks": n.start_ticks,
                    "boot_id": n.boot_id,
                }
                for n in self._nodes
            ],
        }
        (self.data_dir / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def load_cluster(data_dir: Path) -> LocalCluster | None:
    """The cluster that ``trm kafka up`` started under ``data_dir``, if any."""
    path = data_dir / _MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a JSON cluster manifest at {path}: {exc}"
        ) from exc
    try:
        nodes = [
            _Node(
                int(n["node_id"]),
                int(n["client_port"]),
                int(n["controller_port"]),
                Path(n["directory"]),
                None if n.get("pid") is None else int(n["pid"]),
                # None in a manifest of before: that pid is never signalled
                None if n.get("start_ticks") is None else int(n["start_ticks"]),
                str(n.get("boot_id", "")),
            )
            for n in manifest["nodes"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a cluster manifest at {path} with node_id, ports, directory and pid "
            f"per node: {type(exc).__name__} {exc}",
        ) from exc
    return LocalCluster(
        data_dir,
        nodes=len(nodes),
        client_listener=manifest.get("client_listener", "PLAINTEXT"),
        heap=manifest.get("heap", "512m"),
        _nodes=nodes,
    )


async def create_topics(
    bootstrap: str,
    plan: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    client_config: Mapping[str, Any] | None = None,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the topics of ``plan`` (``Topics.plan()``) that are missing; return their names.

    Partitions and topic settings come from the plan; replication is the
    cluster's. Idempotent: existing topics are left as they are. Retries while
    the controller is still settling after start.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
    from aiokafka.errors import KafkaError, TopicAlreadyExistsError  # noqa: PLC0415

    specs = tuple(plan)
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    spec.name,
                    spec.partitions,
                    replication_factor,
                    topic_configs={"min.insync.replicas": str(min_insync_replicas), **spec.config},
                )
                for spec in specs
                if spec.name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                await _wait_for_leaders(admin, [t.name for t in missing], deadline)
            return [t.name for t in missing]
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise OperationalError(
                    Reason.KAFKA_UNAVAILABLE,
                    f"expected to create {len(specs)} topics on {bootstrap}: {exc!r}",
                ) from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def _wait_for_leaders(admin: Any, names: list[str], deadline: float) -> None:
    """Wait until every partition of ``names`` has a leader: ready for clients."""
    while True:
        described = await admin.describe_topics(names)
        if all(
            t.get("error_code", 0) == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        if time.monotonic() > deadline:
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE, f"expected leaders for {len(names)} new topics in time"
            )
        await asyncio.sleep(0.1)


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def _write_private(path: Path, text: str) -> None:
    # Broker configs of a secure cluster hold keystore passwords: owner-only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
