"""``trm node publish`` reads its files strictly and refuses them before any broker is asked.

Issue 16 (6 and 8): a submission with a member twice, nested 100,000 deep, with a
lone surrogate or a 5,001-digit integer, or a path that is no readable file, is
refused with ``rejected: REASON: detail`` and exit 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from connectors.cli import main
from tests.support.nodes import write_state

GOOD = '{"type": "referral", "to": "KH", "case_key": "c-1", "payload": {}}'
HOSTILE = {
    # protocol.md: a member twice is BAD_REQUEST (a reader keeping the first sees another event)
    "type-twice": (
        GOOD.replace('"type": "referral"', '"type": "referral", "type": "handover_notice"'),
        "BAD_REQUEST",
        "twice",
    ),
    "deep": ("[" * 100_000 + "]" * 100_000, "BAD_REQUEST", "nesting"),
    "surrogate": (GOOD.replace('"c-1"', '"\\ud800"'), "BAD_ENCODING", "surrogate"),
    "long-integer": (GOOD.replace("{}", '{"x": ' + "9" * 5001 + "}"), "BAD_REQUEST", "digits"),
    "nan": (GOOD.replace("{}", '{"x": NaN}'), "BAD_REQUEST", "NaN"),
}


def _publish(home: Path, *files: str) -> Result:
    # No broker: a file refused on reading never gets as far as one.
    runner = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    return runner.invoke(main, ["node", "publish", "--country", "TH", *files])


def _refused(result: Result, reason: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"rejected: {reason}: "), result.stderr


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_publish_refuses_hostile_json(tmp_path: Path, name: str) -> None:
    write_state(tmp_path / "home")
    doc, reason, said = HOSTILE[name]
    path = tmp_path / f"{name}.json"
    path.write_text(doc, encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(GOOD, encoding="utf-8")
    result = _publish(tmp_path / "home", str(good), str(path))
    _refused(result, reason)
    assert said in result.stderr
    assert f"{name}.json" in result.stderr  # which file
    assert not (tmp_path / "home" / "nodes" / "TH" / "sequence").exists()


def test_publish_refuses_paths_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(tmp_path / "home")
    locked = tmp_path / "locked.json"
    locked.write_text(GOOD, encoding="utf-8")
    locked.chmod(0o000)
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "locked.json":  # as chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    for path, said in (
        (locked, "Permission denied"),
        (tmp_path / "missing.json", "No such file"),
    ):
        result = _publish(tmp_path / "home", str(path))
        _refused(result, "BAD_REQUEST")
        assert said in result.stderr
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)  # as private as a key file must be: only its kind is wrong
    usage = _publish(tmp_path / "home", str(folder))
    assert usage.exit_code == 2  # click refuses a directory for FILES: a usage error
    assert "is a directory" in usage.output
    for option in ("--key", "--trust"):
        result = CliRunner(
            env={"TRM_HOME": str(tmp_path / "home"), "TRM_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
        ).invoke(main, ["node", "inbox", "--country", "KH", option, str(folder)])
        assert result.exception is None or isinstance(result.exception, SystemExit), option
        assert result.exit_code == 1, (option, result.output)
        assert result.stderr.startswith("rejected: "), (option, result.stderr)


def test_inbox_shows_a_signed_time_no_calendar_holds_as_a_number() -> None:
    from connectors.cli.node import _when

    assert _when(1_767_300_000_000) == "2026-01-01 20:40"
    assert _when(2**63 - 1) == f"{2**63 - 1} ms"  # a header may carry it: no traceback
