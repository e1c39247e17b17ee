"""Timeouts and memory limits: the process and other isolates always carry on."""

from __future__ import annotations

import gc
import time

import pytest

import ivmhost


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_endless_loop_times_out_with_its_stack(context: ivmhost.Context) -> None:
    code = "function spinForever() { while (true) {} }\nspinForever()"
    started = time.perf_counter()
    with pytest.raises(ivmhost.ScriptTimeoutError) as info:
        context.eval_sync(code, timeout=50, filename="spin.js")
    elapsed = time.perf_counter() - started
    assert str(info.value) == "Script execution timed out."
    assert "at spinForever (spin.js:1:" in info.value.stack
    assert 0.045 <= elapsed < 2.0
    assert context.eval_sync("'reusable'") == "reusable"


def test_try_catch_cannot_swallow_a_timeout(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.ScriptTimeoutError):
        context.eval_sync("for (;;) { try { while (true) {} } catch (e) {} }", timeout=30)


def test_timeout_in_a_microtask_and_a_closure(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.ScriptTimeoutError):
        context.eval_sync("Promise.resolve().then(() => { for (;;) {} }); 1", timeout=30)
    with pytest.raises(ivmhost.ScriptTimeoutError):
        context.eval_closure_sync("for (;;) {}", timeout=30)
    assert context.eval_sync("3") == 3


def test_script_run_timeout(isolate: ivmhost.Isolate) -> None:
    script = isolate.compile_script_sync("for (;;) {}")
    with pytest.raises(ivmhost.ScriptTimeoutError):
        script.run_sync(isolate.create_context_sync(), timeout=20)


def test_a_late_timer_never_hits_the_next_call(context: ivmhost.Context) -> None:
    """Calls as long as their timeout: some finish, some time out, none spills into the next."""
    outcomes = set()
    work = "(() => { const end = Date.now() + 1; let n = 0; while (Date.now() < end) n++; return 'done' })()"
    for _ in range(200):
        try:
            outcomes.add(context.eval_sync(work, timeout=1))
        except ivmhost.ScriptTimeoutError:
            outcomes.add("timed out")
        assert context.eval_sync("1 + 1") == 2
    assert outcomes <= {"done", "timed out"}


@pytest.mark.parametrize("bad", [-1, "10", True])
def test_timeout_is_checked(context: ivmhost.Context, bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="timeout"):
        context.eval_sync("1", timeout=bad)  # type: ignore[arg-type]


BOMBS = {
    "objects": "const a = []; for (;;) a.push({n: a.length, s: 'x' + a.length})",
    "strings": "let s = 'x'; const keep = []; for (;;) { s = s + s.slice(0, 1000) + Math.random(); keep.push(s) }",
    "map": "const m = new Map(); for (let i = 0;; i++) m.set(i, [i, i + 1, i + 2])",
    "big arrays": "const keep = []; for (;;) keep.push(new Array(1e6).fill(1))",
    "array buffers": "const keep = []; for (;;) keep.push(new ArrayBuffer(8 * 1024 * 1024))",
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_memory_bombs_dispose_only_their_isolate(make_isolate, kind: str) -> None:  # type: ignore[no-untyped-def]
    bystander = make_isolate().create_context_sync()
    bystander.eval_sync("globalThis.alive = 'yes'")
    for limit in (16, 32, 64):
        bomb = make_isolate(memory_limit=limit)
        context = bomb.create_context_sync()
        with pytest.raises(ivmhost.MemoryLimitError) as info:
            context.eval_sync(BOMBS[kind])
        assert str(info.value) == "Isolate was disposed during execution due to memory limit"
        assert "at <ivmhost>:1:" in info.value.stack  # where the bomb was when it was stopped
        assert bomb.is_disposed
        with pytest.raises(ivmhost.MemoryLimitError):
            context.eval_sync("1")
        assert make_isolate().create_context_sync().eval_sync("6 * 7") == 42
    assert bystander.eval_sync("alive") == "yes"


def test_twenty_bombs_in_a_row_leave_the_process_healthy() -> None:
    kinds = list(BOMBS.values())
    for i in range(20):
        with ivmhost.Isolate(memory_limit=16 + 12 * (i % 5)) as bomb:
            with pytest.raises(ivmhost.MemoryLimitError):
                bomb.create_context_sync().eval_sync(kinds[i % len(kinds)])
    with ivmhost.Isolate() as fresh:
        assert fresh.create_context_sync().eval_sync("[1, 2].length") == 2


def test_source_longer_than_a_limit_eighth_is_refused(make_isolate) -> None:  # type: ignore[no-untyped-def]
    context = make_isolate(memory_limit=8).create_context_sync()
    with pytest.raises(ValueError, match="memory_limit/8"):
        context.eval_sync("1;" + " " * (8 * 2**20 // 8))


def test_hundred_isolates_leave_rss_flat() -> None:
    for _ in range(20):  # warm up allocator pools and V8's process-wide state
        ivmhost.Isolate().create_context_sync().isolate.dispose()
    gc.collect()
    before = rss_bytes()
    for _ in range(100):
        isolate = ivmhost.Isolate()
        isolate.create_context_sync().eval_sync("globalThis.x = [1, 2, 3].map(String)")
        isolate.dispose()
    gc.collect()
    assert rss_bytes() - before < 10 * 2**20


def test_memory_limits_of_several_gigabytes_are_accepted(make_isolate) -> None:  # type: ignore[no-untyped-def]
    # memory_limit * 1 MiB overflowed a C int at 2048 MB: every source was "too long".
    isolate = make_isolate(memory_limit=4096)
    assert isolate.memory_limit == 4096
    assert isolate.create_context_sync().eval_sync("'ok'.length + 1") == 3
