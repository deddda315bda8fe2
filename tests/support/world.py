"""What the real hub worker needs in the fault test: keys, trust, a test policy, events.

The agreement is a real, signed test agreement (tests/policy_fixtures.py: every
pair may exchange ``trafficker_alert`` with all fields), judged by the hub's real
policy engine: the fault test is about delivery under faults, not about which
fields an agreement allows, which the policy tests cover.

Every country has an epoch seal key (``<root>/seal-keys/<CC>``), published by
:meth:`HubWorld.provision`; from then on :meth:`HubWorld.event` seals (protocol
v2), as every node does by default.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.keys import KeyRole, private_key_from_seed, write_private_key
from hub.ops.broker import free_port
from hub.sealkeys import Keyring, SealKeyDirectory
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import HUB_OWNER, KeySpec, TrustList, build_trust_document
from hub.wire import Envelope, cloudevents_headers, payload_fields, payload_from_json, seal
from tests.support.fault import ROOT, Event
from tests.support.policy import agreement_from_table

__all__ = ["HubWorld"]

EVENT_TYPE = "trafficker_alert"
DAY_MS = 86_400_000


@dataclass
class HubWorld:
    """A state directory for hub workers and a sealer of events."""

    root: Path
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    sequence: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    payload: dict[str, Any] = field(default_factory=dict)
    agreement_ref: str = ""
    web_ports: dict[int, int] = field(default_factory=dict)
    since_ms: int = 0
    seal_keys: SealKeyDirectory | None = None  # set by provision: events are sealed

    @property
    def hub_key(self) -> Path:
        return self.root / "keys" / "HUB.key"

    @property
    def trust(self) -> Path:
        return self.root / "trust.json"

    @property
    def policy(self) -> Path:
        return self.root / "test-agreement.yaml"

    def build(self) -> HubWorld:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "keys").mkdir(mode=0o700, exist_ok=True)
        self.keys = {
            cc: private_key_from_seed(bytes([i + 1]) * 32) for i, cc in enumerate(COMMIT_COUNTRIES)
        }
        hub = private_key_from_seed(b"\x42" * 32)
        write_private_key(hub, self.hub_key)
        since = int(time.time() * 1000) - DAY_MS
        self.since_ms = since
        specs = [
            KeySpec(cc, frozenset({KeyRole.ROOT, KeyRole.PRODUCER}), k.public_key(), since)
            for cc, k in self.keys.items()
        ]
        specs.append(KeySpec(HUB_OWNER, frozenset({KeyRole.HUB}), hub.public_key(), since))
        doc = build_trust_document(
            specs,
            members={cc: cc for cc in COMMIT_COUNTRIES},
            threshold=4,
            version=1,
            issued_at_ms=since,
            signers=list(self.keys.values()),
        )
        self.trust.write_text(json.dumps(doc.to_json()), encoding="utf-8")
        fields = list(payload_fields(EVENT_TYPE))
        table = {
            f"{a}>{b}:{EVENT_TYPE}": fields
            for a in COMMIT_COUNTRIES
            for b in COMMIT_COUNTRIES
            if a != b
        }
        ref, blob = agreement_from_table(table, self.keys)
        self.agreement_ref = ref
        self.policy.write_bytes(blob)
        example = json.loads((ROOT / "schemas" / "examples" / f"{EVENT_TYPE}.json").read_text())
        self.payload = dict(payload_from_json(EVENT_TYPE, example))
        return self

    def keyrings(self) -> dict[str, Keyring]:
        """Each country's seal keys (a node keeps them in its state dir; the world here)."""
        return {cc: Keyring(self.root / "seal-keys" / cc, cc) for cc in COMMIT_COUNTRIES}

    async def provision(self, bootstrap: str, topics: Topics) -> None:
        from hub.ops.provision import provision_registry

        await provision_registry(
            bootstrap,
            topics,
            self.trust.read_bytes(),
            [(self.agreement_ref, self.policy.read_bytes())],
        )
        await self.provision_seal_keys(bootstrap, topics)

    async def provision_seal_keys(
        self, bootstrap: str, topics: Topics, client: dict[str, Any] | None = None
    ) -> SealKeyDirectory:
        """An epoch seal key per country (valid a year from the trust list's start), published."""
        from hub.ops.provision import provision_seal_keys

        trust = TrustList.from_signed(json.loads(self.trust.read_text(encoding="utf-8")))
        self.seal_keys = await provision_seal_keys(
            bootstrap,
            topics,
            self.keyrings(),
            self.keys,
            trust,
            now_ms=self.since_ms,
            epoch_ms=365 * DAY_MS,
            client=client,
        )
        return self.seal_keys

    def event(self, topics: Topics, i: int) -> Event:
        src = COMMIT_COUNTRIES[i % len(COMMIT_COUNTRIES)]
        dst = COMMIT_COUNTRIES[(i + 1) % len(COMMIT_COUNTRIES)]
        self.sequence[src] += 1
        case_key = f"case-{i % 97:04d}"
        now = int(time.time() * 1000)
        seal_to = None if self.seal_keys is None else {dst: self.seal_keys.key_for(dst, now)}
        env = seal(
            EVENT_TYPE,
            self.payload,
            producer=src,
            key=self.keys[src],
            recipients=(dst,),
            purpose="investigation",
            handling="H2",
            case_key=case_key,
            sequence=self.sequence[src],
            created_at_ms=now,
            decoys=0,
            seal_to=seal_to,
        )
        return Event(
            topics.outbox(src),
            case_key.encode(),
            env.to_bytes(),
            cloudevents_headers(env.header),
            env.header.event_id,
        )

    def command(self, bootstrap: str, topics: Topics) -> list[str]:
        return [
            sys.executable,
            "-c",
            "from connectors.cli import main; main()",
            "hub",
            "worker",
            "--bootstrap",
            bootstrap,
            "--namespace",
            topics.namespace,
            "--key",
            str(self.hub_key),
            "--trust",
            str(self.trust),
        ]

    def sequencer_command(self, bootstrap: str, topics: Topics, web_port: str) -> list[str]:
        return [
            sys.executable,
            "-c",
            "from connectors.cli import main; main()",
            "audit",
            "sequencer",
            "--bootstrap",
            bootstrap,
            "--namespace",
            topics.namespace,
            "--key",
            str(self.hub_key),
            "--web-port",
            web_port,
            "--every-ms",
            "1000",
            "--every-leaves",
            "2000",
        ]

    def env(self, index: int) -> dict[str, str]:
        # Each worker its own TRM_HOME (its own Faust data directory) and a web
        # port that stays the same across restarts (the test reads /hub/status).
        home = self.root / f"worker{index}"
        home.mkdir(exist_ok=True)
        port = self.web_ports.setdefault(index, free_port())
        return {"TRM_HOME": str(home), "TRM_HUB_WEB_PORT": str(port)}

    def status_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}/hub/status" for p in self.web_ports.values()]


def inbox_event_id(value: bytes) -> str:
    return Envelope.from_bytes(value).header.event_id
