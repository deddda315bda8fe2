"""``trm match followup | pending | approve | decline | answers``: follow-up of a hit.

The follow-up of a match hit (docs/protocol.md 13.4) from the command line,
through :mod:`connectors.sdk.followup`:

- ``followup`` (the requester): asks the hit's owner for the record behind
  the reference; prints the request's event id. With ``--wait S`` it waits
  up to S seconds for the hub's refusal (a country without a follow-up flow
  to the owner: ``rejected: EVENT_TYPE_NOT_ALLOWED: ...``, exit 1).
- ``pending`` (the owner): the requests received and not yet answered, one
  line each (``--json``: one object per line); no identity data.
- ``approve`` / ``decline`` (the owner): a person's decision; prints the
  answer's event id. A decline needs ``--reason``.
- ``answers`` (the requester): the answers received; an answer to no
  request of this country's is shown flagged, without its identity data.

Refusals as every trm command: ``rejected: REASON_CODE: detail`` on stderr,
exit 1. These are click commands; the ``trm match`` group adds them
(:data:`COMMANDS`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from connectors.cli.node import _run, _when, node_options, open_node
from connectors.cli.terminal import json_line, printable
from connectors.sdk import CountryNode
from connectors.sdk.followup import (
    approve,
    decline,
    followup_answers,
    pending_followups,
    request_followup,
)
from hub.errors import Reason, RequestError
from hub.wire import PURPOSES

__all__ = ["COMMANDS", "answers", "approve_cmd", "decline_cmd", "followup", "pending"]


def _node(opts: dict[str, Any]) -> CountryNode:
    return open_node(
        opts["country"],
        bootstrap=opts["bootstrap"],
        namespace=opts["namespace"],
        key_file=opts["key_file"],
        trust_file=opts["trust_file"],
    )


async def _hub_refusal(node: CountryNode, event_id: str, wait_s: float) -> None:
    """Raise the hub's refusal of ``event_id`` if it comes within ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        async for rejection in node.rejections():
            if rejection.event_id == event_id:
                try:
                    reason = Reason(rejection.reason)
                except ValueError:  # a code this build does not know: still a refusal
                    reason = Reason.NOT_ADDRESSED
                raise RequestError(
                    reason,
                    f"the hub refused follow-up {event_id} for {rejection.recipient}: "
                    f"{rejection.detail}",
                )
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.5)


@click.command("followup")
@node_options
@click.option("--owner", required=True, help="The hit's owner country.")
@click.option("--reference", required=True, help="The hit's opaque reference.")
@click.option("--query-id", "query_id", required=True, help="The hit's query id.")
@click.option("--case-ref", "case_ref", required=True, help="Your case reference.")
@click.option("--purpose", required=True, type=click.Choice(sorted(PURPOSES)))
@click.option("--kind", "match_kind", default=None, help="The hit's kind (phone|document|name).")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, 600),
    default=0,
    show_default=True,
    help="Seconds to wait for the hub's refusal before printing the request's id.",
)
def followup(**opts: Any) -> None:
    """Ask a hit's owner for the record behind it; print the request's event id."""

    async def go() -> str:
        node = _node(opts)
        try:  # publish starts the node: a refused request never reaches the broker
            event_id = await request_followup(
                node,
                owner=opts["owner"],
                reference=opts["reference"],
                query_id=opts["query_id"],
                case_ref=opts["case_ref"],
                purpose=opts["purpose"],
                match_kind=opts["match_kind"],
            )
        finally:
            await node.stop()
        if opts["wait_s"]:
            await _hub_refusal(node, event_id, opts["wait_s"])
        return event_id

    click.echo(_run(go))


@click.command("pending")
@node_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def pending(**opts: Any) -> None:
    """Follow-up requests received and not yet answered (no identity data)."""

    async def go() -> list[Any]:
        return list(await pending_followups(_node(opts)))

    found = _run(go)
    for request in found:
        if opts["as_json"]:
            click.echo(json_line(request.to_json()))
        else:
            click.echo(
                printable(
                    f"{request.event_id}  from {request.requester}"
                    f"  {_when(request.requested_at_ms)}"
                    f"  case {request.case_ref}  purpose {request.purpose}"
                    f"  kind {request.match_kind or '-'}  reference {request.reference}"
                )
            )
    if not found and not opts["as_json"]:
        click.echo("no pending follow-up requests")


@click.command("approve")
@node_options
@click.option("--request", "request_id", required=True, help="The request's event id.")
@click.option("--reason", default=None, help="Why (optional; no personal data).")
def approve_cmd(**opts: Any) -> None:
    """Approve a follow-up: send the registration (as the agreement allows); print the answer id."""

    async def go() -> str:
        node = _node(opts)
        try:
            return await approve(node, opts["request_id"], reason=opts["reason"])
        finally:
            await node.stop()

    click.echo(_run(go))


@click.command("decline")
@node_options
@click.option("--request", "request_id", required=True, help="The request's event id.")
@click.option("--reason", required=True, help="Why (required; no personal data).")
def decline_cmd(**opts: Any) -> None:
    """Decline a follow-up with a reason; print the answer's event id."""

    async def go() -> str:
        node = _node(opts)
        try:
            return await decline(node, opts["request_id"], reason=opts["reason"])
        finally:
            await node.stop()

    click.echo(_run(go))


@click.command("answers")
@node_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def answers(**opts: Any) -> None:
    """Answers received to this country's follow-ups (an unrequested one is flagged)."""

    async def go() -> list[Any]:
        return list(await followup_answers(_node(opts)))

    for answer in _run(go):
        if opts["as_json"]:
            click.echo(json_line(answer.to_json()))
            continue
        if not answer.requested:
            click.echo(
                printable(
                    f"{answer.event_id}  from {answer.owner}  FLAGGED {Reason.NOT_ADDRESSED}: "
                    "answers no follow-up request of this country's; not taken"
                )
            )
            continue
        shown = ", ".join(f"{k}={v}" for k, v in answer.identity.items() if v is not None)
        click.echo(
            printable(
                f"{answer.event_id}  from {answer.owner}  request {answer.request_event_id}  "
                f"{answer.decision}"
                + (f"  reason {answer.reason}" if answer.reason else "")
                + (f"  {shown}" if shown else "")
                + (f"  withheld {','.join(answer.withheld)}" if answer.withheld else "")
            )
        )


#: What the ``trm match`` group adds.
COMMANDS = (followup, pending, approve_cmd, decline_cmd, answers)
