"""Batch import: rows of a CSV or JSON Lines file become events, one per row.

A file in the wrong encoding (not UTF-8), whose CSV header lacks a mapped
column, names a column twice or cannot be read as one line of CSV is refused
whole before anything is sent. A row that fails goes to the errors file (CSV:
``row,field,reason,detail``; ``row`` is the line number in the input file where
the row starts, the CSV header being line 1; details never quote a cell) and
the import goes on with the next row.

What a row is, so that a broken row never takes the rows after it:

- JSON Lines: one line (ended by ``\\n``) is one row, read by
  :func:`hub.textdoc.parse_json` (no member twice, nesting <= 64, integers of at
  most 20 digits, no lone surrogates); anything else refuses that line only.
- CSV (RFC 4180, read strictly): one physical line is one row. A quoted cell
  may span lines only in a column the mapping lists under ``multiline``, and
  then none of its continuation lines may read as a whole row by itself (the
  shape of an unclosed quote swallowing the rows after it). A row that breaks
  these rules, has another number of cells than the header has columns, an
  unclosed quote or a cell over :func:`csv.field_size_limit` characters is
  refused at its first line, and reading starts again at the next line.
- Either: a row over :data:`MAX_ROW_BYTES` bytes (an event can be no larger) is
  refused OVERSIZED before it is parsed.

Idempotency: each row's id is SHA-256(country | type | row key); the node's
journal holds ``import`` entries (row id, event id, ``pending`` | ``sent`` |
``refused``, and ``content``: SHA-256 of what the row's event carries —
recipients, purpose, handling, case key, payload). A re-run skips sent rows
and re-sends a pending one (a crash between send and journal) with its
journaled event id, which the hub drops as a replay if the first send did
arrive. A row key names one row for ever: a second row with the same key and
other content, in the same file or in a later run (against a sent or pending
journal entry), is refused ROW_KEY_CONFLICT and nothing is sent for it (entries
journaled before contents were recorded are taken as matching). A row refused
for its content (any refusal but the node's own trouble: an OperationalError,
e.g. KAFKA_UNAVAILABLE) costs nothing and is tried again on the next run; the
rows after it are sent either way. Event ids: :func:`connectors.sdk.row_event_id`.

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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from connectors.sdk import CountryNode, Submission, row_event_id
from hub.errors import OperationalError, Reason, RequestError, TrmError
from hub.textdoc import parse_json
from hub.wire import DEFAULT_MAX_SIZE

from .mapping import Mapping_, RowError

__all__ = ["MAX_ROW_BYTES", "ImportSummary", "import_file", "node_trouble", "read_rows"]

#: The largest row read, in bytes: an event may be no larger, so a larger row
#: could never be sent.
MAX_ROW_BYTES: Final = DEFAULT_MAX_SIZE

_FIELD = re.compile(r"field '?([A-Za-z_][\w.]*)")


@dataclass(slots=True)
class ImportSummary:
    """What an import did so far (filled in as it goes, so an interrupted run can tell).

    Attributes:
        rows: data rows finished (sent, already sent or refused).
        sent: rows sent now.
        already_sent: rows a journal shows were sent before, with the same content.
        refused: rows written to the errors file.
        total: data rows in the file, once it has been read.
        last_line: the line where the last finished row starts (0: none yet).
    """

    rows: int = 0
    sent: int = 0
    already_sent: int = 0
    refused: int = 0
    total: int | None = None
    last_line: int = 0

    def to_json(self) -> dict[str, int | None]:
        return {
            "rows": self.rows,
            "sent": self.sent,
            "already_sent": self.already_sent,
            "refused": self.refused,
            "total": self.total,
            "last_line": self.last_line,
        }


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"cannot read {path}: {exc.strerror or exc} (nothing was sent)"
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RequestError(
            Reason.BAD_ENCODING,
            f"{path.name}: expected UTF-8, line {line} byte 0x{data[exc.start]:02x} is not; "
            "re-export as UTF-8 (nothing was sent)",
        ) from exc


def _refusal(reason: Reason, detail: str) -> RowError:
    return RowError("", str(reason), detail)


def _oversized(size: int) -> RowError:
    return _refusal(
        Reason.OVERSIZED, f"expected a row of at most {MAX_ROW_BYTES} bytes, got {size} or more"
    )


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    # "\n" only: str.splitlines() would also split at U+2028 and others, which
    # JSON allows inside a string.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = parse_json(line, what="JSON Lines row", max_bytes=MAX_ROW_BYTES)
        except RequestError as exc:
            yield n, _refusal(exc.reason, exc.detail)
            continue
        if not isinstance(obj, dict):
            yield n, _refusal(Reason.BAD_REQUEST, "expected a JSON object")
            continue
        yield n, obj


class _TooLong(Exception):
    """A CSV record grew past MAX_ROW_BYTES while the csv module read it."""


class _Lines:
    """Physical lines fed to :mod:`csv` one record at a time, with a position to go back to."""

    def __init__(self, text: str) -> None:
        # newline="": split at \r\n, \r and \n, and keep them (the csv module wants them).
        self.lines = io.StringIO(text, newline="").readlines()
        self.pos = 0
        self._size = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        line = self.lines[self.pos]
        self.pos += 1
        self._size += len(line.encode("utf-8"))
        if self._size > MAX_ROW_BYTES:
            raise _TooLong(self._size)
        return line

    def record(self) -> list[str] | RowError:
        """The cells of the record starting at ``pos`` (which then points past it)."""
        self._size = 0
        try:
            return next(csv.reader(self, strict=True))
        except _TooLong as exc:
            return _oversized(int(exc.args[0]))
        except csv.Error as exc:
            if "field limit" in str(exc):
                return _refusal(
                    Reason.OVERSIZED,
                    f"expected cells of at most {csv.field_size_limit()} characters",
                )
            return _refusal(Reason.BAD_REQUEST, f"expected CSV: {str(exc)[:120]}")


def _swallowed_row(lines: list[str], width: int) -> bool:
    """True when one of ``lines`` reads by itself as a row of ``width`` cells."""
    for line in lines:
        try:
            cells = next(csv.reader([line], strict=True), [])
        except csv.Error:
            continue
        if len(cells) == width:
            return True
    return False


def _csv_header(feed: _Lines, name: str) -> list[str]:
    while feed.pos < len(feed.lines) and not feed.lines[feed.pos].strip():
        feed.pos += 1
    if feed.pos >= len(feed.lines):
        return []
    start = feed.pos
    header = feed.record()
    if isinstance(header, RowError) or feed.pos - start > 1:
        why = header.detail if isinstance(header, RowError) else "it spans several lines"
        raise RequestError(
            Reason.CONFIG_INVALID,
            f"{name}: expected a header of column names on line {start + 1}: {why} "
            "(nothing was sent)",
        )
    seen: dict[str, int] = {}
    for i, column in enumerate(header, start=1):
        if column in seen:
            raise RequestError(
                Reason.CONFIG_INVALID,
                f"{name}: expected each column once in the header, {column[:40]!r} is "
                f"columns {seen[column]} and {i} (nothing was sent)",
            )
        seen[column] = i
    return header


def _csv_rows(
    text: str, mapping: Mapping_, name: str
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    feed = _Lines(text)
    header = _csv_header(feed, name)
    missing = sorted(mapping.columns() - set(header))
    if missing:
        raise RequestError(
            Reason.CONFIG_INVALID,
            f"{name}: expected column {missing[0]!r} in the header, found "
            f"{sorted(header)[:12]} (nothing was sent)",
        )
    width = len(header)
    while feed.pos < len(feed.lines):
        start = feed.pos
        if not feed.lines[start].strip("\r\n"):
            feed.pos += 1
            continue
        cells = feed.record()
        line = start + 1
        if isinstance(cells, RowError):
            feed.pos = start + 1  # a broken row costs its own line, never the next ones
            yield line, cells
            continue
        if len(cells) != width:
            feed.pos = start + 1
            yield (
                line,
                _refusal(
                    Reason.BAD_REQUEST,
                    f"expected {width} cells (the header's columns), got {len(cells)}",
                ),
            )
            continue
        if feed.pos - start > 1:  # a quoted cell ran over a line break
            broken = [c for c, v in zip(header, cells, strict=True) if ("\n" in v or "\r" in v)]
            refused = [c for c in broken if c not in mapping.multiline]
            if refused or _swallowed_row(feed.lines[start + 1 : feed.pos], width):
                why = (
                    f"a line break in column {refused[0][:40]!r}, which the mapping does not "
                    "list under 'multiline'"
                    if refused
                    else "a cell whose next lines read as rows"
                )
                yield (
                    line,
                    _refusal(
                        Reason.BAD_REQUEST,
                        f"expected one row per line: a quoted cell runs over {feed.pos - start} "
                        f"lines ({why}; is a closing quote missing?)",
                    ),
                )
                feed.pos = start + 1
                continue
        yield line, dict(zip(header, cells, strict=True))


def read_rows(path: Path, mapping: Mapping_) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(line number, row or RowError) for each data row (see the module's rules).

    Raises:
        RequestError: BAD_REQUEST for a file that cannot be read, BAD_ENCODING,
            or CONFIG_INVALID for a CSV header that lacks a mapped column, names
            one twice or is not one line of CSV (before any row is yielded).
    """
    text = _text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _jsonl_rows(text)
    rows = _csv_rows(text, mapping, path.name)
    first = next(rows, None)  # the header's refusals come now, not at the first row
    return rows if first is None else _chain(first, rows)


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _field_of(error: TrmError) -> str:
    m = _FIELD.search(error.detail)
    return m.group(1) if m else ""


