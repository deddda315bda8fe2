"""Desk users' preferences (language, calendar, time zone), and the desk's referrals
and event detail (DeskView), without a broker."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.cli.gateway import cli
from connectors.gateway import DeskUsers, DeskView, Preferences
from connectors.sdk import InboxRecord, NodeStore, Rejection
from hub.errors import Reason, RequestError
from hub.wire import open_envelope
from tests.support.nodes import T0, delivered_copy, example, trust_list

HOUR = 3_600_000
PASSWORD = "a long passphrase"


def test_preferences_are_kept_in_the_users_file_and_survive_a_reset(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = DeskUsers.load(path)
    users.add("th-desk", "TH", PASSWORD, Preferences.checked("th", "buddhist", "Asia/Bangkok"))
    users.add("kh-desk", "KH", PASSWORD)
    stored = {u["name"]: u for u in json.loads(path.read_text())["users"]}
    assert stored["th-desk"]["locale"] == "th"
    assert stored["th-desk"]["calendar"] == "buddhist"
    assert stored["kh-desk"]["locale"] == "en"
    again = DeskUsers.load(path)
    assert again.users["th-desk"].preferences == Preferences("th", "buddhist", "Asia/Bangkok")
    again.add("th-desk", "TH", "a new passphrase")  # a password reset keeps them
    assert DeskUsers.load(path).users["th-desk"].preferences.calendar == "buddhist"


def test_a_preference_change_waits_for_a_reset_in_another_process_and_keeps_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.json"
    cli = DeskUsers.load(path)
    cli.add("th-desk", "TH", PASSWORD)
    gateway = DeskUsers.load(path)  # read before the reset, as a running gateway has
    changed = threading.Event()
    thai = Preferences.checked("th", "buddhist", "Asia/Bangkok")

    def change() -> None:
        gateway.set_preferences("th-desk", thai)
        changed.set()

    worker = threading.Thread(target=change)
    with cli._changing():  # the CLI's reset, between its read and its rename
        worker.start()
        assert not changed.wait(0.5)  # the gateway waits for the lock
        reset = DeskUsers({}, None)
        reset.add("th-desk", "TH", "a new passphrase")
        cli.users["th-desk"] = reset.users["th-desk"]
        cli._write()
    worker.join(10)
    assert changed.is_set()
    stored = DeskUsers.load(path).users["th-desk"]
    assert stored.secret == reset.users["th-desk"].secret  # the reset is not written back over
    assert stored.preferences == thai


def test_changing_preferences_keeps_the_session(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = DeskUsers.load(path)
    users.add("vn-desk", "VN", PASSWORD)
    token, _ = users.login("vn-desk", PASSWORD, country="VN", now_ms=T0)
    users.set_preferences("vn-desk", Preferences.checked("vi", "gregorian", None))
    assert users.session(f"Bearer {token}", now_ms=T0 + 1).user == "vn-desk"
    # Another gateway process reading the file sees them; its sessions are not ended.
    other = DeskUsers.load(path)
    other_token, _ = other.login("vn-desk", PASSWORD, country="VN", now_ms=T0)
    users.set_preferences("vn-desk", Preferences.checked("km", "buddhist", None))
    assert other.session(f"Bearer {other_token}", now_ms=T0 + 2).user == "vn-desk"
    assert other.users["vn-desk"].preferences.locale == "km"
    with pytest.raises(RequestError) as info:
        users.set_preferences("nobody", Preferences())
    assert info.value.reason is Reason.NOT_FOUND


@pytest.mark.parametrize(
    ("locale", "calendar", "zone", "said"),
    [
        ("fr", "gregorian", None, "expected a language in"),
        ("th", "islamic", None, "expected a calendar in"),
        ("th", "buddhist", "Mars/Olympus", "expected an IANA time zone"),
        ("th", "buddhist", "../../etc/passwd", "expected an IANA time zone"),
        (7, "buddhist", None, "expected a language in"),
    ],
)
def test_preferences_refused(locale: object, calendar: object, zone: object, said: str) -> None:
    with pytest.raises(RequestError, match=said) as info:
        Preferences.checked(locale, calendar, zone)
    assert info.value.reason is Reason.BAD_REQUEST


def test_a_users_file_from_before_preferences_reads_with_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    DeskUsers.load(path).add("la-desk", "LA", PASSWORD)
    doc = json.loads(path.read_text())
    for user in doc["users"]:
        for key in ("locale", "calendar", "time_zone"):
            del user[key]
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    assert DeskUsers.load(path).users["la-desk"].preferences == Preferences()


def test_a_hand_edited_preference_that_is_not_one_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    users = DeskUsers.load(path)
    users.add("mm-desk", "MM", PASSWORD, Preferences.checked("my", "gregorian", None))
    users.add("vn-desk", "VN", PASSWORD, Preferences.checked("vi", "gregorian", None))
    doc = json.loads(path.read_text())
    doc["users"][0]["locale"] = "burmese"  # mm-desk, first by name
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    again = DeskUsers.load(path)
    assert again.users["mm-desk"].preferences == Preferences()
    assert again.users["vn-desk"].preferences.locale == "vi"  # the others are read


def test_cli_user_add_and_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRM_HOME", str(tmp_path))
    runner = CliRunner()
    got = runner.invoke(
        cli,
        [
            *("user", "add", "--country", "TH", "--name", "somchai", "--password-stdin"),
            *("--locale", "th", "--calendar", "buddhist"),
        ],
        input=PASSWORD + "\n",
    )
    assert got.exit_code == 0, got.output
    assert "th, buddhist calendar" in got.output
    got = runner.invoke(
        cli,
        ["user", "set", "--country", "TH", "--name", "somchai", "--time-zone", "Asia/Bangkok"],
    )
    assert got.exit_code == 0, got.output
    path = next(tmp_path.rglob("desk-users.json"))
    user = DeskUsers.load(path).users["somchai"]
    assert user.preferences == Preferences("th", "buddhist", "Asia/Bangkok")
    got = runner.invoke(cli, ["user", "set", "--country", "TH", "--name", "somchai"])
    assert got.exit_code == 1
    assert "BAD_REQUEST" in got.output
    got = runner.invoke(cli, ["user", "set", "--country", "TH", "--name", "x", "--locale", "km"])
    assert got.exit_code == 1
    assert "NOT_FOUND" in got.output
    args = ["user", "set", "--country", "TH", "--name", "somchai", "--locale", "fr"]
    got = runner.invoke(cli, args)
    assert got.exit_code == 2  # click refuses a language the desk does not speak


# --- referrals and the detail of an event ------------------------------------------------


def _received(kind: str, event_id_seq: int, keep: set[str]) -> InboxRecord:
    env, headers = delivered_copy(
        kind,
        example(kind),
        producer="TH",
        recipient="KH",
        keep=keep,
        created_at_ms=T0 + event_id_seq,
        case_key="case-kh-1",
        sequence=event_id_seq,
    )
    return InboxRecord.from_delivered(
        open_envelope(env.to_bytes(), trust_list(), kafka_headers=headers), 0, event_id_seq
    )


def test_referrals_received_and_sent_with_acknowledgements_and_refusals(tmp_path: Path) -> None:
    view = DeskView("KH", 24 * HOUR)
    referral = _received("referral", 1, {"names", "sex", "exploitation_types"})
    view.add(referral)
    view.add(_received("handover_notice", 2, {"status"}))
    view.load_journal(
        [
            {"kind": "ack", "event_id": referral.event_id, "status": "ACCEPTED", "at_ms": T0 + 9},
            *(
                {
                    "kind": "sent",
                    "event_id": f"019b7580-0000-7000-8000-00000000010{i}",
                    "type": "referral",
                    "to": to,
                    "case_key": f"case-{i}",
                    "created_at_ms": T0 + 100 + i,
                }
                for i, to in enumerate((["TH", "VN"], ["LA"]))
            ),
        ]
    )
    view.add_rejection(
        Rejection(
            "019b7580-0000-7000-8000-000000000101", "KH", "LA", "NO_AGREEMENT", "none", "o/0/1"
        )
    )
    found = view.referrals(T0 + 200)
    assert [r["event_id"] for r in found["received"]] == [referral.event_id]
    assert found["received"][0]["status"] == "ACCEPTED"
    assert found["received"][0]["acknowledged_at_ms"] == T0 + 9
    sent = {s["case_key"]: s for s in found["sent"]}
    assert [s["case_key"] for s in found["sent"]] == ["case-1", "case-0"]  # newest first
    assert sent["case-0"]["status"] == "AWAITING_ACK"
    assert sent["case-0"]["awaited_from"] == ["TH", "VN"]
    assert sent["case-1"]["status"] == "REFUSED"
    assert sent["case-1"]["refused"][0]["reason"] == "NO_AGREEMENT"

    store = NodeStore(tmp_path)
    detail = view.detail_json(referral.event_id, store, T0 + 200)
    assert detail is not None
    assert detail["direction"] == "received"
    assert detail["fields"]["sex"] == "FEMALE"
    assert "date_of_birth" in detail["withheld"]
    assert detail["acknowledgements"] == [{"country": "KH", "status": "ACCEPTED", "at_ms": T0 + 9}]
    assert detail["schema"]["name"] == "Referral"
    assert detail["agreement"]
    mine = view.detail_json("019b7580-0000-7000-8000-000000000101", store, T0 + 200)
    assert mine is not None
    assert (mine["direction"], mine["fields_kept"], mine["status"]) == ("sent", False, "REFUSED")
    assert mine["refused"][0]["recipient"] == "LA"
    assert view.detail_json("019b7580-0000-7000-8000-0000000009ff", store, T0) is None


def test_acknowledgements_come_back_per_recipient() -> None:
    view = DeskView("TH", 24 * HOUR)
    event_id = "019b7580-0000-7000-8000-000000000042"
    view.load_journal(
        [
            {
                "kind": "sent",
                "event_id": event_id,
                "type": "referral",
                "to": ["KH", "VN"],
                "case_key": "c",
                "created_at_ms": T0,
            }
        ]
    )
    for producer in ("KH", "VN"):
        env, headers = delivered_copy(
            "acknowledgement",
            {"acknowledged_event_id": event_id, "status": "RECEIVED", "acknowledged_at": T0 + 5},
            producer=producer,
            recipient="TH",
            keep={"acknowledged_event_id", "status", "acknowledged_at"},
            created_at_ms=T0 + 6,
        )
        view.add(
            InboxRecord.from_delivered(
                open_envelope(env.to_bytes(), trust_list(), kafka_headers=headers), 0, 0
            )
        )
        if producer == "KH":
            sent = view.referrals(T0 + 7)["sent"][0]
            assert sent["awaited_from"] == ["VN"]
    sent = view.referrals(T0 + 7)["sent"][0]
    assert sent["status"] == "RECEIVED"
    assert sent["awaited_from"] == []
    assert [a["country"] for a in sent["acknowledgements"]] == ["KH", "VN"]
    assert sent["acknowledgements"][0]["at_ms"] == T0 + 5
