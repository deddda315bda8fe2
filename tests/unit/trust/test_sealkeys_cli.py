"""``trm keys epoch rotate|list|destroy|due|publish`` on a state directory (no broker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner, Result

from connectors.cli import main
from hub.home import StateDir
from hub.policy.agreement import parse_time_ms
from hub.sealkeys import DAY_MS, OVERLAP_MS, Keyring, SealKeySet
from tests.support.nodes import trust_list, write_state

AGREEMENTS = Path(__file__).resolve().parents[3] / "deploy" / "agreements"


def _trm(home: Path, *args: str) -> Result:
    runner = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": ""})
    return runner.invoke(main, ["keys", "epoch", *args])


def _signed_set(home: Path, cc: str) -> SealKeySet:
    path = Keyring.of(StateDir(home), cc).signed_set_path
    return SealKeySet.from_signed(json.loads(path.read_text()), trust_list())


def test_rotate_signs_the_set_and_list_shows_the_windows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    first = _trm(home, "rotate", "--country", "KH")
    assert first.exit_code == 0, first.output
    kid1 = first.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", kid1)
    assert "not published" in first.stderr  # no broker known
    second = _trm(home, "rotate", "--country", "KH", "--epoch-days", "10")
    assert second.exit_code == 0, second.output
    kid2 = second.stdout.strip()

    signed = _signed_set(home, "KH")
    assert signed.version == 2
    assert [k.key_id for k in signed.keys] == [kid1, kid2]
    old, new = signed.keys
    assert old.not_after_ms == new.not_before_ms + OVERLAP_MS
    assert new.not_after_ms == new.not_before_ms + 10 * DAY_MS

    listed = _trm(home, "list", "--country", "KH", "--json")
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["key_id"] for r in rows] == [kid1, kid2]
    assert all(r["current"] and r["destroyed_at_ms"] is None for r in rows)
    assert all(r["due_at_ms"] is None for r in rows)  # no agreements in this state dir
    for result in (first, second, listed):
        assert "PRIVATE" not in result.output

    # A key that may not sign KH's set changes nothing.
    wrong = _trm(home, "rotate", "--country", "KH", "--key", str(home / "keys" / "TH.key"))
    assert wrong.exit_code == 1
    assert "rejected: KEY_ROLE_NOT_ALLOWED" in wrong.stderr
    assert len(Keyring.of(StateDir(home), "KH").keys()) == 2
    assert _signed_set(home, "KH").version == 2

    unconfirmed = _trm(home, "destroy", "--country", "KH", "--key-id", kid1)
    assert unconfirmed.exit_code == 2
    assert "--yes" in unconfirmed.output
    current = _trm(home, "destroy", "--country", "KH", "--key-id", kid2, "--yes")
    assert current.exit_code == 1
    assert "rejected: CONFIG_INVALID" in current.stderr
    assert Keyring.of(StateDir(home), "KH").private(kid2)


def test_due_lists_keys_past_retention_and_destroy_shreds_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    # TH-KH v1 with a 30-day retention everywhere (retention is judged by the terms).
    text = (AGREEMENTS / "th-kh-protection.v1.yaml").read_text("utf-8")
    (agreements / "short.yaml").write_text(
        text.replace("retention_days: 1095", "retention_days: 30")
    )
    ring = Keyring.of(StateDir(home), "TH")
    march = parse_time_ms("2025-03-01T00:00:00Z", "test")
    old = ring.rotate(march)
    newer = ring.rotate(march + 31 * DAY_MS)

    missing = _trm(home, "due", "--country", "TH")
    assert missing.exit_code == 1
    assert "rejected: CONFIG_INVALID" in missing.stderr  # never judged without agreements

    found = _trm(home, "due", "--country", "TH", "--agreements", str(agreements))
    assert found.exit_code == 0, found.output
    lines = found.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [old.key_id, newer.key_id]
    assert "TH-KH-protection@1" in lines[0]
    assert "30 days" in lines[0]
    assert "2 of 2 TH seal key(s) due" in found.stderr

    gone = _trm(home, "destroy", "--country", "TH", "--key-id", old.key_id, "--yes")
    assert gone.exit_code == 0, gone.output
    assert not (ring.directory / f"{old.key_id}.key").exists()
    signed = _signed_set(home, "TH")
    destroyed = signed.key(old.key_id)
    assert destroyed is not None
    assert destroyed.destroyed_at_ms is not None
    assert signed.key(newer.key_id) == newer

    after = _trm(home, "due", "--country", "TH", "--agreements", str(agreements), "--json")
    assert after.exit_code == 0, after.output
    (row,) = [json.loads(line) for line in after.stdout.splitlines()]
    assert row["key_id"] == newer.key_id
    assert row["retention_days"] == 30
    assert row["agreement"] == "TH-KH-protection@1"
    listed = _trm(home, "list", "--country", "TH", "--agreements", str(agreements))
    assert listed.exit_code == 0, listed.output
    assert "destroyed" in listed.stdout.splitlines()[0]
