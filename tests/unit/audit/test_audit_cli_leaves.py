"""``trm audit leaves``: the command printed under each count lists exactly the leaves it counts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from connectors.cli import audit as audit_cli
from connectors.cli import main as trm_main
from hub.audit.replay import Report
from hub.audit.report import leaves_command
from tests.support.audit import OFFLINE_FILES
from tests.unit.audit.test_audit_flows import Traffic, run, traffic


@pytest.fixture(scope="module")
def t() -> Traffic:
    return traffic()


@pytest.fixture
def replaying(t: Traffic, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's replay runs over the in-memory traffic instead of Kafka."""

    def fake(*_args: Any, **kw: Any) -> Report:
        return run(t, select=kw.get("select"), on_leaf=kw.get("on_leaf"))

    monkeypatch.setattr(audit_cli, "run_replay", fake)


@pytest.mark.usefixtures("replaying")
def test_the_command_under_a_count_lists_its_leaves(t: Traffic) -> None:
    report = run(t)
    for count in report.flows.counts:
        select = {
            "producer": count.producer,
            "recipient": count.recipient,
            "event_type": count.event_type,
            "month": count.month,
        }
        args = leaves_command(select).split()[3:]  # after "trm audit leaves"
        result = CliRunner().invoke(trm_main, ["audit", "leaves", *args, *OFFLINE_FILES, "--json"])
        assert result.exit_code == 0, result.output
        listed = [json.loads(line) for line in result.stdout.splitlines() if line]
        assert [leaf["index"] for leaf in listed] == list(count.leaves)
        assert {(leaf["producer"], leaf["recipient"]) for leaf in listed} == {
            (count.producer, count.recipient)
        }
        assert f"{count.total} leaves" in result.stderr


@pytest.mark.usefixtures("replaying")
def test_a_malformed_month_is_refused_before_replaying() -> None:
    result = CliRunner().invoke(trm_main, ["audit", "leaves", "--month", "2026-13", *OFFLINE_FILES])
    assert result.exit_code == 1
    assert "BAD_REQUEST" in result.output
