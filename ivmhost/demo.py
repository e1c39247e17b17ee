"""The demo application the sample plugins (``plugins/``), the examples and the ``ivmhost``
command share: a small notes application whose commands come from plugins.

Its hooks (:class:`NotesHooks`) and its capabilities (the five of :mod:`ivmhost.capabilities`) are
what a real application would declare; :func:`make_host` wires them into a PluginHost. A real
application decides grants itself; the demo grants what each manifest requests (``grants=``
overrides that).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ivmhost import capabilities
from ivmhost._hooks import hookspec
from ivmhost._host import FaultPolicy, PluginHost
from ivmhost._manifest import CapabilityRequest, Limits, Manifest

__all__ = ["NotesHooks", "grant_requested", "make_host"]


class NotesHooks:
    """The notes application's hooks. A note is ``{"id": int, "title": str, "text": str,
    "tags": [str]}``."""

    @hookspec
    def commands(self) -> list[dict[str, str]]:  # type: ignore[empty-body]
        """The commands a plugin serves: ``[{"name": "md", "help": "render a note as HTML"}]``."""

    @hookspec(firstresult=True)
    def run_command(self, name: str, args: str, note: dict[str, Any] | None) -> str | None:
        """Run command ``name`` with its argument text, on the current note (or None); the plugin
        serving it answers with text, the others return nothing."""

    @hookspec
    def note_saved(self, note: dict[str, Any]) -> None:
        """A note was created or changed."""

    @hookspec
    def check_note(self, note: dict[str, Any]) -> list[str]:  # type: ignore[empty-body]
        """Problems with a note before it is saved (an empty list: none)."""


def grant_requested(manifest: Manifest, request: CapabilityRequest) -> bool:
    """The demo's grant policy: every capability a manifest requests (a developer's sandbox; a real
    application asks someone or keeps an allow-list)."""
    return True


def make_host(
    data_dir: str | Path | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    files_root: str | Path | None = None,
    notify_sink: Callable[[str, str, Any], object] | None = None,
    grants: Mapping[str, Any] | Callable[[Manifest, CapabilityRequest], bool] | None = None,
    ceilings: Limits | None = None,
    on_fault: FaultPolicy = "raise",
    inspector: bool = False,
) -> PluginHost:
    """A PluginHost for the notes application: ``kv`` in ``data_dir/notes.db`` (a temporary
    directory when None), ``http.fetch``, ``notify`` (to ``notify_sink``, printing by default),
    ``settings`` and read-only ``files`` under ``files_root`` (``data_dir/files`` by default).
    ``inspector=True`` is for ``ivmhost inspect`` (see PluginHost)."""
    data = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="ivmhost-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    root = Path(files_root) if files_root is not None else data / "files"
    root.mkdir(parents=True, exist_ok=True)

    def printed(plugin: str, channel: str, message: Any) -> None:
        print(f"[{channel}] {message}", flush=True)

    return PluginHost(
        hookspecs=NotesHooks,
        capabilities=[
            capabilities.kv_store(data / "notes.db"),
            capabilities.http_fetch(),
            capabilities.notify(notify_sink or printed),
            capabilities.settings(dict(settings or {})),
            capabilities.read_only_files(root),
        ],
        grants=grants if grants is not None else grant_requested,
        ceilings=ceilings,
        on_fault=on_fault,
        inspector=inspector,
    )
