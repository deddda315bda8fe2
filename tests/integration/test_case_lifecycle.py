"""A case's lifecycle end to end on the real broker (issue 15, points 1, 3 and 6).

Thailand returns a Cambodian child: referral, handover notice and its
acknowledgement, then every status of both countries to CLOSED, with the
three follow-up visits reported at 3, 6 and 12 months (the book is asked at
those times: nothing sleeps for months). A Myanmar adult's first follow-up (the
TH-MM agreement's schedule: 2 and 4 months) is missed: Thailand's book finds
it overdue and its alert reaches Myanmar, once.
A child handed over to Cambodia is referred again: both desks are told.
Every event goes through the hub worker under a signed agreement, sealed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from connectors.sdk import Submission, record_status, report_reintegration, send_alerts
from connectors.sdk.followup import request_followup
from hub.cases import add_months
from hub.topics import Topics
from hub.wire import EventType, new_event_id, payload_fields
from tests.support.cases import CaseWorld
from tests.support.hub import example

pytestmark = pytest.mark.kafka
DAY = 86_400_000
NAME = "សុខ ស្រីពៅ"


def _when(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


async def _refer_and_hand_over(world: CaseWorld, sender: str, receiver: str, case: str) -> str:
    """The referral, the handover notice and its acknowledgement; the notice's id."""
    th, kh = world.nodes[sender], world.nodes[receiver]
    async with th:
        referral = await th.publish(
            Submission(EventType.REFERRAL, (receiver,), "repatriation", "H2", case,
                       example("referral"))
        )  # fmt: skip
        notice = await th.publish(
            Submission(EventType.HANDOVER_NOTICE, (receiver,), "repatriation", "H2", case,
                       example("handover_notice"))
        )  # fmt: skip
    got = await world.expect(receiver, [referral, notice])
    assert got[0].fields["names"][0]["full_name"] == NAME
    async with kh:
        ack = await kh.acknowledge(got[1], status="ACCEPTED")
    await world.expect(sender, [ack])
    return notice


