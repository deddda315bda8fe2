"""``trm audit replay`` prints what it read from topics as data (issue 16, 5: the class).

A finding's detail or event id comes from records anyone with write access to a
topic could shape; rich markup in it must neither crash the report nor style
or link it, and terminal control characters must not reach the terminal.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from connectors.cli import audit as audit_cli
from hub.audit.replay import Finding, Report
from tests.support.examples import AGREEMENTS_DIR


def test_replay_prints_findings_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    report = Report(
        findings=[
            Finding(
                "INJECTION", "t.KH.inbox", 0, 7, "Plain [/bold] id", "[link=http://x]CLICK[/link]"
            ),
            Finding("DROP", "t.TH.outbox", 1, 3, "e", "ends \x1b]8;;http://x\x1b\\here \u202e"),
        ]
    )

    def fake_replay(*_args: Any, **_kwargs: Any) -> Report:
        return report

    monkeypatch.setattr(audit_cli, "run_replay", fake_replay)
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        audit_cli.cli,
        ["replay", "--bootstrap", "127.0.0.1:1",
         "--trust", str(AGREEMENTS_DIR / "example-trust.json"),
         "--agreements", str(AGREEMENTS_DIR)],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1  # findings: a discrepancy, reported
    assert "Plain [/bold] id" in result.output
    assert "[link=http://x]CLICK[/link]" in result.output
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output
    assert "\\x1b]8;;http://x" in result.output
