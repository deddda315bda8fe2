"""``trm audit sequencer|replay|leaves|proof|witness``: the verifiable log, for auditors."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.cli.terminal import cell, printable
from hub.app.audit_source import read_replay_input, stream_replay_input, stream_topics
from hub.app.kafka import client_env, default_client_config, wait_for_topics
from hub.audit.log import origin_of
from hub.audit.replay import LeafFilter, Report, hub_public_keys, replay, window_of
from hub.audit.report import erasure_lines, reason_meanings, replay_html
from hub.audit.witness import Seen, check_proof
from hub.audit.witness import witness as witness_log
from hub.decision import EffectKind
from hub.errors import OperationalError, Reason
from hub.home import default_bootstrap, state_dir
from hub.keys import load_private_key
from hub.topics import AUDITOR, HUB, Topics, check_country
from hub.trust import TrustList, load_trust_file

__all__ = ["cli", "read_replay_input", "run_replay"]


def _client(principal: str) -> dict[str, Any]:
    """Client settings for ``principal`` on a secure cluster; {} on the plaintext one."""
    return default_client_config(principal, state_dir())


def _trust(path: str | None) -> TrustList:
    return load_trust_file(Path(path) if path else state_dir().trust)


def _agreements(path: str | None) -> Any:
    from connectors.cli.agreements import load_directory

    return load_directory(Path(path) if path else state_dir().agreements)


def run_replay(
    bootstrap: str,
    topics: Topics,
    trust: TrustList,
    agreements: Any,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    show_progress: bool = False,
    client: dict[str, Any] | None = None,
    now_ms: int | None = None,
    select: LeafFilter | None = None,
    on_leaf: Callable[[dict[str, Any]], None] | None = None,
) -> Report:
    """Replay the log as it stands now, streaming every topic (flat memory).

    ``since_ms``/``until_ms``: the window. The inbox records stamped in it are
    read, and the outbox records stamped from ``since_ms`` on: those after the
    window hold the acknowledgements of what was delivered in it (the replay
    cross-checks only the ones stamped in it).
    ``now_ms`` (default: the clock) judges which erasures are overdue.
    ``select``/``on_leaf``: each leaf the filter selects goes to ``on_leaf``.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    data = stream_replay_input(bootstrap, topics, client=client, since_ms=since_ms)
    if until_ms is not None:
        data = dataclasses.replace(
            data, inboxes=(r for r in data.inboxes if r.timestamp_ms < until_ms)
        )

    def run(progress: Callable[[int], None] | None = None) -> Report:
        return replay(
            data,
            trust=trust,
            agreements=agreements,
            topics=topics,
            origin=origin_of(topics.namespace),
            hub_keys=hub_public_keys(trust),
            progress=progress,
            window=window_of(since_ms, until_ms),
            now_ms=now,
            select=select,
            on_leaf=on_leaf,
        )

    if not show_progress:
        return run()
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        total = sum(data.sizes[g] for g in ("leaves", "outboxes", "inboxes"))
        task = bar.add_task("replay", total=total)
        return run(lambda n: bar.advance(task, n))


@click.group(name="audit")
def cli() -> None:
    """Replay and verify the audit log."""


_BOOTSTRAP = click.option("--bootstrap", default=None, help="Default: TRM_KAFKA_BOOTSTRAP or .trm.")
_NAMESPACE = click.option("--namespace", default="trm", show_default=True)


