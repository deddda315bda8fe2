"""``trm agreements check|sign|explain|matrix``: agreements for lawyers and operators."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from connectors.cli.files import read_input, write_output
from connectors.cli.terminal import cell, cell_lines
from hub.errors import PolicyError, Reason, TrmError
from hub.home import state_dir
from hub.keys import load_private_key
from hub.policy import (
    AgreementSet,
    Deliver,
    SignedAgreement,
    decide_one,
    dump_agreement_yaml,
    leading_comments,
    load_agreement_file,
    parse_time_ms,
    sign_agreement,
)
from hub.policy.matrix import flow_matrix, matrix_html
from hub.topics import COMMIT_COUNTRIES
from hub.trust import TrustList, load_trust_file

__all__ = ["cli", "load_directory", "sign_file"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise PolicyError(
            Reason.AGREEMENT_INVALID, f"expected agreement files (*.yaml) in {directory}; none"
        )
    return files


def load_directory(directory: Path) -> AgreementSet:
    """Every agreement in ``directory`` (raises on the first invalid one)."""
    return AgreementSet.of(load_agreement_file(p) for p in _files(directory))


def sign_file(path: Path, keys: Iterable[object], out: Path | None = None) -> SignedAgreement:
    """Add signatures to an agreement file, keeping its leading comments."""
    signed = load_agreement_file(path)
    for key in keys:
        signed = sign_agreement(signed, key)
    header = leading_comments(path.read_text(encoding="utf-8"))  # UTF-8: loaded above
    text = dump_agreement_yaml(signed.document, header=header)
    write_output(out or path, text.encode("utf-8"), what="signed agreement")
    return signed


def _trust(path: str | None, *, required: bool) -> TrustList | None:
    where = Path(path) if path else state_dir().trust
    if not where.exists():
        if required:
            raise PolicyError(
                Reason.AGREEMENT_INVALID,
                f"expected a trust list at {where} to check signatures; pass --trust FILE",
            )
        return None
    return load_trust_file(where)


def _agreements_dir(path: str | None) -> Path:
    return Path(path) if path else state_dir().agreements


@click.group(name="agreements")
def cli() -> None:
    """Check, sign and explain agreements."""


@cli.command()
@click.argument("directory", type=click.Path(exists=True))
@click.option("--trust", "trust_file", default=None, help="Also check signatures against it.")
@click.option("--at", "at_time", default=None, help="Check signing keys at this UTC time.")
def check(directory: str, trust_file: str | None, at_time: str | None) -> None:
    """Check every agreement's format (schema, structure, dates); with --trust, signatures too.

    Without --trust no signature is checked, not even against the state
    directory's trust list, and the summary says so. Exit 1 on any problem.
    """
    trust = load_trust_file(trust_file) if trust_file else None
    at = parse_time_ms(at_time, "--at") if at_time else _now_ms()
    problems: list[str] = []
    loaded: list[SignedAgreement] = []
    for path in _files(Path(directory)):
        try:
            signed = load_agreement_file(path)
        except TrmError as exc:
            problems.append(exc.as_line())
            continue
        loaded.append(signed)
        if trust is not None:
            missing, tampered = signed.missing_parties(trust, at)
            if missing:
                reason = "AGREEMENT_BAD_SIGNATURE" if tampered else "AGREEMENT_UNSIGNED"
                problems.append(
                    f"rejected: {reason}: {path.name}: {signed.agreement.ref}: expected a valid "
                    f"root signature of every party; missing {', '.join(sorted(missing))}"
                )
                continue
        example = " (EXAMPLE)" if signed.agreement.example else ""
        click.echo(f"ok  {path.name}: {signed.agreement.ref}{example}")
    try:
        AgreementSet.of(loaded)
    except TrmError as exc:
        problems.append(exc.as_line())
    for line in problems:
        click.echo(line, err=True)
    if trust is None:
        verdict = "format OK" if not problems else f"format: {len(problems)} problem(s)"
        click.echo(
            f"{verdict}: {len(loaded)} agreements; signatures not checked (pass --trust FILE)"
        )
    elif not problems:
        click.echo(
            f"format and signatures OK: {len(loaded)} agreements, every party's root signature "
            f"verified against trust list v{trust.version} ({trust_file})"
        )
    if problems:
        raise SystemExit(1)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key_files", multiple=True, required=True, help="A party's root key.")
@click.option("--out", default=None, help="Default: sign in place.")
def sign(file: str, key_files: tuple[str, ...], out: str | None) -> None:
    """Add a party's signature over the canonical JSON of the agreement."""
    keys = [load_private_key(Path(k)) for k in key_files]
    signed = sign_file(Path(file), keys, Path(out) if out else None)
    click.echo(
        f"{signed.agreement.ref}: {len(signed.document.signatures)} signature(s) -> {out or file}",
        err=True,
    )


