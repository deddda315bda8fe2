"""The demo's matching chapter: does another member know this recruiter, without anyone saying who.

Viet Nam registers a recruiter it knows (a Thai national, his name in Latin
letters and his Thai mobile number as Viet Nam's record holds them). Thailand
asks with the name in Thai script, the year in the Buddhist era, and the number
written the Thai way: a hit, with Viet Nam's opaque reference and nothing else.
Thailand asks to follow up; the request waits at Viet Nam's desk until a person
approves it; Thailand receives what the agreement ``TH-VN-matching`` lets Viet Nam
disclose. Cambodia gets the same hit, but no agreement lets it follow up: the hub
refuses its request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

from connectors.cli.terminal import cell
from connectors.sdk import CountryNode, Rejection
from connectors.sdk.followup import (
    FollowupAnswer,
    FollowupRequest,
    approve,
    followup_answers,
    pending_followups,
    request_followup,
)
from connectors.sdk.matching import MatchAnswer, query, register

__all__ = ["RECRUITER", "matching_chapter"]

T = TypeVar("T")
Wait = Callable[[Callable[[], Awaitable[T | None]]], Awaitable[T | None]]
Judge = Callable[[str, str, str, str], None]

# The recruiter, as each country writes him (EXAMPLE data).
RECRUITER: Mapping[str, Any] = {
    "VN name": "Somchai Jaidee",
    "VN year": 1985,
    "VN phone": "+66 81 234 5678",
    "TH name": "สมชาย ใจดี",
    "TH year": 2528,  # Buddhist era: 1985
    "TH phone": "081-234-5678",
    "KH phone": "+66812345678",
}
CASE_TH, CASE_KH, PURPOSE = "TH-2026-0042", "KH-2026-0007", "investigation"


def _said(answer: MatchAnswer) -> str:
    return f"hit {answer.owner} {answer.kind}" if answer.hit else "no hit"


async def matching_chapter(
    nodes: Mapping[str, CountryNode],
    console: Console,
    judge: Judge,
    wait: Wait[Any],
    rejection: Callable[[str, str, str], Awaitable[Rejection | None]],
) -> None:
    """Run the chapter; each outcome goes to ``judge(step, who, expected, got)``."""
    vn, th, kh = nodes["VN"], nodes["TH"], nodes["KH"]
    c = console
    c.rule("[bold]Matching: does anyone know this recruiter?")
    c.print(
        "Viet Nam registers a recruiter it knows. Its match keys are computed with three "
        "members' key shares (3 of 6), blinded: no member sees the name or the number, and "
        "the hub's index holds keys no one can compute alone.",
        highlight=False,
    )
    by_name = await register(vn, "name", RECRUITER["VN name"], birth_year=RECRUITER["VN year"])
    by_phone = await register(vn, "phone", RECRUITER["VN phone"])
    c.print(
        Text("  Viet Nam registered a name and a phone number: references ")
        + cell(by_name.reference, "cyan")
        + Text(", ")
        + cell(by_phone.reference, "cyan")
    )

    c.rule("[bold]Thailand asks, written the Thai way")
    c.print(
        "A focal point in Bangkok holds the name in Thai script, the year of birth in the "
        "Buddhist era and the number written locally. Every query names a case and a purpose.",
        highlight=False,
    )
    name_answer = await query(
        th, "name", RECRUITER["TH name"], birth_year=RECRUITER["TH year"],
        case_ref=CASE_TH, purpose=PURPOSE,
    )  # fmt: skip
    phone_answer = await query(
        th, "phone", RECRUITER["TH phone"], case_ref=CASE_TH, purpose=PURPOSE
    )
    other = await query(th, "phone", "081-234-5679", case_ref=CASE_TH, purpose=PURPOSE)
    for label, answer, expected in (
        ("name in Thai script", name_answer, "hit VN name"),
        ("number written locally", phone_answer, "hit VN phone"),
        ("another number", other, "no hit"),
    ):
        got = _said(answer)
        judge("match query", f"TH {label}", expected, got)
        mark = "[green]✓[/]" if got == expected else "[red]✗[/]"
        shown = f"{got} {answer.reference}" if answer.hit else got
        c.print(Text.from_markup(f"  {mark} {label}: ") + cell(shown, "bold"))
    if not phone_answer.hit or phone_answer.reference is None:
        return

    c.rule("[bold]Thailand follows up; a person at Viet Nam's desk decides")
    request_id = await request_followup(
        th, owner="VN", reference=phone_answer.reference, query_id=phone_answer.query_id,
        case_ref=CASE_TH, purpose=PURPOSE, match_kind=phone_answer.kind,
    )  # fmt: skip

    async def pending() -> FollowupRequest | None:
        return next((r for r in await pending_followups(vn) if r.event_id == request_id), None)

    waiting = await wait(pending)
    judge("follow-up", "VN desk", "pending", "pending" if waiting else "nothing")
    if waiting is None:
        c.print("  [red]✗[/] the request never reached Viet Nam's desk")
        return
    c.print(
        Text.from_markup("  [green]✓[/] pending at Viet Nam's desk: from ")
        + cell(waiting.requester)
        + Text(", case ")
        + cell(waiting.case_ref)
        + Text(", purpose ")
        + cell(waiting.purpose)
        + Text(", under ")
        + cell(waiting.agreement, "cyan")
        + Text(" (no identity data in the request)")
    )
    await approve(vn, request_id, reason="known recruiter, joint investigation")

    async def answered() -> FollowupAnswer | None:
        return next(
            (a for a in await followup_answers(th) if a.request_event_id == request_id), None
        )

    reply = await wait(answered)
    got = (reply.decision or "withheld") if reply else "nothing"
    judge("follow-up", "TH answer", "APPROVED", str(got))
    if reply is not None:
        c.print(
            Text.from_markup("  [green]✓[/] Thailand received Viet Nam's approval under ")
            + cell(reply.agreement, "cyan")
            + Text(", signature and hub attestation verified")
        )
        c.print(Text("    disclosed: ") + cell(", ".join(sorted(reply.identity)) or "none"))
        withheld = ", ".join(reply.withheld) or "none"
        c.print(Text.from_markup("    not disclosed: ") + cell(withheld, "yellow"))

    c.rule("[bold]Cambodia gets the hit too, but may not follow up")
    kh_answer = await query(kh, "phone", RECRUITER["KH phone"], case_ref=CASE_KH, purpose=PURPOSE)
    judge("match query", "KH phone", "hit VN phone", _said(kh_answer))
    c.print(Text("  Cambodia's query: ") + cell(_said(kh_answer), "bold"))
    if kh_answer.reference is None:
        return
    kh_request = await request_followup(
        kh, owner="VN", reference=kh_answer.reference, query_id=kh_answer.query_id,
        case_ref=CASE_KH, purpose=PURPOSE, match_kind=kh_answer.kind,
    )  # fmt: skip
    refused = await wait(lambda: rejection("KH", kh_request, "VN"))
    got = refused.reason if refused else "nothing"
    judge("follow-up", "KH to VN", "EVENT_TYPE_NOT_ALLOWED", got)
    mark = "[green]✓[/]" if got == "EVENT_TYPE_NOT_ALLOWED" else "[red]✗[/]"
    told = Text.from_markup(f"  {mark} the hub refused Cambodia's follow-up: ")
    c.print(told + cell(got, "bold"))
    if refused:
        c.print(cell(f"    {refused.detail}", "dim"))