async def test_a_cambodian_child_returned_from_thailand_to_closure(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    world = CaseWorld(kafka_bootstrap, topics, tmp_path, [("TH", "KH")])
    await world.start()
    case = "case-kh-child"
    th, kh = world.nodes["TH"], world.nodes["KH"]
    try:
        notice = await _refer_and_hand_over(world, "TH", "KH", case)
        async with th, kh:
            sent: dict[str, list[str]] = {"TH": [], "KH": []}
            for status in ("IDENTIFIED", "REFERRED"):
                sent["KH"].append(await record_status(th, case, status, to=["KH"]))
            sent["TH"].append(await record_status(kh, case, "ACCEPTED", to=["TH"]))
            for status in ("ACCEPTED", "HANDOVER_SCHEDULED"):
                sent["KH"].append(await record_status(th, case, status, to=["KH"]))
            sent["TH"].append(await record_status(kh, case, "HANDOVER_SCHEDULED", to=["TH"]))
            handed = th.now_ms()
            sent["KH"].append(
                await record_status(
                    th, case, "HANDED_OVER", to=["KH"], next_step_owner="KH",
                    related_event_id=notice, changed_at_ms=handed,
                )
            )  # fmt: skip
            for status in ("HANDED_OVER", "IN_REINTEGRATION"):
                sent["TH"].append(
                    await record_status(kh, case, status, to=["TH"], next_step_owner="KH")
                )
        await world.expect("KH", sent["KH"])
        await world.expect("TH", sent["TH"])

        dues = [add_months(handed, m) for m in (3, 6, 12)]
        book = world.book("TH")
        assert book.overdue(dues[0] - 1) == []
        (late,) = book.overdue(dues[0])
        assert (late.kind, late.owner, late.follow_up_number) == ("FOLLOW_UP_OVERDUE", "KH", 1)
        # An extra visit (visit 3, no follow-up number) a month on does no scheduled follow-up,
        # on either side: Thailand sees the null number as not disclosed, but the agreement
        # lists the field, so it was left empty.
        async with kh:
            extra = await report_reintegration(
                kh, case, to=["TH"], visit_number=3, visited_at_ms=add_months(handed, 1),
                services_received=["MEDICAL_CARE"], living_situation="WITH_FAMILY",
                risk_level="MEDIUM",
            )  # fmt: skip
        (visit,) = await world.expect("TH", [extra])
        assert "follow_up_number" in visit.withheld
        for side in ("TH", "KH"):
            pending = world.book(side).pending(case)
            numbers = [s.follow_up_number for s in pending if s.kind == "FOLLOW_UP_OVERDUE"]
            assert numbers == [1, 2, 3], side

        # Each follow-up: due, the visit reported, done; both books follow.
        for number, due in enumerate(dues, start=1):
            async with kh:
                ids = [
                    await record_status(
                        kh, case, "FOLLOW_UP_DUE", to=["TH"], follow_up_number=number,
                        next_due_ms=due, next_step_owner="KH",
                    ),
                    await report_reintegration(
                        kh, case, to=["TH"], visit_number=number, follow_up_number=number,
                        visited_at_ms=due - 2 * DAY,
                        services_received=["PSYCHOSOCIAL_SUPPORT", "EDUCATION"],
                        living_situation="WITH_FAMILY", risk_level="LOW",
                    ),
                    await record_status(
                        kh, case, "FOLLOW_UP_DONE", to=["TH"], follow_up_number=number
                    ),
                ]  # fmt: skip
            received = await world.expect("TH", ids)
            assert received[1].fields["services_received"] == ["PSYCHOSOCIAL_SUPPORT", "EDUCATION"]
            assert "notes" in received[1].withheld  # free text never goes under this agreement
            assert [o.follow_up_number for o in world.book("TH").overdue(due + DAY)] == []
        async with kh:
            closed = await record_status(kh, case, "CLOSED", to=["TH"])
        await world.expect("TH", [closed])

        book = world.book("TH")
        (summary,) = book.cases(dues[-1] + 365 * DAY)
        assert summary.status == "CLOSED"
        assert summary.status_by_country == {"KH": "CLOSED", "TH": "HANDED_OVER"}
        assert not summary.overdue
        assert book.overdue(dues[-1] + 365 * DAY) == []
        timeline = book.timeline(case)
        kh_statuses = [e.status for e in timeline if e.producer == "KH" and e.status]
        assert kh_statuses == [
            "ACCEPTED", "HANDOVER_SCHEDULED", "HANDED_OVER", "IN_REINTEGRATION",
            "FOLLOW_UP_DUE", "FOLLOW_UP_DONE", "FOLLOW_UP_DUE", "FOLLOW_UP_DONE",
            "FOLLOW_UP_DUE", "FOLLOW_UP_DONE", "CLOSED",
        ]  # fmt: skip
        assert {e.transition for e in timeline if e.status} <= {"FIRST", "NEXT"}
        # Both sides of the case, each event once: what TH sent and what it received.
        assert {e.direction for e in timeline} == {"sent", "received"}
        handover = next(e for e in timeline if e.event_id == notice)
        assert [(c, s) for c, s, _ in handover.acknowledgements] == [("KH", "ACCEPTED")]
        assert sum(e.event_type == "reintegration_report" for e in timeline) == 4
        assert [e.follow_up_number for e in timeline if e.event_id == extra] == [None]
        # Cambodia's book tells the same story from its side.
        kh_book = world.book("KH")
        assert kh_book.cases(dues[-1] + 365 * DAY)[0].status_by_country["KH"] == "CLOSED"
        assert kh_book.timeline(case)[0].direction == "received"  # TH's referral
        assert th.store.opened(notice) is not None  # TH keeps what it sent (contract C)
    finally:
        await world.stop()


async def test_a_myanmar_adults_missed_follow_up_is_alerted_to_myanmar_once(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    # The TH-MM agreement sets its own schedule: visits 2 and 4 months after the handover.
    world = CaseWorld(kafka_bootstrap, topics, tmp_path, [("TH", "MM")], follow_up_months=(2, 4))
    await world.start()
    case = "case-mm-adult"
    th, mm = world.nodes["TH"], world.nodes["MM"]
    try:
        async with th:
            handed = th.now_ms()
            update = await record_status(
                th, case, "HANDED_OVER", to=["MM"], next_step_owner="MM", changed_at_ms=handed
            )
        await world.expect("MM", [update])
        # Kept as the agreement's retention allows (30 days in the test agreement).
        kept = th.store.vault_entry(update)
        assert kept is not None
        assert kept.retain_until_ms == kept.created_at_ms + 30 * DAY
        assert world.book("TH").schedule(case) == (2, 4)
        first_due = add_months(handed, 2)
        at = first_due + 5 * DAY

        (item,) = world.book("TH").overdue(at)
        assert (item.kind, item.owner, item.follow_up_number) == ("FOLLOW_UP_OVERDUE", "MM", 1)
        assert item.due_at_ms == first_due
        assert world.book("MM").overdue(at)[0].owner == "MM"  # Myanmar's own desk sees it too

        async with th:
            sent = await send_alerts(th, now_ms=at)
            assert [(i.kind, i.owner) for i, _ in sent] == [("FOLLOW_UP_OVERDUE", "MM")]
            assert await send_alerts(th, now_ms=at + DAY) == []  # once
        (alert,) = await world.expect("MM", [sent[0][1]])
        assert alert.event_type == "case_alert"
        assert alert.fields["kind"] == "FOLLOW_UP_OVERDUE"
        assert alert.fields["about_event_id"] == update
        assert alert.fields["due_at"] == first_due
        assert alert.fields["step_owner"] == "MM"
        assert alert.fields["follow_up_number"] == 1
        entry = world.book("MM").timeline(case)[-1]
        assert (entry.event_type, entry.summary["kind"]) == ("case_alert", "FOLLOW_UP_OVERDUE")
        # Myanmar owns the step itself: its node sends nothing.
        async with mm:
            assert await send_alerts(mm, now_ms=at) == []
        # The same from the command line, as of that day.
        day = dt.datetime.fromtimestamp(at / 1000, tz=dt.UTC).isoformat()
        res = await world.node_cli("MM", "cases", "--overdue", "--json", "--no-read", "--at", day)
        assert res.exit_code == 0, res.output
        (listed,) = [json.loads(line) for line in res.stdout.splitlines()]
        assert (listed["kind"], listed["owner"], listed["case_key"]) == (
            "FOLLOW_UP_OVERDUE",
            "MM",
            case,
        )
        res = await world.node_cli("TH", "cases", "--alert", "--no-read", "--at", day)
        assert res.exit_code == 0, res.output
        assert "no new alerts to send" in res.stdout  # sent once, journaled
    finally:
        await world.stop()


async def test_a_child_referred_again_after_the_handover_is_told_to_both_desks(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    world = CaseWorld(kafka_bootstrap, topics, tmp_path, [("TH", "KH")])
    await world.start()
    case = "case-kh-again"
    th, kh = world.nodes["TH"], world.nodes["KH"]
    try:
        async with th:
            handed = th.now_ms() - 200 * DAY
            update = await record_status(
                th, case, "HANDED_OVER", to=["KH"], next_step_owner="KH", changed_at_ms=handed
            )
        await world.expect("KH", [update])
        assert world.book("KH").cases(handed + DAY)[0].status == "HANDED_OVER"

        # Months later Thailand finds the child again and refers the same case.
        async with th:
            again = await th.publish(
                Submission(EventType.REFERRAL, ("KH",), "victim_protection", "H2", case,
                           example("referral"))
            )  # fmt: skip
        await world.expect("KH", [again])
        now = kh.now_ms()
        kh_book = world.book("KH")
        (summary,) = kh_book.cases(now)
        assert summary.status == "RETRAFFICKING_SUSPECTED"
        assert summary.status_by_country["KH"] == "RETRAFFICKING_SUSPECTED"
        alerts = [a for a in kh_book.alerts(now) if a.kind == "RETRAFFICKING_SUSPECTED"]
        assert [(a.owner, a.event_id) for a in alerts] == [("TH", again)]

        async with kh:
            sent = await send_alerts(kh, now_ms=now)
        told = [(i.kind, i.owner) for i, _ in sent]
        assert ("RETRAFFICKING_SUSPECTED", "TH") in told
        alert_id = next(a for i, a in sent if i.kind == "RETRAFFICKING_SUSPECTED")
        (alert,) = await world.expect("TH", [alert_id])
        assert alert.fields["about_event_id"] == again
        th_book = world.book("TH")
        assert th_book.cases(now)[0].status_by_country["KH"] == "RETRAFFICKING_SUSPECTED"
        assert th_book.cases(now)[0].status_by_country["TH"] == "RETRAFFICKING_SUSPECTED"
        # Thailand was told of the same referral: it need not tell Cambodia back.
        assert [a for a in th_book.alerts(now) if a.kind == "RETRAFFICKING_SUSPECTED"] == []
        # Cambodia starts again: REFERRED after RETRAFFICKING_SUSPECTED needs no reason.
        async with kh:
            reopened = await record_status(kh, case, "REFERRED", to=["TH"])
        (record,) = await world.expect("TH", [reopened])
        assert record.fields["previous_status"] == "RETRAFFICKING_SUSPECTED"
        # Thailand hands the child over again: a new cycle, its follow-ups from this handover
        # (none of the first cycle's is overdue, the re-referral is no longer news).
        async with th:
            second = await record_status(
                th, case, "HANDED_OVER", to=["KH"], next_step_owner="KH",
                transition_reason="NEW_INFORMATION",
            )  # fmt: skip
        await world.expect("KH", [second])
        later = kh.now_ms()
        for side in ("TH", "KH"):
            book = world.book(side)
            steps = [s for s in book.pending(case) if s.kind == "FOLLOW_UP_OVERDUE"]
            assert [(s.follow_up_number, s.event_id) for s in steps] == [
                (1, second), (2, second), (3, second)
            ], side  # fmt: skip
            kinds = {a.kind for a in book.alerts(later)}
            assert kinds.isdisjoint({"FOLLOW_UP_OVERDUE", "RETRAFFICKING_SUSPECTED"}), side
    finally:
        await world.stop()


REFERENCE = "0123456789abcdef0123456789abcdef"


async def test_a_match_follow_up_of_a_person_handed_over_tells_the_requester_and_the_partner(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    """Cambodia registered the returned child for matching under its case; Viet Nam asks.

    The registration is put in Cambodia's store as ``connectors.sdk.matching.register(...,
    case_key=...)`` keeps it (its OPRF exchange is tested in test_match_*); the
    follow-up request goes through the hub like any event.
    """
    world = CaseWorld(
        kafka_bootstrap,
        topics,
        tmp_path,
        [("TH", "KH"), ("KH", "VN")],
        extra={"VN>KH:match_followup": list(payload_fields("match_followup"))},
    )
    await world.start()
    case = "case-kh-matched"
    th, kh, vn = world.nodes["TH"], world.nodes["KH"], world.nodes["VN"]
    try:
        async with th:
            update = await record_status(
                th, case, "HANDED_OVER", to=["KH"], next_step_owner="KH",
                changed_at_ms=th.now_ms() - 200 * DAY,
            )  # fmt: skip
        await world.expect("KH", [update])
        kh.store.keep_match_registration(
            REFERENCE, {"kind": "phone", "value": "+85512345678", "case_key": case}
        )
        async with vn:
            request = await request_followup(
                vn, owner="KH", reference=REFERENCE, query_id=new_event_id(vn.now_ms()),
                case_ref="vn-case-7", purpose="investigation",
            )  # fmt: skip
        await world.expect("KH", [request])
        now = kh.now_ms()
        (summary,) = [c for c in world.book("KH").cases(now) if c.case_key == case]
        assert summary.status_by_country["KH"] == "RETRAFFICKING_SUSPECTED"

        async with kh:
            sent = {item.owner: (item, alert) for item, alert in await send_alerts(kh)}
        assert sorted(sent) == ["TH", "VN"]
        assert sent["TH"][0].case_key == case
        assert sent["VN"][0].case_key == "vn-case-7"  # the requester's own case key
        (to_vn,) = await world.expect("VN", [sent["VN"][1]])
        (to_th,) = await world.expect("TH", [sent["TH"][1]])
        assert to_vn.case_key == "vn-case-7"
        assert to_vn.fields["kind"] == "RETRAFFICKING_SUSPECTED"
        assert to_vn.fields["about_event_id"] == request
        assert case not in json.dumps(to_vn.to_json())  # nothing of Cambodia's case
        assert to_th.fields["about_event_id"] == request
        assert world.book("VN").cases(now)[0].status_by_country == {"KH": "RETRAFFICKING_SUSPECTED"}
        th_view = world.book("TH").summary(case, now)
        assert th_view.status_by_country["KH"] == "RETRAFFICKING_SUSPECTED"
    finally:
        await world.stop()
