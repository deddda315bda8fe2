"""Files named on the command line: read and written with a refusal, never a traceback.

Every path a ``trm`` command of the node side takes from its user (an argument,
``--in``, ``--out``, ``--event``, ``--seal-keys``, ``--html``) goes through
here, so a directory, a file that cannot be read, a missing one or a place that
cannot be written is refused the same way, with exit 1::

    rejected: BAD_REQUEST: envelope /tmp/x: expected a readable file (Is a directory)

``-`` is standard input (or output). Reading stops one byte past ``max_bytes``,
so a huge or endless input (``/dev/zero``) is refused OVERSIZED without being
read whole. JSON is read through :func:`hub.textdoc.parse_json`: no member name
twice, bounded depth and integers, no lone surrogates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

from hub.errors import Reason, RequestError
from hub.textdoc import parse_json
from hub.wire import DEFAULT_MAX_SIZE

__all__ = [
    "MAX_JSON_INPUT",
    "STDIO",
    "read_input",
    "read_json_input",
    "write_output",
]

STDIO: Final = "-"
#: The most bytes of JSON read for one submission or payload. The envelope it
#: becomes must fit the hub's limit (hub.wire.DEFAULT_MAX_SIZE), and JSON spells a
#: byte of a value in at most six (``\\u0001``); a larger text cannot fit.
MAX_JSON_INPUT: Final = 6 * DEFAULT_MAX_SIZE


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__  # "Is a directory", "Permission denied"


def read_input(path: str | Path, *, what: str, max_bytes: int | None = None) -> bytes:
    """The bytes of the file at ``path`` (``-``: standard input), at most ``max_bytes``.

    Args:
        what: names the input in a refusal ("envelope", "submission").

    Raises:
        RequestError: BAD_REQUEST when it cannot be read (missing, a directory,
            no permission); OVERSIZED past ``max_bytes``.
    """
    limit = -1 if max_bytes is None else max_bytes + 1
    try:
        if str(path) == STDIO:
            data = sys.stdin.buffer.read(limit)
        else:
            with Path(path).open("rb") as stream:
                data = stream.read(limit)
    except OSError as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"{what} {path}: expected a readable file ({_why(exc)})"
        ) from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise RequestError(
            Reason.OVERSIZED, f"{what} {path}: expected at most {max_bytes} bytes, got more"
        )
    return data


def read_json_input(path: str | Path, *, what: str, max_bytes: int = MAX_JSON_INPUT) -> Any:
    """One JSON value from the file at ``path``, read strictly (:func:`hub.textdoc.parse_json`).

    Raises:
        RequestError: as :func:`read_input`; BAD_ENCODING, BAD_REQUEST or
            OVERSIZED from the strict reader, naming the file.
    """
    data = read_input(path, what=what, max_bytes=max_bytes)
    return parse_json(data, what=f"{what} {path}", max_bytes=max_bytes)


def write_output(path: str | Path, data: bytes, *, what: str) -> None:
    """Write ``data`` to the file at ``path`` (``-``: standard output).

    Raises:
        RequestError: BAD_REQUEST when the place cannot be written (a directory,
            a folder that does not exist, no permission).
    """
    if str(path) == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise RequestError(
            Reason.BAD_REQUEST, f"{what} {path}: expected a writable file ({_why(exc)})"
        ) from exc