def _content_of(sub: Submission) -> str:
    """SHA-256 of what a row's event carries (its recipients, policy attributes, payload)."""
    doc = {
        "type": sub.event_type.value,
        "to": list(sub.recipients),
        "purpose": sub.purpose,
        "handling": sub.handling,
        "case_key": sub.case_key,
        "payload": sub.payload,
    }
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _conflict(detail: str) -> RowError:
    return RowError("", str(Reason.ROW_KEY_CONFLICT), detail)


def node_trouble(error: TrmError) -> bool:
    """True for an error that is not a row's fault (the broker, the node's files):
    the import stops there, and a re-run resumes."""
    return isinstance(error, OperationalError) or error.reason is Reason.KAFKA_UNAVAILABLE


class _Run:
    """One file's import: each row is sent, found sent before, or refused."""

    def __init__(
        self,
        node: CountryNode,
        mapping: Mapping_,
        *,
        clock: Callable[[], int],
        unsealed: bool,
    ) -> None:
        self.node, self.mapping, self.clock, self.unsealed = node, mapping, clock, unsealed
        self.journal: dict[str, dict[str, Any]] = {}
        for entry in node.store.journal("import"):
            self.journal[str(entry.get("row"))] = entry
        self.claimed: dict[str, tuple[int, str]] = {}  # row id -> (first line, content)

    async def row(self, line: int, row: dict[str, Any]) -> bool:
        """Send one row; True when sent now, False when sent before.

        Raises:
            RowError: the row cannot be turned into an event, or its key is
                used for other content.
            TrmError: the node refused it (or, OperationalError, cannot work).
        """
        mapping, node = self.mapping, self.node
        key = mapping.row_key_of(row)
        row_id = hashlib.sha256(
            f"{node.country}\x00{mapping.event_type}\x00{key}".encode()
        ).hexdigest()
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
        content = _content_of(sub)
        first_line, first_content = self.claimed.setdefault(row_id, (line, content))
        if first_content != content:
            raise _conflict(
                f"expected the content of line {first_line}, which has the same row key; "
                "found other content (a row key names one row for ever)"
            )
        done = self.journal.get(row_id)
        state = done.get("state") if done else None
        earlier = done.get("content") if done else None
        if state == "sent":
            if earlier in (None, content):
                return False
            raise _conflict(
                f"this row key was sent before (event {done.get('event_id') if done else ''}) "
                "with other content; expected the same content, or a new row key for a new row"
            )
        pending = done if state == "pending" else None
        if pending is not None and earlier not in (None, content):
            raise _conflict(
                f"an earlier send of this row key (event {pending.get('event_id')}) is "
                "unconfirmed and had other content; expected that content, so that a re-run "
                "can finish it"
            )
        now = self.clock()
        await node.check(sub, created_at_ms=now, unsealed=self.unsealed)
        event_id = (
            str(pending["event_id"])
            if pending is not None
            else row_event_id(node.country, mapping.event_type.value, key, now)
        )
        entry = {
            "kind": "import",
            "row": row_id,
            "event_id": event_id,
            "state": "pending",
            "content": content,
        }
        if pending is None:
            self._journal(entry)
        try:
            await node.publish(sub, event_id=event_id, created_at_ms=now, unsealed=self.unsealed)
        except TrmError as err:
            if not node_trouble(err):  # refused before sending: a re-run may send new content
                self._journal({**entry, "state": "refused"})
            raise
        self._journal({**entry, "state": "sent"})
        return True

    def _journal(self, entry: dict[str, Any]) -> None:
        self.node.store.record(entry)
        self.journal[entry["row"]] = entry


