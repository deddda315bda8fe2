"""Soak benchmark: the hub for ``--minutes`` (default 30) at half its saturation rate, 5 % bad.

One local broker (or ``$TRM_KAFKA_BOOTSTRAP``), the hub as bench_hub.py starts
it (``trm hub worker`` x ``--workers``) and the audit sequencer
(``trm audit sequencer``). First the hub's saturation rate is measured in the
same run (bench_hub's drain of a ``--saturation-events`` backlog with the same
number of workers), unless ``--rate`` is given; then a load generator process
(``bench_soak.py offer``) offers half of it, paced, for ``--minutes``: bench_hub's
mix (referrals and handover notices TH->KH, trafficker alerts VN->CN,KH,LA,TH)
where every 20th record (5 %) is bad, in a fixed shuffled cycle of:

- ``garbage``: 16..2048 random bytes -> MALFORMED_FRAME;
- ``tampered``: a fresh event with one bit of its signature flipped -> BAD_SIGNATURE;
- ``replay``: the bytes of a good event sent at least 2 s before -> REPLAY;
- ``unknown_producer``: an event signed as TH by a key no trust list names -> UNKNOWN_KEY;
- ``policy``: an LA referral to TH for ``investigation`` (the LA->TH flow does not allow
  that purpose) -> PURPOSE_NOT_ALLOWED;
- ``oversized``: 1,001,000 random bytes (over the hub's 1,000,000, under the
  topic's 1,048,588) -> OVERSIZED; 1 in 100 bad records (each is ~1 MB on disk twice).

A receiver process (``_hub_procs.py receive --stream``) verifies every
delivered copy as a node does. Each minute a sample: RSS of every process (the
broker's Java pid, each hub worker, the sequencer, the load generator, the
receiver), end-to-end latency p50/p99 of the good copies verified in that
minute (send -> recipient verified, from when the generator sent it, no
linger; bench_hub's latency run counts from when each event was due), the lag of the
hub's consumer group on the outboxes (end offset - committed offset), the
machine's 1-minute load average (the machine may be shared: the load is
uneven), and counts (sent good/bad, copies verified, refused by reason from the
decision records).

At the end every record is accounted for: every good event's copies verified
by the receiver, every bad record refused with its expected reason (matched by
its topic/partition/offset), nothing else refused. Prints a per-minute table
and a verdict per series (first-5-minute mean against last-5-minute mean and
the least-squares slope per 10 minutes, flat when both are within the stated
tolerance); writes ``artifacts/bench/soak.json`` and ``artifacts/bench/soak.svg``
(three panels against minutes: RSS per process in MiB, p99 ms, lag).
Run: ``python tests/bench/bench_soak.py --help`` (``--minutes 3`` to try it).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import html
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.demo.setup import make_identities, sign_agreements
from hub.home import StateDir
from hub.keys import load_private_key
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import load_trust_file
from hub.wire import Envelope, cloudevents_headers, seal
from tests.bench import bench_hub
from tests.bench._common import ARTIFACTS, percentile, rss_bytes, write_result

HERE = Path(__file__).resolve().parent
BAD_EVERY = 20  # every 20th record offered is bad: 5 %
# kind -> (records in a cycle of 100 bad ones, the reason the hub must give)
BAD: Mapping[str, tuple[int, str]] = {
    "garbage": (20, "MALFORMED_FRAME"),
    "tampered": (20, "BAD_SIGNATURE"),
    "replay": (20, "REPLAY"),
    "unknown_producer": (20, "UNKNOWN_KEY"),
    "policy": (19, "PURPOSE_NOT_ALLOWED"),
    "oversized": (1, "OVERSIZED"),
}
OVERSIZED_BYTES = 1_001_000
REPLAY_AFTER_S = 2.0
POLICY_PRODUCER, POLICY_TO, POLICY_PURPOSE = "LA", ("TH",), "investigation"
# flat: |last-5 mean - first-5 mean| and |slope| x 10 min both within
# max(TOLERANCE_PCT % of the first-5 mean, the series' floor)
TOLERANCE_PCT = 10.0
FLOOR = {"rss": 10.0, "p99": 10.0, "lag": 500.0}  # MiB, ms, records


# --- the load generator (its own process) ----------------------------------------


@dataclass
class Offer:
    """The load generator's state: what it sends next."""

    topics: Topics
    la_key: Any
    stranger: Ed25519PrivateKey
    cycle: list[str]
    good: int = 0
    bad: int = 0
    policy_seq: int = 0
    recent: collections.deque[tuple[float, bench_hub.Event]] = field(
        default_factory=collections.deque
    )

    def _signed(self, producer: str, key: Any, to: tuple[str, ...], purpose: str, seq: int) -> Any:
        payload = bench_hub._GEN["payloads"]["referral"]
        return seal(
            "referral",
            payload,
            producer=producer,
            key=key,
            recipients=to,
            purpose=purpose,
            handling="H2",
            case_key=f"case-bad-{self.bad % 64}",
            sequence=seq,
            created_at_ms=time.time_ns() // 1_000_000,
        )

    def bad_record(self, kind: str) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]] | None:
        """(topic, key, value, headers) of one bad record; None: not possible yet (replay)."""
        th = self.topics.outbox("TH")
        if kind == "garbage":
            return th, b"garbage", os.urandom(random.randint(16, 2048)), []
        if kind == "oversized":
            return th, b"oversized", os.urandom(OVERSIZED_BYTES), []
        if kind == "tampered":
            e = bench_hub._gen((self.good, 1, False))[0]  # its sequence is not taken in
            raw = bytearray(e.raw)
            sig = Envelope.from_bytes(e.raw).signature.sig
            raw[raw.index(sig) + 7] ^= 0x10
            return self.topics.outbox(e.country), e.key, bytes(raw), list(e.headers)
        if kind == "replay":
            now = time.monotonic()
            while len(self.recent) > 1 and self.recent[1][0] <= now - REPLAY_AFTER_S:
                self.recent.popleft()
            if not self.recent or self.recent[0][0] > now - REPLAY_AFTER_S:
                return None
            e = self.recent.popleft()[1]
            return self.topics.outbox(e.country), e.key, e.raw, list(e.headers)
        if kind == "unknown_producer":
            env = self._signed("TH", self.stranger, ("KH",), "repatriation", 1)
        else:  # policy: signed by a member, refused by the agreements
            self.policy_seq += 1
            env = self._signed(
                POLICY_PRODUCER, self.la_key, POLICY_TO, POLICY_PURPOSE, self.policy_seq
            )
        topic = self.topics.outbox(env.header.producer)
        return topic, b"case-bad", env.to_bytes(), list(cloudevents_headers(env.header))


