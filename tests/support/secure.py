"""A secure single-node broker (TLS + SCRAM + ACLs) for a test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.home import StateDir
from hub.ops.broker import LocalCluster
from hub.ops.security import start_secure_cluster
from hub.topics import Topics

__all__ = ["SecureBroker", "secure_broker"]


@dataclass(frozen=True)
class SecureBroker:
    """A running secure broker and the state directory it was provisioned in."""

    cluster: LocalCluster
    state: StateDir

    @property
    def bootstrap(self) -> str:
        return self.cluster.bootstrap


@contextmanager
def secure_broker(root: Path, topics: Topics) -> Iterator[SecureBroker]:
    """Provisioned as ``trm kafka up --secure`` does: material, SCRAM at format, ACLs."""
    state = StateDir(root)
    cluster = start_secure_cluster(state, topics=topics, heap="384m")
    try:
        yield SecureBroker(cluster, state)
    finally:
        cluster.stop()
