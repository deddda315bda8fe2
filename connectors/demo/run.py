"""Drive the demo: broker, identities, hub worker, six nodes, the story, the verdict.

Sealed end to end: every country gets an epoch seal key and publishes its signed
seal-key set before the story starts, and every event of the story (the
tampered and the spoofed one too) is sealed to its recipients.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from connectors.cli.terminal import cell
from connectors.demo.matching import matching_chapter
from connectors.demo.scenario import Step, story, try_it_submission
from connectors.demo.setup import COUNTRY_NAMES, make_identities, make_seal_keys, sign_agreements
from connectors.sdk import CountryNode, InboxRecord, Rejection, Submission
from hub.app.kafka import default_client_config
from hub.errors import OperationalError, Reason
from hub.home import StateDir
from hub.ops import stack
from hub.sealkeys import SealKey
from hub.topics import COMMIT_COUNTRIES, Topics
from hub.trust import TrustList
from hub.wire import Envelope, cloudevents_headers, seal

__all__ = ["Verdict", "run_demo", "stats_out"]

TRM = str(Path(sys.executable).parent / "trm")
WAIT_S = 90.0


@dataclass(slots=True)
class Verdict:
    """What was expected and what happened, per step and recipient."""

    rows: list[tuple[str, str, str, str, bool]] = field(default_factory=list)

    def add(self, step: str, who: str, expected: str, got: str) -> None:
        self.rows.append((step, who, expected, got, expected == got))

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r[4] for r in self.rows)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _trm(state: StateDir, *args: str, check: bool = True) -> str:
    env = {**os.environ, "TRM_HOME": str(state.root)}
    out = subprocess.run([TRM, *args], env=env, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise OperationalError(
            Reason.CONFIG_INVALID, f"'trm {' '.join(args)}' failed: {out.stderr.strip()[-800:]}"
        )
    return out.stdout.strip()


def _data(value: object, style: str = "") -> Text:
    """Text read from a topic (a hub's reason, an agreement id): shown as written."""
    return cell(value, style)


def stop_previous(state: StateDir, console: Console) -> None:
    """Stop what a previous demo (or 'trm up') left running, and start from empty state."""
    for line in stack.down(state):
        console.print(f"[dim]previous run: {line}[/]")
    for name in ("keys", "agreements", "kafka", "nodes", "hub", "audit-data"):
        shutil.rmtree(state.root / name, ignore_errors=True)
    for folder in (state.run, state.logs):
        shutil.rmtree(folder, ignore_errors=True)
    state.trust.unlink(missing_ok=True)


async def _inbox(node: CountryNode) -> list[InboxRecord]:
    return [r async for r in node.inbox(include_seen=True, mark_seen=False)]


async def _rejections(node: CountryNode) -> list[Rejection]:
    return [r async for r in node.rejections()]


def _sealed(
    step: Step, key: Ed25519PrivateKey, sequence: int, seal_to: dict[str, SealKey], now_ms: int
) -> tuple[bytes, Envelope]:
    sub: Submission = step.submission
    env = seal(
        sub.event_type,
        sub.payload,
        producer=step.actor,
        key=key,
        recipients=sub.recipients,
        purpose=sub.purpose,
        handling=sub.handling,
        case_key=sub.case_key,
        sequence=sequence,
        created_at_ms=now_ms,
        seal_to=seal_to,
    )
    raw = env.to_bytes()
    if step.tamper:  # flip one bit of the producer's signature
        i = raw.index(env.signature.sig)
        raw = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]
    return raw, env


