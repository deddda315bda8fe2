"""The processes bench_hub.py starts beside the hub: the transport ceiling relay and the receiver.

Each runs in its own process so it neither shares a core's interpreter with the
measuring process nor with the hub worker:

``relay``: an aiokafka consume->produce relay written as well as aiokafka
allows: batched ``getmany``; every copy sent without awaiting it, the batch's
acknowledgements gathered; ``acks=all`` and the idempotent producer; a batch's
offsets committed only once all its copies are acknowledged (the next batch is
fetched and sent meanwhile, commits stay in order). No checks: one copy of the
record's bytes per recipient, the recipients from a static route per outbox.
With ``--trust`` (bench_hub.py's "relay with the floor in line") it does the
bare floor's work on each record it relays, with ``cryptography``, ``hashlib``
and ``fastavro`` alone, as ``bench_wire``'s floor counts it: one Avro decode, one
Ed25519 verify of the producer's signature (its key found by the signature's key
id) and a SHA-256 of every disclosure and of the header per record; per copy one
Avro decode (the first copy reuses the record's), one Ed25519 sign with a key of
its own (over the DSSE PAE of the header's SHA-256 and the recipient, padded
to the mean size of the hub's attestation statements) and one Avro encode of
the record with that attestation added; it sends the encoded copies. A record
whose signature does not verify is counted and not relayed. No policy,
redaction or records about the relaying: what one process with aiokafka does
when it does only the floor's work.

``receive``: reads the inboxes from their end (pinned before it says ``ready``),
verifies every copy as a node does (``open_envelope(..., require_attestation=True)``),
and writes ``{event_id: [time_ns, ...]}`` (one time per verified copy) as JSON;
with ``--stream FILE`` (bench_soak.py) it instead appends one line per copy as it
goes, ``<event_id> <time_ns>`` or ``! <reason>`` for a copy that failed, until
``--expect`` copies (0: no bound), the deadline or SIGTERM. With
``--verify-after`` it stands in for recipients' nodes on machines of their own:
while the copies come it only notes when each arrived, and once the last has
come it verifies every one as above, each copy's time verified being when it
arrived plus what verifying it then took; so its verifying does not take the
cores the hub and the broker run on while they are measured.

Run: ``python tests/bench/_hub_procs.py relay|receive --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from hub.keys import signer_key_id
from hub.topics import Topics
from hub.trust import load_trust_file
from hub.wire import ATTESTATION_PAYLOAD_TYPE, HEADER_PAYLOAD_TYPE, open_envelope

# What the relay with the floor in line signs per copy: the mean size of the hub's
# attestation statements over bench_wire's mix (171-277 bytes, 211 on average).
STATEMENT_BYTES = 211


def _floor_work(trust_file: Path) -> Callable[[bytes, list[str]], list[bytes]]:
    """The bare floor's work on one record, the copies' bytes (the module's docstring)."""
    import hashlib
    import io

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from fastavro import parse_schema, schemaless_reader, schemaless_writer

    from schemas import load

    schema = parse_schema(load("envelope@1"))  # the mix is v1, as in bench_wire's floor
    verify = {
        kid: Ed25519PublicKey.from_public_bytes(k.raw).verify
        for kid, k in load_trust_file(trust_file).keys.items()
    }
    hub_key = Ed25519PrivateKey.generate()
    key_id = signer_key_id(hub_key)  # set-up: trm's own rule for a key id
    sha256, header_type = hashlib.sha256, HEADER_PAYLOAD_TYPE.encode()
    att_type = ATTESTATION_PAYLOAD_TYPE.encode()

    # DSSE v1 PAE, as docs/protocol.md 3.1 (hub.wire.pae): written out here so that
    # the timed work() calls no trm code, as the floor's loop calls none
    def pae(kind: bytes, body: bytes) -> bytes:
        return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)

    def work(value: bytes, recipients: list[str]) -> list[bytes]:
        body = value[10:]
        rec: Any = schemaless_reader(io.BytesIO(body), schema, None)
        sig = rec["signature"]
        verify[sig["key_id"]](sig["sig"], pae(header_type, rec["header"]))  # raises if bad
        for d in rec["disclosures"]:
            sha256(d).digest()
        digest = sha256(rec["header"]).digest()
        copies = []
        for i, recipient in enumerate(recipients):
            if i:  # one decode per copy
                rec = schemaless_reader(io.BytesIO(body), schema, None)
            statement = (digest + recipient.encode()).ljust(STATEMENT_BYTES, b"\0")
            signed = hub_key.sign(pae(att_type, statement))
            rec["attestations"] = [
                {"statement": statement, "signature": {"key_id": key_id, "sig": signed}}
            ]
            out = io.BytesIO()
            out.write(value[:10])
            schemaless_writer(out, schema, rec)
            copies.append(out.getvalue())
        return copies

    return work


