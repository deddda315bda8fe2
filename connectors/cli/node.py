"""``trm node publish | inbox | ack | rejections``: a country node on the command line.

``publish`` reads each FILE (``-``: standard input) as one submission (JSON
object: ``type``, ``to``, ``purpose``, ``handling``, ``case_key``,
``correlation_id``, ``payload``; see :class:`connectors.sdk.Submission`), read
strictly (:func:`hub.textdoc.parse_json`: a member name twice, nesting deeper
than 64, an integer over 20 digits, NaN or a lone surrogate is refused). Every
file is read, validated, sealed and measured against the hub's size limit
(OVERSIZED) before the first is sent, so a bad file sends nothing and uses no
sequence number. It prints one event id per line. Events are sealed to their
recipients' seal keys (protocol v2); ``--unsealed`` sends v1 events whose
values the hub and the broker can read (interop only).

``inbox`` opens sealed events with the country's epoch keys; a recipient's
REJECTED acknowledgement of one of this country's events shows as a rejection.
What it received is shown as data (:mod:`connectors.cli.terminal`: no markup,
no control characters), and an event counts as seen only once it was written
out: the table after it was printed, ``--json`` and ``--follow`` line by line.

``inbox --json`` prints one JSON object per line (:meth:`InboxRecord.to_json`);
``rejections --json`` likewise (:meth:`Rejection.to_json`). A case update that
skips a step or goes backwards shows as ``PREVIOUS -> NEW`` with its reason.

``cases`` is the case book (:class:`connectors.sdk.CaseBook`, docs/protocol.md
14): every case this node holds events of, with its status per country and
the next due step; ``--overdue`` lists what is late (a handover notice not
acknowledged in time, a follow-up not reported, a next step past its due
date) and suspected re-trafficking; ``--alert`` sends each such item once, as
a ``case_alert`` to the country that owns it. ``case-status`` records a new
status of a case and sends it as a ``case_update`` (a skip or a backward
change needs ``--reason``). A follow-up visit's ``reintegration_report`` is
sent with ``publish`` like any event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from connectors.cli.files import read_json_input
from connectors.cli.terminal import cell, echo_refusal, json_line, line, printable
from connectors.sdk import (
    ACK_STATUSES,
    ERASURE_REASONS,
    CaseBook,
    CountryNode,
    InboxRecord,
    Submission,
    record_status,
    send_alerts,
)
from hub.cases import CaseStatus, TransitionReason
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.home import default_bootstrap, state_dir
from hub.topics import Topics, check_country

__all__ = ["UNSEALED_HELP", "cli", "node_options", "open_node"]

UNSEALED_HELP = (
    "Send unsealed v1 events, whose values the hub, the broker and their backups can "
    "read (interop with a node that cannot open sealed events). Default: sealed."
)

T = TypeVar("T")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except TrmError as exc:
        echo_refusal(exc)
        sys.exit(1)


def open_node(
    country: str,
    *,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None = None,
    trust_file: str | None = None,
) -> CountryNode:
    """A node with defaults from flags, the environment and the state directory."""
    from hub.app.kafka import default_client_config

    cc = check_country(country)
    state = state_dir()
    key = Path(key_file) if key_file else state.private_key(cc)
    trust = Path(trust_file) if trust_file else state.trust
    if not trust.is_file():
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a trust list at {trust}; pass --trust FILE"
        )
    return CountryNode(
        cc,
        key,
        trust,
        default_bootstrap(bootstrap, state),
        topics=Topics(namespace),
        state=state,
        client_config=default_client_config(cc, state),
    )


def node_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every node verb shares."""
    for option in reversed(
        [
            click.option("--country", required=True, help="This node's country code (e.g. KH)."),
            click.option("--bootstrap", help="Kafka bootstrap servers (default: env, .trm)."),
            click.option("--namespace", default="trm", show_default=True, help="Topic namespace."),
            click.option("--key", "key_file", help="Private key (default .trm/keys/CC.key)."),
            click.option("--trust", "trust_file", help="Trust list (default .trm/trust.json)."),
        ]
    ):
        fn = option(fn)
    return fn