class Demo:
    """Six nodes on one broker, the story, and what each country saw."""

    def __init__(
        self,
        state: StateDir,
        bootstrap: str,
        keys: dict[str, Ed25519PrivateKey],
        trust: TrustList,
        console: Console,
    ) -> None:
        self.state, self.bootstrap, self.keys, self.trust = state, bootstrap, keys, trust
        self.console = console
        self.topics = Topics()
        # {} on the plaintext broker; each country's own credentials on a secure one.
        self.clients = {cc: default_client_config(cc, state) for cc in COMMIT_COUNTRIES}
        self.nodes = {
            cc: CountryNode(
                cc, keys[cc], trust, bootstrap, state=state, client_config=self.clients[cc]
            )
            for cc in COMMIT_COUNTRIES
        }
        self.producers: dict[str, AIOKafkaProducer] = {}
        self.event_ids: dict[str, str] = {}
        self.verdict = Verdict()

    async def _find_delivery(self, recipient: str, event_id: str) -> InboxRecord | None:
        for r in await _inbox(self.nodes[recipient]):
            if r.event_id == event_id:
                return r
        return None

    async def _find_rejection(
        self, country: str, event_id: str, recipient: str
    ) -> Rejection | None:
        for r in await _rejections(self.nodes[country]):
            if r.event_id == event_id and r.recipient == recipient:
                return r
        return None

    async def send(self, step: Step, producer: AIOKafkaProducer) -> str:
        node = self.nodes[step.actor]
        if step.ack_of is not None:
            target = self.steps[step.ack_of]
            (recipient,) = target.submission.recipients
            record = await self._wait(
                lambda: self._find_delivery(recipient, self.event_ids[target.key])
            )
            if record is None:
                raise OperationalError(
                    Reason.KAFKA_UNAVAILABLE, f"the {target.key} never reached {recipient}"
                )
            return await self.nodes[recipient].acknowledge(
                record,
                status=step.ack_status,
                organisation={
                    "id": "KH-MOSVY",
                    "name": "Poipet transit centre",
                    "kind": "government",
                },
            )
        if not step.tamper and step.outbox is None:
            return await node.publish(step.submission)
        now = _now_ms()
        seal_to = await node.seal_keys_for(step.submission.recipients, now)
        raw, env = _sealed(step, self.keys[step.actor], node.store.reserve_sequence(), seal_to, now)
        owner = step.outbox or step.actor
        topic = self.topics.outbox(owner)
        # Whoever writes into an outbox holds that country's credentials (ACLs allow no other).
        producer = await self._producer(owner)
        await producer.send_and_wait(
            topic, raw, key=env.header.case_key.encode(), headers=cloudevents_headers(env.header)
        )
        return env.header.event_id

    async def _producer(self, country: str) -> AIOKafkaProducer:
        if country not in self.producers:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", **self.clients[country]
            )
            await producer.start()
            self.producers[country] = producer
        return self.producers[country]

    async def _wait(self, probe: Any) -> Any:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            found = await probe()
            if found is not None:
                return found
            await asyncio.sleep(0.5)
        return None

    async def judge(self, step: Step) -> None:
        event_id = self.event_ids[step.key]
        c = self.console
        if step.whole is not None:
            submitter = step.outbox or step.actor
            rej = await self._wait(lambda: self._find_rejection(submitter, event_id, ""))
            got = rej.reason if rej else "nothing"
            self.verdict.add(step.key, submitter, step.whole, got)
            mark = "[green]✓[/]" if got == step.whole else "[red]✗[/]"
            told = Text.from_markup(f"  {mark} refused, told to {COUNTRY_NAMES[submitter]}: ")
            c.print(told + _data(got, "bold"))
            if rej:
                c.print(_data(f"    {rej.detail}", "dim"))
            return
        for recipient, expected in step.expect.items():
            if expected == "delivered":
                rec = await self._wait(lambda r=recipient: self._find_delivery(r, event_id))
                got = "delivered" if rec else "nothing"
                self.verdict.add(step.key, recipient, expected, got)
                if rec is None:
                    c.print(f"  [red]✗[/] {COUNTRY_NAMES[recipient]} received nothing")
                    continue
                sent = {k for k, v in step.submission.payload.items() if v is not None}
                if sent:
                    held = sorted(sent - set(rec.fields))
                    label = "withheld by the hub"
                else:  # an acknowledgement built by the SDK: its payload is not in the step
                    held, label = list(rec.withheld), "not disclosed"
                withheld = ", ".join(held) or "none"
                c.print(
                    Text.from_markup(f"  [green]✓[/] {COUNTRY_NAMES[recipient]} received the ")
                    + _data(f"{rec.event_type} under ")
                    + _data(rec.agreement, "cyan")
                    + Text(", signature and hub attestation verified")
                )
                c.print(f"    {label}: [yellow]{withheld}[/]")
            else:
                rej = await self._wait(
                    lambda r=recipient: self._find_rejection(step.actor, event_id, r)
                )
                got = rej.reason if rej else "nothing"
                self.verdict.add(step.key, recipient, expected, got)
                mark = "[green]✓[/]" if got == expected else "[red]✗[/]"
                told = Text.from_markup(f"  {mark} not delivered to {COUNTRY_NAMES[recipient]}: ")
                c.print(told + _data(got, "bold"))
                if rej:
                    c.print(_data(f"    {rej.detail}", "dim"))

    async def run(self) -> Verdict:
        now = _now_ms()
        steps = story(now)
        self.steps = {s.key: s for s in steps}
        producer = await self._producer(COMMIT_COUNTRIES[0])
        for node in self.nodes.values():
            await node.start()
        try:
            for n, step in enumerate(steps, 1):
                self.console.rule(f"[bold]{n}. {step.title}")
                self.console.print(step.story, highlight=False)
                self.event_ids[step.key] = await self.send(step, producer)
                await self.judge(step)
            await matching_chapter(
                self.nodes, self.console, self.verdict.add, self._wait, self._find_rejection
            )
            await self.summary()
        finally:
            for node in self.nodes.values():
                await node.stop()
            for p in self.producers.values():
                await p.stop()
        return self.verdict

    async def summary(self) -> None:
        table = Table(title="What each country holds now", show_lines=True)
        table.add_column("country")
        table.add_column("received (type, from, agreement)")
        table.add_column("fields not disclosed to it")
        table.add_column("its submissions refused")
        for cc in COMMIT_COUNTRIES:
            inbox = await _inbox(self.nodes[cc])
            rejections = await _rejections(self.nodes[cc])
            received = "\n".join(f"{r.event_type} from {r.producer} ({r.agreement})" for r in inbox)
            withheld = "\n".join(", ".join(r.withheld) or "-" for r in inbox)
            refused = "\n".join(
                f"{r.reason}{' for ' + r.recipient if r.recipient else ''}" for r in rejections
            )
            table.add_row(
                f"{cc} {COUNTRY_NAMES[cc]}", received or "-", withheld or "-", refused or "-"
            )
        self.console.print(table)


