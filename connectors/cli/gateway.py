"""``trm gateway serve | user``: the HTTP gateway and desk web page of one country.

``serve`` listens on 127.0.0.1 by default (put TLS in front of it: a reverse
proxy or the Kubernetes ingress). A port that is busy or out of range is
refused (``rejected: CONFIG_INVALID: port 8470 on 127.0.0.1 is busy ...``,
exit status 1) before anything else starts. Users added while it runs can log
in at once (the gateway reads the users file again when it changes). Desk users live in
``.trm/nodes/<CC>/desk-users.json`` (0600, scrypt hashes), added with
``trm gateway user add --country CC --name NAME`` (password from a prompt or
``--password-stdin``), with the user's language and calendar convention
(``--locale th --calendar buddhist``, optionally ``--time-zone Asia/Bangkok``);
``trm gateway user set`` changes those alone (the user can too, on the page).
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time

import click

from connectors.cli.node import node_options, open_node
from connectors.gateway import DeskUsers, Preferences, make_app
from connectors.gateway.app import QUIET_S
from connectors.gateway.i18n import CALENDARS, LANGUAGES
from connectors.gateway.server import QuietRepeats, check_port
from connectors.gateway.server import serve as serve_app
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.home import state_dir
from hub.topics import check_country

__all__ = ["cli"]


@click.group()
def cli() -> None:
    """HTTP gateway and desk web page."""


@cli.command()
@node_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8470, show_default=True, type=int)
@click.option(
    "--ack-deadline-hours",
    default=24.0,
    show_default=True,
    type=float,
    help="A handover notice not acknowledged this long after it was sent is overdue.",
)
@click.option(
    "--case-alerts-every-minutes",
    default=10.0,
    show_default=True,
    type=float,
    help="Send the case book's alerts (late steps, suspected re-trafficking; each once) "
    "this often, the first one interval after start; 0: never (trm node cases --alert).",
)
def serve(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    host: str,
    port: int,
    ack_deadline_hours: float,
    case_alerts_every_minutes: float,
) -> None:
    """Serve the gateway of one country until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:  # the Kafka client repeats itself
        handler.addFilter(QuietRepeats("aiokafka", QUIET_S, time.monotonic))
    try:
        check_port(port)
        if not (math.isfinite(ack_deadline_hours) and ack_deadline_hours > 0):
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected --ack-deadline-hours above 0, got {ack_deadline_hours}",
            )
        if not (math.isfinite(case_alerts_every_minutes) and case_alerts_every_minutes >= 0):
            raise OperationalError(
                Reason.CONFIG_INVALID,
                "expected --case-alerts-every-minutes of 0 or more, "
                f"got {case_alerts_every_minutes}",
            )
        cc = check_country(country)
        node = open_node(
            cc, bootstrap=bootstrap, namespace=namespace, key_file=key_file, trust_file=trust_file
        )
        users = DeskUsers.load(state_dir().node(cc) / "desk-users.json")
        if not users.users:
            click.echo(
                f"warning: no desk users for {cc}; add one with "
                f"`trm gateway user add --country {cc} --name NAME`",
                err=True,
            )
        app = make_app(
            node,
            users,
            deadline_ms=int(ack_deadline_hours * 3600 * 1000),
            alert_every_s=case_alerts_every_minutes * 60,
        )
        asyncio.run(serve_app(app, host, port, ready=f"gateway of {cc} on http://{host}:{port}/"))
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
        sys.exit(1)


@cli.group()
def user() -> None:
    """Desk users of a gateway."""


_LOCALE = click.option(
    "--locale",
    type=click.Choice(list(LANGUAGES)),
    help="The desk's language for this user (default: kept, or en).",
)
_CALENDAR = click.option(
    "--calendar",
    type=click.Choice(list(CALENDARS)),
    help="Dates in the Gregorian calendar or the Thai Buddhist era (default: kept, or gregorian).",
)
_TIME_ZONE = click.option(
    "--time-zone", help="An IANA time zone for dates, e.g. Asia/Bangkok (default: the browser's)."
)


def _preferences(
    users: DeskUsers, name: str, locale: str | None, calendar: str | None, time_zone: str | None
) -> Preferences | None:
    """The preferences the options give, over the user's own; None when none is given."""
    if locale is None and calendar is None and time_zone is None:
        return None
    known = users.users.get(name)
    before = known.preferences if known is not None else Preferences()
    return Preferences.checked(
        locale or before.locale, calendar or before.calendar, time_zone or before.time_zone
    )


@user.command("add")
@click.option("--country", required=True)
@click.option("--name", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_LOCALE
@_CALENDAR
@_TIME_ZONE
def user_add(  # noqa: PLR0917 - one parameter per click option
    country: str,
    name: str,
    password_stdin: bool,
    locale: str | None,
    calendar: str | None,
    time_zone: str | None,
) -> None:
    """Add (or reset) a desk user; the password is stored as a scrypt hash only."""
    try:
        cc = check_country(country)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        users = DeskUsers.load(state_dir().node(cc) / "desk-users.json")
        users.add(name, cc, password, _preferences(users, name, locale, calendar, time_zone))
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
        sys.exit(1)
    prefs = users.users[name].preferences
    click.echo(f"desk user {name} of {cc} saved ({prefs.locale}, {prefs.calendar} calendar)")


@user.command("set")
@click.option("--country", required=True)
@click.option("--name", required=True)
@_LOCALE
@_CALENDAR
@_TIME_ZONE
def user_set(
    country: str, name: str, locale: str | None, calendar: str | None, time_zone: str | None
) -> None:
    """Change a desk user's language, calendar or time zone (sessions go on)."""
    try:
        cc = check_country(country)
        users = DeskUsers.load(state_dir().node(cc) / "desk-users.json")
        known = users.users.get(name)
        if known is None or known.country != cc:
            raise RequestError(Reason.NOT_FOUND, f"no desk user {name!r} of {cc}")
        prefs = _preferences(users, name, locale, calendar, time_zone)
        if prefs is None:
            raise RequestError(Reason.BAD_REQUEST, "expected --locale, --calendar or --time-zone")
        users.set_preferences(name, prefs)
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
        sys.exit(1)
    click.echo(f"desk user {name} of {cc}: {prefs.locale}, {prefs.calendar} calendar")
