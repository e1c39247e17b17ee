"""Isolate, Context and Script: lifetimes, statistics, handles."""

from __future__ import annotations

import pytest

import ivmhost


@pytest.mark.parametrize(("limit", "error"), [(7, ValueError), (0, ValueError), ("64", TypeError), (True, TypeError)])
def test_memory_limit_is_checked(limit: object, error: type) -> None:
    with pytest.raises(error, match="memory_limit"):
        ivmhost.Isolate(memory_limit=limit)  # type: ignore[arg-type]


def test_heap_statistics_have_v8_field_names(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate(memory_limit=64)
    context = isolate.create_context_sync()
    context.eval_sync("globalThis.buf = new ArrayBuffer(1024 * 1024)")
    stats = isolate.get_heap_statistics_sync()
    assert isinstance(stats, ivmhost.HeapStatistics)
    assert stats.used_heap_size > 0
    assert stats.total_heap_size >= stats.used_heap_size
    assert 64 * 2**20 <= stats.heap_size_limit <= 80 * 2**20
    assert stats.externally_allocated_size >= 2**20
    assert stats.number_of_native_contexts >= 1
    with pytest.raises(AttributeError):
        stats.used_heap_size = 0  # type: ignore[misc]


def test_cpu_and_wall_time_count_javascript(context: ivmhost.Context) -> None:
    isolate = context.isolate
    before_cpu, before_wall = isolate.cpu_time, isolate.wall_time
    context.eval_sync("const end = Date.now() + 30; while (Date.now() < end) {}")
    assert isinstance(isolate.cpu_time, int)
    assert isolate.cpu_time - before_cpu >= 20_000_000
    assert isolate.wall_time - before_wall >= 29_000_000


def test_reference_count_follows_handles(isolate: ivmhost.Isolate) -> None:
    assert isolate.reference_count == 0
    context = isolate.create_context_sync()
    script = isolate.compile_script_sync("1")
    assert isolate.reference_count == 2
    script.release()
    context.release()
    assert isolate.reference_count == 0


def test_isolate_is_a_context_manager() -> None:
    with ivmhost.Isolate() as isolate:
        assert isolate.create_context_sync().eval_sync("1") == 1
    assert isolate.is_disposed


def test_context_is_a_context_manager(isolate: ivmhost.Isolate) -> None:
    with isolate.create_context_sync() as context:
        assert context.eval_sync("2") == 2
    with pytest.raises(ivmhost.ReleasedError, match="^Context is released$"):
        context.eval_sync("1")


def test_script_runs_in_any_context_of_its_isolate(isolate: ivmhost.Isolate) -> None:
    script = isolate.compile_script_sync("typeof marker === 'undefined' ? (globalThis.marker = 1) : ++marker")
    first, second = isolate.create_context_sync(), isolate.create_context_sync()
    assert script.run_sync(first) == 1
    assert script.run_sync(first) == 2
    assert script.run_sync(second) == 1


def test_script_errors_and_release(isolate: ivmhost.Isolate) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        isolate.compile_script_sync("let = = 1", filename="bad-script.js")
    assert info.value.name == "SyntaxError" and "bad-script.js:1" in info.value.stack
    script = isolate.compile_script_sync("40 + 2")
    context = isolate.create_context_sync()
    assert script.run_sync(context, release=True) == 42
    with pytest.raises(ivmhost.ReleasedError, match="^Script has been released$"):
        script.run_sync(context)


def test_script_in_another_isolates_context_is_refused(make_isolate) -> None:  # type: ignore[no-untyped-def]
    script = make_isolate().compile_script_sync("1")
    foreign = make_isolate().create_context_sync()
    with pytest.raises(ValueError, match="another isolate"):
        script.run_sync(foreign)
    with pytest.raises(TypeError, match="ivmhost.Context"):
        script.run_sync("not a context")


def test_global_reference_get_set_delete(context: ivmhost.Context) -> None:
    glob = context.global_
    assert glob.typeof == "object"
    glob.set_sync("answer", 42)
    assert context.eval_sync("answer") == 42
    assert glob.get_sync("answer") == 42
    assert glob.get_sync("missing") is ivmhost.undefined
    nested = glob.get_sync("Math")
    assert isinstance(nested, ivmhost.Reference)
    assert glob.delete_sync("answer") is True
    assert context.eval_sync("typeof answer") == "undefined"


def test_global_set_never_calls_a_setter(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.hits = 0; Object.defineProperty(Object.prototype, 'trap', { set(v) { hits++ } })")
    context.global_.set_sync("trap", 1)
    assert context.eval_sync("hits") == 0
    assert context.eval_sync("Object.getOwnPropertyDescriptor(globalThis, 'trap').value") == 1


def test_global_get_refuses_getters(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.hits = 0; Object.defineProperty(globalThis, 'g', { get() { hits++; return 1 } })")
    with pytest.raises(TypeError, match="Property is getter"):
        context.global_.get_sync("g")
    assert context.eval_sync("hits") == 0


def test_released_context_messages(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    context.release()
    with pytest.raises(ivmhost.ReleasedError, match="^Context is released$"):
        context.eval_closure_sync("return 1")
    with pytest.raises(ivmhost.ReleasedError):
        _ = context.global_


def test_cpu_time_can_be_read_while_a_script_runs(context: ivmhost.Context) -> None:
    import threading
    import time

    isolate = context.isolate
    readings: list[int] = []
    started = threading.Event()

    def watch() -> None:
        started.wait()
        for _ in range(5):
            time.sleep(0.03)
            readings.append(isolate.cpu_time)

    watcher = threading.Thread(target=watch)
    watcher.start()
    context.eval_closure_sync("$0(); const end = Date.now() + 250; while (Date.now() < end) {}", [started.set])
    watcher.join()
    assert readings == sorted(readings)
    assert readings[-1] - readings[0] >= 60_000_000  # ~120 ms of spinning between the readings
    assert isolate.cpu_time >= readings[-1]


def test_cpu_time_excludes_nothing_but_counts_only_inside_the_isolate(context: ivmhost.Context) -> None:
    import time

    isolate = context.isolate
    before = isolate.cpu_time
    time.sleep(0.1)  # Python's time outside the isolate is not the isolate's
    assert isolate.cpu_time == before
