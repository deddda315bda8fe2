"""deploy/compose brought up for real: rootful Podman and podman-compose.

The files under test are deploy/compose/compose.yaml, broker-entrypoint.sh and
provision.sh, copied unchanged into a temporary directory (so ./secrets and
./trm-home live there), with the images deploy/scripts/containers.sh builds
(``make containers``; no registry is reached). The stack: three KRaft brokers
with SASL_SSL + SCRAM and deny-by-default ACLs, kafka-init (topics, ACLs), the
registry provisioning, one hub worker, the audit sequencer, and the gateways of
Thailand and Cambodia publishing on 127.0.0.1.

Each gateway publishes its country's seal-key set at start; Thailand's desk
sends a signed handover notice, sealed to Cambodia, through its gateway's HTTP API;
Cambodia's desk finds it in its inbox, verified and attested under the
agreement; the sequencer checkpoints the decisions; ``trm audit replay`` runs as
the auditor in the ``auditor`` service and finds nothing wrong. The stack is
always taken down (with its volumes). Nothing here skips: a missing engine or
image fails the test, naming what to run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connectors.demo.scenario import example_payload
from connectors.demo.setup import make_identities, sign_agreements
from connectors.gateway import DeskUsers
from hub.app.registry import build_registry
from hub.home import StateDir
from hub.keys import load_private_key, write_private_key
from hub.ops.broker import free_port
from hub.ops.provision import rotate_seal_keys
from hub.sealkeys import Keyring
from hub.topics import COMMIT_COUNTRIES, OUTBOX_PARTITIONS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ("compose.yaml", "broker-entrypoint.sh", "provision.sh")
KAFKA_IMAGE = "localhost/trm-kafka:3.9.2"
APP_IMAGE = "localhost/trm-hub:latest"
APP_UID = 10001  # the trm user of deploy/compose/Dockerfile
SERVICES = (
    *("kafka-1", "kafka-2", "kafka-3", "kafka-init", "registry"),
    *("hub-1", "sequencer", "gateway-th", "gateway-kh"),
)
PASSWORD = "compose-stack-desk-password"
T = TypeVar("T")


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def _eventually(fn: Callable[[], T | None], what: str, timeout: float = 240) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            got = fn()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            got, last = None, exc
        if got is not None:
            return got
        time.sleep(2)
    raise AssertionError(f"expected {what} within {timeout:.0f}s; last error: {last!r}")


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - 127.0.0.1
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _podman(*args: str) -> subprocess.CompletedProcess[str]:
    """A podman command, given a minute (ValueError after that: ``_eventually`` retries)."""
    try:
        return subprocess.run(
            ["podman", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        raise ValueError(f"podman {args[0]} took over 60 s") from None


def _get_inside(name: str, url: str) -> str:
    """GET ``url`` from inside container ``name`` (its ports are not published).

    Raises:
        ValueError: the request failed or took over a minute (``_eventually`` retries).
    """
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=10).read().decode())"
    done = _podman("exec", name, "python", "-c", code)
    if done.returncode != 0:
        raise ValueError(f"GET {url} in {name} exited {done.returncode}: {done.stderr[-300:]}")
    return done.stdout


def _hub_status(project: str) -> dict[str, Any]:
    """hub-1's /hub/status (ValueError while it does not answer)."""
    status = json.loads(_get_inside(f"{project}_hub-1_1", "http://127.0.0.1:6066/hub/status"))
    if not isinstance(status, dict):
        raise ValueError(f"expected a JSON object from /hub/status, got {type(status).__name__}")
    return status


# What in a service's log says nothing about a failure: a desk poll answered 2xx
# or 3xx, a SASL handshake, a line of Faust's banner and topic tables.
_QUIET = re.compile(r'aiohttp\.access .*HTTP/1\.1" [23]\d\d |Authenticated as |^[|+]')


