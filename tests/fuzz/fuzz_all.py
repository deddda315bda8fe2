"""``make fuzz``: every target in its own process, then one table of what each did.

Each target runs as ``python -m tests.fuzz.run TARGET`` (libFuzzer is in-process:
a crash in one target must not stop the others) for at least ``--runs`` inputs
and at least ``--seconds`` seconds, whichever takes longer, from its seed corpus
``tests/fuzz/corpus/<target>/``. New inputs it finds go to
``artifacts/fuzz/corpus/<target>/`` (the seeds in the repository are never
written), crashers, timeouts and out-of-memory inputs to
``artifacts/fuzz/crashes/<target>/``, and its log to ``artifacts/fuzz/<target>.log``.

Run: ``python -m tests.fuzz.fuzz_all [--runs N] [--seconds S] [--timeout S]
[--rss-limit-mb M] [--jobs J] [TARGET ...]``; exit status 1 if any target crashed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.targets import ROOT, TARGETS

CORPUS = Path(__file__).resolve().parent / "corpus"
_STATS = re.compile(r"^#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+)", re.M)
_EXECS = re.compile(r"exec/s: (\d+)")


@dataclass(frozen=True, slots=True)
class Result:
    """What one target's run(s) did."""

    target: str
    inputs: int
    seconds: float
    cov: int
    ft: int
    status: str  # ok | CRASH | TIMEOUT | OOM | ERROR
    crashers: tuple[str, ...]

    @property
    def per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


def _command(target: str, out: Path, args: argparse.Namespace, extra: Sequence[str]) -> list[str]:
    work = out / "corpus" / target
    crashes = out / "crashes" / target
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        target,
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-malloc_limit_mb={args.rss_limit_mb}",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
        *extra,
        str(work),
        str(CORPUS / target),
    ]


def _status(log: str, code: int) -> str:
    if code == 0:
        return "ok"
    if "ERROR: libFuzzer: timeout" in log:
        return "TIMEOUT"
    if "out-of-memory" in log:
        return "OOM"
    if "Uncaught Python exception" in log or "deadly signal" in log:
        return "CRASH"
    return f"ERROR({code})"


def fuzz_one(target: str, out: Path, args: argparse.Namespace) -> Result:
    """Run ``target`` until both the input count and the time are reached, or it crashes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    log_path = out / f"{target}.log"
    inputs, cov, ft = 0, 0, 0
    spent = 0.0
    status = "ok"
    logs = []
    passes = 0
    while status == "ok" and (inputs < args.runs or spent < args.seconds):
        passes += 1
        if inputs < args.runs:
            extra = [f"-runs={args.runs - inputs}"]
        else:
            extra = [f"-max_total_time={max(1, round(args.seconds - spent))}"]
        start = time.monotonic()
        proc = subprocess.run(
            _command(target, out, args, extra),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        spent += time.monotonic() - start
        log = proc.stdout + proc.stderr
        logs.append(log)
        status = _status(log, proc.returncode)
        stats = _STATS.findall(log)
        if stats:
            inputs += int(stats[-1][0])
            cov, ft = max(cov, int(stats[-1][1])), max(ft, int(stats[-1][2]))
        elif status == "ok":
            status = "ERROR(no stats)"
        if passes > 50:  # a target that makes no progress must not loop for ever
            break
    log_path.write_text("\n".join(logs))
    crashers = tuple(sorted(os.path.relpath(p, ROOT) for p in (out / "crashes" / target).iterdir()))
    return Result(target, inputs, spent, cov, ft, status, crashers)


def table(results: Sequence[Result], total: float) -> str:
    """The summary: one row per target."""
    lines = [
        f"{'target':<20} {'inputs':>10} {'seconds':>8} {'inputs/s':>9} {'cov':>6} {'ft':>7}  "
        "status",
        "-" * 72,
    ]
    for r in results:
        lines.append(
            f"{r.target:<20} {r.inputs:>10} {r.seconds:>8.0f} {r.per_second:>9.0f} "
            f"{r.cov:>6} {r.ft:>7}  {r.status}"
        )
        lines.extend(f"    crasher: {c}" for c in r.crashers)
    lines.append("-" * 72)
    lines.append(
        f"{len(results)} targets, {sum(r.inputs for r in results)} inputs, "
        f"{total:.0f} s in all (wall clock)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", default=sorted(TARGETS))
    parser.add_argument("--runs", type=int, default=1_000_000, help="inputs per target, at least")
    parser.add_argument("--seconds", type=float, default=0, help="seconds per target, at least")
    parser.add_argument("--timeout", type=int, default=1, help="seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--jobs", type=int, default=1, help="targets run side by side")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "fuzz")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target {unknown[0]}; known: {sorted(TARGETS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    print(
        f"fuzzing {len(args.targets)} targets: >= {args.runs} inputs and >= {args.seconds:.0f} s "
        f"each, {args.timeout} s per input, {args.rss_limit_mb} MB; logs in {args.out}",
        flush=True,
    )

    def one(target: str) -> Result:
        result = fuzz_one(target, args.out, args)
        print(
            f"  {target}: {result.inputs} inputs in {result.seconds:.0f} s, "
            f"cov {result.cov} ft {result.ft}, {result.status}",
            flush=True,
        )
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, args.targets))
    print(table(results, time.monotonic() - start))
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
