"""Fixtures that clean up after themselves, and a leak check on every test."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ivmhost
from ivmhost.testing import write_plugin


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs under both anyio backends."""
    return request.param


@pytest.fixture
def make_isolate() -> Iterator[Callable[..., ivmhost.Isolate]]:
    """A factory of isolates, each disposed at the end of the test."""
    made: list[ivmhost.Isolate] = []

    def factory(**options: object) -> ivmhost.Isolate:
        isolate = ivmhost.Isolate(**options)  # type: ignore[arg-type]
        made.append(isolate)
        return isolate

    yield factory
    for isolate in made:
        if not isolate.is_disposed:
            isolate.dispose()


@pytest.fixture
def isolate(make_isolate: Callable[..., ivmhost.Isolate]) -> ivmhost.Isolate:
    return make_isolate()


@pytest.fixture
def context(isolate: ivmhost.Isolate) -> Iterator[ivmhost.Context]:
    context = isolate.create_context_sync()
    yield context
    if not isolate.is_disposed:
        context.release()


PluginMaker = Callable[..., Path]


@pytest.fixture
def make_plugin(tmp_path: Path) -> PluginMaker:
    """Writes a plugin folder under tmp_path/plugins (ivmhost.testing.write_plugin): make_plugin(
    "name", "export function ...", limits={...}, capabilities={"kv": {}}, tasks=[...],
    files={"lib.js": "..."}) -> its path."""

    def make(name: str, code: str, *, root: Path | None = None, **options: Any) -> Path:
        return write_plugin(root or tmp_path / "plugins", name, code, **options)

    return make


@pytest.fixture(autouse=True)
def no_leaked_isolates() -> Iterator[None]:
    """Every isolate a test makes is disposed by the end of it."""
    before = ivmhost.live_isolates()
    yield
    gc.collect()
    assert ivmhost.live_isolates() == before, "the test left isolates undisposed"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow are the long variants issue #9 keeps out of the default run; each names
    why it is long and which shorter test covers it by default. IVMHOST_LONG=1 runs them."""
    if os.environ.get("IVMHOST_LONG"):
        return
    for item in items:
        marker = item.get_closest_marker("slow")
        if marker is not None:
            if "reason" not in marker.kwargs:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.slow needs reason= (why it is long, "
                                        "which default test covers it)")
            why = marker.kwargs["reason"]
            item.add_marker(pytest.mark.skip(reason=f"long variant ({why}): IVMHOST_LONG=1 runs it"))
