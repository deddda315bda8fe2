"""The hub's hot modules compiled with mypyc: the same source, run as C extensions.

The modules in :data:`MODULES` judge every outbox record (``hub.pipeline`` and
what it calls per event) and replay the audit log (``hub.audit.replay`` and
what it reads per event). ``make`` compiles them with mypyc
(``deploy/scripts/compile.py``) into ``hub/_compiled``, with a manifest of
every ``hub`` source the build read. :func:`install`, run by ``import hub``,
puts a finder in front of Python's own that loads exactly those modules from
there, and only when the build is whole and current:

- every source file is as it was built (size and modification time, else its
  SHA-256): a compiled module inlines other modules' ``Final`` constants and
  reads their classes' layout, so one changed file anywhere under ``hub``
  makes the whole build stale;
- the build is for this interpreter (its extension suffix), its files are the
  ones built (size and SHA-256), and its shared library loads here;
- ``TRM_COMPILED`` is not ``0``.

Otherwise nothing is installed and the source runs as it always did: the
compiled modules are an accelerator with no knowledge of their own, never a
second copy of it. :data:`STATUS` says which ("in use", "off", "not built",
or "stale: " and why); the worker logs it at start and ``/hub/status`` shows it.
``tests/unit/test_compiled.py`` holds the two to the same bytes and the same
replay reports.

This module imports nothing from ``hub``: it runs before any of it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final

__all__ = [
    "GROUP",
    "LIB",
    "MANIFEST",
    "MODULES",
    "STATUS",
    "check",
    "describe",
    "install",
    "sources",
    "write_build",
]

MODULES: Final = (
    "hub.audit.leaf",
    "hub.audit.merkle",
    "hub.audit.replay",
    "hub.decision",
    "hub.state",
    "hub.pipeline",
    "hub.policy.engine",
    "hub.wire.cloudevents",
    "hub.wire.envelope",
    "hub.wire.seal",
    "hub.wire.verify",
)
"""What is compiled: the per-event paths of ``hub.pipeline.process`` and of the auditor's
replay (docs/decisions.md D25)."""

GROUP: Final = "hub.compiled"
"""mypyc's group: its shared library is the module :data:`LIB`."""

LIB: Final = f"{GROUP}__mypyc"
"""The shared library every compiled module's shim loads: all their code."""

ROOT: Final = Path(__file__).resolve().parent  # the hub package
DIR: Final = ROOT / "_compiled"
MANIFEST: Final = DIR / "manifest.json"

STATUS = "not built"
"""What :func:`install` found: "in use", "off", "not built" or "stale: <why>"."""


def sources(root: Path = ROOT) -> list[Path]:
    """Every ``hub`` source file a build depends on (all of them, sorted)."""
    return sorted(p for p in root.rglob("*.py") if "_compiled" not in p.relative_to(root).parts)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe(root: Path = ROOT) -> dict[str, list[Any]]:
    """Each source's ``[size, mtime_ns, sha256]``, keyed by its path under ``root``."""
    out: dict[str, list[Any]] = {}
    for path in sources(root):
        st = path.stat()
        out[path.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns, _sha256(path)]
    return out


def write_build(
    directory: Path, binaries: Mapping[str, bytes], sources: Mapping[str, list[Any]]
) -> dict[str, Any]:
    """Write a build into ``directory``: each module's compiled bytes (``binaries``,
    by module name, :data:`LIB` among them) and the manifest that :func:`check`
    reads (each file's size and SHA-256; ``sources`` as :func:`describe` gave them
    before the build). Returns the manifest."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    modules: dict[str, list[Any]] = {}
    for name, data in binaries.items():
        file = name + suffix
        (directory / file).write_bytes(data)
        modules[name] = [file, len(data), hashlib.sha256(data).hexdigest()]
    manifest = {"suffix": suffix, "modules": modules, "sources": dict(sources)}
    text = json.dumps(manifest, indent=1) + "\n"
    (directory / MANIFEST.name).write_text(text, encoding="utf-8")
    return manifest


def check(manifest: Mapping[str, Any], root: Path = ROOT) -> str | None:
    """Why the build ``manifest`` describes may not be used for ``root``; None if it may.

    The sources must be exactly those built (no file added, removed or
    changed: a file whose size or time differs is hashed), the build must be
    for this interpreter and name every module of :data:`MODULES`, and each
    compiled file must be the one built (its size and SHA-256). A manifest
    that is not one the build writes is a reason too, never an exception.
    """
    try:
        return _check(manifest, root)
    except Exception as exc:  # a damaged manifest: run the source
        return f"the manifest is malformed ({type(exc).__name__})"


def _check(manifest: Mapping[str, Any], root: Path) -> str | None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    if manifest.get("suffix") != suffix:
        return f"built for {manifest.get('suffix')!r}, this interpreter loads {suffix!r}"
    modules = manifest["modules"]
    if set(modules) != {*MODULES, LIB}:
        return "built for another list of modules (hub.compiled.MODULES)"
    built = manifest["sources"]
    now = {path.relative_to(root).as_posix(): path for path in sources(root)}
    if set(now) != set(built):
        changed = sorted(set(now) ^ set(built))
        return f"{len(changed)} source files added or removed since the build ({changed[0]}, ...)"
    for name, path in now.items():
        size, mtime_ns, digest = built[name]
        st = path.stat()
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns) and _sha256(path) != digest:
            return f"{name} changed since the build"
    for file, size, digest in modules.values():
        path = root / "_compiled" / file
        if not path.is_file() or path.stat().st_size != size or _sha256(path) != digest:
            return f"the compiled file {file} is missing or not the one built"
    return None


class _Finder(importlib.abc.MetaPathFinder):
    """Finds exactly the compiled modules (and their shared library) in ``hub/_compiled``."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> str:
    """Load the compiled modules from now on when the build may be used; returns :data:`STATUS`.

    Called by ``import hub`` before any other ``hub`` module is loaded; a
    second call changes nothing.
    """
    global STATUS  # noqa: PLW0603 - set once, at import
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return STATUS
    if os.environ.get("TRM_COMPILED", "1") == "0":
        STATUS = "off"
        return STATUS
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        STATUS = "not built"
        return STATUS
    except (OSError, ValueError) as exc:
        STATUS = f"stale: the manifest cannot be read ({type(exc).__name__})"
        return STATUS
    why = check(manifest)
    if why is not None:
        STATUS = f"stale: {why} (make rebuilds it)"
        return STATUS
    finder = _Finder({name: DIR / file for name, (file, *_rest) in manifest["modules"].items()})
    sys.meta_path.insert(0, finder)
    try:
        # The code of every module, loaded now: a library this machine cannot load
        # (another C library, a damaged file) leaves the source in charge, not a
        # failed import later. The modules themselves run when first imported.
        importlib.import_module(LIB)
    except ImportError as exc:
        sys.meta_path.remove(finder)
        sys.modules.pop(LIB, None)
        STATUS = f"stale: the compiled library does not load ({exc})"[:300]
        return STATUS
    STATUS = "in use"
    return STATUS