def _logged(out: TextIO, what: str, fut: asyncio.Future[Any]) -> None:
    """``B kind topic/partition/offset`` once the broker has a bad record; ``E what error``."""
    exc = fut.exception()
    if exc is not None:
        out.write(f"E {what} {type(exc).__name__}\n")
    elif not what.startswith("good"):
        md = fut.result()
        out.write(f"B {what} {md.topic}/{md.partition}/{md.offset}\n")


async def offer(args: argparse.Namespace) -> None:
    """Send at ``--rate`` records/s for ``--seconds``; a line per record to ``--out``.

    ``G event_id send_time_ns copies`` for a good event (written just before
    it is sent), ``B kind source`` for a bad
    record once the broker acknowledged it, ``E what error`` for a failed send.
    """
    state = StateDir(args.state)
    bench_hub._gen_init(
        {cc: str(state.private_key(cc)) for cc in ("TH", "VN")}, time.time_ns() // 1_000_000
    )
    cycle = [kind for kind, (n, _) in BAD.items() for _ in range(n)]
    random.Random(16).shuffle(cycle)
    o = Offer(
        Topics(args.namespace),
        load_private_key(state.private_key(POLICY_PRODUCER)),
        Ed25519PrivateKey.generate(),
        cycle,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_request_size=OVERSIZED_BYTES + 65536,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await producer.start()
    with args.out.open("a", encoding="ascii") as out:
        print("ready", flush=True)
        t0 = time.perf_counter()
        n = 0
        while not stop.is_set() and time.perf_counter() - t0 < args.seconds:
            due = int((time.perf_counter() - t0) * args.rate) + 1
            while n < due:
                if n % BAD_EVERY == BAD_EVERY - 1:
                    kind = o.cycle[o.bad % len(o.cycle)]
                    o.bad += 1
                    rec = o.bad_record(kind)
                    if rec is None:
                        kind, rec = "garbage", o.bad_record("garbage")
                    assert rec is not None
                    topic, key, value, headers = rec
                    fut = await producer.send(topic, value, key=key, headers=headers)
                    fut.add_done_callback(functools.partial(_logged, out, kind))
                else:
                    e = bench_hub._gen((o.good, 1, False))[0]
                    copies = len(bench_hub.MIX[o.good % len(bench_hub.MIX)][2])
                    o.good += 1
                    out.write(f"G {e.event_id} {time.time_ns()} {copies}\n")
                    fut = await producer.send(
                        o.topics.outbox(e.country), e.raw, key=e.key, headers=list(e.headers)
                    )
                    fut.add_done_callback(functools.partial(_logged, out, f"good {e.event_id}"))
                    o.recent.append((time.monotonic(), e))
                n += 1
            out.flush()
            await asyncio.sleep(0.005)
        await producer.flush()
        await producer.stop()
        out.write(f"END {n}\n")


# --- what the orchestrator reads ---------------------------------------------------


class Lines:
    """The complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        path.touch()
        self.f = path.open("r", encoding="ascii")
        self.rest = ""

    def new(self) -> list[str]:
        text = self.rest + self.f.read()
        lines = text.split("\n")
        self.rest = lines.pop()
        return lines


@dataclass
class Minute:
    """Counts over one minute (or the drain after the last)."""

    sent_good: int = 0
    sent_bad: collections.Counter[str] = field(default_factory=collections.Counter)
    send_errors: int = 0
    copies_verified: int = 0
    copies_failed: int = 0
    delivered: int = 0  # DELIVERED decisions
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)


@dataclass
class Ledger:
    """Everything sent and everything that came of it, by event id or record source."""

    sent: dict[str, tuple[int, int]] = field(default_factory=dict)  # eid -> (ns, copies left)
    early: collections.defaultdict[str, list[int]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    bad: dict[str, str] = field(default_factory=dict)  # source -> kind
    refusals: dict[str, list[str]] = field(default_factory=dict)  # source -> reasons
    good_sent: int = 0
    copies_expected: int = 0
    copies_verified: int = 0
    copies_failed: int = 0
    duplicates: int = 0
    unknown_copies: int = 0
    send_errors: list[str] = field(default_factory=list)
    offered_end: int | None = None

    def take_sent(self, lines: Sequence[str], m: Minute) -> None:
        for line in lines:
            parts = line.split()
            if parts[0] == "G":
                eid, ns, copies = parts[1], int(parts[2]), int(parts[3])
                self.sent[eid] = (ns, copies)
                self.good_sent += 1
                self.copies_expected += copies
                m.sent_good += 1
                for t in self.early.pop(eid, []):
                    self._copy(eid, t, m)
            elif parts[0] == "B":
                self.bad[parts[2]] = parts[1]
                m.sent_bad[parts[1]] += 1
            elif parts[0] == "E":
                self.send_errors.append(line)
                m.send_errors += 1
            elif parts[0] == "END":
                self.offered_end = int(parts[1])

    def take_received(self, lines: Sequence[str], m: Minute) -> None:
        for line in lines:
            a, b = line.split()
            if a == "!":
                self.copies_failed += 1
                m.copies_failed += 1
            elif a in self.sent:
                self._copy(a, int(b), m)
            else:  # its "G" line is not read yet
                self.early[a].append(int(b))

    def _copy(self, eid: str, t_ns: int, m: Minute) -> None:
        ns, left = self.sent[eid]
        if left <= 0:
            self.duplicates += 1
            return
        self.sent[eid] = (ns, left - 1)
        self.copies_verified += 1
        m.copies_verified += 1
        m.latencies.append((t_ns - ns) / 1e6)

    def take_decision(self, value: bytes, m: Minute) -> None:
        rec = json.loads(value)
        kind = rec.get("kind")
        if kind == "DELIVERED":
            m.delivered += 1
        elif kind == "REJECTED":
            m.refused[rec["reason"]] += 1
            self.refusals.setdefault(rec["source"], []).append(rec["reason"])

    def missing_copies(self) -> int:
        return self.copies_expected - self.copies_verified

    def unanswered_bad(self) -> list[str]:
        return [src for src in self.bad if src not in self.refusals]

    def accounting(self) -> dict[str, Any]:
        wrong = collections.Counter[str]()
        per_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for src, kind in self.bad.items():
            reasons = self.refusals.get(src, [])
            per_kind[kind].update(reasons or ["(not refused)"])
            if any(r != BAD[kind][1] for r in reasons):
                wrong[kind] += 1
        unexpected = collections.Counter(
            r for src, rs in self.refusals.items() if src not in self.bad for r in rs
        )
        unrefused = len(self.unanswered_bad())
        self.unknown_copies = sum(len(v) for v in self.early.values())
        ok = (
            self.missing_copies() == 0
            and not self.copies_failed
            and not self.duplicates
            and not self.unknown_copies
            and not wrong
            and not unexpected
            and not unrefused
            and not self.send_errors
        )
        return {
            "all_accounted_for": ok,
            "good_events_sent": self.good_sent,
            "copies_expected": self.copies_expected,
            "copies_verified": self.copies_verified,
            "copies_missing": self.missing_copies(),
            "copies_failed_verification": self.copies_failed,
            "copies_duplicated": self.duplicates,
            "copies_of_unknown_events": self.unknown_copies,
            "bad_records_sent": len(self.bad),
            "bad_sent_by_kind": dict(collections.Counter(self.bad.values())),
            "bad_refusals_by_kind": {k: dict(v) for k, v in per_kind.items()},
            "bad_not_refused": unrefused,
            "bad_refused_with_another_reason": dict(wrong),
            "refusals_of_good_records": dict(unexpected),
            "send_errors": self.send_errors[:20],
            "records_offered": self.offered_end,
        }


async def hub_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, topics: Topics) -> int:
    """Records in the outboxes past the hub group's committed offsets."""
    parts = bench_hub._parts([topics.outbox(c) for c in COMMIT_COUNTRIES])
    ends = await consumer.end_offsets(parts)
    committed = await admin.list_consumer_group_offsets(f"trm-hub-{topics.namespace}")
    return sum(
        ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
        for tp in parts
    )


# --- the run ---------------------------------------------------------------------


def _spawn_offer(
    s: bench_hub.Setup, ns: str, rate: float, seconds: float, out: Path
) -> bench_hub.Proc:
    log = (s.work / "offer.log").open("ab")
    popen = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "offer",
            "--bootstrap",
            s.bootstrap,
            "--namespace",
            ns,
            "--state",
            str(s.state.root),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    log.close()
    return bench_hub.Proc("offer", popen, time.time())


def spawn_sequencer(s: bench_hub.Setup, ns: str) -> bench_hub.Proc:
    """``trm audit sequencer`` on namespace ``ns``: part of the hub, as ``trm up`` runs it."""
    args = ["audit", "sequencer", "--bootstrap", s.bootstrap, "--namespace", ns]
    return bench_hub.spawn_trm(s.state, s.work, ns, "sequencer", args)


async def saturation(s: bench_hub.Setup, workers: int, events: int) -> float:
    """Events/s of ``workers`` hub workers draining a backlog (bench_hub's drain).

    The sequencer runs beside them, as in the soak: it is part of the hub and
    takes its share of the machine.
    """
    topics = await bench_hub.hub_namespace(s, "bsat")
    await bench_hub.write_events(s.bootstrap, topics, list(bench_hub.generate(s.pool, 0, events)))
    sequencer = spawn_sequencer(s, topics.namespace)
    try:
        d, startup, procs = await bench_hub.drain_hub(
            s, topics, workers=workers, start=0, count=events, label="saturation", verify_n=0
        )
    finally:
        sequencer.stop()
    for p in procs:
        p.stop()
    print(
        f"  saturation: {d.rate:.0f} events/s, {workers} worker(s) and the sequencer, "
        f"start-up {startup:.1f} s, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return d.rate


async def soak(s: bench_hub.Setup) -> None:
    a = s.args
    s.result["load_average_1m_at_start"] = os.getloadavg()[0]
    sat = a.rate * 2 if a.rate else await saturation(s, a.workers, a.saturation_events)
    s.pool.terminate()
    rate = sat / 2
    s.result.update(saturation_events_per_s=None if a.rate else sat, offered_per_s=rate)
    print(f"soak: {rate:.0f} records/s offered ({100 / BAD_EVERY:.0f} % bad) for {a.minutes} min")

    topics = await bench_hub.hub_namespace(s, "bsoak")
    ns = topics.namespace
    procs = [
        bench_hub.spawn_worker(s.state, s.work, s.bootstrap, ns, f"worker{i + 1}")
        for i in range(a.workers)
    ]
    procs.append(spawn_sequencer(s, ns))
    sent_path, recv_path = s.work / "sent.txt", s.work / "received.txt"
    ledger = Ledger()
    minutes: list[dict[str, Any]] = []
    current = Minute()
    try:
        for p in procs[:-1]:
            ready, _, why = await bench_hub.time_to_ready(p, a.start_timeout)
            if ready is None:
                raise RuntimeError(f"{p.name} not ready: {why}")
        receiver = bench_hub.spawn_script(
            s.work,
            "receiver",
            [
                "receive",
                "--bootstrap",
                s.bootstrap,
                "--namespace",
                ns,
                "--inboxes",
                ",".join(bench_hub.INBOXES),
                "--trust",
                str(s.state.trust),
                "--expect",
                "0",
                "--deadline-s",
                str(a.minutes * 60 + a.drain_timeout + 600),
                "--out",
                str(recv_path),
                "--stream",
            ],
        )
        procs.append(receiver)
        await bench_hub.wait_line(receiver, b"ready")
        gen = _spawn_offer(s, ns, rate, a.minutes * 60, sent_path)
        procs.append(gen)
        await bench_hub.wait_line(gen, b"ready")
        pids = s.pids(procs)
        sent_lines, recv_lines = Lines(sent_path), Lines(recv_path)

        decisions = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, enable_auto_commit=False)
        admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap)
        await decisions.start()
        await admin.start()
        decision_parts = bench_hub._parts([topics.decisions])
        decisions.assign(decision_parts)
        await decisions.seek_to_beginning(*decision_parts)

        async def read_decisions() -> None:
            while True:
                for records in (await decisions.getmany(timeout_ms=200)).values():
                    for r in records:
                        ledger.take_decision(r.value or b"{}", current)

        reader = asyncio.create_task(read_decisions())
        print(_table_head(pids), flush=True)
        t0 = time.monotonic()
        try:
            for k in range(1, a.minutes + 1):
                await asyncio.sleep(max(0.0, t0 + 60 * k - time.monotonic()))
                m, current = current, Minute()
                ledger.take_sent(sent_lines.new(), m)
                ledger.take_received(recv_lines.new(), m)
                row = _sample(k, m, pids, await hub_lag(admin, decisions, topics), procs)
                minutes.append(row)
                print(_table_line(row, pids), flush=True)
            # the drain: every copy and every refusal in, or the timeout
            deadline = time.monotonic() + a.drain_timeout
            await asyncio.to_thread(gen.popen.wait, a.drain_timeout)
            while time.monotonic() < deadline:
                ledger.take_sent(sent_lines.new(), current)
                ledger.take_received(recv_lines.new(), current)
                if (
                    ledger.offered_end is not None
                    and ledger.missing_copies() <= 0
                    and not ledger.unanswered_bad()
                ):
                    break
                await asyncio.sleep(1.0)
            await asyncio.sleep(2.0)  # late duplicates or refusals would show now
            ledger.take_sent(sent_lines.new(), current)
            ledger.take_received(recv_lines.new(), current)
            s.result["after_last_minute"] = _counts(current)
            s.result["lag_after_drain"] = await hub_lag(admin, decisions, topics)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await decisions.stop()
            await admin.close()
        gone = [p.name for p in procs if p.popen.poll() is not None and p is not gen]
        s.result["processes_exited_early"] = gone
    finally:
        for p in reversed(procs):
            p.stop()
    s.result["minutes"] = minutes
    s.result["accounting"] = ledger.accounting()
    s.result["verdicts"] = verdicts(minutes)
    s.result["tolerance"] = {"percent_of_first_5_mean": TOLERANCE_PCT, "floors": FLOOR}
    s.result["pids"] = pids
    all_lat = [x for row in minutes for x in (row["p99_ms"],) if x is not None]
    s.result["rows"] = [
        {
            "name": f"soak: {a.minutes} min at half saturation, 5 % bad",
            "events_per_s": rate,
            "p50_ms": percentile([r["p50_ms"] for r in minutes if r["p50_ms"] is not None], 50),
            "p99_ms": max(all_lat) if all_lat else None,
            "note": "p50: median of the minutes' p50; p99: the worst minute's p99",
        }
    ]


