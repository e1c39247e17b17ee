"""Build ivmhost's one compiled module, ivmhost._engine, against the vendored V8.

V8 comes from vendor/v8/dist (made by `python3 vendor/v8/fetch.py`), or from IVMHOST_V8_HOME
(a folder with include/ and lib/), with IVMHOST_V8_LIB (the library file name, default
libnode.so) and IVMHOST_V8_DEFINES (space-separated, e.g. "V8_COMPRESS_POINTERS V8_31BIT_SMIS_ON_64BIT_ARCH").
IVMHOST_DEBUG=1 builds without optimisation and with assertions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent
NATIVE = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "ivmhost" / "_native").glob("*.cc"))


def v8_location() -> tuple[Path, Path, str, list[str], bool]:
    """(include dir, lib dir, library file, defines, vendored?)"""
    home = os.environ.get("IVMHOST_V8_HOME")
    if home:
        base = Path(home).resolve()
        lib = os.environ.get("IVMHOST_V8_LIB", "libnode.so")
        defines = os.environ.get("IVMHOST_V8_DEFINES", "").split()
        return base / "include", base / "lib", lib, defines, False
    dist = ROOT / "vendor" / "v8" / "dist"
    info_file = dist / "BUILD-INFO.json"
    if not info_file.exists():
        sys.exit(
            "ivmhost: vendor/v8/dist is missing: V8 has not been fetched for this machine.\n"
            "  Fix: python3 vendor/v8/fetch.py   (or: make setup)\n"
            "  Or set IVMHOST_V8_HOME to a folder with V8's include/ and lib/ (see README.md)."
        )
    info = json.loads(info_file.read_text())
    return dist / "include", dist / "lib", info["library"], info["defines"], True


def engine_extension() -> Extension:
    include, lib, library, defines, vendored = v8_location()
    debug = os.environ.get("IVMHOST_DEBUG") == "1"
    # The rpath lets `import ivmhost` find libnode with no LD_LIBRARY_PATH: relative to the built
    # module when V8 is vendored in this tree, absolute otherwise.
    rpaths = ["$ORIGIN/../vendor/v8/dist/lib", str(lib)] if vendored else [str(lib)]
    return Extension(
        "ivmhost._engine",
        sources=["ivmhost/_engine.pyx", *NATIVE],
        include_dirs=[str(include), "ivmhost/_native"],
        library_dirs=[str(lib)],
        libraries=[":" + library],
        runtime_library_dirs=rpaths,
        define_macros=[(d, None) for d in defines] + ([] if debug else [("NDEBUG", None)]),
        extra_compile_args=[
            "-std=c++17",
            "-fno-rtti",  # required wherever a V8 class is subclassed
            "-pthread",
            "-fvisibility=hidden",
            "-Wno-unused-parameter",
            "-O0" if debug else "-O2",
            "-g" if debug else "-g0",
        ],
        extra_link_args=["-pthread"],
        language="c++",
    )


def cythonize_all(extensions: list[Extension]) -> list[Extension]:
    from Cython.Build import cythonize

    return cythonize(extensions, compiler_directives={}, quiet=True)


setup(ext_modules=cythonize_all([engine_extension()]))
