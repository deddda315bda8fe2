"""The COMMIT statistics of 10 000 generated cases, end to end on the real broker.

Each of the six members' node stores holds its side of the generated cases
(what it sent and what it received, in its 0600 vault). Every node computes
its indicators and publishes its signed, sealed ``statistics_report``; the
hub routes them under an agreement that names the type. Cambodia's copy of
Viet Nam's report is tampered with after signing (a corridor changed in the
bytes the hub attested, as if altered in Kafka): Cambodia's inbox refuses it
with its reason code, and Cambodia's regional table leaves Viet Nam out and
names it. Thailand, which received Viet Nam's genuine report, sums all six.
Both regional tables equal the generator's known truth before suppression,
and after it no published count is below k, every published count is the
truth, every hidden cell's feasible interval (recomputed from the published
files alone) is at least k wide, and report.json, the CSVs and report.html
agree.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from connectors.sdk import CountryNode
from connectors.sdk.stats import (
    Received,
    assemble,
    own_counts,
    publish_report,
    received_reports,
    sealable,
    wait_for_reports,
    write_report,
)
from hub.home import StateDir
from hub.keys import write_private_key
from hub.ops.provision import provision_registry
from hub.stats import Period, report_payload
from hub.topics import Topics
from hub.wire import payload_fields
from tests.support.nodes import (
    COUNTRIES,
    HUB_KEY,
    KEYS,
    delivered_copy,
    node_seal_keys,
    trust_list,
)
from tests.support.policy import agreement_from_table
from tests.support.procs import Proc, Worker, wait_for
from tests.support.stats_audit import check_files_agree, published_intervals, zeros_beside_hidden
from tests.support.stats_cases import PERIOD, generate, keep_all, no_fsync

pytestmark = pytest.mark.kafka
K = 11
AS_OF = 1_796_083_200_000  # 2026-12-01: every follow-up due in Q3 is past
POLICY = {
    f"{a}>{b}:statistics_report": payload_fields("statistics_report")
    for a in COUNTRIES
    for b in COUNTRIES
    if a != b
}


async def test_ten_thousand_cases_reported_summed_and_suppressed(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    period = Period.parse(PERIOD)
    home = tmp_path / "hub"
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust = trust_list()
    agreement = agreement_from_table(POLICY, KEYS, agreement_id="COMMIT-stats")
    await provision_registry(
        kafka_bootstrap, topics, json.dumps(trust.document.to_json()).encode(), [agreement]
    )
    roots = {cc: tmp_path / cc.lower() for cc in COUNTRIES}
    await node_seal_keys(kafka_bootstrap, topics, roots, list(roots), keys=KEYS, trust=trust)

    started = time.perf_counter()
    gen = generate(10_000)
    nodes = {
        cc: CountryNode(
            cc,
            KEYS[cc],
            trust,
            kafka_bootstrap,
            topics=topics,
            state=StateDir(roots[cc]),
        )
        for cc in COUNTRIES
    }
    with no_fsync():
        kept = sum(keep_all(nodes[cc].store, gen.records.get(cc, [])) for cc in COUNTRIES)
    print(f"\n{gen.cases} cases: {kept} vault records in {time.perf_counter() - started:.1f}s")

    worker = Worker(kafka_bootstrap, topics, home)
    worker.start()
    procs: list[Proc] = [worker]
    try:
        started = time.perf_counter()
        own = {cc: own_counts(n.store, cc, period, now_ms=AS_OF) for cc, n in nodes.items()}
        print(f"indicators of six stores in {time.perf_counter() - started:.1f}s")
        for cc, counts in own.items():  # each node's own counts are its share of the truth
            assert counts == gen.truth_by_country.get(cc, {}), cc
        async with nodes["KH"] as kh_node:  # a member without a seal key is named, not sent to
            ready, lacking = await sealable(kh_node, [*COUNTRIES, "ZZ"], AS_OF)
        assert (ready, lacking) == (sorted(set(COUNTRIES) - {"KH"}), ["ZZ"])
        sizes = {}
        for cc, node in nodes.items():
            # Viet Nam's report reaches Cambodia only as the tampered copy below.
            to = [c for c in COUNTRIES if c != cc and not (cc == "VN" and c == "KH")]
            async with node:
                await publish_report(node, period, own[cc], recipients=to, now_ms=AS_OF)
            sizes[cc] = len(json.dumps(report_payload(own[cc], country=cc, period=period,
                                                      generated_at_ms=AS_OF)))  # fmt: skip
        print(f"report payload sizes (JSON bytes): {sizes}")

        # Viet Nam's report as the hub would deliver it to Cambodia, then altered in Kafka.
        payload = report_payload(own["VN"], country="VN", period=period, generated_at_ms=AS_OF)
        copy, headers = delivered_copy(
            "statistics_report", payload, producer="VN", recipient="KH",
            keep=payload_fields("statistics_report"), created_at_ms=AS_OF,
            case_key="stats-2026-Q3-VN", purpose="statistics",
        )  # fmt: skip
        raw = copy.to_bytes()
        assert raw.count(b"CN>VN") >= 1
        tampered = raw.replace(b"CN>VN", b"CN>VM", 1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.inbox("KH"), tampered, key=b"stats-2026-Q3-VN", headers=headers
            )
        finally:
            await producer.stop()

        kh, th = nodes["KH"], nodes["TH"]

        async def kh_has_all() -> Received | None:
            got = await received_reports(kh, period)
            heard = set(got.counts) | set(got.refused)
            return got if {"TH", "LA", "MM", "CN", "VN"} <= heard else None

        received = await wait_for(kh_has_all, procs, "the reports at KH")
        assert set(received.counts) == {"TH", "LA", "MM", "CN"}
        assert set(received.refused) == {"VN"}
        print(f"KH refused VN's tampered report: {received.refused['VN']}")
        # The altered disclosure's digest is not among those VN signed (protocol 3.3).
        assert received.refused["VN"] == "UNREFERENCED_DISCLOSURE"
        for cc, counts in received.counts.items():
            assert counts == gen.truth_by_country.get(cc, {}), cc  # exact, as signed

        started = time.perf_counter()
        at_kh = assemble("KH", own["KH"], received, members=COUNTRIES, period=period,
                         now_ms=AS_OF, k=K, flows=None)  # fmt: skip
        seconds = time.perf_counter() - started
        print(f"KH regional report: {json.dumps(at_kh.audit_json())}")
        print(f"KH suppression and LP audit: {seconds:.1f}s")
        assert at_kh.truth == gen.truth(without=frozenset({"VN"}))
        assert at_kh.refused == {"VN": received.refused["VN"]}
        assert at_kh.missing == ()
        assert at_kh.included == ("CN", "KH", "LA", "MM", "TH")

        received_th = await wait_for_reports(th, period, COUNTRIES, within_s=60)
        assert set(received_th.counts) == set(COUNTRIES) - {"TH"}
        assert not received_th.refused
        at_th = assemble("TH", own["TH"], received_th, members=COUNTRIES, period=period,
                         now_ms=AS_OF, k=K, flows=None)  # fmt: skip
        assert at_th.truth == gen.truth()

        for report in (at_kh, at_th):
            assert report.audit_passed
            truth_specs = {t.name: t for t in report.tables}
            hidden = 0
            for table in report.tables:
                from hub.stats.tables import Frame

                cats = tuple(tuple(c for c in table.categories(d) if c != "TOTAL")
                             for d in table.dimensions)  # fmt: skip
                additive = tuple("TOTAL" in table.categories(d) for d in table.dimensions)
                truth = Frame(table.dimensions, cats, additive).count(report.truth[table.name])
                for cell in table.cells:
                    assert cell.count is None or cell.count == 0 or cell.count >= K
                    assert cell.count is None or cell.count == truth[cell.key]
                    hidden += cell.suppressed
            assert hidden > 0
            assert truth_specs

        # The published files alone: intervals recomputed independently, formats agree.
        out = tmp_path / "report-kh"
        write_report(at_kh, out)
        doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert doc["countries"]["refused"] == {"VN": received.refused["VN"]}
        assert doc["interval_check"]["passed"] is True
        started = time.perf_counter()
        by_population: dict[str, list[dict[str, object]]] = {}
        for t in doc["tables"]:
            population = t["name"].rsplit("_by_", 1)[0]
            # handover_time_by_days has handed_over's corridor totals: a reader sets them
            # side by side (the generator's are equal), so the re-audit does too.
            population = "handed_over" if population == "handover_time" else population
            by_population.setdefault(population, []).append(t)
        narrowest = min(
            (hi - lo for group in by_population.values()
             for lo, hi in published_intervals(group).values()),
            default=float("inf"),
        )  # fmt: skip
        print(f"independent re-audit: narrowest interval {narrowest}, "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        assert narrowest >= K
        assert zeros_beside_hidden(doc["tables"]) == []
        check_files_agree(out)
    finally:
        for node in nodes.values():
            await node.stop()
        worker.stop()
