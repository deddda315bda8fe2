"""``trm event seal|open|redact``: single events, offline.

``seal`` seals to the recipients (protocol v2) by default, with their signed
seal-key sets from ``--seal-keys FILE`` or, failing that, from the state
directory (``nodes/<CC>/seal-keys/seal-keys.json``), verified against the trust
list; ``--unsealed`` makes a v1 event whose values anyone can read (interop).

``open`` opens a sealed envelope with a country's epoch keys: ``--country CC``,
or the state directory's keyring of a recipient the envelope has a key wrap
for. Without one it shows the header, the policy attributes in the clear and
the labels of the sealed fields, saying they are sealed.

``open --json`` prints one JSON object (stable; documented in docs/protocol.md)::

    {"header": {...signed header fields...}, "event_digest": hex, "key_id": hex,
     "disclosed": {field: value}, "withheld": [field, ...],
     "sealed": [field, ...], "opened_as": CC or null,
     "attestations": [{recipient, agreement_id, agreement_version, fields,
                       leaf_ref, attested_at_ms, key_id}]}

``sealed`` lists the disclosed fields still sealed (no key to open them with);
their values are not in ``disclosed``.

The table form of ``open`` shows every value received as data: rich markup
(``[/bold]``, ``[link=…]``) is shown as written, and control characters (ESC
sequences, OSC 8 hyperlinks, BiDi overrides) as visible escapes
(:mod:`connectors.cli.terminal`); ``--json`` writes them as ``\\uXXXX``.

A refused input exits 1 with ``rejected: REASON_CODE: detail`` on stderr: a
payload read strictly (:func:`hub.textdoc.parse_json`), an envelope over the
hub's size limit (OVERSIZED), a path that is a directory, missing or
unreadable, or an ``--out`` that cannot be written (BAD_REQUEST).
"""

from __future__ import annotations

import importlib
import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from connectors.cli.files import STDIO, read_input, read_json_input, write_output
from connectors.cli.terminal import cell, echo_refusal, json_line, line, printable
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.wire import DELIVERED_MAX_SIZE

__all__ = ["cli", "header_json", "load_trust"]


def _refusing(fn: Callable[[], None]) -> None:
    try:
        fn()
    except TrmError as exc:
        echo_refusal(exc)
        sys.exit(1)


def load_trust(path: str | None) -> Any:
    """The trust list from ``--trust`` or the state directory, via ``hub.trust``."""
    from hub.home import state_dir

    where = Path(path) if path else state_dir().trust
    if not where.is_file():
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected a trust list at {where}; pass --trust FILE or run `trm trust build`",
        )
    trust = importlib.import_module("hub.trust")
    return trust.load_trust_file(where)


def _read_envelope(path: str) -> bytes:
    # Never more than a delivered copy's limit is read: a larger file is no envelope
    # (OVERSIZED).
    return read_input(path, what="envelope", max_bytes=DELIVERED_MAX_SIZE)


def header_json(header: Any) -> dict[str, Any]:
    """The signed header's fields as JSON-ready data."""
    return {
        "spec_version": header.spec_version,
        "event_id": header.event_id,
        "event_type": header.event_type.value,
        "payload_schema": header.payload_schema.hex(),
        "producer": header.producer,
        "sequence": header.sequence,
        "created_at_ms": header.created_at_ms,
        "recipients": list(header.recipients),
        "purpose": header.purpose,
        "handling": header.handling,
        "case_key": header.case_key,
        "correlation_id": header.correlation_id,
        "disclosure_digests": [d.hex() for d in header.disclosure_digests],
    }


@click.group(name="event")
def cli() -> None:
    """Seal, open and redact single events offline."""


