"""ensure_jars: processes that start at once fetch the Kafka jars once, and none starts early.

`make test` runs its files in two processes (pytest-xdist), each starting its own broker;
on a bare machine both would otherwise run Maven into the same directory at once. Here
``mvn`` is a stand-in on PATH that records each run, takes a second, then writes the two
jars ``ensure_jars`` looks for (the real Maven is exercised by every broker the suite starts).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hub.errors import OperationalError
from hub.ops import broker

FAKE_MVN = """#!/bin/sh
echo run >> "$TRM_TEST_MVN_RUNS"
sleep 1
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
[ -n "$TRM_TEST_MVN_FAIL" ] && { echo "no network" >&2; exit 1; }
touch "$out/kafka_2.13-$TRM_TEST_KAFKA.jar" "$out/kafka-tools-$TRM_TEST_KAFKA.jar"
"""


def _fake_mvn(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN)
    mvn.chmod(mvn.stat().st_mode | stat.S_IXUSR)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TRM_TEST_MVN_RUNS": str(tmp_path / "runs"),
        "TRM_TEST_KAFKA": broker.KAFKA_VERSION,
        "TRM_KAFKA_CACHE": str(tmp_path / "cache"),
    }


def test_processes_starting_at_once_fetch_once_and_all_find_the_jars(tmp_path: Path) -> None:
    env = {**os.environ, **_fake_mvn(tmp_path)}
    code = "from hub.ops.broker import ensure_jars; print(ensure_jars())"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    lib = tmp_path / "cache" / "lib"
    assert outs == [str(lib)] * 3
    assert (tmp_path / "runs").read_text().splitlines() == ["run"]  # Maven ran once
    assert (lib / f"kafka_2.13-{broker.KAFKA_VERSION}.jar").exists()


def test_a_failed_fetch_is_said_and_the_next_one_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _fake_mvn(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRM_TEST_MVN_FAIL", "1")
    with pytest.raises(OperationalError, match=r"expected Maven to fetch Kafka .* exited 1"):
        broker.ensure_jars()
    monkeypatch.delenv("TRM_TEST_MVN_FAIL")
    assert broker.ensure_jars() == tmp_path / "cache" / "lib"  # the lock was let go
    assert (tmp_path / "runs").read_text().splitlines() == ["run", "run"]
