"""``trm stats report``'s flags: refused before anything is read or sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.cli import main
from connectors.cli.stats import held_countries, load_flows
from hub.audit.flows import AckTime, FlowCount, Flows
from hub.errors import RequestError
from hub.home import StateDir


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(main, ["stats", "report", *args], env={"TRM_HOME": str(tmp_path)})
    return result.exit_code, result.output


def test_a_bad_period_or_k_is_refused(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "--period", "2026-Q9")
    assert code == 1
    assert "BAD_REQUEST" in out
    assert "expected a period YYYY-Qn" in out
    code, out = _run(tmp_path, "--period", "2026-Q3", "--k", "0")
    assert code == 1
    assert "expected k >= 1" in out


def test_the_countries_are_the_keys_held(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("TH.key", "KH.key", "HUB.key", "KH.pub"):
        (keys / name).write_text("x")
    assert held_countries(StateDir(tmp_path), ["KH", "CN", "TH"]) == ["KH", "TH"]


def test_flows_come_from_a_replay_report(tmp_path: Path) -> None:
    flows = Flows(
        (FlowCount("TH", "KH", "referral", "2026-07", 12, 1, (3, 4)),),
        (AckTime("TH", "KH", "referral", "e1", 1, 2, 3, 4),),
    )
    report = tmp_path / "replay.json"
    report.write_text(json.dumps({"ok": True, "counts": {}, "flows": flows.to_json()}))
    assert load_flows(report) == flows
    report.write_text("not json")
    with pytest.raises(RequestError, match="expected the JSON of a replay report"):
        load_flows(report)
