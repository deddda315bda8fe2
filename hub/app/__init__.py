"""The hub's Kafka edge: thin adapters around :mod:`hub.pipeline`.

With :mod:`hub.ops` (the operator's tooling), the only place in ``hub/`` that
imports Faust or aiokafka (docs/architecture.md).

- :mod:`hub.app.kafka` is the one Kafka client module: credentials, metadata
  and the topic reader every process uses;
- :mod:`hub.app.registry` turns the registry topics' records into a
  :class:`hub.pipeline.Registry` (trust list chain + agreement set + policy);
- :mod:`hub.app.recovery` rebuilds the dedupe state from the hub's own output
  topics at start-up, so a restart never delivers twice (docs/decisions.md D5);
- :mod:`hub.app.main` is the Faust app: one agent over every outbox;
- :mod:`hub.app.sequencer` turns decisions into the audit log;
- :mod:`hub.app.audit_source` reads what the auditor's replay cross-checks.
"""

from __future__ import annotations

__all__: list[str] = []
