"""``trm conformance DIR``: this implementation against the protocol's vector sets.

The sets are the folders of ``tests/vectors/`` that docs/protocol.md section
12 lists; a foreign team runs the same folders against its own node. Exit 0
only when every set is present and every vector passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from hub.conformance import SETS, SetReport, run

__all__ = ["cli"]


def _json(reports: list[SetReport]) -> str:
    return json.dumps(
        {
            "passed": all(r.passed for r in reports),
            "sets": [
                {
                    "set": r.vector_set.folder,
                    "covers": r.vector_set.covers,
                    "missing": r.missing,
                    "vectors": len(r.results),
                    "passed": sum(x.passed for x in r.results),
                    "failures": [
                        {"vector": f.vector, "expected": f.expected, "got": f.got}
                        for f in r.failures
                    ],
                }
                for r in reports
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


@click.command(name="conformance")
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("tests/vectors")
)
@click.option(
    "--set",
    "names",
    multiple=True,
    type=click.Choice([s.folder for s in SETS]),
    help="Run only this set (repeatable); default every set.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON report on stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Also list every vector that passed.")
def cli(directory: Path, names: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Apply every vector set under DIRECTORY (default tests/vectors) and report."""
    reports = run(directory, names)
    ok = all(r.passed for r in reports)
    if as_json:
        click.echo(_json(reports))
        raise SystemExit(0 if ok else 1)
    width = max(len(r.vector_set.folder) for r in reports)
    for report in reports:
        folder = report.vector_set.folder.ljust(width)
        if report.missing:
            click.echo(
                f"FAIL {folder}  missing: no folder {report.vector_set.folder}/ in {directory}"
            )
            continue
        passed = sum(x.passed for x in report.results)
        status = "ok  " if report.passed else "FAIL"
        click.echo(
            f"{status} {folder}  {passed}/{len(report.results)} vectors  "
            f"({report.vector_set.covers})"
        )
        for result in report.results:
            if not result.passed:
                click.echo(f"     {result.vector}: expected {result.expected}")
                click.echo(f"     {' ' * len(result.vector)}  got      {result.got}")
            elif verbose:
                click.echo(f"     {result.vector}: ok")
    total = sum(len(r.results) for r in reports)
    failed = sum(len(r.failures) for r in reports) + sum(r.missing for r in reports)
    click.echo(
        f"{'conformant' if ok else 'NOT conformant'}: {len(reports)} sets, {total} vectors, "
        f"{failed} failed"
    )
    raise SystemExit(0 if ok else 1)
