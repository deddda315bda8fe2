"""The evaluator's pure core: one verified EVALUATE in, an EVALUATION or a REFUSED out.

A country that holds a share of the match key runs an evaluator
(``trm match evaluator``). Its Kafka edge (``connectors.sdk.evaluator``)
verifies each record of the country's match topic (``open_message``) and
calls :func:`evaluate_request` with the share, the budget ledger and the
time; it writes the reply the function returns, after saving the ledger the
function returns (so a crash between the two overcounts, never undercounts).

The budget (docs/protocol.md 13.3, docs/operations.md "Evaluators and
budgets") is counted **per blinded element**, per requesting country, per UTC
day: each element is one evaluation of the PRF, so one guess in a dictionary
attack, whatever the request it came in (a name gives a few blocking keys, a
phone number one). A request that would take a requester past the limit is
refused whole (MATCH_BUDGET_EXHAUSTED: nothing evaluated, nothing counted);
the count starts again at 00:00 UTC. Every EVALUATION says the day, the
requester's count after it and the limit, signed by the evaluator, so the
audit replay can check that no evaluator answered beyond its budget.

A request is answered once: its message id is remembered for the day, and a
second copy (a redelivery after a restart) is skipped, not charged again. A
request older than :data:`STALE_MS` is skipped too: its requester has given
up waiting, and an answer would cost budget for nothing.

Nothing here logs; nothing returned quotes an element.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from hub.errors import MatchError, OperationalError, Reason, TrmError
from hub.matching.messages import (
    Evaluate,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
    Refused,
)
from hub.matching.threshold import Commitments, KeyShare, partial_evaluate

__all__ = [
    "DEFAULT_BUDGET_PER_DAY",
    "REMEMBERED_PER_DAY",
    "STALE_MS",
    "Answered",
    "BudgetLedger",
    "EvaluatorOutcome",
    "Refusal",
    "Skipped",
    "evaluate_request",
    "utc_day",
]

# Blinded elements one requesting country may have evaluated per UTC day by one
# evaluator: a focal point's busy day (a few hundred queries of one to four
# elements each) with room to spare, and three orders of magnitude below what
# testing a dictionary of phone numbers would need.
DEFAULT_BUDGET_PER_DAY: Final = 1000
# A request created longer ago than this is not answered: the SDK waits 20 s
# by default (connectors.sdk.matching), so its requester has long given up.
STALE_MS: Final = 120_000
# How many request ids a ledger remembers per day (to skip a redelivered one);
# past it the oldest are forgotten (each answer costs budget, so this bounds
# only refused and skipped requests).
REMEMBERED_PER_DAY: Final = 4096

_DAY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")


def utc_day(now_ms: int) -> str:
    """The UTC calendar day of ``now_ms`` as ``YYYY-MM-DD``."""
    return dt.datetime.fromtimestamp(now_ms // 1000, tz=dt.UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class BudgetLedger:
    """What one evaluator has spent on one UTC day (no identifier, no element).

    Attributes:
        day: the UTC day counted (``YYYY-MM-DD``).
        used: blinded elements evaluated that day, per requesting country.
        answered: ids of the EVALUATE messages answered or refused that day,
            oldest first (at most :data:`REMEMBERED_PER_DAY`).
    """

    day: str
    used: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    answered: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _DAY.match(self.day):
            raise OperationalError(
                Reason.CONFIG_INVALID, f"budget ledger: expected a day YYYY-MM-DD, got {self.day!r}"
            )
        object.__setattr__(self, "used", MappingProxyType(dict(self.used)))

    @classmethod
    def empty(cls, now_ms: int) -> BudgetLedger:
        return cls(utc_day(now_ms))

    def on(self, now_ms: int) -> BudgetLedger:
        """This ledger if ``now_ms`` falls on its day, else an empty one for that day."""
        day = utc_day(now_ms)
        return self if day == self.day else BudgetLedger(day)

    def used_by(self, requester: str) -> int:
        return self.used.get(requester, 0)

    def has_answered(self, message_id: str) -> bool:
        return message_id in self.answered

    def _remember(self, message_id: str) -> tuple[str, ...]:
        return (*self.answered, message_id)[-REMEMBERED_PER_DAY:]

    def spend(self, requester: str, elements: int, message_id: str) -> BudgetLedger:
        used = {**self.used, requester: self.used_by(requester) + elements}
        return BudgetLedger(self.day, used, self._remember(message_id))

    def refuse(self, message_id: str) -> BudgetLedger:
        return BudgetLedger(self.day, self.used, self._remember(message_id))

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "used": dict(sorted(self.used.items())),
            "answered": list(self.answered),
        }

    @classmethod
    def from_json(cls, obj: Any) -> BudgetLedger:
        """A ledger read back from its file.

        Raises:
            OperationalError: CONFIG_INVALID when ``obj`` is not one; an
                evaluator refuses to start rather than forget what it spent.
        """
        problem = "an object with day, used and answered"
        if isinstance(obj, Mapping):
            day, used, answered = obj.get("day"), obj.get("used"), obj.get("answered")
            if (
                isinstance(day, str)
                and isinstance(used, Mapping)
                and all(
                    isinstance(k, str) and _COUNTRY.match(k) and type(v) is int and v >= 0
                    for k, v in used.items()
                )
                and isinstance(answered, list)
                and all(isinstance(a, str) for a in answered)
            ):
                return cls(day, dict(used), tuple(answered))
        raise OperationalError(
            Reason.CONFIG_INVALID, f"budget ledger: expected {problem}, found something else"
        )


@dataclass(frozen=True, slots=True)
class Answered:
    """The request was evaluated: send ``reply`` (an EVALUATION) once ``ledger`` is saved."""

    reply: MatchMessage
    ledger: BudgetLedger
    requester: str
    elements: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """The request was refused: send ``reply`` (a REFUSED) once ``ledger`` is saved."""

    reply: MatchMessage
    ledger: BudgetLedger
    requester: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing to send: not a request for this evaluator, a second copy, or stale."""

    why: str
    ledger: BudgetLedger


