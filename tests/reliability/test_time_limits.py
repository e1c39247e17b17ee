"""Endless loops wherever JavaScript can run, each stopped by a timeout; the isolate stays usable."""

from __future__ import annotations

import logging
import threading
import time

import anyio
import pytest

import ivmhost

TIMED_OUT = "Script execution timed out."


def assert_reusable(context: ivmhost.Context) -> None:
    assert context.eval_sync("[1, 2, 3].reduce((a, b) => a + b)") == 6


def test_eval(context: ivmhost.Context) -> None:
    began = time.monotonic()
    with pytest.raises(ivmhost.ScriptTimeoutError, match=f"^{TIMED_OUT}$") as caught:
        context.eval_sync("function spin() { for (;;) {} }\nspin()", timeout=50, filename="spin.js")
    assert 0.045 <= time.monotonic() - began < 5
    assert isinstance(caught.value, TimeoutError)
    assert "at spin (spin.js:1:" in caught.value.stack
    assert_reusable(context)


def test_promise_chain(context: ivmhost.Context) -> None:
    code = "Promise.resolve(1).then((v) => v + 1).then((v) => { globalThis.reached = v; for (;;) {} })"
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        context.eval_sync(code, promise=True, timeout=50)
    assert context.eval_sync("reached") == 2
    assert context.eval_sync("Promise.resolve(5).then((v) => v * 2)", promise=True, timeout=1000) == 10


