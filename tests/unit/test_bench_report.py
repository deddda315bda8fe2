"""``make bench``'s combined table reads the replay's, the sequencer's and the wire
bench's results, and states their issue-12 targets (tests/bench/_common.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bench._common import combined_report


def _run(events: int, ratio: float, rss: float) -> dict[str, Any]:
    return {
        "events": events,
        "cpu_us_per_event": 420.0,
        "ratio_to_floor": ratio,
        "ratio_to_native_floor": ratio / 3,
        "rss_peak_mib": rss,
    }


def _write(directory: Path, name: str, data: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(data), encoding="utf-8")


def _floor() -> dict[str, float]:
    return {
        "ed25519_verifies_per_event": 3.0,
        "sha256_per_event": 59.0,
        "floor_us_per_event": 345.0,
        "native_floor_us_per_event": 120.0,
    }


def _lines(tmp_path: Path) -> list[str]:
    return [" ".join(line.split()) for line in combined_report(tmp_path)]


def test_the_replays_runs_and_targets_are_read_out(tmp_path: Path) -> None:
    runs = [_run(100_000, 0.83, 95.0), _run(1_000_000, 0.64, 160.0)]
    _write(tmp_path, "replay.json", {"n": 1_000_000, "floor": _floor(), "runs": runs})
    lines = _lines(tmp_path)
    assert any("3.000 Ed25519 verifies + 59.0 SHA-256 = 345 CPU µs" in line for line in lines)
    assert "replay of 100,000 events >= 70% of its floor 0.83x met" in lines
    assert "replay of 1,000,000 events >= 70% of its floor 0.64x NOT met" in lines
    assert "replay RSS at 1,000,000 events within 50 MiB of 100,000 65.00 MiB NOT met" in lines


def test_a_replay_is_judged_by_the_floor_sampled_alongside_it(tmp_path: Path) -> None:
    """The floor measured while a replay ran, when it was: the machine's speed moves."""
    runs = [_run(100_000, 0.56, 95.0), _run(1_000_000, 0.57, 99.0)]
    runs[1]["ratio_to_floor_alongside"] = 0.72
    _write(tmp_path, "replay.json", {"n": 1_000_000, "floor": _floor(), "runs": runs})
    lines = _lines(tmp_path)
    assert "replay of 100,000 events >= 70% of its floor 0.56x NOT met" in lines
    assert "replay of 1,000,000 events >= 70% of its floor (alongside) 0.72x met" in lines
    assert any("0.57 of the first floor, 0.72 of the floor alongside" in line for line in lines)


def test_the_sequencers_memory_target_is_read_out(tmp_path: Path) -> None:
    def size(rss: float) -> dict[str, Any]:
        return {
            "store": {"rss_peak_mib": rss},
            "restart": {"open_seconds": 0.2, "rss_peak_mib": 50.0},
            "memory": {"rss_peak_mib": rss * 4},
        }

    kafka = {"leaves": 20_000, "rebuild": {"seconds": 5.0}, "resume": {"seconds": 0.5}}
    data = {"n": 1_000_000, "sizes": {"10000": size(60.0), "1000000": size(68.9)}, "kafka": kafka}
    _write(tmp_path, "sequencer.json", data)
    lines = _lines(tmp_path)
    assert "sequencer RSS at 1,000,000 leaves within 50 MiB of 10,000 8.90 MiB met" in lines
    assert any("a restart with its store (+100 new leaves) 0.5 s" in line for line in lines)


def test_the_opens_target_is_read_out_of_the_wire_bench(tmp_path: Path) -> None:
    _write(tmp_path, "wire.json", {"ratio_open_referral_to_bare_verify": 1.6})
    assert "open of a 25-field referral <= 1.5x a bare verify 1.60x NOT met" in _lines(tmp_path)