@cli.command("seal")
@click.option("--type", "event_type", required=True, help="A registered type: `trm event types`.")
@click.option("--from", "producer", required=True, help="Producing country (alpha-2).")
@click.option("--to", "recipients", required=True, help="Recipient countries, comma-separated.")
@click.option("--key", "key_file", default=None, help="Producer private key (default: state dir).")
@click.option("--in", "in_file", required=True, help="Payload JSON (UTF-8), or - for stdin.")
@click.option("--out", "out_file", default="-", show_default=True, help="Envelope file, or -.")
@click.option("--purpose", default=None, help="Purpose (default depends on the event type).")
@click.option("--handling", default="H2", show_default=True, help="Handling code H0-H3.")
@click.option("--case-key", default=None, help="Pseudonymous case key (default: random).")
@click.option("--sequence", default=1, show_default=True, type=int, help="Producer sequence.")
@click.option("--created-at", "created_at_ms", default=None, type=int, help="ms since epoch.")
@click.option("--correlation-id", default=None, help="Event id this event relates to.")
@click.option("--event-id", default=None, help="UUIDv7 (default: a new one).")
@click.option(
    "--seal-keys",
    "seal_key_files",
    multiple=True,
    help="A recipient's signed seal-key set (JSON); repeat per recipient. "
    "Default: the state directory's nodes/CC/seal-keys/seal-keys.json.",
)
@click.option("--trust", "trust_file", default=None, help="Trust list (default: state dir).")
@click.option(
    "--unsealed",
    is_flag=True,
    help="Make an unsealed v1 event, whose values the hub, the broker and their backups "
    "can read (interop only). Default: sealed to the recipients.",
)
def seal_cmd(  # click passes options by keyword
    *,
    event_type: str,
    producer: str,
    recipients: str,
    key_file: str | None,
    in_file: str,
    out_file: str,
    purpose: str | None,
    handling: str,
    case_key: str | None,
    sequence: int,
    created_at_ms: int | None,
    correlation_id: str | None,
    event_id: str | None,
    seal_key_files: tuple[str, ...],
    trust_file: str | None,
    unsealed: bool,
) -> None:
    """Seal a JSON payload into a signed envelope (sealed to the recipients by default)."""

    def run() -> None:
        from hub.home import state_dir
        from hub.keys import load_private_key
        from hub.wire import EventType, payload_from_json, seal

        obj = read_json_input(in_file, what="payload")
        if not isinstance(obj, dict):
            raise RequestError(
                Reason.BAD_REQUEST, f"expected a JSON object, got {type(obj).__name__}"
            )
        key = load_private_key(Path(key_file) if key_file else state_dir().private_key(producer))
        to = [r.strip() for r in recipients.split(",") if r.strip()]
        created = created_at_ms if created_at_ms is not None else time.time_ns() // 1_000_000
        payload = payload_from_json(event_type, obj)
        seal_to = None if unsealed else _seal_keys(to, created, seal_key_files, trust_file)
        envelope = seal(
            event_type,
            payload,
            producer=producer,
            key=key,
            recipients=to,
            # payload_from_json has refused an unregistered type by now
            purpose=purpose or EventType(event_type).spec.default_purpose,
            handling=handling,
            case_key=case_key or f"case-{secrets.token_hex(8)}",
            sequence=sequence,
            created_at_ms=created,
            event_id=event_id,
            correlation_id=correlation_id,
            seal_to=seal_to,
        )
        write_output(out_file, envelope.to_bytes(), what="--out")
        if out_file != STDIO:
            click.echo(f"sealed {envelope.header.event_id} -> {out_file}", err=True)

    _refusing(run)


def _seal_keys(
    recipients: list[str], at_ms: int, files: tuple[str, ...], trust_file: str | None
) -> dict[str, Any]:
    """Each recipient's seal key valid at ``at_ms``, from signed sets (files or the state dir).

    Raises:
        SealError: SEAL_KEY_MISSING naming the recipient, with what to pass.
        TrustError: a set that does not verify against the trust list.
    """
    from hub.errors import SealError
    from hub.home import state_dir
    from hub.sealkeys import Keyring, SealKeyDirectory
    from hub.topics import check_country

    recipients = [check_country(cc) for cc in recipients]
    trust = load_trust(trust_file)
    if files:
        docs: list[bytes] = [read_input(f, what="seal-key set") for f in files]
    else:
        state = state_dir()
        paths = [Keyring.of(state, cc).signed_set_path for cc in recipients]
        docs = [read_input(p, what="seal-key set") for p in paths if p.is_file()]
    directory, refused = SealKeyDirectory.from_documents(docs, trust)
    if refused:
        raise refused[0]
    out: dict[str, Any] = {}
    for cc in recipients:
        try:
            out[cc] = directory.key_for(cc, at_ms)
        except SealError as exc:
            raise SealError(
                exc.reason,
                f"{exc.detail}; pass the recipient's signed seal-key set with --seal-keys "
                "FILE, or --unsealed for a v1 event anyone can read",
            ) from None
    return out


@cli.command("types")
def types_cmd() -> None:
    """List the registered event types (built in, and from $TRM_EVENT_TYPES)."""
    from hub.wire import EventType, payload_fields

    for t in EventType:
        spec = t.spec
        origin = "built in" if spec.schema is None else str(spec.schema)
        click.echo(f"{t.value}\t{spec.title}\tdefault purpose {spec.default_purpose}\t{origin}")
        click.echo(f"\tfields: {', '.join(payload_fields(t))}")


def _opener(envelope: Any, country: str | None) -> tuple[str, Any] | None:
    """Who opens a sealed envelope: ``country``'s keyring, or a recipient's in the state dir."""
    from hub.home import state_dir
    from hub.sealkeys import Keyring
    from hub.topics import check_country

    state = state_dir()
    if country is not None:
        cc = check_country(country)
        return cc, Keyring.of(state, cc)
    for wrap in envelope.key_wraps:
        keyring = Keyring.of(state, wrap.recipient)
        if keyring.keys():
            return wrap.recipient, keyring
    return None


