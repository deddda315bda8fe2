"""What the benchmarks share: where results go, percentiles, CPU and RSS of a process, the table.

Every ``bench_*.py`` writes its numbers as one JSON file under ``artifacts/bench/``
(git-ignored); ``run_all.py`` reads them all at the end and prints one table.
A file may carry ``rows`` (a list of ``{"name", "events_per_s", "p50_ms",
"p95_ms", "p99_ms", ...}``) and ``targets`` (``{"target", "measured", "met"}``);
a flat file (name -> number) is shown as it is, with ``*_us`` keys as ops/s.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def require_current_build() -> str:
    """The compiled hot modules' status (hub.compiled), refusing a build that does not match.

    After any change under ``hub/`` the compiled modules are stale and the
    source runs instead, about a fifth slower: numbers that would be read as
    the hub's as committed (one session's first measurements ran on the
    source that way). ``make bench`` rebuilds first; a bench run directly
    stops here with what to do. ``TRM_COMPILED=0`` ("off") measures the
    source on purpose.
    """
    from hub import compiled

    if compiled.STATUS in ("in use", "off"):
        return compiled.STATUS
    raise SystemExit(
        f"expected the compiled hot modules (hub/compiled.py) in use, found {compiled.STATUS!r}: "
        "run `make venv` to rebuild them, or set TRM_COMPILED=0 to measure the source"
    )


def write_result(name: str, result: dict[str, Any]) -> Path:
    """``artifacts/bench/<name>.json``: the numbers of one benchmark run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (nearest rank), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # the command name (field 2) may hold spaces: count fields after its ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_bytes(pid: int, field: str) -> int | None:
    """A memory line of ``/proc/<pid>/status`` in bytes ("VmRSS:   123456 kB"), None if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def runq_wait_seconds(pid: int) -> float | None:
    """Seconds the threads of a process have waited, runnable, for a core (schedstat).

    Beside :func:`cpu_seconds`: a worker at 78 % of a core that also waited 22 %
    of the time wanted a whole core, and did not get it because the broker, the
    load generator and the receiver ran on the same cores. The sum is over the
    threads alive now (``/proc/<pid>/task/*/schedstat``): one that ended
    between two samples takes its wait with it.
    """
    total, found = 0, False
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(path.read_text(encoding="ascii").split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found = True
    return total / 1e9 if found else None


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process now (``VmRSS`` of ``/proc/<pid>/status``), None if gone."""
    return _status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int | None:
    """The most a process has held resident so far (``VmHWM``), None if gone."""
    return _status_bytes(pid, "VmHWM")


def own_peak_rss_mib() -> float:
    """The most this process has held resident (``VmHWM``), in MiB.

    Not ``getrusage``'s ``ru_maxrss``: on Linux that keeps the high-water mark of
    the memory a process replaced at ``exec``, so a bench's child started by a
    large parent (``make bench``'s ``run_all`` after ``bench_hub``: 752 MiB)
    reported the parent's peak as its own.
    """
    peak = peak_rss_bytes(os.getpid())
    if peak is None:
        raise RuntimeError("no VmHWM in /proc/self/status")
    return peak / 2**20


def machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine has been busy so far (``/proc/stat``), all users."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def _num(value: Any, width: int, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:{width}.{digits}f}"


def table_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per row: events/s, p50/p95/p99 ms, the ratios to the three baselines.

    ``ready s`` is a worker's start time (spawn -> ready, lag 0), for start rows.
    """
    width = max([46, *(len(r["name"]) for r in rows)])
    lines = [
        f"  {'measurement':{width}} {'events/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'/broker':>8} {'/transp':>8} {'/crypto':>8} {'ready s':>8}"
    ]
    for r in rows:
        lines.append(
            f"  {r['name']:{width}} {_num(r.get('events_per_s'), 10)}"
            f" {_num(r.get('p50_ms'), 7)} {_num(r.get('p95_ms'), 7)} {_num(r.get('p99_ms'), 7)}"
            f" {_num(r.get('to_broker'), 8, 3)} {_num(r.get('to_transport'), 8, 3)}"
            f" {_num(r.get('to_crypto'), 8, 3)} {_num(r.get('ready_s'), 8)}"
        )
    return lines


def target_lines(targets: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for t in targets:
        met = (
            {True: "met", False: "NOT met"}.get(bool(t["met"]))
            if t.get("met") is not None
            else "not measured"
        )
        out.append(f"  {t['target']:58} {t.get('measured', '-')!s:>28}  {met}")
    return out


def target_row(
    name: str, value: float | None, bound: float, unit: str, *, higher: bool = True
) -> dict[str, Any]:
    """One of issue 12's targets as the reports show it: met when ``value`` is at
    least ``bound`` (at most, with ``higher=False``); None: not measured."""
    met = None if value is None else (value >= bound if higher else value <= bound)
    shown = "-" if value is None else f"{value:.2f}{unit}"
    return {"target": name, "measured": shown, "value": value, "bound": bound, "met": met}


def _replay_lines(data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """``replay.json`` (bench_replay): its floor, each replay, and their targets."""
    f = data["floor"]
    lines = [
        f"  floor per event: {f['ed25519_verifies_per_event']:.3f} Ed25519 verifies + "
        f"{f['sha256_per_event']:.1f} SHA-256 = {f['floor_us_per_event']:.0f} CPU µs "
        f"(cryptography; {f['native_floor_us_per_event']:.0f} with the native Ed25519)"
    ]
    runs = data["runs"]
    targets = []
    for r in runs:
        # the floor sampled while the replay ran, when it was (the machine's speed moves)
        alongside = r.get("ratio_to_floor_alongside")
        beside = "" if alongside is None else f", {alongside:.2f} of the floor alongside"
        lines.append(
            f"  replay {r['events']:>9,} events: {r['cpu_us_per_event']:.0f} CPU µs/event, "
            f"{r['ratio_to_floor']:.2f} of the first floor{beside} "
            f"({r['ratio_to_native_floor']:.2f} of the native floor), "
            f"peak RSS {r['rss_peak_mib']:,.0f} MiB"
        )
        targets.append(
            target_row(
                f"replay of {r['events']:,} events >= 70% of its floor"
                + ("" if alongside is None else " (alongside)"),
                r["ratio_to_floor"] if alongside is None else alongside,
                0.70,
                "x",
            )
        )
    if len(runs) > 1:
        targets.append(
            target_row(
                f"replay RSS at {runs[-1]['events']:,} events within 50 MiB of "
                f"{runs[0]['events']:,}",
                runs[-1]["rss_peak_mib"] - runs[0]["rss_peak_mib"],
                50.0,
                " MiB",
                higher=False,
            )
        )
    return lines, targets


def _sequencer_lines(data: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """``sequencer.json`` (bench_sequencer): peak RSS by size, restarts, the target."""
    lines = []
    peaks = []
    for m, r in data["sizes"].items():
        store, restart = r["store"], r["restart"]
        peaks.append((int(m), store["rss_peak_mib"]))
        lines.append(
            f"  {int(m):>9,} leaves: peak RSS {store['rss_peak_mib']:,.0f} MiB (in memory, "
            f"as before: {r['memory']['rss_peak_mib']:,.0f}); restart opens in "
            f"{restart['open_seconds']:.2f} s, peak RSS {restart['rss_peak_mib']:,.0f} MiB"
        )
    k = data.get("kafka")
    if k:
        lines.append(
            f"  through Kafka, {k['leaves']:,} leaves: a restart with its store (+100 new "
            f"leaves) {k['resume']['seconds']:.1f} s, without (every leaf read again) "
            f"{k['rebuild']['seconds']:.1f} s"
        )
    (small, first), (large, last) = peaks[0], peaks[-1]
    return lines, [
        target_row(
            f"sequencer RSS at {large:,} leaves within 50 MiB of {small:,}",
            last - first,
            50.0,
            " MiB",
            higher=False,
        )
    ]


def _wire_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """``wire.json`` (bench_wire): the open's target (the wire code's is in hub.json)."""
    ratio = data.get("ratio_open_referral_to_bare_verify")
    if not isinstance(ratio, (int, float)):
        return []
    return [
        target_row(
            "open of a 25-field referral <= 1.5x a bare verify", ratio, 1.5, "x", higher=False
        )
    ]


def combined_report(directory: Path = ARTIFACTS) -> list[str]:
    """Every ``*.json`` under ``directory`` as text: tables, targets, then flat numbers."""
    lines: list[str] = []
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            lines.append(f"{path.name}: unreadable ({exc})")
            continue
        lines.append(f"--- {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        if not isinstance(data, dict):
            lines.append(f"  {data!r}")
            continue
        if isinstance(data.get("rows"), list):
            lines.extend(table_lines(data["rows"]))
        targets = list(data["targets"]) if isinstance(data.get("targets"), list) else []
        # The benches that write no rows of their own: their numbers read out here.
        if path.name == "replay.json" and "floor" in data and "runs" in data:
            more, targets = _replay_lines(data)
            lines.extend(more)
        elif path.name == "sequencer.json" and "sizes" in data:
            more, targets = _sequencer_lines(data)
            lines.extend(more)
        elif path.name == "wire.json":
            targets += _wire_targets(data)
        if targets:
            lines.append("  targets (issue 12):")
            lines.extend(target_lines(targets))
        flat = {k: v for k, v in data.items() if k not in {"rows", "targets"}}
        for key, value in sorted(flat.items()):
            if isinstance(value, (int, float)) and key.endswith("_us") and value > 0:
                lines.append(f"  {key:52} {value:12.1f} µs  {1e6 / value:10.0f} /s")
            elif isinstance(value, float):
                lines.append(f"  {key:52} {value:12.3f}")
            elif isinstance(value, (int, str, bool)) or value is None:
                lines.append(f"  {key:52} {value!s:>12}")
    return lines
