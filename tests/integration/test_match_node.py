"""Hit/no-hit matching on the real broker, through the real hub worker (a subprocess):
six countries' evaluators (KH's as 'trm match evaluator', the others in this process),
register and query with a hit and without; only t - 1 evaluators online; a forging
evaluator named; a requester's budget exhausted."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk import CountryNode
from connectors.sdk.evaluator import STATUS_PATH, EvaluatorService
from connectors.sdk.matching import query, register
from hub.errors import Reason, TrmError
from hub.home import StateDir
from hub.keys import write_private_key
from hub.matching import oprf
from hub.matching.ceremony import MatchPublic, deal_ceremony, load_share, write_ceremony
from hub.matching.messages import (
    Evaluate,
    Evaluation,
    MatchMessage,
    MatchMessageKind,
)
from hub.matching.threshold import PartialEvaluation
from hub.ops.broker import free_port
from hub.ops.provision import provision_registry
from hub.topics import Topics
from hub.wire import new_event_id
from tests.support.nodes import COUNTRIES, HUB_KEY, KEYS, T0, trust_list, write_state
from tests.support.procs import REPO, TRM, Proc, Worker

pytestmark = pytest.mark.kafka

PHONE_VN = "+66 81 234 5678"  # as Viet Nam's record holds it
PHONE_TH = "081 234 5678"  # the same number as Thailand's officer writes it
CASE, PURPOSE = "TH-2026-0042", "investigation"


class Evaluators:
    """In-process evaluator services (and forgers), each on its own node and task."""

    def __init__(self, home: Path, bootstrap: str, topics: Topics, public: MatchPublic) -> None:
        self.home, self.bootstrap, self.topics, self.public = home, bootstrap, topics, public
        self.running: dict[str, tuple[asyncio.Event, asyncio.Task[None]]] = {}

    def node(self, cc: str) -> CountryNode:
        return CountryNode(
            cc, KEYS[cc], trust_list(), self.bootstrap, topics=self.topics,
            state=StateDir(self.home),
        )  # fmt: skip

    async def start(self, countries: list[str], *, limit: int = 1000) -> None:
        state = StateDir(self.home)
        for cc in countries:
            share = load_share(state.match_share(cc), self.public)
            service = EvaluatorService(self.node(cc), share, self.public, limit=limit)
            await self._run(cc, service.run, service.is_ready)

    async def start_forger(self, cc: str) -> None:
        """MM answers with a key it made up: valid proofs, of the wrong key."""
        node = self.node(cc)
        wrong = oprf.random_scalar()
        index = self.public.index_of(cc)

        async def forge(stop: asyncio.Event) -> None:
            async with node, node.match_topic() as topic:
                ready.set()
                while not stop.is_set():
                    msg = await topic.next(0.5)
                    if msg is None or not isinstance(msg.body, Evaluate) or msg.recipient != cc:
                        continue
                    partials = []
                    for b in msg.body.blinded:
                        z = oprf.multiply(wrong, b)
                        proof = oprf.generate_proof(
                            wrong, oprf.GENERATOR, oprf.base_multiply(wrong), [b], [z],
                            mode=oprf.MODE_VOPRF,
                        )  # fmt: skip
                        partials.append(PartialEvaluation(index, z, proof))
                    now = node.now_ms()
                    await node.send_match(
                        MatchMessage(
                            MatchMessageKind.EVALUATION,
                            new_event_id(now),
                            cc,
                            msg.sender,
                            msg.message_id,
                            now,
                            Evaluation(msg.body.query_id, tuple(partials), 1, 1000, "2026-01-01"),
                        )
                    )

        ready = asyncio.Event()
        await self._run(cc, forge, ready.is_set)

    async def _run(
        self,
        cc: str,
        run: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
        ready: Callable[[], bool],
    ) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run(stop))
        self.running[cc] = (stop, task)
        for _ in range(120):
            if ready():
                return
            if task.done():
                task.result()
            await asyncio.sleep(0.25)
        raise AssertionError(f"evaluator {cc} not ready")

    async def stop(self) -> None:
        for stop, _ in self.running.values():
            stop.set()
        for _, task in self.running.values():
            await task
        self.running.clear()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{STATUS_PATH}", timeout=2) as r:
            return bool(json.loads(r.read())["ready"])
    except OSError:
        return False


def _trm(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TRM_HOME": str(home)}
    return subprocess.run(
        [TRM, *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )


async def test_register_query_threshold_forgery_budget(
    kafka_bootstrap: str, topics: Topics, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_state(home)
    write_private_key(HUB_KEY, home / "keys" / "HUB.key")
    trust_doc = json.dumps(trust_list().document.to_json()).encode()
    await provision_registry(kafka_bootstrap, topics, trust_doc, [])
    ceremony = deal_ceremony(COUNTRIES, 3, now_ms=T0)
    write_ceremony(StateDir(home), ceremony)
    public = ceremony.public
    worker = Worker(kafka_bootstrap, topics, home)
    worker.start()
    flags = ["--bootstrap", kafka_bootstrap, "--namespace", topics.namespace]
    port = free_port()
    kh = Proc(
        [TRM, "match", "evaluator", "--country", "KH", "--web-port", str(port), *flags],
        home,
        "evaluator-KH",
    )
    kh.start()
    evaluators = Evaluators(home, kafka_bootstrap, topics, public)
    try:
        await evaluators.start(["CN", "LA", "MM", "VN", "TH"])
        for _ in range(120):
            kh.alive()
            if _ready(port):
                break
            await asyncio.sleep(0.5)
        vn, th, la = evaluators.node("VN"), evaluators.node("TH"), evaluators.node("LA")

        # 1. Viet Nam registers a number; Thailand finds it written its own way.
        async with vn:  # the first message waits for the hub worker to start
            reg = await register(vn, "phone", PHONE_VN, timeout_s=120)
        kept = vn.store.match_registration(reg.reference)
        assert kept is not None
        assert kept["value"] == PHONE_VN
        path = vn.store.match_dir / f"{reg.reference}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        async with th:
            hit = await query(th, "phone", PHONE_TH, case_ref=CASE, purpose=PURPOSE)
            assert (hit.hit, hit.owner, hit.reference, hit.kind) == (
                True, "VN", reg.reference, "phone",
            )  # fmt: skip
            assert hit.notes == ()
            miss = await query(th, "phone", "081 234 5679", case_ref=CASE, purpose=PURPOSE)
            assert (miss.hit, miss.owner, miss.reference) == (False, None, None)

        # The command line: the same answer, and a query without a case is refused.
        out = await asyncio.to_thread(
            _trm, home, "match", "query", "--country", "TH", "--kind", "phone",
            "--value", PHONE_TH, "--case-ref", "TH-2026-0042", "--purpose", "investigation",
            *flags,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"hit VN {reg.reference} phone"
        out = await asyncio.to_thread(
            _trm, home, "match", "query", "--country", "TH", "--kind", "phone",
            "--value", PHONE_TH, "--purpose", "investigation", *flags,
        )  # fmt: skip
        assert out.returncode == 1
        assert out.stderr.startswith("rejected: MATCH_CASE_REQUIRED: ")

        # 2. Only t - 1 = 2 evaluators online: a clear error, no answer.
        await evaluators.stop()
        kh.stop()
        assert "evaluator of KH stopped" in kh.log.read_text()
        await evaluators.start(["CN", "LA"])
        async with th:
            with pytest.raises(TrmError) as caught:
                await query(th, "phone", PHONE_TH, case_ref=CASE, purpose=PURPOSE, timeout_s=5)
        assert caught.value.reason is Reason.MATCH_THRESHOLD_NOT_MET
        assert "valid from: CN, LA" in caught.value.detail
        assert "no answer from: KH, MM, VN" in caught.value.detail
        assert "812345678" not in caught.value.detail

        # 3. A third evaluator that forges its partial evaluations is refused and named.
        await evaluators.start_forger("MM")
        async with th:
            with pytest.raises(TrmError) as caught:
                await query(th, "phone", PHONE_TH, case_ref=CASE, purpose=PURPOSE, timeout_s=5)
        assert caught.value.reason is Reason.MATCH_EVALUATION_FORGED
        assert "forged (refused): MM" in caught.value.detail

        # 4. A budget of one element a day: Lao PDR's second query is refused.
        await evaluators.stop()
        await evaluators.start(["CN", "KH", "MM", "VN"], limit=1)
        async with la:
            first = await query(la, "phone", PHONE_VN, case_ref="LA-1", purpose="investigation")
            assert (first.hit, first.reference) == (True, reg.reference)
            with pytest.raises(TrmError) as caught:
                await query(la, "phone", PHONE_VN, case_ref="LA-1", purpose="investigation")
        assert caught.value.reason is Reason.MATCH_BUDGET_EXHAUSTED
        assert "refused by: CN (MATCH_BUDGET_EXHAUSTED" in caught.value.detail
    finally:
        await evaluators.stop()
        kh.stop()
        worker.stop()
    # Logs name countries and counts, never the number.
    for log in (kh.log, worker.log):
        text = log.read_text(errors="replace")
        assert "812345678" not in text
