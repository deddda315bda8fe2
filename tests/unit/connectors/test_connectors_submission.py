"""Submission validation, deterministic ids, the node store and record parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk import (
    WITHHELD,
    InboxRecord,
    NodeStore,
    Rejection,
    Submission,
    key_fields,
    row_event_id,
)
from hub.errors import Reason, RequestError
from hub.wire import open_envelope
from tests.support.nodes import T0, delivered_copy, example, trust_list

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _good() -> dict[str, Any]:
    return {
        "type": "handover_notice",
        "to": ["KH"],
        "case_key": "c-1",
        "payload": {"status": "SCHEDULED"},
    }


def test_submission_defaults_purpose_and_handling() -> None:
    sub = Submission.from_json(_good())
    assert sub.purpose == "repatriation"
    assert sub.handling == "H2"
    assert sub.recipients == ("KH",)


def test_submission_to_as_comma_string() -> None:
    sub = Submission.from_json({**_good(), "to": "VN, KH"})
    assert sub.recipients == ("KH", "VN")


@pytest.mark.parametrize(
    ("change", "reason", "needle"),
    [
        ({"extra": 1}, Reason.BAD_REQUEST, "unknown key 'extra'"),
        ({"type": "gossip"}, Reason.UNKNOWN_EVENT_TYPE, "gossip"),
        ({"type": 7}, Reason.BAD_REQUEST, "'type' to be a string"),
        ({"to": []}, Reason.BAD_REQUEST, "'to'"),
        ({"to": ["kh"]}, Reason.UNKNOWN_COUNTRY, "'kh'"),
        ({"purpose": "marketing"}, Reason.BAD_REQUEST, "marketing"),
        ({"handling": "H9"}, Reason.BAD_REQUEST, "H9"),
        ({"case_key": "Sok Sreypov"}, Reason.BAD_REQUEST, "case_key"),
        ({"payload": [1]}, Reason.BAD_REQUEST, "'payload' to be an object"),
        ({"payload": {"shoe_size": 4}}, Reason.UNKNOWN_FIELD, "shoe_size"),
    ],
)
def test_submission_refusals_name_the_problem(
    change: dict[str, Any], reason: Reason, needle: str
) -> None:
    with pytest.raises(RequestError) as info:
        Submission.from_json({**_good(), **change})
    assert info.value.reason is reason
    assert needle in info.value.detail


def test_submission_not_an_object() -> None:
    with pytest.raises(RequestError, match="expected a JSON object, got list"):
        Submission.from_json([_good()])


def test_row_event_id_is_stable_uuid7_and_key_dependent() -> None:
    a = row_event_id("TH", "referral", "row-17", T0)
    assert UUID7.match(a)
    assert a == row_event_id("TH", "referral", "row-17", T0)
    assert a != row_event_id("TH", "referral", "row-18", T0)
    assert a != row_event_id("KH", "referral", "row-17", T0)
    assert int(a.replace("-", "")[:12], 16) == T0


def test_store_sequence_continues_after_reopen(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "TH")
    assert [store.reserve_sequence() for _ in range(3)] == [1, 2, 3]
    again = NodeStore(tmp_path / "TH")
    assert again.reserve_sequence() == 4
    assert (tmp_path / "TH" / "sequence").stat().st_mode & 0o077 == 0


def test_store_seen_survives_and_torn_line_ignored(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "KH")
    store.mark_seen("a")
    store.record({"kind": "ack", "event_id": "a"})
    with (tmp_path / "KH" / "journal.jsonl").open("a") as f:
        f.write('{"kind": "ack", "ev')  # a crash mid-write
    again = NodeStore(tmp_path / "KH")
    assert again.seen("a")
    assert not again.seen("b")
    assert again.journal("ack") == [{"kind": "ack", "event_id": "a"}]


def test_inbox_record_marks_withheld_fields() -> None:
    env, headers = delivered_copy(
        "handover_notice",
        example("handover_notice"),
        producer="TH",
        recipient="KH",
        keep={"status", "planned_at", "names"},
        created_at_ms=T0,
    )
    delivered = open_envelope(env.to_bytes(), trust_list(), kafka_headers=headers)
    rec = InboxRecord.from_delivered(delivered, 0, 5)
    assert rec.get("status") == "SCHEDULED"
    assert rec.get("escort_officers") is WITHHELD
    assert "escort_officers" in rec.withheld
    assert "names" not in rec.withheld
    assert rec.summary["name"] == "សុខ ស្រីពៅ"
    assert rec.to_json()["agreement"] == "TH-KH@1"
    with pytest.raises(KeyError):
        rec.get("shoe_size")


def test_rejection_parse() -> None:
    rej = Rejection.from_bytes(
        b'{"event_id":"e","producer":"TH","recipient":"CN","reason":"NO_AGREEMENT",'
        b'"detail":"none","source":"t:0:1"}'
    )
    assert rej.reason == "NO_AGREEMENT"
    with pytest.raises(RequestError):
        Rejection.from_bytes(b"\xff")


def test_key_fields_for_alert() -> None:
    out = key_fields("trafficker_alert", example("trafficker_alert"))
    assert "subject" in out


def test_store_cursor_moves_forward_and_persists_on_flush(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "KH")
    assert store.cursor() == {}
    store.advance(0, 5)
    store.advance(0, 3)  # never backwards
    store.advance(2, 1)
    assert store.cursor() == {0: 5, 2: 1}
    assert NodeStore(tmp_path / "KH").cursor() == {}  # not yet written
    store.flush_cursor()
    assert NodeStore(tmp_path / "KH").cursor() == {0: 5, 2: 1}
    for i in range(64):  # written by itself every 64 moves
        store.advance(1, i + 1)
    assert NodeStore(tmp_path / "KH").cursor()[1] == 64