@cli.command()
@_BOOTSTRAP
@_NAMESPACE
@click.option("--trust", "trust_file", default=None, help="Default: .trm/trust.json")
@click.option("--agreements", "agreements_dir", default=None, help="Default: .trm/agreements")
@click.option("--since-ms", type=int, default=None, help="Cross-check records from this time.")
@click.option("--until-ms", type=int, default=None, help="... up to (not including) this time.")
@click.option("--report", "report_file", default=None, help="Write the JSON report here.")
@click.option(
    "--html", "html_file", default=None, help="Write the auditor's printable HTML report here."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the JSON report (with the flow counts, key 'flows') instead of the text.",
)
def replay_cmd(  # noqa: PLR0917 - one per option
    bootstrap: str | None,
    namespace: str,
    trust_file: str | None,
    agreements_dir: str | None,
    since_ms: int | None,
    until_ms: int | None,
    report_file: str | None,
    html_file: str | None,
    as_json: bool,
) -> None:
    """Rebuild the log, check every checkpoint and topic; exit 1 on any discrepancy."""
    topics = Topics(namespace)
    generated = int(time.time() * 1000)
    started = time.perf_counter()
    report = run_replay(
        default_bootstrap(bootstrap),
        topics,
        _trust(trust_file),
        _agreements(agreements_dir),
        since_ms=since_ms,
        until_ms=until_ms,
        show_progress=sys.stderr.isatty(),
        client=_client(AUDITOR),
        now_ms=generated,
    )
    elapsed = time.perf_counter() - started
    window = window_of(since_ms, until_ms)
    doc = report.to_json() | {
        "seconds": round(elapsed, 3),
        "namespace": namespace,
        "generated_at_ms": generated,
        "window": None if window is None else list(window),
    }
    if report_file:
        Path(report_file).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if html_file:
        Path(html_file).write_text(replay_html(doc, reasons=_reasons()), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        if not report.ok:
            raise SystemExit(1)
        return
    console = Console()
    console.print(
        f"audit log {origin_of(namespace)}: {report.leaves} leaves, {report.checkpoints} "
        f"checkpoints (last at size {report.checkpoint_size}), root {report.root[:16]}…"
    )
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.counts.items())
    console.print(f"cross-checked: {counts}  ({elapsed:.1f}s)")
    delivered = sum(c.delivered for c in report.flows.counts)
    refused = sum(c.refused for c in report.flows.counts)
    console.print(
        f"flows: {delivered} deliveries and {refused} refusals in {len(report.flows.counts)} "
        f"corridor x event type x month counts; {len(report.flows.ack_times)} acknowledgement "
        "times (--html: the auditor's page; --json: everything)"
    )
    for line in erasure_lines(doc):
        console.print(printable(line), markup=False, highlight=False)
    if report.findings:
        table = Table("kind", "topic/partition/offset", "event id", "what is wrong")
        for f in report.findings[:200]:  # read from topics: data, never markup or controls
            table.add_row(
                cell(f.kind),
                cell(f"{f.topic}/{f.partition}/{f.offset}"),
                cell(f.event_id),
                cell(f.detail),
            )
        console.print(table)
        if len(report.findings) > 200:
            console.print(f"... and {len(report.findings) - 200} more (see --report)")
    if report.ok:
        console.print(
            "[green]OK[/green]: nothing dropped, altered, injected, duplicated, forked "
            "or shared beyond an agreement"
        )
        return
    summary = ", ".join(f"{k} {v}" for k, v in sorted(report.summary().items()))
    click.echo(
        f"rejected: {Reason.LOG_FORK if 'FORK' in summary else 'AUDIT_DISCREPANCY'}: {summary}",
        err=True,
    )
    raise SystemExit(1)


replay_cmd.name = "replay"


