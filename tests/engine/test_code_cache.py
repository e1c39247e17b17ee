"""V8's code cache for scripts and modules (trusted input only: it is machine code)."""

from __future__ import annotations

import os

import pytest

import ivmhost

CODE = "function twice(x) { return x * 2 }\ntwice(21)"


def test_produce_and_consume(make_isolate) -> None:  # type: ignore[no-untyped-def]
    script = make_isolate().compile_script_sync(CODE, produce_cached_data=True)
    cache = script.cached_data
    assert isinstance(cache, ivmhost.ExternalCopy)
    assert len(cache.copy()) > 100
    assert not hasattr(script, "cached_data_rejected")  # absent when not asked, as in isolated-vm
    fresh = make_isolate()
    again = fresh.compile_script_sync(CODE, cached_data=cache)
    assert again.cached_data_rejected is False
    assert not hasattr(again, "cached_data")
    assert again.run_sync(fresh.create_context_sync()) == 42
    other = make_isolate().compile_script_sync(CODE + "\n// changed", cached_data=cache.copy())
    assert other.cached_data_rejected is True


@pytest.mark.parametrize("garbage", [b"", b"garbage" * 100, os.urandom(4096)])
def test_garbage_is_rejected_never_run(make_isolate, garbage: bytes) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate()
    script = isolate.compile_script_sync(CODE, cached_data=garbage)
    assert script.cached_data_rejected is True
    assert script.run_sync(isolate.create_context_sync()) == 42


def test_a_flipped_byte_is_rejected(make_isolate) -> None:  # type: ignore[no-untyped-def]
    good = make_isolate().compile_script_sync(CODE, produce_cached_data=True).cached_data.copy()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    isolate = make_isolate()
    script = isolate.compile_script_sync(CODE, cached_data=bytes(bad))
    assert script.cached_data_rejected is True
    assert script.run_sync(isolate.create_context_sync()) == 42


def test_module_code_cache(make_isolate) -> None:  # type: ignore[no-untyped-def]
    source = "export const answer = 6 * 7"
    cache = make_isolate().compile_module_sync(source, produce_cached_data=True).cached_data
    isolate = make_isolate()
    module = isolate.compile_module_sync(source, cached_data=cache)
    assert module.cached_data_rejected is False
    context = isolate.create_context_sync()
    module.instantiate_sync(context, lambda s, r: module)
    module.evaluate_sync()
    assert module.namespace.get_sync("answer") == 42


def test_cached_data_type_is_checked(isolate: ivmhost.Isolate) -> None:
    with pytest.raises(TypeError, match="cached_data"):
        isolate.compile_script_sync(CODE, cached_data="not bytes")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_async_compile_with_cache(make_isolate) -> None:  # type: ignore[no-untyped-def]
    first = await make_isolate().compile_script(CODE, produce_cached_data=True)
    second = await make_isolate().compile_script(CODE, cached_data=first.cached_data)
    assert second.cached_data_rejected is False
