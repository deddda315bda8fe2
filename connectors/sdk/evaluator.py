"""A country's evaluator service: answers EVALUATE requests with its key share (Kafka edge).

``trm match evaluator --country CC`` runs one :class:`EvaluatorService` until
SIGINT or SIGTERM. For each record of the country's match topic it verifies
the message (the node's trust list), calls the pure core
(:func:`hub.matching.evaluator.evaluate_request`) with the share, the budget
ledger and the time, saves the ledger and the topic cursor (one atomic, fsynced
file, mode 0600), and only then sends the reply, signed by the node, through
the hub. A restart resumes after the last record handled, with the day's
budget as it was: nothing is answered twice, nothing is forgotten. A first
start reads the topic from its beginning (kept 7 days), skipping what is stale. A crash
between saving and sending loses one reply (the requester uses the other
evaluators), never spends less than was answered.

The ledger file is ``nodes/<CC>/match-evaluator.json`` in the state directory.

The service logs what it did per request (the requester's country, how many
elements, the budget after it, or the refusal's code): never an element, an
id of a person or a message, or the share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hub.durable import write_atomic
from hub.errors import OperationalError, Reason
from hub.matching.ceremony import MatchPublic
from hub.matching.evaluator import (
    DEFAULT_BUDGET_PER_DAY,
    Answered,
    BudgetLedger,
    Refusal,
    Skipped,
    evaluate_request,
)
from hub.matching.messages import MatchMessage, MatchMessageKind
from hub.matching.threshold import KeyShare
from hub.wire import new_event_id

from .match_topic import MatchRecord
from .node import CountryNode

__all__ = ["LEDGER_FILE", "EvaluatorService", "EvaluatorState", "serve_status"]

log = logging.getLogger("trm.match.evaluator")

LEDGER_FILE: Final = "match-evaluator.json"
# Skipped records (replies to this country's own requests) between two saves of the cursor.
_SAVE_EVERY: Final = 64
_WAIT_S: Final = 1.0


@dataclass(slots=True)
class EvaluatorState:
    """The ledger and the topic cursor, as one file (written atomically, mode 0600)."""

    path: Path
    ledger: BudgetLedger
    cursor: dict[int, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, now_ms: int) -> EvaluatorState:
        """The state saved at ``path``; a fresh one (no cursor) when there is none.

        Raises:
            OperationalError: CONFIG_INVALID when the file is not one (the
                evaluator does not start rather than forget what it spent).
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, BudgetLedger.empty(now_ms))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected the evaluator's ledger as JSON in {path}: {exc}"
            ) from exc
        cursor = raw.get("cursor") if isinstance(raw, dict) else None
        if not isinstance(cursor, dict) or not all(
            isinstance(k, str) and k.isdigit() and type(v) is int and v >= 0
            for k, v in cursor.items()
        ):
            raise OperationalError(
                Reason.CONFIG_INVALID,
                f"expected a cursor (partition -> next offset) in the evaluator's ledger {path}",
            )
        ledger = BudgetLedger.from_json(raw.get("ledger"))
        return cls(path, ledger, {int(k): v for k, v in cursor.items()})

    def save(self) -> None:
        body = {
            "ledger": self.ledger.to_json(),
            "cursor": {str(k): v for k, v in sorted(self.cursor.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self.path, json.dumps(body, sort_keys=True).encode("utf-8"))


@dataclass(slots=True)
class _Counts:
    answered: int = 0
    refused: int = 0
    skipped: int = 0
    unreadable: int = 0


class EvaluatorService:
    """Answers the EVALUATE requests addressed to one country, within its budget.

    Args:
        node: the country's node (signs replies, reads its match topic).
        share: its key share (checked against ``public`` when loaded).
        public: the ceremony's public part.
        limit: blinded elements per requester per UTC day.
        ledger_path: where the ledger and cursor live (default
            ``nodes/<CC>/match-evaluator.json``).
    """

    def __init__(
        self,
        node: CountryNode,
        share: KeyShare,
        public: MatchPublic,
        *,
        limit: int = DEFAULT_BUDGET_PER_DAY,
        ledger_path: Path | None = None,
    ) -> None:
        if limit < 1:
            raise OperationalError(
                Reason.CONFIG_INVALID, f"expected a budget of at least 1 per day, got {limit}"
            )
        self.node, self.share, self.public, self.limit = node, share, public, limit
        self.country = node.country
        self.path = ledger_path or node.state.node(node.country) / LEDGER_FILE
        self.state = EvaluatorState.load(self.path, node.now_ms())
        self.counts = _Counts()
        self.ready = False
        self._unsaved = 0

    def __repr__(self) -> str:  # never shows the share
        return f"EvaluatorService({self.country!r}, limit={self.limit})"

    def is_ready(self) -> bool:
        """Reading its topic and answering (until stopped)."""
        return self.ready

    def status(self) -> dict[str, Any]:
        """What the status page shows: counts only (no requester's ids, no element)."""
        ledger = self.state.ledger.on(self.node.now_ms())
        return {
            "country": self.country,
            "ready": self.ready,
            "index": self.public.index_of(self.country),
            "threshold": int(self.public.threshold),
            "budget_per_day": self.limit,
            "budget_day": ledger.day,
            "requesters_today": len(ledger.used),
            "elements_today": sum(ledger.used.values()),
            "answered": self.counts.answered,
            "refused": self.counts.refused,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Answer requests until ``stop`` is set; the state is saved on the way out.

        Raises:
            OperationalError: KAFKA_UNAVAILABLE when the topic cannot be read.
        """
        topic = self.node.match_topic(start=self.state.cursor)
        async with self.node, topic:
            self.ready = True
            log.info(
                "evaluator of %s ready: share %d of %d (threshold %d), budget %d elements "
                "per requester per UTC day",
                self.country,
                self.public.index_of(self.country),
                len(self.public.members),
                self.public.threshold,
                self.limit,
            )
            try:
                while not stop.is_set():
                    record = await topic.next_record(_WAIT_S)
                    if record is not None:
                        await self.handle(record)
            finally:
                self.ready = False
                self.state.save()

    async def handle(self, record: MatchRecord) -> None:
        """Answer one record of the topic (or skip it), saving before sending."""
        self.state.cursor[record.partition] = record.offset + 1
        message = record.message
        if not isinstance(message, MatchMessage):
            self.counts.unreadable += 1
            log.warning(
                "match record %d:%d refused: %s", record.partition, record.offset, message.reason
            )
            self._skipped()
            return
        now = self.node.now_ms()
        outcome = evaluate_request(
            message,
            country=self.country,
            share=self.share,
            commitments=self.public.commitments,
            ledger=self.state.ledger,
            limit=self.limit,
            now_ms=now,
            reply_id=new_event_id(now),
        )
        self.state.ledger = outcome.ledger
        if isinstance(outcome, Skipped):
            if message.kind is MatchMessageKind.EVALUATE:
                log.info("request from %s not answered: %s", message.sender, outcome.why)
            self._skipped()
            return
        self.state.save()  # spent before it is sent: a crash never undercounts
        self._unsaved = 0
        try:
            await self.node.send_match(outcome.reply)
        except OperationalError as error:
            log.warning("reply to %s not sent: %s", outcome.requester, error.reason)
            return
        if isinstance(outcome, Answered):
            self.counts.answered += 1
            log.info(
                "answered %s: %d element(s), budget %d/%d on %s",
                outcome.requester,
                outcome.elements,
                outcome.ledger.used_by(outcome.requester),
                self.limit,
                outcome.ledger.day,
            )
        elif isinstance(outcome, Refusal):
            self.counts.refused += 1
            log.info("refused %s: %s", outcome.requester, outcome.reason)

    def _skipped(self) -> None:
        self.counts.skipped += 1
        self._unsaved += 1
        if self._unsaved >= _SAVE_EVERY:
            self.state.save()
            self._unsaved = 0


# --- the status page: readiness for 'trm up', counts for an operator ---------------

STATUS_PATH: Final = "/match/evaluator/status"
_MAX_REQUEST: Final = 8192


async def serve_status(
    host: str, port: int, status: Callable[[], Mapping[str, Any]]
) -> asyncio.Server:
    """A minimal HTTP/1.0 server: ``GET /match/evaluator/status`` -> JSON (200 once ready).

    Raises:
        OperationalError: CONFIG_INVALID when the address cannot be had.
    """

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) >= 2 and parts[0] == b"GET" and parts[1] == STATUS_PATH.encode():
            body = status()
            code = "200 OK" if body.get("ready") else "503 Service Unavailable"
            payload = json.dumps(dict(body), sort_keys=True).encode()
        else:
            code, payload = "404 Not Found", b'{"reason":"NOT_FOUND"}'
        writer.write(
            f"HTTP/1.0 {code}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    try:
        return await asyncio.start_server(answer, host, port, limit=_MAX_REQUEST)
    except OSError as exc:
        raise OperationalError(
            Reason.CONFIG_INVALID,
            f"expected to serve the evaluator's status on {host}:{port}: {exc.strerror or exc}",
        ) from exc
