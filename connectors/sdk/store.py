"""A country node's own state on disk: sequence numbers, seen ids, journals.

Everything lives in ``<state>/nodes/<CC>/`` (see :mod:`hub.home`):

``sequence``        the last sequence number used, replaced atomically *before*
                    the event carrying it is sent, so a restart never reuses one
                    (a crash between the two leaves a visible gap, never a repeat;
                    a record the broker refused whole gives its number back)
``seen``            event ids the inbox has yielded (one per line, appended)
``journal.jsonl``   what this node sent and acknowledged (one JSON object per line)
``cursor.json``     the inbox's next offset per partition (saved at most every 64
                    records and on close; ids in ``seen`` cover the rest after a crash)
``vault/``          the plaintext this node opened, and what it sent (its record
                    says ``"direction": "sent"``): ``<event_id>.json`` per event,
                    mode 0600 (the only files here holding personal data)
``vault/index.jsonl`` what the vault holds: event id, case key, producer, times
                    (no personal data; rebuilt from the files if it lags)
``erased.jsonl``    tombstones: (case key, producer) pairs erased, never stored again
``match-registrations/<reference>.json``  what this node registered for hit/no-hit
                    matching, in the clear (the value, kind, year of birth), mode
                    0600, so that an approved follow-up can send it; nowhere else

Append-only files are flushed and fsynced per write; a torn last line (a crash
mid-write) is ignored when loading.

The vault (docs/operations.md, erasure): :meth:`NodeStore.keep` writes a
record atomically (a 0600 temporary file, fsynced, renamed over, the directory
fsynced); erasing or dropping one overwrites its bytes with zeros, fsyncs and
unlinks it. An erasure writes its tombstone *before* deleting, and opening the
store finishes any deletion a crash interrupted, so an erased case never comes
back. What this cannot promise: a copy-on-write or journalling file system, an
SSD's remapped blocks or a backup of the disk may still hold old bytes; only the
epoch keys' destruction reaches those (the sealed copies in Kafka).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hub.durable import fsync_dir, shred, write_atomic, zero_open_file
from hub.errors import OperationalError, Reason, RequestError
from hub.matching.messages import is_reference

__all__ = ["NodeStore", "VaultEntry"]

# As the signed header's rules (docs/protocol.md 2.3): safe as file names.
_EVENT_ID: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CASE_KEY: Final = re.compile(r"^[A-Za-z0-9._:~-]{1,128}$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
# A match registration's opaque reference (connectors.sdk.matching makes them
# with secrets.token_urlsafe): safe as a file name.


@dataclass(frozen=True, slots=True)
class VaultEntry:
    """What the vault knows of one opened event besides its plaintext (no personal data).

    Attributes:
        event_id: the event's id, and its file's stem.
        case_key: the header's pseudonymous case key.
        producer: the country that sent it.
        created_at_ms: the header's created_at.
        retain_until_ms: when its plaintext must be gone (the agreement's
            retention); None keeps it until erased.
    """

    event_id: str
    case_key: str
    producer: str
    created_at_ms: int
    retain_until_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "case_key": self.case_key,
            "producer": self.producer,
            "created_at_ms": self.created_at_ms,
            "retain_until_ms": self.retain_until_ms,
        }

    @classmethod
    def from_json(cls, obj: Any) -> VaultEntry:
        """Raises ValueError (caught by the loader) when ``obj`` is not an entry."""
        if not isinstance(obj, Mapping):
            raise ValueError("not an object")
        until = obj.get("retain_until_ms")
        created = obj.get("created_at_ms")
        if not isinstance(created, int) or not (until is None or isinstance(until, int)):
            raise ValueError("bad times")
        entry = cls(
            str(obj.get("event_id")), str(obj.get("case_key")), str(obj.get("producer")),
            created, until,
        )  # fmt: skip
        _check_ids(entry.event_id, entry.case_key, entry.producer, error=ValueError)
        return entry


def _check_ids(
    event_id: str | None,
    case_key: str,
    producer: str,
    *,
    error: type[Exception] = RequestError,
) -> None:
    """Refuse what no header could carry; a case key is never quoted (it could be anything)."""
    problems = []
    if event_id is not None and not (isinstance(event_id, str) and _EVENT_ID.match(event_id)):
        problems.append(f"an event id (a lowercase UUID), got {str(event_id)[:40]!r}")
    if not (isinstance(case_key, str) and _CASE_KEY.match(case_key)):
        problems.append("a case key of 1..128 characters [A-Za-z0-9._:~-]")
    if not (isinstance(producer, str) and _COUNTRY.match(producer)):
        problems.append(f"a producer (alpha-2, upper case), got {str(producer)[:8]!r}")
    if not problems:
        return
    detail = "vault: expected " + "; expected ".join(problems)
    if error is RequestError:
        raise RequestError(Reason.BAD_REQUEST, detail)
    raise error(detail)


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
        self._vault: dict[str, VaultEntry] = {}
        self._index_lines = 0
        self._erased: dict[tuple[str, str], int] = {}
        self._load_vault()

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
        self._write_sequence(number)
        return number

    def release_sequence(self, number: int) -> None:
        """Give back ``number``, the last one reserved, when nothing carrying it was written.

        For a send the broker refused whole (a record too large): the next
        event takes the number again, so the producer's sequence has no gap.
        A number that is not the last reserved is left alone.
        """
        if self.last_sequence() == number:
            self._write_sequence(number - 1)

    def _write_sequence(self, number: int) -> None:
        path = self.root / "sequence"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(number).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

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

    # --- vault: the plaintext this node opened ---------------------------------

    @property
    def vault_dir(self) -> Path:
        return self.root / "vault"

    def keep(  # noqa: PLR0917 - the entry's fields, in the order the brief names them
        self,
        event_id: str,
        case_key: str,
        producer: str,
        created_at_ms: int,
        retain_until_ms: int | None,
        record_json: Mapping[str, Any],
    ) -> bool:
        """Keep the opened record of one event in ``vault/<event_id>.json`` (mode 0600).

        ``record_json`` is the opened record as JSON values (what the node shows
        a user). The file is written atomically and fsynced; keeping the same
        event again replaces it (the old bytes are overwritten with zeros).

        Returns:
            True when kept; False, storing nothing, when the case was erased
            for this producer (:meth:`is_erased`).

        Raises:
            RequestError: BAD_REQUEST for an id, case key or producer that is
                not one a header could carry (so never a path outside the vault).
        """
        _check_ids(event_id, case_key, producer)
        if self.is_erased(case_key, producer):
            return False
        entry = VaultEntry(event_id, case_key, producer, int(created_at_ms), retain_until_ms)
        body = json.dumps(
            {**entry.to_json(), "record": dict(record_json)},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        directory = self._vault_directory()
        path = directory / f"{event_id}.json"
        tmp = directory / f"{event_id}.tmp"
        # Index first: a file the index lacks is found again on load, but an
        # index line without its file is simply dropped then.
        self._index_append({"op": "keep", **entry.to_json()})
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover file
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            old: int | None = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            old = None
        try:
            os.replace(tmp, path)
            fsync_dir(directory)
            if old is not None:
                zero_open_file(old)  # the replaced inode, still open: its plaintext goes too
        finally:
            if old is not None:
                os.close(old)
        self._vault[event_id] = entry
        return True

    def opened(self, event_id: str) -> dict[str, Any] | None:
        """The record kept for ``event_id`` (as given to :meth:`keep`), or None."""
        entry = self._vault.get(event_id)
        if entry is None or self.is_erased(entry.case_key, entry.producer):
            return None
        try:
            doc = json.loads((self.vault_dir / f"{event_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise OperationalError(
                Reason.CONFIG_INVALID, f"vault record {event_id} is not UTF-8 JSON"
            ) from None
        record = doc.get("record") if isinstance(doc, dict) else None
        return record if isinstance(record, dict) else None

    def vault_entry(self, event_id: str) -> VaultEntry | None:
        """What the vault knows of ``event_id`` besides its plaintext, or None."""
        return self._vault.get(event_id)

    def entries(self) -> list[VaultEntry]:
        """Every kept event's entry (no plaintext), oldest first; erased cases left out."""
        kept = [e for e in self._vault.values() if not self.is_erased(e.case_key, e.producer)]
        return sorted(kept, key=lambda e: (e.created_at_ms, e.event_id))

    def case_events(self, case_key: str, producer: str) -> list[str]:
        """The ids of the kept events of one case from one producer, oldest first."""
        found = [
            e for e in self._vault.values() if e.case_key == case_key and e.producer == producer
        ]
        return [e.event_id for e in sorted(found, key=lambda e: (e.created_at_ms, e.event_id))]

    def is_erased(self, case_key: str, producer: str) -> bool:
        """True once :meth:`erase_case` erased this case of this producer (for good)."""
        return (case_key, producer) in self._erased

    def erased_at(self, case_key: str, producer: str) -> int | None:
        """When the case of this producer was erased (ms), or None."""
        return self._erased.get((case_key, producer))

    def erase_case(self, case_key: str, producer: str, at_ms: int) -> list[str]:
        """Delete the plaintext of every event of one case from one producer, for good.

        The tombstone is written (fsynced) first, then each file is overwritten
        with zeros and unlinked; from then on :meth:`keep` stores nothing of
        the case from that producer and :meth:`opened` shows nothing. Erasing
        again deletes nothing more and keeps the first erasure's time.

        Returns:
            The ids of the events whose plaintext was deleted, oldest first
            (empty when the node held none: NOTHING_HELD).

        Raises:
            RequestError: BAD_REQUEST for a malformed case key or producer.
        """
        _check_ids(None, case_key, producer)
        if (case_key, producer) not in self._erased:
            _append(
                self.root / "erased.jsonl",
                json.dumps(
                    {"case_key": case_key, "producer": producer, "erased_at_ms": int(at_ms)},
                    sort_keys=True,
                    separators=(",", ":"),
                ),
            )
            self._erased[(case_key, producer)] = int(at_ms)
        return self._remove(self.case_events(case_key, producer))

    def drop_expired(self, now_ms: int) -> list[str]:
        """Delete the plaintext of every kept event whose ``retain_until_ms`` <= ``now_ms``.

        Returns:
            The ids dropped, oldest first.
        """
        due = [
            e
            for e in self._vault.values()
            if e.retain_until_ms is not None and e.retain_until_ms <= now_ms
        ]
        return self._remove(
            [e.event_id for e in sorted(due, key=lambda e: (e.created_at_ms, e.event_id))]
        )

    def _remove(self, event_ids: list[str]) -> list[str]:
        if not event_ids:
            return []
        for event_id in event_ids:
            shred(self.vault_dir / f"{event_id}.json")
            shred(self.vault_dir / f"{event_id}.tmp")
            del self._vault[event_id]
        for event_id in event_ids:
            self._index_append({"op": "gone", "event_id": event_id})
        if self._index_lines > 2 * len(self._vault) + 64:
            self._compact_index()
        return event_ids

    # --- match registrations: this node's own, in the clear, for a follow-up ------

    @property
    def match_dir(self) -> Path:
        return self.root / "match-registrations"

    @staticmethod
    def _check_reference(reference: str) -> None:
        if not is_reference(reference):
            raise RequestError(
                Reason.BAD_REQUEST,
                "expected a match reference (32 lower-case hex digits), "
                f"got {str(reference)[:70]!r}",
            )

    def keep_match_registration(self, reference: str, record: Mapping[str, Any]) -> None:
        """Keep what this node registered under ``reference`` (mode 0600, atomically).

        ``record`` is the registration in the clear (its kind, value, year of
        birth, issuing state, subject, times): personal data, kept here only,
        so that an approved follow-up can send it.

        Raises:
            RequestError: BAD_REQUEST for a reference that is not one
                :mod:`connectors.sdk.matching` makes (never a path outside).
        """
        self._check_reference(reference)
        directory = self.match_dir
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_dir(self.root)
        body = json.dumps(
            {**dict(record), "reference": reference},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        write_atomic(directory / f"{reference}.json", body)

    def match_registration(self, reference: str) -> dict[str, Any] | None:
        """The registration kept under ``reference`` (as given), or None."""
        self._check_reference(reference)
        path = self.match_dir / f"{reference}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise OperationalError(
                Reason.CONFIG_INVALID, f"match registration {reference} is not UTF-8 JSON"
            ) from None
        return doc if isinstance(doc, dict) else None

    def match_references(self) -> list[str]:
        """The references of every registration this node keeps, sorted."""
        if not self.match_dir.is_dir():
            return []
        return sorted(p.stem for p in self.match_dir.glob("*.json") if is_reference(p.stem))

    def erase_match_registration(self, reference: str) -> bool:
        """Overwrite the registration's file with zeros and delete it; False: none kept."""
        self._check_reference(reference)
        return shred(self.match_dir / f"{reference}.json")

    def drop_expired_match_registrations(self, now_ms: int) -> list[str]:
        """Erase every registration whose ``expires_at_ms`` <= ``now_ms``; their references."""
        gone = []
        for reference in self.match_references():
            record = self.match_registration(reference)
            expires = record.get("expires_at_ms") if record else None
            if isinstance(expires, int) and expires <= now_ms:
                self.erase_match_registration(reference)
                gone.append(reference)
        return gone

    def _vault_directory(self) -> Path:
        directory = self.vault_dir
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fsync_dir(self.root)
        return directory

    def _index_append(self, obj: Mapping[str, Any]) -> None:
        _append(
            self._vault_directory() / "index.jsonl",
            json.dumps(obj, sort_keys=True, separators=(",", ":")),
        )
        self._index_lines += 1

    def _compact_index(self) -> None:
        path = self.vault_dir / "index.jsonl"
        tmp = self.vault_dir / "index.jsonl.tmp"
        lines = [
            json.dumps({"op": "keep", **e.to_json()}, sort_keys=True, separators=(",", ":"))
            for e in self._vault.values()
        ]
        write_atomic(path, "".join(f"{line}\n" for line in lines).encode("utf-8"), tmp=tmp)
        self._index_lines = len(lines)

    def _load_vault(self) -> None:
        """Read the tombstones and the index; reconcile them with the vault's files.

        A file the index lacks (a crash between the two) is read once for its
        entry; an index entry without a file is forgotten; a temporary file
        left by a crash is shredded; and anything of an erased case left by an
        interrupted erasure is deleted now.
        """
        for line in _lines(self.root / "erased.jsonl"):
            try:
                obj = json.loads(line)
                key = (str(obj["case_key"]), str(obj["producer"]))
                self._erased.setdefault(key, int(obj["erased_at_ms"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
        directory = self.vault_dir
        if not directory.is_dir():
            return
        for line in _lines(directory / "index.jsonl"):
            self._index_lines += 1
            try:
                obj = json.loads(line)
                if obj.get("op") == "gone":
                    self._vault.pop(str(obj.get("event_id")), None)
                elif obj.get("op") == "keep":
                    entry = VaultEntry.from_json(obj)
                    self._vault[entry.event_id] = entry
            except (json.JSONDecodeError, AttributeError, ValueError):
                continue
        files = {p.stem for p in directory.glob("*.json")}
        for leftover in directory.glob("*.tmp"):
            shred(leftover)
        for event_id in set(self._vault) - files:
            del self._vault[event_id]
        for event_id in sorted(files - set(self._vault)):
            self._recover(directory / f"{event_id}.json")
        stale = [e.event_id for e in self._vault.values() if self.is_erased(e.case_key, e.producer)]
        self._remove(sorted(stale))

    def _recover(self, path: Path) -> None:
        """Learn the entry of a vault file the index lacks (or shred it if unreadable)."""
        try:
            entry = VaultEntry.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
            shred(path)  # not a record this store wrote whole: plaintext nobody can find
            return
        if entry.event_id != path.stem:
            shred(path)
            return
        self._vault[entry.event_id] = entry
        self._index_append({"op": "keep", **entry.to_json()})
