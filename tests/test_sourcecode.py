"""The public API is typed: mypy checks the examples and the package against the stubs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ivmhost

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_over_examples_and_package() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "examples", "ivmhost"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_public_name_is_exported_and_documented() -> None:
    for name in ivmhost.__all__:
        obj = getattr(ivmhost, name)
        if callable(obj) and not isinstance(obj, type(ivmhost.undefined)):
            assert obj.__doc__, f"ivmhost.{name} has no docstring"


def test_package_ships_typing_markers() -> None:
    assert (ROOT / "ivmhost" / "py.typed").exists()
    assert (ROOT / "ivmhost" / "_engine.pyi").exists()
