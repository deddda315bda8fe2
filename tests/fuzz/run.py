"""Run one fuzz target under atheris (libFuzzer): ``python -m tests.fuzz.run TARGET [ARGS]``.

ARGS are libFuzzer's (``-runs=N``, ``-timeout=S``, ``-rss_limit_mb=M``, corpus
directories, or crasher files to rerun). The target's modules are instrumented
for coverage before it runs. A refusal from :mod:`hub.errors` is an accepted
outcome; any other exception is reported as a crash and its input is written
where ``-artifact_prefix`` says. ``-max_len`` defaults to the target's.
"""

from __future__ import annotations

import contextlib
import importlib
import sys

import atheris

from tests.fuzz.targets import TARGETS, allowed


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(
            f"usage: python -m tests.fuzz.run TARGET [libFuzzer args]; TARGET: {sorted(TARGETS)}"
        )
    target = TARGETS[argv[1]]
    with atheris.instrument_imports(include=list(target.instrument)):
        for module in target.instrument:
            importlib.import_module(module)
    refusals = allowed(target)
    # Build the fixtures (keys, trust lists) before fuzzing: not part of any input's time.
    with contextlib.suppress(*refusals):
        target.run(b"")

    def one(data: bytes) -> None:
        with contextlib.suppress(*refusals):
            target.run(data)

    args = [argv[0], *argv[2:]]
    if not any(a.startswith("-max_len=") for a in args):
        args.append(f"-max_len={target.max_len}")
    atheris.Setup(args, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
