"""Callbacks: Python callables as JavaScript functions, sync, async and ignored."""

from __future__ import annotations

import threading

import anyio
import pytest

import ivmhost


def test_plain_callables_are_wrapped(context: ivmhost.Context) -> None:
    seen: list[object] = []
    context.global_.set_sync("record", seen.append)
    context.eval_sync("record({a: [1, 2]}); record('x')")
    assert seen == [{"a": [1, 2]}, "x"]


def test_callback_results_and_errors(context: ivmhost.Context) -> None:
    cb = ivmhost.Callback(lambda x: {"double": x * 2})
    assert context.eval_closure_sync("return $0(21).double", [cb]) == 42

    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(ivmhost.JSError) as info:
        context.eval_closure_sync("$0()", [ivmhost.Callback(fail)])
    assert info.value.message == "KeyError: 'missing'"
    assert isinstance(info.value.__cause__, KeyError)
    caught = context.eval_closure_sync("try { $0() } catch (e) { return e.message }", [fail])
    assert caught == "KeyError: 'missing'"


def test_non_transferable_callback_result_is_a_javascript_type_error(context: ivmhost.Context) -> None:
    out = context.eval_closure_sync("try { $0() } catch (e) { return [e.name, e.message] }", [lambda: object()])
    assert out[0] == "TypeError" and "non-transferable" in out[1]


def test_ignored_callback_returns_undefined_and_drops_errors(context: ivmhost.Context) -> None:
    calls: list[int] = []

    def note(n: int) -> int:
        calls.append(n)
        raise RuntimeError("dropped")

    cb = ivmhost.Callback(note, ignored=True)
    assert context.eval_closure_sync("return typeof $0(5)", [cb]) == "undefined"
    assert calls == [5]


def test_async_callback_on_a_worker_thread(context: ivmhost.Context) -> None:
    threads: list[str] = []

    def slow(x: int) -> int:
        threads.append(threading.current_thread().name)
        return x + 1

    cb = ivmhost.Callback(slow, async_=True)
    result = context.eval_closure_sync("return $0(1).then(v => v * 10)", [cb], result=ivmhost.TransferOptions(promise=True))
    assert result == 20
    assert threads and threads[0] != threading.current_thread().name


def test_async_callback_rejects_with_the_python_error(context: ivmhost.Context) -> None:
    def fail() -> None:
        raise ValueError("async failure")

    cb = ivmhost.Callback(fail, async_=True)
    out = context.eval_closure_sync(
        "return $0().then(() => 'resolved', e => e.message)", [cb], result=ivmhost.TransferOptions(promise=True)
    )
    assert out == "ValueError: async failure"


@pytest.mark.anyio
async def test_async_def_callback_runs_on_the_event_loop(context: ivmhost.Context) -> None:
    async def fetch(key: str) -> str:
        await anyio.sleep(0.01)
        return key.upper()

    cb = ivmhost.Callback(fetch, async_=True)
    result = await context.eval_closure(
        "return Promise.all([$0('a'), $0('b')]).then(v => v.join('+'))", [cb], result=ivmhost.TransferOptions(promise=True)
    )
    assert result == "A+B"


@pytest.mark.anyio
async def test_python_awaitable_becomes_a_javascript_promise(context: ivmhost.Context) -> None:
    async def later() -> int:
        await anyio.sleep(0.01)
        return 41

    promise = ivmhost.TransferOptions(promise=True)
    out = await context.eval_closure("return $0.then(v => v + 1)", [later()], arguments=promise, result=promise)
    assert out == 42


@pytest.mark.anyio
async def test_eval_promise_rejection_and_abandonment(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate()
    context = await isolate.create_context()
    with pytest.raises(ivmhost.JSError, match="rejected"):
        await context.eval("Promise.reject(new Error('rejected'))", promise=True)
    outcome: list[str] = []

    async def wait_forever() -> None:
        try:
            await context.eval_closure("return new Promise(() => {})", [], result=ivmhost.TransferOptions(promise=True))
        except ivmhost.IsolateDisposedError as exc:
            outcome.append(str(exc))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_forever)
        await anyio.sleep(0.05)
        isolate.dispose()
    assert outcome == ["Promise was abandoned"]


def test_eval_sync_with_promise(context: ivmhost.Context) -> None:
    assert context.eval_sync("Promise.resolve(7)", promise=True) == 7
    assert context.eval_sync("(async () => 8)()", promise=True) == 8
    cb = ivmhost.Callback(lambda: "late", async_=True)
    context.global_.set_sync("later", cb)
    assert context.eval_sync("later()", promise=True) == "late"


def test_apply_sync_promise(context: ivmhost.Context) -> None:
    fn = context.eval_sync("(async (a) => a * 2)", reference=True)
    assert fn.apply_sync_promise(None, [21]) == 42


@pytest.mark.anyio
async def test_apply_sync_promise_refuses_to_block_an_event_loop(context: ivmhost.Context) -> None:
    fn = context.eval_sync("(() => new Promise(() => {}))", reference=True)
    with pytest.raises(ivmhost.IvmhostError, match="may not be called from the default thread"):
        fn.apply_sync_promise()


def test_sync_calls_from_a_callback_back_into_the_isolate(context: ivmhost.Context) -> None:
    def reenter() -> int:
        return context.eval_sync("counter += 1; counter")

    context.eval_sync("globalThis.counter = 0")
    assert context.eval_closure_sync("return [$0(), $0(), counter]", [reenter]) == [1, 2, 2]


def test_isolate_disposed_while_a_callback_runs(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    late: list[str] = []

    def slow() -> str:
        done = threading.Event()
        threading.Thread(target=lambda: (isolate.dispose(), done.set())).start()
        done.wait(0.5)  # dispose cannot finish while this callback holds the isolate
        late.append("returned")
        return "too late"

    with pytest.raises(ivmhost.IsolateDisposedError, match="during execution"):
        context.eval_closure_sync("return $0()", [slow])
    assert late == ["returned"]
    assert isolate.is_disposed


def test_callback_validation() -> None:
    with pytest.raises(TypeError, match="callable"):
        ivmhost.Callback(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most one"):
        ivmhost.Callback(print, async_=True, ignored=True)
    assert "sync" in repr(ivmhost.Callback(print))


def test_reused_call_values_never_leak_between_calls(context: ivmhost.Context) -> None:
    # The engine reuses each thread's argument and result values; nothing of one call may show
    # in the next: deep chains (past the pooled depth), many arguments, big and small values.
    def down(n: int) -> object:
        return context.eval_closure_sync("return $0 === 0 ? ['bottom'] : [$0, ...$1($0 - 1)]", [n, down]) if n >= 0 else None

    assert down(12) == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, "bottom"]
    context.global_.set_sync("echo", lambda *args: list(args))
    assert context.eval_sync("echo(...Array.from({length: 20}, (_, i) => i))") == list(range(20))
    assert context.eval_sync("echo(1, 2)") == [1, 2]
    big = "x" * 100_000
    assert context.eval_closure_sync("return echo($0, {k: [1]}, 'é').map(v => typeof v === 'string' ? v.length : v)", [big]) == [100_000, {"k": [1]}, 1]
    assert context.eval_sync("echo()") == []
    assert context.eval_sync("echo(undefined, null, true, 0.5, -0)") == [ivmhost.undefined, None, True, 0.5, -0.0]
