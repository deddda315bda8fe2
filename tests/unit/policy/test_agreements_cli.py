"""``trm agreements check|sign|explain|matrix`` and the example-signing script."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import schemas
from connectors.cli import main
from hub.keys import write_private_key
from tests.support.examples import AGREEMENTS_DIR, example_key
from tests.support.nodes import write_state
from tests.support.procs import REPO

TRUST = str(AGREEMENTS_DIR / "example-trust.json")


def trm(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, list(args))


def test_examples_are_signed_by_the_script_without_drift() -> None:
    done = subprocess.run(
        [sys.executable, str(AGREEMENTS_DIR / "make_examples.py"), "--check"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_check_accepts_the_examples_and_names_each_problem(tmp_path: Path) -> None:
    ok = trm("agreements", "check", str(AGREEMENTS_DIR), "--trust", TRUST)
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("(EXAMPLE)") == len(list(AGREEMENTS_DIR.glob("*.yaml")))
    for path in AGREEMENTS_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    broken = tmp_path / "th-la-protection.yaml"
    broken.write_text(broken.read_text().replace("retention_days: 730", "retention_days: -1", 1))
    tampered = tmp_path / "vn-kh-protection.yaml"
    text = tampered.read_text()
    tampered.write_text(text.replace("handling: [H1, H2, H3]", "handling: [H0, H1, H2, H3]", 1))
    result = trm("agreements", "check", str(tmp_path), "--trust", TRUST)
    assert result.exit_code == 1
    assert "rejected: AGREEMENT_INVALID: th-la-protection.yaml: at signed/flows/0" in result.output
    assert "retention_days" in result.output
    assert "(found -1)" in result.output
    assert "rejected: AGREEMENT_BAD_SIGNATURE: vn-kh-protection.yaml" in result.output


def test_sign_then_check(tmp_path: Path) -> None:
    source = (AGREEMENTS_DIR / "th-mm-protection.yaml").read_text(encoding="utf-8")
    unsigned = tmp_path / "th-mm.yaml"
    unsigned.write_text(source.split("signatures:")[0] + "signatures: []\n", encoding="utf-8")
    assert trm("agreements", "check", str(unsigned), "--trust", TRUST).exit_code == 1
    for cc in ("TH", "MM"):
        write_private_key(example_key(cc), tmp_path / f"{cc}.key")
        signed = trm("agreements", "sign", str(unsigned), "--key", str(tmp_path / f"{cc}.key"))
        assert signed.exit_code == 0, signed.output
    assert unsigned.read_text(encoding="utf-8").startswith("# EXAMPLE AGREEMENT")
    assert trm("agreements", "check", str(unsigned), "--trust", TRUST).exit_code == 0


def test_explain_and_matrix(tmp_path: Path) -> None:
    write_private_key(example_key("TH"), tmp_path / "TH.key")
    envelope = tmp_path / "referral.trm"
    sealed = trm(
        "event", "seal", "--type", "referral", "--from", "TH", "--to", "KH",
        "--key", str(tmp_path / "TH.key"), "--purpose", "repatriation",
        "--in", str(schemas.SCHEMA_DIR / "examples" / "referral.json"), "--out", str(envelope),
        "--unsealed",  # v1: no seal keys in this test
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.output
    args = ["--agreements", str(AGREEMENTS_DIR), "--trust", TRUST]
    kh = trm("agreements", "explain", "--event", str(envelope), "--to", "KH", *args)
    assert kh.exit_code == 0, kh.output
    assert "DELIVER under TH-KH-protection@2" in kh.output
    la = trm("agreements", "explain", "--event", str(envelope), "--to", "CN", *args)
    assert la.exit_code == 1
    assert "REFUSE EVENT_TYPE_NOT_ALLOWED" in la.output
    page = tmp_path / "matrix.html"
    matrix = trm("agreements", "matrix", *args, "--at", "2026-06-01T00:00:00Z", "--html", str(page))
    assert matrix.exit_code == 0, matrix.output
    html = page.read_text(encoding="utf-8")
    assert "referral (TH-KH-protection@2)" in html
    assert "trafficker_alert (COMMIT-baseline@1)" in html


def test_check_without_trust_checks_the_format_and_says_signatures_were_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the command as a newcomer types it, from the checkout
    # A state directory with another network's trust list (what `make demo` leaves):
    # without --trust it must not be used, so the example files pass on format.
    home = tmp_path / "home"
    write_state(home)
    n = len(list(AGREEMENTS_DIR.glob("*.yaml")))
    plain = trm("agreements", "check", "deploy/agreements", env={"TRM_HOME": str(home)})
    assert plain.exit_code == 0, plain.output
    assert f"format OK: {n} agreements; signatures not checked (pass --trust FILE)" in (
        plain.output
    )
    assert "missing" not in plain.output
    signed = trm("agreements", "check", "deploy/agreements", "--trust", TRUST)
    assert signed.exit_code == 0, signed.output
    assert f"format and signatures OK: {n} agreements" in signed.output
    assert "not checked" not in signed.output
    # The signatures really are checked with --trust (and only then).
    copy = tmp_path / "one"
    copy.mkdir()
    text = (AGREEMENTS_DIR / "vn-kh-protection.yaml").read_text(encoding="utf-8")
    tampered = text.replace("handling: [H1, H2, H3]", "handling: [H0, H1, H2, H3]", 1)
    assert tampered != text
    (copy / "vn-kh.yaml").write_text(tampered, encoding="utf-8")
    assert trm("agreements", "check", str(copy)).exit_code == 0
    refused = trm("agreements", "check", str(copy), "--trust", TRUST)
    assert refused.exit_code == 1
    assert "rejected: AGREEMENT_BAD_SIGNATURE: vn-kh.yaml" in refused.output
    # A format problem fails without --trust too (schema, dates).
    (copy / "vn-kh.yaml").write_text(
        text.replace("effective_from: '", "effective_from: 'not a date", 1), encoding="utf-8"
    )
    broken = trm("agreements", "check", str(copy))
    assert broken.exit_code == 1
    assert "rejected: AGREEMENT_INVALID" in broken.output
    assert "format: 1 problem(s): 0 agreements; signatures not checked" in broken.output


# --- hostile files (issue 16: 1 and 8) ----------------------------------------------


def _billion_laughs() -> str:
    """Nine levels of nine aliases: 9**9 strings once expanded, under 400 bytes written."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output


