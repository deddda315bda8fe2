"""A deployment's own event type, written to a directory as a deployment would.

``write_welfare_check(directory)`` writes ``event_types.json`` and
``welfare_check.avsc``: a type the project does not ship, registered with
``hub.wire.register_from(directory)`` or ``TRM_EVENT_TYPES=directory``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["WELFARE_CHECK", "WELFARE_PAYLOAD", "welfare_schema", "write_welfare_check"]

WELFARE_CHECK = "welfare_check"
WELFARE_PAYLOAD: dict[str, Any] = {
    "check_id": "KH-WC-0042",
    "visited_at": 1_767_225_600_000,
    "outcome": "SAFE",
    "social_worker_notes": "Lives with her aunt; attends school again.",
}


def welfare_schema() -> dict[str, Any]:
    """The payload schema: every field nullable with default null, as the wire requires."""

    def nullable(name: str, kind: Any) -> dict[str, Any]:
        return {"name": name, "type": ["null", kind], "default": None}

    return {
        "type": "record",
        "name": "WelfareCheck",
        "namespace": "org.example.deployment",
        "doc": "A social worker's visit after a return (a deployment's own type).",
        "fields": [
            nullable("check_id", "string"),
            nullable("visited_at", {"type": "long", "logicalType": "timestamp-millis"}),
            nullable(
                "outcome",
                {"type": "enum", "name": "WelfareOutcome", "symbols": ["SAFE", "AT_RISK"]},
            ),
            nullable("social_worker_notes", "string"),
        ],
    }


def write_welfare_check(directory: Path, **overrides: Any) -> Path:
    """Write the registration and schema into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    registration = {
        "name": WELFARE_CHECK,
        "title": "welfare check",
        "default_purpose": "reintegration",
        "summary": {"outcome": "outcome"},
        **overrides,
    }
    (directory / "event_types.json").write_text(json.dumps([registration]), encoding="utf-8")
    (directory / f"{WELFARE_CHECK}.avsc").write_text(
        json.dumps(welfare_schema(), indent=2), encoding="utf-8"
    )
    return directory
