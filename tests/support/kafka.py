"""Reading topics in tests, through the project's one reader (hub.app.kafka.Follower)."""

from __future__ import annotations

from typing import Any

from hub.app.kafka import Follower

__all__ = ["read_topic"]


async def read_topic(bootstrap: str, topic: str, **client: Any) -> list[Any]:
    """Every record of ``topic`` now, all partitions, in timestamp order."""
    follower = Follower(bootstrap, [topic], **client)
    try:
        out = [r async for batch in follower.records() for r in batch]
        return sorted(out, key=lambda r: r.timestamp)
    finally:
        await follower.close()
