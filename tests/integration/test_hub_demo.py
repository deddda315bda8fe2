"""``trm demo`` end to end in a fresh state directory: every outcome as the story says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka
TRM = str(Path(sys.executable).parent / "trm")


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
        inbox = subprocess.run(
            [TRM, "node", "inbox", "--country", "KH", "--json"], cwd=tmp_path, env=env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert inbox.returncode == 0, inbox.stderr
        assert "referral" in inbox.stdout
        assert "trafficker_alert" in inbox.stdout
        assert "Sok Sreypov" not in inbox.stdout  # the name was withheld (no consent)
    finally:
        subprocess.run([TRM, "kafka", "down"], cwd=tmp_path, env=env, timeout=120, check=False)
