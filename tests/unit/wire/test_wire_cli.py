"""``trm event seal|open|redact`` end to end through click."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import schemas
from connectors.cli import event as event_cli
from hub.keys import write_private_key
from hub.wire import EventType
from tests.support.wire import KEYS, T0, TH_KEY


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_private_key(TH_KEY, tmp_path / "TH.key")
    # The trust list is hub.trust's business; here a static directory stands in.
    monkeypatch.setattr(event_cli, "load_trust", lambda _path: KEYS)
    return tmp_path


def run(*args: str) -> Any:
    return CliRunner().invoke(event_cli.cli, list(args), catch_exceptions=False)


def seal_example(workdir: Path, event_type: str = "referral") -> Path:
    out = workdir / f"{event_type}.trm"
    result = run(
        "seal", "--type", event_type, "--from", "TH", "--to", "KH,LA",
        "--key", str(workdir / "TH.key"),
        "--in", str(schemas.SCHEMA_DIR / "examples" / f"{event_type}.json"),
        "--out", str(out), "--created-at", str(T0), "--case-key", "case-1",
        "--unsealed",  # v1: these tests read the values without a seal key
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("event_type", [t.value for t in EventType])
def test_seal_then_open_json(workdir: Path, event_type: str) -> None:
    out = seal_example(workdir, event_type)
    result = run("open", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    example = json.loads((schemas.SCHEMA_DIR / "examples" / f"{event_type}.json").read_text())
    assert doc["header"]["producer"] == "TH"
    assert doc["header"]["recipients"] == ["KH", "LA"]
    assert doc["header"]["created_at_ms"] == T0
    assert doc["header"]["event_type"] == event_type
    assert doc["disclosed"] == {k: v for k, v in example.items() if v is not None}
    assert set(doc["withheld"]).isdisjoint(doc["disclosed"])
    assert doc["attestations"] == []


def test_redact_drop_then_open_shows_withheld(workdir: Path) -> None:
    out = seal_example(workdir)
    red = workdir / "red.trm"
    result = run("redact", str(out), "--drop", "names,date_of_birth", "--out", str(red))
    assert result.exit_code == 0, result.output
    doc = json.loads(run("open", str(red), "--json").output)
    assert "names" in doc["withheld"]
    assert "date_of_birth" in doc["withheld"]
    assert "names" not in doc["disclosed"]
    assert doc["disclosed"]["is_child"] is True
    keep = workdir / "keep.trm"
    assert run("redact", str(out), "--keep", "is_child", "--out", str(keep)).exit_code == 0
    assert json.loads(run("open", str(keep), "--json").output)["disclosed"] == {"is_child": True}


def test_open_table_output(workdir: Path) -> None:
    out = seal_example(workdir, "detention_notice")
    result = run("open", str(out))
    assert result.exit_code == 0
    assert "embassy_notified" in result.output
    assert "withheld:" in result.output


def test_refusals_exit_1_with_reason(workdir: Path) -> None:
    out = seal_example(workdir)
    data = bytearray(out.read_bytes())
    data[60] ^= 0x01  # inside the signed header
    bad = workdir / "bad.trm"
    bad.write_bytes(bytes(data))
    result = CliRunner().invoke(event_cli.cli, ["open", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith("rejected: ")
    unknown = CliRunner().invoke(event_cli.cli, ["redact", str(out), "--drop", "nme"])
    assert unknown.exit_code == 1
    assert "rejected: UNKNOWN_FIELD:" in unknown.stderr


def test_seal_refuses_bad_payload_naming_the_field(workdir: Path) -> None:
    payload = workdir / "p.json"
    payload.write_text(json.dumps({"is_child": "ja"}), encoding="utf-8")
    result = CliRunner().invoke(
        event_cli.cli,
        ["seal", "--type", "referral", "--from", "TH", "--to", "KH",
         "--key", str(workdir / "TH.key"), "--in", str(payload), "--out", str(workdir / "x"),
         "--unsealed"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "rejected: INVALID_PAYLOAD:" in result.stderr
    assert "is_child" in result.stderr
    assert "ja" not in result.stderr.split("is_child", 1)[1]
    payload.write_text("{not json", encoding="utf-8")
    result2 = CliRunner().invoke(
        event_cli.cli,
        ["seal", "--type", "referral", "--from", "TH", "--to", "KH",
         "--key", str(workdir / "TH.key"), "--in", str(payload), "--unsealed"],
    )  # fmt: skip
    assert result2.exit_code == 1
    assert "rejected: BAD_REQUEST:" in result2.stderr  # UTF-8, but not JSON
    payload.write_bytes('{"note": "é"}'.encode("latin-1"))
    result3 = CliRunner().invoke(
        event_cli.cli,
        ["seal", "--type", "referral", "--from", "TH", "--to", "KH",
         "--key", str(workdir / "TH.key"), "--in", str(payload), "--unsealed"],
    )  # fmt: skip
    assert result3.exit_code == 1
    assert "rejected: BAD_ENCODING:" in result3.stderr


def test_trm_entry_point_reaches_the_event_verbs(workdir: Path) -> None:
    from connectors.cli import main

    out = seal_example(workdir)
    helped = CliRunner().invoke(main, ["event", "--help"])
    assert helped.exit_code == 0
    assert all(verb in helped.output for verb in ("seal", "open", "redact"))
    refused = CliRunner().invoke(main, ["event", "redact", str(out), "--drop", "x", "--keep", "y"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("rejected: BAD_REQUEST:")


def _kh_keys(home: Path) -> None:
    """KH's epoch key in the state dir's keyring and its set signed (what the demo makes)."""
    from hub.home import StateDir
    from hub.ops.provision import rotate_seal_keys
    from hub.sealkeys import Keyring
    from tests.support.wire import KH_KEY

    rotate_seal_keys({"KH": Keyring.of(StateDir(home), "KH")}, {"KH": KH_KEY}, KEYS, T0 - 1)


def test_seal_is_sealed_by_default_and_open_needs_the_recipients_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = workdir / "home"
    monkeypatch.setenv("TRM_HOME", str(home))
    args = [
        "seal", "--type", "referral", "--from", "TH", "--to", "KH",
        "--key", str(workdir / "TH.key"), "--created-at", str(T0), "--case-key", "case-1",
        "--in", str(schemas.SCHEMA_DIR / "examples" / "referral.json"),
    ]  # fmt: skip
    missing = CliRunner().invoke(event_cli.cli, [*args, "--out", str(workdir / "x.trm")])
    assert missing.exit_code == 1
    assert missing.stderr.startswith("rejected: SEAL_KEY_MISSING:")
    assert "--unsealed" in missing.stderr  # says what else to do
    assert not (workdir / "x.trm").exists()

    _kh_keys(home)
    out = workdir / "sealed.trm"
    assert run(*args, "--out", str(out)).exit_code == 0
    assert "សុខ ស្រីពៅ".encode() not in out.read_bytes()
    # Another state dir (no KH keys): the header, the policy attributes, the sealed labels.
    monkeypatch.setenv("TRM_HOME", str(workdir / "elsewhere"))
    doc = json.loads(run("open", str(out), "--json").output)
    assert doc["header"]["spec_version"] == 2
    assert doc["opened_as"] is None
    assert set(doc["disclosed"]) == {"is_child", "consent", "best_interest_assessment",
                                     "receiving_organisation"}  # fmt: skip
    assert "names" in doc["sealed"]
    assert "names" not in doc["withheld"]
    table = run("open", str(out))
    assert table.exit_code == 0
    assert "sealed" in table.output
    assert "សុខ" not in table.output
    # With KH's keys (found in the state dir, or named): every value.
    monkeypatch.setenv("TRM_HOME", str(home))
    for extra in ([], ["--country", "KH"]):
        opened = json.loads(run("open", str(out), "--json", *extra).output)
        assert opened["opened_as"] == "KH"
        assert opened["sealed"] == []
        assert opened["disclosed"]["names"][0]["full_name"] == "សុខ ស្រីពៅ"
    other = CliRunner().invoke(event_cli.cli, ["open", str(out), "--country", "LA"])
    assert other.exit_code == 1
    assert other.stderr.startswith("rejected: SEALING_INVALID:")  # no key wrap for LA


# --- hostile input (issue 16: 5, 6 and 8) ------------------------------------------


def _refused(result: Any, reason: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"rejected: {reason}: "), result.stderr
    assert "Traceback" not in result.output


def test_open_and_redact_refuse_paths_they_cannot_use(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = seal_example(workdir)
    folder = workdir / "folder"
    folder.mkdir()
    locked = workdir / "locked.trm"
    locked.write_bytes(out.read_bytes())
    locked.chmod(0o000)
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "locked.trm":  # as chmod 000 does for anyone but root
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    cli = CliRunner()
    for args in (
        ["open", str(folder)],
        ["open", str(locked)],
        ["open", str(workdir / "missing.trm")],
        ["redact", str(folder), "--drop", "names"],
        ["redact", str(locked), "--drop", "names"],
        ["redact", str(out), "--drop", "names", "--out", str(folder)],
        ["redact", str(out), "--drop", "names", "--out", str(workdir / "no" / "such" / "dir")],
        [
            "seal",
            "--type",
            "referral",
            "--from",
            "TH",
            "--to",
            "KH",
            "--unsealed",
            "--key",
            str(workdir / "TH.key"),
            "--in",
            str(folder),
        ],
        [
            "seal",
            "--type",
            "referral",
            "--from",
            "TH",
            "--to",
            "KH",
            "--unsealed",
            "--key",
            str(workdir / "TH.key"),
            "--in",
            str(out).replace(".trm", ".json"),
            "--out",
            str(folder),
        ],
    ):
        result = cli.invoke(event_cli.cli, args)
        _refused(result, "BAD_REQUEST")
        assert "expected" in result.stderr
    assert not list(folder.iterdir())


def test_seal_reads_its_json_strictly(workdir: Path) -> None:
    base = (schemas.SCHEMA_DIR / "examples" / "referral.json").read_text(encoding="utf-8")
    hostile = {
        "twice": ('{"is_child": true, "is_child": false}', "BAD_REQUEST", "twice"),
        "deep": ("[" * 100_000 + "]" * 100_000, "BAD_REQUEST", "nesting"),
        "surrogate": ('{"case_number": "\\ud800"}', "BAD_ENCODING", "surrogate"),
        "long-integer": ('{"x": ' + "9" * 5001 + "}", "BAD_REQUEST", "digits"),
        "not-json": ("{not json", "BAD_REQUEST", "expected JSON"),
    }
    assert base
    for name, (doc, reason, said) in hostile.items():
        for source in ("file", "stdin"):
            path = workdir / f"{name}.json"
            path.write_text(doc, encoding="utf-8")
            args = ["seal", "--type", "referral", "--from", "TH", "--to", "KH", "--unsealed",
                    "--key", str(workdir / "TH.key"),
                    "--in", str(path) if source == "file" else "-"]  # fmt: skip
            result = CliRunner().invoke(event_cli.cli, args, input=doc)
            _refused(result, reason)
            assert said in result.stderr, (name, result.stderr)


HOSTILE_NAME = "Plain [/bold] Name [link=http://evil.example]CLICK[/link] :smile:"


def test_open_shows_received_text_as_data(workdir: Path) -> None:
    example = json.loads((schemas.SCHEMA_DIR / "examples" / "handover_notice.json").read_text())
    example["names"] = [
        {"full_name": HOSTILE_NAME, "lang": "en"},
        {
            "full_name": "Esc\x1b[2J\x1b]8;;http://evil.example\x07here\x1b]8;;\x07 \u202egnp.exe",
            "lang": "en",
        },
    ]
    payload = workdir / "handover.json"
    payload.write_text(json.dumps(example, ensure_ascii=False), encoding="utf-8")
    out = workdir / "handover.trm"
    sealed = run(
        "seal", "--type", "handover_notice", "--from", "TH", "--to", "KH",
        "--key", str(workdir / "TH.key"), "--in", str(payload), "--out", str(out),
        "--case-key", "case-1", "--unsealed",
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.output
    result = CliRunner(env={"COLUMNS": "400"}).invoke(event_cli.cli, ["open", str(out)])
    assert result.exception is None, result.output
    assert result.exit_code == 0
    assert "Plain [/bold] Name" in result.output
    assert "[link=http://evil.example]CLICK[/link]" in result.output
    assert ":smile:" in result.output
    assert "\x1b" not in result.output  # no escape sequence reaches the terminal
    assert "\u202e" not in result.output
    assert "\\x1b" in result.output or "\\u001b" in result.output  # shown, neutralised
