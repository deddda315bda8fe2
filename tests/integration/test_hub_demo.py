"""``trm demo`` end to end in a fresh state directory: every outcome as the story says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.demo.scenario import story
from tests.support.canary import DEMO, scan_files
from tests.support.stats_audit import check_files_agree

pytestmark = pytest.mark.kafka
TRM = str(Path(sys.executable).parent / "trm")


def _no_plaintext_but_at_the_recipients(home: Path) -> None:
    """The demo is sealed end to end: its personal data is in no file of the state dir
    (broker data and logs, the hub's and the sequencer's state and logs, the quarantine's
    records with them) but the recipients' node stores; the demo's inputs aside."""
    sent = str([step.submission.payload for step in story(0)])
    assert all(value in sent for value in DEMO.values)  # the canaries were really sent
    found = scan_files([home], DEMO.patterns(), exclude=[home / "examples"])
    outside = {path: v for path, v in found.items() if "/vault/" not in path}
    assert outside == {}
    # ... and the recipients' stores do hold what they were given (the scan sees it).
    assert set().union(*found.values()) >= {DEMO.thai_passport}


def test_demo_runs_clean_twice_and_leaves_a_usable_state(tmp_path: Path) -> None:
    env = {**os.environ, "TRM_HOME": str(tmp_path / ".trm")}
    env.pop("TRM_KAFKA_BOOTSTRAP", None)
    try:
        for _ in range(2):  # a second run starts clean
            out = subprocess.run(
                [TRM, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=400, check=False,
            )  # fmt: skip
            assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
            assert "outcomes were the expected ones" in out.stdout
        assert (tmp_path / ".trm" / "kafka" / "bootstrap").exists()
        _no_plaintext_but_at_the_recipients(tmp_path / ".trm")
        inbox = subprocess.run(
            [TRM, "node", "inbox", "--country", "KH", "--json"], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert inbox.returncode == 0, inbox.stderr
        records = [json.loads(line) for line in inbox.stdout.splitlines() if line.strip()]
        kinds = sorted(r.get("event_type", r.get("type", "")) for r in records)
        story_kinds = [k for k in kinds if k != "statistics_report"]
        assert story_kinds == ["handover_notice", "referral", "trafficker_alert"], records
        assert kinds.count("statistics_report") == 5  # the other members' reports
        (referral,) = [r for r in records if "referral" in (r.get("event_type"), r.get("type"))]
        assert "Sok Sreypov" not in json.dumps(referral, ensure_ascii=False)  # no consent yet
        assert "names" in referral["withheld"]

        # trm stats report needs no flag after the demo: this quarter, every key held, the
        # files under the state directory; the same numbers in every format.
        stats = subprocess.run(
            [TRM, "stats", "report"], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert stats.returncode == 0, stats.stdout + stats.stderr
        assert "interval check (k=11): passed" in stats.stdout
        (out_dir,) = (tmp_path / ".trm" / "reports").glob("stats-20*")
        assert check_files_agree(out_dir) > 0
        doc = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        assert doc["countries"]["included"] == ["CN", "KH", "LA", "MM", "TH", "VN"]
        assert "flows_by_corridor_type_month" in {t["name"] for t in doc["tables"]}

        # The stack outlives the demo: what a country publishes now is routed.
        status = subprocess.run(
            [TRM, "status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert status.returncode == 0, status.stdout + status.stderr
        example = tmp_path / ".trm" / "examples" / "handover-TH-KH.json"
        published = subprocess.run(
            [TRM, "node", "publish", "--country", "TH", str(example)], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        event_id = published.stdout.strip().splitlines()[-1]
        deadline = time.monotonic() + 60
        seen: list[str] = []
        while event_id not in seen and time.monotonic() < deadline:
            time.sleep(1)
            after = subprocess.run(
                [TRM, "node", "inbox", "--country", "KH", "--json", "--all"], cwd=tmp_path,
                env=env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert after.returncode == 0, after.stderr
            seen = [json.loads(x)["event_id"] for x in after.stdout.splitlines() if x.strip()]
        assert event_id in seen
    finally:
        down = subprocess.run(
            [TRM, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert "hub-worker-1: stopped" in down.stderr
