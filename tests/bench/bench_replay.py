"""Benchmark: the auditor's replay rate against the floor of the primitives it must run.

    .venv/bin/python tests/bench/bench_replay.py [N]     (default N = 1,000,000 events)

The log: N trafficker alerts VN -> KH, TH under the COMMIT baseline, each run
through the hub's real pipeline (``hub.pipeline.process``: seal, verify,
policy, redact, attest), giving one INGESTED and two DELIVERED leaves per
event, sequenced into a tree with a signed checkpoint every 1,000 events, the
same log ``tests.support.audit.World`` builds. Event i is created at T + i ms
(1,000 events a second, a busy region's peak), so its event id, a UUIDv7,
carries that time as a real producer's does: the replay's lookups by event id
walk their indexes in time order, as over a real log. (All events created in
one millisecond, as this log once was, would give ids in random order: no
producer makes those.)

Building it is the slow part (the pipeline signs and verifies like the
hub), so it is built once and cached: chunks of events are run through the
pipeline by a process pool over every core (each chunk's outbox and inbox
offsets are known in advance: event i sits at offset i of each), the parent
sequences the chunks' leaves in order, and the spool is kept under
``artifacts/bench/replay-<N>-<hash>/``, keyed by N and a SHA-256 of every
source file the builder imports (hub/, tests/support/, schemas/, this
builder's own functions). A second run with the same code reuses it; any
change to what produced it builds it again.

Each size (N/10 and N; with the default, 100,000 and 1,000,000 events) is
replayed in a fresh child process, which streams each topic from the spool as
the CLI streams it from Kafka (a smaller size reads a prefix of the same log:
the first m events, their 3m leaves and checkpoints, exactly the log of m
events), and reports its time and peak RSS.

The floor: the replay is run over the first 1,000 events with the primitives it
calls counted (every Ed25519 verify, every SHA-256 with its input length);
those same calls are then timed bare (``cryptography`` and ``hashlib`` alone)
in this run, and the floor is that time per event. Ratio = floor µs per
event divided by the replay's µs per event (1.0 would be a replay that costs nothing besides
its cryptography). Both are CPU time of the one process (``time.process_time``):
the machine is shared, and wall time measures the neighbours as much as the
replay; wall-clock events/s are printed too. The replay verifies with the
native Ed25519 (``hub/native``, ``ed25519-dalek``) when it is built, so the
same calls are also timed with it: the native floor, a second ratio. While
each replay runs, a third child times the same calls every 20 s on the other
core (``sample_floor``): this machine's speed moves by a fifth or more within minutes,
and the ratio against the mean of those samples (``ratio_to_floor_alongside``)
compares the replay with the floor of the same minutes; the combined table
judges the target by it. Results go to ``artifacts/bench/replay.json``.
``measure(n)`` returns the same dict for the lead's combined table.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1].parent
sys.path.insert(0, str(ROOT))

from tests.bench._common import own_peak_rss_mib  # noqa: E402 - after the path

DEFAULT_N = 1_000_000
CHUNK = 5_000  # events per pool task
CHECKPOINT_EVERY = 1_000  # events
T = 1_772_323_200_000  # 2026-03-01T00:00:00Z, as tests.support.audit
NS = "t"
STREAMS = ("leaves", "checkpoints", "outboxes", "inboxes", "rejections", "quarantine")
ARTIFACTS = ROOT / "artifacts" / "bench"
FLOOR_EVENTS = 1_000  # one checkpoint's worth: a clean log on its own
SAMPLE_EVERY_S = 20.0  # the floor beside a replay: about 2 s of one core in every 20

Rec = tuple[str, int, int, bytes, tuple[tuple[str, bytes], ...], int]


# --- building the log (cached) -------------------------------------------------------


def _build_chunk(task: tuple[int, int, str]) -> tuple[int, int]:
    """Run events [lo, hi) through the real pipeline; spool outbox, inboxes, leaf bytes."""
    from hub.audit.leaf import AuditLeaf
    from hub.decision import EFFECT_HEADER, SourceRef
    from hub.pipeline import Registry, process
    from hub.policy import decide
    from hub.state import HubState
    from hub.topics import Topics
    from hub.wire import cloudevents_headers, seal
    from tests.support.examples import AGREEMENTS, HUB_KEY, TRUST, example_key, example_payload

    lo, hi, out = task
    topics = Topics(NS)
    state = HubState()
    registry = Registry(keys=TRUST, agreements=AGREEMENTS, decide=decide, version="v1")
    outbox = topics.outbox("VN")
    inboxes = {topics.inbox(cc): cc for cc in ("KH", "TH")}
    got: dict[str, list[Any]] = {"outbox": [], "leaves": [], **{cc: [] for cc in inboxes.values()}}
    for i in range(lo, hi):
        at = T + i  # one event a millisecond: its UUIDv7 id carries the time, as a real one
        env = seal(
            "trafficker_alert",
            example_payload("trafficker_alert"),
            producer="VN",
            key=example_key("VN"),
            recipients=["KH", "TH"],
            purpose="investigation",
            handling="H1",
            case_key="case-VN",
            sequence=i + 1,
            created_at_ms=at,
        )
        headers = tuple(cloudevents_headers(env.header))
        got["outbox"].append((outbox, 0, i, env.to_bytes(), headers, at))
        outcome = process(
            env.to_bytes(),
            list(headers),
            SourceRef(outbox, 0, i),
            topics=topics,
            registry=registry,
            state=state,
            hub_key=HUB_KEY,
            now_ms=at + 1000,
        )
        for effect in outcome.effects:
            if effect.topic in inboxes:
                got[inboxes[effect.topic]].append(
                    (effect.topic, 0, i, effect.value, tuple(effect.headers), at + 1000)
                )
            elif effect.topic == topics.decisions:
                decision_id = dict(effect.headers)[EFFECT_HEADER].decode()
                got["leaves"].append(AuditLeaf.from_decision(decision_id, effect.value).to_bytes())
            elif effect.topic == topics.hub_state:
                continue  # the hub's own recovery note: nothing an auditor reads
            else:
                raise RuntimeError(f"unexpected effect on {effect.topic} for event {i}")
    for name, rows in got.items():
        if name != "leaves" and len(rows) != hi - lo:
            raise RuntimeError(
                f"expected {hi - lo} {name} records in [{lo}, {hi}), got {len(rows)}"
            )
        with open(os.path.join(out, f"{name}-{lo:09d}.pickle"), "wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
    return lo, hi


def _sequence(
    spool: Path, chunks: list[tuple[int, int]], leaves_file: Any, edge: Any
) -> list[list[Any]]:
    """The single sequencer: chunk leaves in order into the tree; a checkpoint per 1,000 events."""
    from hub.audit.log import origin_of
    from hub.audit.note import Checkpoint, sign_note
    from hub.topics import Topics
    from tests.support.examples import HUB_KEY

    topics, origin = Topics(NS), origin_of(NS)
    checkpoints: list[list[Any]] = []
    for lo, hi in chunks:
        path = spool / f"leaves-{lo:09d}.pickle"
        with path.open("rb") as f:
            leaves: list[bytes] = pickle.load(f)  # noqa: S301 - our own spool
        path.unlink()
        if len(leaves) != 3 * (hi - lo):
            raise RuntimeError(f"expected 3 leaves per event in [{lo}, {hi}), got {len(leaves)}")
        batch = []
        for j, leaf in enumerate(leaves):
            batch.append((topics.audit_leaves, 0, edge.size, leaf, (), T))
            edge.append(leaf)
            if (j + 1) % (3 * CHECKPOINT_EVERY) == 0:
                note = sign_note(Checkpoint(origin, edge.size, edge.root()).text(), origin, HUB_KEY)
                checkpoints.append([edge.size, note.to_bytes()])
        pickle.dump(batch, leaves_file, protocol=pickle.HIGHEST_PROTOCOL)
    return checkpoints


def _builder_hash() -> str:
    """SHA-256 of everything that decides the spool's bytes (run in a fresh process)."""
    import hub.audit.leaf
    import hub.audit.log
    import hub.audit.merkle
    import hub.audit.note
    import hub.decision
    import hub.pipeline
    import hub.policy
    import hub.state
    import hub.topics
    import hub.wire  # noqa: F401
    import tests.support.examples  # noqa: F401 - every module the builder imports

    h = hashlib.sha256()
    here = Path(__file__).resolve()
    loaded = {
        Path(f).resolve() for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))
    }
    files = sorted(p for p in loaded if p.is_relative_to(ROOT) and p != here)
    files += sorted((ROOT / "schemas").rglob("*"))
    files += sorted((ROOT / "deploy" / "agreements").rglob("*"))
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for fn in (_build_chunk, _sequence, build):
        h.update(inspect.getsource(fn).encode())
    h.update(f"{CHUNK} {CHECKPOINT_EVERY} {T} {NS}".encode())
    return h.hexdigest()


