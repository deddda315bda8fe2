"""``trm up`` / ``trm status`` / ``trm down``: the local stack, in the background, for real."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connectors.demo.scenario import try_it_submission
from connectors.demo.setup import make_identities, make_seal_keys, sign_agreements
from connectors.sdk.store import NodeStore
from hub.errors import OperationalError, Reason
from hub.home import StateDir
from hub.ops import broker, stack

pytestmark = pytest.mark.kafka
TRM = str(Path(sys.executable).parent / "trm")


def _trm(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRM_HOME": str(home)}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [TRM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _pids(home: Path) -> dict[str, int]:
    run = home / "run"
    found = {p.stem: int(p.read_text().strip()) for p in run.glob("*.pid")}
    for node in (home / "kafka").glob("node*/broker.pid"):
        found[f"broker-{node.parent.name}"] = int(node.read_text().strip())
    return found


def test_up_routes_what_is_published_after_it_and_down_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / ".trm"
    state = StateDir(home)
    now = time.time_ns() // 1_000_000
    keys, trust = make_identities(state, now)
    sign_agreements(state, keys)
    make_seal_keys(state, keys, trust, now)  # 'trm up' publishes them with the registry
    try:
        up = _trm(home, "up")
        assert up.returncode == 0, up.stderr[-3000:]
        assert "hub-worker-1: started" in up.stderr
        assert "audit-sequencer: started" in up.stderr
        assert "matching key: shares dealt (CN, KH, LA, MM, TH, VN)" in up.stderr
        assert "match-evaluator-TH: started" in up.stderr
        assert "Unable connect" not in up.stderr  # one progress line, not aiokafka's errors
        pids = _pids(home)
        evaluators = {f"match-evaluator-{cc}" for cc in ("CN", "KH", "LA", "MM", "TH", "VN")}
        assert set(pids) == {"hub-worker-1", "audit-sequencer", "broker-node1", *evaluators}, pids
        assert all(_alive(p) for p in pids.values()), pids
        assert (home / "logs" / "hub-worker-1.log").exists()

        status = _trm(home, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        lines = {line.split()[0]: line for line in status.stdout.splitlines()}
        assert set(lines) == {"broker", "hub-worker-1", "audit-sequencer", *evaluators}, (
            status.stdout
        )
        assert "/match/evaluator/status" in lines["match-evaluator-VN"]
        assert all(" running " in line for line in lines.values()), status.stdout
        assert f"pid {pids['hub-worker-1']}" in lines["hub-worker-1"]
        assert "/hub/status" in lines["hub-worker-1"]

        again = _trm(home, "up")  # idempotent: nothing new is started
        assert again.returncode == 0, again.stderr[-2000:]
        assert "hub-worker-1: already running" in again.stderr
        assert _pids(home) == pids

        # Published after 'up' returned: the hub routes it; Cambodia's inbox has it.
        submission = tmp_path / "handover.json"
        submission.write_text(json.dumps(try_it_submission(time.time_ns() // 1_000_000)))
        published = _trm(home, "node", "publish", "--country", "TH", str(submission))
        assert published.returncode == 0, published.stderr
        event_id = published.stdout.strip().splitlines()[-1]
        records: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            inbox = _trm(home, "node", "inbox", "--country", "KH", "--json", "--all")
            assert inbox.returncode == 0, inbox.stderr
            records = [json.loads(x) for x in inbox.stdout.splitlines() if x.strip()]
            if any(r["event_id"] == event_id for r in records):
                break
            time.sleep(1)
        (got,) = [r for r in records if r["event_id"] == event_id]
        assert got["agreement"] == "TH-KH-protection@2"
        assert got["from"] == "TH"
        assert got["type"] == "handover_notice"

        # Matching needs no other flag either: the evaluators run, the shares are dealt.
        registered = _trm(
            home, "match", "register", "--country", "VN", "--kind", "phone",
            "--value", "+66 81 234 5678", "--case", "VN-2026-0042",
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        reference = registered.stdout.strip()
        # The case key stays in Viet Nam's own store (0600), never in a message.
        kept = NodeStore(StateDir(home).node("VN")).match_registration(reference)
        assert kept is not None
        assert (kept["case_key"], kept["kind"]) == ("VN-2026-0042", "phone")
        found = _trm(
            home, "match", "query", "--country", "TH", "--kind", "phone", "--value",
            "081 234 5678", "--case-ref", "TH-1", "--purpose", "investigation",
        )  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == f"hit VN {reference} phone"
    finally:
        down = _trm(home, "down")
    assert down.returncode == 0, down.stderr
    assert "hub-worker-1: stopped" in down.stderr
    assert "match-evaluator-KH: stopped" in down.stderr
    assert "broker: stopped" in down.stderr
    assert not any(_alive(p) for p in pids.values()), pids
    assert not list((home / "run").glob("*.pid"))
    after = _trm(home, "status")
    assert after.returncode == 1
    assert "not up" in after.stderr


def test_up_fails_with_the_log_of_a_service_that_dies(tmp_path: Path) -> None:
    home = tmp_path / ".trm"  # no hub key: the worker refuses to start
    try:
        up = _trm(home, "up", "--timeout", "60")
        assert up.returncode == 1, up.stderr[-2000:]
        assert "to keep running; it exited" in up.stderr
        # the tail of its log: the worker and the sequencer both need the hub's key,
        # and whichever is found dead first is the one reported
        assert str(home / "keys" / "HUB.key") in up.stderr
        status = _trm(home, "status")
        assert status.returncode == 1
        assert "DEAD" in status.stdout
        pids = _pids(home)
        assert _alive(pids["broker-node1"])  # the broker stays up for a second try
    finally:
        down = _trm(home, "down")
    assert down.returncode == 0, down.stderr
    assert not any(_alive(p) for p in pids.values()), pids


def test_down_leaves_alone_a_process_that_reuses_a_recorded_pid(tmp_path: Path) -> None:
    home = tmp_path / ".trm"
    run = home / "run"
    run.mkdir(parents=True)
    # An unrelated process now holds the pid a crashed stack's worker once had.
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        (run / "hub-worker-1.pid").write_text(f"{stranger.pid}\n")
        (run / "hub-worker-1.json").write_text(
            json.dumps(
                {
                    "name": "hub-worker-1",
                    "pid": stranger.pid,
                    "start_ticks": 1,  # the recorded process started right after boot
                    "boot_id": boot_id,
                    "port": 1,
                    "url": "http://127.0.0.1:1/hub/status",
                    "argv": [sys.executable, "-m", "connectors.cli", "hub", "worker"],
                }
            )
        )
        (run / "stack.json").write_text(json.dumps({"workers": 1, "secure": False}))

        status = _trm(home, "status")
        assert status.returncode == 1  # the recorded worker is not running
        assert "DEAD" in status.stdout

        down = _trm(home, "down")
        assert down.returncode == 0, down.stderr
        assert f"pid {stranger.pid} now belongs to another process; left alone" in down.stderr
        assert stranger.poll() is None  # still running: never signalled
        assert not (run / "hub-worker-1.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


class _Stranger(http.server.BaseHTTPRequestHandler):
    """Another process's web server: it answers every request (404), as a sequencer would."""

    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_service_whose_port_is_taken_is_reported_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stranger answering on a service's port does not pass for that service."""
    home = tmp_path / ".trm"
    state = StateDir(home)
    now = time.time_ns() // 1_000_000
    keys, _trust = make_identities(state, now)
    sign_agreements(state, keys)
    monkeypatch.setenv("TRM_HOME", str(home))
    monkeypatch.delenv("TRM_KAFKA_BOOTSTRAP", raising=False)
    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        first = stack.up(state, out=io.StringIO())
        (sequencer,) = [r for r in first if r.name == "audit-sequencer"]
        assert sequencer.identity.stop(30)
        # The next free port turns out to be the stranger's (another stack, a race).
        monkeypatch.setattr(broker, "free_port", lambda: stranger.server_port)
        out = io.StringIO()
        with pytest.raises(OperationalError) as info:
            stack.up(state, out=out, timeout_s=60)
        assert info.value.reason is Reason.CONFIG_INVALID  # the sequencer's own refusal
        assert "audit-sequencer" in info.value.detail
        assert f"127.0.0.1:{stranger.server_port}" in info.value.detail
        assert "another process is listening there" in info.value.detail
        assert "audit-sequencer: started" not in out.getvalue()
        assert "audit-sequencer: starting" in out.getvalue()
    finally:
        stack.down(state)
        stranger.shutdown()