async def import_file(
    node: CountryNode,
    mapping: Mapping_,
    path: Path,
    *,
    errors_path: Path,
    on_row: Callable[[ImportSummary], None] | None = None,
    now_ms: Callable[[], int] | None = None,
    unsealed: bool = False,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Send each row of ``path`` as an event (sealed unless ``unsealed``); refused rows
    go to ``errors_path``.

    Args:
        on_row: called with the summary after each row is finished.
        summary: filled in as rows are finished (give one to know how far an
            interrupted or stopped import got); a new one otherwise.

    Returns:
        The summary.

    Raises:
        RequestError: the file is refused whole, or the errors file cannot be
            written (nothing was sent).
        OperationalError: the node cannot work (KAFKA_UNAVAILABLE ...): the
            import stops before the row, which a re-run sends.
    """
    clock = now_ms or (lambda: time.time_ns() // 1_000_000)
    rows = list(read_rows(path, mapping))  # refuses a bad file before sending anything
    try:
        errors_path.parent.mkdir(parents=True, exist_ok=True)
        ef = errors_path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise RequestError(
            Reason.BAD_REQUEST,
            f"cannot write the errors file {errors_path}: {exc.strerror or exc} (nothing was sent)",
        ) from exc
    summary = summary if summary is not None else ImportSummary()
    summary.total = len(rows)
    run = _Run(node, mapping, clock=clock, unsealed=unsealed)
    with ef:
        errors = csv.writer(ef)
        errors.writerow(["row", "field", "reason", "detail"])
        for line, row in rows:
            refusal: tuple[str, str, str] | None = None
            try:
                if isinstance(row, RowError):
                    raise row
                if await run.row(line, row):
                    summary.sent += 1
                else:
                    summary.already_sent += 1
            except RowError as err:
                refusal = (err.field, err.reason, err.detail)
            except TrmError as err:
                if node_trouble(err):
                    raise  # not the row's fault: stop, a re-run resumes
                refusal = (_field_of(err), str(err.reason), err.detail)
            if refusal is not None:
                summary.refused += 1
                errors.writerow([line, *refusal])
                ef.flush()
            summary.rows += 1
            summary.last_line = line
            if on_row is not None:
                on_row(summary)
    return summary
