"""``trm stats report``: the COMMIT statistics of one period, signed, summed and suppressed.

For each country it acts for, the node computes its indicators from its
vault (docs/statistics.md) and publishes them as a signed ``statistics_report``
to every other member. The first of them then reads the reports received
(each verified end to end by its inbox; a refused one is named with its
reason), sums the regional table with its own counts, adds the flow counts
from the audit log (``--flows FILE``: the JSON of ``trm audit replay
--json``; else a replay is run here when the state directory allows it),
suppresses small cells and writes ``report.json``, one CSV per table and
``report.html`` to ``--out``.

Defaults, so that ``trm stats report`` works right after ``make demo``:
``--period`` the quarter of now; ``--country`` every country whose key is in
the state directory (the demo holds all six: each publishes, the first in the
trust list's order assembles); ``--out`` ``<state>/reports/stats-<period>``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import click

from connectors.cli.node import open_node
from connectors.cli.terminal import printable
from hub.audit.flows import Flows
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.home import StateDir, default_bootstrap, state_dir
from hub.stats import DEFAULT_K, Period, Regional
from hub.topics import AUDITOR, Topics, check_country
from hub.trust import load_trust_file

__all__ = ["cli"]

_KEY = re.compile(r"^[A-Z]{2}$")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def held_countries(state: StateDir, order: list[str]) -> list[str]:
    """The countries whose private key is in the state directory, in ``order``."""
    held = {p.stem for p in state.keys.glob("*.key") if _KEY.match(p.stem)}
    return [cc for cc in order if cc in held] + sorted(held - set(order))


def load_flows(path: Path) -> Flows:
    """The flow counts of a replay's JSON report (``trm audit replay --json``), or Flows JSON.

    Raises:
        RequestError: BAD_REQUEST when the file is not such JSON.
    """
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"{path}: expected the JSON of a replay report ({exc})"
        ) from None
    return Flows.from_json(obj)


def replay_flows(bootstrap: str, namespace: str) -> tuple[Flows | None, str]:
    """Run the auditor's replay here for its flow counts; (None, why) when it cannot."""
    from connectors.cli.audit import _agreements, _client, _trust, run_replay

    try:
        report = run_replay(
            bootstrap, Topics(namespace), _trust(None), _agreements(None), client=_client(AUDITOR)
        )
    except TrmError as error:
        return None, f"the replay could not run ({error.reason}); pass --flows FILE"
    return report.flows, f"from a replay of the audit log ({report.leaves} leaves)"


@click.group(name="stats")
def cli() -> None:
    """The COMMIT statistics: signed reports, the regional table, suppression."""


