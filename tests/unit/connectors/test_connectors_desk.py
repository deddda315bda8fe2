"""Desk users (scrypt, tokens) and the desk view's due times and overdue alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.gateway import DeskUsers, DeskView
from connectors.sdk import InboxRecord, Rejection
from hub.errors import OperationalError, Reason, RequestError
from hub.wire import open_envelope
from tests.support.nodes import T0, delivered_copy, example, trust_list

HOUR = 3_600_000


def test_users_file_holds_no_password_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = DeskUsers.load(path)
    users.add("kh-desk", "KH", "a long passphrase")
    text = path.read_text()
    assert "a long passphrase" not in text
    assert json.loads(text)["users"][0]["secret"]["kdf"] == "scrypt"
    assert path.stat().st_mode & 0o777 == 0o600
    again = DeskUsers.load(path)
    token, session = again.login("kh-desk", "a long passphrase", country="KH", now_ms=T0)
    assert session.country == "KH"
    assert again.session(f"Bearer {token}", now_ms=T0 + 1).user == "kh-desk"
    with pytest.raises(RequestError) as info:
        again.session(f"Bearer {token}", now_ms=T0 + 9 * HOUR)
    assert info.value.reason is Reason.UNAUTHENTICATED
    path.chmod(0o644)
    with pytest.raises(OperationalError) as err:
        DeskUsers.load(path)
    assert err.value.reason is Reason.KEY_FILE_INSECURE


def test_login_refusals(tmp_path: Path) -> None:
    users = DeskUsers.load(tmp_path / "u.json")
    users.add("th-desk", "TH", "another passphrase")
    with pytest.raises(RequestError) as a:
        users.login("th-desk", "wrong one!!", country="TH", now_ms=T0)
    with pytest.raises(RequestError) as b:
        users.login("ghost", "wrong one!!", country="TH", now_ms=T0)
    assert a.value.reason is b.value.reason is Reason.UNAUTHENTICATED
    assert a.value.detail == b.value.detail  # no user enumeration
    with pytest.raises(RequestError) as c:
        users.login("th-desk", "another passphrase", country="KH", now_ms=T0)
    assert c.value.reason is Reason.FORBIDDEN
    with pytest.raises(RequestError):
        users.add("x", "TH", "short")
    for header in (None, "Basic abc", "Bearer nope"):
        with pytest.raises(RequestError):
            users.session(header, now_ms=T0)


def _notice(created: int, planned: int | None) -> InboxRecord:
    payload = example("handover_notice")
    payload["planned_at"] = planned
    env, headers = delivered_copy(
        "handover_notice",
        payload,
        producer="TH",
        recipient="KH",
        keep={"status", "planned_at"},
        created_at_ms=created,
    )
    return InboxRecord.from_delivered(
        open_envelope(env.to_bytes(), trust_list(), kafka_headers=headers), 0, 0
    )


def test_due_time_is_deadline_or_earlier_planned_time() -> None:
    view = DeskView("KH", 24 * HOUR)
    late = _notice(T0, T0 + 48 * HOUR)
    soon = _notice(T0, T0 + 6 * HOUR)
    assert view.status_of(late, T0).due_at_ms == T0 + 24 * HOUR
    assert view.status_of(soon, T0).due_at_ms == T0 + 6 * HOUR
    assert not view.status_of(soon, T0 + 6 * HOUR - 1).overdue
    assert view.status_of(soon, T0 + 6 * HOUR).overdue


def test_alerts_on_both_sides_clear_when_acknowledged() -> None:
    receiving = DeskView("KH", 24 * HOUR)
    rec = _notice(T0, None)
    receiving.add(rec)
    receiving.add(rec)  # a duplicate delivery changes nothing
    assert len(receiving.order) == 1
    assert receiving.alerts(T0 + 23 * HOUR) == []
    assert [a["side"] for a in receiving.alerts(T0 + 25 * HOUR)] == ["receiving"]
    receiving.load_journal([{"kind": "ack", "event_id": rec.event_id, "status": "RECEIVED"}])
    assert receiving.alerts(T0 + 25 * HOUR) == []

    sending = DeskView("TH", 24 * HOUR)
    sending.load_journal(
        [
            {
                "kind": "sent",
                "event_id": rec.event_id,
                "type": "handover_notice",
                "to": ["KH"],
                "case_key": "c",
                "created_at_ms": T0,
                "planned_at_ms": None,
            }
        ]
    )
    assert [a["side"] for a in sending.alerts(T0 + 25 * HOUR)] == ["sending"]
    sending.acks_received[rec.event_id] = "ACCEPTED"
    assert sending.alerts(T0 + 25 * HOUR) == []
    assert sending.sent_json(T0)[0]["status"] == "ACCEPTED"


def test_login_throttled_after_repeated_failures(tmp_path: Path) -> None:
    users = DeskUsers.load(tmp_path / "u.json")
    users.add("kh-desk", "KH", "the right passphrase")
    for i in range(5):
        with pytest.raises(RequestError, match="wrong password"):
            users.login("kh-desk", f"guess {i}", country="KH", now_ms=T0 + i)
    with pytest.raises(RequestError, match="too many failed logins"):
        users.login("kh-desk", "the right passphrase", country="KH", now_ms=T0 + 10)
    _, session = users.login(
        "kh-desk", "the right passphrase", country="KH", now_ms=T0 + 16 * 60_000
    )
    assert session.user == "kh-desk"


def _ack(status: str, reason: str | None, keep: set[str]) -> InboxRecord:
    payload = {
        "acknowledged_event_id": "019b7580-0000-7000-8000-000000000042",
        "status": status,
        "reason": reason,
        "acknowledged_at": T0,
    }
    env, headers = delivered_copy(
        "acknowledgement",
        payload,
        producer="KH",
        recipient="TH",
        keep=keep,
        created_at_ms=T0,
    )
    return InboxRecord.from_delivered(
        open_envelope(env.to_bytes(), trust_list(), kafka_headers=headers), 0, 0
    )


def test_a_recipients_rejected_acknowledgement_is_its_rejection() -> None:
    every = {"acknowledged_event_id", "status", "reason", "acknowledged_at"}
    nack = _ack("REJECTED", "SEAL_MISMATCH: field 'names' does not decrypt", every)
    rejection = nack.rejection
    assert rejection is not None
    assert rejection.to_json() == {
        "event_id": "019b7580-0000-7000-8000-000000000042",
        "producer": "TH",
        "recipient": "KH",
        "reason": "SEAL_MISMATCH",
        "detail": "field 'names' does not decrypt",
        "source": f"recipient acknowledgement {nack.event_id}",
    }
    hidden = _ack("REJECTED", "SEAL_MISMATCH: x", every - {"reason"}).rejection
    assert hidden is not None
    assert (hidden.reason, hidden.detail) == ("REJECTED", "(the reason was not disclosed)")
    assert _ack("ACCEPTED", None, every).rejection is None
    desk = DeskView("TH", 24 * HOUR)
    desk.add(nack)
    desk.add(nack)  # a duplicate delivery is listed once
    assert desk.refused_by_recipients == [rejection]


def test_users_added_or_reset_while_running_are_seen(tmp_path: Path) -> None:
    """Failure 9: the gateway read the users file once, at start."""
    path = tmp_path / "desk-users.json"
    running = DeskUsers.load(path)  # the gateway's copy
    assert running.users == {}
    DeskUsers.load(path).add("alice", "KH", "the first passphrase")  # trm gateway user add
    token, _ = running.login("alice", "the first passphrase", country="KH", now_ms=T0)
    DeskUsers.load(path).add("alice", "KH", "the second passphrase")  # a reset
    with pytest.raises(RequestError) as old:
        running.login("alice", "the first passphrase", country="KH", now_ms=T0 + 1)
    assert old.value.reason is Reason.UNAUTHENTICATED
    _, session = running.login("alice", "the second passphrase", country="KH", now_ms=T0 + 2)
    assert session.user == "alice"
    with pytest.raises(RequestError):  # a reset password ends the sessions it opened
        running.session(f"Bearer {token}", now_ms=T0 + 3)


def test_users_file_is_replaced_whole_and_a_torn_one_locks_nobody_out(tmp_path: Path) -> None:
    path = tmp_path / "desk-users.json"
    DeskUsers.load(path).add("alice", "KH", "the first passphrase")
    running = DeskUsers.load(path)
    inode = path.stat().st_ino
    DeskUsers.load(path).add("bob", "KH", "bob's passphrase!")
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert path.stat().st_mode & 0o777 == 0o600
    # no leftover; the lock file (held from a change's read to its rename) stays, empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desk-users.json", "desk-users.json.lock"]
    assert (tmp_path / "desk-users.json.lock").stat().st_size == 0
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # another writer, caught half-way
    _, session = running.login("alice", "the first passphrase", country="KH", now_ms=T0)
    assert session.user == "alice"  # the users read before still log in
    path.write_bytes(whole)  # the writer finishes: read again
    _, session = running.login("bob", "bob's passphrase!", country="KH", now_ms=T0)
    assert session.user == "bob"
    path.chmod(0o644)
    path.write_bytes(whole + b" ")
    assert running.login("bob", "bob's passphrase!", country="KH", now_ms=T0)[1].user == "bob"


def test_bearer_scheme_is_case_insensitive_and_odd_tokens_are_refused(tmp_path: Path) -> None:
    users = DeskUsers.load(tmp_path / "u.json")
    users.add("kh-desk", "KH", "a long passphrase")
    token, _ = users.login("kh-desk", "a long passphrase", country="KH", now_ms=T0)
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        assert users.session(f"{scheme} {token}", now_ms=T0).user == "kh-desk"
    assert users.session(f"Bearer   {token}  ", now_ms=T0).user == "kh-desk"
    for header in (f"Bearer{token}", f"Basic {token}", "Bearer \udcff\udcfe", "Bearer a b", ""):
        with pytest.raises(RequestError) as info:
            users.session(header, now_ms=T0)
        assert info.value.reason is Reason.UNAUTHENTICATED
        assert token not in info.value.detail
    users.logout(f"bearer {token}")
    with pytest.raises(RequestError):
        users.session(f"Bearer {token}", now_ms=T0)


def _sent(event_id: str, to: list[str]) -> dict[str, object]:
    return {
        "kind": "sent",
        "event_id": event_id,
        "type": "handover_notice",
        "to": to,
        "case_key": "c",
        "created_at_ms": T0,
        "planned_at_ms": None,
    }


def _refusal(event_id: str, recipient: str, reason: str = "CHILD_PROTECTION") -> Rejection:
    return Rejection(
        event_id=event_id,
        producer="TH",
        recipient=recipient,
        reason=reason,
        detail="the agreement does not allow this flow for a child",
        source="trm.TH.outbox:0:7",
    )


def test_a_notice_the_hub_refused_is_refused_at_the_sender_not_pending() -> None:
    """Failure 10: a refused notice stayed AWAITING_ACK and became an overdue alert."""
    one, two = "019b7580-0000-7000-8000-000000000001", "019b7580-0000-7000-8000-000000000002"
    desk = DeskView("TH", 24 * HOUR)
    desk.load_journal([_sent(one, ["KH"]), _sent(two, ["KH", "LA"])])
    desk.add_rejection(_refusal(one, "KH"))
    desk.add_rejection(_refusal(one, "KH"))  # read again after a reconnection: listed once
    desk.add_rejection(_refusal(two, "LA"))
    late = T0 + 25 * HOUR
    by_id = {s["event_id"]: s for s in desk.sent_json(late)}
    assert by_id[one]["status"] == "REFUSED"
    assert by_id[one]["overdue"] is False
    assert by_id[one]["refused"] == [
        {
            "recipient": "KH",
            "reason": "CHILD_PROTECTION",
            "detail": "the agreement does not allow this flow for a child",
        }
    ]
    # Refused for LA only: still awaited from KH, and overdue from KH alone.
    assert (by_id[two]["status"], by_id[two]["overdue"]) == ("AWAITING_ACK", True)
    assert [r["recipient"] for r in by_id[two]["refused"]] == ["LA"]
    (alert,) = desk.alerts(late)
    assert (alert["event_id"], alert["counterpart"]) == (two, "KH")
    assert [r.event_id for r in desk.rejections] == [one, two]
    # A whole record refused (recipient ""): refused for every recipient.
    desk.add_rejection(_refusal(two, "", "OVERSIZED"))
    assert desk.alerts(late) == []
    assert {s["status"] for s in desk.sent_json(late)} == {"REFUSED"}
