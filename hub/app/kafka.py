"""The one Kafka client module: settings, credentials, metadata and the topic reader.

Every process that talks to Kafka — the hub worker and audit sequencer (Faust),
the auditor's replay, a country node's SDK, the gateway, the operator's tools —
takes its client settings, its credentials, its view of the cluster's
partitions and its "read these topics" loop from here, so that a fix to any of
them reaches every caller.

Credentials are resolved by :func:`default_client_config`, in this order:

1. ``$TRM_KAFKA_CLIENT_CONFIG``: one principal's credentials file (JSON,
   mode 0600: ``username``, ``password``, ``sasl_mechanism``,
   ``security_protocol``, and ``ca_pem`` or ``ca_file``), e.g. the file an
   operator handed to a country, or the one ``trm kafka up --secure`` wrote;
2. ``$TRM_KAFKA_SASL_USERNAME`` with ``$TRM_KAFKA_SASL_PASSWORD_FILE`` and
   ``$TRM_KAFKA_CA_FILE``: separate files, as Kubernetes secrets mount them;
3. the principal's file under ``<state>/kafka/security/credentials/`` when
   ``trm kafka up --secure`` ran in that state directory
   (``$TRM_KAFKA_PRINCIPAL`` overrides the principal);
4. ``{}``: the plaintext local broker.

A password is never logged, and never part of an error message.

This module imports aiokafka but not Faust (:func:`faust_credentials` imports
Faust only when a Faust app calls it), so a country node can use it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import random
import ssl
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from hub.errors import OperationalError, Reason
from hub.home import StateDir, state_dir
from hub.topics import principal_of

__all__ = [
    "ENV_CA_FILE",
    "ENV_CLIENT_CONFIG",
    "ENV_PASSWORD_FILE",
    "ENV_PRINCIPAL",
    "ENV_USERNAME",
    "SCRAM_MECHANISM",
    "Follower",
    "Row",
    "acknowledge_offsets",
    "client_config_from_file",
    "client_env",
    "committed_only",
    "credentials_file",
    "default_client_config",
    "faust_credentials",
    "named_partition",
    "partition_name",
    "partitioner",
    "partitions",
    "read_all",
    "require_topic",
    "rows",
    "ssl_context",
    "wait_for_topics",
]

SCRAM_MECHANISM: Final = "SCRAM-SHA-512"
ENV_CLIENT_CONFIG: Final = "TRM_KAFKA_CLIENT_CONFIG"
ENV_PRINCIPAL: Final = "TRM_KAFKA_PRINCIPAL"
ENV_USERNAME: Final = "TRM_KAFKA_SASL_USERNAME"
ENV_PASSWORD_FILE: Final = "TRM_KAFKA_SASL_PASSWORD_FILE"  # noqa: S105 (a variable name)
ENV_CA_FILE: Final = "TRM_KAFKA_CA_FILE"


# --- credentials -------------------------------------------------------------------


def ssl_context(ca_file: Path | None = None, *, cadata: str | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ client context trusting the cluster's CA (a file or PEM text)."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None, cadata=cadata
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def credentials_file(principal: str, state: StateDir) -> Path:
    """Where ``trm kafka up --secure`` leaves ``principal``'s credentials file."""
    return state.security / "credentials" / f"{principal_of(principal)}.json"


def client_config_from_file(path: Path) -> dict[str, Any]:
    """aiokafka settings from one principal's credentials file (JSON, 0600).

    Raises:
        OperationalError: CONFIG_INVALID (missing/malformed), KEY_FILE_INSECURE.
    """
    try:
        mode = path.stat().st_mode & 0o777
        doc = json.loads(path.read_text(encoding="utf-8"))
        username, password = doc["username"], doc["password"]
        ca_pem, ca_file = doc.get("ca_pem"), doc.get("ca_file")
        if not (isinstance(ca_pem, str) or isinstance(ca_file, str)):
            raise KeyError("ca_pem")
    except FileNotFoundError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected Kafka client credentials at {path}; found none",
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected {path} to hold username, password and ca_pem; it is malformed",
        ) from exc
    if mode & 0o077:
        raise OperationalError(
            Reason.KEY_FILE_INSECURE,
            f"expected {path} to be readable by its owner only (0600), found {mode:04o}",
        )
    try:
        if isinstance(ca_pem, str):
            context = ssl_context(cadata=ca_pem)
        else:
            ca = Path(str(ca_file))
            context = ssl_context(ca if ca.is_absolute() else path.parent / ca)
    except (OSError, ssl.SSLError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a PEM CA certificate in {path}: {type(exc).__name__}",
        ) from exc
    return {
        "security_protocol": doc.get("security_protocol", "SASL_SSL"),
        "sasl_mechanism": doc.get("sasl_mechanism", SCRAM_MECHANISM),
        "sasl_plain_username": str(username),
        "sasl_plain_password": str(password),
        "ssl_context": context,
    }


