"""Hit/no-hit matching leaves no trace of who was asked about (issue 14, point 5).

A broker of its own (every byte of its data directory is this test's), the hub
worker, the audit sequencer and six evaluators, each ``trm match evaluator`` as
its own process with its own state and log. Viet Nam registers a canary phone
number and a canary name; Thailand asks with the number written the Thai way and
the name in Thai script with a Buddhist-era year, and gets both hits. Then every
file of the broker (data and logs), of the hub worker, the sequencer and the
evaluators (state and logs), of the requester's state, and every record of every
topic is searched for the canaries: as written, as E.164, as the match inputs'
bytes, as the unkeyed SHA-256 of each (raw and hex) and as the romanised name.
The one place they may be is the owner's own registration file (its vault, mode
0600): the test checks they are there, so the scan would have found them.

The golden set (tests/vectors/matching) then runs end to end: each record's
person is registered by its record's country, each pair queried from the other
side, and every hit or no hit must be the one the match inputs decide locally;
the pairs the set says match are hits, those it says do not are not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk import CountryNode
from connectors.sdk.matching import query, register
from hub.errors import TrmError
from hub.home import StateDir
from hub.keys import write_private_key
from hub.matching.ceremony import deal_ceremony, write_ceremony
from hub.matching.keys import MatchKind, match_inputs
from hub.matching.romanise import romanise
from hub.ops.broker import LocalCluster, create_topics, free_port
from hub.ops.provision import provision_registry
from hub.topics import Topics
from tests.support.canary import avro_string, scan_files, scan_records
from tests.support.kafka import read_topic
from tests.support.nodes import COUNTRIES, HUB_KEY, KEYS, T0, trust_list, write_state
from tests.support.procs import TRM, Proc, Worker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

GOLDEN = Path(__file__).resolve().parents[1] / "vectors" / "matching"
THAI_WORDS = ("กมล", "ชัย", "ศรี", "วัฒน", "พงษ์", "สุข", "ทอง", "บุญ", "รักษ์", "เจริญ")
CASE, PURPOSE = "TH-2026-0099", "investigation"


def _canaries() -> dict[str, Any]:
    """A Thai mobile number and a Thai name unique to this run, as each side writes them."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(7))
    words = [secrets.choice(THAI_WORDS) for _ in range(3)]
    thai_name = f"สมชาย {''.join(words)}"
    latin = " ".join(w.capitalize() for w in romanise(thai_name))
    return {
        "phone_vn": f"+66 81 {digits[:3]} {digits[3:]}",  # as Viet Nam's record holds it
        "phone_th": f"081-{digits[:3]}-{digits[3:]}",  # as Thailand's officer writes it
        "e164": f"+6681{digits}",
        "name_vn": latin,  # Viet Nam's record: the usual Latin spelling
        "name_th": thai_name,
        "year_ce": 1985,
        "year_be": 2528,
    }


def _patterns(c: dict[str, Any]) -> dict[bytes, str]:
    """Every byte pattern that would give the canaries away, with what it stands for."""
    texts = {
        "phone as written (VN)": c["phone_vn"],
        "phone as written (TH)": c["phone_th"],
        "phone as E.164": c["e164"],
        "phone digits": c["e164"][3:],
        "name in Thai script": c["name_th"],
        "name in Latin letters": c["name_vn"],
        "name romanised": " ".join(romanise(c["name_th"])),
        "name romanised, one word": "".join(romanise(c["name_th"])),
    }
    inputs = [
        *match_inputs(MatchKind.PHONE, c["phone_th"], country="TH"),
        *match_inputs(MatchKind.NAME, c["name_th"], country="TH", birth_year=c["year_be"]),
    ]
    out: dict[bytes, str] = {}
    for label, text in texts.items():
        raw = text.encode("utf-8")
        out[raw] = label
        out[avro_string(text)] = label + " (Avro)"
        digest = hashlib.sha256(raw).digest()
        out[digest] = label + " (SHA-256)"
        out[digest.hex().encode()] = label + " (SHA-256 hex)"
    for n, i in enumerate(inputs):
        out[i.input] = f"match input {n}"
        digest = hashlib.sha256(i.input).digest()
        out[digest] = f"match input {n} (SHA-256)"
        out[digest.hex().encode()] = f"match input {n} (SHA-256 hex)"
        # The skeletons part of a name input: the romanised, reduced name.
        if i.kind is MatchKind.NAME:
            out[i.input.rsplit(b"\x00", 1)[1]] = f"match input {n} (skeletons)"
    return out