async def relay(
    bootstrap: str, namespace: str, routes: dict[str, list[str]], trust_file: Path | None = None
) -> None:
    topics = Topics(namespace)
    work = _floor_work(trust_file) if trust_file is not None else None
    refused, worked, work_s = 0, 0, 0.0  # records worked on, and the thread's CPU in work()
    route = {
        topics.outbox(src): [topics.inbox(dst) for dst in dsts] for src, dsts in routes.items()
    }
    consumer = AIOKafkaConsumer(
        *route,
        bootstrap_servers=bootstrap,
        group_id=f"bench-relay-{namespace}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=16 << 20,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 << 10,
        max_request_size=4 << 20,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await consumer.start()
    await producer.start()
    print("ready", flush=True)
    # (acks of one batch, the offsets to commit once they are all in), oldest first
    pending: collections.deque[tuple[asyncio.Future[Any], dict[TopicPartition, int]]]
    pending = collections.deque()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=50, max_records=4000)
            if batch:
                sends = []
                for tp, records in batch.items():
                    dests = route[tp.topic]
                    for r in records:
                        if work is None:
                            copies = [r.value] * len(dests)
                        else:
                            t = time.thread_time()
                            try:
                                copies = work(r.value, dests)
                            except Exception:
                                refused += 1
                                continue
                            finally:
                                work_s += time.thread_time() - t
                            worked += 1
                        for dest, copy in zip(dests, copies, strict=True):
                            sends.append(
                                await producer.send(dest, copy, key=r.key, headers=list(r.headers))
                            )
                offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
                pending.append((asyncio.gather(*sends), offsets))
            # commit, in order, every batch whose copies are all acknowledged; wait
            # for the oldest when idle or when too much is in flight
            while pending and (pending[0][0].done() or not batch or len(pending) > 4):
                acks, offsets = pending.popleft()
                await acks  # a failed send raises here: nothing after it is committed
                await consumer.commit(offsets)
        while pending:
            acks, offsets = pending.popleft()
            await acks
            await consumer.commit(offsets)
    finally:
        await producer.stop()
        await consumer.stop()
        if refused:
            print(f"refused {refused}", file=sys.stderr, flush=True)
        if worked:
            print(
                f"the floor's work: {worked} records, {work_s * 1e6 / worked:.1f} µs of CPU each",
                file=sys.stderr,
                flush=True,
            )


