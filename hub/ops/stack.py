"""The local stack as one thing: ``trm up`` / ``trm status`` / ``trm down``.

The stack is the local broker (``hub.ops.broker``, started as ``trm kafka up``
starts it) and the background services in :data:`SERVICES`: the hub worker(s),
the audit sequencer and one matching evaluator per country that holds a share
of the matching key (``trm match evaluator --country CC``). A later service (a
gateway, say) is one more :class:`ServiceSpec` in that table; ``up``,
``status`` and ``down`` follow.

When the state directory has identities (a trust list and the countries'
keys) but no shares of the matching key, ``up`` runs the key ceremony once
(``trm match ceremony``) before it starts the evaluators.

Every service is a ``trm ...`` command run with this interpreter, in its own
session so it outlives the command that started it. What ``up`` started is
written to the state directory (``hub.home.StateDir``)::

    run/stack.json          what 'trm up' was asked for (workers, secure)
    run/<service>.pid       the service's pid
    run/<service>.json      its identity (start time since boot, boot id), port, URL
    logs/<service>.log      its stdout and stderr

``down`` signals a pid only while it still belongs to the process ``up``
started (same start time, same boot): a pid the kernel has since given to an
unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from hub.errors import OperationalError, Reason, TrmError
from hub.home import StateDir
from hub.matching.ceremony import load_public
from hub.ops import broker
from hub.ops.process import ProcessIdentity
from hub.topics import COMMIT_COUNTRIES

__all__ = [
    "SERVICES",
    "Instance",
    "Record",
    "ServiceSpec",
    "ServiceState",
    "StackOptions",
    "down",
    "log_file",
    "planned",
    "sequencer_url",
    "share_holders",
    "status",
    "up",
]

READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class StackOptions:
    """What ``trm up`` is asked for; kept in ``run/stack.json`` for status and a later up."""

    workers: int = 1
    secure: bool = False


def _one(options: StackOptions) -> int:
    return 1


def _workers(options: StackOptions) -> int:
    return options.workers


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One kind of background service of the local stack.

    ``args(port)`` are the ``trm`` arguments given the web port it is to serve
    on; the service is ready once ``GET http://127.0.0.1:<port><ready_path>``
    answers (with 200 when ``ready_needs_ok``, with any HTTP status otherwise).
    """

    name: str
    summary: str
    args: Callable[[int], tuple[str, ...]]
    ready_path: str
    ready_needs_ok: bool = True
    count: Callable[[StackOptions], int] = field(default=_one)
    # One instance per country holding a share of the matching key (``--country CC``).
    per_share_holder: bool = False


def _worker_args(port: int) -> tuple[str, ...]:
    return ("hub", "worker", "--web-port", str(port), "--loglevel", "info")


def _sequencer_args(port: int) -> tuple[str, ...]:
    # A checkpoint every second (or 10 leaves): what a user just sent is provable at once.
    every = ("--every-ms", "1000", "--every-leaves", "10")
    return ("audit", "sequencer", "--web-port", str(port), *every)


