"""Fixtures for the reliability tests: plugin folders written from strings, hosts that close, RSS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ivmhost
from ivmhost.testing import write_plugin


class Hooks:
    """The hookspecs the reliability tests use."""

    @ivmhost.hookspec
    def on_message(self, message: str, channel: str) -> Any:
        """Every plugin may answer a message."""


PluginMaker = Callable[..., Path]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginMaker:
    """make_plugin("name", "export function ...", limits={...}, capabilities={"kv": {}}) -> its
    folder, under tmp_path/plugins (ivmhost.testing.write_plugin)."""

    def make(name: str, code: str, **options: Any) -> Path:
        return write_plugin(tmp_path / "plugins", name, code, **options)

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