def _client_config_from_env() -> dict[str, Any]:
    """Settings from separate files, as Strimzi's secrets mount them."""
    username = os.environ[ENV_USERNAME]
    password_file, ca_file = os.environ.get(ENV_PASSWORD_FILE), os.environ.get(ENV_CA_FILE)
    if not password_file or not ca_file:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected {ENV_PASSWORD_FILE} and {ENV_CA_FILE} with {ENV_USERNAME}; "
            f"got password file {password_file!r}, CA file {ca_file!r}",
        )
    try:
        password = Path(password_file).read_text(encoding="utf-8").strip()
        context = ssl_context(Path(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected readable {password_file} and {ca_file}: {type(exc).__name__}",
        ) from exc
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": SCRAM_MECHANISM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
        "ssl_context": context,
    }


def default_client_config(principal: str, state: StateDir | None = None) -> dict[str, Any]:
    """The aiokafka settings a process acting as ``principal`` connects with.

    See the module docstring for the order of the sources. The result plugs
    into ``AIOKafkaProducer(**cfg)``, ``AIOKafkaConsumer(**cfg)`` and
    ``AIOKafkaAdminClient(**cfg)``; :func:`faust_credentials` turns it into
    Faust's form.

    Raises:
        OperationalError: CONFIG_INVALID or KEY_FILE_INSECURE for a bad file.
    """
    env = os.environ.get(ENV_CLIENT_CONFIG)
    if env:
        return client_config_from_file(Path(env))
    if os.environ.get(ENV_USERNAME):
        return _client_config_from_env()
    home = state or state_dir()
    if (
        not (home.security / "secrets.json").exists()
        and not (home.security / "credentials").exists()
    ):
        return {}
    who = os.environ.get(ENV_PRINCIPAL) or principal
    return client_config_from_file(credentials_file(who, home))


def client_env(principal: str, state: StateDir) -> dict[str, str]:
    """Environment for a child process (hub worker, gateway) to connect as ``principal``.

    ``{"TRM_KAFKA_CLIENT_CONFIG": <its credentials file>}`` after ``trm kafka up
    --secure`` in ``state``; ``{}`` for a plaintext broker.
    """
    path = credentials_file(principal, state)
    return {ENV_CLIENT_CONFIG: str(path)} if path.exists() else {}


def committed_only(client: Mapping[str, Any]) -> dict[str, Any]:
    """``client`` for a consumer that reads only committed records.

    A reader of the audit leaves (the sequencer's restore, a replay, a
    witness) must not see a leaf of a transaction that was aborted or is
    still open: the sequencer writes each batch of leaves in a transaction,
    and one that died with a batch open leaves it aborted behind it
    (docs/protocol.md section 9.1). End offsets are then the last stable
    offset. For records written without transactions this reads the same.
    """
    return {**client, "isolation_level": "read_committed"}


def faust_credentials(config: Mapping[str, Any]) -> Any:
    """``faust.SASLCredentials`` for settings from :func:`default_client_config`, or None."""
    if not config:
        return None
    import faust  # noqa: PLC0415 - only the Faust apps call this

    return faust.SASLCredentials(
        username=config["sasl_plain_username"],
        password=config["sasl_plain_password"],
        ssl_context=config["ssl_context"],
        mechanism=config["sasl_mechanism"],
    )


