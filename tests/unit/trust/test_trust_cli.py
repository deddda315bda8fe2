"""``trm keys`` and ``trm trust`` end to end, and ``trm event open`` against the result."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import schemas
from connectors.cli import main

COUNTRIES = ("KH", "CN", "LA", "MM", "TH", "VN")


def trm(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _keys(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    for cc in COUNTRIES:
        assert trm("keys", "new", "--country", cc, "--out", str(keys)).exit_code == 0
    assert trm("keys", "new", "--hub", "--out", str(keys)).exit_code == 0
    return keys


def test_keys_are_private_and_not_overwritten(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    mode = stat.S_IMODE((keys / "TH.key").stat().st_mode)
    assert mode == 0o600
    before = (keys / "TH.key").read_bytes()
    again = trm("keys", "new", "--country", "TH", "--out", str(keys))
    assert again.exit_code == 1
    assert "rejected: CONFIG_INVALID" in again.output
    assert (keys / "TH.key").read_bytes() == before
    # Key material never reaches the terminal.
    result = trm("keys", "new", "--country", "VN", "--out", str(tmp_path / "k2"))
    assert "PRIVATE" not in result.output
    assert (tmp_path / "k2/VN.key").read_text().split("\n")[1] not in result.output
    assert trm("keys", "new", "--country", "Thailand", "--out", str(keys)).exit_code == 1


def test_build_sign_verify_seal_open_revoke(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    trust = tmp_path / "trust.json"
    pubs = [str(keys / f"{cc}.pub") for cc in COUNTRIES] + [str(keys / "HUB.pub")]
    built = trm("trust", "build", *pubs, "--threshold", "4", "--out", str(trust))
    assert built.exit_code == 0, built.output
    unsigned = trm("trust", "verify", str(trust))
    assert unsigned.exit_code == 1
    assert "rejected: TRUST_THRESHOLD_NOT_MET" in unsigned.output
    for cc in ("TH", "KH", "LA"):
        assert trm("trust", "sign", str(trust), "--key", str(keys / f"{cc}.key")).exit_code == 0
    assert trm("trust", "verify", str(trust)).exit_code == 1
    assert trm("trust", "sign", str(trust), "--key", str(keys / "HUB.key")).exit_code == 0
    assert trm("trust", "verify", str(trust)).exit_code == 1  # the hub holds no root
    assert trm("trust", "sign", str(trust), "--key", str(keys / "VN.key")).exit_code == 0
    verified = trm("trust", "verify", str(trust), "--json")
    assert verified.exit_code == 0, verified.output
    summary = json.loads(verified.output)
    assert summary["signed_by"] == ["KH", "LA", "TH", "VN"]
    assert summary["version"] == 1

    envelope = tmp_path / "referral.trm"
    sealed = trm(
        "event", "seal", "--type", "referral", "--from", "TH", "--to", "KH",
        "--key", str(keys / "TH.key"),
        "--in", str(schemas.SCHEMA_DIR / "examples" / "referral.json"),
        "--out", str(envelope), "--unsealed",  # v1: no seal keys in this test
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.output
    opened = trm("event", "open", str(envelope), "--trust", str(trust), "--json")
    assert opened.exit_code == 0, opened.output
    assert json.loads(opened.output)["header"]["producer"] == "TH"

    th_id = next(k["key_id"] for k in summary["keys"] if k["owner"] == "TH")
    v2 = tmp_path / "trust-v2.json"
    revoked = trm(
        "trust", "revoke", str(trust), "--key-id", th_id, "--out", str(v2), "--at-ms", "0"
    )
    assert revoked.exit_code == 0, revoked.output
    for cc in ("KH", "LA", "MM", "VN"):
        assert trm("trust", "sign", str(v2), "--key", str(keys / f"{cc}.key")).exit_code == 0
    chained = trm("trust", "verify", str(v2), "--previous", str(trust))
    assert chained.exit_code == 0, chained.output
    assert "revoked" in chained.output
    rollback = trm("trust", "verify", str(trust), "--previous", str(v2))
    assert rollback.exit_code == 1
    assert "rejected: TRUST_ROLLBACK" in rollback.output
    refused = trm("event", "open", str(envelope), "--trust", str(v2))
    assert refused.exit_code == 1
    assert "rejected: KEY_" in refused.output


DAY_MS = 86_400_000


def _build(tmp_path: Path, keys: Path, *flags: str) -> tuple[Result, dict[str, object]]:
    out = tmp_path / "built.json"
    pubs = [str(keys / f"{cc}.pub") for cc in COUNTRIES] + [str(keys / "HUB.pub")]
    result = trm("trust", "build", *pubs, "--threshold", "4", "--out", str(out), *flags)
    body = json.loads(out.read_text())["signed"] if result.exit_code == 0 else {}
    out.unlink(missing_ok=True)
    return result, body


def test_build_takes_an_expiry_as_days_or_iso_time(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    days, body = _build(tmp_path, keys, "--valid-days", "30")
    assert days.exit_code == 0, days.output
    assert body["expires_at_ms"] == body["issued_at_ms"] + 30 * DAY_MS  # type: ignore[operator]
    assert "expires 20" in days.output
    date, body = _build(tmp_path, keys, "--expires", "2099-01-31")
    assert date.exit_code == 0, date.output
    assert body["expires_at_ms"] == 4_073_500_800_000  # 2099-01-31T00:00:00Z
    assert "expires 2099-01-31T00:00:00Z" in date.output
    time_, body = _build(tmp_path, keys, "--expires", "2099-01-31T12:00:00Z")
    assert time_.exit_code == 0, time_.output
    assert body["expires_at_ms"] == 4_073_500_800_000 + DAY_MS // 2
    never, body = _build(tmp_path, keys)
    assert never.exit_code == 0, never.output
    assert body["expires_at_ms"] is None
    assert "never expires (--expires or --valid-days" in never.output
    for flags, said in [
        (("--expires", "2001-01-01"), "expected a time after now"),
        (("--expires", "2099-01-31T12:00:00"), "expected a time with Z or an offset"),
        (("--expires", "next year"), "expected an ISO date (2027-01-31)"),
        (("--valid-days", "0"), "expected at least 1 day, got 0"),
        (("--valid-days", "3", "--expires", "2099-01-31"), "not both"),
    ]:
        refused, _ = _build(tmp_path, keys, *flags)
        assert refused.exit_code == 2, (flags, refused.output)
        assert said in refused.output, (flags, refused.output)


def _stale_list(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """(keys dir, trust.json, its document): a list built, stale at once, signed by 4 roots."""
    keys = _keys(tmp_path)
    trust = tmp_path / "trust.json"
    pubs = [str(keys / f"{cc}.pub") for cc in COUNTRIES] + [str(keys / "HUB.pub")]
    assert trm("trust", "build", *pubs, "--threshold", "4", "--out", str(trust)).exit_code == 0
    doc = json.loads(trust.read_text())
    doc["signed"]["expires_at_ms"] = doc["signed"]["issued_at_ms"] + 1  # stale at once
    trust.write_text(json.dumps(doc))
    for cc in ("TH", "KH", "LA", "VN"):
        assert trm("trust", "sign", str(trust), "--key", str(keys / f"{cc}.key")).exit_code == 0
    return keys, trust, doc


def test_verify_refuses_an_expired_list(tmp_path: Path) -> None:
    _keys_dir, trust, doc = _stale_list(tmp_path)
    stale = trm("trust", "verify", str(trust))
    assert stale.exit_code == 1
    assert "rejected: TRUST_EXPIRED" in stale.output
    assert f"({doc['signed']['expires_at_ms']})" in stale.output


def test_renew_an_expired_list_then_verify_the_chain(tmp_path: Path) -> None:
    keys, trust, doc = _stale_list(tmp_path)
    nxt = tmp_path / "trust-next.json"
    renewed = trm("trust", "renew", str(trust), "--valid-days", "90", "--out", str(nxt))
    assert renewed.exit_code == 0, renewed.output
    assert "version 2, expires 20" in renewed.output
    body = json.loads(nxt.read_text())["signed"]
    assert body["version"] == 2
    assert body["expires_at_ms"] == body["issued_at_ms"] + 90 * DAY_MS
    assert body["keys"] == doc["signed"]["keys"]  # same keys, same windows
    assert trm("trust", "verify", str(nxt), "--previous", str(trust)).exit_code == 1  # unsigned
    for cc in ("KH", "LA", "MM", "VN"):
        assert trm("trust", "sign", str(nxt), "--key", str(keys / f"{cc}.key")).exit_code == 0
    chained = trm("trust", "verify", str(nxt), "--previous", str(trust))
    assert chained.exit_code == 0, chained.output
    assert "trust list v2 OK" in chained.output
    assert "expires 20" in chained.output


# --- hostile files (issue 16: 6 and 8) ----------------------------------------------


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output


def _signed_list(tmp_path: Path) -> tuple[Path, Path]:
    """(keys dir, trust.json): a list signed by four roots, threshold 4."""
    keys = _keys(tmp_path)
    trust = tmp_path / "trust.json"
    pubs = [str(keys / f"{cc}.pub") for cc in COUNTRIES] + [str(keys / "HUB.pub")]
    assert trm("trust", "build", *pubs, "--threshold", "4", "--out", str(trust)).exit_code == 0
    for cc in ("TH", "KH", "LA", "VN"):
        assert trm("trust", "sign", str(trust), "--key", str(keys / f"{cc}.key")).exit_code == 0
    assert trm("trust", "verify", str(trust)).exit_code == 0
    return keys, trust


def test_verify_refuses_a_member_twice_and_hostile_json(tmp_path: Path) -> None:
    _, trust = _signed_list(tmp_path)
    text = trust.read_text(encoding="utf-8")
    body = json.dumps(json.loads(text)["signed"])
    assert '"threshold": 4' in text
    hostile = {
        # A reader keeping the first value would see threshold 1.
        "threshold-twice": text.replace('"threshold": 4', '"threshold": 1, "threshold": 4', 1),
        "signed-twice": text.replace('"signed": {', f'"signed": {body}, "signed": {{', 1),
        "deep": "[" * 100_000 + "]" * 100_000,
        "surrogate": text.replace('"threshold": 4', '"threshold": 4, "x": "\\ud800"', 1),
        "long-integer": text.replace('"threshold": 4', '"threshold": ' + "4" * 5001, 1),
    }
    for name, doc in hostile.items():
        path = tmp_path / f"{name}.json"
        path.write_text(doc, encoding="utf-8")
        for args in (["verify", str(path)], ["verify", str(trust), "--previous", str(path)]):
            result = trm("trust", *args)
            _no_traceback(result)
            assert result.exit_code == 1, (name, result.output)
            assert result.output.startswith("rejected: TRUST_MALFORMED: "), (name, result.output)
            assert "OK" not in result.output
        signed = trm("trust", "sign", str(path), "--key", str(tmp_path / "keys" / "TH.key"))
        _no_traceback(signed)
        assert signed.exit_code == 1, (name, signed.output)
        assert path.read_text(encoding="utf-8") == doc  # nothing written over it


def test_trust_paths_that_are_directories_or_unwritable_are_refused(tmp_path: Path) -> None:
    keys, trust = _signed_list(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)  # as private as a key file must be: only its kind is wrong
    pubs = [str(keys / f"{cc}.pub") for cc in COUNTRIES] + [str(keys / "HUB.pub")]
    for args in (
        ["verify", str(trust), "--previous", str(folder)],
        ["sign", str(trust), "--key", str(folder)],
        ["sign", str(trust), "--key", str(keys / "TH.key"), "--out", str(folder)],
        ["build", *pubs, "--threshold", "4", "--out", str(tmp_path / "missing" / "t.json")],
        ["build", str(folder), "--threshold", "4", "--out", str(tmp_path / "t.json")],
        ["renew", str(trust), "--valid-days", "9", "--out", str(folder)],
    ):
        result = trm("trust", *args)
        _no_traceback(result)
        assert result.exit_code in {1, 2}, (args, result.output)
        if result.exit_code == 1:
            assert result.output.startswith("rejected: "), (args, result.output)
