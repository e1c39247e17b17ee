"""pluggy hooks across Python and JavaScript plugins (ivmhost/_hooks.py, through PluginHost)."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

import ivmhost


class PythonPlugin:
    @ivmhost.hookimpl
    def on_message(self, message: str, channel: str) -> str:
        return f"py:{message}@{channel}"

    @ivmhost.hookimpl
    def pick(self, options: list[str]) -> str | None:
        return None  # no opinion: the next implementation answers


class AsyncPythonPlugin:
    @ivmhost.hookimpl
    async def on_message(self, message: str, channel: str) -> str:
        return f"apy:{message}"


def test_javascript_and_python_plugins_answer_the_same_hook(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.plugin_manager.register(PythonPlugin(), name="python")
    host.load(make_plugin("echo", "export function on_message(message, channel) { return `js:${message}@${channel}`; }"))
    host.load(make_plugin("quiet", "export function on_message(message) { console.log('seen', message); }"))
    host.load(make_plugin("nulls", "export function on_message() { return null; }"))
    # pluggy's order: the last registered answers first; undefined and null results are dropped.
    assert host.hook.on_message(message="hi", channel="general") == ["js:hi@general", "py:hi@general"]
    assert sorted(host.plugins) == ["echo", "nulls", "quiet"]


def test_arguments_arrive_positionally_in_hookspec_order(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.load(make_plugin("order", "export function on_message(...args) { return args; }"))
    assert host.hook.on_message(channel="c", message={"text": "m", "n": [1, 2]}) == [[{"text": "m", "n": [1, 2]}, "c"]]
    with pytest.warns(UserWarning, match="'channel'"), pytest.raises(pluggy.HookCallError):
        host.hook.on_message(message="only one")


def test_firstresult_is_respected(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.load(make_plugin("first", "export function pick(options) { return options[0]; }"))
    host.plugin_manager.register(PythonPlugin(), name="python")
    host.load(make_plugin("none", "export function pick(options) { return undefined; }"))
    assert host.hook.pick(options=["a", "b"]) == "a"


def test_promises_from_hooks_are_awaited(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.load(make_plugin("later", """
        export async function on_message(message) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return message.toUpperCase();
        }
    """))
    assert host.hook.on_message(message="slow", channel="c") == ["SLOW"]


@pytest.mark.anyio
async def test_the_async_relay_awaits_every_kind_of_implementation(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.plugin_manager.register(PythonPlugin(), name="python")
    host.plugin_manager.register(AsyncPythonPlugin(), name="async-python")
    host.load(make_plugin("js", """
        export async function on_message(message, channel) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          return `js:${message}`;
        }
        export function pick(options) { return options.at(-1); }
    """))
    assert await host.ahook.on_message(message="m", channel="c") == ["js:m", "apy:m", "py:m@c"]
    assert await host.ahook.pick(options=["x", "y"]) == "y"
    with pytest.raises(pluggy.HookCallError, match="must provide argument 'channel'"):
        await host.ahook.on_message(message="m")
    with pytest.raises(AttributeError, match="no hook named 'nope'; the hookspecs define on_message, pick"):
        host.ahook.nope


@pytest.mark.anyio
async def test_the_async_relay_refuses_hook_wrappers(make_host) -> None:  # type: ignore[no-untyped-def]
    class Wrapper:
        @ivmhost.hookimpl(wrapper=True)
        def on_message(self, message: str, channel: str) -> Any:
            return (yield)

    host = make_host()
    host.plugin_manager.register(Wrapper(), name="wrapper")
    with pytest.raises(TypeError, match="cannot run the hook wrapper in plugin 'wrapper'; call host.hook.on_message instead"):
        await host.ahook.on_message(message="m", channel="c")


def test_check_reports_what_looks_wrong(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants={"p": {"kv"}})
    host.load(make_plugin("p", """
        export function on_message() {}
        export function on_mesage() {}
        export async function run() {}
        export const version = 3;
    """, tasks=["run"], capabilities={"kv": {}, "net": {}}))
    host.load(make_plugin("q", "export function pick() {}", capabilities={"kv": {}}))
    problems = host.check()
    assert [(p.plugin, p.kind) for p in problems] == [
        ("p", "unknown-export"), ("p", "unused-grant"), ("p", "unknown-capability"), ("q", "denied-capability"),
    ]
    assert str(problems[0]) == (
        "p: export 'on_mesage' matches no hook (hooks: on_message, pick); list it in the manifest's tasks if it is a task"
    )
    assert problems[1].message == "was granted capability 'kv' but never imports it"


@pytest.mark.anyio
async def test_a_sync_hook_from_async_code_that_must_wait_is_the_callers_error(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(on_fault=ivmhost.Quarantine(after=1))
    plugin = host.load(make_plugin("later", "export async function on_message(m) { await new Promise((r) => setTimeout(r, 5)); return m; }"))
    with pytest.raises(ivmhost.IvmhostError, match="may not be called from the default thread.*await the async variant"):
        host.hook.on_message(message="m", channel="c")
    assert plugin.state == "active" and plugin.metrics.errors == 0
    assert await host.ahook.on_message(message="m", channel="c") == ["m"]
