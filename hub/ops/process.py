"""Which process a recorded pid is: the one started, or another that got its number since.

A pid file outlives its process (a crash, a reboot), and the kernel hands the
number to the next process it starts. Whatever the local stack keeps a pid
for (broker nodes, hub workers, the audit sequencer) records with it the
process's start time in clock ticks since boot (``/proc/<pid>/stat`` field
22, unchanged by ``exec``) and the boot id; a pid is signalled only while
both still match, so an unrelated process is never touched, whatever its
command line says. Linux only, as the local stack is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessIdentity", "boot_id", "start_ticks"]


def boot_id() -> str:
    """This boot's id (``/proc/sys/kernel/random/boot_id``); empty if unreadable."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from ``/proc/<pid>/stat``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])  # fields 3 and 22
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such pid."""
    stat = _stat(pid)
    return stat[1] if stat is not None else None


def _reap(pid: int) -> None:
    # A child of this very process (a test, or 'up' itself) lingers as a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """A pid with what tells the process apart from a later one with the same number.

    ``start_ticks`` is None for a record written before identities were kept:
    such a pid is never taken for the process (nothing proves it is).
    """

    pid: int
    start_ticks: int | None
    boot_id: str

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of the running process ``pid`` (just started: record this)."""
        return cls(pid, start_ticks(pid), boot_id())

    def is_running(self) -> bool:
        """The pid is alive and is still this process (not a zombie, not a reused pid)."""
        _reap(self.pid)
        stat = _stat(self.pid)
        if stat is None or self.start_ticks is None:
            return False
        return stat[1] == self.start_ticks and self.boot_id == boot_id() and stat[0] != "Z"

    def is_foreign(self) -> bool:
        """The pid is alive but belongs to another process than this one."""
        _reap(self.pid)
        ticks = start_ticks(self.pid)
        if ticks is None:
            return False
        return self.start_ticks is None or ticks != self.start_ticks or self.boot_id != boot_id()

    def signal(self, sig: int) -> bool:
        """Send ``sig`` if the pid is still this process; False if it was not sent."""
        if not self.is_running():
            return False
        try:
            os.kill(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def stop(self, timeout_s: float, *, kill: bool = False) -> bool:
        """SIGTERM (SIGKILL with ``kill``), SIGKILL after ``timeout_s``; True once it is gone.

        Only ever signals this process: once it is gone its pid is not touched again.
        """
        self.signal(signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.is_running():
            self.signal(signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.is_running():
            return False
        self.wait_reaped()
        return True

    def wait_reaped(self, timeout_s: float = 2.0) -> None:
        """Wait until an exited process's pid is free (a zombie lingers until its parent,
        often init, reaps it), so that the pid is gone when a caller says it stopped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(self.pid)
            if self.start_ticks is None or start_ticks(self.pid) != self.start_ticks:
                return
            time.sleep(0.02)
