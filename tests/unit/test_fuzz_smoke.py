"""A short run of every fuzz target (atheris, from the seed corpus), and the registry's reach.

``make fuzz`` runs each target for a million inputs; here each runs for
``SMOKE_RUNS`` in its own process and must end without a crash, a hang (1 s per
input) or a memory blow-up. The registry tests make a new parser hard to add
without a target: every function in ``hub/`` and ``connectors/`` whose name says
it parses must be reached by a target or be listed in ``NOT_A_DOOR`` with why.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import make_corpus
from tests.fuzz.targets import NOT_A_DOOR, REQUIRED, ROOT, TARGETS

SMOKE_RUNS = 10_000
_PARSER_NAME = re.compile(
    r"^(from_bytes|from_json\w*|from_text|from_record|from_mapping|from_parts|from_signed"
    r"|from_documents|parse|parse_\w+|load_\w+|read_\w+|decode\w*|unframe)$"
)


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise LookupError(dotted)


def _parser_functions() -> list[str]:
    found = []
    for package in ("hub", "connectors"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")

            def walk(node: ast.AST, prefix: str, module: str = module) -> None:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                        walk(child, f"{prefix}{child.name}.")
                    elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and (
                        _PARSER_NAME.match(child.name)
                    ):
                        found.append(f"{module}.{prefix}{child.name}")

            walk(ast.parse(path.read_text(encoding="utf-8")), "")
    return found


def test_every_required_parser_is_reached_by_a_target() -> None:
    reached = {p for t in TARGETS.values() for p in t.parsers}
    assert set(REQUIRED) - reached == set()


@pytest.mark.parametrize(
    "dotted", sorted({*REQUIRED, *(p for t in TARGETS.values() for p in t.parsers)})
)
def test_every_named_parser_exists(dotted: str) -> None:
    assert callable(_resolve(dotted))


def test_every_parser_in_the_code_is_a_door_or_says_why_not() -> None:
    reached = {p for t in TARGETS.values() for p in t.parsers} | set(REQUIRED)
    unexplained = [f for f in _parser_functions() if f not in reached and f not in NOT_A_DOOR]
    assert unexplained == [], (
        "a new parser: give it a fuzz target in tests/fuzz/targets.py (REQUIRED and a "
        "Target), or say in NOT_A_DOOR why it reads nothing from outside"
    )


def test_not_a_door_lists_only_real_functions() -> None:
    assert set(NOT_A_DOOR) <= set(_parser_functions())
    assert all(len(why) > 20 for why in NOT_A_DOOR.values())


def test_seed_corpus_is_what_the_script_makes(tmp_path: Path) -> None:
    make_corpus.write(tmp_path)
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {
        p.relative_to(make_corpus.CORPUS): p.read_bytes()
        for p in make_corpus.CORPUS.rglob("*")
        if p.is_file()
    }
    assert made == kept, "rerun: python -m tests.fuzz.make_corpus"
    assert {p.parts[0] for p in kept} == set(TARGETS), "every target has seeds"
    assert sum(len(v) for v in kept.values()) < 2_000_000


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_smoke(target: str, tmp_path: Path) -> None:
    work = tmp_path / "corpus"
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            target,
            f"-runs={SMOKE_RUNS}",
            "-timeout=1",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
            "-seed=1",
            str(work),
            str(make_corpus.CORPUS / target),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
        check=False,
    )
    log = proc.stdout + proc.stderr
    crash = log[log.find("=== Uncaught") :][:3000] if "Uncaught" in log else log[-3000:]
    assert proc.returncode == 0, f"{target} crashed; see {tmp_path}:\n{crash}"
    # libFuzzer may count a few inputs past -runs before it stops (a CI run ended
    # at "#10004 DONE"); what matters is that it got there and ended cleanly.
    done = re.search(r"#(\d+)\s+DONE", log)
    assert done is not None, log[-2000:]
    assert int(done.group(1)) >= SMOKE_RUNS, log[-2000:]
