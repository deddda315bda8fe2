"""``trm import --country CC --type TYPE --map MAPPING FILE...``: batch import.

Prints a summary line per file (``--json``: one JSON object ``{"file", "rows",
"sent", "already_sent", "refused", "errors_file"}``). Exit 0 when every row
was sent or had been sent before; 1 when any row was refused (see the errors
file) or the file was refused whole (``rejected: CODE: detail``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.progress import Progress

from connectors.cli.node import UNSEALED_HELP, node_options, open_node
from connectors.importer import ImportSummary, import_file, load_mapping, read_rows
from hub.errors import Reason, RequestError, TrmError

__all__ = ["cli"]


def _load_mapping_file(path: Path, event_type: str | None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(Reason.BAD_ENCODING, f"{path.name}: expected UTF-8") from exc
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RequestError(Reason.CONFIG_INVALID, f"{path.name}: expected YAML/JSON") from exc
    return load_mapping(obj, event_type=event_type)


@click.command(name="import")
@node_options
@click.option("--type", "event_type", default=None, help="Event type (default: the mapping's).")
@click.option("--map", "map_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Errors CSV (default FILE.errors.csv).",
)
@click.option("--json", "as_json", is_flag=True, help="Summary as JSON.")
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def cli(  # noqa: PLR0917 - one parameter per click option
    country: str,
    bootstrap: str | None,
    namespace: str,
    key_file: str | None,
    trust_file: str | None,
    event_type: str | None,
    map_file: Path,
    errors_file: Path | None,
    as_json: bool,
    unsealed: bool,
    files: tuple[Path, ...],
) -> None:
    """Send each row of CSV / JSON Lines FILEs as an event; refused rows go to an errors file.

    Each event is sealed to its recipients (a recipient with no seal key refuses
    the row: SEAL_KEY_MISSING), unless --unsealed.
    """
    any_refused = False
    try:
        mapping = _load_mapping_file(map_file, event_type)
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
        for path in files:
            if not path.is_file():
                raise RequestError(Reason.BAD_REQUEST, f"expected a file at {path}")
            total = sum(1 for _ in read_rows(path, mapping))  # also refuses a bad file early
            errs = errors_file or path.with_name(path.name + ".errors.csv")
            with Progress(disable=as_json, transient=False) as progress:
                task = progress.add_task(f"import {path.name}", total=total)

                async def go(
                    path: Path = path, errs: Path = errs, task: Any = task
                ) -> ImportSummary:
                    async with node:
                        return await import_file(
                            node,
                            mapping,
                            path,
                            errors_path=errs,
                            on_row=lambda: progress.advance(task),
                            unsealed=unsealed,
                        )

                summary = asyncio.run(go())
            any_refused = any_refused or summary.refused > 0
            if as_json:
                out = {"file": str(path), **summary.to_json(), "errors_file": str(errs)}
                click.echo(json.dumps(out, sort_keys=True))
            else:
                click.echo(
                    f"{path.name}: {summary.rows} rows, sent {summary.sent}, "
                    f"already sent {summary.already_sent}, refused {summary.refused}"
                    + (f" (see {errs})" if summary.refused else "")
                )
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
        sys.exit(1)
    if any_refused:
        sys.exit(1)
