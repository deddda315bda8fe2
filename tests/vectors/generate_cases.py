#!/usr/bin/env python3
"""Generate the case lifecycle vectors in tests/vectors/cases/ (docs/protocol.md 14).

The expected outcomes are written out here by hand, from the text of sections
14.2, 14.3 and 14.6, not computed by the reference code: tests/unit/cases/
test_case_vectors.py checks that ``hub.cases`` agrees and that the files do
not drift from this script. Three files:

``transitions.json``  a list of {"description", "previous", "previous_follow_up",
                      "new", "follow_up", "follow_ups", "transition_reason",
                      "expected": {"kind": KIND} | {"refused": "TRANSITION_REASON_REQUIRED"}}
``follow-ups.json``   a list of {"description", "handed_over", "months",
                      "expected_due": [RFC 3339 UTC times]}
``cycles.json``       a list of {"description", "country" (the node whose side it
                      is), "months", "events", "expected": {"handover" (event id),
                      "receiving_country", "status", "open_follow_ups": [[number,
                      due, owner], ...]}}: which handover the follow-ups count
                      from, who owns them and which are still awaited. Each event
                      is a node's vault record with times in RFC 3339 (its
                      "created_at" and the fields "changed_at", "detected_at",
                      "visited_at"); "left_empty" names the withheld fields the
                      flow lists (the producer left them null, 14.3).

    python tests/vectors/generate_cases.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "cases"
REFUSED = {"refused": "TRANSITION_REASON_REQUIRED"}


def _t(  # noqa: PLR0917 - one row of the table
    description: str,
    previous: str | None,
    new: str,
    expected: dict[str, str],
    reason: str | None = None,
    previous_follow_up: int | None = None,
    follow_up: int | None = None,
    follow_ups: int = 3,
) -> dict[str, Any]:
    return {
        "description": description,
        "previous": previous,
        "previous_follow_up": previous_follow_up,
        "new": new,
        "follow_up": follow_up,
        "follow_ups": follow_ups,
        "transition_reason": reason,
        "expected": expected,
    }


def _kind(kind: str) -> dict[str, str]:
    return {"kind": kind}


def transitions() -> list[dict[str, Any]]:
    return [
        _t("a case's first status, whatever it is", None, "HANDED_OVER", _kind("FIRST")),
        _t("the next step", "REFERRED", "ACCEPTED", _kind("NEXT")),
        _t("handed over, then in reintegration", "HANDED_OVER", "IN_REINTEGRATION",
           _kind("NEXT")),
        _t("the first follow-up falls due", "IN_REINTEGRATION", "FOLLOW_UP_DUE", _kind("NEXT"),
           follow_up=1),
        _t("a follow-up done", "FOLLOW_UP_DUE", "FOLLOW_UP_DONE", _kind("NEXT"),
           previous_follow_up=2, follow_up=2),
        _t("the next follow-up falls due", "FOLLOW_UP_DONE", "FOLLOW_UP_DUE", _kind("NEXT"),
           previous_follow_up=1, follow_up=2),
        _t("closed after the last follow-up", "FOLLOW_UP_DONE", "CLOSED", _kind("NEXT"),
           previous_follow_up=3),
        _t("closed after the last of a two-visit schedule", "FOLLOW_UP_DONE", "CLOSED",
           _kind("NEXT"), previous_follow_up=2, follow_ups=2),
        _t("the same status again", "ACCEPTED", "ACCEPTED", _kind("SAME")),
        _t("a skip without a reason", "REFERRED", "HANDED_OVER", REFUSED),
        _t("a skip with a reason", "REFERRED", "HANDED_OVER", _kind("SKIP"),
           reason="STEP_NOT_APPLICABLE"),
        _t("closed before the last follow-up, without a reason", "FOLLOW_UP_DONE", "CLOSED",
           REFUSED, previous_follow_up=1),
        _t("a follow-up skipped", "FOLLOW_UP_DONE", "FOLLOW_UP_DUE", REFUSED,
           previous_follow_up=1, follow_up=3),
        _t("a step back without a reason", "HANDOVER_SCHEDULED", "ACCEPTED", REFUSED),
        _t("a step back with a reason", "HANDOVER_SCHEDULED", "ACCEPTED", _kind("BACKWARD"),
           reason="HANDOVER_POSTPONED"),
        _t("an earlier follow-up again", "FOLLOW_UP_DUE", "FOLLOW_UP_DUE", REFUSED,
           previous_follow_up=2, follow_up=1),
        _t("re-trafficking after the handover", "HANDED_OVER", "RETRAFFICKING_SUSPECTED",
           _kind("RETRAFFICKING")),
        _t("re-trafficking after closure", "CLOSED", "RETRAFFICKING_SUSPECTED",
           _kind("RETRAFFICKING")),
        _t("re-trafficking before any handover", "ACCEPTED", "RETRAFFICKING_SUSPECTED",
           REFUSED),
        _t("a new start after re-trafficking", "RETRAFFICKING_SUSPECTED", "REFERRED",
           _kind("REOPENED")),
        _t("closing a re-trafficking case without a reason", "RETRAFFICKING_SUSPECTED",
           "CLOSED", REFUSED),
    ]  # fmt: skip


def follow_ups() -> list[dict[str, Any]]:
    return [
        {
            "description": "the default schedule: 3, 6 and 12 months, the time of day kept",
            "handed_over": "2026-01-07T09:00:00Z",
            "months": [3, 6, 12],
            "expected_due": [
                "2026-04-07T09:00:00Z",
                "2026-07-07T09:00:00Z",
                "2027-01-07T09:00:00Z",
            ],
        },
        {
            "description": "the day clamped to the end of a shorter month (and a leap year)",
            "handed_over": "2027-11-30T23:30:00Z",
            "months": [3, 15],
            "expected_due": ["2028-02-29T23:30:00Z", "2029-02-28T23:30:00Z"],
        },
        {
            "description": "31 January plus one month",
            "handed_over": "2026-01-31T00:00:00Z",
            "months": [1, 2],
            "expected_due": ["2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"],
        },
    ]


def _e(
    event_id: str,
    event_type: str,
    producer: str,
    to: str,
    created_at: str,
    *,
    withheld: tuple[str, ...] = (),
    left_empty: tuple[str, ...] = (),
    **fields: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": event_type,
        "from": producer,
        "to": [to],
        "created_at": created_at,
        "fields": fields,
        "withheld": list(withheld),
        "left_empty": list(left_empty),
    }


JAN7 = "2026-01-07T09:00:00Z"
REFERRAL = _e("e1", "referral", "TH", "KH", "2025-12-08T09:00:00Z")
HANDED = _e("e2", "case_update", "TH", "KH", JAN7, status="HANDED_OVER", changed_at=JAN7,
            next_step_owner="KH")  # fmt: skip
FROM_JAN7 = [
    [1, "2026-04-07T09:00:00Z", "KH"],
    [2, "2026-07-07T09:00:00Z", "KH"],
    [3, "2027-01-07T09:00:00Z", "KH"],
]
FROM_JUNE1 = ["2026-09-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-06-01T00:00:00Z"]


def _cycle(  # noqa: PLR0917 - one row of the table
    description: str,
    country: str,
    events: list[dict[str, Any]],
    handover: str,
    receiving: str,
    status: str,
    open_follow_ups: list[list[Any]],
) -> dict[str, Any]:
    return {
        "description": description,
        "country": country,
        "months": [3, 6, 12],
        "events": events,
        "expected": {
            "handover": handover,
            "receiving_country": receiving,
            "status": status,
            "open_follow_ups": open_follow_ups,
        },
    }


def cycles() -> list[dict[str, Any]]:
    extra: dict[str, Any] = {"visit_number": 3, "visited_at": "2026-02-07T09:00:00Z"}
    return [
        _cycle("Thailand hands over to Cambodia, naming it: three follow-ups, Cambodia's",
               "TH", [REFERRAL, HANDED], "e2", "KH", "HANDED_OVER", FROM_JAN7),
        _cycle("Cambodia records the handover itself, to Thailand, naming no owner: the "
               "receiving country of the referral owns the follow-ups, not the update's "
               "recipient", "KH",
               [REFERRAL, _e("e2", "case_update", "KH", "TH", JAN7, status="HANDED_OVER",
                             changed_at=JAN7)],
               "e2", "KH", "HANDED_OVER", FROM_JAN7),
        _cycle("an extra visit (follow_up_number null) in the producer's own record does "
               "no follow-up, whatever its visit number", "KH",
               [REFERRAL, HANDED,
                _e("e3", "reintegration_report", "KH", "TH", "2026-02-07T09:00:00Z", **extra)],
               "e2", "KH", "HANDED_OVER", FROM_JAN7),
        _cycle("the same extra visit received: follow_up_number not disclosed, but the flow "
               "lists it, so it was left empty", "TH",
               [REFERRAL, HANDED,
                _e("e3", "reintegration_report", "KH", "TH", "2026-02-07T09:00:00Z",
                   withheld=("follow_up_number", "notes"), left_empty=("follow_up_number",),
                   **extra)],
               "e2", "KH", "HANDED_OVER", FROM_JAN7),
        _cycle("follow_up_number withheld by the agreement: the visit number stands for it",
               "TH",
               [REFERRAL, HANDED,
                _e("e3", "reintegration_report", "KH", "TH", "2026-04-01T09:00:00Z",
                   withheld=("follow_up_number", "notes"), visit_number=1)],
               "e2", "KH", "HANDED_OVER", FROM_JAN7[1:]),
        _cycle("a FOLLOW_UP_DONE update and a report with its follow-up number (not its "
               "visit number) each do one", "TH",
               [REFERRAL, HANDED,
                _e("e3", "case_update", "KH", "TH", "2026-04-06T09:00:00Z",
                   status="FOLLOW_UP_DONE", changed_at="2026-04-06T09:00:00Z",
                   follow_up_number=1),
                _e("e4", "reintegration_report", "KH", "TH", "2026-07-01T09:00:00Z",
                   visit_number=5, follow_up_number=2)],
               "e2", "KH", "FOLLOW_UP_DONE", FROM_JAN7[2:]),
        _cycle("a handover recorded late: a report made after the handover's changed_at "
               "counts, one made before it does not", "TH",
               [REFERRAL,
                _e("e2", "case_update", "TH", "KH", "2026-01-20T09:00:00Z",
                   status="HANDED_OVER", changed_at=JAN7, next_step_owner="KH"),
                _e("e3", "reintegration_report", "KH", "TH", "2026-01-17T09:00:00Z",
                   visit_number=1, follow_up_number=1),
                _e("e4", "reintegration_report", "KH", "TH", "2026-01-06T09:00:00Z",
                   visit_number=2, follow_up_number=2)],
               "e2", "KH", "HANDED_OVER", FROM_JAN7[1:]),
        _cycle("a new referral after the handover, none since: re-trafficking suspected, "
               "no follow-up awaited", "TH",
               [REFERRAL, HANDED, _e("e3", "referral", "TH", "KH", "2026-05-05T00:00:00Z")],
               "e2", "KH", "RETRAFFICKING_SUSPECTED", []),
        _cycle("the desk's path: a new referral, REFERRED, HANDED_OVER again: the follow-ups "
               "count from the second handover; the first cycle's report does none", "TH",
               [REFERRAL, HANDED,
                _e("e3", "reintegration_report", "KH", "TH", "2026-04-01T09:00:00Z",
                   visit_number=1, follow_up_number=1),
                _e("e4", "referral", "TH", "KH", "2026-05-05T00:00:00Z"),
                _e("e5", "case_update", "TH", "KH", "2026-05-06T00:00:00Z", status="REFERRED",
                   changed_at="2026-05-06T00:00:00Z", transition_reason="NEW_INFORMATION"),
                _e("e6", "case_update", "TH", "KH", "2026-06-01T00:00:00Z",
                   status="HANDED_OVER", changed_at="2026-06-01T00:00:00Z",
                   next_step_owner="KH")],
               "e6", "KH", "HANDED_OVER",
               [[n, due, "KH"] for n, due in enumerate(FROM_JUNE1, start=1)]),
        _cycle("a match follow-up of the person after the handover ends the cycle too", "KH",
               [REFERRAL, HANDED,
                _e("e3", "match_followup", "VN", "KH", "2026-05-05T00:00:00Z"),
                _e("e4", "case_update", "TH", "KH", "2026-06-01T00:00:00Z",
                   status="HANDED_OVER", changed_at="2026-06-01T00:00:00Z",
                   next_step_owner="KH")],
               "e4", "KH", "HANDED_OVER",
               [[n, due, "KH"] for n, due in enumerate(FROM_JUNE1, start=1)]),
        _cycle("returned the other way in the second cycle: the owner named in the first "
               "owns none of its follow-ups; the second referral's recipient does", "TH",
               [REFERRAL, HANDED,
                _e("e3", "case_update", "KH", "TH", "2026-01-08T09:00:00Z",
                   status="IN_REINTEGRATION", changed_at="2026-01-08T09:00:00Z",
                   next_step_owner="KH"),
                _e("e4", "referral", "KH", "TH", "2026-05-05T00:00:00Z"),
                _e("e5", "case_update", "KH", "TH", "2026-06-01T00:00:00Z",
                   status="HANDED_OVER", changed_at="2026-06-01T00:00:00Z")],
               "e5", "TH", "HANDED_OVER",
               [[n, due, "TH"] for n, due in enumerate(FROM_JUNE1, start=1)]),
    ]  # fmt: skip


def built() -> dict[str, str]:
    def render(obj: Any) -> str:
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"

    return {
        "transitions.json": render(transitions()),
        "follow-ups.json": render(follow_ups()),
        "cycles.json": render(cycles()),
    }


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    drift = []
    for name, text in built().items():
        path = OUT / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            drift.append(name)
            if not check:
                OUT.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and drift:
        print(f"vectors in {OUT} drifted from the generator: {drift}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
