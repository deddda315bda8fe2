"""Member countries, the Kafka topic names and the principals that use them.

Country codes are ISO 3166-1 alpha-2, upper case. The six COMMIT members are
the default set; a country that joins later is added to the trust list and gets
the same three topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from hub.errors import Reason, RequestError

__all__ = [
    "ADMIN",
    "AUDITOR",
    "AUDIT_CHECKPOINTS",
    "AUDIT_LEAVES",
    "BROKER",
    "COMMIT_COUNTRIES",
    "DECISIONS",
    "HUB",
    "QUARANTINE",
    "REGISTRY_AGREEMENTS",
    "REGISTRY_TRUST",
    "Topics",
    "all_topics",
    "check_country",
    "country_of_outbox",
    "inbox",
    "outbox",
    "principal_of",
    "principals",
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

# Kafka principals (SCRAM user names) besides the countries' own.
HUB: Final = "hub"
AUDITOR: Final = "auditor"
ADMIN: Final = "admin"
BROKER: Final = "broker"

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_OUTBOX = re.compile(r"^trm\.([A-Z]{2})\.outbox$")
_NAMESPACE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


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


def principal_of(who: str) -> str:
    """The Kafka principal (SCRAM user name) for a country code or a role name.

    Countries are lower case (``KH`` -> ``kh``) because Strimzi names each
    ``KafkaUser`` after its user and Kubernetes names are lower case; the same
    names are used locally and in Compose so ACLs read the same everywhere.

    Raises:
        RequestError: UNAUTHENTICATED for anything else.
    """
    if len(who) == 2 and who.isalpha():
        return check_country(who.upper()).lower()
    if who in (HUB, AUDITOR, ADMIN, BROKER):
        return who
    raise RequestError(
        Reason.UNAUTHENTICATED,
        f"expected a country code or one of {HUB}, {AUDITOR}, {ADMIN}, {BROKER}; got {who!r}",
    )


def principals(countries: Iterable[str] = COMMIT_COUNTRIES) -> tuple[str, ...]:
    """Every principal of a deployment: countries, hub, auditor, admin, broker."""
    return (*(principal_of(c) for c in countries), HUB, AUDITOR, ADMIN, BROKER)


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


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one namespace (``trm`` in production).

    A test or a second deployment on the same cluster uses its own namespace
    (``t3f9.TH.outbox``) so that nothing it writes reaches another's topics.
    """

    namespace: str = "trm"

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise RequestError(
                Reason.CONFIG_INVALID,
                f"expected a topic namespace of 1-32 lower-case letters, digits, '-' or '_' "
                f"starting with a letter, got {self.namespace!r}",
            )

    def outbox(self, country: str) -> str:
        return f"{self.namespace}.{check_country(country)}.outbox"

    def inbox(self, country: str) -> str:
        return f"{self.namespace}.{check_country(country)}.inbox"

    def rejections(self, country: str) -> str:
        return f"{self.namespace}.{check_country(country)}.rejections"

    @property
    def quarantine(self) -> str:
        return f"{self.namespace}.hub.quarantine"

    @property
    def decisions(self) -> str:
        return f"{self.namespace}.hub.decisions"

    @property
    def audit_leaves(self) -> str:
        return f"{self.namespace}.audit.leaves"

    @property
    def audit_checkpoints(self) -> str:
        return f"{self.namespace}.audit.checkpoints"

    @property
    def registry_trust(self) -> str:
        return f"{self.namespace}.registry.trust"

    @property
    def registry_agreements(self) -> str:
        return f"{self.namespace}.registry.agreements"

    def country_of_outbox(self, topic: str) -> str | None:
        """The country whose outbox ``topic`` is in this namespace, or None."""
        prefix, suffix = f"{self.namespace}.", ".outbox"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return None
        cc = topic[len(prefix) : -len(suffix)]
        return cc if _COUNTRY.match(cc) else None

    def config_for(self, topic: str) -> dict[str, str]:
        """Topic settings beyond retention and replication that the hub relies on.

        Outboxes are stamped by the broker (LogAppendTime): the hub attests a
        delivery at that time, so processing a record again after a crash
        yields byte-identical deliveries (docs/decisions.md D11).
        """
        if self.country_of_outbox(topic) is not None:
            return {"message.timestamp.type": "LogAppendTime"}
        return {}

    def all(self, countries: tuple[str, ...] = COMMIT_COUNTRIES) -> dict[str, bool]:
        """Every topic of this namespace, mapped to whether it is compacted."""
        topics: dict[str, bool] = {}
        for cc in countries:
            topics[self.outbox(cc)] = False
            topics[self.inbox(cc)] = False
            topics[self.rejections(cc)] = False
        for name in (self.quarantine, self.audit_leaves, self.audit_checkpoints, self.decisions):
            topics[name] = False
        topics[self.registry_trust] = True
        topics[self.registry_agreements] = True
        return topics