def _evaluator_args(port: int) -> tuple[str, ...]:
    return ("match", "evaluator", "--web-port", str(port))


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "hub-worker",
        "hub worker (verifies, routes, attests)",
        _worker_args,
        "/hub/status",
        count=_workers,
    ),
    ServiceSpec(
        "audit-sequencer",
        "audit sequencer (the audit log's single writer)",
        _sequencer_args,
        "/audit/checkpoint",
        ready_needs_ok=False,  # 404 until the first checkpoint: the web server is up
    ),
    ServiceSpec(
        "match-evaluator",
        "matching evaluator (answers EVALUATE requests with a country's key share)",
        _evaluator_args,
        "/match/evaluator/status",
        per_share_holder=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Instance:
    """One process of a service: ``hub-worker-2``, ``audit-sequencer``, ``match-evaluator-TH``."""

    spec: ServiceSpec
    name: str
    country: str | None = None

    def args(self, port: int) -> tuple[str, ...]:
        """The ``trm`` arguments of this process given its web port."""
        own = ("--country", self.country) if self.country else ()
        return (*self.spec.args(port), *own)


def share_holders(state: StateDir | None) -> tuple[str, ...]:
    """The countries of the ceremony's public part whose share and key are in ``state``."""
    if state is None or not state.match_public.is_file():
        return ()
    try:
        members = load_public(state.match_public).members
    except TrmError:
        return ()
    return tuple(
        sorted(
            cc
            for cc in members
            if state.match_share(cc).is_file() and state.private_key(cc).is_file()
        )
    )


def planned(options: StackOptions, state: StateDir | None = None) -> list[Instance]:
    """Every process the stack runs for ``options`` (and the shares in ``state``), in order."""
    out: list[Instance] = []
    for spec in SERVICES:
        if spec.per_share_holder:
            out.extend(Instance(spec, f"{spec.name}-{cc}", cc) for cc in share_holders(state))
            continue
        n = spec.count(options)
        if spec.count is _one:
            out.append(Instance(spec, spec.name))
        else:
            out.extend(Instance(spec, f"{spec.name}-{i}") for i in range(1, n + 1))
    return out


@dataclass(frozen=True, slots=True)
class Record:
    """What ``up`` wrote about one process it started."""

    name: str
    pid: int
    start_ticks: int
    boot_id: str
    port: int | None
    url: str | None
    argv: tuple[str, ...]

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_ticks, self.boot_id)

    def is_running(self) -> bool:
        """The pid is alive and still the process that was started (not a reused pid)."""
        return self.identity.is_running()

    def pid_is_foreign(self) -> bool:
        """The pid is alive but belongs to another process than the one started."""
        return self.identity.is_foreign()


def _pid_file(state: StateDir, name: str) -> Path:
    return state.run / f"{name}.pid"


def _record_file(state: StateDir, name: str) -> Path:
    return state.run / f"{name}.json"


def log_file(state: StateDir, name: str) -> Path:
    return state.logs / f"{name}.log"


def _write_record(state: StateDir, rec: Record) -> None:
    state.run.mkdir(parents=True, exist_ok=True)
    _record_file(state, rec.name).write_text(json.dumps(asdict(rec), indent=2), encoding="utf-8")
    _pid_file(state, rec.name).write_text(f"{rec.pid}\n", encoding="utf-8")


def _read_record(state: StateDir, name: str) -> Record | None:
    """The record of ``name``; its pid is the pid file's (what an operator sees and edits)."""
    path = _record_file(state, name)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        pid = int(_pid_file(state, name).read_text(encoding="utf-8").strip())
        return Record(
            name=str(raw["name"]),
            pid=pid,
            start_ticks=int(raw["start_ticks"]),
            boot_id=str(raw["boot_id"]),
            port=None if raw.get("port") is None else int(raw["port"]),
            url=raw.get("url"),
            argv=tuple(raw.get("argv", ())),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a pid file and a JSON record for {name} in {state.run}: {exc}",
        ) from exc


def _forget(state: StateDir, name: str) -> None:
    _record_file(state, name).unlink(missing_ok=True)
    _pid_file(state, name).unlink(missing_ok=True)


def _recorded_names(state: StateDir) -> list[str]:
    return sorted(p.stem for p in state.run.glob("*.json") if p.name != "stack.json")


