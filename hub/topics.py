"""Member countries, the Kafka topics, and the one plan of those topics.

Country codes are ISO 3166-1 alpha-2, upper case. The six COMMIT members are
the default set; a country that joins later is added to the trust list and gets
the same three topics.

:meth:`Topics.plan` is the only place that says how many partitions a topic
has, whether it is compacted, how long it keeps records, which principals write
and read it (the ACLs follow from that) and what record it carries. The local
broker, the secure broker, the Kubernetes generator, the AsyncAPI document
(``hub.asyncapi``) and the topic table of docs/protocol.md section 8 are all
made from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from hub.errors import Reason, RequestError
from hub.wire.vocab import DEFAULT_MAX_SIZE

__all__ = [
    "ADMIN",
    "AUDITOR",
    "BROKER",
    "COMMIT_COUNTRIES",
    "COUNTRY_NAMES",
    "COUNTRY_PARTITIONS",
    "HUB",
    "HUB_MAX_RECORD_BYTES",
    "KEEP_FOREVER_MS",
    "MATCH_RETENTION_MS",
    "MIN_INSYNC_REPLICAS",
    "OUTBOX_MAX_MESSAGE_BYTES",
    "OUTBOX_PARTITIONS",
    "QUARANTINE_MAX_MESSAGE_BYTES",
    "QUARANTINE_RETENTION_MS",
    "RECORD_ALLOWANCE_BYTES",
    "REPLICAS",
    "STATE_RETENTION_MS",
    "Record",
    "TopicSpec",
    "Topics",
    "check_country",
    "leaf_writer",
    "principal_of",
    "principals",
]

# The COMMIT members and their names: the one list of countries in the project.
COUNTRY_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "KH": "Cambodia",
        "CN": "China",
        "LA": "Lao PDR",
        "MM": "Myanmar",
        "TH": "Thailand",
        "VN": "Viet Nam",
    }
)
COMMIT_COUNTRIES: Final = tuple(COUNTRY_NAMES)

# Kafka principals (SCRAM user names) besides the countries' own.
HUB: Final = "hub"
AUDITOR: Final = "auditor"
ADMIN: Final = "admin"
BROKER: Final = "broker"

# One count for every country lane and the quarantine (docs/protocol.md section 8
# says why): the Kafka key is the case key, so a case stays on one partition.
COUNTRY_PARTITIONS: Final = 3
# Outboxes have more: they are what the hub's workers share, and Faust assigns
# co-subscribed topics with the same partition count as co-partitioned (partition
# N of every outbox to one worker), so the partitions of one outbox bound how many
# workers have work and how evenly (3 split 2:1 over two workers; 6 split 3:3).
OUTBOX_PARTITIONS: Final = 6
# A production cluster (Compose, Kubernetes): three brokers, so every topic has three
# replicas and a write needs two in sync; it survives the loss of one broker.
REPLICAS: Final = 3
MIN_INSYNC_REPLICAS: Final = 2
# Kafka's retention.ms for "never delete by age": the audit replay needs every record.
KEEP_FOREVER_MS: Final = -1
# How long the hub's state topic keeps a record: the dedupe window
# (hub.pipeline.Limits.max_age_ms, 30 days: an older event is refused CLOCK_SKEW
# before the REPLAY check) plus a day for clock skew between workers and for
# hub.state.PRUNE_MARGIN_MS (a unit test keeps the three in that order).
STATE_RETENTION_MS: Final = 31 * 24 * 3600 * 1000
# How long the quarantine keeps a refused record's copy: long enough for the
# producer to be told (its rejections topic) and to look, short because a copy
# helps nobody once that is done. It holds sealed bytes only (hub.pipeline);
# the audit replay does not ask for copies older than this.
QUARANTINE_RETENTION_MS: Final = 14 * 24 * 3600 * 1000
# How long the match request topic and the countries' match topics keep a record:
# they carry match keys and blinded elements (pseudonymous data of persons), which
# nobody needs once a message is answered; the audit log keeps what was decided.
MATCH_RETENTION_MS: Final = 7 * 24 * 3600 * 1000

# Size limits (docs/protocol.md section 2.6, docs/decisions.md D17). The envelope's
# limit is the wire's (hub.wire.DEFAULT_MAX_SIZE: the hub refuses a bigger one
# OVERSIZED); the topics' limits follow from it, so that every record an outbox
# accepts is one the hub can record: refused, and its original bytes kept.
# Room for what surrounds a value in a Kafka record batch (batch framing, key,
# headers): a legitimate envelope at the limit, with its CloudEvents headers, fits.
RECORD_ALLOWANCE_BYTES: Final = 16 * 1024
# An outbox's max.message.bytes. Outboxes store records uncompressed
# (compression.type=uncompressed), so the broker checks this against the bytes
# the hub will read, not against a compressed batch that could hold far more.
OUTBOX_MAX_MESSAGE_BYTES: Final = DEFAULT_MAX_SIZE + RECORD_ALLOWANCE_BYTES
# The quarantine's (and an inbox's) max.message.bytes: a whole outbox record
# (value and headers), sealed to its producer (about 200 bytes more), with the
# hub's own headers (trm-effect, trm-reason, trm-source).
QUARANTINE_MAX_MESSAGE_BYTES: Final = OUTBOX_MAX_MESSAGE_BYTES + RECORD_ALLOWANCE_BYTES
# The largest record the hub writes: its producer's max_request_size.
HUB_MAX_RECORD_BYTES: Final = QUARANTINE_MAX_MESSAGE_BYTES

_COUNTRY = re.compile(r"^[A-Z]{2}$")
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


def leaf_writer(audit_app_id: str) -> str:
    """The transactional id of the audit sequencer's writer (``Topics.audit_group``).

    One id for the one writer of the leaves and its checkpoints: a sequencer
    that starts fences off a previous one under the same id, whose unfinished
    batch of leaves the broker then aborts (docs/protocol.md section 9.1).
    """
    return f"{audit_app_id}-leaves"


def principals(countries: Iterable[str] = COMMIT_COUNTRIES) -> tuple[str, ...]:
    """Every principal of a deployment: countries, hub, auditor, admin, broker."""
    return (*(principal_of(c) for c in countries), HUB, AUDITOR, ADMIN, BROKER)


class Record(StrEnum):
    """What a topic's record values are (``hub.asyncapi`` describes each one)."""

    EVENT = "event"  # a producer's sealed Envelope, framed Avro (protocol section 2)
    DELIVERY = "delivery"  # the redacted Envelope with a hub attestation (section 4)
    REJECTION = "rejection"  # JSON refusal notice, protocol section 8
    QUARANTINED = "quarantined"  # the refused record's original bytes, unparsed
    DECISION = "decision"  # JSON decision record, protocol section 9
    AUDIT_LEAF = "audit_leaf"  # framed Avro AuditLeaf (schemas/audit_leaf.avsc)
    CHECKPOINT = "checkpoint"  # C2SP signed note text, protocol section 9.3
    TRUST_LIST = "trust_list"  # signed JSON trust list, protocol section 6
    AGREEMENT = "agreement"  # signed JSON agreement, protocol section 7
    SEAL_KEYS = "seal_keys"  # signed JSON seal-key set of one country (hub.sealkeys)
    HUB_STATE = "hub_state"  # the hub's recovery notes (hub.state): text, hub-only
    MATCH_MESSAGE = "match_message"  # a signed match message, framed Avro (section 13.3)
    MATCH_INDEX = "match_index"  # one registration in the hub's match index: JSON, hub-only

    @property
    def avro_schema(self) -> str | None:
        """The ``schemas/<name>.avsc`` of an Avro record; None for JSON, text or raw bytes."""
        return {
            Record.EVENT: "envelope",
            Record.DELIVERY: "envelope",
            Record.AUDIT_LEAF: "audit_leaf",
            Record.MATCH_MESSAGE: "match_signed",
        }.get(self)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic of the plan: its Kafka settings, who uses it, what it carries.

    ``writers`` and ``readers`` are Kafka principals; each writer gets a WRITE
    and each reader a READ ACL (``hub.ops.security.acl_bindings``), except the
    super users (``admin``, ``broker``), who need none.
    """

    name: str
    partitions: int
    compacted: bool
    retention_ms: int | None  # None: not set (a compacted topic keeps the last value per key)
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    record: Record
    key: str  # what the Kafka record key is
    description: str
    extra_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def cleanup_policy(self) -> str:
        """Kafka's cleanup.policy: a compacted topic with a retention also deletes by age."""
        if not self.compacted:
            return "delete"
        return "compact" if self.retention_ms is None else "compact,delete"

    @property
    def config(self) -> dict[str, str]:
        """The topic-level Kafka settings (without replication, which is per cluster)."""
        out = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        return {**out, **self.extra_config}


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
    def hub_state(self) -> str:
        return f"{self.namespace}.hub.state"

    @property
    def hub_bookmarks(self) -> str:
        return f"{self.namespace}.hub.bookmarks"

    @property
    def audit_leaves(self) -> str:
        return f"{self.namespace}.audit.leaves"

    @property
    def audit_checkpoints(self) -> str:
        return f"{self.namespace}.audit.checkpoints"

    @property
    def audit_group(self) -> str:
        """The audit sequencer's Faust app id and consumer group (under the hub's prefix)."""
        return f"trm-hub-{self.namespace}-audit"

    @property
    def registry_trust(self) -> str:
        return f"{self.namespace}.registry.trust"

    @property
    def registry_agreements(self) -> str:
        return f"{self.namespace}.registry.agreements"

    @property
    def registry_seal_keys(self) -> str:
        return f"{self.namespace}.registry.seal-keys"

    def match(self, country: str) -> str:
        """Where the hub writes the match messages addressed to ``country``."""
        return f"{self.namespace}.{check_country(country)}.match"

    @property
    def match_requests(self) -> str:
        """Where every member writes every match message (the hub reads them)."""
        return f"{self.namespace}.match.requests"

    @property
    def match_index(self) -> str:
        """The hub's match index: one compacted record per registration."""
        return f"{self.namespace}.hub.match-index"

    def country_of_outbox(self, topic: str) -> str | None:
        """The country whose outbox ``topic`` is in this namespace, or None."""
        prefix, suffix = f"{self.namespace}.", ".outbox"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return None
        cc = topic[len(prefix) : -len(suffix)]
        return cc if _COUNTRY.match(cc) else None

    def plan(self, countries: Iterable[str] = COMMIT_COUNTRIES) -> tuple[TopicSpec, ...]:
        """Every topic of this namespace: the one plan that brokers, ACLs and docs follow.

        Outboxes have :data:`OUTBOX_PARTITIONS` partitions, the other country
        lanes and the quarantine :data:`COUNTRY_PARTITIONS`; what has one
        writer in a total order (the decisions, the audit log) or is read whole
        (the registry, the hub's state) has one.
        No evidence expires by age; the registry is compacted and keyed by
        version, so every version stays; the hub's state topic is compacted
        and forgets by age past the dedupe window. Outboxes are stamped by the
        broker (LogAppendTime): the hub attests a delivery at that time, so
        processing a record again after a crash yields byte-identical
        deliveries (docs/decisions.md D11).
        """
        ccs = tuple(check_country(c) for c in countries)
        members = tuple(principal_of(c) for c in ccs)
        specs: list[TopicSpec] = []

        def add(
            name: str,
            record: Record,
            key: str,
            description: str,
            *,
            writers: tuple[str, ...],
            readers: tuple[str, ...],
            partitions: int = 1,
            compacted: bool = False,
            retention_ms: int | None = None,
            extra: Mapping[str, str] | None = None,
        ) -> None:
            if retention_ms is None and not compacted:
                retention_ms = KEEP_FOREVER_MS
            specs.append(
                TopicSpec(
                    name=name,
                    partitions=partitions,
                    compacted=compacted,
                    retention_ms=retention_ms,
                    writers=writers,
                    readers=readers,
                    record=record,
                    key=key,
                    description=description,
                    extra_config=MappingProxyType(dict(extra or {})),
                )
            )

        for cc, user in zip(ccs, members, strict=True):
            add(
                self.outbox(cc),
                partitions=OUTBOX_PARTITIONS,
                writers=(user,),
                readers=(HUB, AUDITOR),
                record=Record.EVENT,
                key="the event's case key",
                description=f"{cc} submits its signed, sealed events here; the hub reads them.",
                extra={
                    "message.timestamp.type": "LogAppendTime",
                    "max.message.bytes": str(OUTBOX_MAX_MESSAGE_BYTES),
                    "compression.type": "uncompressed",
                },
            )
            add(
                self.inbox(cc),
                partitions=COUNTRY_PARTITIONS,
                writers=(HUB,),
                readers=(user, HUB, AUDITOR),
                record=Record.DELIVERY,
                key="the event's case key",
                description=(
                    f"The hub delivers events addressed to {cc} here: redacted to what an "
                    "agreement allows, with a hub attestation."
                ),
                # an envelope the hub accepted, plus one attestation
                extra={"max.message.bytes": str(QUARANTINE_MAX_MESSAGE_BYTES)},
            )
            add(
                self.rejections(cc),
                partitions=COUNTRY_PARTITIONS,
                writers=(HUB,),
                readers=(user, HUB, AUDITOR),
                record=Record.REJECTION,
                key="the refused event's id (none if it had none)",
                description=f"Why the hub refused an event {cc} submitted, or a recipient of it.",
            )
            add(
                self.match(cc),
                writers=(HUB,),
                readers=(user, HUB, AUDITOR),
                record=Record.MATCH_MESSAGE,
                key="the message id",
                retention_ms=MATCH_RETENTION_MS,
                description=(
                    f"Match messages for {cc}, relayed or answered by the hub: an EVALUATE for "
                    f"{cc}'s evaluator, and EVALUATION, REGISTERED, ANSWER and REFUSED for what "
                    f"{cc} asked (docs/protocol.md section 13.3)."
                ),
            )
        add(
            self.quarantine,
            partitions=COUNTRY_PARTITIONS,
            writers=(HUB,),
            readers=(HUB, AUDITOR),
            record=Record.QUARANTINED,
            key="none",
            retention_ms=QUARANTINE_RETENTION_MS,
            extra={"max.message.bytes": str(QUARANTINE_MAX_MESSAGE_BYTES)},
            description=(
                "Every refused record, sealed: a sealed event as it came, anything else "
                "sealed to its producer's seal key (only the producer can read it again); "
                "kept 14 days."
            ),
        )
        add(
            self.match_requests,
            writers=members,
            readers=(HUB, AUDITOR),
            record=Record.MATCH_MESSAGE,
            key="the message id",
            retention_ms=MATCH_RETENTION_MS,
            description=(
                "Every member writes every match message here (REGISTER, QUERY, EVALUATE, "
                "EVALUATION); one partition, so the hub judges them in one order against "
                "one index. Kept 7 days: match keys are nobody's business after the answer."
            ),
        )
        add(
            self.match_index,
            compacted=True,
            writers=(HUB,),
            # the auditor may read everything: digests of match keys, references, owners
            readers=(HUB, AUDITOR),
            record=Record.MATCH_INDEX,
            key="the registration's reference",
            description=(
                "The hub's match index: per live registration its owner, kind, subject, "
                "expiry and the SHA-256 of each match key; a tombstone when replaced by "
                "nothing or expired. Read whole at the hub's start."
            ),
        )
        add(
            self.decisions,
            writers=(HUB,),
            readers=(HUB, AUDITOR),
            record=Record.DECISION,
            key="the event id (none if it had none)",
            description=(
                "Every hub decision, written by every worker; the single audit sequencer "
                "turns them into leaves."
            ),
        )
        add(
            self.hub_state,
            compacted=True,
            retention_ms=STATE_RETENTION_MS,
            writers=(HUB,),
            readers=(HUB, AUDITOR),  # the auditor may read everything; no personal data here
            record=Record.HUB_STATE,
            key="<producer>/<event id>",
            description=(
                "Where each event of the dedupe window was taken in, one note per event, "
                "for a worker's start (docs/decisions.md D14)."
            ),
        )
        add(
            self.hub_bookmarks,
            compacted=True,
            retention_ms=STATE_RETENTION_MS,
            writers=(HUB,),
            readers=(HUB, AUDITOR),
            record=Record.HUB_STATE,
            key="bookmark/<outbox>/<partition>/<slot>, or pack/<from>-<to>",
            description=(
                "Per outbox partition a ring of bookmarks (output end offsets, the agent's "
                "position, the reconciler's mark), and packs of the state topic's notes, so "
                "that a worker starts from the tail of the log (docs/decisions.md D14)."
            ),
        )
        add(
            self.audit_leaves,
            writers=(HUB,),
            readers=(*members, HUB, AUDITOR),
            record=Record.AUDIT_LEAF,
            key="the decision id",
            description=(
                "The audit log: one leaf per decision, in log order (one sequencer). Written "
                "in Kafka transactions: read it with isolation level read_committed."
            ),
        )
        add(
            self.audit_checkpoints,
            # A country's node may act as a witness: it publishes cosigned checkpoints.
            writers=(HUB, *members),
            readers=(*members, HUB, AUDITOR),
            record=Record.CHECKPOINT,
            key="the tree size, decimal",
            description=(
                "Signed checkpoints of the audit log (written in Kafka transactions, each "
                "after the leaves it covers: read it with isolation level read_committed), "
                "and witnesses' cosigned copies."
            ),
        )
        add(
            self.registry_trust,
            compacted=True,
            writers=(ADMIN,),
            readers=(*members, HUB, AUDITOR),
            record=Record.TRUST_LIST,
            key="trust/<version:010d>",
            description="Every version of the signed trust list the hub and nodes judge by.",
        )
        add(
            self.registry_agreements,
            compacted=True,
            writers=(ADMIN,),
            readers=(*members, HUB, AUDITOR),
            record=Record.AGREEMENT,
            key="<agreement id>@<version>",
            description="Every version of every signed agreement between countries.",
        )
        add(
            self.registry_seal_keys,
            compacted=True,
            # Each country publishes its own sets; ACLs cannot restrict a writer to
            # its own keys, so readers verify each set's signature (hub.sealkeys).
            writers=members,
            readers=(*members, HUB, AUDITOR),
            record=Record.SEAL_KEYS,
            key="<CC>/<version:010d>",
            description=(
                "Every version of each country's signed seal-key set: the public X25519 keys "
                "producers seal to, per epoch, and which were destroyed."
            ),
        )
        return tuple(specs)

    def all(self, countries: Iterable[str] = COMMIT_COUNTRIES) -> tuple[str, ...]:
        """The names of every topic of this namespace, in plan order."""
        return tuple(spec.name for spec in self.plan(countries))
