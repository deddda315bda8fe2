"""A small world for case lifecycle tests: the hub worker and country nodes on the real broker.

Every country gets its own state directory and node; the registry holds the
test trust list and one agreement (``tests.support.policy``) that lets the
lifecycle events and the case's referral, handover notice and
acknowledgements go both ways between the countries named.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from connectors.cli import main
from connectors.sdk import CaseBook, CountryNode, InboxRecord
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.policy import dump_agreement_yaml, load_agreement, resign_agreement
from hub.textdoc import parse_yaml
from hub.topics import Topics
from hub.wire import payload_fields
from tests.support.hub import HUB_KEY, KEYS, trust_list
from tests.support.nodes import node_seal_keys
from tests.support.policy import agreement_from_table
from tests.support.procs import Worker, wait_for

__all__ = ["CASE_TYPES", "CaseWorld", "lifecycle_table"]

#: What a case between two countries carries (every field: these tests are not about policy).
CASE_TYPES = (
    "referral",
    "handover_notice",
    "acknowledgement",
    "case_update",
    "reintegration_report",
    "case_alert",
    "erasure_request",
    "erasure_confirmation",
)


def lifecycle_table(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """An agreement table: every case type both ways between each pair; no report notes."""
    table: dict[str, list[str]] = {}
    for a, b in pairs:
        for sender, recipient in ((a, b), (b, a)):
            for event_type in CASE_TYPES:
                table[f"{sender}>{recipient}:{event_type}"] = [
                    f
                    for f in payload_fields(event_type)
                    if not (event_type == "reintegration_report" and f == "notes")
                ]
    return table


class CaseWorld:
    """The hub worker and one node per country, each with its own state directory."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        root: Path,
        pairs: Sequence[tuple[str, str]],
        *,
        extra: Mapping[str, list[str]] | None = None,
        follow_up_months: Sequence[int] | None = None,
    ) -> None:
        self.bootstrap, self.topics, self.root = bootstrap, topics, root
        self.pairs = pairs
        self.table = {**lifecycle_table(pairs), **(extra or {})}
        self.follow_up_months = follow_up_months
        self.countries = sorted({c for pair in pairs for c in pair})
        self.trust = trust_list()
        self.worker = Worker(bootstrap, topics, root / "hub")
        self.nodes = {cc: self._node(cc) for cc in self.countries}
        self.received: dict[str, dict[str, InboxRecord]] = {cc: {} for cc in self.countries}

    def _agreement(self) -> tuple[str, bytes]:
        """The signed agreement; with a schedule, on every case_update flow."""
        ref, text = agreement_from_table(self.table, KEYS, agreement_id="TEST-cases")
        if self.follow_up_months is None:
            return ref, text
        doc = parse_yaml(text)
        for flow in doc["signed"]["flows"]:
            terms = flow["event_types"].get("case_update")
            if terms is not None:
                terms["case_follow_up_months"] = list(self.follow_up_months)
        unsigned = load_agreement({"signed": doc["signed"], "signatures": []})
        signed = resign_agreement(unsigned, [KEYS[p] for p in sorted(self.countries)])
        return signed.agreement.ref, dump_agreement_yaml(signed.document).encode()

    def _node(self, cc: str) -> CountryNode:
        return CountryNode(
            cc,
            KEYS[cc],
            self.trust,
            self.bootstrap,
            topics=self.topics,
            state=StateDir(self.root / cc.lower()),
        )

    async def reopen(self, cc: str) -> CountryNode:
        """A fresh node on the same state directory (after a CLI process changed it)."""
        await self.nodes[cc].stop()
        self.nodes[cc] = self._node(cc)
        return self.nodes[cc]

    async def start(self) -> None:
        home = self.root / "hub"
        write_private_key(HUB_KEY, home / "keys" / "HUB.key")
        agreement = self._agreement()
        await provision_registry(
            self.bootstrap,
            self.topics,
            json.dumps(self.trust.document.to_json()).encode(),
            [agreement],
        )
        roots = {cc: self.root / cc.lower() for cc in self.countries}
        for root in roots.values():  # each node holds the agreement (retention, schedule)
            (root / "agreements").mkdir(parents=True, exist_ok=True)
            (root / "agreements" / "test-cases.yaml").write_bytes(agreement[1])
        await node_seal_keys(
            self.bootstrap, self.topics, roots, self.countries, keys=KEYS, trust=self.trust
        )
        self.worker.start()

    async def stop(self) -> None:
        for node in self.nodes.values():
            await node.stop()
        self.worker.stop()

    async def expect(self, country: str, event_ids: Iterable[str]) -> list[InboxRecord]:
        """Read ``country``'s inbox until every one of ``event_ids`` has arrived; those records."""
        wanted = list(event_ids)
        node, got = self.nodes[country], self.received[country]

        async def read() -> list[InboxRecord] | None:
            async for record in node.inbox():
                got[record.event_id] = record
            return [got[i] for i in wanted] if all(i in got for i in wanted) else None

        return await wait_for(read, [self.worker], f"{len(wanted)} events at {country}")

    def book(self, country: str) -> CaseBook:
        return CaseBook.of_node(self.nodes[country])

    def cli(self, country: str) -> CliRunner:
        """A runner of ``trm`` whose home is ``country``'s node state directory."""
        home = self.root / country.lower()
        write_private_key(KEYS[country], home / "keys" / f"{country}.key")
        (home / "trust.json").write_text(json.dumps(self.trust.document.to_json()))
        return CliRunner(
            env={"TRM_HOME": str(home), "TRM_KAFKA_BOOTSTRAP": self.bootstrap, "COLUMNS": "250"}
        )

    async def node_cli(self, country: str, *args: str) -> Result:
        """``trm node ARGS --country CC --namespace NS`` as ``country``'s node."""
        return await asyncio.to_thread(
            self.cli(country).invoke,
            main,
            ["node", *args, "--country", country, "--namespace", self.topics.namespace],
        )