def _reasons() -> dict[str, str]:
    """Each reason code's meaning from docs/protocol.md section 10 (a source checkout);
    {} where the docs are not installed (the page then points to that section)."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    try:
        return reason_meanings(doc.read_text(encoding="utf-8"))
    except OSError:
        return {}


@cli.command()
@_BOOTSTRAP
@_NAMESPACE
@click.option("--trust", "trust_file", default=None, help="Default: .trm/trust.json")
@click.option("--agreements", "agreements_dir", default=None, help="Default: .trm/agreements")
@click.option("--outcome", default=None, help="delivered, refused, or a decision kind.")
@click.option("--producer", default=None)
@click.option("--recipient", default=None)
@click.option("--event-type", default=None)
@click.option("--month", default=None, help="YYYY-MM (UTC) of the event's signed created_at.")
@click.option("--agreement", default=None, help="id@version")
@click.option("--reason", default=None, help="A reason code (refusals).")
@click.option(
    "--since-ms",
    type=int,
    default=None,
    help="Decided from this time (the window of a replay with --since-ms; replays with it).",
)
@click.option("--until-ms", type=int, default=None, help="... up to (not including) this time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per leaf.")
def leaves(  # noqa: PLR0917 - one per option
    bootstrap: str | None,
    namespace: str,
    trust_file: str | None,
    agreements_dir: str | None,
    outcome: str | None,
    producer: str | None,
    recipient: str | None,
    event_type: str | None,
    month: str | None,
    agreement: str | None,
    reason: str | None,
    since_ms: int | None,
    until_ms: int | None,
    as_json: bool,
) -> None:
    """List every leaf a count of the replay report counts (replays the log to find them).

    The report's HTML page prints, under each count, the command that lists its leaves.
    A criterion given as ``none`` matches an empty value (no verified event type, no
    recipient, no agreement). With ``--since-ms``/``--until-ms`` the log is replayed with
    that window, as ``trm audit replay`` was, and only the decisions made in it are listed.
    """
    select = LeafFilter(
        outcome=outcome,
        producer=producer,
        recipient=recipient,
        event_type=event_type,
        month=month,
        agreement=agreement,
        reason=reason,
        since_ms=since_ms,
        until_ms=until_ms,
    )
    select.where()  # a malformed month is refused before the replay runs
    found = 0

    def show(leaf: dict[str, Any]) -> None:
        nonlocal found
        found += 1
        if as_json:
            click.echo(json.dumps(leaf, sort_keys=True))
            return
        parts = (
            leaf["index"],
            leaf["kind"],
            f"{leaf['producer']}->{leaf['recipient'] or '-'}",
            leaf["event_type"] or "-",
            leaf["event_id"],
            leaf["agreement"] or "-",
            leaf["reason"] or "-",
            leaf["decision_id"],
        )  # read from topics: data, never controls
        click.echo("\t".join(printable(p) for p in parts))

    run_replay(
        default_bootstrap(bootstrap),
        Topics(namespace),
        _trust(trust_file),
        _agreements(agreements_dir),
        since_ms=since_ms,
        until_ms=until_ms,
        show_progress=sys.stderr.isatty(),
        client=_client(AUDITOR),
        select=select,
        on_leaf=show,
    )
    click.echo(f"{found} leaves", err=True)


@cli.command()
@_BOOTSTRAP
@_NAMESPACE
@click.option("--key", "key_file", default=None, help="The hub key (default .trm/keys/HUB.key).")
@click.option("--web-port", type=int, default=6067, show_default=True)
@click.option(
    "--web-host",
    default="127.0.0.1",
    show_default=True,
    envvar="TRM_HUB_WEB_HOST",
    help="The address the web port listens on (0.0.0.0: every interface, as in a container).",
)
@click.option("--every-leaves", type=int, default=100, show_default=True)
@click.option("--every-ms", type=int, default=5000, show_default=True)
def sequencer(  # noqa: PLR0917 - one per option
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    web_port: int,
    web_host: str,
    every_leaves: int,
    every_ms: int,
) -> None:
    """Run the single audit sequencer (a Faust worker)."""
    from hub.ops.broker import create_topics, require_free_port

    require_free_port(web_host, web_port, what="audit sequencer's web server")
    state = state_dir()
    env = {
        **os.environ,
        "TRM_AUDIT_BOOTSTRAP": default_bootstrap(bootstrap),
        "TRM_AUDIT_NAMESPACE": namespace,
        "TRM_AUDIT_KEY": str(Path(key_file) if key_file else state.private_key("HUB")),
        "TRM_AUDIT_WEB_PORT": str(web_port),
        "TRM_HUB_WEB_HOST": web_host,
        "TRM_AUDIT_DATADIR": str(state.root / "audit-data" / namespace),
        "TRM_AUDIT_EVERY_LEAVES": str(every_leaves),
        "TRM_AUDIT_EVERY_MS": str(every_ms),
        # The sequencer is part of the hub: on a secure cluster it is the hub principal.
        **client_env(HUB, state),
    }
    load_private_key(Path(env["TRM_AUDIT_KEY"]))  # refuse an unreadable or 0644 key up front
    Path(env["TRM_AUDIT_DATADIR"]).mkdir(parents=True, exist_ok=True)
    client = default_client_config(HUB, state)
    t = Topics(namespace)
    names = [t.decisions, t.audit_leaves, t.audit_checkpoints]
    if client:  # a secure cluster: its operator makes the topics; wait for them and the ACLs
        asyncio.run(wait_for_topics(env["TRM_AUDIT_BOOTSTRAP"], names, client))
    else:  # the local broker, as the hub worker does: its topics, or KAFKA_UNAVAILABLE
        plan = [spec for spec in t.plan() if spec.name in names]
        asyncio.run(create_topics(env["TRM_AUDIT_BOOTSTRAP"], plan))
    args = [sys.executable, "-m", "faust", "-A", "hub.app.sequencer", "worker", "-l", "warn"]
    os.execvpe(sys.executable, args, env)  # noqa: S606 - replaces this process, fixed argv


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - operator-given http URL
            body: dict[str, Any] = json.loads(resp.read())
            return body
    except OSError as exc:
        raise OperationalError(
            Reason.KAFKA_UNAVAILABLE, f"expected the sequencer at {url}: {exc}"
        ) from exc


@cli.command()
@click.option("--decision-id", required=True, help="From a hub attestation's leaf reference.")
@click.option(
    "--url",
    default=None,
    help="The sequencer (default: the one 'trm up' started, else http://127.0.0.1:6067).",
)
@_NAMESPACE
@click.option("--trust", "trust_file", default=None)
def proof(decision_id: str, url: str | None, namespace: str, trust_file: str | None) -> None:
    """Fetch and verify the inclusion proof of a decision against a signed checkpoint."""
    from hub.ops.stack import sequencer_url

    url = url or sequencer_url(state_dir()) or "http://127.0.0.1:6067"
    trust = _trust(trust_file)
    prefix = f"{EffectKind.DECISION}:"
    ref = decision_id.removeprefix(prefix)
    body = _get_json(f"{url}/audit/proof?decision_id={urllib.parse.quote(prefix + ref)}")
    cp = check_proof(body, origin_of(namespace), hub_public_keys(trust))
    click.echo(
        f"OK: decision {ref} is leaf {body['index']} of the signed checkpoint of size {cp.size}"
    )


@cli.command()
@click.option("--country", required=True, help="The witnessing country.")
@click.option("--key", "key_file", default=None, help="Its witness key (default .trm/keys/CC.key).")
@_BOOTSTRAP
@_NAMESPACE
@click.option("--trust", "trust_file", default=None)
def witness(
    country: str,
    key_file: str | None,
    bootstrap: str | None,
    namespace: str,
    trust_file: str | None,
) -> None:
    """Check the latest checkpoint extends the last one seen, then publish a cosignature."""
    cc = check_country(country)
    state = state_dir()
    trust = _trust(trust_file)
    topics = Topics(namespace)
    origin = origin_of(namespace)
    where = default_bootstrap(bootstrap)
    seen_file = state.node(cc) / f"witness-{namespace}.json"
    seen = Seen.from_json(seen_file.read_text(encoding="utf-8")) if seen_file.exists() else None
    key = load_private_key(Path(key_file) if key_file else state.private_key(cc))
    # Checkpoints first: the leaves read after cover every checkpoint read.
    checkpoints = [r.value for r in stream_topics(where, [topics.audit_checkpoints], _client(cc))]
    done = witness_log(
        checkpoints,
        (r.value for r in stream_topics(where, [topics.audit_leaves], _client(cc))),
        origin=origin,
        hub_keys=hub_public_keys(trust),
        seen=seen,
        name=cc,
        key=key,
        now_s=int(time.time()),
    )
    asyncio.run(_send(where, topics.audit_checkpoints, done.cosigned.to_bytes(), _client(cc)))
    seen_file.parent.mkdir(parents=True, exist_ok=True)
    seen_file.write_text(done.seen.to_json(), "utf-8")
    click.echo(f"{cc} cosigned {origin} at size {done.checkpoint.size}")


async def _send(bootstrap: str, topic: str, value: bytes, client: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
