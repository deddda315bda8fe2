"""Member countries and the Kafka topic names of DESIGN.md ("Topics").

Country codes are ISO 3166-1 alpha-2, upper case. The six COMMIT members are
the default set; a country that joins later is added to the trust list and gets
the same three topics.
"""

from __future__ import annotations

import re
from typing import Final

from hub.errors import Reason, RequestError

__all__ = [
    "AUDIT_CHECKPOINTS",
    "AUDIT_LEAVES",
    "COMMIT_COUNTRIES",
    "DECISIONS",
    "QUARANTINE",
    "REGISTRY_AGREEMENTS",
    "REGISTRY_TRUST",
    "all_topics",
    "check_country",
    "country_of_outbox",
    "inbox",
    "outbox",
    "rejections",
]

COMMIT_COUNTRIES: Final = ("KH", "CN", "LA", "MM", "TH", "VN")

QUARANTINE: Final = "trm.hub.quarantine"
AUDIT_LEAVES: Final = "trm.audit.leaves"
AUDIT_CHECKPOINTS: Final = "trm.audit.checkpoints"
REGISTRY_TRUST: Final = "trm.registry.trust"
REGISTRY_AGREEMENTS: Final = "trm.registry.agreements"
# The hub's internal decision stream: every agent writes its decisions here, and
# the single audit sequencer turns them into leaves (one partition, one writer).
DECISIONS: Final = "trm.hub.decisions"

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_OUTBOX = re.compile(r"^trm\.([A-Z]{2})\.outbox$")


def check_country(code: str) -> str:
    """Return ``code`` if it is a two-letter upper-case country code.

    Raises:
        RequestError: UNKNOWN_COUNTRY when it is not of that form.
    """
    if not _COUNTRY.match(code):
        raise RequestError(
            Reason.UNKNOWN_COUNTRY,
            f"expected an ISO 3166-1 alpha-2 code in upper case (e.g. TH), got {code!r}",
        )
    return code


def outbox(country: str) -> str:
    """Topic a country writes its events to."""
    return f"trm.{check_country(country)}.outbox"


def inbox(country: str) -> str:
    """Topic the hub delivers a country's events to."""
    return f"trm.{check_country(country)}.inbox"


def rejections(country: str) -> str:
    """Topic the hub tells a country why its submission was refused."""
    return f"trm.{check_country(country)}.rejections"


def country_of_outbox(topic: str) -> str | None:
    """The country whose outbox ``topic`` is, or None if it is not an outbox."""
    m = _OUTBOX.match(topic)
    return m.group(1) if m else None


def all_topics(countries: tuple[str, ...] = COMMIT_COUNTRIES) -> dict[str, bool]:
    """Every topic the project uses, mapped to whether it is compacted."""
    topics: dict[str, bool] = {}
    for cc in countries:
        topics[outbox(cc)] = False
        topics[inbox(cc)] = False
        topics[rejections(cc)] = False
    for name in (QUARANTINE, AUDIT_LEAVES, AUDIT_CHECKPOINTS, DECISIONS):
        topics[name] = False
    topics[REGISTRY_TRUST] = True
    topics[REGISTRY_AGREEMENTS] = True
    return topics