def _load_options(state: StateDir) -> StackOptions | None:
    try:
        raw = json.loads((state.run / "stack.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected JSON in {state.run / 'stack.json'}: {exc}"
        ) from exc
    return StackOptions(workers=int(raw.get("workers", 1)), secure=bool(raw.get("secure", False)))


def sequencer_url(state: StateDir) -> str | None:
    """The running stack's audit sequencer (``http://127.0.0.1:<port>``), if ``up`` started one."""
    rec = _read_record(state, "audit-sequencer")
    if rec is None or rec.port is None:
        return None
    return f"http://127.0.0.1:{rec.port}"


# --- up -----------------------------------------------------------------------


def _trm(*args: str) -> list[str]:
    return [sys.executable, "-m", "connectors.cli", *args]


def _env(state: StateDir, bootstrap: str) -> dict[str, str]:
    # Services find keys and credentials in this state dir and the broker the stack
    # runs, whatever TRM_KAFKA_BOOTSTRAP the caller's shell happens to hold.
    env = {**os.environ, "TRM_HOME": str(state.root.resolve()), "TRM_KAFKA_BOOTSTRAP": bootstrap}
    if state.match_public.is_file():  # the hub refuses an EVALUATE to a member with no share
        env["TRM_HUB_MATCH_PUBLIC"] = str(state.match_public.resolve())
    return env


def _broker_up(state: StateDir, options: StackOptions, out: TextIO) -> tuple[str, bool]:
    """The running broker's bootstrap, starting it if none runs; and whether it was started."""
    cluster = broker.load_cluster(state.kafka)
    if cluster is not None and all(cluster.pids()):
        out.write(f"broker: already running at {cluster.bootstrap}\n")
        return cluster.bootstrap, False
    if cluster is not None and any(cluster.pids()):
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected every broker node in {state.kafka} running or none; some are stopped "
            "(run 'trm down', then 'trm up')",
        )
    # 'trm kafka up' is the one place a broker (plain or secure) and its topics are made.
    args = ["kafka", "up", *(["--secure"] if options.secure else [])]
    env = {**os.environ, "TRM_HOME": str(state.root.resolve())}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    # Its progress line goes straight to the caller's terminal when there is one.
    try:
        out.flush()
        err: int = out.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        err = subprocess.PIPE
    done = subprocess.run(
        _trm(*args), env=env, stdout=subprocess.PIPE, stderr=err, text=True, check=False
    )
    if done.stderr:
        out.write(done.stderr)
    if done.returncode != 0:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE,
            f"expected 'trm {' '.join(args)}' to start the broker; it exited "
            f"{done.returncode} (its messages are above)",
        )
    bootstrap = done.stdout.strip().splitlines()[-1]
    out.write(f"broker: started at {bootstrap}\n")
    return bootstrap, True


def _provision(state: StateDir, bootstrap: str, out: TextIO) -> None:
    """A fresh broker has empty registry topics: publish the state dir's trust list again."""
    if not state.trust.exists():
        return
    done = subprocess.run(
        _trm("hub", "provision"),
        env=_env(state, bootstrap),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected 'trm hub provision' to publish {state.trust}: {done.stderr.strip()[-800:]}",
        )
    out.write(f"registry: {done.stdout.strip()}\n")


def _ceremony(state: StateDir, bootstrap: str, out: TextIO) -> None:
    """Deal the matching key's shares once, when the identities exist and no share does.

    Identities: a trust list and every member's key (what 'trm demo' or
    'trm keys' made). A public part left without any share file (the keys
    were made anew) is replaced: the key it described is gone with its shares.
    """
    if not state.trust.is_file():
        return
    if not all(state.private_key(cc).is_file() for cc in COMMIT_COUNTRIES):
        return
    public = state.match_public.is_file()
    if public and share_holders(state):
        return
    done = subprocess.run(
        _trm("match", "ceremony", *(["--force"] if public else [])),
        env=_env(state, bootstrap),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected 'trm match ceremony' to deal the matching key's shares: "
            f"{done.stderr.strip()[-800:]}",
        )
    out.write(f"matching key: shares dealt ({', '.join(share_holders(state))})\n")


def _start(state: StateDir, inst: Instance, bootstrap: str) -> Record:
    # Always a free port, never a well-known one: a stranger already answering on
    # 6067 (another stack, a test) would pass for this service's readiness.
    port = broker.free_port()
    argv = tuple(_trm(*inst.args(port)))
    path = log_file(state, inst.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env=_env(state, bootstrap),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives 'trm up'; stopped by 'trm down' by pid
        )
    identity = ProcessIdentity.of(proc.pid)
    rec = Record(
        inst.name,
        proc.pid,
        -1 if identity.start_ticks is None else identity.start_ticks,  # -1: it died at once
        identity.boot_id,
        port,
        f"http://127.0.0.1:{port}{inst.spec.ready_path}",
        argv,
    )
    _write_record(state, rec)
    return rec


