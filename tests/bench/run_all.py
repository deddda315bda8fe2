"""Run every ``tests/bench/bench_*.py`` ``main()`` in turn (what ``make bench`` does).

Each benchmark prints its own numbers and writes them as JSON under
``artifacts/bench/``; a failing one is reported and the rest still run. At the
end every ``artifacts/bench/*.json`` is read back and printed as one combined
table (a file older than this run is marked so). Exit status 1 if any failed.

``bench_soak.py`` is one of them and the longest: 30 minutes at half the hub's
saturation rate (plus the saturation drain and the final drain); it also draws
``artifacts/bench/soak.svg``. Run it alone with ``--minutes N`` to shorten it.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.bench._common import ARTIFACTS, combined_report  # noqa: E402 - after the path


def combined(since: float) -> None:
    """Every benchmark's JSON as one report; files not written by this run are marked."""
    print("\n===== combined (artifacts/bench/*.json) =====")
    stale = [p.name for p in sorted(ARTIFACTS.glob("*.json")) if p.stat().st_mtime < since]
    for line in combined_report():
        print(line)
    if stale:
        print(f"from an earlier run (not rewritten now): {', '.join(stale)}")


def main() -> int:
    failed: list[str] = []
    since = time.time()
    for path in sorted(HERE.glob("bench_*.py")):
        print(f"\n===== {path.stem} =====", flush=True)
        # Its importable name, so that a process pool the bench spawns (bench_replay's
        # build) can unpickle the bench's functions by importing it.
        spec = importlib.util.spec_from_file_location(f"tests.bench.{path.stem}", path)
        if spec is None or spec.loader is None:
            failed.append(path.stem)
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        started = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            saved, sys.argv = sys.argv, [str(path)]
            try:
                result = module.main()
            finally:
                sys.argv = saved
            if isinstance(result, int) and result != 0:
                failed.append(path.stem)
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(path.stem)
        except Exception:
            traceback.print_exc()
            failed.append(path.stem)
        print(f"----- {path.stem}: {time.perf_counter() - started:.1f}s", flush=True)
    combined(since)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    print("\nall benchmarks ran")
    return 0


if __name__ == "__main__":
    from tests.bench._common import require_current_build

    require_current_build()
    sys.exit(main())