def test_check_refuses_a_billion_laughs_at_once(tmp_path: Path) -> None:
    bomb = _billion_laughs()
    assert len(bomb) < 400
    (tmp_path / "bomb.yaml").write_text(bomb, encoding="utf-8")
    good = AGREEMENTS_DIR / "th-mm-protection.yaml"
    (tmp_path / "th-mm.yaml").write_text(good.read_text(encoding="utf-8"), encoding="utf-8")
    for args in (
        [str(tmp_path)],
        [str(tmp_path), "--trust", TRUST],
        [str(tmp_path / "bomb.yaml")],
        [str(tmp_path / "bomb.yaml"), "--trust", TRUST],
    ):
        started = time.monotonic()
        result = trm("agreements", "check", *args)
        assert time.monotonic() - started < 5, args
        _no_traceback(result)
        assert result.exit_code == 1, (args, result.output)
        assert "rejected: AGREEMENT_INVALID: bomb.yaml: " in result.output
        assert "aliases" in result.output
    # The other file of the directory is still checked.
    assert "ok  th-mm.yaml" in trm("agreements", "check", str(tmp_path)).output


def test_check_refuses_deep_nesting_and_files_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", "utf-8")
    (tmp_path / "folder.yaml").mkdir()  # a directory the glob finds
    locked = tmp_path / "locked.yaml"
    locked.write_text((AGREEMENTS_DIR / "th-mm-protection.yaml").read_text("utf-8"), "utf-8")
    locked.chmod(0o000)
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "locked.yaml":  # as chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    for args in ([str(tmp_path)], [str(tmp_path), "--trust", TRUST]):
        result = trm("agreements", "check", *args)
        _no_traceback(result)
        assert result.exit_code == 1, result.output
        assert "rejected: AGREEMENT_INVALID: deep.yaml: expected YAML: expected nesting" in (
            result.output
        )
        assert "rejected: AGREEMENT_INVALID: " in result.output
        assert "folder.yaml" in result.output
        assert "locked.yaml" in result.output
        assert "Permission denied" in result.output
        assert result.output.count("rejected: ") == 3
    # The other doors that take a file or write one refuse the same way.
    trust_dir = tmp_path / "trust-dir"
    trust_dir.mkdir()
    for args in (
        ["agreements", "check", str(tmp_path / "deep.yaml"), "--trust", str(trust_dir)],
        ["agreements", "sign", str(tmp_path / "deep.yaml"), "--key", str(trust_dir)],
        ["agreements", "matrix", "--agreements", str(tmp_path), "--trust", TRUST],
        [
            "agreements",
            "explain",
            "--event",
            str(trust_dir),
            "--to",
            "KH",
            "--trust",
            TRUST,
            "--agreements",
            str(AGREEMENTS_DIR),
        ],
        [
            "agreements",
            "matrix",
            "--agreements",
            str(AGREEMENTS_DIR),
            "--trust",
            TRUST,
            "--html",
            str(trust_dir),
        ],
    ):
        result = trm(*args)
        _no_traceback(result)
        assert result.exit_code == 1, (args, result.output)
        assert "rejected: " in result.stderr, (args, result.output)
