"""The hub operator's tooling: brokers, certificates, ACLs and provisioning.

Not part of the pure core and not run by a country node:

- :mod:`hub.ops.broker` runs Apache Kafka locally in KRaft mode (jars from
  Maven Central through the package's own ``data/pom.xml``), creates topics;
- :mod:`hub.ops.security` makes a deployment's CA, broker keystore, SCRAM
  users and the ACLs of the topic plan;
- :mod:`hub.ops.provision` signs nothing but publishes the trust list and
  agreements to the registry topics the hub reads;
- :mod:`hub.ops.process` tells a recorded pid's process from a later one
  with the same number (start time and boot), so nothing else is signalled;
- :mod:`hub.ops.stack` runs the whole local stack (broker, hub workers, audit
  sequencer, from one table of services) in the background: ``trm up|status|down``.
"""

from __future__ import annotations

__all__: list[str] = []
