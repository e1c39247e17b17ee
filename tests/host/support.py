"""Hookspecs and capabilities shared by the host tests."""

from __future__ import annotations

from typing import Any

import ivmhost


class Hooks:
    """The hookspecs the host tests use."""

    @ivmhost.hookspec
    def on_message(self, message: str, channel: str) -> Any:
        """Every plugin may answer a message."""

    @ivmhost.hookspec(firstresult=True)
    def pick(self, options: list[str]) -> Any:
        """The first plugin with an answer wins."""


@ivmhost.capability("kv")
class KV:
    """A dict-backed key-value store, one namespace per grant."""

    stores: dict[str, dict[str, Any]] = {}

    def __init__(self, grant: ivmhost.Grant) -> None:
        self.data = KV.stores.setdefault(grant.params.get("namespace", grant.plugin), {})

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    async def slow_get(self, key: str) -> Any:
        return self.data.get(key)

    def fail(self, why: str) -> None:
        raise ValueError(why)
