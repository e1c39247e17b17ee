"""Helpers for testing plugins and hosts: write a plugin folder from strings.

    from ivmhost.testing import write_plugin

    folder = write_plugin(tmp_path, "echo", "export function on_message(m) { return m; }")
    with ivmhost.PluginHost(hookspecs=MyHooks) as host:
        host.load(folder)
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MEMORY_BOMBS", "write_plugin"]


# Memory-limit bombs of different kinds, for tests and benchmarks of limits: each grows until the
# isolate's memory limit stops it. None of them is one of SECURITY.md's known
# holes (`new Array(2**28).fill(1.5)` aborts V8, `new Array(1e8).fill(0)` stalls in C++).
MEMORY_BOMBS: dict[str, str] = {
    "arrays of strings": "const a = []; for (let i = 0;; i++) a.push('s' + i + 'x'.repeat(i % 97))",
    "string concatenation": "const keep = []; for (let i = 0;; i++) keep.push('x'.repeat(100000) + i)",
    "array buffers": "const keep = []; for (;;) keep.push(new ArrayBuffer(4 * 1024 * 1024))",
    "typed arrays": "const keep = []; for (;;) keep.push(new Float64Array(1 << 18).fill(Math.PI))",
    "map growth": "const m = new Map(); for (let i = 0;; i++) m.set('k' + i, {i, sq: i * i})",
    "object graph": "let head = null; for (let i = 0;; i++) head = {i, next: head, side: [head, {i}]}",
    "recursive closures": """
        const keep = [];
        function grow(n) {
          const fns = [];
          for (let i = 0; i < 2000; i++) fns.push(() => n + i);
          keep.push(fns);
          return grow(n + 1) + 1;
        }
        grow(0)
    """,
}


def write_plugin(
    root: str | Path,
    name: str,
    code: str,
    *,
    version: str = "1.0.0",
    limits: Mapping[str, int] | None = None,
    capabilities: Mapping[str, Mapping[str, Any]] | None = None,
    tasks: list[str] | None = None,
    isolation: str | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write ``root/name/`` with a ``plugin.toml`` (32 MB and 1000 ms unless ``limits`` says
    otherwise), ``index.js`` holding ``code`` (dedented) and any other ``files``; returns the folder."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"name = {_toml(name)}", f"version = {_toml(version)}", 'entry = "index.js"', 'api = "1"']
    if tasks is not None:
        lines.append(f"tasks = {_toml(tasks)}")
    if isolation is not None:
        lines.append(f"isolation = {_toml(isolation)}")
    lines.append("[limits]")
    lines += [f"{key} = {value}" for key, value in {"memory_mb": 32, "call_timeout_ms": 1000, **(limits or {})}.items()]
    if capabilities:
        lines.append("[capabilities]")
        for capability, params in capabilities.items():
            inner = ", ".join(f"{key} = {_toml(value)}" for key, value in params.items())
            lines.append(f"{_toml(capability)} = {{ {inner} }}")
    (folder / "plugin.toml").write_text("\n".join(lines) + "\n")
    (folder / "index.js").write_text(textwrap.dedent(code))
    for file, text in (files or {}).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(textwrap.dedent(text))
    return folder


def _toml(value: Any) -> str:
    """A TOML value for strings, numbers, booleans and lists of them (JSON's spelling is TOML's)."""
    return json.dumps(value)
