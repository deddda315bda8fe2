"""``trm demo --secure``: the whole story with TLS, SCRAM users and deny-by-default ACLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stats_audit import check_files_agree

pytestmark = pytest.mark.kafka
TRM = str(Path(sys.executable).parent / "trm")


def test_the_demo_passes_with_security_on(tmp_path: Path) -> None:
    env = {**os.environ, "TRM_HOME": str(tmp_path / ".trm")}
    for name in ("TRM_KAFKA_BOOTSTRAP", "TRM_KAFKA_CLIENT_CONFIG"):
        env.pop(name, None)
    try:
        out = subprocess.run(
            [TRM, "demo", "--secure"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
        )
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
        assert "All 20 outcomes were the expected ones" in out.stdout
        assert "TLS + SASL/SCRAM" in out.stdout
        props = (tmp_path / ".trm/kafka/node1/server.properties").read_text()
        assert "PLAINTEXT://" not in props.split("listeners=")[1].splitlines()[0]
        # KH reads its own inbox with its own credentials, found in the state directory.
        inbox = subprocess.run(
            [TRM, "node", "inbox", "--country", "KH", "--json", "--all"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert inbox.returncode == 0, inbox.stderr
        kinds = sorted(json.loads(x)["type"] for x in inbox.stdout.splitlines() if x.strip())
        # the story's three, and the other five members' statistics reports
        assert kinds == sorted(["handover_notice", "referral", "trafficker_alert",
                                *["statistics_report"] * 5]), kinds  # fmt: skip
        # The demo ended with a regional statistics report: every format, the same numbers.
        out_dir = tmp_path / ".trm" / "reports" / "demo-stats"
        assert check_files_agree(out_dir) > 0
        doc = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        assert doc["countries"]["included"] == ["CN", "KH", "LA", "MM", "TH", "VN"]
        assert doc["interval_check"]["passed"] is True
        assert all(c["count"] in (None, 0) or c["count"] >= doc["k"]
                   for t in doc["tables"] for c in t["cells"])  # fmt: skip
    finally:
        subprocess.run(
            [TRM, "down"],  # the demo leaves the whole stack running
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