def faust_fetch_wait(ms: int) -> None:
    """Cap how long a Faust worker's fetch waits at the broker for data (Faust fixes 1,500 ms).

    aiokafka (0.14) sends one fetch request per broker at a time and leaves out
    of it every partition whose fetched records the application has not taken
    yet (once they are older than its prefetch backoff, 100 ms). While the
    agent decides a batch, the busy partitions' records wait; a request built
    then asks only for idle partitions, the broker holds it for the whole wait
    (nothing arrives there), and the busy partitions are not fetched again
    until it returns. Under paced load that repeats: the hub ran about 1.6 s
    behind at half the rate it drains a backlog, its core 63 % busy
    (docs/performance-history.md, 4 December 2026). With a short wait such a
    request comes back soon when the idle partitions stay idle; an idle
    worker then fetches up to ``1000 / ms`` times a second.

    Faust has no setting for it; this wraps the method that builds a worker's
    consumer (every Faust app in the process); called again, it wraps Faust's
    own method again, not its earlier wrapper.

    Raises:
        OperationalError: CONFIG_INVALID for a wait under 1 ms (0 would make the
            fetcher spin).
    """
    from faust.transport.drivers import aiokafka as driver  # noqa: PLC0415 - Faust apps only

    if ms < 1:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a fetch wait of at least 1 ms, got {ms}"
        )
    cls: Any = driver.AIOKafkaConsumerThread
    build = _FAUST_CREATE.setdefault("worker", cls._create_worker_consumer)

    @functools.wraps(build)
    def create(self: Any, transport: Any) -> Any:
        consumer = build(self, transport)
        consumer._fetch_max_wait_ms = ms  # read by AIOKafkaConsumer.start() for its fetcher
        return consumer

    cls._create_worker_consumer = create


# Faust's own methods, each kept by the first wrap of it: the worker consumer's
# builder ("worker", faust_fetch_wait), the consumer's wait_first
# ("wait_first", faust_inline_delivery) and the maker of its consumer thread
# ("consumer_thread", faust_consumer_on_loop).
_FAUST_CREATE: dict[str, Any] = {}


def faust_consumer_on_loop() -> None:
    """Run a Faust worker's Kafka consumer on the worker's own event loop, not in a thread.

    Faust (pinned in pyproject.toml) runs aiokafka's consumer in a thread with
    an event loop of its own (``ThreadDelegateConsumer``,
    ``AIOKafkaConsumerThread``): every fetch, commit and seek is a call into
    that thread through a method queue, answered with
    ``call_soon_threadsafe``, and the two threads take turns at the GIL. On
    this project's machine a hub worker at 200 events/s made about 6,200
    ``futex`` calls a second (strace; none on its loop), and under load its
    main thread waited 30-50 ms for the GIL in a self-pipe write while the
    consumer thread held it (docs/performance-history.md, 5 December 2026, later,
    and 5 December 2026, evening: Faust's consumer on the worker's loop).

    This makes Faust build the same service (``AIOKafkaConsumerThread``, every
    method of it) with the worker's loop as its "thread loop" and no thread:

    - ``start`` serves it as a task of the loop, and returns once it has
      started (or raises what its start raised), as Faust's thread start does;
    - ``call_thread`` and ``cast_thread`` call the method directly, awaiting
      what it returns if that is awaitable (the aiokafka driver casts nothing);
    - ``stop`` ends that task, which stops the consumer, its children and its
      futures, and then lets the stop return (mode's ``_shutdown_thread``,
      without its sweep of every task left on the thread's loop: that loop is
      the worker's);
    - a crash while serving crashes the service and the app, as in the thread.

    The rebalance callbacks still go through Faust's method queue, now on one
    loop. aiokafka's heartbeats run on the loop too: anything that held the
    loop longer than the session timeout (6 s) would cost the worker its
    partitions. In normal running the longest the hub holds it is deciding
    one batch (at most 512 records, about 0.15 s on this machine); its reads
    of recovery and catch-up take 500 records a step (hub.app.recovery).

    Every Faust app of the process gets it; called again, it does nothing.
    """
    from faust.transport.drivers import aiokafka as driver  # noqa: PLC0415 - Faust apps only

    if "consumer_thread" in _FAUST_CREATE:
        return
    _FAUST_CREATE["consumer_thread"] = driver.Consumer._new_consumer_thread
    on_loop = _consumer_on_loop_class()

    def new_consumer_thread(self: Any) -> Any:
        return on_loop(self, loop=self.loop, beacon=self.beacon)

    driver.Consumer._new_consumer_thread = new_consumer_thread  # type: ignore[method-assign]


