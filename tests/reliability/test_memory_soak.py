"""Soak: memory bombs, isolate churn, context churn and external copies leave the process flat."""

from __future__ import annotations

import gc

import pytest

import ivmhost
from ivmhost.testing import MEMORY_BOMBS
from ivmhost import ExternalCopy

LIMIT_MESSAGE = "Isolate was disposed during execution due to memory limit"

BOMBS = MEMORY_BOMBS


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def explode(kind: str, limit: int) -> None:
    """Runs one bomb in a fresh isolate: MemoryLimitError, and the isolate is disposed."""
    isolate = ivmhost.Isolate(memory_limit=limit)
    try:
        context = isolate.create_context_sync()
        with pytest.raises(ivmhost.MemoryLimitError) as caught:
            context.eval_sync(BOMBS[kind], timeout=30_000)
        assert str(caught.value) == LIMIT_MESSAGE, kind
        assert isolate.is_disposed, kind
        with pytest.raises(ivmhost.MemoryLimitError, match="Isolate is disposed"):
            context.eval_sync("1")
    finally:
        if not isolate.is_disposed:
            isolate.dispose()


@pytest.mark.parametrize("kind", list(BOMBS))
def test_each_bomb_is_a_memory_limit_error(kind: str) -> None:
    explode(kind, 16)
    with ivmhost.Isolate() as fresh:
        assert fresh.create_context_sync().eval_sync("[1, 2, 3].join()") == "1,2,3"


def bombs_in_a_row(count: int) -> None:
    kinds = list(BOMBS)
    for i in range(6):  # warm-up: allocator pools, V8's process-wide state, code pages
        explode(kinds[i % len(kinds)], 16)
    gc.collect()
    before = rss_bytes()
    for i in range(count):
        explode(kinds[i % len(kinds)], (16, 24, 32)[i % 3])
    gc.collect()
    after = rss_bytes()
    assert after - before <= before * 0.10, f"RSS grew {(after - before) / 2**20:.1f} MiB from {before / 2**20:.1f} MiB"
    with ivmhost.Isolate() as fresh:
        assert fresh.create_context_sync().eval_sync("6 * 7") == 42


def test_thirty_bombs_in_a_row_leave_rss_flat() -> None:
    bombs_in_a_row(30)


@pytest.mark.slow(reason="about 30 s; the default run sets off 30 bombs (test_thirty_bombs_in_a_row_leave_rss_flat)")
def test_hundred_bombs_in_a_row_leave_rss_flat() -> None:
    bombs_in_a_row(100)


def isolate_churn(count: int) -> None:
    for _ in range(50):
        ivmhost.Isolate().create_context_sync().isolate.dispose()
    gc.collect()
    before = rss_bytes()
    for i in range(count):
        isolate = ivmhost.Isolate(memory_limit=16)
        assert isolate.create_context_sync().eval_sync(f"[{i}].map(String)[0]") == str(i)
        isolate.dispose()
    gc.collect()
    after = rss_bytes()
    assert after - before <= before * 0.10, f"RSS grew {(after - before) / 2**20:.1f} MiB from {before / 2**20:.1f} MiB"


def test_a_thousand_isolates_leave_rss_flat() -> None:
    isolate_churn(1000)


@pytest.mark.slow(reason="about 40 s; the default run makes 1000 (test_a_thousand_isolates_leave_rss_flat)")
def test_ten_thousand_isolates_leave_rss_flat() -> None:
    isolate_churn(10_000)