def _answers(url: str, needs_ok: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own loopback URL
            return int(resp.status) == 200 or not needs_ok
    except urllib.error.HTTPError as exc:
        return not needs_ok and exc.code < 500
    except OSError:
        return False


def _listening_sockets(port: int) -> set[str]:
    """Inodes of the sockets listening on TCP ``port`` (any address), from the kernel's tables."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":")[-1], 16) == port:
                inodes.add(fields[9])  # 0A: LISTEN
    return inodes


def _owns_port(pid: int, port: int) -> bool:
    """``pid`` is the process listening on ``port``: its answers are its own, not a stranger's."""
    inodes = _listening_sockets(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def _ready(inst: Instance, rec: Record) -> bool:
    """The service answers on its web port, and the socket answering is the service's."""
    if rec.url is None or rec.port is None:
        return False
    return _owns_port(rec.pid, rec.port) and _answers(rec.url, inst.spec.ready_needs_ok)


def _exited(state: StateDir, name: str) -> OperationalError:
    """The service died before it was ready: its own refusal if it gave one, and its log."""
    log = log_file(state, name)
    tail = broker.log_tail(log, 30)
    last = next((line for line in reversed(tail.splitlines()) if line.strip()), "(empty log)")
    reason = Reason.KAFKA_UNAVAILABLE
    if last.startswith("rejected: "):  # a trm refusal: "rejected: REASON: detail"
        with contextlib.suppress(ValueError):
            reason = Reason(last.removeprefix("rejected: ").split(":", 1)[0])
    return OperationalError(
        reason,
        f"expected {name} to keep running; it exited before it was ready: {last}\n"
        f"Last lines of {log}:\n{tail}",
    )


def _wait_ready(
    state: StateDir, started: Sequence[tuple[Instance, Record]], timeout_s: float, out: TextIO
) -> None:
    waiting = list(started)
    progress = broker.Progress(", ".join(i.name for i, _ in waiting), out)
    deadline = time.monotonic() + timeout_s
    while waiting:
        for inst, rec in list(waiting):
            if not rec.is_running():
                progress.done()
                raise _exited(state, inst.name)
            if _ready(inst, rec):
                waiting.remove((inst, rec))
        if not waiting:
            break
        if time.monotonic() > deadline:
            progress.done()
            names = ", ".join(i.name for i, _ in waiting)
            taken = [
                f"port {r.port} of {i.name} is another process's"
                for i, r in waiting
                if r.port is not None
                and _listening_sockets(r.port)
                and not _owns_port(r.pid, r.port)
            ]
            logs = "\n".join(
                f"--- {log_file(state, i.name)}:\n{broker.log_tail(log_file(state, i.name), 15)}"
                for i, _ in waiting
            )
            raise OperationalError(
                Reason.KAFKA_UNAVAILABLE,
                f"expected {names} to answer on its web port within {timeout_s:.0f}s; "
                f"it does not yet{''.join(f'; {t}' for t in taken)}\n{logs}",
            )
        progress.update(", ".join(i.name for i, _ in waiting))
        time.sleep(0.5)
    progress.done("services ready")
    for inst, rec in started:  # what answered must be ours, still running
        if not rec.is_running():
            raise _exited(state, inst.name)
        out.write(f"{inst.name}: started (pid {rec.pid}) at {rec.url}\n")


def up(
    state: StateDir,
    options: StackOptions = StackOptions(),
    *,
    only_broker: bool = False,
    out: TextIO | None = None,
    timeout_s: float = READY_TIMEOUT_S,
) -> list[Record]:
    """Start whatever of the stack is not running, wait until it answers; idempotent.

    Returns the records of every service process of the stack (already running or
    started now). ``only_broker`` starts just the broker (the demo makes its keys
    between the two). A service that exits before it answers fails the call with
    the tail of its log; the services already running are left running.
    """
    if options.workers < 1:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected at least 1 hub worker, got {options.workers}"
        )
    stream = out if out is not None else sys.stderr
    state.root.mkdir(parents=True, exist_ok=True)
    bootstrap, fresh = _broker_up(state, options, stream)
    if fresh:
        _provision(state, bootstrap, stream)
    if only_broker:
        return []
    _ceremony(state, bootstrap, stream)
    state.run.mkdir(parents=True, exist_ok=True)
    (state.run / "stack.json").write_text(json.dumps(asdict(options)), encoding="utf-8")
    records: list[Record] = []
    started: list[tuple[Instance, Record]] = []
    for inst in planned(options, state):
        rec = _read_record(state, inst.name)
        if rec is not None and rec.is_running():
            stream.write(f"{inst.name}: already running (pid {rec.pid})\n")
            records.append(rec)
            continue
        _forget(state, inst.name)
        rec = _start(state, inst, bootstrap)
        stream.write(f"{inst.name}: starting (pid {rec.pid}, log {log_file(state, inst.name)})\n")
        records.append(rec)
        started.append((inst, rec))
    stream.flush()
    if started:
        _wait_ready(state, started, timeout_s, stream)
    return records


# --- status -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One line of ``trm status``."""

    name: str
    pid: int | None
    running: bool
    where: str
    log: Path | None


def status(state: StateDir) -> tuple[list[ServiceState], bool]:
    """Every process of the stack, and whether all that should run do (False if none is up)."""
    rows: list[ServiceState] = []
    cluster = broker.load_cluster(state.kafka)
    options = _load_options(state)
    if options is None and (cluster is None or not any(cluster.pids())):
        return rows, False  # never started, or stopped by 'trm down'

    healthy = True
    if cluster is not None:
        for i, (pid, log) in enumerate(zip(cluster.pids(), cluster.log_files, strict=True)):
            name = "broker" if len(cluster.log_files) == 1 else f"broker-{i + 1}"
            rows.append(ServiceState(name, pid, pid is not None, cluster.bootstrap, log))
            healthy = healthy and pid is not None
    else:
        rows.append(ServiceState("broker", None, False, "-", None))
        healthy = False
    names = [i.name for i in planned(options, state)] if options is not None else []
    names += [n for n in _recorded_names(state) if n not in names]
    for name in names:
        rec = _read_record(state, name)
        running = rec is not None and rec.is_running()
        rows.append(
            ServiceState(
                name,
                rec.pid if rec else None,
                running,
                (rec.url or "-") if rec else "-",
                log_file(state, name),
            )
        )
        healthy = healthy and running
    return rows, healthy


# --- down ---------------------------------------------------------------------


def down(state: StateDir, *, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop exactly what ``up`` started (services by pid, then the broker); one line each.

    A pid whose process is not the one started (a reused pid) is left alone and
    its record dropped. Idempotent: nothing running, nothing done.
    """
    lines = []
    # In table order: the workers before the sequencer, which logs what they decided.
    kinds = [spec.name for spec in SERVICES]
    order = sorted(
        _recorded_names(state),
        key=lambda n: min((i for i, k in enumerate(kinds) if n.startswith(k)), default=len(kinds)),
    )
    for name in order:
        rec = _read_record(state, name)
        if rec is None:
            continue
        if rec.is_running():
            gone = rec.identity.stop(timeout_s)
            lines.append(
                f"{name}: stopped (pid {rec.pid})"
                if gone
                else f"{name}: pid {rec.pid} would not stop"
            )
            if not gone:
                continue
        elif rec.pid_is_foreign():
            lines.append(f"{name}: pid {rec.pid} now belongs to another process; left alone")
        else:
            lines.append(f"{name}: was not running")
        _forget(state, name)
    (state.run / "stack.json").unlink(missing_ok=True)
    cluster = broker.load_cluster(state.kafka)
    if cluster is not None:
        running = [p for p in cluster.pids() if p]
        lines += [
            f"broker: pid {pid} now belongs to another process; left alone"
            for pid in cluster.foreign_pids()
            if pid is not None
        ]
        cluster.stop()
        state.bootstrap_file.unlink(missing_ok=True)
        lines.append(f"broker: stopped {running}" if running else "broker: was not running")
    return lines