def _counts(m: Minute) -> dict[str, Any]:
    return {
        "sent_good": m.sent_good,
        "sent_bad": sum(m.sent_bad.values()),
        "sent_bad_by_kind": dict(m.sent_bad),
        "send_errors": m.send_errors,
        "copies_verified": m.copies_verified,
        "copies_failed": m.copies_failed,
        "delivered_decisions": m.delivered,
        "refused": sum(m.refused.values()),
        "refused_by_reason": dict(m.refused),
        "p50_ms": percentile(m.latencies, 50),
        "p99_ms": percentile(m.latencies, 99),
    }


def _sample(
    k: int, m: Minute, pids: Mapping[str, int], lag: int, procs: Sequence[bench_hub.Proc]
) -> dict[str, Any]:
    rss = {n: rss_bytes(p) for n, p in pids.items()}
    return {
        "minute": k,
        "load_average_1m": os.getloadavg()[0],
        "rss_mib": {n: (v / 2**20 if v is not None else None) for n, v in rss.items()},
        "lag": lag,
        "status_lag": {
            p.name: (bench_hub.status(p.port) or {}).get("lag")
            for p in procs
            if p.name.startswith("worker")
        },
        **_counts(m),
    }


def _short(name: str) -> str:
    return {"sequencer": "seq", "receiver": "recv", "offer": "gen"}.get(name, name)


