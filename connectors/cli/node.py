"""``trm node publish | inbox | ack | rejections``: a country node on the command line.

``publish`` reads each FILE as one submission (JSON object: ``type``, ``to``,
``purpose``, ``handling``, ``case_key``, ``correlation_id``, ``payload``; see
:class:`connectors.sdk.Submission`). Every file is read and validated before the
first is sent, so a bad file sends nothing. It prints one event id per line.
Events are sealed to their recipients' seal keys (protocol v2); ``--unsealed``
sends v1 events whose values the hub and the broker can read (interop only).
``inbox`` opens sealed events with the country's epoch keys; a recipient's
REJECTED acknowledgement of one of this country's events shows as a rejection.

``inbox --json`` prints one JSON object per line (:meth:`InboxRecord.to_json`);
``rejections --json`` likewise (:meth:`Rejection.to_json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.sdk import ACK_STATUSES, ERASURE_REASONS, CountryNode, InboxRecord, Submission
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.home import default_bootstrap, state_dir
from hub.topics import Topics, check_country

__all__ = ["UNSEALED_HELP", "cli", "node_options", "open_node", "read_json_file"]

UNSEALED_HELP = (
    "Send unsealed v1 events, whose values the hub, the broker and their backups can "
    "read (interop with a node that cannot open sealed events). Default: sealed."
)

T = TypeVar("T")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
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


def read_json_file(path: Path) -> Any:
    """A JSON document from a UTF-8 file; refusals say which file and why."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RequestError(Reason.BAD_REQUEST, f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            Reason.BAD_ENCODING,
            f"{path}: expected UTF-8, byte {exc.start} is 0x{data[exc.start]:02x}",
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"{path}: expected JSON, line {exc.lineno}: {exc.msg}"
        ) from exc


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


@click.group()
def cli() -> None:
    """A country node: publish, inbox, ack, rejections."""


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
        submissions = [Submission.from_json(read_json_file(f)) for f in files]
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


def _table(records: list[InboxRecord], country: str) -> Table:
    table = Table(title=f"inbox of {country}", show_lines=False)
    for col in ("type", "from", "when", "case key", "key fields", "withheld"):
        table.add_column(col, overflow="fold")
    for r in records:
        rejection = r.rejection
        table.add_row(
            r.event_type,
            r.producer,
            _when(r.created_at_ms),
            r.case_key,
            f"[red]REJECTED by {r.producer}[/]: "
            + escape(f"{rejection.reason}: {rejection.detail} (event {rejection.event_id})")
            if rejection is not None
            else "; ".join(f"{k}: {v}" for k, v in r.summary.items()),
            f"[yellow]{len(r.withheld)} withheld[/]: "
            + ", ".join(r.withheld[:6])
            + (" ..." if len(r.withheld) > 6 else "")
            if r.withheld
            else "",
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
        shown: list[InboxRecord] = []
        async for record in node.inbox(follow=follow, include_seen=show_all):
            if as_json:
                click.echo(json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True))
            elif follow:
                console.print(_table([record], node.country))
            else:
                shown.append(record)
        if not as_json and not follow:
            console.print(_table(shown, node.country))
        for refusal in node.refused:
            answered = (
                f" (answered {refusal.event_id} with REJECTED acknowledgement {refusal.answer})"
                if refusal.answer
                else ""
            )
            click.echo(
                f"refused inbox record {refusal.partition}:{refusal.offset}: "
                f"{refusal.reason}: {refusal.detail}{answered}",
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
                click.echo(json.dumps(r.to_json(), ensure_ascii=False, sort_keys=True))
            else:
                table.add_row(r.event_id, r.recipient, f"[red]{r.reason}[/]", r.detail)
        if not as_json:
            Console().print(table)

    with contextlib.suppress(KeyboardInterrupt):
        _run(go)