def _consumer_on_loop_class() -> type:
    """Faust's aiokafka consumer service, served on its parent's loop (faust_consumer_on_loop)."""
    from faust.transport.drivers import aiokafka as driver  # noqa: PLC0415 - Faust apps only
    from mode.utils.futures import maybe_set_exception, notify  # noqa: PLC0415

    base: Any = driver.AIOKafkaConsumerThread

    class ConsumerOnLoop(base):  # type: ignore[misc]
        """``AIOKafkaConsumerThread`` without the thread: its loop is the worker's."""

        _thread_running: asyncio.Future[None] | None

        def __init__(self, consumer: Any, **kwargs: Any) -> None:
            loop = kwargs.get("loop") or asyncio.get_event_loop()
            super().__init__(consumer, thread_loop=loop, **kwargs)
            self._serving: asyncio.Future[None] | None = None

        async def start(self) -> None:
            if self._thread_started.is_set():
                raise RuntimeError(f"{self.label} was started already")
            self._thread_started.set()
            started: asyncio.Future[None] = self.parent_loop.create_future()
            self._thread_running = started
            self._serving = asyncio.ensure_future(self._serve_on_loop(started))
            try:
                await started
            finally:
                self._thread_running = None

        async def _serve_on_loop(self, started: asyncio.Future[None]) -> None:
            try:
                await self._default_start()
                notify(started)
                await self.wait_until_stopped()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # what mode's ServiceThread._serve does with it
                maybe_set_exception(started, exc)
                self.on_crash("{0!r} crashed: {1!r}", self.label, exc)
                await self.crash(exc)
                if self.beacon.root is not None:
                    await self.beacon.root.data.crash(exc)
            finally:
                if not started.done():  # cancelled before it started: so is start()
                    started.cancel()
                try:
                    await self.on_thread_stop()
                    await self._default_stop_children()
                    self.set_shutdown()
                    await self._default_stop_futures()
                    await self._default_stop_exit_stacks()
                except Exception:  # no one awaits this task: say it, as mode's thread would
                    self.log.exception("%s failed to stop", self.label)
                finally:
                    self.set_shutdown()  # Service.stop() waits for it

        async def call_thread(self, fun: Any, *args: Any, **kwargs: Any) -> Any:
            result = fun(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        async def cast_thread(self, fun: Any, *args: Any, **kwargs: Any) -> None:
            await self.call_thread(fun, *args, **kwargs)

        def _stopped_set(self) -> None:
            self._stopped.set()

        def set_shutdown(self) -> None:
            self._shutdown.set()

    return ConsumerOnLoop


def faust_inline_delivery() -> None:
    """Hand each fetched record to its stream without four tasks per record.

    Faust (pinned in pyproject.toml) delivers every record it fetched with
    ``await self.wait_first(callback(record), self.suspend_flow.wait())``: the
    callback (put the record into its stream's queue) raced against a flow
    suspension (a rebalance), so that a callback blocked on a full queue is
    abandoned when the flow stops. ``mode``'s ``wait_first`` makes a task of the
    callback, of the suspension's wait and of the service's stopped and crashed
    events, and waits for the first with ``asyncio.wait``: about 26 µs of CPU
    and several turns of the event loop (each an ``epoll_wait``) per record,
    although the callback almost never waits for anything.

    This wraps ``wait_first`` on Faust's consumer for exactly that call (two
    coroutines, no timeout): the callback runs at once, up to its first
    suspension. If it finishes there (its queue had room), the suspension's
    wait is closed unstarted and the result is what ``wait_first`` would
    return. If it suspends, the started callback goes on as before, raced
    against the suspension in ``wait_first`` (:class:`_Resumed` forwards what
    its task sends and throws). Every other call is ``wait_first`` unchanged.
    Called again, it does nothing.

    The callback's first step runs in the delivery loop's task and context, its
    later steps in the task ``wait_first`` makes. Faust's callbacks (the
    conductor's and a topic's) read no context variable, ask for no current
    task and enter no timeout scope, so the split changes nothing for them; a
    Faust upgrade must be checked for that (the tests pin Faust's call). And
    between records the loop now turns only every 100 records (Faust's own
    ``yield_every``) or when a callback waits, no longer once per record.
    """
    from faust.transport.consumer import Consumer  # noqa: PLC0415 - Faust apps only
    from mode.services import WaitResults  # noqa: PLC0415 - Faust apps only

    if "wait_first" in _FAUST_CREATE:
        return
    original = Consumer.wait_first
    _FAUST_CREATE["wait_first"] = original

    @functools.wraps(original)
    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109 - mode's signature
        if timeout is not None or len(coros) != 2 or not all(map(inspect.iscoroutine, coros)):
            return await original(self, *coros, timeout=timeout)
        deliver, other = coros
        try:
            first = deliver.send(None)
        except StopIteration as done:
            other.close()
            if self._stopped.is_set() or self._crashed.is_set():
                return WaitResults([], [], True)
            return WaitResults([deliver], [done.value], False)
        except BaseException:
            other.close()
            raise
        return await original(self, _Resumed(deliver, first), other)

    Consumer.wait_first = wait_first  # type: ignore[method-assign]


class _Resumed:
    """A coroutine already run to its first suspension (where it yielded ``first``),
    awaitable from there: a task awaiting this drives it as it would have driven
    the coroutine (``yield from``, its first step already taken)."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Any, first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, or what the task throws in
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value


def acknowledge_offsets(consumer: Any, tp: TopicPartition, offsets: Iterable[int]) -> None:
    """Count ``offsets`` of ``tp`` acknowledged in a Faust consumer, as its own ``ack`` does.

    For records the reconciler has checked are decided (hub/app/reconcile.py),
    whether or not the agent was given them: Faust commits only up to the first
    offset not acknowledged, and it never acknowledges a record it dropped, so
    without this its commit would stay below them until the next rebalance.
    Faust (pinned in pyproject.toml) has no public call that takes an offset;
    this fills the same two structures that ``Consumer.ack`` fills, under the
    same lock, and leaves alone an offset already acknowledged or below the
    last commit, and a partition the consumer no longer holds.
    """
    from faust.types.tuples import TP, ack_lock  # noqa: PLC0415 - only the Faust apps call this

    key = TP(tp.topic, tp.partition)
    with ack_lock:
        if key not in consumer.assignment():
            return  # revoked meanwhile: its next holder starts from the group's commit
        committed = consumer._committed_offset.get(key)
        index: set[int] = consumer._acked_index[key]
        acked: list[int] = consumer._acked[key]
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)


# --- metadata ----------------------------------------------------------------------


async def partitions(consumer: AIOKafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``names`` that exists on the cluster now, in name order.

    ``consumer.partitions_for_topic()`` only knows subscribed topics, and
    aiokafka 0.14 has no public call for another topic's partitions, so this is
    the one place that asks the cluster through the client's metadata request.
    """
    cluster = await consumer._client.fetch_all_metadata()
    return [
        TopicPartition(name, p)
        for name in names
        for p in sorted(cluster.partitions_for_topic(name) or ())
    ]


async def wait_for_topics(
    bootstrap: str,
    names: Iterable[str],
    client: Mapping[str, Any],
    *,
    timeout_s: float = 180.0,
) -> None:
    """Wait until every topic in ``names`` exists and this principal may see it.

    A Faust worker that subscribes before its topics exist learns of them only
    at its next metadata refresh (minutes later), so processes that do not create
    their topics themselves (a secure cluster's operator does) wait here first.
    Brokers that do not answer yet are retried until the deadline.

    Raises:
        OperationalError: KAFKA_UNAVAILABLE naming the missing topics at the deadline.
    """
    wanted = sorted(set(names))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    missing = wanted
    consumer: AIOKafkaConsumer | None = None
    try:
        while True:
            try:
                if consumer is None:
                    consumer = AIOKafkaConsumer(
                        bootstrap_servers=bootstrap, enable_auto_commit=False, **client
                    )
                    await consumer.start()
                found = {tp.topic for tp in await partitions(consumer, wanted)}
                missing = [n for n in wanted if n not in found]
                if not missing:
                    return
            except KafkaError:  # brokers not answering yet: the next try uses a new client
                if consumer is not None:
                    await consumer.stop()
                    consumer = None
            if loop.time() > deadline:
                raise OperationalError(
                    Reason.KAFKA_UNAVAILABLE,
                    f"expected {len(wanted)} topics on {bootstrap} within {timeout_s:.0f} s; "
                    f"{len(missing)} missing or not readable, e.g. {', '.join(missing[:3])} "
                    "(the operator creates them: trm kafka secure acls --topics)",
                )
            await asyncio.sleep(1.0)
    finally:
        if consumer is not None:
            await consumer.stop()


# --- reading topics ----------------------------------------------------------------


Row = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]], int]
"""(topic, key, value, headers, timestamp ms) of one record."""


