"""A country node's own state on disk: sequence numbers, seen ids, journals.

Everything lives in ``<state>/nodes/<CC>/`` (see :mod:`hub.home`):

``sequence``        the last sequence number used, replaced atomically *before*
                    the event carrying it is sent, so a restart never reuses one
                    (a crash between the two leaves a visible gap, never a repeat)
``seen``            event ids the inbox has yielded (one per line, appended)
``journal.jsonl``   what this node sent and acknowledged (one JSON object per line)
``cursor.json``     the inbox's next offset per partition (saved at most every 64
                    records and on close; ids in ``seen`` cover the rest after a crash)

Append-only files are flushed and fsynced per write; a torn last line (a crash
mid-write) is ignored when loading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.errors import OperationalError, Reason

__all__ = ["NodeStore"]


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(path: Path) -> Iterator[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    parts = text.split("\n")
    # The last element is "" after a clean write, or a torn line after a crash.
    yield from (p for p in parts[:-1] if p)


class NodeStore:
    """File-backed state of one node. Not shared between processes at once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._seen: set[str] = set(_lines(root / "seen"))
        self._journal: list[dict[str, Any]] = []
        self._cursor: dict[int, int] | None = None
        self._moves = 0
        for line in _lines(root / "journal.jsonl"):
            try:
                self._journal.append(json.loads(line))
            except json.JSONDecodeError:
                continue

    # --- sequence ------------------------------------------------------------

    def last_sequence(self) -> int:
        path = self.root / "sequence"
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected a number in {path}, found {text[:20]!r}"
            )
        return int(text)

    def reserve_sequence(self) -> int:
        """The next sequence number, persisted before it is returned."""
        number = self.last_sequence() + 1
        path = self.root / "sequence"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(number).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return number

    # --- inbox dedupe ---------------------------------------------------------

    def seen(self, event_id: str) -> bool:
        return event_id in self._seen

    def mark_seen(self, event_id: str) -> None:
        if event_id not in self._seen:
            _append(self.root / "seen", event_id)
            self._seen.add(event_id)

    # --- inbox cursor ------------------------------------------------------------

    def cursor(self) -> dict[int, int]:
        if self._cursor is None:
            try:
                raw = json.loads((self.root / "cursor.json").read_text(encoding="utf-8"))
                self._cursor = {int(k): int(v) for k, v in raw.items()}
            except (FileNotFoundError, ValueError, AttributeError):
                self._cursor = {}
        return dict(self._cursor)

    def advance(self, partition: int, next_offset: int) -> None:
        """Move the cursor; written every 64 moves (``flush_cursor`` writes the rest)."""
        self.cursor()
        current = self._cursor if self._cursor is not None else {}
        if next_offset > current.get(partition, 0):
            current[partition] = next_offset
            self._cursor = current
            self._moves += 1
            if self._moves >= 64:
                self.flush_cursor()

    def flush_cursor(self) -> None:
        if self._cursor is None or not self._moves:
            return
        path = self.root / "cursor.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({str(k): v for k, v in self._cursor.items()}), encoding="utf-8")
        os.replace(tmp, path)
        self._moves = 0

    # --- journal -----------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        """Append one journal entry (``kind`` plus ids and times; no personal data)."""
        _append(
            self.root / "journal.jsonl",
            json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        )
        self._journal.append(entry)

    def journal(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self._journal if kind is None or e.get("kind") == kind]