@cli.command("open")
@click.argument("file")
@click.option("--trust", "trust_file", default=None, help="Trust list (default: state dir).")
@click.option(
    "--country",
    default=None,
    help="Open a sealed envelope as this recipient, with its epoch keys in the state dir "
    "(default: a recipient whose keys the state dir holds).",
)
@click.option("--json", "as_json", is_flag=True, help="One stable JSON object on stdout.")
def open_cmd(file: str, trust_file: str | None, country: str | None, as_json: bool) -> None:
    """Verify an envelope and show its disclosed and withheld fields (opened if sealed)."""

    def run() -> None:
        from hub.wire import Envelope, payload_to_json, unseal, verify, verify_attestation

        keys = load_trust(trust_file)
        envelope = Envelope.from_bytes(_read_envelope(file), max_size=DELIVERED_MAX_SIZE)
        event = verify(envelope, keys)
        opened_as = None
        opener = _opener(envelope, country) if event.sealed else None
        if opener is not None:
            opened_as, keyring = opener
            event = unseal(event, recipient=opened_as, private_key=keyring.private)
        attestations: list[dict[str, Any]] = []
        if envelope.attestations:
            verify_attestation(envelope, keys)
            attestations = [
                {**a.to_json(), "key_id": a.signature.key_id} for a in envelope.attestations
            ]
        disclosed = payload_to_json({name: event.fields[name] for name in sorted(event.fields)})
        doc = {
            "header": header_json(event.header),
            "event_digest": envelope.event_digest.hex(),
            "key_id": event.key_id,
            "disclosed": disclosed,
            "withheld": sorted(event.withheld),
            "sealed": sorted(event.sealed),
            "opened_as": opened_as,
            "attestations": attestations,
        }
        if as_json:
            click.echo(json_line(doc))
            return
        _print_table(doc)

    _refusing(run)


def _print_table(doc: dict[str, Any]) -> None:
    """The opened event for a person: every value received is data (no markup, no controls)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = Table(title="signed header (verified)", show_header=False)
    for name, value in doc["header"].items():
        shown = f"{len(value)} digests" if name == "disclosure_digests" else value
        head.add_row(cell(name), cell(shown))
    console.print(head)
    title = "disclosed fields"
    if doc["opened_as"]:
        title += f" (sealed; opened with {doc['opened_as']}'s epoch key)"
    elif doc["sealed"]:
        title += " (sealed: only the policy attributes are readable without a key)"
    body = Table(title=printable(title))
    body.add_column("field")
    body.add_column("value")
    for name, value in doc["disclosed"].items():
        body.add_row(cell(name), cell(json.dumps(value, ensure_ascii=False)))
    for name in doc["sealed"]:
        body.add_row(cell(name), cell("sealed", "yellow"))
    console.print(body)
    if doc["sealed"]:
        console.print(
            f"{len(doc['sealed'])} field(s) sealed to the recipients: open with "
            "--country CC where CC's epoch keys are in the state directory"
        )
    console.print(line("withheld: " + (", ".join(doc["withheld"]) or "(none)")))
    for att in doc["attestations"]:
        console.print(
            line(
                f"attested for {att['recipient']} under {att['agreement_id']}@"
                f"{att['agreement_version']} (leaf {att['leaf_ref']})"
            )
        )


@cli.command("redact")
@click.argument("file")
@click.option("--drop", default=None, help="Fields to withhold, comma-separated.")
@click.option("--keep", default=None, help="Or: the only fields to keep, comma-separated.")
@click.option("--out", "out_file", default="-", show_default=True, help="Envelope file, or -.")
def redact_cmd(file: str, drop: str | None, keep: str | None, out_file: str) -> None:
    """Withhold fields: remove their disclosures, change nothing else."""

    def run() -> None:
        from hub.wire import Envelope, payload_fields, redact

        if (drop is None) == (keep is None):
            raise RequestError(Reason.BAD_REQUEST, "expected exactly one of --drop or --keep")
        envelope = Envelope.from_bytes(_read_envelope(file), max_size=DELIVERED_MAX_SIZE)
        known = set(payload_fields(envelope.header.event_type))
        named = [f.strip() for f in (drop or keep or "").split(",") if f.strip()]
        unknown = sorted(set(named) - known)
        if unknown:
            raise RequestError(
                Reason.UNKNOWN_FIELD,
                f"field {unknown[0]!r} is not in the {envelope.header.event_type} schema",
            )
        present = {d.field for d in envelope.disclosures}
        kept = set(named) if keep is not None else present - set(named)
        write_output(out_file, redact(envelope, kept).to_bytes(), what="--out")

    _refusing(run)