def _node(home: Path, cc: str, bootstrap: str, topics: Topics) -> CountryNode:
    return CountryNode(
        cc, KEYS[cc], trust_list(), bootstrap, topics=topics, state=StateDir(home / cc)
    )


def _home(root: Path, cc: str, ceremony: Any) -> Path:
    """A country's own state directory: its key, the trust list, its share."""
    home = root / cc
    write_state(home, [cc])
    state = StateDir(home)
    write_ceremony(state, ceremony)
    for other in COUNTRIES:
        if other != cc:
            state.match_share(other).unlink()
    return home


async def _golden(root: Path, bootstrap: str, topics: Topics) -> None:
    """Viet Nam's desk registers every accepted record of the golden set (each with its
    record's country as the default region); Thailand's asks with each side of each pair."""
    records = {r["id"]: r for r in json.loads((GOLDEN / "records.json").read_text("utf-8"))}
    pairs = json.loads((GOLDEN / "pairs.json").read_text("utf-8"))
    accepted = {i: r for i, r in records.items() if r["expected"]["outcome"] == "accepted"}

    def inputs(r: dict[str, Any]) -> set[bytes]:
        return {bytes.fromhex(h) for h in r["expected"]["inputs"]}

    vn = _node(root, "VN", bootstrap, topics)
    th = _node(root, "TH", bootstrap, topics)
    registered: dict[str, str] = {}  # reference -> record id
    async with vn:
        for rid, r in accepted.items():
            reg = await register(
                vn, r["kind"], r["value"], birth_year=r["birth_year"],
                issuing_state=r["issuing_state"], record_country=r["country"],
            )  # fmt: skip
            registered[reg.reference] = rid
    index = set().union(*(inputs(r) for r in accepted.values()))
    asked = {rid for pair in pairs for rid in (pair["a"], pair["b"]) if rid in accepted}
    answers = {}
    async with th:
        for rid in sorted(asked):
            r = accepted[rid]
            answers[rid] = await query(
                th, r["kind"], r["value"], birth_year=r["birth_year"],
                issuing_state=r["issuing_state"], record_country=r["country"],
                case_ref="GOLDEN-1", purpose=PURPOSE,
            )  # fmt: skip
    for rid, answer in answers.items():
        # Every record asked about is registered: each is a hit, from Viet Nam, and the
        # reference is of a record sharing an input with it.
        assert bool(inputs(accepted[rid]) & index)
        assert (answer.hit, answer.owner) == (True, "VN"), rid
        assert inputs(accepted[registered[answer.reference or ""]]) & inputs(accepted[rid]), rid
    # The pairs: the set says which share an input; the hub's answers follow them. A pair
    # that must not match may not be answered with each other's reference.
    for pair in pairs:
        a, b = pair["a"], pair["b"]
        if a not in answers or b not in answers:
            continue
        refs_b = {ref for ref, rid in registered.items() if rid == b}
        shares = bool(inputs(accepted[a]) & inputs(accepted[b]))
        assert shares is (pair["expected"] == "match"), pair["description"]
        if not shares:
            assert answers[a].reference not in refs_b, pair["description"]
    assert len(answers) >= 100


