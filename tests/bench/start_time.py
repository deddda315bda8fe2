"""How long a hub worker takes to start with N events in the log (not a test; no numbers fail).

    .venv/bin/python -m tests.bench.start_time [N]      (default 10000)

One worker takes N events in (TH -> KH referrals) and writes its bookmarks;
then a new worker is started and timed from its process start until its
``/hub/status`` says ``ready`` with ``lag`` 0; then the bookmarks are deleted
(tombstones) and a third start is timed: the full read that every start did
before docs/decisions.md D14. Prints both, the records each read, and the ratio.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from hub.app.kafka import read_all
from hub.keys import write_private_key
from hub.ops import broker as kafka_local
from hub.ops.provision import provision_registry
from hub.state import BOOKMARK_PREFIX
from hub.topics import Topics
from tests.support.hub import HUB_KEY, KEYS, sealed, trust_list
from tests.support.policy import agreement_from_table
from tests.support.procs import Worker

KEEP = ["case_number", "needs", "languages", "is_child", "receiving_organisation"]
POLICY = {"TH>KH:referral": KEEP}
RECOVERED = re.compile(r"recovered in ([\d.]+) s from ([a-z ]+): read (\d+) state records "
                       r"and (\d+) of (\d+) output records")  # fmt: skip


def _status(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/status", timeout=1) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc
    except OSError:
        return None


def _start_until_caught_up(worker: Worker, timeout_s: float = 900) -> tuple[float, dict[str, Any]]:
    port = worker.hub_web_port  # picked by the test support (free_port), kept across starts
    started = time.monotonic()
    worker.start()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        worker.alive()
        doc = _status(port)
        if doc and doc.get("ready") and doc.get("lag") == 0 and doc.get("assigned"):
            return time.monotonic() - started, doc
        time.sleep(0.1)
    raise SystemExit(f"the worker did not catch up in {timeout_s} s:\n{worker.log_tail()}")


async def _publish(bootstrap: str, topics: Topics, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        now = time.time_ns() // 1_000_000
        futures = []
        for i in range(n):
            raw, headers = sealed(created_at_ms=now + i, sequence=i + 1)
            futures.append(
                await producer.send(
                    topics.outbox("TH"), raw, key=f"case-{i % 97}".encode(), headers=headers
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _forget_bookmarks(bootstrap: str, topics: Topics) -> int:
    rows = await read_all(bootstrap, [topics.hub_bookmarks])
    keys = {k for _t, k, _v, _h, _ts in rows if k and k.startswith(BOOKMARK_PREFIX.encode())}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for k in keys:
            await producer.send_and_wait(topics.hub_bookmarks, None, key=k)
    finally:
        await producer.stop()
    return len(keys)


MILESTONES = ("[^Worker]: Starting...", "recovered in", "newly assigned", "Worker]: Ready")


def _milestones(worker: Worker, since: int) -> str:
    """When the last start passed Faust's and the hub's milestones (from its log)."""
    text = worker.log.read_text(errors="replace")[since:]
    out = [line[1:24] + " " + m for line in text.splitlines() for m in MILESTONES if m in line]
    return "\n  ".join(out)


def _last_recovery(worker: Worker) -> str:
    found = RECOVERED.findall(worker.log.read_text(errors="replace"))
    if not found:
        return "?"
    secs, how, state, read, history = found[-1]
    return f"recovery {secs} s from {how}: {state} state records, {read} of {history} outputs"


def main(n: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        cluster = kafka_local.LocalCluster(home / "kafka", nodes=1)
        cluster.start()
        try:
            topics = Topics("bench")
            asyncio.run(kafka_local.create_topics(cluster.bootstrap, topics.plan()))
            write_private_key(HUB_KEY, home / "keys" / "HUB.key")
            trust = json.dumps(trust_list().document.to_json()).encode()
            agreement = agreement_from_table(POLICY, KEYS)
            asyncio.run(provision_registry(cluster.bootstrap, topics, trust, [agreement]))
            asyncio.run(_publish(cluster.bootstrap, topics, n))
            worker = Worker(cluster.bootstrap, topics, home)
            first, _ = _start_until_caught_up(worker)
            time.sleep(15)  # two reconciler passes and several bookmarks
            worker.stop()
            print(f"{n} events in the log; first worker took them in in {first:.1f} s")
            mark = worker.log.stat().st_size
            print(f"started at {time.strftime('%H:%M:%S')}")
            tail, doc = _start_until_caught_up(worker)
            print(f"  {_milestones(worker, mark)}")
            print(f"start with bookmarks: ready and caught up in {tail:.2f} s; "
                  f"{_last_recovery(worker)}; status recovery {doc.get('recovery')}")  # fmt: skip
            worker.stop()
            gone = asyncio.run(_forget_bookmarks(cluster.bootstrap, topics))
            mark = worker.log.stat().st_size
            full, doc = _start_until_caught_up(worker)
            print(f"  {_milestones(worker, mark)}")
            print(f"start without bookmarks ({gone} deleted): caught up in {full:.2f} s; "
                  f"{_last_recovery(worker)}")  # fmt: skip
            worker.stop()
            print(f"ratio bookmarked / full start: {tail / full:.2f}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
