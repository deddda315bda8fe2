"""Flow counts from the audit log (pure): what crossed each corridor, and how fast it was answered.

The auditor's replay (:func:`hub.audit.replay.replay`) computes a :class:`Flows`
from what it already reads and verifies, and nothing else:

- the leaves: each per-recipient decision about an event (DELIVERED,
  ACKNOWLEDGED — an acknowledgement's delivery —, REJECTED), with its producer,
  recipient and leaf index;
- the signed headers of the verified outbox records, matched to a leaf by the
  event digest: the event type, ``created_at`` and ``correlation_id``.

Nothing is opened: the log and the headers hold event ids, pseudonymous case
keys, countries and times, never personal data.

:class:`FlowCount`: per corridor (producer -> recipient), event type and month
(``YYYY-MM``, UTC, of the event's signed ``created_at``), how many deliveries
the log records (DELIVERED and ACKNOWLEDGED leaves) and how many per-recipient
refusals (REJECTED leaves naming that recipient). A record refused whole (not
an envelope, a bad signature, a replay, ...) names no recipient and is in no
corridor: the replay's report counts those by reason code. ``leaves`` are the
indices of the first :data:`FLOW_LEAVES_CAP` leaves counted, for tracing; when
``len(leaves) < delivered + refused`` the list is capped, and
``trm audit leaves`` lists every one.

:class:`AckTime`: an acknowledgement whose signed ``correlation_id`` names an
event the log shows delivered from the acknowledgement's recipient to its
producer, and whose own delivery the log records: ``created_at_ms`` is the
acknowledged event's signed creation time, ``acknowledged_at_ms`` the
acknowledgement's signed creation time (both the producers' clocks, as signed;
the hub's clock is not involved). When a recipient acknowledges one event more
than once (RECEIVED, then ACCEPTED, ...) only the first counts: the status is
in the sealed payload, which an auditor does not read.

Referral to handover acknowledgement (:attr:`Flows.handover_times`): for each
delivered ``referral`` (P -> Q, case key K), the first acknowledgement (as
above) of a ``handover_notice`` with the same case key K, delivered between the
same two countries in either direction, created at or after the referral.
``event_type`` is "referral", ``event_id``/``leaf`` are the referral's and
``acknowledged_at_ms``/``ack_leaf`` the handover acknowledgement's. What this
measures, honestly: the time from the referral until the handover notice was
acknowledged; whether that acknowledgement says HANDED_OVER is sealed, so the
log cannot tell a receipt from a completed handover. The link is the case key
the two countries share, not a signed reference from one event to the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from hub.cases import DEFAULT_ACK_DEADLINE_MS
from hub.errors import Reason, RequestError

__all__ = [
    "ACK_DUE_MS",
    "ACK_TIMES_CAP",
    "FLOW_LEAVES_CAP",
    "AckTime",
    "FlowCount",
    "Flows",
    "ack_summary",
    "month_of",
    "month_start_ms",
]

# Leaf indices kept per FlowCount (the first, by index); `trm audit leaves` lists all.
FLOW_LEAVES_CAP: Final = 20
# Acknowledgement times kept in a report (the earliest acknowledged events first):
# a bound on what a replay of any length holds in memory. Beyond it, Flows says how
# many were left out.
ACK_TIMES_CAP: Final = 100_000


# An acknowledgement later than this after the event's creation is overdue: the
# deadline hub.cases gives the desks and nodes unless told otherwise.
ACK_DUE_MS: Final = DEFAULT_ACK_DEADLINE_MS


def month_of(ms: int) -> str:
    """``YYYY-MM`` (UTC) of a time in milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def month_start_ms(month: str) -> int:
    """The first millisecond (UTC) of a ``YYYY-MM`` month.

    Raises:
        RequestError: BAD_REQUEST if ``month`` is not ``YYYY-MM``.
    """
    try:
        if len(month) != 7 or month[4] != "-":
            raise ValueError(month)
        start = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)
    except ValueError:
        raise RequestError(
            Reason.BAD_REQUEST, f"expected a month YYYY-MM, got {str(month)[:20]!r}"
        ) from None
    return int(start.timestamp() * 1000)