def _report(project: str, services: tuple[str, ...]) -> None:
    """After a failure: each service's state and log tail, the hub's last (CI keeps the end)."""
    for service in services:
        name = f"{project}_{service}_1"
        try:
            inspected = _podman(
                "inspect",
                name,
                "--format",
                "{{.State.Status}} "
                "exit={{.State.ExitCode}} restarts={{.RestartCount}} started={{.State.StartedAt}}",
            )
            state = (inspected.stdout + inspected.stderr).strip()
            logs = _podman("logs", "-t", name)
            output = logs.stdout + logs.stderr
        except ValueError as exc:
            state, output = str(exc), ""
        lines = []
        for line in output.splitlines():
            _stamp, _, text = line.partition(" ")  # podman's -t timestamp, then the line
            if not _QUIET.search(text):
                lines.append(line)
        keep = 120 if service.startswith(("hub", "gateway")) else 25
        print(f"--- {service} ({state})", file=sys.stderr)
        print("\n".join(lines[-keep:]), file=sys.stderr)
    try:
        said = json.dumps(_hub_status(project))
    except ValueError as exc:
        said = repr(exc)
    print(f"--- hub-1 /hub/status: {said[:3000]}", file=sys.stderr)


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid)


def _prepare_homes(home: Path, countries: tuple[str, ...]) -> None:
    """TRM_HOME of the hub (keys, trust list, agreements) and of each gateway."""
    hub = StateDir(home / "hub")
    now = time.time_ns() // 1_000_000
    keys, trust = make_identities(hub, now)
    sign_agreements(hub, keys)
    for cc in countries:
        node = StateDir(home / cc.lower())
        node.ensure()
        write_private_key(load_private_key(hub.private_key(cc)), node.private_key(cc))
        shutil.copy(hub.trust, node.trust)
        DeskUsers.load(node.node(cc) / "desk-users.json").add(f"{cc.lower()}-desk", cc, PASSWORD)
        # Its epoch seal key and signed set (trm keys epoch rotate): its gateway publishes it.
        rotate_seal_keys({cc: Keyring.of(node, cc)}, keys, trust, now)
    # Only the gateway's own key goes into its home; the hub's home keeps only the hub key.
    for cc in keys:
        hub.private_key(cc).unlink()
    _chown_tree(home, APP_UID)


@pytest.fixture
def tools() -> str:
    """podman-compose from the venv, and the images; fail (never skip) if missing."""
    compose = Path(sys.executable).parent / "podman-compose"
    hint = "run `make containers` (deploy/scripts/containers.sh)"
    assert compose.exists(), f"expected podman-compose at {compose}; {hint}"
    assert shutil.which("podman"), f"expected podman on PATH; {hint}"
    for image in (KAFKA_IMAGE, APP_IMAGE):
        rc = subprocess.run(["podman", "image", "exists", image], check=False).returncode
        assert rc == 0, f"expected the image {image}; {hint}"
    return str(compose)


