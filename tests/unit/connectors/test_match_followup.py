"""Follow-up of a match hit without a broker: the vault's pending list, the flagging
of an unrequested answer, what an approval sends, and the CLI's refusals before
anything is sent (docs/protocol.md 13.4). The broker run is
tests/integration/test_match_followup.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from connectors.cli.match_followup import COMMANDS
from connectors.sdk.followup import (
    IDENTITY_FIELDS,
    answers_in,
    identity_of,
    pending_in,
)
from connectors.sdk.store import NodeStore
from hub.wire import EventType, payload_fields
from tests.support.nodes import write_state

REQUEST_ID = "019b71a0-2400-7a3c-9d3e-00000000000a"
OTHER_ID = "019b71a0-2400-7a3c-9d3e-00000000000b"
ANSWER_ID = "019b71a0-2400-7a3c-9d3e-00000000000c"
T0 = 1_767_225_600_000


def _record(event_id: str, event_type: str, producer: str, **extra: Any) -> dict[str, Any]:
    fields = extra.pop("fields", {})
    return {
        "event_id": event_id,
        "type": event_type,
        "from": producer,
        "to": ["VN" if producer != "VN" else "TH"],
        "created_at_ms": T0,
        "case_key": "TH-DSI-2026-0147",
        "purpose": "investigation",
        "handling": "H2",
        "correlation_id": extra.pop("correlation_id", None),
        "fields": fields,
        "withheld": extra.pop("withheld", []),
        "agreement": "TH-VN-matching@1",
        **extra,
    }


def _keep(store: NodeStore, record: dict[str, Any]) -> None:
    store.keep(record["event_id"], record["case_key"], record["from"], T0, None, record)


def test_the_answer_schema_has_exactly_the_identity_fields_a_registration_has() -> None:
    fields = set(payload_fields(EventType.MATCH_FOLLOWUP_ANSWER))
    assert set(IDENTITY_FIELDS) <= fields
    # The request carries no identity field at all.
    assert not set(IDENTITY_FIELDS) & set(payload_fields(EventType.MATCH_FOLLOWUP))


@pytest.mark.parametrize(
    ("registration", "expected"),
    [
        ({"kind": "name", "value": "Nguyễn Văn Đức", "birth_year": 1988},
         {"names": ["Nguyễn Văn Đức"], "birth_year": 1988}),
        ({"kind": "phone", "value": "+84912345678", "birth_year": None},
         {"phone_numbers": ["+84912345678"]}),
        ({"kind": "document", "value": "C1234567", "issuing_state": "VN"},
         {"documents": [{"number": "C1234567", "issuing_state": "VN"}]}),
        ({"kind": "name", "value": None}, {}),
    ],
)  # fmt: skip
def test_an_approval_sends_the_registration_in_its_kinds_field(
    registration: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert identity_of(registration) == expected


def test_pending_lists_requests_not_yet_answered(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "VN")
    fields = {
        "reference": "3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58",
        "query_id": OTHER_ID,
        "case_ref": "TH-1",
    }
    _keep(store, _record(REQUEST_ID, "match_followup", "TH", fields=fields))
    _keep(store, _record(OTHER_ID, "referral", "TH"))  # not a follow-up
    (pending,) = pending_in(store)
    assert (pending.event_id, pending.requester, pending.reference) == (
        REQUEST_ID, "TH", "3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58",
    )  # fmt: skip
    assert pending.to_json()["case_ref"] == "TH-1"
    store.record(
        {"kind": "followup_answer", "request_event_id": REQUEST_ID, "decision": "DECLINED"}
    )
    assert pending_in(store) == []


def test_an_answer_to_no_request_of_ours_is_flagged_and_its_identity_not_taken(
    tmp_path: Path,
) -> None:
    store = NodeStore(tmp_path / "TH")
    identity = {"names": ["Nguyễn Văn Đức"], "decision": "APPROVED"}
    # Answers the request TH sent to VN: taken.
    store.record({"kind": "followup", "event_id": REQUEST_ID, "owner": "VN"})
    _keep(
        store,
        _record(ANSWER_ID, "match_followup_answer", "VN", correlation_id=REQUEST_ID,
                fields={**identity, "request_event_id": REQUEST_ID}, withheld=["documents"]),
    )  # fmt: skip
    # Answers nothing TH sent: flagged.
    _keep(
        store,
        _record(OTHER_ID, "match_followup_answer", "VN", correlation_id=OTHER_ID, fields=identity),
    )
    # The payload names another request than the signed header: flagged.
    third = "019b71a0-2400-7a3c-9d3e-00000000000d"
    _keep(
        store,
        _record(third, "match_followup_answer", "VN", correlation_id=REQUEST_ID,
                fields={**identity, "request_event_id": OTHER_ID}),
    )  # fmt: skip
    # A decline that carries identity data anyway: its identity is not taken.
    fourth = "019b71a0-2400-7a3c-9d3e-00000000000e"
    store.record({"kind": "followup", "event_id": fourth, "owner": "VN"})
    _keep(
        store,
        _record("019b71a0-2400-7a3c-9d3e-00000000000f", "match_followup_answer", "VN",
                correlation_id=fourth, fields={**identity, "decision": "DECLINED"}),
    )  # fmt: skip
    got = {a.event_id: a for a in answers_in(store)}
    declined = got["019b71a0-2400-7a3c-9d3e-00000000000f"]
    assert declined.requested
    assert declined.identity == {}
    assert got[ANSWER_ID].requested
    assert got[ANSWER_ID].identity == {"names": ["Nguyễn Văn Đức"]}
    assert got[ANSWER_ID].withheld == ("documents",)
    for flagged in (OTHER_ID, third):
        assert not got[flagged].requested
        assert got[flagged].identity == {}


def _cli(home: Path, *args: str) -> Result:
    group = click.Group("match", commands={c.name or "": c for c in COMMANDS})
    # No broker: every refusal here comes before one is asked.
    runner = CliRunner(env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    return runner.invoke(group, list(args))


def _refused(result: Result, reason: str, said: str) -> None:
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"rejected: {reason}: "), result.stderr
    assert said in result.stderr


def test_cli_refusals_come_before_anything_is_sent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_state(home)
    _refused(
        _cli(home, "decline", "--country", "VN", "--request", REQUEST_ID, "--reason", "  "),
        "BAD_REQUEST",
        "expected a reason",
    )
    _refused(
        _cli(home, "approve", "--country", "VN", "--request", REQUEST_ID),
        "NOT_FOUND",
        "follow-up request this node received",
    )
    _refused(
        _cli(home, "followup", "--country", "TH", "--owner", "VN", "--reference", "x",
             "--query-id", OTHER_ID, "--case-ref", "TH-1", "--purpose", "investigation"),
        "BAD_REQUEST",
        "expected a match reference",
    )  # fmt: skip
    assert not (home / "nodes" / "TH" / "sequence").exists()
    assert not (home / "nodes" / "VN" / "sequence").exists()
    missing = _cli(home, "decline", "--country", "VN", "--request", REQUEST_ID)
    assert missing.exit_code == 2  # --reason is required: a usage error
    assert "--reason" in missing.output


def test_a_damaged_vault_record_is_skipped_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = NodeStore(tmp_path / "VN")
    bad = _record(REQUEST_ID, "match_followup", "TH", fields=["not", "a", "mapping"])
    bad["created_at_ms"] = "yesterday"
    _keep(store, bad)
    good = _record(
        OTHER_ID, "match_followup", "TH", fields={"reference": "3f9c2a7e5b1d4c8a9e6f0b2d7a4c1e58"}
    )
    _keep(store, good)
    assert [r.event_id for r in pending_in(store)] == [OTHER_ID]
    assert "CONFIG_INVALID" in caplog.text
    _keep(store, _record(ANSWER_ID, "match_followup_answer", "VN", fields=None, withheld=[{}]))
    assert answers_in(store) == []
