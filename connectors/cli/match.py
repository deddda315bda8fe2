"""``trm match register | query | evaluator``: hit/no-hit matching on the command line.

The group also carries ``ceremony`` (:mod:`connectors.cli.match_ceremony`) and
``followup | pending | approve | decline | answers``
(:mod:`connectors.cli.match_followup`).

``register`` prints the new registration's opaque reference; ``query`` prints
``hit OWNER REFERENCE KIND`` or ``no hit`` (exit 0 either way; ``--json`` for
one JSON object); a refusal exits 1 with ``rejected: REASON_CODE: detail`` on
stderr, like every command. ``--value -`` reads the value from the first line
of standard input, so that it is not in the process list (``ps``) or a shell's
history. ``evaluator`` is the service a share-holding node runs (``trm up``
starts one per share holder); it answers until SIGINT or SIGTERM.

The SDK does the work (:mod:`connectors.sdk.matching`,
:mod:`connectors.sdk.evaluator`); the keys, the trust list, the broker and the
ceremony's files come from the flags or the state directory, as for
``trm node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from connectors.cli.match_ceremony import ceremony
from connectors.cli.match_followup import COMMANDS as FOLLOWUP_COMMANDS
from connectors.cli.node import node_options, open_node
from connectors.cli.terminal import echo_refusal, json_line, printable
from hub.errors import TrmError
from hub.matching.evaluator import DEFAULT_BUDGET_PER_DAY
from hub.matching.keys import MatchKind
from hub.wire.vocab import PURPOSES

__all__ = ["cli"]

T = TypeVar("T")
_TIMEOUT_S = 20.0  # connectors.sdk.matching.DEFAULT_TIMEOUT_S, without importing the SDK for --help


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except TrmError as exc:
        echo_refusal(exc)
        sys.exit(1)


def _value(value: str) -> str:
    if value != "-":
        return value
    return click.get_text_stream("stdin").readline().rstrip("\r\n")


def _identifier_options(fn: Callable[..., object]) -> Callable[..., object]:
    for option in reversed(
        [
            click.option("--kind", required=True, type=click.Choice([k.value for k in MatchKind])),
            click.option(
                "--value",
                required=True,
                help="The phone number, document number or name as written ('-': read it "
                "from standard input).",
            ),
            click.option("--birth-year", type=int, default=None, help="For a name (YYYY)."),
            click.option(
                "--issuing-state", default=None, help="For a document without an MRZ (alpha-2)."
            ),
            click.option(
                "--record-country",
                default=None,
                help="The country of the record the value comes from (a phone number's "
                "default region, a document's default issuing state); default --country.",
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(min=0.1),
                default=_TIMEOUT_S,
                show_default=True,
                help="Seconds to wait for the evaluators, then for the hub.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        click.echo(printable(f"warning: evaluator not used: {note}"), err=True)


@click.group()
def cli() -> None:
    """Hit/no-hit matching: register, query, follow-up, evaluator, ceremony."""


cli.add_command(ceremony)
for _command in FOLLOWUP_COMMANDS:  # followup, pending, approve, decline, answers
    cli.add_command(_command)


@cli.command()
@node_options
@_identifier_options
@click.option(
    "--expires-days", type=click.IntRange(1, 3650), default=365, show_default=True,
    help="Days until the index drops the registration.",
)  # fmt: skip
@click.option(
    "--subject",
    type=click.Choice(["suspect", "victim"]),
    default="suspect",
    show_default=True,
    help="Whom the record is about (a victim only with --consent or a rule that allows it).",
)
@click.option("--consent", is_flag=True, help="The victim consented to being findable.")
@click.option(
    "--case", "case_key", default=None,
    help="This country's case the record belongs to (kept with the registration in this "
    "node only, never sent): a later follow-up of a person handed over is re-trafficking.",
)  # fmt: skip
def register(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    kind: str,
    value: str,
    birth_year: int | None,
    issuing_state: str | None,
    record_country: str | None,
    timeout: float,
    expires_days: int,
    subject: str,
    consent: bool,
    case_key: str | None,
) -> None:
    """Publish the match keys of one of this country's records; print its opaque reference.

    The record itself stays in this node's vault (for an approved follow-up).
    """
    from connectors.sdk import matching

    text = _value(value)

    async def go() -> matching.Registration:
        node = open_node(
            country, bootstrap=bootstrap, namespace=namespace,
            key_file=key_file, trust_file=trust_file,
        )  # fmt: skip
        async with node:
            return await matching.register(
                node,
                kind,
                text,
                birth_year=birth_year,
                issuing_state=issuing_state,
                record_country=record_country,
                expires_days=expires_days,
                subject=subject,
                consent=consent,
                timeout_s=timeout,
                case_key=case_key,
            )

    registration = _run(go)
    _notes(registration.notes)
    click.echo(registration.reference)


@cli.command()
@node_options
@_identifier_options
@click.option("--case-ref", default=None, help="This country's case reference (required).")
@click.option(
    "--purpose", default=None, help=f"Why (required): one of {', '.join(sorted(PURPOSES))}."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def query(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    kind: str,
    value: str,
    birth_year: int | None,
    issuing_state: str | None,
    record_country: str | None,
    timeout: float,
    case_ref: str | None,
    purpose: str | None,
    as_json: bool,
) -> None:
    """Does another country know this person? Prints 'hit OWNER REFERENCE KIND' or 'no hit'.

    Exit 0 either way. A query without --case-ref and --purpose is refused
    before anything is sent (MATCH_CASE_REQUIRED).
    """
    from connectors.sdk import matching

    try:
        matching.check_justification(case_ref, purpose)
    except TrmError as exc:
        echo_refusal(exc)
        sys.exit(1)
    text = _value(value)

    async def go() -> matching.MatchAnswer:
        node = open_node(
            country, bootstrap=bootstrap, namespace=namespace,
            key_file=key_file, trust_file=trust_file,
        )  # fmt: skip
        async with node:
            return await matching.query(
                node,
                kind,
                text,
                case_ref=case_ref or "",
                purpose=purpose or "",
                birth_year=birth_year,
                issuing_state=issuing_state,
                record_country=record_country,
                timeout_s=timeout,
            )

    answer = _run(go)
    _notes(answer.notes)
    if as_json:
        click.echo(json_line(answer.to_json(), sort_keys=True))
    elif answer.hit:
        click.echo(printable(f"hit {answer.owner} {answer.reference} {answer.kind}"))
    else:
        click.echo("no hit")


@cli.command()
@node_options
@click.option(
    "--budget-per-day",
    type=click.IntRange(min=1),
    default=DEFAULT_BUDGET_PER_DAY,
    show_default=True,
    envvar="TRM_MATCH_BUDGET_PER_DAY",
    help="Blinded elements each requesting country may have evaluated per UTC day "
    "(env TRM_MATCH_BUDGET_PER_DAY).",
)
@click.option(
    "--share", "share_file", default=None,
    help="This country's key share (default: the ceremony's file in the state directory).",
)  # fmt: skip
@click.option(
    "--web-port", type=click.IntRange(0, 65535), default=0,
    help="Port of the status page /match/evaluator/status (default: a free one).",
)  # fmt: skip
@click.option("--web-host", default="127.0.0.1", show_default=True)
def evaluator(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    budget_per_day: int,
    share_file: str | None,
    web_port: int,
    web_host: str,
) -> None:
    """Answer EVALUATE requests with this country's key share until SIGINT or SIGTERM.

    Each requesting country may have at most --budget-per-day blinded
    elements evaluated per UTC day (refused MATCH_BUDGET_EXHAUSTED past it);
    the count survives a restart (nodes/CC/match-evaluator.json).
    """
    from connectors.sdk.evaluator import STATUS_PATH, EvaluatorService, serve_status
    from hub.matching.ceremony import load_share

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    async def go() -> None:
        node = open_node(
            country, bootstrap=bootstrap, namespace=namespace,
            key_file=key_file, trust_file=trust_file,
        )  # fmt: skip
        public = node.match_public()
        share = load_share(
            Path(share_file) if share_file else node.state.match_share(node.country), public
        )
        service = EvaluatorService(node, share, public, limit=budget_per_day)
        server = await serve_status(web_host, web_port, service.status)
        port = server.sockets[0].getsockname()[1]
        click.echo(f"status page at http://{web_host}:{port}{STATUS_PATH}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await service.run(stop)
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        click.echo(f"evaluator of {node.country} stopped", err=True)

    _run(go)