def _when(ms: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):  # a signed time no calendar holds: the number
        return f"{ms} ms"


@click.group()
def cli() -> None:
    """A country node: publish, inbox, ack, rejections, erase, cases, case-status."""


@cli.command()
@node_options
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def publish(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    unsealed: bool,
    files: tuple[Path, ...],
) -> None:
    """Seal each FILE (a JSON submission) to its recipients and send it; print the event ids."""

    async def go() -> list[str]:
        submissions = [Submission.from_json(read_json_input(f, what="submission")) for f in files]
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        async with node:
            for sub in submissions:  # validate every payload and seal key before sending any
                await node.check(sub, unsealed=unsealed)
            return [await node.publish(sub, unsealed=unsealed) for sub in submissions]

    for event_id in _run(go):
        click.echo(event_id)


def _status_change(r: InboxRecord) -> Any:
    """A case update as ``PREVIOUS -> NEW``, with its reason (a skip or a step back)."""
    reason = r.fields.get("transition_reason")
    rest = "; ".join(
        f"{k}: {v}" for k, v in r.summary.items() if k not in ("status", "previous", "reason")
    )
    parts: list[str | tuple[str, str]] = [
        f"{r.fields.get('previous_status') or '(none)'} -> {r.fields.get('status')}"
    ]
    if reason:
        parts.append((f" reason: {reason}", "yellow"))
    if rest:
        parts.append(f"; {rest}")
    return line(*parts)


def _table(records: Sequence[InboxRecord], country: str) -> Table:
    """The inbox as a table; every value received is a cell of data (no markup, no controls)."""
    table = Table(title=f"inbox of {country}", show_lines=False)
    for col in ("type", "from", "when", "case key", "key fields", "withheld"):
        table.add_column(col, overflow="fold")
    for r in records:
        rejection = r.rejection
        if rejection is not None:
            fields = line(
                (f"REJECTED by {r.producer}", "red"),
                f": {rejection.reason}: {rejection.detail} (event {rejection.event_id})",
            )
        elif r.event_type == "case_update" and (
            r.fields.get("previous_status") or r.fields.get("transition_reason")
        ):
            fields = _status_change(r)
        else:
            fields = cell("; ".join(f"{k}: {v}" for k, v in r.summary.items()))
        withheld = (
            line(
                (f"{len(r.withheld)} withheld", "yellow"),
                ": " + ", ".join(r.withheld[:6]) + (" ..." if len(r.withheld) > 6 else ""),
            )
            if r.withheld
            else cell("")
        )
        table.add_row(
            cell(r.event_type),
            cell(r.producer),
            cell(_when(r.created_at_ms)),
            cell(r.case_key),
            fields,
            withheld,
        )
    return table


@cli.command()
@node_options
@click.option("--follow", is_flag=True, help="Keep reading new events until interrupted.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--all", "show_all", is_flag=True, help="Also events shown before.")
def inbox(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    follow: bool,
    as_json: bool,
    show_all: bool,
) -> None:
    """Verified events delivered to this country (new ones, unless --all)."""
    console = Console()

    async def go() -> None:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        if as_json or follow:
            # One record at a time: each is written before the next is asked for,
            # and only then marked seen.
            async for record in node.inbox(follow=follow, include_seen=show_all):
                if as_json:
                    click.echo(json_line(record.to_json(), sort_keys=True))
                else:
                    console.print(_table([record], node.country))
        else:
            shown = await node.read_inbox(include_seen=show_all)
            console.print(_table(shown.records, node.country))
            node.mark_shown(shown)  # only once the table is out
        for refusal in node.refused:
            answered = (
                f" (answered {refusal.event_id} with REJECTED acknowledgement {refusal.answer})"
                if refusal.answer
                else ""
            )
            click.echo(
                printable(
                    f"refused inbox record {refusal.partition}:{refusal.offset}: "
                    f"{refusal.reason}: {refusal.detail}{answered}"
                ),
                err=True,
            )

    with contextlib.suppress(KeyboardInterrupt):
        _run(go)


