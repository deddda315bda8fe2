"""Status changes that break the order, on the real broker and from the command line.

Thailand records REFERRED, then tries HANDED_OVER: a skip without a reason is
refused before anything is sent (TRANSITION_REASON_REQUIRED, no sequence
number used); with a reason it goes, and Cambodia sees the previous status,
the new one and the reason in its inbox table and its case timeline. A step
back (HANDED_OVER -> ACCEPTED) likewise. ``trm node cases`` lists the case,
its timeline and what is overdue.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.sdk import record_status
from hub.errors import Reason, RequestError
from hub.topics import Topics
from tests.support.cases import CaseWorld
from tests.support.hub import example
from tests.support.kafka import read_topic

pytestmark = pytest.mark.kafka
DAY = 86_400_000


async def test_a_skip_needs_a_reason_and_the_recipient_sees_it(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    world = CaseWorld(kafka_bootstrap, topics, tmp_path, [("TH", "KH")])
    await world.start()
    case = "case-order"
    th = world.nodes["TH"]
    try:
        async with th:
            referred = await record_status(th, case, "REFERRED", to=["KH"])
            sequence = th.store.last_sequence()
            with pytest.raises(RequestError) as err:
                await record_status(th, case, "HANDED_OVER", to=["KH"])
        assert err.value.reason is Reason.TRANSITION_REASON_REQUIRED
        assert "from REFERRED to HANDED_OVER" in err.value.detail
        assert th.store.last_sequence() == sequence  # nothing sent, no number used

        # The same from the command line: refused, then sent with a reason.
        res = await world.node_cli(
            "TH", "case-status", "--case", case, "--status", "HANDED_OVER", "--to", "KH"
        )
        assert res.exit_code == 1
        assert "rejected: TRANSITION_REASON_REQUIRED" in res.stderr
        assert len(await read_topic(kafka_bootstrap, topics.outbox("TH"))) == 1
        res = await world.node_cli(
            "TH", "case-status", "--case", case, "--status", "HANDED_OVER", "--to", "KH",
            "--reason", "STEP_NOT_APPLICABLE", "--owner", "KH", "--next-due",
            "2026-12-01T00:00:00Z",
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        skipped = res.stdout.strip()
        # A step back, with its reason, from the SDK (a node that reads what the CLI wrote).
        th = await world.reopen("TH")
        async with th:
            back = await record_status(
                th, case, "ACCEPTED", to=["KH"], transition_reason="RECORDED_IN_ERROR"
            )

        got = await world.expect("KH", [referred, skipped, back])
        assert [
            (r.fields.get("previous_status"), r.fields["status"], r.fields.get("transition_reason"))
            for r in got
        ] == [
            (None, "REFERRED", None),
            ("REFERRED", "HANDED_OVER", "STEP_NOT_APPLICABLE"),
            ("HANDED_OVER", "ACCEPTED", "RECORDED_IN_ERROR"),
        ]
        timeline = world.book("KH").timeline(case)
        assert [(e.status, e.transition, e.transition_reason) for e in timeline] == [
            ("REFERRED", "FIRST", None),
            ("HANDED_OVER", "SKIP", "STEP_NOT_APPLICABLE"),
            ("ACCEPTED", "BACKWARD", "RECORDED_IN_ERROR"),
        ]
        assert timeline[1].next_step_owner == "KH"

        # Cambodia's inbox table shows previous -> new and the reason.
        res = await world.node_cli("KH", "inbox", "--all")
        assert res.exit_code == 0, res.output
        assert "REFERRED -> HANDED_OVER" in res.stdout
        assert "reason: STEP_NOT_APPLICABLE" in res.stdout
        assert "HANDED_OVER -> ACCEPTED" in res.stdout
        # Its case book, from the command line.
        res = await world.node_cli("KH", "cases", "--json", "--no-read")
        assert res.exit_code == 0, res.output
        (listed,) = [json.loads(line) for line in res.stdout.splitlines()]
        assert listed["case_key"] == case
        assert listed["status_by_country"] == {"TH": "ACCEPTED"}
        res = await world.node_cli("KH", "cases", "--case", case, "--no-read")
        assert res.exit_code == 0, res.output
        assert "REFERRED -> HANDED_OVER (SKIP, reason STEP_NOT_APPLICABLE)" in res.stdout
        # The next step TH named (due 1 December 2026) was superseded by a later update.
        res = await world.node_cli(
            "KH", "cases", "--overdue", "--no-read", "--at", "2027-01-01T00:00:00Z"
        )
        assert res.exit_code == 0, res.output
        assert "nothing overdue" in res.stdout
        # A follow-up visit goes with `trm node publish`, like any event.
        report = tmp_path / "visit.json"
        report.write_text(
            json.dumps(
                {
                    "type": "reintegration_report",
                    "to": ["TH"],
                    "case_key": case,
                    "payload": example("reintegration_report"),
                }
            ),
            encoding="utf-8",
        )
        res = await world.node_cli("KH", "publish", str(report))
        assert res.exit_code == 0, res.output
        (visit,) = await world.expect("TH", [res.stdout.strip()])
        assert visit.fields["risk_level"] == "LOW"
        assert visit.withheld == ("notes",)

        # Thailand has the case erased: Cambodia's own copies of it go too.
        kh = await world.reopen("KH")  # the CLI wrote to its store
        assert world.book("KH").case_keys() == [case]
        async with th:
            erasure = await th.request_erasure(case)
        await world.expect("KH", [erasure])
        assert world.book("KH").case_keys() == []
        assert kh.store.entries() == []
    finally:
        await world.stop()
