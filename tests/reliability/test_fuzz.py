"""Property tests: values of DESIGN's table round-trip losslessly; the rest is a TransferError."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ivmhost
from ivmhost import ExternalCopy

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers(min_value=2**53 + 1, max_value=2**200) | st.integers(min_value=-(2**200), max_value=-(2**53) - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, 0.0, float("nan"), float("inf"), float("-inf"), 5e-324]),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),  # lone surrogates
    st.binary(),
    st.binary().map(bytearray),
    st.binary().map(memoryview),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30,
)


def normal(value: Any, js_order: bool = True) -> Any:
    """What a value becomes after a trip: tuples → lists, bytearray/memoryview → bytes, and an
    integral float in the safe range → int (JavaScript has one number type; -0.0 stays a float),
    a high surrogate followed by a low one → the astral character (UTF-16 cannot tell them
    apart; truly lone surrogates survive), and dict keys in JavaScript's property order (array
    index keys first, ascending, then the others in insertion order) unless the value never
    entered an isolate (``js_order=False``: an ExternalCopy read back in Python keeps its order)."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        negative_zero = value == 0 and math.copysign(1.0, value) < 0
        return value if negative_zero else int(value)
    if isinstance(value, (list, tuple)):
        return [normal(v, js_order) for v in value]
    if isinstance(value, dict):
        items = {normal(k): normal(v, js_order) for k, v in value.items()}
        if not js_order:
            return items
        indices = sorted((k for k in items if is_array_index(k)), key=int)
        return {k: items[k] for k in indices + [k for k in items if not is_array_index(k)]}
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < 2**32 - 1


def same(got: Any, want: Any) -> bool:
    """Strict equality: types kept, nan equal to nan, -0.0 distinct from 0.0, key order kept."""
    if isinstance(want, float):
        return type(got) is float and (
            (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want)))
    if isinstance(want, list):
        return type(got) is list and len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return type(got) is dict and list(got) == list(want) and all(same(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


@FUZZ
@given(value=values)
def test_values_round_trip_through_a_closure(context: ivmhost.Context, value: Any) -> None:
    got = context.eval_closure_sync("return $0", [value])
    assert same(got, normal(value)), (got, value)


@FUZZ
@given(value=values)
def test_values_keep_their_javascript_shape(context: ivmhost.Context, value: Any) -> None:
    kind = context.eval_closure_sync(
        "const v = $0; return v === null ? 'null' : Array.isArray(v) ? 'array' : v instanceof Uint8Array ? 'bytes' : typeof v",
        [value])
    expected = {type(None): "null", bool: "boolean", float: "number", str: "string", list: "array", tuple: "array",
                dict: "object", bytes: "bytes", bytearray: "bytes", memoryview: "bytes"}.get(type(value))
    if isinstance(value, int) and not isinstance(value, bool):
        expected = "number" if abs(value) <= 2**53 else "bigint"
    assert kind == expected


@FUZZ
@given(value=values)
def test_external_copies_round_trip(value: Any) -> None:
    copy = ExternalCopy(value)
    try:
        assert same(copy.copy(), normal(value, js_order=False))
        assert same(copy.copy(), normal(value, js_order=False))  # a copy can be read any number of times
    finally:
        copy.release()
    assert ExternalCopy.total_external_size() == 0


class Opaque:
    pass


outside = st.one_of(
    st.sets(st.integers(), min_size=0, max_size=3),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.builds(Opaque),
    st.complex_numbers(allow_nan=False),
    st.dictionaries(st.integers() | st.binary(min_size=1) | st.tuples(st.integers()), st.integers(), min_size=1, max_size=3),
)


@FUZZ
@given(bad=outside, where=st.sampled_from(["top", "list", "dict"]))
def test_values_outside_the_table_are_refused(context: ivmhost.Context, bad: Any, where: str) -> None:
    value = {"top": bad, "list": [1, bad], "dict": {"k": [bad]}}[where]
    with pytest.raises(ivmhost.TransferError, match="non-transferable|cannot|key"):
        context.eval_closure_sync("return $0", [value])
    assert context.eval_sync("'still fine'") == "still fine"


@FUZZ
@given(sizes=st.lists(st.integers(min_value=0, max_value=4096), max_size=6),
       picks=st.lists(st.integers(min_value=0, max_value=10), max_size=8),
       wrap=st.sampled_from(["list", "dict", "nested"]))
def test_random_transfer_lists_never_crash(context: ivmhost.Context, sizes: list[int], picks: list[int], wrap: str) -> None:
    buffers = [bytearray(bytes([i % 256]) * n) for i, n in enumerate(sizes)]
    originals = [bytes(b) for b in buffers]
    value: Any = {"list": buffers, "dict": {str(i): b for i, b in enumerate(buffers)}, "nested": [[b] for b in buffers]}[wrap]
    transfer = [buffers[p] for p in picks if p < len(buffers)] + [bytearray(3)]  # and one not in the value
    try:
        copy = ExternalCopy(value, transfer_list=transfer)
    except (ivmhost.TransferError, TypeError, ValueError) as exc:
        # e.g. the same buffer listed twice: refused, with the sources untouched or moved, never a crash
        assert str(exc)
        return
    try:
        got = copy.copy()
        flat = {"list": lambda v: v, "dict": lambda v: list(v.values()), "nested": lambda v: [x[0] for x in v]}[wrap](got)
        assert flat == originals
        for i, buffer in enumerate(buffers):
            assert buffer == (bytearray() if any(buffer is t for t in transfer) else bytearray(originals[i]))
        lengths = context.eval_closure_sync("return $0", [copy.copy_into()])
        assert lengths == got
    finally:
        copy.release()
