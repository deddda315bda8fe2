"""The importer's mapping: columns to nested payload fields, converters, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.importer import RowError, load_mapping, load_mapping_file, read_rows
from hub.errors import Reason, RequestError

MAP = {
    "type": "referral",
    "to": ["KH"],
    "row_key": ["id"],
    "fields": {
        "case_number": "id",
        "referred_at": {"column": "date", "as": "timestamp"},
        "names.0.full_name": "ชื่อ",
        "names.0.lang": {"const": "th-Thai"},
        "needs": {"column": "needs", "as": "list"},
        "is_child": {"column": "child", "as": "bool"},
    },
}


def test_row_to_nested_payload() -> None:
    m = load_mapping(MAP)
    row = {
        "id": "R1",
        "date": "2026-01-02",
        "ชื่อ": "สมหญิง",
        "needs": "SHELTER; MEDICAL",
        "child": "yes",
    }
    assert m.payload_of(row) == {
        "case_number": "R1",
        "referred_at": 1_767_312_000_000,
        "names": [{"full_name": "สมหญิง", "lang": "th-Thai"}],
        "needs": ["SHELTER", "MEDICAL"],
        "is_child": True,
    }
    assert m.row_key_of(row) == "R1"
    ck = m.case_key_of("TH", row, "R1")
    assert ck.startswith("imp-")
    assert "สมหญิง" not in ck
    assert ck == m.case_key_of("TH", {}, "R1")


def test_empty_cells_are_missing_and_constant_only_record_kept() -> None:
    m = load_mapping(MAP)
    payload = m.payload_of({"id": "R2", "date": "", "ชื่อ": "", "needs": " ", "child": ""})
    assert "referred_at" not in payload
    assert "needs" not in payload
    assert payload["names"] == [{"lang": "th-Thai"}]  # seal then refuses: full_name required


def test_bad_cell_names_field_not_value() -> None:
    m = load_mapping(MAP)
    with pytest.raises(RowError) as info:
        m.payload_of({"id": "R3", "date": "yesterday-ish", "child": "maybe"})
    assert info.value.field == "referred_at"
    assert "yesterday" not in info.value.detail
    with pytest.raises(RowError) as info2:
        m.payload_of({"id": "R3", "child": "maybe"})
    assert info2.value.field == "is_child"


def test_missing_row_key() -> None:
    with pytest.raises(RowError):
        load_mapping(MAP).row_key_of({"id": " "})


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"fields": {"shoe": "x"}}, "'shoe' is not in the referral schema"),
        ({"fields": {"needs": {"column": "n", "as": "float"}}}, "'as'"),
        ({"to": None}, "'to' or 'to_column'"),
        ({"type": "gossip"}, "gossip"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_mapping_refusals(change: dict[str, object], needle: str) -> None:
    with pytest.raises(RequestError) as info:
        load_mapping({**MAP, **change})
    assert info.value.reason is Reason.CONFIG_INVALID
    assert needle in info.value.detail


def test_csv_wrong_encoding_and_missing_column_refused_whole(tmp_path: Path) -> None:
    m = load_mapping(MAP)
    bad = tmp_path / "a.csv"
    bad.write_bytes("id,date,ชื่อ,needs,child\nR1,2026-01-01,x,,\n".encode("utf-16"))
    with pytest.raises(RequestError) as info:
        list(read_rows(bad, m))
    assert info.value.reason is Reason.BAD_ENCODING
    cols = tmp_path / "b.csv"
    cols.write_text("id,date\nR1,2026-01-01\n", encoding="utf-8")
    with pytest.raises(RequestError) as info:
        list(read_rows(cols, m))
    assert info.value.reason is Reason.CONFIG_INVALID


def test_jsonl_bad_lines_are_row_errors(tmp_path: Path) -> None:
    m = load_mapping(MAP)
    f = tmp_path / "a.jsonl"
    f.write_text('{"id": "R1"}\n{not json\n[1]\n\n{"id": "R2"}\n', encoding="utf-8")
    rows = list(read_rows(f, m))
    assert [n for n, _ in rows] == [1, 2, 3, 5]
    assert [isinstance(r, RowError) for _, r in rows] == [False, True, True, False]


def test_shipped_example_mapping_seals_every_row() -> None:
    from hub.keys import private_key_from_seed
    from hub.wire import payload_from_json, seal

    examples = Path(__file__).resolve().parents[3] / "connectors" / "importer" / "examples"
    m = load_mapping_file(examples / "th-referrals.map.yaml")  # the strict reader takes it
    rows = list(read_rows(examples / "th-referrals.csv", m))
    assert len(rows) == 2
    for _, row in rows:
        assert isinstance(row, dict)
        payload = m.payload_of(row)
        env = seal(
            "referral", payload_from_json("referral", payload), producer="TH",
            key=private_key_from_seed(b"\x01" * 32), recipients=["KH"],
            purpose="victim_protection", handling="H2", case_key="c", sequence=1,
            created_at_ms=1_767_312_000_000,
        )  # fmt: skip
        assert len(env.disclosures) == len(payload)


def test_default_for_empty_cell_kept() -> None:
    m = load_mapping(
        {
            **MAP,
            "fields": {
                "consent.status": "c",
                "consent.scope": {"column": "s", "as": "list", "default": []},
            },
        }
    )
    assert m.payload_of({"id": "1", "c": "NOT_ASKED", "s": ""}) == {
        "consent": {"status": "NOT_ASKED", "scope": []}
    }
