#!/usr/bin/env python3
"""Generate the case lifecycle vectors in tests/vectors/cases/ (docs/protocol.md 14).

The expected outcomes are written out here by hand, from the text of sections
14.2 and 14.3, not computed by the reference code: tests/unit/cases/
test_case_vectors.py checks that ``hub.cases`` agrees and that the files do
not drift from this script. Two files:

``transitions.json``  a list of {"description", "previous", "previous_follow_up",
                      "new", "follow_up", "follow_ups", "transition_reason",
                      "expected": {"kind": KIND} | {"refused": "TRANSITION_REASON_REQUIRED"}}
``follow-ups.json``   a list of {"description", "handed_over", "months",
                      "expected_due": [RFC 3339 UTC times]}

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


def built() -> dict[str, str]:
    def render(obj: Any) -> str:
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"

    return {"transitions.json": render(transitions()), "follow-ups.json": render(follow_ups())}


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
