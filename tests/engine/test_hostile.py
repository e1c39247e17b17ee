"""Regressions: ways host code or guest JavaScript once crashed, hung or confused the engine."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import ivmhost


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_nested_timeout_ends_only_the_nested_call(context: ivmhost.Context) -> None:
    def inner() -> str:
        try:
            context.eval_sync("for (;;) {}", timeout=30)
        except ivmhost.ScriptTimeoutError:
            return "inner timed out"
        return "no"

    assert context.eval_closure_sync("const r = $0(); return r + ' / outer went on'", [inner]) == (
        "inner timed out / outer went on"
    )


def test_callback_raising_after_a_nested_timeout_does_not_abort(context: ivmhost.Context) -> None:
    def inner() -> None:
        try:
            context.eval_sync("for (;;) {}", timeout=20)
        except ivmhost.ScriptTimeoutError:
            pass
        raise ValueError("after the timeout")

    with pytest.raises(ivmhost.JSError, match="ValueError: after the timeout"):
        context.eval_closure_sync("$0()", [inner])
    assert context.eval_sync("1") == 1


def test_small_buffer_at_the_cap_is_a_memory_limit_not_an_abort() -> None:
    out = run_child(
        "import ivmhost\n"
        "iso = ivmhost.Isolate(memory_limit=8)\n"
        "ctx = iso.create_context_sync()\n"
        "try:\n"
        "    ctx.eval_sync('const big = new ArrayBuffer(8 * 1024 * 1024 - 8); new Uint8Array(16).buffer')\n"
        "except ivmhost.MemoryLimitError as e:\n"
        "    print('limit:', e)\n"
        "print('alive')\n"
    )
    assert out.returncode == 0, out.stderr
    assert "alive" in out.stdout


def test_uninitialised_isolate_raises_instead_of_crashing() -> None:
    bare = ivmhost.Isolate.__new__(ivmhost.Isolate)
    with pytest.raises(ivmhost.IvmhostError, match="never initialised"):
        bare.create_context_sync()
    with pytest.raises(ivmhost.IvmhostError, match="never initialised"):
        _ = bare.is_disposed
    assert "uninitialised" in repr(bare)


def test_a_list_shrinking_while_it_is_copied(context: ivmhost.Context) -> None:
    victim: list[object] = []

    class Shrinker:
        @property
        def __name__(self) -> str:  # read while the callable is wrapped
            victim.clear()
            return "shrinker"

        def __call__(self) -> int:
            return 1

    victim.extend([Shrinker(), 1, 2, 3])
    assert context.eval_closure_sync("return $0.length", [victim]) == 4


def test_deep_arguments_near_the_stack_limit_are_refused_not_a_crash(context: ivmhost.Context) -> None:
    outcome: list[object] = []

    def run() -> None:
        code = """
        let nested = []; for (let i = 0; i < 990; i++) nested = [nested];
        function down(n) { try { return down(n + 1) } catch (e) { return $0(nested) } }
        return down(0)
        """
        try:
            outcome.append(context.eval_closure_sync(code, [lambda x: "called"]))
        except ivmhost.JSError as exc:
            outcome.append(exc.name)

    old = threading.stack_size(1024 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert outcome in (["called"], ["RangeError"], ["TypeError"])


@pytest.mark.parametrize("timeout", [float("inf"), 1e13])
def test_huge_timeouts_mean_none(context: ivmhost.Context, timeout: float) -> None:
    assert context.eval_sync("'fine'", timeout=timeout) == "fine"


def test_nan_timeout_is_refused(context: ivmhost.Context) -> None:
    with pytest.raises(ValueError, match="timeout"):
        context.eval_sync("1", timeout=float("nan"))


def test_exit_with_pending_async_work_and_live_isolates() -> None:
    out = run_child(
        "import asyncio, ivmhost\n"
        "iso = ivmhost.Isolate(); ctx = iso.create_context_sync()\n"
        "async def main():\n"
        "    task = asyncio.ensure_future(ctx.eval_closure('for (;;) {}', [print]))\n"
        "    await asyncio.sleep(0.05)\n"
        "    task.cancel()\n"
        "asyncio.run(main())\n"
        "ctx.eval_closure_ignored('$0(1)', [print])\n"
        "print('exiting')\n"
    )
    assert out.returncode == 0, out.stderr
    # The ignored call's print(1) runs on the isolate's thread and may land inside this line.
    assert "exiting" in out.stdout.replace("1", "")


def test_getter_that_changes_between_reads_never_reaches_the_host(context: ivmhost.Context) -> None:
    """isolated-vm's old escape: a getter returning an ArrayBuffer first and something else next."""
    context.eval_sync(
        """
        globalThis.reads = 0;
        globalThis.makeTricky = () => {
          const tricky = {};
          Object.defineProperty(tricky, 'payload', { enumerable: true, get() {
            reads++; return reads === 1 ? new ArrayBuffer(8) : { length: 1e9 } } });
          return tricky;
        };
        """
    )
    assert context.eval_sync("makeTricky()") is ivmhost.undefined
    with pytest.raises(ivmhost.TransferError):
        context.eval_closure_sync("return makeTricky()")
    with pytest.raises(ivmhost.TransferError, match="Property is getter"):
        context.global_.get_sync("makeTricky").apply_sync()
    assert context.eval_sync("reads") == 0


