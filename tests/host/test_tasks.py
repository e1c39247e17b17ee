"""Plugin tasks under anyio: start_task, concurrency, cancellation, leaving the host's block
(ivmhost/_host.py), under asyncio and trio."""

from __future__ import annotations

import time

import anyio
import pytest
from support import KV

import ivmhost

pytestmark = pytest.mark.anyio

TICKER = """
import { put, slow_get } from "ivmhost:kv";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export async function run(n, ms) {
  let total = 0;
  for (let i = 1; i <= n; i++) {
    await sleep(ms);
    total += i;
    put("progress", i);
  }
  return { total, seen: await slow_get("progress") };
}
export async function forever() { for (let i = 0; ; i++) { put("beat", i); await sleep(5); } }
export async function fail() { await sleep(5); throw new TypeError("task broke"); }
export async function spin() { await sleep(5); while (true) {} }
export function on_message(message) { return message; }
"""


def ticker(make_plugin, name: str = "ticker"):  # type: ignore[no-untyped-def]
    return make_plugin(name, TICKER, tasks=["run", "forever", "fail", "spin"],
                       capabilities={"kv": {"namespace": name}}, limits={"call_timeout_ms": 200})


async def test_a_task_runs_with_timers_and_async_capabilities(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    host.load(ticker(make_plugin))
    async with host:
        task = host.start_task("ticker", "run", 4, 5)
        assert repr(task).startswith("<ivmhost.PluginTask ticker.run")
        assert await task.wait() == {"total": 10, "seen": 4}
        assert task.done and not task.cancelled
    assert ivmhost.live_isolates() == 0


async def test_many_plugins_run_concurrently(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    for i in range(6):
        host.load(ticker(make_plugin, f"t{i}"))
    began = time.monotonic()
    async with host:
        tasks = [host.start_task(f"t{i}", "run", 5, 40) for i in range(6)]
        results = [await task.wait() for task in tasks]
    elapsed = time.monotonic() - began
    assert results == [{"total": 15, "seen": 5}] * 6
    assert elapsed < 6 * 5 * 0.040  # 6 plugins x 200 ms of sleeping, run side by side


async def test_cancelling_a_task_stops_its_javascript(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    plugin = host.load(ticker(make_plugin))
    async with host:
        task = host.start_task("ticker", "forever")
        while KV.stores.get("ticker", {}).get("beat", 0) < 3:
            await anyio.sleep(0.005)
        task.cancel()
        with pytest.raises(ivmhost.IvmhostError, match="task ticker.forever was cancelled"):
            await task.wait()
        assert task.cancelled
        stopped = KV.stores["ticker"]["beat"]
        await anyio.sleep(0.05)
        assert KV.stores["ticker"]["beat"] == stopped  # its timers went with its context
        assert await plugin.acall("on_message", "still here") == "still here"


async def test_leaving_the_block_terminates_running_tasks(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    host.load(ticker(make_plugin))
    async with host:
        task = host.start_task("ticker", "forever")
        await anyio.sleep(0.03)
    assert task.done and task.cancelled
    assert ivmhost.live_isolates() == 0
    stopped = KV.stores["ticker"]["beat"]
    await anyio.sleep(0.03)
    assert KV.stores["ticker"]["beat"] == stopped


async def test_failing_tasks_raise_plugin_errors_and_leave_others_alone(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    host.load(ticker(make_plugin))
    async with host:
        broken = host.start_task("ticker", "fail")
        spinning = host.start_task("ticker", "spin")
        fine = host.start_task("ticker", "run", 2, 5)
        with pytest.raises(ivmhost.PluginError, match="failed in 'fail': JSError: TypeError: task broke"):
            await broken.wait()
        with pytest.raises(ivmhost.PluginError, match="Script execution timed out"):
            await spinning.wait()
        assert await fine.wait() == {"total": 3, "seen": 2}
        missing = host.start_task("ticker", "nope")
        with pytest.raises(ivmhost.PluginError, match="exports no function 'nope'"):
            await missing.wait()


async def test_start_task_needs_a_running_host(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    host.load(ticker(make_plugin))
    with pytest.raises(ivmhost.IvmhostError, match="start_task needs a running host: use it inside `async with host:`"):
        host.start_task("ticker", "run", 1, 1)


async def test_async_calls_time_out_while_waiting_for_a_promise(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("never", "export function on_message() { return new Promise(() => {}); }",
                                   limits={"call_timeout_ms": 50}))
    with pytest.raises(ivmhost.PluginError, match="ScriptTimeoutError"):
        await plugin.acall("on_message", "m")
    assert plugin.metrics.timeouts == 1


async def test_finished_tasks_leave_nothing_behind(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    # Each task gets a context of its own (about 250 KB of a 32 MB heap if it were kept): 150 tasks
    # in a row would hit the memory limit unless every finished task releases everything.
    host = make_host(grants=lambda manifest, request: True)
    plugin = host.load(ticker(make_plugin))
    async with host:
        for _ in range(150):
            assert await host.start_task("ticker", "run", 1, 0).wait() == {"total": 1, "seen": 1}
        assert plugin.state == "active" and plugin.metrics.memory_limit_hits == 0
        assert await plugin.acall("on_message", "still fine") == "still fine"


async def test_a_timeout_bounds_javascript_resumed_by_an_async_capability(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants=lambda manifest, request: True)
    plugin = host.load(make_plugin("stall", """
        import { slow_get } from "ivmhost:kv";
        export async function run() { await slow_get("x"); while (true) {} }
        export function on_message(m) { return m; }
    """, tasks=["run"], capabilities={"kv": {}}, limits={"call_timeout_ms": 100}))
    async with host:
        began = time.monotonic()
        with pytest.raises(ivmhost.PluginError, match="ScriptTimeoutError"):
            await host.start_task("stall", "run").wait()
        assert time.monotonic() - began < 5
        with pytest.raises(ivmhost.PluginError, match="ScriptTimeoutError"):
            await plugin.acall("run")
        assert await plugin.acall("on_message", "free again") == "free again"
    assert plugin.metrics.timeouts == 2
