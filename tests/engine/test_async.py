"""Async methods under anyio's asyncio and trio backends."""

from __future__ import annotations

import time

import anyio
import pytest

import ivmhost

pytestmark = pytest.mark.anyio


async def test_async_methods(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    assert await context.eval("6 * 7") == 42
    assert await context.eval_closure("return $0 + $1", [1, 2]) == 3
    script = await isolate.compile_script("'from a script'", filename="s.js")
    assert await script.run(context) == "from a script"
    stats = await isolate.get_heap_statistics()
    assert stats.used_heap_size > 0
    glob = context.global_
    await glob.set("k", "v")
    assert await glob.get("k") == "v"
    assert await glob.delete("k") is True


async def test_async_errors(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        await context.eval("throw new TypeError('async boom')", filename="a.js")
    assert info.value.name == "TypeError" and "a.js:1:7" in info.value.stack
    with pytest.raises(ivmhost.ScriptTimeoutError):
        await context.eval("for (;;) {}", timeout=30)
    assert await context.eval("'after'") == "after"


async def test_calls_run_in_the_order_they_were_queued(context: ivmhost.Context) -> None:
    await context.eval("globalThis.log = []")
    results: dict[int, object] = {}

    async def call(i: int) -> None:
        results[i] = await context.eval(f"log.push({i}); log.length")

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(call, i)
            await anyio.sleep(0)  # each task queues its call before the next starts
    assert await context.eval("log") == list(range(20))
    assert [results[i] for i in range(20)] == list(range(1, 21))


async def test_ignored_calls_run_in_order_and_drop_errors(context: ivmhost.Context) -> None:
    context.eval_ignored("globalThis.trail = 'a'")
    context.eval_ignored("throw new Error('dropped')")
    context.eval_ignored("trail += 'b'")
    assert await context.eval("trail") == "ab"


async def test_cancelling_the_awaiting_task_stops_the_javascript(context: ivmhost.Context) -> None:
    began = time.perf_counter()
    with anyio.move_on_after(0.1):
        await context.eval("for (;;) {}")
    assert time.perf_counter() - began < 2.0
    assert await context.eval("'usable'") == "usable"


async def test_cancelling_a_queued_call_drops_it(context: ivmhost.Context) -> None:
    await context.eval("globalThis.ran = false")
    async with anyio.create_task_group() as tg:
        tg.start_soon(context.eval, "const end = Date.now() + 150; while (Date.now() < end) {}")
        await anyio.sleep(0.02)
        with anyio.move_on_after(0.02):
            await context.eval("ran = true")
    assert await context.eval("ran") is False


async def test_dispose_fails_pending_async_calls(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    outcomes: list[str] = []

    async def call(code: str) -> None:
        try:
            await context.eval(code)
            outcomes.append("ok")
        except ivmhost.IsolateDisposedError as exc:
            outcomes.append(str(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "for (;;) {}")
        await anyio.sleep(0.01)
        tg.start_soon(call, "1")
        await anyio.sleep(0.05)
        isolate.dispose()
    assert sorted(outcomes) == ["Isolate is disposed", "Isolate was disposed during execution"]


async def test_async_context_managers() -> None:
    async with ivmhost.Isolate() as isolate:
        async with await isolate.create_context() as context:
            assert await context.eval("1") == 1
        assert context.is_released
    assert isolate.is_disposed


async def test_memory_limit_in_an_async_call(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate(memory_limit=16)
    context = await isolate.create_context()
    with pytest.raises(ivmhost.MemoryLimitError):
        await context.eval("const a = []; for (;;) a.push({})")
    with pytest.raises(ivmhost.MemoryLimitError):
        await context.eval("1")


@pytest.mark.anyio
async def test_a_timeout_also_bounds_the_javascript_an_async_callback_resumes(context: ivmhost.Context) -> None:
    async def slow(x: int) -> int:
        await anyio.sleep(0.01)
        return x

    spin = context.eval_closure_sync(
        "return async (n) => { const got = await $0(n); if (got === 1) while (true) {} return got }",
        [ivmhost.Callback(slow, async_=True)], result=ivmhost.TransferOptions(reference=True))
    began = time.monotonic()
    with pytest.raises(ivmhost.ScriptTimeoutError, match="Script execution timed out."):
        await spin.apply(None, [1], result=ivmhost.TransferOptions(promise=True), timeout=100)
    assert time.monotonic() - began < 5
    # The isolate is still usable, and a continuation that finishes in time settles as usual.
    assert await spin.apply(None, [2], result=ivmhost.TransferOptions(promise=True), timeout=1000) == 2
