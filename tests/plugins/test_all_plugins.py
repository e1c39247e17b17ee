"""The five sample plugins together in one notes application (ivmhost.demo.make_host): their
manifests, host.check(), the commands they list and run_command's routing."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ivmhost

SAMPLES = ["counter", "http-lookup", "markdown", "note-schema", "scheduler"]
CAPABILITIES = {
    "counter": {"kv"},
    "http-lookup": {"http.fetch", "settings"},
    "markdown": {"settings"},
    "note-schema": {"files"},
    "scheduler": {"notify"},
}

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(notes_host, plugins_dir, files_root) -> ivmhost.PluginHost:  # type: ignore[no-untyped-def]
    """The notes application with every sample plugin loaded from plugins/."""
    (files_root / "schemas").mkdir()
    (files_root / "schemas" / "list.schema.json").write_text(json.dumps({"type": "array", "maxItems": 2}))
    (files_root / "list.json").write_text("[1, 2, 3]")
    host: ivmhost.PluginHost = notes_host(settings={"markdown.breaks": True, "lookup.url": "http://127.0.0.1:9/"})
    loaded = host.load_dir(plugins_dir)
    assert [plugin.name for plugin in loaded] == SAMPLES
    return host


def test_every_manifest_is_complete(app: ivmhost.PluginHost) -> None:
    for name, plugin in app.plugins.items():
        manifest = plugin.manifest
        assert manifest.folder.name == name
        assert (manifest.version, manifest.entry, manifest.api) == ("1.0.0", "index.js", "1")
        assert manifest.description
        assert manifest.limits.memory_mb <= 32
        assert {request.name for request in manifest.capabilities} == CAPABILITIES[name]
        assert all(request.reason for request in manifest.capabilities), name
        assert plugin.grants == CAPABILITIES[name]
        assert plugin.state == "active"


def test_the_plugins_pass_check_together(app: ivmhost.PluginHost) -> None:
    assert app.check() == []


def test_every_plugin_lists_its_commands(app: ivmhost.PluginHost) -> None:
    listed = [command for answer in app.hook.commands() for command in answer]
    assert sorted(command["name"] for command in listed) == ["define", "md", "remind", "stats", "validate"]
    for command in listed:
        assert command["help"].startswith((command["name"] + " ", command["name"] + ":")), command


@pytest.mark.parametrize(
    ("name", "args", "plugin", "answer"),
    [
        ("md", "*hi*\nthere", "markdown", "<p><em>hi</em><br>there</p>\n"),  # markdown.breaks from settings
        ("validate", "list.json", "note-schema",
         "invalid: list.json does not match schemas/list.schema.json:\n- (root): must have at most 2 items"),
        ("define", "", "http-lookup", "define: give one word (define serendipity)"),
        ("stats", "", "counter", "notes saved: 0 (0 distinct), words: 0, top tags: none"),
        ("remind", "soon", "scheduler", "remind: usage: remind <ms> <text>, with ms a whole number up to 2147483647"),
    ],
)
def test_each_command_is_answered_by_its_plugin(app: ivmhost.PluginHost, name: str, args: str,
                                                plugin: str, answer: str) -> None:
    calls = {n: p.metrics.capability_calls for n, p in app.plugins.items()}
    assert app.hook.run_command(name=name, args=args, note=None) == answer
    used = {n for n, p in app.plugins.items() if p.metrics.capability_calls > calls[n]}
    assert used <= {plugin}  # only the plugin serving the command touched its capabilities


def test_an_unknown_command_gets_no_answer(app: ivmhost.PluginHost) -> None:
    assert app.hook.run_command(name="frobnicate", args="now", note=None) is None
    assert app.hook.run_command(name="MD", args="*x*", note=None) is None  # names are exact


def test_a_note_goes_through_every_hook(app: ivmhost.PluginHost, note: dict[str, Any]) -> None:
    assert app.hook.check_note(note=note) == [[]]
    assert app.hook.check_note(note={**note, "tags": ["Home"]}) == [["tags[0]: must match the pattern ^[a-z0-9]+(-[a-z0-9]+)*$"]]
    assert app.hook.note_saved(note=note) == []
    assert app.hook.run_command(name="stats", args="", note=note) == \
        "notes saved: 1 (1 distinct), words: 5, top tags: errands (1), home (1)"
    assert app.hook.run_command(name="md", args="", note=note) == "<p>Buy <em>milk</em>, eggs and bread.</p>\n"


async def test_the_same_from_async_code(app: ivmhost.PluginHost, note: dict[str, Any], notifications) -> None:  # type: ignore[no-untyped-def]
    async with app:
        await app.ahook.note_saved(note=note)
        assert await app.ahook.run_command(name="stats", args="", note=None) == \
            "notes saved: 1 (1 distinct), words: 5, top tags: errands (1), home (1)"
        assert await app.ahook.run_command(name="remind", args="1 done", note=None) == "reminder set for 1 ms from now: done"
        assert (await notifications.anext())[2] == "reminder: done"
        assert await app.ahook.run_command(name="nothing", args="", note=None) is None
        summary = await app.start_task("scheduler", "run", 1, 2).wait()
        assert (summary["ticks"], summary["interval_ms"]) == (2, 1)
        assert notifications.drain() == ["tick 1", "tick 2"]
    assert ivmhost.live_isolates() == 0