def _bad(what: str, got: Any) -> RequestError:
    return RequestError(
        Reason.BAD_REQUEST, f"expected {what} in a flows document, got {str(got)[:60]!r}"
    )


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise _bad(f"a string {name}", value)
    return value


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(f"a non-negative integer {name}", value)
    return value


def _object(obj: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise _bad(what, obj)
    return obj


def _list(obj: Mapping[str, Any], name: str) -> list[Any]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise _bad(f"a list {name}", value)
    return value


@dataclass(frozen=True, slots=True)
class FlowCount:
    """Deliveries and refusals of one event type on one corridor in one month.

    ``leaves``: the first :data:`FLOW_LEAVES_CAP` leaf indices counted, ascending.
    """

    producer: str
    recipient: str
    event_type: str
    month: str  # "YYYY-MM" (UTC, created_at)
    delivered: int
    refused: int
    leaves: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.delivered + self.refused

    @property
    def capped(self) -> bool:
        """True when ``leaves`` lists fewer leaves than were counted."""
        return len(self.leaves) < self.total

    def to_json(self) -> dict[str, Any]:
        return {
            "producer": self.producer,
            "recipient": self.recipient,
            "event_type": self.event_type,
            "month": self.month,
            "delivered": self.delivered,
            "refused": self.refused,
            "leaves": list(self.leaves),
        }

    @classmethod
    def from_json(cls, obj: Any) -> FlowCount:
        """Raises: RequestError BAD_REQUEST on anything but :meth:`to_json`'s shape."""
        o = _object(obj, "a flow count object")
        month = _str(o, "month")
        month_start_ms(month)
        leaves = _list(o, "leaves")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in leaves):
            raise _bad("leaf indices", leaves)
        return cls(
            _str(o, "producer"),
            _str(o, "recipient"),
            _str(o, "event_type"),
            month,
            _int(o, "delivered"),
            _int(o, "refused"),
            tuple(leaves),
        )


@dataclass(frozen=True, slots=True)
class AckTime:
    """An event delivered ``producer`` -> ``recipient`` and the recipient's first
    acknowledgement of it (see the module docstring for what links them)."""

    producer: str
    recipient: str
    event_type: str
    event_id: str
    created_at_ms: int
    acknowledged_at_ms: int
    leaf: int  # the event's delivery to the recipient
    ack_leaf: int  # the acknowledgement's delivery back to the producer

    @property
    def elapsed_ms(self) -> int:
        return self.acknowledged_at_ms - self.created_at_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "producer": self.producer,
            "recipient": self.recipient,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "created_at_ms": self.created_at_ms,
            "acknowledged_at_ms": self.acknowledged_at_ms,
            "leaf": self.leaf,
            "ack_leaf": self.ack_leaf,
        }

    @classmethod
    def from_json(cls, obj: Any) -> AckTime:
        """Raises: RequestError BAD_REQUEST on anything but :meth:`to_json`'s shape."""
        o = _object(obj, "an acknowledgement time object")
        return cls(
            _str(o, "producer"),
            _str(o, "recipient"),
            _str(o, "event_type"),
            _str(o, "event_id"),
            _int(o, "created_at_ms"),
            _int(o, "acknowledged_at_ms"),
            _int(o, "leaf"),
            _int(o, "ack_leaf"),
        )