def statistics_chapter(
    state: StateDir, console: Console, verdict: Verdict, env: dict[str, str]
) -> None:
    """Every country reports its quarter; Cambodia sums the signed reports and suppresses."""
    console.rule("[bold]The COMMIT statistics of this quarter")
    console.print(
        "Each country counts its own cases from its vault (victims referred, accepted, "
        "handed over, in reintegration, follow-ups, re-trafficking), signs the counts and "
        "sends them to the other five. Cambodia sums the reports its node verified, adds "
        "the flow counts of the audit log, and publishes no count between 1 and 10, nor "
        "any from which one could be worked out (trm stats report).",
        highlight=False,
    )
    out = stats_out(state)
    done = subprocess.run(
        [TRM, "stats", "report", "--out", str(out), "--wait", "60"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    console.print((done.stdout + done.stderr).strip(), highlight=False, markup=False)
    written = done.returncode == 0 and all(
        (out / name).is_file() for name in ("report.json", "report.html")
    )
    verdict.add(
        "stats",
        "report",
        "written",
        "written" if written else (done.stderr.strip().splitlines() or ["failed"])[-1],
    )
    if written:
        console.print(f"  open [bold]{out / 'report.html'}[/] (printable); CSVs beside it")


def stats_out(state: StateDir) -> Path:
    """Where the demo writes its statistics report."""
    return state.root / "reports" / "demo-stats"


def run_demo(state: StateDir, console: Console, *, secure: bool = False) -> int:
    """The whole demo; returns the exit status (0 only if every outcome was expected)."""
    console.print(
        Panel.fit(
            "trm-hub demo: six COMMIT countries exchange trafficking-case events through a hub\n"
            "that verifies signatures, applies signed agreements, withholds fields, and logs.\n"
            "All keys, agreements and people here are EXAMPLES.",
            title="trm demo",
        )
    )
    stop_previous(state, console)
    options = stack.StackOptions(secure=secure)
    console.print("[bold]starting a local Kafka broker[/] (trm up) ...")
    stack.up(state, options, only_broker=True)
    bootstrap = state.bootstrap_file.read_text(encoding="utf-8").strip()
    if secure:
        console.print("  TLS + SASL/SCRAM: each country, the hub and the auditor as its own user")
    console.print(f"  broker at {bootstrap}")
    now = _now_ms()
    keys, trust = make_identities(state, now)
    console.print(f"  keys for {', '.join(COMMIT_COUNTRIES)} and the hub in {state.keys}")
    refs = sign_agreements(state, keys)
    console.print(
        f"  trust list v{trust.version} (threshold 4 of 6); agreements: {', '.join(refs)}"
    )
    sets = make_seal_keys(state, keys, trust, now)
    console.print(
        f"  an epoch seal key (X25519) for each country, signed sets v"
        f"{'/'.join(str(s.version) for s in sets)} in {state.root / 'nodes'}/CC/seal-keys"
    )
    console.print("  " + _trm(state, "hub", "provision"))
    console.print("[bold]starting the hub worker and the audit sequencer[/] (trm up) ...")
    for rec in stack.up(state, options):
        console.print(f"  {rec.name} (pid {rec.pid}) at {rec.url}")
    verdict = asyncio.run(Demo(state, bootstrap, keys, trust, console).run())
    time.sleep(3.0)  # let the sequencer log the last decisions
    console.rule("[bold]The auditor replays the log")
    env = {**os.environ, "TRM_HOME": str(state.root)}
    replayed = subprocess.run(
        [TRM, "audit", "replay"], env=env, capture_output=True, text=True, check=False
    )
    console.print(replayed.stdout[-3000:], highlight=False, markup=False)
    verdict.add(
        "audit",
        "replay",
        "clean",
        "clean"
        if replayed.returncode == 0
        else (replayed.stderr.strip().splitlines() or ["failed"])[-1],
    )
    console.rule("[bold]Cambodia witnesses the log")
    console.print(
        "KH's node checks that the hub's latest checkpoint extends the last one it saw "
        "and cosigns it, so the hub cannot later show anyone a different history."
    )
    witnessed = subprocess.run(
        [TRM, "audit", "witness", "--country", "KH"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    console.print((witnessed.stdout + witnessed.stderr).strip(), highlight=False, markup=False)
    verdict.add(
        "audit",
        "KH witness",
        "cosigned",
        "cosigned" if witnessed.returncode == 0 else "refused",
    )
    statistics_chapter(state, console, verdict, env)
    met = sum(1 for r in verdict.rows if r[4])
    if verdict.ok:
        console.print(f"[bold green]All {met} outcomes were the expected ones.[/]")
    else:
        console.print(f"[bold red]{len(verdict.rows) - met} outcome(s) differ from the story:[/]")
        for step, who, expected, got, ok in verdict.rows:
            if not ok:
                console.print(f"  {step} / {who}: expected {expected}, got {got}")
    example = state.root / "examples" / "handover-TH-KH.json"
    example.parent.mkdir(parents=True, exist_ok=True)
    example.write_text(
        json.dumps(try_it_submission(_now_ms()), ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    console.print(
        "The stack keeps running (broker, hub worker, audit sequencer: [bold]trm status[/]), "
        "so what you do now is routed and logged. Try: "
        f"[bold]trm node publish --country TH {example}[/], then "
        "[bold]trm node inbox --country KH[/] and [bold]trm audit replay[/]; ask whether "
        "anyone knows a number: [bold]trm match query --country TH --kind phone --value "
        "081-234-5678 --case-ref TH-2026-0042 --purpose investigation[/]; report the "
        "quarter again: [bold]trm stats report[/]; "
        "stop it all with [bold]trm down[/].",
        highlight=False,
    )
    return 0 if verdict.ok else 1
