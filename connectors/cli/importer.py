"""``trm import --country CC --type TYPE --map MAPPING FILE...``: batch import.

Output, per file: a summary line on stdout (``--json``: one JSON object
``{"file", "total", "rows", "sent", "already_sent", "refused", "last_line",
"errors_file"}``, plus ``"stopped"`` and ``"resume"`` when the import stopped
early — ``"interrupted"`` or the reason code that stopped it —, or ``{"file",
"rejected": {"reason", "detail"}}`` for a file refused whole). Progress goes
to stderr: a progress bar, or with ``--json`` JSON lines ``{"progress":
{"file", "total", "rows", "sent", "already_sent", "refused", "last_line"}}``
after the first row, at most once a second, and after the last.

Exit status (as every ``trm`` verb: 0 success, 1 refused, 2 usage):

- 0: every row was sent, or had been sent before with the same content;
- 1: a row was refused (see the errors file), a file was refused whole
  (``rejected: CODE: detail`` on stderr; the other files are still imported),
  or the import stopped because the node could not work (KAFKA_UNAVAILABLE ...:
  the summary so far is printed, and running the same command again resumes);
- 2: usage (a missing option, ``--errors`` with more than one FILE);
- 130: interrupted (Ctrl-C): the summary so far is printed with where it
  stopped; running the same command again resumes (sent rows are skipped, a
  row in flight is re-sent with the same event id).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from connectors.cli.node import UNSEALED_HELP, node_options, open_node
from connectors.importer import ImportSummary, import_file, load_mapping_file, node_trouble
from hub.errors import TrmError

__all__ = ["cli"]

#: The exit status of an interrupted import (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
_INTERRUPTED = "interrupted"
_RESUME = "run the same command again to resume: rows already sent are skipped"


class _Report:
    """Progress on stderr and summaries on stdout, as text or as JSON."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last = 0.0

    def start(self, path: Path) -> None:
        self._last = 0.0
        if not self.as_json:
            self._progress = Progress(console=Console(stderr=True), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(f"import {escape(path.name)}", total=None)

    def row(self, path: Path, summary: ImportSummary) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=summary.total, completed=summary.rows)
            return
        now = time.monotonic()
        if self._last and now - self._last < 1.0 and summary.rows != summary.total:
            return
        self._last = now
        line = {"progress": {"file": str(path), **summary.to_json()}}
        click.echo(json.dumps(line, sort_keys=True), err=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = self._task = None

    def summary(
        self, path: Path, summary: ImportSummary, errs: Path, stopped: str | None = None
    ) -> None:
        if self.as_json:
            out: dict[str, Any] = {"file": str(path), **summary.to_json(), "errors_file": str(errs)}
            if stopped is not None:
                out |= {"stopped": stopped, "resume": _RESUME}
            click.echo(json.dumps(out, sort_keys=True))
            return
        done = f"{summary.rows} rows"
        if stopped is not None:
            done = f"{summary.rows} of {summary.total if summary.total is not None else '?'} rows"
        click.echo(
            f"{path.name}: {done}, sent {summary.sent}, already sent {summary.already_sent}, "
            f"refused {summary.refused}" + (f" (see {errs})" if summary.refused else "")
        )
        if stopped is not None:
            where = f"after line {summary.last_line}" if summary.last_line else "before any row"
            why = stopped if stopped == _INTERRUPTED else f"stopped ({stopped})"
            click.echo(f"{path.name}: {why} {where}; {_RESUME}", err=True)

    def rejected(self, path: Path, error: TrmError) -> None:
        click.echo(error.as_line(), err=True)
        if self.as_json:
            out = {
                "file": str(path),
                "rejected": {"reason": str(error.reason), "detail": error.detail},
            }
            click.echo(json.dumps(out, sort_keys=True))


@click.command(name="import")
@node_options
@click.option("--type", "event_type", default=None, help="Event type (default: the mapping's).")
@click.option("--map", "map_file", required=True, type=click.Path(path_type=Path))
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Errors CSV (default FILE.errors.csv); only with one FILE.",
)
@click.option("--json", "as_json", is_flag=True, help="Summary as JSON; progress as JSON lines.")
@click.option("--unsealed", is_flag=True, help=UNSEALED_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    the row: SEAL_KEY_MISSING), unless --unsealed. A row key names one row for
    ever: a second row with the same key and other content is refused
    (ROW_KEY_CONFLICT). Exit 0: all sent; 1: something refused or the import
    stopped (run it again to resume); 2: usage; 130: interrupted.
    """
    if errors_file is not None and len(files) > 1:
        raise click.UsageError("--errors names one errors file: give one FILE with it")
    try:
        mapping = load_mapping_file(map_file, event_type=event_type)
        node = open_node(
            country,
            bootstrap=bootstrap,
            namespace=namespace,
            key_file=key_file,
            trust_file=trust_file,
        )
    except TrmError as exc:
        click.echo(exc.as_line(), err=True)
        sys.exit(1)
    report = _Report(as_json=as_json)
    failed = False
    for path in files:
        errs = errors_file or path.with_name(path.name + ".errors.csv")
        summary = ImportSummary()

        async def go(
            path: Path = path, errs: Path = errs, summary: ImportSummary = summary
        ) -> None:
            async with node:
                await import_file(
                    node,
                    mapping,
                    path,
                    errors_path=errs,
                    on_row=lambda s: report.row(path, s),
                    unsealed=unsealed,
                    summary=summary,
                )

        report.start(path)
        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            report.stop()
            report.summary(path, summary, errs, stopped=_INTERRUPTED)
            sys.exit(EXIT_INTERRUPTED)
        except TrmError as exc:
            report.stop()
            if not node_trouble(exc):  # the file refused whole, nothing sent: go on
                report.rejected(path, exc)
                failed = True
                continue
            click.echo(exc.as_line(), err=True)
            report.summary(path, summary, errs, stopped=str(exc.reason))
            sys.exit(1)
        report.stop()
        report.summary(path, summary, errs)
        failed = failed or summary.refused > 0
    if failed:
        sys.exit(1)