@dataclass(frozen=True, slots=True)
class Flows:
    """Flow counts and acknowledgement times from one replay of the log.

    ``counts`` sorted by (month, producer, recipient, event type); ``ack_times``
    and ``handover_times`` by (created_at, event id, recipient).
    ``ack_times_omitted``: acknowledgement times beyond :data:`ACK_TIMES_CAP`
    that the replay counted but did not list (0 unless the log is huge).
    """

    counts: tuple[FlowCount, ...]
    ack_times: tuple[AckTime, ...]
    handover_times: tuple[AckTime, ...] = ()
    ack_times_omitted: int = 0

    def within(self, start_ms: int, end_ms: int) -> Flows:
        """The flows of events created in [start_ms, end_ms).

        A count is kept when its month starts in the interval (so pass month
        or quarter boundaries: a count is a whole month); a time when its
        event's ``created_at_ms`` is in it.
        """
        return Flows(
            tuple(c for c in self.counts if start_ms <= month_start_ms(c.month) < end_ms),
            tuple(a for a in self.ack_times if start_ms <= a.created_at_ms < end_ms),
            tuple(a for a in self.handover_times if start_ms <= a.created_at_ms < end_ms),
            self.ack_times_omitted,
        )

    def to_json(self) -> dict[str, Any]:
        """Deterministic: the same flows give the same JSON, key for key."""
        return {
            "counts": [c.to_json() for c in self.counts],
            "ack_times": [a.to_json() for a in self.ack_times],
            "handover_times": [a.to_json() for a in self.handover_times],
            "ack_times_omitted": self.ack_times_omitted,
            "leaves_cap": FLOW_LEAVES_CAP,
        }

    @classmethod
    def from_json(cls, obj: Any) -> Flows:
        """The flows of :meth:`to_json`'s document (or a replay report holding one
        under ``flows``).

        Raises:
            RequestError: BAD_REQUEST on anything but that shape.
        """
        o = _object(obj, "a flows object")
        if "flows" in o:  # a replay report (its own "counts" are the cross-check counters)
            o = _object(o["flows"], "a flows object")
        return cls(
            tuple(FlowCount.from_json(c) for c in _list(o, "counts")),
            tuple(AckTime.from_json(a) for a in _list(o, "ack_times")),
            tuple(AckTime.from_json(a) for a in _list(o, "handover_times")),
            _int(o, "ack_times_omitted") if "ack_times_omitted" in o else 0,
        )


def _rank(ordered: list[int], percent: int) -> int:
    """The nearest-rank percentile of a sorted, non-empty list: the value at rank
    ceil(percent * n / 100) (integer arithmetic: no float rounding)."""
    return ordered[max(1, -(-percent * len(ordered) // 100)) - 1]


def ack_summary(times: Iterable[AckTime], due_ms: int | None = ACK_DUE_MS) -> list[dict[str, Any]]:
    """Per corridor and event type: how many, median, 90th percentile, maximum, overdue.

    Quantiles are nearest-rank (the value at rank ceil(q*n) of the sorted times,
    so every figure is one observed time); overdue: acknowledged more than
    ``due_ms`` after creation (no ``overdue`` key when ``due_ms`` is None: the
    referral-to-handover times have no deadline, days are normal there).
    ``slowest``: the slowest one's two leaves. Sorted by producer, recipient,
    event type.
    """
    groups: dict[tuple[str, str, str], list[AckTime]] = {}
    for a in times:
        groups.setdefault((a.producer, a.recipient, a.event_type), []).append(a)
    out = []
    for (producer, recipient, event_type), group in sorted(groups.items()):
        ordered = sorted(a.elapsed_ms for a in group)
        slowest = max(group, key=lambda a: (a.elapsed_ms, -a.leaf))
        row: dict[str, Any] = {
            "producer": producer,
            "recipient": recipient,
            "event_type": event_type,
            "n": len(ordered),
            "median_ms": _rank(ordered, 50),
            "p90_ms": _rank(ordered, 90),
            "max_ms": ordered[-1],
        }
        if due_ms is not None:
            row["overdue"] = sum(1 for t in ordered if t > due_ms)
        row["slowest"] = {"leaf": slowest.leaf, "ack_leaf": slowest.ack_leaf}
        out.append(row)
    return out
