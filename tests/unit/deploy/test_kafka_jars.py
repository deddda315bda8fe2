"""ensure_jars: processes that start at once fetch the Kafka jars once, and a fetch cut
short, still running, or left from before is never taken for the jars.

`make test` runs its files in two processes (pytest-xdist), each starting its own broker;
on a bare machine both would otherwise run Maven into the same directory at once. Here
``mvn`` is a stand-in on PATH that records each run, writes the broker's jar, takes a
second, then writes the tools' jar (or fails in between when asked to); the real Maven is
exercised by every broker the suite starts.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.errors import OperationalError
from hub.ops import broker

FAKE_MVN = """#!/bin/sh
echo run >> "$TRM_TEST_MVN_RUNS"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
touch "$out/kafka_2.13-$TRM_TEST_KAFKA.jar"
sleep 1
[ -n "$TRM_TEST_MVN_FAIL" ] && { echo "no network" >&2; exit 1; }
touch "$out/kafka-tools-$TRM_TEST_KAFKA.jar"
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

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
        )

    procs = [start() for _ in range(3)]
    runs = tmp_path / "runs"
    deadline = time.monotonic() + 30
    while not runs.exists() and time.monotonic() < deadline:  # Maven has started
        time.sleep(0.05)
    procs.append(start())  # one more while it runs: it waits, it does not start early
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    lib = tmp_path / "cache" / "lib"
    assert outs == [str(lib)] * 4
    assert runs.read_text().splitlines() == ["run"]  # Maven ran once
    assert sorted(p.name for p in lib.iterdir()) == [
        ".complete",
        f"kafka-tools-{broker.KAFKA_VERSION}.jar",
        f"kafka_2.13-{broker.KAFKA_VERSION}.jar",
    ]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".fetch.lock", "lib"]


def test_a_failed_fetch_is_said_leaves_nothing_taken_for_jars_and_the_next_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _fake_mvn(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRM_TEST_MVN_FAIL", "1")
    with pytest.raises(OperationalError, match=r"expected Maven to fetch Kafka .* exited 1"):
        broker.ensure_jars()
    lib = tmp_path / "cache" / "lib"
    assert not lib.exists()  # the broker's jar it wrote is not a lib/ a broker would start on
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".fetch.lock"]
    monkeypatch.delenv("TRM_TEST_MVN_FAIL")
    assert broker.ensure_jars() == lib  # the lock was let go
    assert (tmp_path / "runs").read_text().splitlines() == ["run", "run"]


def test_jars_from_a_fetch_cut_short_are_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _fake_mvn(tmp_path).items():
        monkeypatch.setenv(key, value)
    lib = tmp_path / "cache" / "lib"
    lib.mkdir(parents=True)
    for name in (
        f"kafka_2.13-{broker.KAFKA_VERSION}.jar",
        f"kafka-tools-{broker.KAFKA_VERSION}.jar",
    ):
        (lib / name).write_bytes(b"PK\x03")  # both names there, one or both cut short
    (lib / "zstd-jni-half.jar").write_bytes(b"")
    assert broker.ensure_jars() == lib
    assert (tmp_path / "runs").read_text().splitlines() == ["run"]
    assert not (lib / "zstd-jni-half.jar").exists()
    assert (lib / f"kafka_2.13-{broker.KAFKA_VERSION}.jar").read_bytes() == b""  # Maven's
    assert broker.ensure_jars() == lib  # and now taken as they are
    assert (tmp_path / "runs").read_text().splitlines() == ["run"]