def test_a_promise_that_never_settles(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        context.eval_sync("new Promise(() => {})", promise=True, timeout=50)
    assert_reusable(context)


def test_microtask_after_the_script_returned(context: ivmhost.Context) -> None:
    # The script itself ends at once; the microtask checkpoint after it spins.
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        context.eval_sync("Promise.resolve().then(() => { for (;;) {} }); 'returned'", timeout=50)
    assert_reusable(context)


def test_async_reference_apply(context: ivmhost.Context) -> None:
    fn = context.eval_sync("(async (n) => { await null; while (n) {} return n })", reference=True)
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        fn.apply_sync(None, [1], result=ivmhost.TransferOptions(promise=True), timeout=50)
    assert fn.apply_sync(None, [0], result=ivmhost.TransferOptions(promise=True), timeout=1000) == 0


def test_module_top_level(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    module = isolate.compile_module_sync("export let stage = 'started'; for (;;) {}", filename="top.js")
    module.instantiate_sync(context, lambda specifier, referrer: None)  # no imports: never called
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        module.evaluate_sync(timeout=50)
    assert_reusable(context)


def test_module_top_level_after_await(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    module = isolate.compile_module_sync("await Promise.resolve(); for (;;) {}", filename="tla.js")
    module.instantiate_sync(context, lambda specifier, referrer: None)
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        module.evaluate_sync(timeout=50)
    assert_reusable(context)


def test_getters_and_traps_are_refused_not_run_while_converting(context: ivmhost.Context) -> None:
    """Converting a value never runs JavaScript: an endless getter cannot even start."""
    context.eval_sync("""
        globalThis.runs = 0;
        globalThis.trapped = new Proxy({}, { ownKeys() { runs++; for (;;) {} }, get() { runs++; for (;;) {} } });
        globalThis.getter = Object.defineProperty({}, 'x', { enumerable: true, get() { runs++; for (;;) {} } });
    """)
    for name in ("trapped", "getter"):
        began = time.monotonic()
        with pytest.raises(ivmhost.TransferError):
            context.eval_closure_sync(f"return {name}", timeout=5000)
        # Arguments to a Python callback are converted the same way: a catchable TypeError in JS.
        message = context.eval_closure_sync(f"try {{ $0({name}); return 'called' }} catch (e) {{ return e.name }}",
                                            [lambda value: "called"], timeout=5000)
        assert message == "TypeError"
        assert time.monotonic() - began < 2  # refused at once, not after the 5 s timeout
    assert context.eval_sync("runs") == 0


def test_a_slow_python_callback_result_counts_against_the_timeout(context: ivmhost.Context) -> None:
    """A callback's huge result is converted in C++ (no JavaScript to interrupt); the timeout
    fires once JavaScript resumes, and the isolate stays usable."""
    huge = ["x"] * 2_000_000

    def big() -> list[str]:
        time.sleep(0.1)  # the callback itself outlasts the 50 ms timeout
        return huge

    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        context.eval_closure_sync("const v = $0(); globalThis.got = v.length; for (;;) {}", [big], timeout=50)
    assert context.eval_sync("got") == 2_000_000
    assert_reusable(context)


def test_javascript_resumed_after_an_async_callback(context: ivmhost.Context) -> None:
    cb = ivmhost.Callback(lambda: "later", async_=True)
    began = time.monotonic()
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        context.eval_closure_sync("return $0().then((v) => { globalThis.got = v; for (;;) {} })", [cb],
                                  result=ivmhost.TransferOptions(promise=True), timeout=100)
    assert time.monotonic() - began < 5
    assert context.eval_sync("got") == "later"
    assert_reusable(context)


@pytest.mark.anyio
async def test_javascript_resumed_after_an_async_def_callback(context: ivmhost.Context) -> None:
    async def fetch() -> str:
        await anyio.sleep(0.01)
        return "fetched"

    cb = ivmhost.Callback(fetch, async_=True)
    with pytest.raises(ivmhost.ScriptTimeoutError, match=TIMED_OUT):
        await context.eval_closure("return (async () => { globalThis.got = await $0(); for (;;) {} })()",
                                   [cb], result=ivmhost.TransferOptions(promise=True), timeout=100)
    assert await context.eval("got") == "fetched"
    assert await context.eval("'still usable'") == "still usable"


def test_a_timeout_with_a_dispose_on_the_way(make_isolate) -> None:  # type: ignore[no-untyped-def]
    """A timeout and a dispose racing for the same call: either error, cleanly, never a hang."""
    for _ in range(20):
        isolate = make_isolate()
        context = isolate.create_context_sync()
        entered = threading.Event()
        thread = threading.Thread(target=lambda: (entered.wait(), isolate.dispose()))
        thread.start()
        with pytest.raises((ivmhost.ScriptTimeoutError, ivmhost.IsolateDisposedError)) as caught:
            context.eval_closure_sync("$0(); for (;;) {}", [entered.set], timeout=1)
        thread.join()
        assert str(caught.value) in (TIMED_OUT, "Isolate was disposed during execution")
        assert isolate.is_disposed


# -- through the host framework ----------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.failed = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if "timer callback failed" in record.getMessage():
            self.failed.set()


def test_timer_callback_in_a_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("timer-spin", """
        let fired = 0;
        export function start() { setTimeout(() => { fired++; for (;;) {} }, 1); return 'scheduled'; }
        export function count() { return fired; }
    """, limits={"call_timeout_ms": 50}))
    collect = _Collect()
    logger = logging.getLogger("ivmhost.plugin.timer-spin")
    logger.addHandler(collect)
    try:
        assert plugin.call("start") == "scheduled"
        assert collect.failed.wait(10), collect.messages
    finally:
        logger.removeHandler(collect)
    assert any(m == f"a timer callback failed: ScriptTimeoutError: {TIMED_OUT}" for m in collect.messages)
    assert plugin.metrics.timeouts == 1
    assert plugin.call("count") == 1  # the plugin is still usable and the timer really ran
    assert plugin.state == "active"


def test_hook_call_promise_chain_in_a_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("chain", """
        export function on_message(m) { return Promise.resolve(m).then((v) => { if (v === 'spin') for (;;) {} return v + '!'; }); }
    """, limits={"call_timeout_ms": 50}))
    with pytest.raises(ivmhost.PluginError, match="ScriptTimeoutError: Script execution timed out.") as caught:
        host.hook.on_message(message="spin", channel="c")
    assert isinstance(caught.value.cause, ivmhost.ScriptTimeoutError)
    assert host.hook.on_message(message="ok", channel="c") == ["ok!"]
    assert plugin.metrics.timeouts == 1


def test_module_top_level_of_a_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    with pytest.raises(ivmhost.PluginError, match="failed in load: ScriptTimeoutError"):
        host.load(make_plugin("slow-start", "await null; for (;;) {}\n", limits={"call_timeout_ms": 50}))
    assert host.plugins == {}
    assert ivmhost.live_isolates() == 0
