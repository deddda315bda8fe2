"""The country-node SDK: publish to the hub, read a verified inbox, acknowledge.

::

    async with CountryNode("KH", key_path, trust, bootstrap) as node:
        event_id = await node.publish(Submission.from_json(obj))   # sealed (v2)
        async for record in node.inbox():                          # opened with KH's keys
            await node.acknowledge(record, status="ACCEPTED")      # marked seen after this

A whole pass to show at once: ``shown = await node.read_inbox()``, write it out,
then ``node.mark_shown(shown)``; nothing counts as seen before that.

Events are sealed to their recipients by default; ``publish(..., unsealed=True)``
sends a v1 event the hub can read (interop only).
"""

from __future__ import annotations

from .cases import (
    CaseBook,
    CaseSummary,
    OverdueItem,
    TimelineEntry,
    record_status,
    report_reintegration,
    send_alerts,
)
from .node import CountryNode
from .records import (
    RECIPIENT_SOURCE,
    WITHHELD,
    InboxPass,
    InboxRecord,
    InboxRefusal,
    Rejection,
    Withheld,
)
from .store import NodeStore
from .submission import (
    ACK_STATUSES,
    DEFAULT_HANDLING,
    ERASURE_REASONS,
    Submission,
    key_fields,
    row_event_id,
    uuid7_from,
)

__all__ = [
    "ACK_STATUSES",
    "DEFAULT_HANDLING",
    "ERASURE_REASONS",
    "RECIPIENT_SOURCE",
    "WITHHELD",
    "CaseBook",
    "CaseSummary",
    "CountryNode",
    "InboxPass",
    "InboxRecord",
    "InboxRefusal",
    "NodeStore",
    "OverdueItem",
    "Rejection",
    "Submission",
    "TimelineEntry",
    "Withheld",
    "key_fields",
    "record_status",
    "report_reintegration",
    "row_event_id",
    "send_alerts",
    "uuid7_from",
]
