"""The event-type registry: one registration, everything follows; refusals fail closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.gateway.openapi import openapi_document
from connectors.sdk import ACK_STATUSES, key_fields
from hub.errors import OperationalError, PolicyError, Reason
from hub.policy import agreement_schema, load_agreement
from hub.wire import EventType, payload_fields
from hub.wire.eventtypes import BUILTIN, register_from, register_from_environment, unregister
from tests.support.eventtypes import WELFARE_CHECK, welfare_schema, write_welfare_check


@pytest.fixture
def clean() -> Iterator[None]:
    yield
    if WELFARE_CHECK in EventType:
        unregister(WELFARE_CHECK)


def _enum() -> list[str]:
    return list(agreement_schema()["$defs"]["event_type"]["enum"])


def test_builtin_types_are_the_registry() -> None:
    assert [t.value for t in EventType] == [s.name for s in BUILTIN]
    assert EventType("referral") is EventType.REFERRAL
    assert _enum() == [s.name for s in BUILTIN]
    doc = openapi_document("TH")
    assert doc["components"]["schemas"]["Submission"]["properties"]["type"]["enum"] == _enum()
    with pytest.raises(ValueError, match="not a registered event type"):
        EventType("welfare_check")


def test_acknowledgement_statuses_come_from_the_schema() -> None:
    statuses = EventType.ACKNOWLEDGEMENT.symbols("status")
    assert statuses == ("RECEIVED", "ACCEPTED", "REJECTED", "HANDED_OVER")
    assert statuses == ACK_STATUSES
    ack = openapi_document("TH")["paths"]
    enums = [
        op["requestBody"]["content"]["application/json"]["schema"]["properties"]["status"]["enum"]
        for name, path in ack.items()
        for op in path.values()
        if "status" in str(op.get("requestBody", "")) and not name.startswith("/api/cases/")
    ]
    assert enums == [list(statuses)]
    with pytest.raises(KeyError):
        EventType.ACKNOWLEDGEMENT.symbols("no_such")


def test_replies_are_the_types_registered_as_replies() -> None:
    replies = {t.value: t.spec.reply_field for t in EventType if t.spec.reply_to_correlated}
    assert replies == {
        "acknowledgement": "acknowledged_event_id",
        "erasure_confirmation": "request_event_id",
        "match_followup_answer": "request_event_id",
    }
    assert EventType.ERASURE_REQUEST.symbols("reason") == (
        "DATA_SUBJECT_REQUEST", "RETENTION_ENDED", "COURT_ORDER", "RECORDED_IN_ERROR", "OTHER",
    )  # fmt: skip
    assert EventType.ERASURE_CONFIRMATION.symbols("status") == ("ERASED", "NOTHING_HELD", "REFUSED")
    assert EventType.MATCH_FOLLOWUP_ANSWER.symbols("decision") == ("APPROVED", "DECLINED")
    assert not EventType.MATCH_FOLLOWUP.spec.reply_to_correlated  # a request, not a reply


def test_a_deployment_may_register_a_reply(tmp_path: Path, clean: None) -> None:
    (added,) = register_from(
        write_welfare_check(tmp_path, reply_to_correlated=True, reply_field="check_id")
    )
    assert added.spec.reply_to_correlated
    assert added.spec.reply_field == "check_id"


def test_a_registered_type_reaches_every_consumer(tmp_path: Path, clean: None) -> None:
    (added,) = register_from(write_welfare_check(tmp_path))
    assert added is EventType(WELFARE_CHECK)
    assert WELFARE_CHECK in _enum()
    assert payload_fields(added) == tuple(f["name"] for f in welfare_schema()["fields"])
    assert key_fields(WELFARE_CHECK, {"outcome": "AT_RISK"}) == {"outcome": "AT_RISK"}
    assert register_from(tmp_path) == ()  # the same registration again: nothing new
    unregister(WELFARE_CHECK)
    assert WELFARE_CHECK not in _enum()


def test_an_agreement_may_name_only_registered_types(tmp_path: Path, clean: None) -> None:
    body = {
        "_type": "trm.agreement/v1", "id": "TEST-wc", "version": 1,
        "title": "a welfare check flow", "example": True,
        "parties": ["KH", "TH"], "effective_from": "2026-01-01T00:00:00Z",
        "effective_until": None,
        "flows": [{"from": "TH", "to": "KH", "event_types": {WELFARE_CHECK: {
            "purposes": ["reintegration"], "handling": ["H2"], "fields": ["outcome"],
            "retention_days": 30}}}],
    }  # fmt: skip
    with pytest.raises(PolicyError) as refused:
        load_agreement({"signed": body, "signatures": []})
    assert refused.value.reason is Reason.AGREEMENT_INVALID
    assert "event_types" in str(refused.value)
    register_from_environment({"TRM_EVENT_TYPES": str(write_welfare_check(tmp_path))})
    assert load_agreement({"signed": body, "signatures": []}).agreement.flows[0].fields == {
        "outcome"
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"default_purpose": "marketing"}, "default_purpose"),
        ({"name": "Bad-Name"}, "event type name"),
        ({"name": "referral"}, "already registered differently"),
        ({"summary": {"x": "no_such_field"}}, "not fields of the schema"),
        ({"colour": "red"}, "unknown registration key"),
        ({"reply_field": "check_id"}, "only meaningful with reply_to_correlated"),
        ({"reply_to_correlated": True, "reply_field": "no_such"}, "not fields of the schema"),
        ({"reply_to_correlated": "yes"}, "boolean reply_to_correlated"),
    ],
)
def test_bad_registrations_are_refused(
    tmp_path: Path, clean: None, change: dict[str, object], expected: str
) -> None:
    directory = write_welfare_check(tmp_path, **change)
    name = str(change.get("name", WELFARE_CHECK))
    if name != WELFARE_CHECK:
        (directory / f"{WELFARE_CHECK}.avsc").rename(directory / f"{name}.avsc")
    with pytest.raises(OperationalError, match=expected) as refused:
        register_from(directory)
    assert refused.value.reason is Reason.CONFIG_INVALID
    assert WELFARE_CHECK not in EventType


def test_a_field_that_cannot_be_withheld_is_refused(tmp_path: Path, clean: None) -> None:
    directory = write_welfare_check(tmp_path)
    schema = welfare_schema()
    schema["fields"][0] = {"name": "check_id", "type": "string"}
    (directory / f"{WELFARE_CHECK}.avsc").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(OperationalError, match="union starting with null"):
        register_from(directory)
    assert WELFARE_CHECK not in EventType


def test_an_unregistered_schema_file_is_refused(tmp_path: Path, clean: None) -> None:
    directory = write_welfare_check(tmp_path)
    (directory / "stray.avsc").write_text(json.dumps(welfare_schema()), encoding="utf-8")
    with pytest.raises(OperationalError, match=r"stray\.avsc has no registration"):
        register_from(directory)
    assert WELFARE_CHECK not in EventType


def test_a_directory_is_registered_whole_or_not_at_all(tmp_path: Path, clean: None) -> None:
    directory = write_welfare_check(tmp_path)
    good = json.loads((directory / "event_types.json").read_text(encoding="utf-8"))[0]
    bad = {**good, "name": "welfare_check_v2", "summary": {"x": "no_such_field"}}
    (directory / "event_types.json").write_text(json.dumps([good, bad]), encoding="utf-8")
    (directory / "welfare_check_v2.avsc").write_text(json.dumps(welfare_schema()), encoding="utf-8")
    with pytest.raises(OperationalError, match="welfare_check_v2"):
        register_from(directory)
    assert WELFARE_CHECK not in EventType
    assert "welfare_check_v2" not in EventType