def test_lent_objects_never_lead_to_the_interpreter(context: ivmhost.Context) -> None:
    import os

    def numbers():  # type: ignore[no-untyped-def]
        yield 1

    class Lent:
        def __init__(self) -> None:
            self.items = numbers()
            self.module = os
            self.kind = Lent
            self.data = {"gen": numbers(), "ok": [1, 2]}

    ref = ivmhost.Reference(Lent())
    for path in ["getSync('items')", "getSync('module')", "getSync('kind')", "getSync('data').getSync('gen')"]:
        with pytest.raises(ivmhost.JSError, match="cannot be reached from JavaScript"):
            context.eval_closure_sync(f"return $0.{path}", [ref])
    assert context.eval_closure_sync("return $0.getSync('data').getSync('ok').copySync()", [ref]) == [1, 2]


def test_async_reference_method_with_a_host_base_exception(context: ivmhost.Context) -> None:
    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        context.eval_closure_sync("$0.apply(undefined, []); for (;;) {}", [ivmhost.Reference(stop)], timeout=5000)
    with pytest.raises(KeyboardInterrupt):
        context.eval_closure_sync("$0.applyIgnored(undefined, []); for (;;) {}", [ivmhost.Reference(stop)], timeout=5000)
    assert context.eval_sync("'usable'") == "usable"


@pytest.mark.parametrize("how", ["result", "callback", "apply"])
def test_huge_sparse_arrays_are_refused_before_the_host_allocates(make_isolate, how: str) -> None:  # type: ignore[no-untyped-def]
    context = make_isolate(memory_limit=16).create_context_sync()
    context.eval_sync("globalThis.a = []; a.length = 2 ** 32 - 1")
    if how == "result":
        with pytest.raises(ivmhost.TransferError, match="too large"):
            context.eval_closure_sync("return a")
    elif how == "callback":
        msg = context.eval_closure_sync("try { $0(a) } catch (e) { return e.message }", [lambda x: 1])
        assert "too large" in msg
    else:
        fn = ivmhost.Reference(lambda *args: len(args))
        msg = context.eval_closure_sync("try { $0.applySync(undefined, a) } catch (e) { return e.message }", [fn])
        assert msg == "Too many arguments for apply"


def test_nested_promise_wait_is_refused_not_a_hang(context: ivmhost.Context) -> None:
    fn = context.eval_sync("(async () => { await null; return 42 })", reference=True)
    assert fn.apply_sync_promise() == 42
    out = context.eval_closure_sync("try { $0() } catch (e) { return e.message }", [lambda: fn.apply_sync_promise()])
    assert "may not be called from the default thread" in out


def test_a_timed_out_promise_wait_does_not_keep_the_isolate() -> None:
    import gc
    import weakref

    isolate = ivmhost.Isolate()
    context = isolate.create_context_sync()
    with pytest.raises(ivmhost.ScriptTimeoutError):
        context.eval_sync("new Promise(() => {})", promise=True, timeout=50)
    watcher = weakref.ref(isolate)
    del isolate, context
    gc.collect()
    assert watcher() is None


def test_wasm_modules_are_refused_by_clones(context: ivmhost.Context) -> None:
    code = "new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))"
    with pytest.raises(ivmhost.TransferError):
        context.eval_sync(f"[{code}, 1]", copy=True)


def test_get_sync_inside_javascript_returns_references(context: ivmhost.Context) -> None:
    obj = context.eval_sync("({inner: {n: 1}, p: 2})", reference=True)
    out = context.eval_closure_sync(
        "const i = $0.getSync('inner'); return [typeof i.getSync, i.getSync('n'), $0.getSync('p'), Object.isFrozen($0)]",
        [obj],
    )
    assert out == ["function", 1, 2, True]
