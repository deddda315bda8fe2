"""``trm keys`` and ``trm trust`` end to end, and ``trm event open`` against the result."""

from __future__ import annotations

import json
import stat
from pathlib import Path

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
        "--out", str(envelope),
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
