"""Build benchmarks/floor/floor.cc into benchmarks/floor/build/floor (git-ignored).

Uses the same V8 as ivmhost's setup.py: vendor/v8/dist (include/, lib/, and the library file named
in BUILD-INFO.json), or IVMHOST_V8_HOME (a folder with include/ and lib/) with IVMHOST_V8_LIB (the
library file, default libnode.so) and IVMHOST_V8_DEFINES. Rebuilds only when floor.cc is newer than
the binary (or with --force).

    python3 benchmarks/floor/build.py [--force]
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCE = HERE / "floor.cc"
BINARY = HERE / "build" / "floor"


def v8_location() -> tuple[Path, Path, str, list[str]]:
    """(include dir, lib dir, library file, defines), as setup.py finds them."""
    home = os.environ.get("IVMHOST_V8_HOME")
    if home:
        base = Path(home).resolve()
        lib = os.environ.get("IVMHOST_V8_LIB", "libnode.so")
        defines = os.environ.get("IVMHOST_V8_DEFINES", "").split()
        return base / "include", base / "lib", lib, defines
    dist = ROOT / "vendor" / "v8" / "dist"
    info_file = dist / "BUILD-INFO.json"
    if not info_file.exists():
        sys.exit(
            "floor: vendor/v8/dist is missing: V8 has not been fetched for this machine.\n"
            "  Fix: python3 vendor/v8/fetch.py   (or: make setup), or set IVMHOST_V8_HOME."
        )
    info = json.loads(info_file.read_text())
    return dist / "include", dist / "lib", info["library"], list(info.get("defines", []))


def build(force: bool = False, quiet: bool = False) -> Path:
    """Compile floor.cc if needed; return the binary's path."""
    if (
        not force
        and BINARY.exists()
        and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime
    ):
        return BINARY
    include, lib, library, defines = v8_location()
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        os.environ.get("CXX", "g++"),
        "-std=c++17",
        "-fno-rtti",
        "-pthread",
        "-O2",
        *[f"-D{d}" for d in defines],  # empty for Debian's libnode
        f"-I{include}",
        str(SOURCE),
        "-o",
        str(BINARY),
        f"-L{lib}",
        f"-l:{library}",
        f"-Wl,-rpath,{lib}",
    ]
    if not quiet:
        print("floor: " + shlex.join(cmd), file=sys.stderr)
    tmp_cmd = cmd[:]
    tmp = BINARY.with_name(BINARY.name + ".tmp")
    tmp_cmd[tmp_cmd.index("-o") + 1] = str(tmp)
    subprocess.run(tmp_cmd, check=True)
    tmp.replace(BINARY)  # never leave a half-written binary that looks up to date
    return BINARY


if __name__ == "__main__":
    print(build(force="--force" in sys.argv[1:]))
