"""The hub's web ports: where they listen, and a clear refusal when they cannot.

The hub worker's and the sequencer's web servers listen where their banner
says (127.0.0.1 unless told otherwise), checked in the kernel's socket table;
a busy or impossible port is refused before any work, with a reason code and
no traceback; so is a replay against a broker that is not there.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.topics import Topics
from tests.support.examples import AGREEMENTS_DIR, TRUST
from tests.support.nodes import HUB_KEY, trust_list
from tests.support.procs import TRM, Proc

pytestmark = pytest.mark.kafka

LOOPBACK, ANY = "0100007F", "00000000"  # /proc/net/tcp's hex of 127.0.0.1 and 0.0.0.0


def _listening(port: int) -> set[str]:
    """The local addresses listening on ``port`` (IPv4 hex, IPv6 hex), from the kernel."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _wait_listening(port: int, proc: Proc) -> set[str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        proc.alive()
        if found := _listening(port):
            return found
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on {port}; log:\n{proc.log_tail()}")


@pytest.fixture
def hub_home(tmp_path: Path) -> Path:
    write_private_key(HUB_KEY, tmp_path / "keys" / "HUB.key")
    return tmp_path


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process (here: the test) listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def _trm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRM_HOME": str(home)}
    env.pop("TRM_HUB_WEB_HOST", None)
    return subprocess.run(
        [TRM, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_web_servers_listen_where_the_banner_says(
    kafka_bootstrap: str, topics: Topics, hub_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    asyncio.run(provision_registry(kafka_bootstrap, topics, trust_doc, []))
    monkeypatch.delenv("TRM_HUB_WEB_HOST", raising=False)
    ns = topics.namespace
    seq_port, hub_port, any_port = (kafka_local.free_port() for _ in range(3))
    common = ["--bootstrap", kafka_bootstrap, "--namespace", ns]
    procs = [
        Proc([TRM, "audit", "sequencer", *common, "--web-port", str(seq_port)], hub_home, "seq"),
        Proc([TRM, "hub", "worker", *common, "--web-port", str(hub_port)], hub_home, "hub"),
        # a container's setting: every interface, said as plainly
        Proc(
            [TRM, "audit", "sequencer", *common, "--namespace", ns + "x",
             "--web-port", str(any_port), "--web-host", "0.0.0.0"],  # noqa: S104
            hub_home,
            "seq-any",
        ),
    ]  # fmt: skip
    for p in procs:
        p.start()
    try:
        assert _wait_listening(seq_port, procs[0]) == {LOOPBACK}
        assert _wait_listening(hub_port, procs[1]) == {LOOPBACK}
        assert _wait_listening(any_port, procs[2]) == {ANY}
        assert f"http://127.0.0.1:{seq_port}" in procs[0].log.read_text(errors="replace")
        assert f"http://0.0.0.0:{any_port}" in procs[2].log.read_text(errors="replace")
    finally:
        for p in procs:
            p.stop()


@pytest.mark.parametrize("command", [("audit", "sequencer"), ("hub", "worker")])
def test_a_busy_or_impossible_web_port_is_refused_plainly(
    command: tuple[str, ...], hub_home: Path, busy_port: int
) -> None:
    nowhere = ("--bootstrap", "127.0.0.1:1")  # the port is checked before any broker is asked
    busy = _trm(hub_home, *command, *nowhere, "--web-port", str(busy_port))
    assert busy.returncode == 1, busy.stderr[-2000:]
    assert "rejected: CONFIG_INVALID" in busy.stderr
    assert f"127.0.0.1:{busy_port}" in busy.stderr
    assert "another process is listening there" in busy.stderr
    assert "Traceback" not in busy.stdout + busy.stderr
    for bad in (["--web-port", "99999"], ["--web-host", "no.such.host.invalid"]):
        out = _trm(hub_home, *command, *nowhere, "--web-port", str(busy_port + 1), *bad)
        assert out.returncode == 1, out.stderr[-2000:]
        assert "rejected: CONFIG_INVALID" in out.stderr, out.stderr[-2000:]
        assert "Traceback" not in out.stdout + out.stderr


def test_replay_without_a_broker_is_refused_plainly(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text(json.dumps(TRUST.document.to_json()))
    out = _trm(
        tmp_path, "audit", "replay", "--bootstrap", "127.0.0.1:1",
        "--agreements", str(AGREEMENTS_DIR),
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "rejected: KAFKA_UNAVAILABLE" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "Unclosed" not in out.stdout + out.stderr  # every client closed