def test_compose_stack_routes_a_signed_event_and_the_replay_is_clean(
    tools: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    work = tmp_path / "compose"
    work.mkdir()
    for name in COMPOSE_FILES:
        shutil.copy2(ROOT / "deploy" / "compose" / name, work / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    _run(["sh", str(work / "provision.sh")], env=env)
    _prepare_homes(work / "trm-home", ("TH", "KH"))
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, APP_UID, APP_UID)

    ports = {"TH": free_port(), "KH": free_port()}
    project = f"trmtest{uuid.uuid4().hex[:10]}"
    env |= {
        "TRM_KAFKA_IMAGE": KAFKA_IMAGE,
        "TRM_IMAGE": APP_IMAGE,
        "TRM_KAFKA_HEAP": "-Xms256m -Xmx512m",
        **{f"TRM_GATEWAY_{cc}_PORT": str(port) for cc, port in ports.items()},
    }
    compose = [tools, "-p", project, "-f", str(work / "compose.yaml")]
    timings: dict[str, float] = {}
    try:
        _run([*compose, "up", "-d", *SERVICES], env=env)
        timings["up -d returned"] = time.monotonic() - started

        def container(service: str) -> str:
            return f"{project}_{service}_1"

        # kafka-init and registry run once and must succeed.
        for service in ("kafka-init", "registry"):
            rc = _run(["podman", "wait", container(service)], timeout=300).strip()
            logs = subprocess.run(
                ["podman", "logs", container(service)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert rc == "0", f"{service} exited {rc}: {logs.stdout[-2000:]}{logs.stderr[-2000:]}"
        timings["topics, ACLs and registry in place"] = time.monotonic() - started

        th = f"http://127.0.0.1:{ports['TH']}"
        kh = f"http://127.0.0.1:{ports['KH']}"

        def login(base: str, user: str) -> str | None:
            status, body = _http("POST", f"{base}/api/login", {"user": user, "password": PASSWORD})
            return str(body["token"]) if status == 200 else None

        th_token = _eventually(lambda: login(th, "th-desk"), "Thailand's gateway to answer")
        kh_token = _eventually(lambda: login(kh, "kh-desk"), "Cambodia's gateway to answer")
        timings["gateways answer"] = time.monotonic() - started

        notice = {
            "type": "handover_notice",
            "to": ["KH"],
            "case_key": "compose-case-1",
            "payload": example_payload(
                "handover_notice",
                planned_at=time.time_ns() // 1_000_000 + 3 * 86_400_000,
                # A child's case goes only to the named protection agency (TH-KH-protection).
                receiving_organisation={"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"},
            ),
        }

        def submit() -> tuple[int, Any] | None:
            status, body = _http("POST", f"{th}/api/events", notice, th_token)
            if status == 503:  # Kafka not ready yet
                return None
            if status == 400 and body.get("error", {}).get("reason") == "SEAL_KEY_MISSING":
                return None  # Cambodia's gateway has not published its seal keys yet
            return status, body

        status, sent = _eventually(submit, "Thailand's gateway to accept the event")
        assert status == 201, sent
        event_id = sent["event_id"]
        sent_at = time.monotonic()

        # The registry the operator provisioned: the trust list and every agreement.
        hub_home = StateDir(work / "trm-home" / "hub")
        provisioned = build_registry(
            [hub_home.trust.read_bytes()],
            [(f.read_bytes(), None) for f in sorted(hub_home.agreements.glob("*.yaml"))],
        )
        assert provisioned is not None

        # The event waits in Thailand's outbox until the hub worker is ready (its
        # state recovered, that registry loaded, every outbox partition held); how
        # long a start takes on a loaded machine is not what is measured here.
        def hub_ready() -> dict[str, Any] | None:
            status = _hub_status(project)
            held = [p for p in status.get("assigned", ()) if ".outbox/" in p]
            every = len(held) == len(COMMIT_COUNTRIES) * OUTBOX_PARTITIONS
            registry = status.get("registry") == provisioned.version
            return status if status.get("ready") and every and registry else None

        _eventually(
            hub_ready,
            f"hub-1 ready with registry {provisioned.version}, holding every outbox partition",
            timeout=300,
        )
        timings["hub ready"] = time.monotonic() - started
        ready_at = time.monotonic()

        def delivered() -> dict[str, Any] | None:
            status, body = _http("GET", f"{kh}/api/inbox", token=kh_token)
            assert status == 200, body
            found = [e for e in body["events"] if e["event_id"] == event_id]
            return found[0] if found else None

        def hub_said() -> str:
            try:
                status = _hub_status(project)
            except ValueError as exc:
                return f"hub-1 status unknown ({exc})"
            keys = ("ready", "lag", "in_flight", "recovered", "last_reconcile_ms", "registry")
            return "hub-1 " + ", ".join(f"{k}={status.get(k)}" for k in keys)

        try:
            _eventually(delivered, "the event in Cambodia's inbox")
        except AssertionError as exc:
            try:
                _status, body = _http("GET", f"{kh}/api/inbox", token=kh_token)
                held = len(body["events"]) if isinstance(body, dict) else body
            except (OSError, ValueError, KeyError) as error:
                held = f"unknown ({error!r})"
            raise AssertionError(f"{exc}; {hub_said()}; Cambodia's inbox holds {held}") from None
        timings["delivered (after send)"] = time.monotonic() - sent_at
        timings["delivered (after hub ready)"] = time.monotonic() - ready_at
        # The gateway holds only events whose signature and hub attestation verify.
        status, record = _http("GET", f"{kh}/api/inbox/{event_id}", token=kh_token)
        assert status == 200, record
        assert record["from"] == "TH"
        assert record["to"] == ["KH"]
        assert record["type"] == "handover_notice"
        assert record["case_key"] == "compose-case-1"
        assert record["agreement"].startswith("TH-KH-protection@")
        assert record["attested_at_ms"] > 0

        # The sequencer logs the hub's decisions and signs a checkpoint over them.
        def checkpointed() -> int | None:
            text = _get_inside(container("sequencer"), "http://127.0.0.1:6067/audit/checkpoint")
            lines = text.splitlines()
            size = int(lines[1]) if len(lines) > 1 else 0
            return size if size >= 2 else None  # the delivery and its decision record

        size = _eventually(checkpointed, "a signed checkpoint over the decisions", timeout=120)
        timings["checkpointed"] = time.monotonic() - started

        _run(
            [
                *compose,
                "--profile",
                "audit",
                "run",
                "--rm",
                "--no-deps",
                "-v",
                f"{out}:/out",
                "auditor",
                "trm",
                "audit",
                "replay",
                "--report",
                "/out/replay.json",
            ],
            env=env,
        )
        report = json.loads((out / "replay.json").read_text(encoding="utf-8"))
        assert report["ok"] is True, report
        assert report["findings"] == []
        assert report["leaves"] >= size
        assert report["checkpoint_size"] >= size
        timings["replayed"] = time.monotonic() - started
    except BaseException:
        # the hub worker last: CI keeps the end of a long output
        _report(project, (*(s for s in SERVICES if s != "hub-1"), "hub-1"))
        raise
    finally:
        subprocess.run(
            [*compose, "down", "-v", "-t", "1"], env=env, capture_output=True, check=False
        )
        timings["down"] = time.monotonic() - started
        print(
            "compose stack timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
            file=sys.stderr,
        )
    left = _run(["podman", "ps", "-a", "--filter", f"name={project}", "--format", "{{.Names}}"])
    assert left.strip() == "", f"containers left behind: {left}"


# What the image's hub worker runs per event, against the project's own build on
# the host: the mypyc-compiled modules (D25), the native wire code (D22) and
# aiokafka with the hardware CRC-32C (D27). Each falls back silently to a slower
# path, so a build step the image missed would show only in its numbers.
_IMAGE_CHECK = """
import json, platform
from pathlib import Path
from aiokafka.record._crecords import cutil, default_records
import hub.compiled, hub.wire.native
print(json.dumps({
    "compiled": hub.compiled.STATUS,
    "native": hub.wire.native.ENABLED,
    "machine": platform.machine(),
    "hardware_crc": all(b"crc32c_long" in Path(m.__file__).read_bytes()
                        for m in (cutil, default_records)),
    "check_value": cutil.crc32c_cython(b"123456789"),
}))
"""


def test_the_image_runs_the_fast_paths_the_host_measured() -> None:
    done = _podman("run", "--rm", APP_IMAGE, "python", "-c", _IMAGE_CHECK)
    assert done.returncode == 0, f"{APP_IMAGE}: {done.stderr[-2000:]} (run make containers)"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    x86_64 = found["machine"].lower() in {"x86_64", "amd64"}
    assert found["compiled"] == "in use", found
    assert found["native"] is True, found
    assert found["hardware_crc"] == x86_64, found  # deploy/scripts/aiokafka-crc.sh ran
    assert found["check_value"] == 0xE3069283, found  # the CRC catalogue's check value