@cli.command()
@node_options
@click.option("--case", "case_key", required=True, help="The case key (pseudonymous).")
@click.option(
    "--reason",
    type=click.Choice(ERASURE_REASONS),
    default="DATA_SUBJECT_REQUEST",
    show_default=True,
)
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
def erase(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    case_key: str,
    reason: str,
    unsealed: bool,
) -> None:
    """Ask every country this node sent the case to to erase it; print the request's id.

    Each recipient node deletes what it holds of the case and answers with a
    signed erasure confirmation; `trm audit replay` shows which have.
    """

    async def go() -> str:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        async with node:
            return await node.request_erasure(case_key, reason=reason, unsealed=unsealed)

    click.echo(_run(go))


@cli.command()
@node_options
@click.argument("event_id")
@click.option(
    "--status",
    type=click.Choice(ACK_STATUSES),
    default="RECEIVED",
    show_default=True,
)
@click.option("--reason", default=None, help="Why, when REJECTED.")
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
def ack(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    event_id: str,
    status: str,
    reason: str | None,
    unsealed: bool,
) -> None:
    """Acknowledge an inbox event to its producer; print the acknowledgement's id."""

    async def go() -> str:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        target = None
        async for record in node.inbox(include_seen=True, mark_seen=False):
            if record.event_id == event_id:
                target = record
        if target is None:
            raise RequestError(
                Reason.NOT_FOUND, f"expected event {event_id[:40]} in the inbox of {node.country}"
            )
        async with node:
            return await node.acknowledge(target, status=status, reason=reason, unsealed=unsealed)

    click.echo(_run(go))


@cli.command()
@node_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--follow", is_flag=True, help="Keep reading until interrupted.")
def rejections(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    as_json: bool,
    follow: bool,
) -> None:
    """Why the hub refused this country's events."""

    async def go() -> None:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        table = Table(title=f"rejections of {node.country}")
        for col in ("event id", "recipient", "reason", "detail"):
            table.add_column(col, overflow="fold")
        async for r in node.rejections(follow=follow):
            if as_json:
                click.echo(json_line(r.to_json(), sort_keys=True))
            else:
                table.add_row(
                    cell(r.event_id), cell(r.recipient), cell(r.reason, "red"), cell(r.detail)
                )
        if not as_json:
            Console().print(table)

    with contextlib.suppress(KeyboardInterrupt):
        _run(go)