def _table_head(pids: Mapping[str, int]) -> str:
    rss = " ".join(f"{_short(n)[:8]:>8}" for n in pids)
    return (
        f"  {'min':>3} {'load':>5} {'good':>6} {'bad':>4} {'copies':>7} {'refused':>7}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'lag':>6}  RSS MiB: {rss}"
    )


def _table_line(row: Mapping[str, Any], pids: Mapping[str, int]) -> str:
    def num(v: float | None, w: int, d: int = 1) -> str:
        return f"{'-':>{w}}" if v is None else f"{v:{w}.{d}f}"

    rss = " ".join(num(row["rss_mib"].get(n), 8) for n in pids)
    return (
        f"  {row['minute']:>3} {row['load_average_1m']:5.2f} {row['sent_good']:>6}"
        f" {row['sent_bad']:>4} {row['copies_verified']:>7} {row['refused']:>7}"
        f" {num(row['p50_ms'], 7)} {num(row['p99_ms'], 7)} {row['lag']:>6}           {rss}"
    )


# --- verdicts and the plot ---------------------------------------------------------


def series(minutes: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Name -> [(minute, value)]: ``rss:<process>`` (MiB), ``p99`` (ms), ``lag`` (records)."""
    out: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
    for row in minutes:
        for name, v in row["rss_mib"].items():
            if v is not None:
                out[f"rss:{name}"].append((row["minute"], v))
        if row["p99_ms"] is not None:
            out["p99"].append((row["minute"], row["p99_ms"]))
        out["lag"].append((row["minute"], float(row["lag"])))
    return dict(out)


def verdict(points: Sequence[tuple[int, float]], floor: float) -> dict[str, Any]:
    """First-5 against last-5 mean (fewer when short), slope per 10 minutes, flat or not."""
    n = len(points)
    w = max(1, min(5, n // 2))
    first = sum(v for _, v in points[:w]) / w
    last = sum(v for _, v in points[-w:]) / w
    mx = sum(x for x, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sum((x - mx) * (v - my) for x, v in points) / sxx * 10 if sxx else 0.0
    tol = max(abs(first) * TOLERANCE_PCT / 100, floor)
    flat = abs(last - first) <= tol and abs(slope) <= tol
    return {
        "minutes_averaged": w,
        "first_mean": first,
        "last_mean": last,
        "slope_per_10_min": slope,
        "tolerance": tol,
        "flat": flat,
    }


def verdicts(minutes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: verdict(points, FLOOR[name.split(":")[0]])
        for name, points in series(minutes).items()
        if points
    }


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#e377c2")


def svg(minutes: Sequence[Mapping[str, Any]], title: str) -> str:
    """Three panels against minutes: RSS per process (MiB), p99 (ms), lag (records)."""
    s = series(minutes)
    panels = [
        ("RSS per process (MiB)", {k[4:]: v for k, v in s.items() if k.startswith("rss:")}),
        ("latency p99 of the good copies (ms)", {"p99": s.get("p99", [])}),
        ("consumer lag of the hub's group on the outboxes (records)", {"lag": s.get("lag", [])}),
    ]
    width, ph, left, right, top = 900, 230, 70, 150, 40
    height = top + len(panels) * (ph + 50)
    xmax = int(max([r["minute"] for r in minutes] or [1]))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14">{html.escape(title)}</text>',
    ]
    for i, (label, lines) in enumerate(panels):
        y0 = top + i * (ph + 50) + 20
        values = [v for pts in lines.values() for _, v in pts]
        ymax = max(values or [1.0]) * 1.1 or 1.0
        pw = width - left - right

        def px(x: float, pw: int = pw) -> float:
            return left + (x - 1) / max(1, xmax - 1) * pw

        def py(v: float, y0: int = y0, ymax: float = ymax) -> float:
            return y0 + ph - v / ymax * ph

        out.append(f'<text x="{left}" y="{y0 - 6}">{html.escape(label)}</text>')
        out.append(
            f'<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>'
        )
        for t in range(5):
            v = ymax * t / 4
            out.append(
                f'<line x1="{left}" x2="{left + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                f'stroke="#eee"/><text x="{left - 6}" y="{py(v) + 4:.1f}" '
                f'text-anchor="end">{v:.0f}</text>'
            )
        step = max(1, xmax // 10)
        for x in range(1, xmax + 1, step):
            out.append(f'<text x="{px(x):.1f}" y="{y0 + ph + 16}" text-anchor="middle">{x}</text>')
        out.append(
            f'<text x="{left + pw / 2:.0f}" y="{y0 + ph + 32}" text-anchor="middle">minute</text>'
        )
        for j, (name, pts) in enumerate(lines.items()):
            colour = COLOURS[j % len(COLOURS)]
            path = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in pts)
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
            for x, v in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(v):.1f}" r="2.5" fill="{colour}"/>')
            out.append(
                f'<text x="{left + pw + 10}" y="{y0 + 14 + 16 * j}" fill="{colour}">'
                f"{html.escape(name)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(result: Mapping[str, Any]) -> None:
    print()
    for name, v in result["verdicts"].items():
        unit = {"rss": "MiB", "p99": "ms", "lag": "records"}[name.split(":")[0]]
        print(
            f"  {name:18} first {v['minutes_averaged']} min {v['first_mean']:9.1f}, "
            f"last {v['minutes_averaged']} min {v['last_mean']:9.1f} {unit}; slope "
            f"{v['slope_per_10_min']:+8.1f} {unit}/10 min; tolerance {v['tolerance']:.1f}: "
            f"{'flat' if v['flat'] else 'NOT flat'}"
        )
    acc = result["accounting"]
    print(
        f"  accounting: {acc['good_events_sent']} good events sent, "
        f"{acc['copies_verified']}/{acc['copies_expected']} copies verified "
        f"({acc['copies_failed_verification']} failed, {acc['copies_duplicated']} duplicated); "
        f"{acc['bad_records_sent']} bad records, {acc['bad_not_refused']} not refused, "
        f"wrong reason {acc['bad_refused_with_another_reason'] or 'none'}, "
        f"refusals of good records {acc['refusals_of_good_records'] or 'none'}: "
        f"{'every record accounted for' if acc['all_accounted_for'] else 'NOT all accounted for'}"
    )
    print(f"  refused by kind: {acc['bad_refusals_by_kind']}")


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["offer"]:
        p = argparse.ArgumentParser(prog="bench_soak.py offer")
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--namespace", required=True)
        p.add_argument("--state", type=Path, required=True)
        p.add_argument("--rate", type=float, required=True)
        p.add_argument("--seconds", type=float, required=True)
        p.add_argument("--out", type=Path, required=True)
        asyncio.run(offer(p.parse_args(argv[1:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=int, default=30, help="length of the soak")
    parser.add_argument(
        "--rate", type=float, default=None, help="records/s to offer (default: half saturation)"
    )
    parser.add_argument("--workers", type=int, default=1, help="hub workers")
    parser.add_argument(
        "--saturation-events", type=int, default=10_000, help="backlog for the saturation drain"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="longest wait after the last minute for every copy and refusal (s)",
    )
    parser.add_argument("--start-timeout", type=float, default=120.0, help="longest wait for ready")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest saturation drain")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trm-bench-soak-") as tmp:
        work = Path(tmp)
        state = StateDir(work / "state")
        keys, _ = make_identities(state, time.time_ns() // 1_000_000 - 60_000)
        sign_agreements(state, keys)
        trust = load_trust_file(state.trust)
        key_files = {cc: str(state.private_key(cc)) for cc in ("TH", "VN")}
        ctx = multiprocessing.get_context("fork")  # before any thread or event loop
        pool = ctx.Pool(
            os.cpu_count() or 2, bench_hub._gen_init, (key_files, time.time_ns() // 1_000_000)
        )
        try:
            with bench_hub.broker(work) as (servers, broker_pid):
                s = bench_hub.Setup(args, work, servers, broker_pid, state, trust, pool)
                s.result["args"] = dict(vars(args))
                head = subprocess.run(
                    ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                s.result["commit"] = head.stdout.strip() or None
                s.result["cpus"] = os.cpu_count()
                asyncio.run(soak(s))
        finally:
            pool.terminate()
    s.result["seconds_total"] = time.perf_counter() - started
    s.result["load_average_1m_at_end"] = os.getloadavg()[0]
    report(s.result)
    path = write_result("soak", s.result)
    plot = ARTIFACTS / "soak.svg"
    plot.write_text(
        svg(
            s.result["minutes"],
            f"trm-hub soak: {s.result['offered_per_s']:.0f} records/s offered "
            f"(half saturation, 5 % bad), {args.workers} worker(s), commit {s.result['commit']}",
        ),
        encoding="utf-8",
    )
    print(f"  written to {path} and {plot} ({s.result['seconds_total']:.0f} s in all)")
    return 0 if s.result["accounting"]["all_accounted_for"] else 1


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    sys.exit(main())
