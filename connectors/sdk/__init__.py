"""The country-node SDK: publish to the hub, read a verified inbox, acknowledge.

::

    async with CountryNode("KH", key_path, trust, bootstrap) as node:
        event_id = await node.publish(Submission.from_json(obj))
        async for record in node.inbox():
            await node.acknowledge(record, status="ACCEPTED")
"""

from __future__ import annotations

from .node import CountryNode
from .records import WITHHELD, InboxRecord, InboxRefusal, Rejection, Withheld
from .store import NodeStore
from .submission import (
    ACK_STATUSES,
    DEFAULT_HANDLING,
    Submission,
    key_fields,
    row_event_id,
    uuid7_from,
)

__all__ = [
    "ACK_STATUSES",
    "DEFAULT_HANDLING",
    "WITHHELD",
    "CountryNode",
    "InboxRecord",
    "InboxRefusal",
    "NodeStore",
    "Rejection",
    "Submission",
    "Withheld",
    "key_fields",
    "row_event_id",
    "uuid7_from",
]
