"""An in-memory run of the real pipeline for the auditor's replay: the EXAMPLE deployment.

:class:`World` seals events with the EXAMPLE roots, runs ``hub.pipeline.process``
with the real policy engine over the sample agreements, "writes" every effect
to in-memory topics and sequences the decisions into leaves and a checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.audit.leaf import AuditLeaf
from hub.audit.log import AuditLog, origin_of
from hub.audit.replay import Record, ReplayInput, Report, hub_public_keys, replay
from hub.decision import DecisionKind, DecisionRecord, SourceRef
from hub.pipeline import Registry, process
from hub.policy import decide
from hub.state import HubState
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.wire import Envelope, RecipientKey, cloudevents_headers, seal
from tests.support.examples import (
    AGREEMENTS,
    AGREEMENTS_DIR,
    HUB_KEY,
    TRUST,
    example_key,
    example_payload,
)

__all__ = [
    "AGREEMENTS",
    "HUB_KEY",
    "OFFLINE_FILES",
    "TOPICS",
    "TRUST",
    "T",
    "World",
    "child_notice",
    "ingested_leaf",
    "replay_input",
]

T = 1_772_323_200_000  # 2026-03-01T00:00:00Z
TOPICS = Topics("t")
#: The file options of ``trm audit replay`` / ``leaves`` where the replay is the in-memory
#: one (``run_replay`` replaced): the EXAMPLE trust list and agreements, a broker never dialled.
OFFLINE_FILES = (
    "--bootstrap",
    "127.0.0.1:1",
    "--trust",
    str(AGREEMENTS_DIR / "example-trust.json"),
    "--agreements",
    str(AGREEMENTS_DIR),
)


def ingested_leaf(i: int, namespace: str = "t", event_id: str | None = None) -> AuditLeaf:
    """Leaf ``i`` of a made-up log: the INGESTED decision of VN's ``i``-th outbox record."""
    source = f"{namespace}.outbox.VN/0/{i}"
    return AuditLeaf.of(
        f"{source}:ingested",
        DecisionRecord(
            kind=DecisionKind.INGESTED,
            event_id=f"ev-{i}" if event_id is None else event_id,
            producer="VN",
            recipient="",
            event_digest=f"{i:064x}",
            delivered_digest="",
            fields=(),
            agreement="",
            reason="",
            detail="",
            source=source,
            decided_at_ms=T + i,
            registry="v1",
        ),
    )


def child_notice() -> dict[str, Any]:
    """A handover notice the EXAMPLE agreements let through from TH to KH.

    A child's case goes only to the named protection agency (TH-KH-protection).
    """
    return example_payload("handover_notice") | {
        "receiving_organisation": {"id": "KH-MOSVY", "name": "MoSVY", "kind": "government"}
    }


@dataclass
class World:
    topics: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    log: AuditLog = field(default_factory=lambda: AuditLog(origin_of("t")))
    state: HubState = field(default_factory=HubState)
    sequence: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stamped_at_ms: int = T  # the Kafka time of every record written
    decided_at_ms: int = T + 1000  # the hub's clock at every decision

    def write(
        self, topic: str, value: bytes, headers: tuple[tuple[str, bytes], ...] = ()
    ) -> Record:
        rec = Record(topic, 0, len(self.topics[topic]), value, headers, self.stamped_at_ms)
        self.topics[topic].append(rec)
        return rec

    def submit(  # noqa: PLR0917 - the header fields, in the order a reader says them
        self,
        producer: str,
        event_type: str,
        to: list[str],
        purpose: str,
        handling: str,
        payload: dict[str, Any] | None = None,
        *,
        case_key: str | None = None,
        correlation_id: str | None = None,
        created_at_ms: int = T,
        seal_to: Mapping[str, RecipientKey] | None = None,
    ) -> Envelope:
        self.sequence[producer] += 1
        env = seal(
            event_type,
            example_payload(event_type) if payload is None else payload,
            producer=producer,
            key=example_key(producer),
            recipients=to,
            purpose=purpose,
            handling=handling,
            case_key=case_key or f"case-{producer}",
            sequence=self.sequence[producer],
            created_at_ms=created_at_ms,
            correlation_id=correlation_id,
            seal_to=seal_to,
        )
        self.hub(
            self.write(
                TOPICS.outbox(producer), env.to_bytes(), tuple(cloudevents_headers(env.header))
            )
        )
        return env

    def hub(self, rec: Record) -> None:
        registry = Registry(keys=TRUST, agreements=AGREEMENTS, decide=decide, version="v1")
        outcome = process(
            rec.value,
            list(rec.headers),
            SourceRef(rec.topic, rec.partition, rec.offset),
            topics=TOPICS,
            registry=registry,
            state=self.state,
            hub_key=HUB_KEY,
            now_ms=self.decided_at_ms,
        )
        for effect in outcome.effects:
            self.write(effect.topic, effect.value, effect.headers)

    def sequence_all(self) -> None:
        done = len(self.topics[TOPICS.audit_leaves])
        for rec in self.topics[TOPICS.decisions][done:]:
            decision_id = dict(rec.headers)["trm-effect"].decode()
            appended = self.log.append(AuditLeaf.from_decision(decision_id, rec.value))
            if appended:
                self.write(TOPICS.audit_leaves, appended[1])
        self.write(TOPICS.audit_checkpoints, self.log.checkpoint(HUB_KEY, T + 2000).to_bytes())

    def input(self) -> ReplayInput:
        data = ReplayInput(
            leaves=list(self.topics[TOPICS.audit_leaves]),
            checkpoints=list(self.topics[TOPICS.audit_checkpoints]),
            quarantine=list(self.topics[TOPICS.quarantine]),
        )
        for cc in COMMIT_COUNTRIES:
            data.outboxes += self.topics[TOPICS.outbox(cc)]
            data.inboxes += self.topics[TOPICS.inbox(cc)]
            data.rejections += self.topics[TOPICS.rejections(cc)]
        return data


def replay_input(data: ReplayInput, **kw: Any) -> Report:
    """The auditor's replay of ``data`` under the EXAMPLE trust list and agreements.

    ``kw`` goes to :func:`hub.audit.replay.replay` (``now_ms``, ``window``,
    ``select``, ``on_leaf``, or another ``trust`` list).
    """
    return replay(
        data,
        trust=kw.pop("trust", TRUST),
        agreements=AGREEMENTS,
        topics=TOPICS,
        origin=origin_of(TOPICS.namespace),
        hub_keys=hub_public_keys(TRUST),
        **kw,
    )
