"""Fixtures for the reliability tests: plugin folders written from strings, hosts that close, RSS.

The plugin helper is a copy of tests/host's (test folders do not import each other's conftests).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ivmhost



class Hooks:
    """The hookspecs the reliability tests use."""

    @ivmhost.hookspec
    def on_message(self, message: str, channel: str) -> Any:
        """Every plugin may answer a message."""


PluginMaker = Callable[..., Path]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginMaker:
    """make_plugin("name", "export function ...", limits={...}, capabilities={"kv": {}}) -> its folder."""

    def make(name: str, code: str, *, limits: dict[str, int] | None = None,
             capabilities: dict[str, dict[str, Any]] | None = None, tasks: list[str] | None = None) -> Path:
        folder = tmp_path / "plugins" / name
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
                inner = ", ".join(f'{k} = "{v}"' for k, v in params.items())
                lines.append(f'"{cap}" = {{ {inner} }}')
        (folder / "plugin.toml").write_text("\n".join(lines) + "\n")
        (folder / "index.js").write_text(textwrap.dedent(code))
        return folder

    return make


@pytest.fixture
def make_host() -> Iterator[Callable[..., ivmhost.PluginHost]]:
    """PluginHost factory (hookspecs=Hooks unless given); every host closes at the end."""
    made: list[ivmhost.PluginHost] = []

    def factory(**options: Any) -> ivmhost.PluginHost:
        options.setdefault("hookspecs", Hooks)
        host = ivmhost.PluginHost(**options)
        made.append(host)
        return host

    yield factory
    for host in made:
        host.close()
