"""trm-hub: the core library (pure) and the Faust application (thin).

The pure core — ``hub.wire``, ``hub.trust``, ``hub.policy``, ``hub.audit`` and
their helpers — imports no Faust, no Kafka client and no network code, and reads
no clock: ``now`` is passed in as integer milliseconds since the Unix epoch (UTC).
The Faust agents in ``hub.app`` are thin adapters over it.

Importing ``hub`` first lets the compiled hot modules in, when they are built and
current (:mod:`hub.compiled`).
"""

from hub import compiled as _compiled

_compiled.install()

__version__ = "0.1.0"
