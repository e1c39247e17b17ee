"""Fixtures for the reliability tests: plugin folders written from strings, hosts that close, RSS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ivmhost


class Hooks:
    """The hookspecs the reliability tests use."""

    @ivmhost.hookspec
    def on_message(self, message: str, channel: str) -> Any:
        """Every plugin may answer a message."""



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
