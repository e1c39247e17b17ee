"""Fixtures for the host framework: plugin folders written from strings, hosts that close."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ivmhost
from ivmhost.testing import write_plugin
from support import KV, Hooks


PluginMaker = Callable[..., Path]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginMaker:
    """Writes a plugin folder under tmp_path/plugins (ivmhost.testing.write_plugin): make_plugin(
    "name", "export function ...", limits={...}, capabilities={"kv": {}}, tasks=[...],
    files={"lib.js": "..."}) -> its path."""

    def make(name: str, code: str, *, root: Path | None = None, **options: Any) -> Path:
        return write_plugin(root or tmp_path / "plugins", name, code, **options)

    return make


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
