"""Fixtures for the host framework: plugin folders written from strings, hosts that close."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ivmhost
from support import KV, Hooks


PluginMaker = Callable[..., Path]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginMaker:
    """Writes a plugin folder: make_plugin("name", "export function ...", limits={...},
    capabilities={"kv": {}}, tasks=[...], files={"lib.js": "..."}) -> its path."""

    def make(name: str, code: str, *, limits: dict[str, int] | None = None,
             capabilities: dict[str, dict[str, Any]] | None = None, tasks: list[str] | None = None,
             files: dict[str, str] | None = None, root: Path | None = None) -> Path:
        folder = (root or tmp_path / "plugins") / name
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f'name = "{name}"', 'version = "1.0.0"', 'entry = "index.js"', 'api = "1"']
        if tasks is not None:
            lines.append("tasks = [" + ", ".join(f'"{t}"' for t in tasks) + "]")
        lines.append("[limits]")
        for key, value in {"memory_mb": 32, "call_timeout_ms": 1000, **(limits or {})}.items():
            lines.append(f"{key} = {value}")
        if capabilities:
            lines.append("[capabilities]")
            for cap, params in capabilities.items():
                inner = ", ".join(f"{k} = {_toml(v)}" for k, v in params.items())
                lines.append(f'"{cap}" = {{ {inner} }}')
        (folder / "plugin.toml").write_text("\n".join(lines) + "\n")
        (folder / "index.js").write_text(textwrap.dedent(code))
        for file, text in (files or {}).items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(textwrap.dedent(text))
        return folder

    return make


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.fixture
def make_host() -> Iterator[Callable[..., ivmhost.PluginHost]]:
    """PluginHost factory (hookspecs=Hooks, capabilities=[KV] unless given); hosts close at the end."""
    made: list[ivmhost.PluginHost] = []

    def factory(**options: Any) -> ivmhost.PluginHost:
        options.setdefault("hookspecs", Hooks)
        options.setdefault("capabilities", [KV])
        host = ivmhost.PluginHost(**options)
        made.append(host)
        return host

    yield factory
    for host in made:
        host.close()
    KV.stores.clear()