@cli.command()
@click.option("--event", "event_file", required=True, type=click.Path(exists=True))
@click.option("--to", "recipient", required=True, help="Recipient country.")
@click.option("--agreements", "agreements_dir", default=None, help="Default: state dir.")
@click.option("--trust", "trust_file", default=None, help="Default: state dir.")
def explain(
    event_file: str, recipient: str, agreements_dir: str | None, trust_file: str | None
) -> None:
    """Which agreement applies, which fields go, which are withheld and why."""
    from hub.wire import DEFAULT_MAX_SIZE, Envelope, verify

    trust = _trust(trust_file, required=True)
    assert trust is not None  # noqa: S101 - required=True raised otherwise
    raw = read_input(event_file, what="--event", max_bytes=DEFAULT_MAX_SIZE)
    event = verify(Envelope.from_bytes(raw), trust)
    agreements = load_directory(_agreements_dir(agreements_dir))
    h = event.header
    click.echo(
        f"{h.event_type} {h.event_id} from {h.producer} to {recipient}, purpose {h.purpose}, "
        f"handling {h.handling}, created {h.created_at_ms}"
    )
    decision = decide_one(event, recipient, agreements, trust)
    if isinstance(decision, Deliver):
        click.echo(
            f"DELIVER under {decision.agreement_ref} (retention {decision.retention_days} days)"
        )
        if decision.consent_limited:
            click.echo(
                "  consent does not cover this purpose or recipient: "
                "only the fields allowed without consent go"
            )
        click.echo(f"  goes:     {', '.join(sorted(decision.fields)) or '(no payload field)'}")
        click.echo(f"  withheld: {', '.join(sorted(decision.withheld)) or '(nothing)'}")
        not_sent = sorted(event.withheld)
        if not_sent:
            click.echo(f"  not sent by {h.producer} at all: {', '.join(not_sent)}")
        return
    click.echo(f"REFUSE {decision.reason}: {decision.detail}")
    raise SystemExit(1)


@cli.command()
@click.option("--agreements", "agreements_dir", default=None, help="Default: state dir.")
@click.option("--trust", "trust_file", default=None, help="Count only fully signed agreements.")
@click.option("--at", "at_time", default=None, help="UTC time (default now).")
@click.option("--html", "html_file", default=None, help="Also write a readable HTML page.")
def matrix(
    agreements_dir: str | None, trust_file: str | None, at_time: str | None, html_file: str | None
) -> None:
    """Who may send which event type to whom, under which agreement."""
    agreements = load_directory(_agreements_dir(agreements_dir))
    trust = _trust(trust_file, required=False)
    at = parse_time_ms(at_time, "--at") if at_time else _now_ms()
    cells = flow_matrix(agreements, trust, at)
    table = Table(title="Who may send what to whom (rows: sender, columns: recipient)")
    table.add_column("from \\ to")
    for cc in COMMIT_COUNTRIES:
        table.add_column(cc)
    for sender in COMMIT_COUNTRIES:
        row = [cell(sender)]
        for recipient in COMMIT_COUNTRIES:
            if sender == recipient:
                row.append(cell("-"))
            else:
                # Agreement ids come from files: data, one per line of the cell.
                refs = [a.split(" ")[0] for a in cells[(sender, recipient)]]
                row.append(cell_lines(refs, empty="nothing"))
        table.add_row(*row)
    Console(width=160).print(table)
    if html_file:
        write_output(html_file, matrix_html(cells, at).encode("utf-8"), what="--html")
        click.echo(f"wrote {html_file}", err=True)
