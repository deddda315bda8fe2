"""Compile the hub's hot modules with mypyc into hub/_compiled (hub/compiled.py says why).

make runs it (with the venv's Python) when a source under hub/ changes. It
compiles hub.compiled.MODULES as one mypyc group, builds the extensions in
build/compiled, and replaces hub/_compiled with them and a manifest of every
hub source as it was read. A failed build leaves no hub/_compiled at all (the
source then runs as it is) and fails make.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "hub" / "_compiled"
NEW = ROOT / "hub" / "_compiled.new"


def main() -> int:
    os.environ["TRM_COMPILED"] = "0"  # this process reads the sources, never a build
    sys.path.insert(0, str(ROOT))
    from mypyc.build import mypycify  # noqa: PLC0415 - a build tool, in the venv
    from setuptools import Distribution  # noqa: PLC0415

    from hub import compiled  # noqa: PLC0415 - after the path is set

    started = time.monotonic()
    started_ns = time.time_ns()
    os.chdir(ROOT)  # mypyc names each module by its path from here
    work = ROOT / "build" / "compiled"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(NEW, ignore_errors=True)
    sources = compiled.describe()  # as read by this build (a change meanwhile makes it stale)
    paths = [name.replace(".", "/") + ".py" for name in compiled.MODULES]
    extensions = mypycify(
        paths, opt_level="3", group_name=compiled.GROUP, target_dir=str(work / "c")
    )
    dist = Distribution({"name": "trm-hub-compiled", "ext_modules": extensions})
    build = dist.get_command_obj("build_ext")
    build.build_lib = str(work / "lib")  # type: ignore[attr-defined]
    build.build_temp = str(work / "temp")  # type: ignore[attr-defined]
    build.inplace = False  # type: ignore[attr-defined]
    dist.run_command("build_ext")

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    NEW.mkdir()
    binaries = {
        name: (work / "lib" / (name.replace(".", "/") + suffix)).read_bytes()
        for name in (*compiled.MODULES, compiled.LIB)
    }
    compiled.write_build(NEW, binaries, sources)
    written = NEW / compiled.MANIFEST.name
    # As old as the build's start: a source edited while it ran is newer, and make
    # builds again (the running hub already finds it stale by its contents).
    os.utime(written, ns=(started_ns, started_ns))
    shutil.rmtree(TARGET, ignore_errors=True)
    NEW.rename(TARGET)
    took = time.monotonic() - started
    print(
        f"compiled: {len(compiled.MODULES)} modules into hub/_compiled ({took:.0f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except BaseException:
        shutil.rmtree(NEW, ignore_errors=True)
        shutil.rmtree(TARGET, ignore_errors=True)  # no build rather than a stale one
        raise
    sys.exit(code)
