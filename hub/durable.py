"""Files that survive a crash, and files that are gone when deleted.

Used where a node keeps secrets or plaintext on disk: its seal keys
(``hub.sealkeys``) and its vault of opened events (``connectors.sdk.store``).
Overwriting does not reliably erase on copy-on-write or flash file systems
(old blocks may stay on the raw disk); ``docs/operations.md`` says what else
must go (encrypted volumes, backups).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["fsync_dir", "held_lock", "shred", "write_atomic", "zero_open_file"]

_CHUNK: Final = 1 << 16


def fsync_dir(directory: Path) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def held_lock(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created, mode 0600) for the block.

    For processes that change one thing in turn (a file, a cache directory): each
    waits here until the one before it has left its block. Closing the file
    releases the lock, on an exception too.
    """
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, tmp: Path | None = None) -> None:
    """Replace ``path`` with ``data`` (mode 0600): a temporary file, fsynced, renamed.

    A crash leaves the old file or the new one whole, never a torn one.
    """
    tmp = tmp or path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a leftover file
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def zero_open_file(fd: int) -> None:
    """Overwrite an open file's bytes with zeros and fsync them."""
    size = os.fstat(fd).st_size
    os.lseek(fd, 0, os.SEEK_SET)
    left = size
    while left > 0:
        left -= os.write(fd, bytes(min(left, _CHUNK)))
    os.fsync(fd)


def shred(path: Path) -> bool:
    """Overwrite ``path`` with zeros, fsync, unlink, fsync its directory.

    Returns:
        False when there was no such file.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        zero_open_file(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True