async def receive(
    bootstrap: str,
    namespace: str,
    inboxes: list[str],
    *,
    trust_file: Path,
    expect: int,
    deadline_s: float,
    stream: TextIO | None = None,
    verify_after: bool = False,
) -> dict[str, Any]:
    """Verify every copy arriving after the start; event id -> time_ns of each verified copy.

    Also, per event id, each copy's record timestamp (ms: when the hub's writer
    took it, the producer's create time), which splits a copy's latency into
    the hub's part and this receiver's, and its attestation's time (ms: when
    the broker appended the original to its outbox), which splits the hub's
    part into the way to the outbox and the worker's. ``stream``: each copy is written there
    as a line at once (and not kept); ``expect`` 0 then means no bound. ``verify_after``:
    each copy is verified once all have come, and counted as verified when it arrived
    plus what verifying it took (the module's docstring).
    """
    if verify_after and stream is not None:
        raise ValueError("verify_after keeps every copy until the end: not with stream")
    trust = load_trust_file(trust_file)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    got: dict[str, list[int]] = {}
    written: dict[str, list[int]] = {}
    appended: dict[str, list[int]] = {}
    failed = 0
    count = 0
    arrived: list[tuple[ConsumerRecord[bytes, bytes], int]] = []  # verify_after: (copy, time_ns)

    def opened(r: ConsumerRecord[bytes, bytes]) -> tuple[str, int] | None:
        """The copy opened as a node does: (its event id, its outbox append time ms from its
        hub attestation); None (counted, never a latency sample) if refused."""
        nonlocal failed
        try:
            event = open_envelope(
                r.value or b"", trust, kafka_headers=r.headers, require_attestation=True
            )
        except Exception as exc:
            failed += 1
            if stream:
                stream.write(f"! {getattr(exc, 'reason', type(exc).__name__)}\n")
            return None
        if event.attestation is None:  # required above: never here
            raise RuntimeError("a copy opened without its hub attestation")
        return event.event.header.event_id, event.attestation.attested_at_ms

    def keep(copy: tuple[str, int], r: ConsumerRecord[bytes, bytes], verified_ns: int) -> None:
        """Note a verified copy: when, its record's timestamp, its outbox append time."""
        eid, attested_at_ms = copy
        got.setdefault(eid, []).append(verified_ns)
        written.setdefault(eid, []).append(r.timestamp)
        appended.setdefault(eid, []).append(attested_at_ms)

    try:
        parts = [
            TopicPartition(spec.name, p)
            for spec in Topics(namespace).plan()
            if spec.name in inboxes
            for p in range(spec.partitions)
        ]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)  # pinned before anything is sent
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        # No collector pauses while measuring (a pass over what this process keeps
        # stalls every copy in flight, and was counted as the hub's latency): what
        # start loaded is frozen, and a bounded run (``expect``) collects nothing.
        gc.collect()
        gc.freeze()
        if expect:
            gc.disable()
        print("ready", flush=True)
        stop_at = time.monotonic() + deadline_s
        while (
            (count < expect or (stream and not expect))
            and time.monotonic() < stop_at
            and not stop.is_set()
        ):
            for records in (await consumer.getmany(timeout_ms=50)).values():
                if verify_after:
                    now = time.time_ns()
                    arrived += [(r, now) for r in records]
                    count += len(records)
                    continue
                for r in records:
                    copy = opened(r)
                    if copy is None:
                        continue
                    if stream:
                        stream.write(f"{copy[0]} {time.time_ns()}\n")
                    else:
                        keep(copy, r, time.time_ns())
                    count += 1
            if stream:
                stream.flush()
        for r, at in arrived:
            t = time.perf_counter_ns()
            copy = opened(r)
            if copy is not None:
                keep(copy, r, at + time.perf_counter_ns() - t)
    finally:
        gc.enable()
        await consumer.stop()
    return {"received": got, "written": written, "appended": appended, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--bootstrap", required=True)
    r.add_argument("--namespace", required=True)
    r.add_argument("--route", action="append", default=[], help="e.g. VN=CN,KH,LA,TH")
    r.add_argument(
        "--trust", type=Path, default=None, help="do the bare floor's work on each record"
    )
    v = sub.add_parser("receive")
    v.add_argument("--bootstrap", required=True)
    v.add_argument("--namespace", required=True)
    v.add_argument("--inboxes", required=True, help="countries, comma-separated")
    v.add_argument("--trust", type=Path, required=True)
    v.add_argument("--expect", type=int, required=True, help="copies to receive")
    v.add_argument("--deadline-s", type=float, required=True)
    v.add_argument("--out", type=Path, required=True)
    v.add_argument("--stream", action="store_true", help="a line per copy to --out as it comes")
    v.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run at this nice value (below the hub's worker and the broker)",
    )
    v.add_argument(
        "--verify-after",
        action="store_true",
        help="note each copy's arrival; verify all at the end, each counted as verified "
        "when it arrived plus what verifying it took",
    )
    args = parser.parse_args(argv)
    if args.role == "relay":
        routes = {}
        for spec in args.route:
            src, _, dsts = spec.partition("=")
            routes[src] = [d for d in dsts.split(",") if d]
        asyncio.run(relay(args.bootstrap, args.namespace, routes, args.trust))
    else:
        if args.nice:
            os.nice(args.nice)  # before any thread: every thread of the receiver takes it
        topics = Topics(args.namespace)
        inboxes = [topics.inbox(c) for c in args.inboxes.split(",") if c]
        with contextlib.ExitStack() as stack:
            stream = (
                stack.enter_context(args.out.open("a", encoding="ascii")) if args.stream else None
            )
            got = asyncio.run(
                receive(
                    args.bootstrap,
                    args.namespace,
                    inboxes,
                    trust_file=args.trust,
                    expect=args.expect,
                    deadline_s=args.deadline_s,
                    stream=stream,
                    verify_after=args.verify_after,
                )
            )
        if not args.stream:
            args.out.write_text(json.dumps(got), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
