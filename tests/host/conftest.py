"""Fixtures for the host framework: plugin folders written from strings, hosts that close."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ivmhost
from support import KV, Hooks



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