def build(n: int, spool: Path) -> None:
    """Build the log of n events into ``spool`` (a process pool over every core)."""
    from hub.audit.merkle import CompactRange

    if n % CHECKPOINT_EVERY:
        raise ValueError(f"expected N a multiple of {CHECKPOINT_EVERY}, got {n}")
    spool.mkdir(parents=True)
    tasks = [(lo, min(lo + CHUNK, n), str(spool)) for lo in range(0, n, CHUNK)]
    chunks: list[tuple[int, int]] = []
    checkpoints: list[list[Any]] = []
    edge = CompactRange()  # the tree's right edge, across chunks
    with (
        get_context("spawn").Pool(os.cpu_count() or 1) as pool,
        (spool / "leaves.pickle").open("wb") as leaves_file,
    ):
        done = 0
        for lo, hi in pool.imap(_build_chunk, tasks):
            checkpoints += _sequence(spool, [(lo, hi)], leaves_file, edge)
            chunks.append((lo, hi))
            done = hi
            if done % (CHUNK * 20) == 0:
                print(f"  built {done:,} of {n:,} events", flush=True)
    manifest = {"n": n, "chunks": chunks, "checkpoints": checkpoints}
    with (spool / "checkpoints.pickle").open("wb") as f:
        pickle.dump(checkpoints, f, protocol=pickle.HIGHEST_PROTOCOL)
    (spool / "manifest.json").write_text(json.dumps({k: manifest[k] for k in ("n", "chunks")}))


