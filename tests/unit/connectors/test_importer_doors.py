"""The importer's doors (issue 16): mapping files, CSV and JSON Lines rows, row keys,
refusals by the node, interruption. No broker: a fake node records what it is given."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from connectors.cli import main
from connectors.importer import (
    MAX_ROW_BYTES,
    ImportSummary,
    RowError,
    import_file,
    load_mapping,
    load_mapping_file,
    read_rows,
)
from connectors.sdk import CountryNode, NodeStore, Submission
from hub.errors import OperationalError, Reason, RequestError, WireError

MAP: dict[str, Any] = {
    "type": "referral",
    "to": ["KH"],
    "row_key": ["id"],
    "fields": {
        "case_number": "id",
        "names.0.full_name": "name",
        "consent.status": "consent",
        "consent.scope": {"column": "scope", "as": "list", "default": []},
    },
}
HEADER = "id,name,consent,scope\n"

# Nine levels of aliases: 377 bytes that expand to 10^9 strings once walked.
BOMB = "\n".join(
    [
        "type: referral",
        "to: [KH]",
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]"
            for i in range(8)
        ),
        "row_key: *i",
        "fields: {case_number: id}",
    ]
)


def _rows(tmp_path: Path, name: str, text: str, mapping: dict[str, Any] = MAP) -> list[Any]:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return list(read_rows(f, load_mapping(mapping)))


# --- 1: the mapping file ---------------------------------------------------------


def test_alias_bomb_in_mapping_refused_at_once(tmp_path: Path) -> None:
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(RequestError) as info:
        load_mapping_file(f)
    assert time.monotonic() - started < 2
    assert info.value.reason is Reason.CONFIG_INVALID
    assert "alias" in info.value.detail
    res = CliRunner().invoke(main, ["import", "--country", "TH", "--map", str(f), "x.csv"])
    assert res.exit_code == 1
    assert res.stderr.startswith("rejected: CONFIG_INVALID: mapping bomb.yaml: expected YAML")


@pytest.mark.parametrize(
    ("text", "reason", "needle"),
    [
        ("type: referral\ntype: referral\n", Reason.CONFIG_INVALID, "appears twice"),
        ("x: " + "[" * 100 + "]" * 100, Reason.CONFIG_INVALID, "nesting"),
        ("a: " + "b" * 300_000, Reason.OVERSIZED, "at most"),
        ("fields: {case_number: id}\nto: [KH]\n1: x\n", Reason.CONFIG_INVALID, "unknown key '1'"),
    ],
)
def test_mapping_file_refusals(tmp_path: Path, text: str, reason: Reason, needle: str) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(RequestError) as info:
        load_mapping_file(f, event_type="referral")
    assert info.value.reason is reason
    assert needle in info.value.detail


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"names.99999999.full_name": "n"}, "indices 0..63"),  # a list that big is memory
        ({"case_number": "id", "case_number.x": "y"}, "which is a value"),
        ({"names.0.full_name": "n", "names.x": "y"}, "either indices or names"),
        ({"names..full_name": "n"}, "joined by '.'"),
        ({"needs": {"column": "n", "as": "list", "defualt": []}}, "unknown key 'defualt'"),
        ({"needs": {"const": [], "column": "n"}}, "{const} alone"),
    ],
)
def test_mapping_paths_checked_before_rows(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(RequestError) as info:
        load_mapping({**MAP, "fields": fields})
    assert info.value.reason is Reason.CONFIG_INVALID
    assert needle in info.value.detail


@pytest.mark.parametrize(
    "change", [{"to_column": ["a"]}, {"purpose": 3}, {"row_key": [{"a": 1}]}, {"multiline": 1}]
)
def test_mapping_value_types_refused(change: dict[str, Any]) -> None:
    with pytest.raises(RequestError) as info:
        load_mapping({**MAP, **change})
    assert info.value.reason is Reason.CONFIG_INVALID


def test_missing_mapping_file_is_a_clear_error(tmp_path: Path) -> None:
    for target in (tmp_path / "nope.yaml", tmp_path):
        res = CliRunner().invoke(main, ["import", "--country", "TH", "--map", str(target), "x.csv"])
        assert res.exit_code == 1, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert res.stderr.startswith("rejected: CONFIG_INVALID: mapping: cannot read")


# --- 2: a CSV row never takes the rows after it -------------------------------------


def test_unclosed_quote_refuses_its_row_only(tmp_path: Path) -> None:
    text = HEADER + 'R1,Ana,GIVEN,"repatriation\nR2,Ben,GIVEN,x\nR3,Chea,NOT_ASKED,\n'
    rows = _rows(tmp_path, "a.csv", text)
    assert [n for n, _ in rows] == [2, 3, 4]
    bad = rows[0][1]
    assert isinstance(bad, RowError)
    assert bad.reason == "BAD_REQUEST"
    assert "Ben" not in bad.detail
    assert rows[1][1] == {"id": "R2", "name": "Ben", "consent": "GIVEN", "scope": "x"}
    assert rows[2][1]["id"] == "R3"


def test_quoted_line_break_refused_unless_the_column_is_multiline(tmp_path: Path) -> None:
    text = HEADER + 'R1,Ana,GIVEN,"a\nb"\nR2,Ben,GIVEN,x\n'
    rows = _rows(tmp_path, "a.csv", text)
    assert [n for n, _ in rows] == [2, 3, 4]  # line 3 ("b"") is then a row of its own
    assert isinstance(rows[0][1], RowError)
    assert "'scope'" in rows[0][1].detail
    assert isinstance(rows[1][1], RowError)
    assert rows[2][1]["id"] == "R2"
    allowed = _rows(tmp_path, "b.csv", text, {**MAP, "multiline": ["scope"]})
    assert [n for n, _ in allowed] == [2, 4]
    assert allowed[0][1]["scope"] == "a\nb"
    # Even where allowed, a cell holding whole rows is an unclosed quote.
    swallow = HEADER + 'R1,Ana,GIVEN,"a\nR2,Ben,GIVEN,x\nR3,Chea,GIVEN,"\n'
    rows = _rows(tmp_path, "c.csv", swallow, {**MAP, "multiline": ["scope"]})
    assert isinstance(rows[0][1], RowError)
    assert [r["id"] for _, r in rows[1:] if isinstance(r, dict)] == ["R2"]


def test_cell_count_and_cell_size(tmp_path: Path) -> None:
    big = "x" * 131_073
    text = HEADER + f"R1,{big},GIVEN,\nR2,Ben\nR3,Ben,GIVEN,,extra\nR4,Dara,GIVEN,\n"
    rows = _rows(tmp_path, "a.csv", text)
    assert [n for n, _ in rows] == [2, 3, 4, 5]
    assert [r.reason for _, r in rows[:3]] == ["OVERSIZED", "BAD_REQUEST", "BAD_REQUEST"]
    assert rows[3][1]["id"] == "R4"
    huge = HEADER + f'R1,"{"y" * MAX_ROW_BYTES}\nR2,Ben,GIVEN,\n'
    rows = _rows(tmp_path, "b.csv", huge, {**MAP, "multiline": ["name"]})
    assert rows[0][1].reason == "OVERSIZED"
    assert rows[1][1]["id"] == "R2"


def test_duplicate_csv_column_refuses_the_file(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as info:
        _rows(tmp_path, "a.csv", "id,name,consent,scope,name\nR1,A,GIVEN,,B\n")
    assert info.value.reason is Reason.CONFIG_INVALID
    assert "'name' is columns 2 and 5" in info.value.detail


# --- 6, 8: JSON Lines rows read strictly ------------------------------------------------


def test_jsonl_rows_read_strictly(tmp_path: Path) -> None:
    lines = [
        '{"id": "R1", "id": "R9"}',
        "[" * 100_000 + "]" * 100_000,
        '{"id": "\\ud800"}',
        '{"id": "R4", "n": ' + "9" * 5001 + "}",
        '{"id": "R5", "name": "a\u2028b"}',  # U+2028 is allowed inside a JSON string
        '{"id": "R6"}',
    ]
    rows = _rows(tmp_path, "a.jsonl", "\n".join(lines) + "\n")
    assert [n for n, _ in rows] == [1, 2, 3, 4, 5, 6]
    reasons = [r.reason for _, r in rows[:4]]
    assert reasons == ["BAD_REQUEST", "BAD_REQUEST", "BAD_ENCODING", "BAD_REQUEST"]
    assert "twice" in rows[0][1].detail
    assert rows[4][1] == {"id": "R5", "name": "a\u2028b"}
    assert rows[5][1] == {"id": "R6"}
    big = tmp_path / "b.jsonl"
    big.write_text('{"id": "' + "z" * 2_000_000 + '"}\n{"id": "R2"}\n', encoding="utf-8")
    rows = list(read_rows(big, load_mapping(MAP)))
    assert rows[0][1].reason == "OVERSIZED"
    assert rows[1][1] == {"id": "R2"}


def test_converters_refuse_without_raising_otherwise() -> None:
    m = load_mapping(
        {
            **MAP,
            "fields": {
                "referred_at": {"column": "t", "as": "timestamp"},
                "case_number": "id",
            },
        }
    )
    earliest = m.payload_of({"id": "1", "t": "0001-01-01T00:00:00+23:59"})
    assert earliest["referred_at"] == -62_135_683_140_000  # a value; the schema judges it
    with pytest.raises(RowError) as info:
        m.payload_of({"id": "1", "t": "10000-01-01"})
    assert info.value.reason == "INVALID_PAYLOAD"
    ints = load_mapping(
        {**MAP, "fields": {"case_number": "id", "referred_at": {"column": "a", "as": "int"}}}
    )
    with pytest.raises(RowError):
        ints.payload_of({"id": "1", "a": "9" * 5001})
    with pytest.raises(RowError):
        ints.payload_of({"id": "1", "a": "9" * 25})


# --- 4, 7, 15: the import itself, against a fake node ---------------------------------


class FakeNode:
    """What import_file uses of a CountryNode; refuses rows as told."""

    def __init__(self, root: Path, refuse: dict[str, Exception] | None = None) -> None:
        self.country = "TH"
        self.store = NodeStore(root)
        self.sent: list[tuple[str, Submission]] = []
        self.refuse = refuse or {}

    async def check(self, sub: Submission, **_: Any) -> dict[str, Any]:
        return dict(sub.payload)

    async def publish(self, sub: Submission, *, event_id: str, **_: Any) -> str:
        error = self.refuse.get(str(sub.payload.get("case_number")))
        if error is not None:
            raise error
        await asyncio.sleep(0)
        self.sent.append((event_id, sub))
        return event_id


async def _import(
    node: FakeNode, data: Path, **kw: Any
) -> tuple[ImportSummary, list[dict[str, str]]]:
    errs = data.with_name(data.name + ".errors.csv")
    summary = await import_file(
        cast(CountryNode, node), load_mapping(MAP), data, errors_path=errs, **kw
    )
    return summary, list(csv.DictReader(errs.read_text("utf-8").splitlines()))


async def test_same_row_key_with_other_content_is_a_conflict(tmp_path: Path) -> None:
    node = FakeNode(tmp_path / "node")
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "R1,Ana,GIVEN,\nR1,Ana,GIVEN,\nR1,Bopha,GIVEN,\n", encoding="utf-8")
    summary, errors = await _import(node, data)
    assert (summary.sent, summary.already_sent, summary.refused) == (1, 1, 1)
    assert [(e["row"], e["reason"]) for e in errors] == [("4", "ROW_KEY_CONFLICT")]
    assert "line 2" in errors[0]["detail"]
    assert "Bopha" not in errors[0]["detail"]
    # A later run: the key was sent with other content.
    data.write_text(HEADER + "R1,Bopha,GIVEN,\nR2,Ben,GIVEN,\n", encoding="utf-8")
    summary, errors = await _import(FakeNode(tmp_path / "node"), data)
    assert (summary.sent, summary.already_sent, summary.refused) == (1, 0, 1)
    assert [(e["row"], e["reason"]) for e in errors] == [("2", "ROW_KEY_CONFLICT")]
    assert "sent before" in errors[0]["detail"]


async def test_row_refused_by_the_node_goes_to_errors_and_the_import_goes_on(
    tmp_path: Path,
) -> None:
    oversized = WireError(Reason.OVERSIZED, "expected at most 1000000 bytes, got 1200000")
    node = FakeNode(tmp_path / "node", {"R2": oversized})
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "R1,A,GIVEN,\nR2,B,GIVEN,\nR3,C,GIVEN,\n", encoding="utf-8")
    summary, errors = await _import(node, data)
    assert (summary.sent, summary.refused) == (2, 1)
    assert [(e["row"], e["reason"]) for e in errors] == [("3", "OVERSIZED")]
    # A re-run tries R2 again (its content may be fixed) without blocking anything.
    node = FakeNode(tmp_path / "node", {"R2": oversized})
    summary, errors = await _import(node, data)
    assert (summary.sent, summary.already_sent, summary.refused) == (0, 2, 1)
    # Fixed content is no conflict: the refused row was never sent.
    data.write_text(HEADER + "R1,A,GIVEN,\nR2,Bee,GIVEN,\nR3,C,GIVEN,\n", encoding="utf-8")
    summary, _ = await _import(FakeNode(tmp_path / "node"), data)
    assert (summary.sent, summary.already_sent, summary.refused) == (1, 2, 0)


async def test_node_trouble_stops_with_the_summary_so_far(tmp_path: Path) -> None:
    down = OperationalError(Reason.KAFKA_UNAVAILABLE, "event x was not confirmed")
    node = FakeNode(tmp_path / "node", {"R3": down})
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "R1,A,GIVEN,\nR2,B,x,\nR3,C,GIVEN,\nR4,D,GIVEN,\n", encoding="utf-8")
    summary = ImportSummary()
    with pytest.raises(OperationalError):
        await _import(node, data, summary=summary)
    assert (summary.rows, summary.sent, summary.last_line, summary.total) == (2, 2, 3, 4)
    # The pending R3 is re-sent with its journaled id on the next run.
    pending = [e for e in node.store.journal("import") if e["state"] == "pending"]
    node = FakeNode(tmp_path / "node")
    summary, _ = await _import(node, data)
    assert (summary.sent, summary.already_sent) == (2, 2)
    assert node.sent[0][0] == pending[-1]["event_id"]


async def test_interrupted_import_keeps_its_summary(tmp_path: Path) -> None:
    node = FakeNode(tmp_path / "node")
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "".join(f"R{i},N,GIVEN,\n" for i in range(50)), encoding="utf-8")
    summary = ImportSummary()
    task = asyncio.current_task()
    assert task is not None

    def ctrl_c_at_ten(s: ImportSummary) -> None:
        if s.rows == 10:
            task.cancel()  # what asyncio.run does on SIGINT: the next await is cancelled

    with pytest.raises(asyncio.CancelledError):
        await _import(node, data, summary=summary, on_row=ctrl_c_at_ten)
    task.uncancel()
    assert (summary.rows, summary.sent, summary.last_line) == (10, 10, 11)
    in_flight = node.store.journal("import")[-1]
    assert in_flight["state"] == "pending"  # R10 was being sent
    node = FakeNode(tmp_path / "node")
    summary, _ = await _import(node, data)
    assert (summary.sent, summary.already_sent) == (40, 10)
    assert node.sent[0][0] == in_flight["event_id"]


def test_json_progress_lines(tmp_path: Path) -> None:
    from connectors.cli.importer import _Report

    report = _Report(as_json=True)
    runner = CliRunner()

    def emit() -> None:
        report.start(tmp_path / "a.csv")
        for i in range(1, 4):
            report.row(tmp_path / "a.csv", ImportSummary(rows=i, sent=i, total=3, last_line=i + 1))

    import click

    res = runner.invoke(click.command()(emit))
    lines = [json.loads(x) for x in res.stderr.splitlines()]
    assert [x["progress"]["rows"] for x in lines] == [1, 3]  # the first, then the last


async def test_unwritable_errors_file_is_a_refusal(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "R1,A,GIVEN,\n", encoding="utf-8")
    node = FakeNode(tmp_path / "node")
    with pytest.raises(RequestError) as info:
        await import_file(cast(CountryNode, node), load_mapping(MAP), data, errors_path=tmp_path)
    assert info.value.reason is Reason.BAD_REQUEST
    assert node.sent == []
    with pytest.raises(RequestError) as info:
        list(read_rows(tmp_path, load_mapping(MAP)))
    assert "cannot read" in info.value.detail


def test_missing_json_member_takes_the_default() -> None:
    m = load_mapping(MAP)
    assert m.payload_of({"id": "R1", "consent": "NOT_ASKED"})["consent"] == {
        "status": "NOT_ASKED",
        "scope": [],
    }
    assert (
        m.payload_of({"id": "R1", "consent": "NOT_ASKED", "scope": None})["consent"]["scope"] == []
    )


def test_one_errors_file_for_one_file_only(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["import", "--country", "TH", "--map", "m.yaml", "--errors", "e.csv", "a.csv", "b.csv"],
    )
    assert res.exit_code == 2
    assert "--errors names one errors file" in res.output


def test_unreachable_broker_stops_with_a_summary(tmp_path: Path) -> None:
    from tests.support.nodes import write_state

    write_state(tmp_path / "home")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(json.dumps(MAP), encoding="utf-8")
    data = tmp_path / "a.csv"
    data.write_text(HEADER + "R1,A,GIVEN,\n", encoding="utf-8")
    args = ["import", "--country", "TH", "--bootstrap", "127.0.0.1:1", "--map", str(mapping)]
    res = CliRunner(env={"TRM_HOME": str(tmp_path / "home")}).invoke(
        main, [*args, "--json", str(data)]
    )
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "rejected: KAFKA_UNAVAILABLE" in res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert (summary["stopped"], summary["sent"]) == ("KAFKA_UNAVAILABLE", 0)
    assert "run the same command again" in summary["resume"]
