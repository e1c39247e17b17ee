"""The threading model: sync calls on the caller's thread, dispose races, stack limits."""

from __future__ import annotations

import threading
import time

import pytest

import ivmhost


def test_dispose_from_another_thread_stops_a_running_script(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    started = threading.Event()

    def dispose_soon() -> None:
        started.wait()
        time.sleep(0.05)
        isolate.dispose()

    thread = threading.Thread(target=dispose_soon)
    thread.start()
    began = time.perf_counter()
    with pytest.raises(ivmhost.IsolateDisposedError) as info:
        context.eval_closure_sync("$0(); for (;;) {}", [started.set])
    thread.join()
    assert str(info.value) == "Isolate was disposed during execution"
    assert time.perf_counter() - began < 2.0
    assert isolate.is_disposed


def test_dispose_inside_a_callback(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    with pytest.raises(ivmhost.IsolateDisposedError, match="during execution"):
        context.eval_closure_sync("$0(); for (;;) {}", [isolate.dispose])
    assert isolate.is_disposed


def test_two_isolates_run_in_parallel(make_isolate) -> None:  # type: ignore[no-untyped-def]
    contexts = [make_isolate().create_context_sync() for _ in range(2)]
    spans: list[tuple[float, float]] = []
    code = "(() => { const end = Date.now() + 200; let n = 0; while (Date.now() < end) n++; return n })()"

    def work(context: ivmhost.Context) -> None:
        begin = time.perf_counter()
        context.eval_sync(code)
        spans.append((begin, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = spans
    overlap = min(a1, b1) - max(a0, b0)
    assert overlap > 0.1, f"the two 200 ms scripts overlapped only {overlap * 1000:.0f} ms"


def test_many_threads_share_one_isolate_with_exact_counts(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.count = 0")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(200):
                context.eval_sync("count++")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert context.eval_sync("count") == 1600


def test_callbacks_from_many_threads(context: ivmhost.Context) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def record(n: int) -> int:
        with lock:
            seen.append(n)
        return n * 2

    def call(i: int) -> None:
        assert context.eval_closure_sync("return $0($1)", [record, i]) == i * 2

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(16))


def test_small_stack_thread_gets_range_error_not_a_crash(context: ivmhost.Context) -> None:
    outcome: list[object] = []

    def recurse() -> None:
        try:
            context.eval_sync("function down(n) { return down(n + 1) + 1 } down(0)")
        except ivmhost.JSError as exc:
            outcome.append((exc.name, exc.message))

    old = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=recurse)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert outcome == [("RangeError", "Maximum call stack size exceeded")]
    assert context.eval_sync("'fine'") == "fine"


def test_deep_recursion_on_the_main_thread(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError, match="Maximum call stack size exceeded"):
        context.eval_sync("function down() { return down() + 1 } down()")


def test_nested_sync_call_from_a_callback(context: ivmhost.Context) -> None:
    def reenter(x: int) -> int:
        return context.eval_sync(f"{x} * 10") + 1

    assert context.eval_closure_sync("return $0(4) + $0(5)", [reenter]) == 92


CTRL_C_CHILD = """
import sys, time, ivmhost
isolate = ivmhost.Isolate()
context = isolate.create_context_sync()
print("ready", flush=True)
began = time.perf_counter()
try:
    context.eval_sync("function busy() { for (;;) {} } busy()")
except KeyboardInterrupt:
    print("KeyboardInterrupt %.2f" % (time.perf_counter() - began), flush=True)
print("after", context.eval_sync("40 + 2"), flush=True)
isolate.dispose()
"""


def test_ctrl_c_stops_a_long_sync_call_on_the_main_thread() -> None:
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=30)
    lines = out.splitlines()
    assert lines[0].startswith("KeyboardInterrupt")
    assert float(lines[0].split()[1]) < 5.0
    assert lines[1] == "after 42"
    assert child.returncode == 0


def test_process_exits_promptly_after_the_engine_went_idle() -> None:
    """Engine threads never hold up interpreter exit (they may be parked on condition variables)."""
    import subprocess
    import sys

    code = (
        "import time, ivmhost\n"
        "iso = ivmhost.Isolate(); ctx = iso.create_context_sync(); ctx.eval_sync('1', timeout=100)\n"
        "time.sleep(1.5)\n"  # long enough for the call monitor to park itself
        "leaked = ivmhost.Isolate(); leaked.create_context_sync()\n"  # disposed at exit
        "print('bye')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "bye"
    assert out.returncode == 0, out.stderr
