"""The case book reads a node's store: its sent and received plaintext, grouped by case."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from connectors.sdk import CaseBook, CaseSummary, CountryNode, OverdueItem, TimelineEntry
from connectors.sdk.cases import send_alerts
from connectors.sdk.store import NodeStore
from connectors.sdk.submission import Submission
from hub.errors import PolicyError, Reason, RequestError
from hub.policy import load_agreement
from tests.support.hub import KEYS
from tests.support.policy import agreement_from_table

DAY = 86_400_000


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


HANDED = _ms("2026-01-07T09:00:00")


def _id(n: int) -> str:
    return f"019b0000-0000-7000-8000-{n:012d}"


def keep(  # noqa: PLR0917 - one vault record
    store: NodeStore,
    n: int,
    event_type: str,
    producer: str,
    to: str,
    at: int,
    *,
    case_key: str = "case-kh-1",
    withheld: tuple[str, ...] = (),
    agreement: str | None = None,
    **fields: Any,
) -> str:
    event_id = _id(n)
    record = {
        "event_id": event_id,
        "type": event_type,
        "from": producer,
        "to": [to],
        "created_at_ms": at,
        "case_key": case_key,
        "correlation_id": fields.pop("correlation_id", None),
        "fields": fields,
        "withheld": list(withheld),
        "agreement": agreement,
    }
    assert store.keep(event_id, case_key, producer, at, None, record)
    return event_id


@pytest.fixture
def kh(tmp_path: Path) -> NodeStore:
    """Cambodia's store: TH's referral and handover notice, its acknowledgement and updates."""
    store = NodeStore(tmp_path / "nodes" / "KH")
    keep(store, 1, "referral", "TH", "KH", HANDED - 30 * DAY, withheld=("names",), is_child=True)
    notice = keep(store, 2, "handover_notice", "TH", "KH", HANDED - 5 * DAY, planned_at=HANDED)
    store.record(
        {"kind": "ack", "event_id": notice, "ack_event_id": _id(3), "status": "ACCEPTED",
         "at_ms": HANDED - 4 * DAY}
    )  # fmt: skip
    keep(store, 4, "case_update", "TH", "KH", HANDED, status="HANDED_OVER", changed_at=HANDED,
         next_step_owner="KH", previous_status="HANDOVER_SCHEDULED")  # fmt: skip
    keep(store, 5, "case_update", "KH", "TH", HANDED + DAY, status="IN_REINTEGRATION",
         changed_at=HANDED + DAY, previous_status=None)  # fmt: skip
    keep(store, 6, "trafficker_alert", "TH", "KH", HANDED, case_key="alert-1", kind="SUSPECT")
    return store


def test_the_book_groups_a_case_and_leaves_out_what_is_not_a_case(kh: NodeStore) -> None:
    book = CaseBook.of_store(kh, "KH")
    assert book.case_keys() == ["case-kh-1"]
    (case,) = book.cases(HANDED + 2 * DAY)
    assert isinstance(case, CaseSummary)
    assert case.countries == ("KH", "TH")
    assert case.status == "IN_REINTEGRATION"
    assert case.status_by_country == {"KH": "IN_REINTEGRATION", "TH": "HANDED_OVER"}
    assert case.next_step_owner == "KH"
    assert case.next_due_ms == _ms("2026-04-07T09:00:00")
    assert not case.overdue
    assert case.to_json()["status_by_country"]["TH"] == "HANDED_OVER"


def test_the_timeline_has_both_sides_and_the_acknowledgement_from_the_journal(
    kh: NodeStore,
) -> None:
    entries = CaseBook.of_store(kh, "KH").timeline("case-kh-1")
    assert all(isinstance(e, TimelineEntry) for e in entries)
    assert [(e.event_type, e.direction) for e in entries] == [
        ("referral", "received"),
        ("handover_notice", "received"),
        ("case_update", "received"),
        ("case_update", "sent"),
    ]
    assert entries[0].withheld == ("names",)
    assert entries[1].acknowledgements == (("KH", "ACCEPTED", HANDED - 4 * DAY),)
    assert entries[2].previous_status == "HANDOVER_SCHEDULED"
    assert entries[3].to_json()["direction"] == "sent"


def test_a_missed_follow_up_is_overdue_for_cambodia(kh: NodeStore) -> None:
    book = CaseBook.of_store(kh, "KH")
    assert book.overdue(_ms("2026-04-07T08:00:00")) == []
    (item,) = book.overdue(_ms("2026-04-08T00:00:00"))
    assert isinstance(item, OverdueItem)
    assert (item.kind, item.owner, item.follow_up_number) == ("FOLLOW_UP_OVERDUE", "KH", 1)
    assert item.to_json()["due_at_ms"] == _ms("2026-04-07T09:00:00")
    assert book.cases(_ms("2026-04-08T00:00:00"))[0].overdue


def test_the_schedule_comes_from_the_agreement_of_the_handover(kh: NodeStore) -> None:
    agreement = _agreement_with_schedule([1, 2])
    book = CaseBook.of_store(kh, "KH", agreements=[agreement])
    assert book.schedule("case-kh-1") == (1, 2)
    (item,) = book.overdue(_ms("2026-02-08T00:00:00"))
    assert item.due_at_ms == _ms("2026-02-07T09:00:00")
    assert CaseBook.of_store(kh, "KH", follow_up_months=(6,)).schedule("case-kh-1") == (6,)


def test_an_unknown_case_is_not_found_and_a_bad_schedule_refused(kh: NodeStore) -> None:
    book = CaseBook.of_store(kh, "KH")
    with pytest.raises(RequestError) as err:
        book.summary("no-such-case", 0)
    assert err.value.reason is Reason.NOT_FOUND
    assert book.timeline("no-such-case") == []
    with pytest.raises(RequestError):
        CaseBook.of_store(kh, "KH", follow_up_months=(6, 3))


def test_an_erased_case_is_gone_from_the_book(kh: NodeStore) -> None:
    kh.erase_case("case-kh-1", "TH", HANDED + 3 * DAY)
    entries = CaseBook.of_store(kh, "KH").timeline("case-kh-1")
    assert [(e.event_type, e.producer) for e in entries] == [("case_update", "KH")]


# --- the schedule in an agreement -------------------------------------------------


def _agreement_with_schedule(months: list[int], event_type: str = "case_update") -> Any:
    _, text = agreement_from_table(
        {"TH>KH:case_update": ["status"], "KH>TH:reintegration_report": ["visit_number"]},
        KEYS,
    )
    doc = yaml.safe_load(text)
    doc["signed"]["flows"][1]["event_types"][event_type]["case_follow_up_months"] = months
    return load_agreement(doc).agreement


def test_an_agreement_names_a_schedule_on_case_flows_only() -> None:
    assert _agreement_with_schedule([3, 9]).follow_up_months("KH", "TH") == (3, 9)
    assert _agreement_with_schedule([3, 9]).follow_up_months("TH", "VN") is None
    with pytest.raises(PolicyError) as err:
        _agreement_with_schedule([9, 3])
    assert err.value.reason is Reason.AGREEMENT_INVALID
    assert "strictly increasing" in err.value.detail
    with pytest.raises(PolicyError):
        _agreement_with_schedule([0])


def test_a_follow_up_number_the_agreement_discloses_but_missing_is_an_extra_visit(
    tmp_path: Path,
) -> None:
    """Thailand's book: Cambodia's visit 3 a month after the handover has no follow-up number."""
    th = NodeStore(tmp_path / "nodes" / "TH")
    keep(th, 1, "referral", "TH", "KH", HANDED - 30 * DAY)
    keep(th, 2, "case_update", "TH", "KH", HANDED, status="HANDED_OVER", changed_at=HANDED,
         next_step_owner="KH")  # fmt: skip
    _, lists = agreement_from_table(
        {"KH>TH:reintegration_report": ["visit_number", "follow_up_number"]}, KEYS
    )
    _, hides = agreement_from_table(
        {"KH>TH:reintegration_report": ["visit_number"]}, KEYS, agreement_id="TEST-narrow"
    )
    agreements = [load_agreement(yaml.safe_load(t)).agreement for t in (lists, hides)]
    not_sent = ["follow_up_number", "notes"]
    keep(th, 3, "reintegration_report", "KH", "TH", HANDED + 30 * DAY, visit_number=3,
         withheld=tuple(not_sent), agreement="TEST-delivery@1")  # fmt: skip
    later = _ms("2027-02-01T00:00:00")
    book = CaseBook.of_store(th, "TH", agreements=agreements)
    assert [i.follow_up_number for i in book.overdue(later)] == [1, 2, 3]
    (visit,) = [e for e in book.timeline("case-kh-1") if e.event_type == "reintegration_report"]
    assert visit.follow_up_number is None
    assert visit.withheld == tuple(not_sent)  # shown as before: not disclosed
    # Under an agreement that withholds it, the visit number stands for the follow-up.
    keep(th, 4, "reintegration_report", "KH", "TH", HANDED + 31 * DAY, visit_number=1,
         withheld=tuple(not_sent), agreement="TEST-narrow@1")  # fmt: skip
    book = CaseBook.of_store(th, "TH", agreements=agreements)
    assert [i.follow_up_number for i in book.overdue(later)] == [2, 3]


# --- re-trafficking through a match follow-up ----------------------------------------

REFERENCE = "0123456789abcdef0123456789abcdef"


def test_a_match_follow_up_of_a_person_handed_over_tells_both_without_the_case_key(
    kh: NodeStore,
) -> None:
    """Cambodia registered the child for matching under its case; Viet Nam asks who it is."""
    kh.keep_match_registration(REFERENCE, {"kind": "phone", "value": "+85512345678",
                                           "case_key": "case-kh-1"})  # fmt: skip
    asked = HANDED + 100 * DAY
    request = keep(kh, 7, "match_followup", "VN", "KH", asked, case_key="vn-case-9",
                   reference=REFERENCE, case_ref="VN-2026-77", purpose="investigation")  # fmt: skip
    book = CaseBook.of_store(kh, "KH")
    # Cambodia's own case shows the sighting and is suspected re-trafficking on its side.
    (summary,) = [c for c in book.cases(asked) if c.case_key == "case-kh-1"]
    assert summary.status_by_country["KH"] == "RETRAFFICKING_SUSPECTED"
    told = [a for a in book.alerts(asked) if a.kind == "RETRAFFICKING_SUSPECTED"]
    assert sorted((a.case_key, a.owner, a.event_id) for a in told) == [
        ("case-kh-1", "TH", request),  # the other country of the handover, under the case
        ("vn-case-9", "VN", request),  # the requester, under its own case key only
    ]
    to_vn = next(a for a in told if a.owner == "VN")
    assert "case-kh-1" not in to_vn.message
    assert "case-kh-1" not in to_vn.to_json().values()


def test_a_match_follow_up_before_the_handover_or_of_no_case_is_no_sighting(
    kh: NodeStore,
) -> None:
    kh.keep_match_registration(REFERENCE, {"kind": "phone", "value": "x", "case_key": None})
    keep(kh, 7, "match_followup", "VN", "KH", HANDED + DAY, case_key="vn-case-9",
         reference=REFERENCE)  # fmt: skip
    book = CaseBook.of_store(kh, "KH")
    assert [a for a in book.alerts(HANDED + DAY) if a.kind == "RETRAFFICKING_SUSPECTED"] == []


def test_an_alert_goes_only_to_a_country_already_in_the_case(kh: NodeStore) -> None:
    keep(kh, 8, "case_update", "TH", "KH", HANDED + 2 * DAY, status="IN_REINTEGRATION",
         changed_at=HANDED + 2 * DAY, next_step_owner="LA")  # fmt: skip
    book = CaseBook.of_store(kh, "KH")
    items = book.overdue(_ms("2026-04-08T00:00:00"))
    assert [(i.kind, i.owner) for i in items] == [("FOLLOW_UP_OVERDUE", "LA")]
    assert not book.may_tell(items[0])  # Laos holds nothing of the case: shown, never told
    own = OverdueItem("case-kh-1", "FOLLOW_UP_OVERDUE", _id(4), 0, "KH", "")
    assert not book.may_tell(own)
    to_th = OverdueItem("case-kh-1", "NEXT_STEP_OVERDUE", _id(4), 0, "TH", "")
    assert book.may_tell(to_th)


class _Node:
    """Just what :func:`send_alerts` uses of a node: its store, country, clock and publish."""

    def __init__(self, store: NodeStore, country: str, now_ms: int) -> None:
        self.store = store
        self.country = country
        self._now = now_ms
        self.sent: list[Submission] = []

    def now_ms(self) -> int:
        return self._now

    def agreements(self) -> dict[str, Any]:
        return {}

    async def publish(self, submission: Submission, *, unsealed: bool = False) -> str:
        self.sent.append(submission)
        return _id(900 + len(self.sent))


async def test_an_alert_carries_this_countrys_own_status_never_a_third_countrys(
    kh: NodeStore,
) -> None:
    """Laos told Cambodia of a re-trafficking; Cambodia's alert to Thailand must not pass it on."""
    keep(kh, 8, "case_update", "KH", "TH", HANDED + 2 * DAY, status="IN_REINTEGRATION",
         changed_at=HANDED + 2 * DAY, next_due_at=HANDED + 10 * DAY,
         next_step_owner="TH")  # fmt: skip
    keep(kh, 9, "case_alert", "LA", "KH", HANDED + 3 * DAY, kind="RETRAFFICKING_SUSPECTED",
         about_event_id=_id(99), detected_at=HANDED + 3 * DAY)  # fmt: skip
    node = _Node(kh, "KH", HANDED + 11 * DAY)
    sent = await send_alerts(cast("CountryNode", node))
    assert [(item.kind, item.owner) for item, _ in sent] == [("NEXT_STEP_OVERDUE", "TH")]
    (alert,) = node.sent
    assert alert.payload["case_status"] == "IN_REINTEGRATION"
    # A country with no status of its own sends none, whatever the others recorded.
    book = CaseBook.of_store(kh, "VN")
    assert book.alert_status(sent[0][0], HANDED + 11 * DAY) is None