def test_a_thousand_contexts_are_collected(make_isolate) -> None:  # type: ignore[no-untyped-def]
    # 1000 contexts alive at once (~250 KB each) would be a memory-limit error by design: they are
    # made in batches of 100, each batch released before the next.
    isolate = make_isolate(memory_limit=64)
    main = isolate.create_context_sync()
    baseline = isolate.get_heap_statistics_sync()
    assert baseline.number_of_native_contexts == 1
    for batch in range(10):
        contexts = [isolate.create_context_sync() for _ in range(100)]
        for i, context in enumerate(contexts):
            assert context.eval_sync(f"globalThis.n = {batch * 100 + i}; n") == batch * 100 + i
        for context in contexts:
            context.release()
        assert all(context.is_released for context in contexts)
        del contexts
    # No gc() in JavaScript: enough old-generation garbage makes V8 run full collections.
    grow = "{ let keep = []; for (let i = 0; i < 100; i++) keep.push(new Array(10000).fill(i)); keep = null; }"
    for _ in range(3):
        main.eval_sync(grow)
    after = isolate.get_heap_statistics_sync()
    assert after.number_of_native_contexts == 1
    assert after.number_of_detached_contexts == 0
    # 1000 leaked contexts would hold about 250 MB; the garbage of the last step is at most ~8 MB.
    assert after.used_heap_size < baseline.used_heap_size + 16 * 2**20
    assert main.eval_sync("typeof n") == "undefined"


def test_external_copies_of_every_kind_return_to_zero(context: ivmhost.Context) -> None:
    import datetime

    gc.collect()
    assert ExternalCopy.total_external_size() == 0
    moved = bytearray(b"m" * 5000)
    copies = [
        ExternalCopy("text " * 1000),
        ExternalCopy("\ud800 lone surrogate"),
        ExternalCopy(b"\x00" * 100_000),
        ExternalCopy({"a": [1, 2.5, None, True], "b": {"c": "d"}}),
        ExternalCopy({1, 2, 3}),
        ExternalCopy(frozenset({"x"})),
        ExternalCopy(datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)),
        ExternalCopy(2**80),
        ExternalCopy({"data": moved}, transfer_list=[moved]),
        ExternalCopy(bytearray(3000), transfer_out=True),
        context._external_copy_of("new Map([[1, {x: 1}], ['k', new Set([1, 2])]])"),
        context._external_copy_of("[new Date(0), new Float32Array(1000), 10n ** 30n]"),
        context._external_copy_of("new Uint8Array(200000).buffer", transfer_out=True),
        context._external_copy_of("const o = {}; o.self = o; o"),
        context._external_copy_of("/re/g"),  # RegExps go into isolates only
    ]
    assert moved == bytearray()
    assert ExternalCopy.total_external_size() >= 100_000 + 200_000 + 5000
    values = [copy.copy() for copy in copies[:-1]]
    assert context.eval_closure_sync("return String($0)", [copies[-1].copy_into()]) == "/re/g"
    assert values[0] == "text " * 1000 and values[1] == "\ud800 lone surrogate"
    assert values[2] == b"\x00" * 100_000 and values[4] == {1, 2, 3} and values[7] == 2**80
    assert values[8] == {"data": b"m" * 5000}
    assert values[13]["self"] is values[13]
    assert values[11][2] == 10**30 and values[11][1].tolist() == [0.0] * 1000
    pending = [copy.copy_into() for copy in copies[:4]]
    for copy in copies:
        copy.release()
    assert ExternalCopy.total_external_size() > 0  # the copy_into() results still hold theirs
    assert context.eval_closure_sync("return [$0.length, $1.length, $2.length, $3.b.c]", pending) == [
        5000, 16, 100_000, "d"]
    del pending
    # Copies dropped without release() are freed by their finaliser.
    for _ in range(50):
        ExternalCopy([b"y" * 1000, {"k": "v" * 100}])
        context._external_copy_of("new Int16Array(500)")
    gc.collect()
    assert ExternalCopy.total_external_size() == 0


def test_bombs_and_copies_together_leave_external_size_at_zero() -> None:
    gc.collect()
    for kind in ("array buffers", "typed arrays"):
        isolate = ivmhost.Isolate(memory_limit=16)
        try:
            context = isolate.create_context_sync()
            copy = context._external_copy_of("new Uint8Array(1 << 20)")
            with pytest.raises(ivmhost.MemoryLimitError):
                context.eval_sync(BOMBS[kind])
            assert copy.copy() == bytes(1 << 20)  # outside any heap: outlives its isolate
            copy.release()
        finally:
            if not isolate.is_disposed:
                isolate.dispose()
    assert ExternalCopy.total_external_size() == 0

