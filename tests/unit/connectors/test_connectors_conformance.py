"""``trm conformance``: the repository's vector sets pass, and a wrong or missing one fails."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from connectors.cli import main
from hub.conformance import SETS, run

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def test_every_set_of_the_repository_passes() -> None:
    got = CliRunner().invoke(main, ["conformance", str(VECTORS), "--json"])
    assert got.exit_code == 0, got.output
    report = json.loads(got.output)
    assert report["passed"] is True
    assert [s["set"] for s in report["sets"]] == [s.folder for s in SETS]
    for s in report["sets"]:
        assert s["vectors"] > 0
        assert s["passed"] == s["vectors"], s


def test_a_changed_expectation_is_named(tmp_path: Path) -> None:
    shutil.copytree(VECTORS / "wire", tmp_path / "wire")
    path = tmp_path / "wire" / "bad-33-uuid-variant.json"
    vector = json.loads(path.read_text(encoding="utf-8"))
    vector["expected"]["reason"] = "BAD_SIGNATURE"
    path.write_text(json.dumps(vector), encoding="utf-8")
    got = CliRunner().invoke(main, ["conformance", str(tmp_path), "--set", "wire"])
    assert got.exit_code == 1
    assert "bad-33-uuid-variant.json: expected" in got.output
    assert '"reason":"INVALID_HEADER"' in got.output  # what this implementation says
    assert "NOT conformant: 1 sets" in got.output


def test_a_missing_set_fails_and_an_unreadable_one_too(tmp_path: Path) -> None:
    (tmp_path / "wire").mkdir()
    (tmp_path / "wire" / "trust.json").write_text('{"signed": 1, "signed": 2}', encoding="utf-8")
    reports = run(tmp_path)
    assert all(not r.passed for r in reports)
    assert {r.vector_set.folder for r in reports if r.missing} == {s.folder for s in SETS} - {
        "wire"
    }
    [wire] = [r for r in reports if r.vector_set.folder == "wire"]
    assert wire.failures[0].got == "ValueError"  # a duplicate key is not read past
    got = CliRunner().invoke(main, ["conformance", str(tmp_path)])
    assert got.exit_code == 1
    assert "missing: no folder sealed/" in got.output


def test_an_unknown_set_is_a_usage_error() -> None:
    got = CliRunner().invoke(main, ["conformance", str(VECTORS), "--set", "nonsense"])
    assert got.exit_code == 2


def test_the_specification_lists_every_set() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text("utf-8")
    table = text.split("<!-- CONFORMANCE-TABLE -->")[1].split("<!-- /CONFORMANCE-TABLE -->")[0]
    listed = [
        line.split("`")[1].rstrip("/") for line in table.splitlines() if line.startswith("| `")
    ]
    assert listed == [s.folder for s in SETS]


def test_each_set_is_the_folder_its_module_names() -> None:
    for vector_set in SETS:
        module = importlib.import_module(vector_set.module)
        assert vector_set.folder == module.NAME
        assert (VECTORS / vector_set.folder).is_dir()