EvaluatorOutcome = Answered | Refusal | Skipped


def _refuse(
    message: MatchMessage,
    body: Evaluate,
    *,
    country: str,
    ledger: BudgetLedger,
    error: TrmError,
    now_ms: int,
    reply_id: str,
) -> Refusal:
    reply = MatchMessage(
        kind=MatchMessageKind.REFUSED,
        message_id=reply_id,
        sender=country,
        recipient=message.sender,
        correlation_id=message.message_id,
        created_at_ms=now_ms,
        body=Refused.of(error),
    )
    return Refusal(reply, ledger.refuse(message.message_id), message.sender, error.reason)


def evaluate_request(
    message: MatchMessage,
    *,
    country: str,
    share: KeyShare,
    commitments: Commitments,
    ledger: BudgetLedger,
    limit: int,
    now_ms: int,
    reply_id: str,
) -> EvaluatorOutcome:
    """Answer one verified match message addressed to this evaluator's country.

    Args:
        message: a message whose signature was verified (``open_message``).
        country: the evaluator's country (the share's holder).
        share: its key share, checked against ``commitments`` when loaded.
        commitments: the ceremony's public commitments.
        ledger: the budget spent so far (any day: rolled over here).
        limit: blinded elements per requester per UTC day.
        now_ms: the evaluator's clock.
        reply_id: the reply's message id (a fresh UUIDv7).

    Returns:
        :class:`Answered` with an EVALUATION (one partial evaluation and DLEQ
        proof per blinded element, in order, with the budget after it),
        :class:`Refusal` with a REFUSED (MATCH_BUDGET_EXHAUSTED, or the
        reason an element could not be evaluated), or :class:`Skipped`. The
        ledger in each is the one to save before sending.
    """
    ledger = ledger.on(now_ms)
    if message.kind is not MatchMessageKind.EVALUATE or not isinstance(message.body, Evaluate):
        return Skipped(f"a {message.kind} message is not a request to evaluate", ledger)
    if message.recipient != country:
        return Skipped(f"addressed to {message.recipient}, not {country}", ledger)
    if not _COUNTRY.match(message.sender):
        return Skipped(f"a request from {message.sender}, not a country", ledger)
    if ledger.has_answered(message.message_id):
        return Skipped("a second copy of a request already answered today", ledger)
    if now_ms - message.created_at_ms > STALE_MS:
        return Skipped(f"a request older than {STALE_MS // 1000} s", ledger)
    body = message.body
    requester, elements = message.sender, len(body.blinded)
    used = ledger.used_by(requester)

    def refuse(error: TrmError) -> Refusal:
        return _refuse(
            message, body, country=country, ledger=ledger, error=error,
            now_ms=now_ms, reply_id=reply_id,
        )  # fmt: skip

    if used + elements > limit:
        return refuse(
            MatchError(
                Reason.MATCH_BUDGET_EXHAUSTED,
                f"expected at most {limit} elements per requester per UTC day from evaluator "
                f"{country}; {requester} has used {used} on {ledger.day} and this request "
                f"needs {elements} more (the count starts again at 00:00 UTC)",
            )
        )
    try:
        partials = tuple(partial_evaluate(share, commitments, b) for b in body.blinded)
    except TrmError as error:  # an element that is not a group element: the requester's fault
        return refuse(error)
    spent = ledger.spend(requester, elements, message.message_id)
    reply = MatchMessage(
        kind=MatchMessageKind.EVALUATION,
        message_id=reply_id,
        sender=country,
        recipient=requester,
        correlation_id=message.message_id,
        created_at_ms=now_ms,
        body=Evaluation(
            query_id=body.query_id,
            partials=partials,
            budget_used=spent.used_by(requester),
            budget_limit=limit,
            budget_day=spent.day,
        ),
    )
    return Answered(reply, spent, requester, elements)