@cli.command(name="report")
@click.option("--period", default=None, help="YYYY-Qn or YYYY (default: the quarter of now).")
@click.option("--out", "out_dir", default=None, help="Default: <state>/reports/stats-<period>.")
@click.option(
    "--country",
    "countries",
    multiple=True,
    help="The country to act for (repeatable; default: every key in the state directory).",
)
@click.option("--k", "k", type=int, default=DEFAULT_K, show_default=True, help="Threshold.")
@click.option("--flows", "flows_file", default=None, help="JSON of 'trm audit replay --json'.")
@click.option("--no-flows", is_flag=True, help="Leave out the flow counts of the audit log.")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=None,
    help="Seconds to wait for the reports of the other countries acted for (default 60 "
    "when acting for several, else 0: reports not received yet are named missing).",
)
@click.option("--bootstrap", help="Kafka bootstrap servers (default: env, .trm).")
@click.option("--namespace", default="trm", show_default=True, help="Topic namespace.")
@click.option("--trust", "trust_file", help="Trust list (default .trm/trust.json).")
def report_cmd(  # noqa: PLR0917 - one per option
    period: str | None,
    out_dir: str | None,
    countries: tuple[str, ...],
    k: int,
    flows_file: str | None,
    no_flows: bool,
    wait_s: float | None,
    bootstrap: str | None,
    namespace: str,
    trust_file: str | None,
) -> None:
    """Compute, publish and sum the statistics of PERIOD; write the suppressed report."""
    if k < 1:
        raise RequestError(Reason.BAD_REQUEST, f"expected k >= 1, got {k}")
    now = _now_ms()
    the_period = Period.parse(period) if period else Period.containing(now)
    state = state_dir()
    trust_path = Path(trust_file) if trust_file else state.trust
    trust = load_trust_file(trust_path)
    members = list(trust.members)
    chosen = [check_country(c) for c in countries] or held_countries(state, members)
    if not chosen:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"expected a country key in {state.keys}; pass --country CC"
        )
    out = Path(out_dir) if out_dir else state.root / "reports" / f"stats-{the_period.label}"
    boot = default_bootstrap(bootstrap, state)
    flows: Flows | None = None
    if flows_file:
        flows, flows_note = load_flows(Path(flows_file)), f"from {flows_file}"
    elif no_flows:
        flows_note = "left out (--no-flows)"
    else:
        flows, flows_note = replay_flows(boot, namespace)
    waiting = wait_s if wait_s is not None else (60.0 if len(chosen) > 1 else 0.0)
    report = asyncio.run(
        _report(chosen, members, the_period, k, flows, waiting, bootstrap, namespace, trust_file)
    )
    from connectors.sdk.stats import write_report

    written = write_report(report, out)
    doc = report.to_json()
    c = doc["countries"]
    click.echo(f"period {the_period.label}: reports summed from {', '.join(c['included'])}")
    if c["missing"]:
        click.echo(f"missing: {', '.join(c['missing'])}")
    for cc, reason in c["refused"].items():
        click.echo(printable(f"refused: {cc} ({reason})"))
    click.echo(f"flow counts of the audit log: {flows_note}")
    work = report.audit_json()  # the node's own view: not in report.json
    audits = {tuple(a["audited_with"]) or (p,): a for p, a in work.items()}  # one per system
    lps = sum(a["lps"] for a in audits.values())
    seconds = sum(a["seconds"] for a in audits.values())
    verdict = "passed" if report.audit_passed else "FAILED (those tables are withheld)"
    click.echo(f"interval check (k={k}): {verdict}; {lps} linear programs in {seconds:.2f}s")
    click.echo(f"wrote {len(written)} files to {out}")


async def _report(  # noqa: PLR0917 - the command's choices
    countries: list[str],
    members: list[str],
    period: Period,
    k: int,
    flows: Flows | None,
    wait_s: float,
    bootstrap: str | None,
    namespace: str,
    trust_file: str | None,
) -> Regional:
    from connectors.sdk.stats import (
        assemble,
        own_counts,
        publish_report,
        sealable,
        wait_for_reports,
    )

    nodes = [
        open_node(cc, bootstrap=bootstrap, namespace=namespace, trust_file=trust_file)
        for cc in countries
    ]
    own = {}
    try:
        for node in nodes:
            now = node.now_ms()
            own[node.country] = own_counts(
                node.store, node.country, period, now_ms=now, agreements=node.agreements().values()
            )
            await node.start()
            ready, lacking = await sealable(node, members, now)
            if lacking:
                click.echo(f"{node.country}: no seal key of {', '.join(lacking)}: not sent to them")
            if not ready:
                continue
            event_id = await publish_report(
                node, period, own[node.country], recipients=ready, now_ms=now
            )
            click.echo(f"{node.country}: published its statistics_report {event_id}")
        first = nodes[0]
        received = await wait_for_reports(first, period, countries[1:], within_s=wait_s)
        return assemble(
            first.country,
            own[first.country],
            received,
            members=members,
            period=period,
            now_ms=_now_ms(),
            k=k,
            flows=flows,
        )
    finally:
        for node in nodes:
            await node.stop()