def spool_for(n: int) -> tuple[Path, float, bool]:
    """The cached spool of n events (built if missing): path, build seconds, reused?"""
    code = subprocess.run(
        [sys.executable, __file__, "codehash"], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    spool = ARTIFACTS / f"replay-{n}-{code[:16]}"
    if (spool / "manifest.json").exists():
        return spool, 0.0, True
    for old in ARTIFACTS.glob(f"replay-{n}-*"):
        shutil.rmtree(old)  # another code's spool of the same size: stale
    partial = spool.with_name(spool.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    build(n, partial)
    partial.rename(spool)
    return spool, time.perf_counter() - started, False


# --- reading it back as the replay's streams ------------------------------------------


class _Spooled:
    """One stream of the first m events, read batch by batch from the spool when iterated."""

    def __init__(self, spool: Path, stream: str, m: int) -> None:
        self.spool, self.stream, self.m = spool, stream, m

    def _rows(self) -> Iterator[Rec]:
        manifest = json.loads((self.spool / "manifest.json").read_text())
        los = [lo for lo, _hi in manifest["chunks"] if lo < self.m]
        if self.stream == "leaves":
            with (self.spool / "leaves.pickle").open("rb") as f:
                while True:
                    try:
                        batch = pickle.load(f)  # noqa: S301 - our own spool
                    except EOFError:
                        return
                    for row in batch:
                        if row[2] >= 3 * self.m:
                            return
                        yield row
        elif self.stream == "checkpoints":
            from hub.topics import Topics

            with (self.spool / "checkpoints.pickle").open("rb") as f:
                cps = pickle.load(f)  # noqa: S301 - our own spool
            topic = Topics(NS).audit_checkpoints
            yield from (
                (topic, 0, i, note, (), T)
                for i, (size, note) in enumerate(cps)
                if size <= 3 * self.m
            )
        elif self.stream in ("outboxes", "inboxes"):
            names = ["outbox"] if self.stream == "outboxes" else ["KH", "TH"]
            for name in names:  # the order of COMMIT_COUNTRIES
                for lo in los:
                    with (self.spool / f"{name}-{lo:09d}.pickle").open("rb") as f:
                        rows = pickle.load(f)  # noqa: S301 - our own spool
                    yield from (r for r in rows if r[2] < self.m)

    def __iter__(self) -> Iterator[Any]:
        from hub.audit.replay import Record

        for row in self._rows():
            yield Record(*row)


def _input(spool: Path, m: int) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(**{s: _Spooled(spool, s, m) for s in STREAMS})


def _replay_kwargs(spool: Path) -> dict[str, Any]:
    from hub.audit.log import origin_of
    from hub.audit.replay import hub_public_keys
    from hub.topics import Topics
    from tests.support.examples import AGREEMENTS, TRUST

    return {
        "trust": TRUST,
        "agreements": AGREEMENTS,
        "topics": Topics(NS),
        "origin": origin_of(NS),
        "hub_keys": hub_public_keys(TRUST),
        "scratch_dir": str(spool),
    }


def replay_child(spool: Path, m: int) -> dict[str, Any]:
    """Replay the first m events in this (fresh) process: time and peak RSS."""
    from hub.audit.replay import replay

    kwargs = _replay_kwargs(spool)
    before = own_peak_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    report = replay(_input(spool, m), **kwargs)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = own_peak_rss_mib()
    return {
        "ok": report.ok,
        "findings": report.summary(),
        "events": m,
        "leaves": report.leaves,
        "checkpoints": report.checkpoints,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rss_before_mib": before,
        "rss_peak_mib": peak,
    }


# --- the floor ---------------------------------------------------------------------


Primitives = tuple[list[tuple[bytes, bytes, bytes]], list[bytes]]


def count_primitives(spool: Path, m: int = FLOOR_EVENTS) -> dict[str, Any]:
    """Replay m events with every Ed25519 verify and SHA-256 recorded; time them bare."""
    return time_floor(record_primitives(spool, m), m)


def record_primitives(spool: Path, m: int = FLOOR_EVENTS) -> Primitives:
    """Replay m events; every Ed25519 verify (key, signature, message) and SHA-256 input."""
    from hub.audit.replay import replay
    from hub.keys import ed25519_verify

    wire_verify = sys.modules["hub.wire.verify"]  # hub.wire's ``verify`` is the function
    verifies: list[tuple[bytes, bytes, bytes]] = []
    hashes: list[bytes] = []
    real_verify = ed25519_verify

    def counted_verify(raw: bytes, sig: bytes, msg: bytes) -> bool:
        verifies.append((raw, bytes(sig), bytes(msg)))
        return real_verify(raw, sig, msg)

    real_sha256 = hashlib.sha256

    def sha256(data: bytes = b"", **kw: Any) -> Any:
        hashes.append(bytes(data))
        return real_sha256(data, **kw)

    note_module = sys.modules["hub.audit.note"]
    keys_module = sys.modules["hub.keys"]
    envelope_module = sys.modules["hub.wire.envelope"]
    disclosures_module = sys.modules["hub.wire.disclosures"]
    native_module = sys.modules["hub.wire.native"]
    # every place the replay reaches Ed25519 or SHA-256 through (hub.keys.ed25519_verify,
    # bound by name where it is called; hub.wire.envelope and hub.wire.disclosures bind
    # hashlib.sha256 once; the native walk hashes disclosures in Rust, so it is off
    # while the primitives are counted: what the replay must check does not depend
    # on who computes it)
    patches = [
        (wire_verify, "ed25519_verify", counted_verify),
        (keys_module, "ed25519_verify", counted_verify),
        (note_module, "ed25519_verify", counted_verify),
        (hashlib, "sha256", sha256),
        (envelope_module, "_sha256", sha256),
        (disclosures_module, "_sha256", sha256),
        (native_module, "ENABLED", False),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _new in patches]
    for module, name, new in patches:
        setattr(module, name, new)
    try:
        report = replay(_input(spool, m), **_replay_kwargs(spool))
    finally:
        for module, name, old in saved:
            setattr(module, name, old)
    assert report.ok, report.summary()
    return verifies, hashes


def time_floor(primitives: Primitives, m: int, rounds: int = 5) -> dict[str, Any]:
    """The recorded primitives timed bare, best of ``rounds``: the floor of m events."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from hub.wire import _native

    verifies, hashes = primitives
    real_sha256 = hashlib.sha256

    def best_of(keys: dict[bytes, Any]) -> float:
        """CPU seconds of the recorded verifies (with ``keys``) and hashes, best of rounds."""
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            for raw, sig, msg in verifies:
                keys[raw].verify(sig, msg)
            for data in hashes:
                real_sha256(data).digest()
            best = min(best, time.process_time() - start)
        return best

    raws = {raw for raw, _s, _m in verifies}
    best = best_of({raw: Ed25519PublicKey.from_public_bytes(raw) for raw in raws})
    # the same work with the native Ed25519 (hub/native, ed25519-dalek), which the replay calls
    best_native = best_of({raw: _native.Ed25519Public(raw) for raw in raws})
    return {
        "native_floor_us_per_event": best_native / m * 1e6,
        "native_floor_events_per_s": m / best_native,
        "events": m,
        "ed25519_verifies_per_event": len(verifies) / m,
        "sha256_per_event": len(hashes) / m,
        "sha256_bytes_per_event": sum(map(len, hashes)) / m,
        "floor_us_per_event": best / m * 1e6,  # CPU time
        "floor_events_per_s": m / best,
    }


def sample_floor(spool: Path, every_s: float) -> None:
    """Print the floor (a JSON line) now and every ``every_s`` seconds until killed.

    Run beside a replay, on the machine's other core: what the primitives cost
    while it ran. This machine's speed moves by a fifth or more within minutes
    (its neighbours), so a floor measured once before a replay of a quarter of
    an hour says little about the minutes the replay had.
    """
    primitives = record_primitives(spool)
    while True:
        print(json.dumps(time_floor(primitives, FLOOR_EVENTS, rounds=3)), flush=True)
        time.sleep(every_s)


# --- driver ------------------------------------------------------------------------


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _replay_beside_the_floor(spool: Path, m: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Replay m events in a child, the floor sampled meanwhile by another (sample_floor)."""
    sampler = subprocess.Popen(
        [sys.executable, __file__, "sampler", str(spool), str(SAMPLE_EVERY_S)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        replayed = _child("replay", str(spool), str(m))
    finally:
        sampler.terminate()
        out, _err = sampler.communicate()
    samples = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return replayed, samples


def measure(n: int) -> dict[str, Any]:
    """Build (or reuse) the log of n events, replay it at n/10 and n; the numbers as a dict."""
    started = time.perf_counter()
    spool, built_s, reused = spool_for(n)
    floor = _child("floor", str(spool))
    sizes = sorted({max(CHECKPOINT_EVERY, n // 10 // CHECKPOINT_EVERY * CHECKPOINT_EVERY), n})
    runs = []
    for m in sizes:
        r, samples = _replay_beside_the_floor(spool, m)
        if not r["ok"]:
            raise RuntimeError(f"an honest log must replay clean, found {r['findings']}")
        r["events_per_s"] = m / r["seconds"]
        r["cpu_us_per_event"] = 1e6 * r["cpu_seconds"] / m
        r["ratio_to_floor"] = floor["floor_us_per_event"] / r["cpu_us_per_event"]
        r["ratio_to_native_floor"] = floor["native_floor_us_per_event"] / r["cpu_us_per_event"]
        alongside = [x["floor_us_per_event"] for x in samples]
        r["floor_alongside_us"] = alongside
        if alongside:
            mean = sum(alongside) / len(alongside)
            r["ratio_to_floor_alongside"] = mean / r["cpu_us_per_event"]
        runs.append(r)
    spooled = sum(p.stat().st_size for p in spool.glob("*.pickle"))
    return {
        "n": n,
        "spool": str(spool.relative_to(ROOT)),
        "spool_bytes": spooled,
        "spool_reused": reused,
        "build_seconds": built_s,
        "floor": floor,
        "runs": runs,
        "total_seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["codehash"]:
        print(_builder_hash())
        return
    if argv[:1] == ["floor"]:
        print(json.dumps(count_primitives(Path(argv[1]))))
        return
    if argv[:1] == ["replay"]:
        print(json.dumps(replay_child(Path(argv[1]), int(argv[2]))))
        return
    if argv[:1] == ["sampler"]:
        sample_floor(Path(argv[1]), float(argv[2]))
        return
    n = int(argv[0]) if argv else DEFAULT_N
    result = measure(n)
    f = result["floor"]
    how = "reused" if result["spool_reused"] else f"built in {result['build_seconds']:.0f} s"
    print(
        f"log of {n:,} events: {result['spool_bytes'] / 1e9:.2f} GB spooled ({how}; "
        f"{result['spool']})"
    )
    print(
        f"floor per event: {f['ed25519_verifies_per_event']:.3f} Ed25519 verifies + "
        f"{f['sha256_per_event']:.1f} SHA-256 ({f['sha256_bytes_per_event']:,.0f} bytes) = "
        f"{f['floor_us_per_event']:.0f} CPU µs bare ({f['floor_events_per_s']:,.0f} events/s); "
        f"with the native Ed25519 {f['native_floor_us_per_event']:.0f} CPU µs"
    )
    for r in result["runs"]:
        alongside = r["floor_alongside_us"]
        beside = (
            f", {r['ratio_to_floor_alongside']:.2f} of the floor measured alongside "
            f"({len(alongside)} samples, {min(alongside):.0f}-{max(alongside):.0f} µs)"
            if alongside
            else ", no floor measured alongside"
        )
        print(
            f"replay {r['events']:>9,} events / {r['leaves']:>9,} leaves / "
            f"{r['checkpoints']:>5,} checkpoints: {r['events_per_s']:,.0f} events/s "
            f"(wall), {r['cpu_us_per_event']:.0f} CPU µs/event, "
            f"{r['ratio_to_floor']:.2f} of the first floor{beside} "
            f"({r['ratio_to_native_floor']:.2f} of the native floor); "
            f"peak RSS {r['rss_peak_mib']:,.0f} MiB "
            f"({r['rss_peak_mib'] - r['rss_before_mib']:,.0f} MiB above the process before)"
        )
    print(f"total {result['total_seconds']:.0f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "replay.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] not in (["codehash"], ["floor"], ["replay"], ["sampler"]):
        # the parent only: the codehash child hashes every module it has loaded
        from tests.bench._common import require_current_build

        require_current_build()
    main()
