"""The hub's Faust application: thin adapters around :mod:`hub.pipeline`.

This package is the only place in ``hub/`` that imports Faust or aiokafka.

- :mod:`hub.app.registry` turns the registry topics' records into a
  :class:`hub.pipeline.Registry` (trust list chain + agreement set + policy);
- :mod:`hub.app.recovery` rebuilds the dedupe state from the hub's own output
  topics at start-up, so a restart never delivers twice (docs/decisions.md D5);
- :mod:`hub.app.main` is the Faust app: one agent over every outbox.
"""

from __future__ import annotations

__all__: list[str] = []
