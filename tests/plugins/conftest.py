"""Fixtures for the sample plugins (``plugins/``): notes-application hosts that close, and
notifications a test can wait for."""

from __future__ import annotations

import functools
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import ivmhost
from ivmhost.demo import make_host

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
WAIT_S = 5.0  # how long a test waits for something that should come in milliseconds


class Notifications:
    """The notify capability's sink: what plugins send, in order, with when it arrived. The sink is
    called on the plugin's isolate thread; tests wait on the queue, never sleep."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str, Any, float]] = queue.Queue()

    def sink(self, plugin: str, channel: str, message: Any) -> None:
        self._queue.put((plugin, channel, message, time.monotonic()))

    def next(self, timeout: float = WAIT_S) -> tuple[str, str, Any, float]:
        """The next notification, waited for (queue.Empty if none comes in ``timeout`` s)."""
        return self._queue.get(timeout=timeout)

    async def anext(self, timeout: float = WAIT_S) -> tuple[str, str, Any, float]:
        """:meth:`next` for async tests: waits in a worker thread, so the event loop runs on."""
        return await anyio.to_thread.run_sync(functools.partial(self._queue.get, timeout=timeout))

    def drain(self) -> list[Any]:
        """The messages that have arrived and were not taken yet."""
        messages = []
        while True:
            try:
                messages.append(self._queue.get_nowait()[2])
            except queue.Empty:
                return messages


@pytest.fixture
def plugins_dir() -> Path:
    """The repository's ``plugins/`` folder."""
    return PLUGINS


@pytest.fixture
def notifications() -> Notifications:
    return Notifications()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The notes application's data folder (its SQLite file; shared files in ``files/``)."""
    return tmp_path / "data"


@pytest.fixture
def files_root(data_dir: Path) -> Path:
    """The files the application shares with plugins (the ``files`` capability's root)."""
    root = data_dir / "files"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def notes_host(data_dir: Path, notifications: Notifications) -> Iterator[Callable[..., ivmhost.PluginHost]]:
    """``notes_host("markdown", settings={...})``: an ``ivmhost.demo`` host (data in ``data_dir``,
    notifications to ``notifications``) with the named sample plugins loaded; every host made is
    closed at the end of the test."""
    made: list[ivmhost.PluginHost] = []

    def factory(*plugins: str, **options: Any) -> ivmhost.PluginHost:
        options.setdefault("notify_sink", notifications.sink)
        host = make_host(options.pop("data_dir", data_dir), **options)
        made.append(host)
        for name in plugins:
            host.load(PLUGINS / name)
        return host

    yield factory
    for host in made:
        host.close()


@pytest.fixture
def note() -> dict[str, Any]:
    """A valid note, as the notes application hands it to hooks."""
    return {"id": 1, "title": "Groceries", "text": "Buy *milk*, eggs and bread.", "tags": ["home", "errands"]}