def test_no_trace_of_a_match_and_the_golden_set_end_to_end(tmp_path: Path) -> None:
    c = _canaries()
    patterns = _patterns(c)
    cluster = LocalCluster(tmp_path / "kafka", nodes=1)
    cluster.start()
    topics = Topics("matchcanary")
    ceremony = deal_ceremony(COUNTRIES, 3, now_ms=T0)
    countries = tmp_path / "countries"
    homes = {cc: _home(countries, cc, ceremony) for cc in COUNTRIES}
    hub_home = tmp_path / "hub"
    hub_home.mkdir()
    write_state(hub_home, [])
    write_private_key(HUB_KEY, hub_home / "keys" / "HUB.key")
    seq_home = tmp_path / "sequencer"
    seq_home.mkdir()
    flags = ["--bootstrap", cluster.bootstrap, "--namespace", topics.namespace]
    worker = Worker(cluster.bootstrap, topics, hub_home)
    sequencer = Proc(
        [TRM, "audit", "sequencer", *flags, "--key", str(hub_home / "keys" / "HUB.key"),
         "--every-leaves", "20", "--web-port", str(free_port())],
        seq_home,
        "sequencer",
    )  # fmt: skip
    evaluator_args = ["--budget-per-day", "100000", *flags]
    evaluators = [
        Proc(
            [
                TRM,
                "match",
                "evaluator",
                "--country",
                cc,
                "--web-port",
                str(free_port()),
                *evaluator_args,
            ],
            homes[cc],
            f"evaluator-{cc}",
        )
        for cc in COUNTRIES
    ]
    procs = [worker, sequencer, *evaluators]
    try:
        asyncio.run(create_topics(cluster.bootstrap, topics.plan()))
        trust_doc = json.dumps(trust_list().document.to_json()).encode()
        asyncio.run(provision_registry(cluster.bootstrap, topics, trust_doc, []))
        for p in procs:
            p.start()

        async def scenario() -> tuple[str, str]:
            vn = _node(countries, "VN", cluster.bootstrap, topics)
            th = _node(countries, "TH", cluster.bootstrap, topics)
            async with vn:  # the first registration waits for the hub and the evaluators
                by_phone = await register(vn, "phone", c["phone_vn"], timeout_s=180)
                by_name = await register(vn, "name", c["name_vn"], birth_year=c["year_ce"])
            async with th:
                phone = await query(th, "phone", c["phone_th"], case_ref=CASE, purpose=PURPOSE)
                name = await query(
                    th, "name", c["name_th"], birth_year=c["year_be"],
                    case_ref=CASE, purpose=PURPOSE,
                )  # fmt: skip
                other = f"081-{c['phone_th'][4:7]}-{(int(c['phone_th'][-4:]) + 1) % 10000:04d}"
                miss = await query(th, "phone", other, case_ref=CASE, purpose=PURPOSE)
            assert (miss.hit, miss.owner, miss.reference, miss.kind) == (False, None, None, None)
            assert (phone.hit, phone.owner, phone.reference) == (True, "VN", by_phone.reference)
            assert (name.hit, name.owner, name.reference) == (True, "VN", by_name.reference)
            return by_phone.reference, by_name.reference

        references = asyncio.run(scenario())
        for p in procs:
            p.alive()

        # The owner's registration files hold the canaries (so the scan can see them)...
        vn_store = _node(countries, "VN", cluster.bootstrap, topics).store
        own = [vn_store.match_dir / f"{ref}.json" for ref in references]
        for path in own:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        held = scan_files([vn_store.match_dir], patterns)
        assert {"phone as written (VN)", "name in Latin letters"} <= set().union(*held.values())

        # ... and no record of any topic does.
        in_topics: dict[str, set[str]] = {}
        for name in topics.all():
            try:
                records = asyncio.run(read_topic(cluster.bootstrap, name))
            except TrmError:
                continue
            hits = scan_records(records, patterns)
            if hits:
                in_topics[name] = hits
        assert in_topics == {}

        asyncio.run(_golden(countries, cluster.bootstrap, topics))
        for p in procs:
            p.alive()
    finally:
        for p in procs:
            p.stop()
        cluster.stop()
    # No file of the broker, the hub, the sequencer, the evaluators or any
    # country's state (logs included) holds one, but the owner's own two files.
    found = scan_files([tmp_path / "kafka", hub_home, seq_home, countries], patterns, exclude=own)
    assert found == {}