def rows(batch: Iterable[Any]) -> list[Row]:
    """The :data:`Row` of each aiokafka record of ``batch``."""
    return [(r.topic, r.key, r.value, list(r.headers), r.timestamp) for r in batch]


def partition_name(tp: TopicPartition) -> str:
    """``topic/partition``: how bookmarks and plans name a partition."""
    return f"{tp.topic}/{tp.partition}"


def named_partition(name: str) -> TopicPartition:
    """The partition a :func:`partition_name` names."""
    topic, _, partition = name.rpartition("/")
    return TopicPartition(topic, int(partition))


async def read_all(bootstrap: str, names: Iterable[str], **client: Any) -> list[Row]:
    """Every record now in ``names``, in order per partition."""
    follower = Follower(bootstrap, names, **client)
    try:
        return await follower.poll()
    finally:
        await follower.close()


async def start_consumer(bootstrap: str, **client: Any) -> AIOKafkaConsumer:
    """A started consumer outside any group (it commits nothing).

    Raises:
        OperationalError: KAFKA_UNAVAILABLE, when Kafka does not answer its start.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client)
    try:
        await consumer.start()
    except BaseException as exc:  # a cancellation too: never leave it half started
        await consumer.stop()
        if isinstance(exc, KafkaError):
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE, f"expected Kafka at {bootstrap}: {type(exc).__name__}"
            ) from exc
        raise
    return consumer


class Follower:
    """Reads topics with one long-lived consumer, from the beginning or a cursor.

    ``poll`` returns what was appended since the last poll, up to the ends as
    of the call (the hub's registry and state followers); ``records`` yields
    record batches up to given ends, or forever with ``follow`` (a node's
    inbox, the auditor's streams). A fresh consumer per read (connect,
    metadata, seek, read everything) cost more CPU than the events the hub's
    registry refresh competes with, hence one consumer kept open.

    Args:
        bootstrap: bootstrap servers.
        names: topics to read; a topic that does not exist yet is looked up
            again on the next read.
        start: per partition, the offset to start from instead of the beginning.
        client: aiokafka settings (:func:`default_client_config`) and options.
    """

    def __init__(
        self,
        bootstrap: str,
        names: Iterable[str],
        *,
        start: Mapping[TopicPartition, int] | None = None,
        **client: Any,
    ) -> None:
        self.bootstrap = bootstrap
        self.names = tuple(names)
        self.client = client
        self.start = dict(start or {})
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []

    @property
    def assigned(self) -> list[TopicPartition]:
        """The partitions being read (empty until the first read finds the topics)."""
        return list(self._parts)

    async def poll(self) -> list[Row]:
        """Every record appended since the last poll, up to the ends as of now, in order.

        If it fails, the next read starts over (:meth:`batches`).
        """
        return [row async for batch in self.batches() for row in rows(batch)]

    async def batches(
        self, *, max_records: int | None = None, turn: bool = False
    ) -> AsyncGenerator[list[Any], None]:
        """What :meth:`poll` reads, as aiokafka record batches of at most ``max_records``.

        If the read fails, the consumer is closed, and the next read starts over
        from the beginning of every topic (or from the ``start`` offsets).
        ``turn``: as in :meth:`records`.
        """
        try:
            async for batch in self.records(max_records=max_records, turn=turn):
                yield batch
        except Exception:
            await self.close()
            raise

    async def skip_to(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Move forward (never back) to ``offsets``: the next read, and a read that
        starts over after a failure, begin there."""
        for tp, offset in offsets.items():
            self.start[tp] = max(offset, self.start.get(tp, 0))
        if self._consumer is None or not self._parts:
            return  # the first read seeks to ``start``
        for tp in self._parts:
            if tp in offsets and await self._consumer.position(tp) < offsets[tp]:
                self._consumer.seek(tp, offsets[tp])

    async def ends(self) -> dict[TopicPartition, int]:
        """The end offset of every partition being read, as of now."""
        consumer = await self._started()
        return dict(await consumer.end_offsets(self._parts)) if self._parts else {}

    async def spans(self) -> dict[TopicPartition, tuple[int, int]]:
        """(first offset, end offset) of every partition being read, as of now."""
        consumer = await self._started()
        if not self._parts:
            return {}
        first = await consumer.beginning_offsets(self._parts)
        ends = await consumer.end_offsets(self._parts)
        return {tp: (first[tp], ends[tp]) for tp in self._parts}

    async def records(
        self,
        *,
        until: Mapping[TopicPartition, int] | None = None,
        follow: bool = False,
        timeout_ms: int = 1000,
        max_records: int | None = None,
        turn: bool = False,
    ) -> AsyncGenerator[list[Any], None]:
        """Batches of aiokafka records from the current positions, in order per partition.

        A fetch may bring back records at or past a partition's end (appended
        while this read ran, or past ``until``): they are not yielded, and the
        consumer is moved back to the first of them, so the next read starts there.

        Args:
            until: stop each partition before this offset (default: its end now).
            follow: never stop; wait for new records (``until`` is ignored).
            timeout_ms: how long one fetch waits for records.
            max_records: records per batch at most.
            turn: let the event loop run once after each batch is handled. Records
                already fetched come back without a turn, so a long read would
                otherwise hold the loop, and every task waiting on it (in a worker,
                the agent and the Kafka consumer's heartbeats), for all of them.
        """
        consumer = await self._started()
        if not self._parts:
            return
        if follow:
            while True:
                got = await consumer.getmany(
                    *self._parts, timeout_ms=timeout_ms, max_records=max_records
                )
                batch = [r for tp in self._parts for r in got.get(tp, ())]
                if batch:
                    yield batch
                    if turn:
                        await asyncio.sleep(0)
        ends = dict(until) if until is not None else await self.ends()
        pending = {tp for tp in self._parts if await consumer.position(tp) < ends.get(tp, 0)}
        while pending:
            got = await consumer.getmany(*pending, timeout_ms=timeout_ms, max_records=max_records)
            batch = []
            for tp in sorted(got):
                fetched = got[tp]  # in offset order
                kept = [r for r in fetched if r.offset < ends[tp]]
                if len(kept) < len(fetched):
                    # Fetched past the end (appended meanwhile, or past ``until``): the
                    # consumer has moved past those records, so move it back to the first
                    # of them, or no later read would ever see them.
                    consumer.seek(tp, fetched[len(kept)].offset)
                    pending.discard(tp)
                batch += kept
            if batch:
                yield batch
                if turn:
                    await asyncio.sleep(0)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is not None and self._parts:
            return self._consumer
        if self._consumer is None:
            self._consumer = await start_consumer(self.bootstrap, **self.client)
        self._parts = await partitions(self._consumer, self.names)
        if self._parts:  # the topics may not exist yet: ask again on the next read
            self._consumer.assign(self._parts)
            await self._consumer.seek_to_beginning(*self._parts)
            for tp in self._parts:
                if tp in self.start:
                    self._consumer.seek(tp, self.start[tp])
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
            self._parts = []


def require_topic(follower: Follower, topic: str) -> None:
    """Refuse a read of a topic the broker does not have (KAFKA_UNAVAILABLE).

    Call it after a first read (or :meth:`Follower.ends`) has looked the topics up.
    """
    if not any(tp.topic == topic for tp in follower.assigned):
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected topic {topic} on the broker, found none"
        )


@functools.lru_cache(maxsize=16384)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioning (murmur2 of the key, as the Java client), cheaper.

    A one-partition topic (the decisions) needs no hash; an inbox's keys are
    case keys, which repeat, so their hashes are remembered. Same partition as
    aiokafka's DefaultPartitioner for every key.
    """
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 - spreading, not secrecy
    if len(all_partitions) == 1:
        return all_partitions[0]
    return all_partitions[_key_hash(key) % len(all_partitions)]
