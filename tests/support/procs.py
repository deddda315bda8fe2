"""``trm`` processes a test starts and stops: hub workers, sequencers, gateways."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from hub.ops.broker import free_port
from hub.topics import Topics

__all__ = ["REPO", "TRM", "Proc", "Worker", "until", "wait_for", "wait_until"]

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
TRM = str(Path(sys.executable).parent / "trm")


class Proc:
    """One subprocess with its own ``TRM_HOME``, its output in ``<home>/<name>.log``."""

    def __init__(self, args: list[str], home: Path, name: str) -> None:
        self.args, self.home, self.log = args, home, home / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # A hub worker's web port, picked here, in the test's process, and kept across
        # restarts. Left to the worker ('trm hub worker' without --web-port picks a
        # free one in its own process), it could pick a port this process had just
        # handed to another server (seen: a matching evaluator's status port), since
        # free_port() never gives a port twice only within one process. An explicit
        # --web-port wins over the variable; other commands do not read it.
        self.hub_web_port = free_port()

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TRM_HOME": str(self.home),
            "TRM_HUB_WEB_PORT": str(self.hub_web_port),
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, cwd=self.home, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def alive(self) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, self.log.read_text(errors="replace")[-4000:]

    def log_tail(self) -> str:
        """The end of the log without Faust's start/stop banners."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(x for x in lines if "Starting..." not in x and "Stopping..." not in x)[
            -5000:
        ]


class Worker(Proc):
    """``trm hub worker`` as a subprocess; killable."""

    def __init__(self, bootstrap: str, topics: Topics, home: Path) -> None:
        super().__init__(
            [TRM, "hub", "worker", "--bootstrap", bootstrap,
             "--namespace", topics.namespace, "--loglevel", "info"],
            home,
            "worker",
        )  # fmt: skip
        self.bootstrap, self.topics = bootstrap, topics


async def until(fn: Callable[[], Awaitable[list[T]]], proc: Proc, n: int = 1) -> list[T]:
    """Collect what ``fn`` returns until there are ``n`` items (2 min), while ``proc`` lives."""
    got: list[T] = []
    for _ in range(240):
        proc.alive()
        got += await fn()
        if len(got) >= n:
            return got
        await asyncio.sleep(0.5)
    raise AssertionError(f"got {len(got)} of {n}; log:\n{proc.log_tail()}")


async def wait_for(fn: Callable[[], Awaitable[T | None]], procs: list[Proc], what: str) -> T:
    """What ``fn`` returns once it is truthy (2 min), while every one of ``procs`` lives."""
    for _ in range(240):
        for p in procs:
            p.alive()
        got = await fn()
        if got:
            return got
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} never came; log:\n{procs[0].log_tail()}")


def wait_until(
    predicate: Callable[[], bool], what: str, procs: list[Proc], within_s: float = 180
) -> None:
    """Poll ``predicate`` each second until it holds; every process must stay alive.

    Raises:
        AssertionError: not within ``within_s``, with the first process's log tail.
    """
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for p in procs:
            p.alive()
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}; log:\n{procs[0].log_tail()}")