def _at(text: str | None, what: str) -> int | None:
    """An ISO 8601 time (UTC when no offset is given) as ms since the epoch; None: none."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected {what} as an ISO 8601 time, got {text[:40]!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _cases_table(book: CaseBook, now_ms: int) -> Table:
    table = Table(title=f"cases of {book.country}", show_lines=False)
    for col in ("case key", "countries", "status", "by country", "next due", "owner", "last"):
        table.add_column(col, overflow="fold")
    for c in book.cases(now_ms):
        due = _when(c.next_due_ms) if c.next_due_ms is not None else ""
        table.add_row(
            cell(c.case_key),
            cell(",".join(c.countries)),
            cell(c.status or "", "red" if c.status == CaseStatus.RETRAFFICKING_SUSPECTED else ""),
            cell("; ".join(f"{k}: {v}" for k, v in c.status_by_country.items())),
            cell(due + (" OVERDUE" if c.overdue else ""), "red" if c.overdue else ""),
            cell(c.next_step_owner or ""),
            cell(_when(c.last_event_ms)),
        )
    return table


@cli.command()
@node_options
@click.option("--overdue", is_flag=True, help="List what is overdue (and re-trafficking).")
@click.option("--alert", is_flag=True, help="Send each overdue item once to its owner.")
@click.option("--case", "case_key", help="Show one case's timeline.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--at", "at", help="As of this time (ISO 8601; default: now).")
@click.option("--no-read", is_flag=True, help="Use the store only; do not read the inbox first.")
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
def cases(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    overdue: bool,
    alert: bool,
    case_key: str | None,
    as_json: bool,
    at: str | None,
    no_read: bool,
    unsealed: bool,
) -> None:
    """This country's cases: status per country, next due step, overdue items, timelines.

    The inbox is read first (nothing is marked seen), so what arrived is in the book.
    """
    console = Console()

    async def go() -> None:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        now = _at(at, "--at") or node.now_ms()
        if not no_read:
            await node.read_inbox()
        book = CaseBook.of_node(node)
        if alert:
            async with node:
                sent = await send_alerts(node, now_ms=now, unsealed=unsealed)
            for item, alert_id in sent:
                if as_json:
                    click.echo(json_line({**item.to_json(), "alert_event_id": alert_id}))
                else:
                    click.echo(printable(f"alerted {item.owner}: {item.message} ({alert_id})"))
            if not sent and not as_json:
                click.echo("no new alerts to send")
            return
        if case_key is not None:
            for entry in book.timeline(case_key):
                if as_json:
                    click.echo(json_line(entry.to_json(), sort_keys=True))
                else:
                    change = (
                        f"{entry.previous_status or '(none)'} -> {entry.status}"
                        + (f" ({entry.transition}" if entry.transition else "")
                        + (f", reason {entry.transition_reason})" if entry.transition_reason
                           else ")" if entry.transition else "")
                        if entry.status
                        else "; ".join(f"{k}: {v}" for k, v in entry.summary.items())
                    )  # fmt: skip
                    acks = ", ".join(f"{c} {s}" for c, s, _ in entry.acknowledgements)
                    click.echo(
                        printable(
                            f"{_when(entry.created_at_ms)}  {entry.direction:8}  "
                            f"{entry.producer}->{','.join(entry.recipients)}  "
                            f"{entry.event_type}  {change}"
                            + (f"  acknowledged: {acks}" if acks else "")
                            + (f"  withheld: {', '.join(entry.withheld)}" if entry.withheld else "")
                        )
                    )
            return
        if overdue:
            items = book.alerts(now)
            for item in items:
                if as_json:
                    click.echo(json_line(item.to_json(), sort_keys=True))
                else:
                    click.echo(
                        printable(
                            f"{item.kind}  case {item.case_key}  owner {item.owner}  "
                            f"due {_when(item.due_at_ms)}: {item.message}"
                        )
                    )
            if not items and not as_json:
                click.echo("nothing overdue")
            return
        if as_json:
            for summary in book.cases(now):
                click.echo(json_line(summary.to_json(), sort_keys=True))
        else:
            console.print(_cases_table(book, now))

    _run(go)


@cli.command("case-status")
@node_options
@click.option("--case", "case_key", required=True, help="The case key (pseudonymous).")
@click.option("--status", required=True, type=click.Choice([s.value for s in CaseStatus]))
@click.option("--to", "to", required=True, multiple=True, help="Recipient country (repeatable).")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in TransitionReason]),
    help="Why, when the change skips a step or goes backwards (required then).",
)
@click.option("--next-due", help="When the next step is due (ISO 8601).")
@click.option("--owner", help="The country that owns the next step.")
@click.option("--follow-up", "follow_up", type=int, help="Which follow-up (1, 2, 3, ...).")
@click.option("--at", "at", help="When the status changed (ISO 8601; default: now).")
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
def case_status(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    case_key: str,
    status: str,
    to: tuple[str, ...],
    reason: str | None,
    next_due: str | None,
    owner: str | None,
    follow_up: int | None,
    at: str | None,
    unsealed: bool,
) -> None:
    """Record a new status of a case and send it as a case_update; print its event id."""

    async def go() -> str:
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        async with node:
            return await record_status(
                node,
                case_key,
                status,
                to=[check_country(cc) for cc in to],
                transition_reason=reason,
                next_due_ms=_at(next_due, "--next-due"),
                next_step_owner=owner,
                follow_up_number=follow_up,
                changed_at_ms=_at(at, "--at"),
                unsealed=unsealed,
            )

    click.echo(_run(go))
