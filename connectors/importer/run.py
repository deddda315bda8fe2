"""Batch import: rows of a CSV or JSON Lines file become events, one per row.

A file in the wrong encoding (not UTF-8) or whose header lacks a mapped column
is refused whole before anything is sent. A row that fails goes to the errors
file (CSV: ``row,field,reason,detail``; ``row`` is the line number in the input
file, the CSV header being line 1) and the import goes on.

Idempotency: each row's id is SHA-256(country | type | row key); the node's
journal holds ``import`` entries (row id, event id, ``pending`` | ``sent``).
A re-run skips sent rows and re-sends a pending one (a crash between send and
journal) with its journaled event id, which the hub drops as a replay if the
first send did arrive. Event ids: :func:`connectors.sdk.row_event_id`.

Rows are sealed to their recipients (protocol v2); a recipient without a seal
key valid now refuses the row (SEAL_KEY_MISSING, to the errors file), never a
fallback to v1. ``unsealed=True`` sends v1 events the hub can read (interop).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.sdk import CountryNode, Submission, row_event_id
from hub.errors import Reason, RequestError, TrmError

from .mapping import Mapping_, RowError

__all__ = ["ImportSummary", "import_file", "read_rows"]

_FIELD = re.compile(r"field '?([A-Za-z_][\w.]*)")


@dataclass(slots=True)
class ImportSummary:
    rows: int = 0
    sent: int = 0
    already_sent: int = 0
    refused: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "sent": self.sent,
            "already_sent": self.already_sent,
            "refused": self.refused,
        }


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RequestError(
            Reason.BAD_ENCODING,
            f"{path.name}: expected UTF-8, line {line} byte 0x{data[exc.start]:02x} is not; "
            "re-export as UTF-8 (nothing was sent)",
        ) from exc


def read_rows(path: Path, mapping: Mapping_) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(line number, row or RowError) for each data row.

    Raises:
        RequestError: BAD_ENCODING, or CONFIG_INVALID for a CSV header that
            lacks a mapped column (before any row is yielded).
    """
    text = _text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, RowError("", str(Reason.BAD_REQUEST), f"expected JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                yield n, RowError("", str(Reason.BAD_REQUEST), "expected a JSON object")
                continue
            yield n, obj
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = set(reader.fieldnames or ())
    missing = sorted(mapping.columns() - header)
    if missing:
        raise RequestError(
            Reason.CONFIG_INVALID,
            f"{path.name}: expected column {missing[0]!r} in the header, found "
            f"{sorted(header)[:12]} (nothing was sent)",
        )
    for row in reader:
        if None in row:  # more cells than header columns
            yield reader.line_num, RowError("", str(Reason.BAD_REQUEST), "more cells than columns")
            continue
        yield reader.line_num, dict(row)


def _field_of(error: TrmError) -> str:
    m = _FIELD.search(error.detail)
    return m.group(1) if m else ""


async def import_file(
    node: CountryNode,
    mapping: Mapping_,
    path: Path,
    *,
    errors_path: Path,
    on_row: Callable[[], None] | None = None,
    now_ms: Callable[[], int] | None = None,
    unsealed: bool = False,
) -> ImportSummary:
    """Send each row of ``path`` as an event (sealed unless ``unsealed``); refused rows
    go to ``errors_path``."""
    clock = now_ms or (lambda: __import__("time").time_ns() // 1_000_000)
    rows = list(read_rows(path, mapping))  # refuses a bad file before sending anything
    journal: dict[str, dict[str, Any]] = {}
    for entry in node.store.journal("import"):
        journal[entry["row"]] = entry
    summary = ImportSummary()
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    with errors_path.open("w", encoding="utf-8", newline="") as ef:
        errors = csv.writer(ef)
        errors.writerow(["row", "field", "reason", "detail"])
        for line, row in rows:
            summary.rows += 1
            try:
                if isinstance(row, RowError):
                    raise row
                key = mapping.row_key_of(row)
                row_id = hashlib.sha256(
                    f"{node.country}\x00{mapping.event_type}\x00{key}".encode()
                ).hexdigest()
                done = journal.get(row_id)
                if done is not None and done.get("state") == "sent":
                    summary.already_sent += 1
                    continue
                sub = Submission.from_json(
                    {
                        "type": mapping.event_type.value,
                        "to": mapping.recipients_of(row),
                        "purpose": mapping.purpose,
                        "handling": mapping.handling,
                        "case_key": mapping.case_key_of(node.country, row, key),
                        "payload": mapping.payload_of(row),
                    }
                )
                now = clock()
                await node.check(sub, created_at_ms=now, unsealed=unsealed)
                event_id = (
                    str(done["event_id"])
                    if done
                    else row_event_id(node.country, mapping.event_type.value, key, now)
                )
                entry = {"kind": "import", "row": row_id, "event_id": event_id, "state": "pending"}
                if done is None:
                    node.store.record(entry)
                await node.publish(sub, event_id=event_id, created_at_ms=now, unsealed=unsealed)
                sent = {**entry, "state": "sent"}
                node.store.record(sent)
                journal[row_id] = sent
                summary.sent += 1
            except RowError as err:
                summary.refused += 1
                errors.writerow([line, err.field, err.reason, err.detail])
            except TrmError as err:
                if err.reason is Reason.KAFKA_UNAVAILABLE:
                    raise  # not the row's fault: stop, a re-run resumes
                summary.refused += 1
                errors.writerow([line, _field_of(err), str(err.reason), err.detail])
            finally:
                if on_row is not None:
                    on_row()
    return summary
