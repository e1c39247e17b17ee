"""ExternalCopy: structured clones outside any heap (DESIGN.md, the ExternalCopy row)."""

from __future__ import annotations

import datetime
import gc
import re
from collections.abc import Callable

import pytest

import ivmhost
from ivmhost import ExternalCopy

UTC = datetime.timezone.utc
COPY_INTO_TWICE = "The return value of `copyInto()` should only be used once"


def js_copy(context: ivmhost.Context, code: str, **options: object) -> ExternalCopy:
    """An ExternalCopy made by JavaScript (ValueSerializer) from the value of ``code``."""
    return context._external_copy_of(code, **options)  # type: ignore[arg-type]


def check_in(context: ivmhost.Context, copy: ExternalCopy, body: str) -> object:
    """Materialise ``copy`` as ``v`` in ``context`` and return the value of ``body``."""
    return context.eval_closure_sync(f"const v = $0; {body}", [copy.copy_into()])


@pytest.fixture
def other(make_isolate: Callable[..., ivmhost.Isolate]) -> ivmhost.Context:
    """A context in a second isolate: copies travel between isolates."""
    return make_isolate().create_context_sync()


# -- JavaScript -> ExternalCopy -> another isolate ---------------------------------------------------


@pytest.mark.parametrize(
    ("make", "check", "expected"),
    [
        ("new Map([[1, 'one'], ['k', {x: [2]}]])",
         "return [v instanceof Map, v.size, v.get(1), v.get('k').x[0]]", [True, 2, "one", 2]),
        ("new Set([1, 'a', 1])", "return [v instanceof Set, [...v]]", [True, [1, "a"]]),
        ("new Date(Date.UTC(2020, 1, 29, 12))",
         "return [v instanceof Date, v.toISOString()]", [True, "2020-02-29T12:00:00.000Z"]),
        ("/a+b/giu", "return [v instanceof RegExp, v.source, v.flags, v.test('xAAB')]",
         [True, "a+b", "giu", True]),
        ("2n ** 100n", "return [typeof v, v === 2n ** 100n]", ["bigint", True]),
        ("-(2n ** 64n) - 5n", "return String(v)", str(-(2**64) - 5)),
        ("new Float64Array([1.5, -2.25])",
         "return [v.constructor.name, Array.from(v)]", ["Float64Array", [1.5, -2.25]]),
        ("new Int16Array([-1, 300])", "return [v.constructor.name, Array.from(v)]", ["Int16Array", [-1, 300]]),
        ("new BigUint64Array([2n ** 63n])", "return [v.constructor.name, String(v[0])]",
         ["BigUint64Array", str(2**63)]),
        ("new Uint8Array([1, 2, 3]).buffer",
         "return [v instanceof ArrayBuffer, v.byteLength, Array.from(new Uint8Array(v))]",
         [True, 3, [1, 2, 3]]),
        ("new DataView(new ArrayBuffer(4), 1, 2)",
         "return [v instanceof DataView, v.byteOffset, v.byteLength]", [True, 1, 2]),
        ("[1, , 3]", "return [v.length, 1 in v, v[2]]", [3, False, 3]),
        ("new String('boxed')", "return [typeof v, String(v)]", ["object", "boxed"]),
        ("new RangeError('out of range')", "return [v instanceof RangeError, v.message]",
         [True, "out of range"]),
        ("'lone \\ud800 surrogate'", "return v === 'lone \\ud800 surrogate'", True),
    ],
)
def test_structured_clone_types_survive_between_isolates(
    context: ivmhost.Context, other: ivmhost.Context, make: str, check: str, expected: object
) -> None:
    copy = js_copy(context, make)
    assert check_in(other, copy, check) == expected


def test_cycles_and_shared_objects_survive(context: ivmhost.Context, other: ivmhost.Context) -> None:
    copy = js_copy(context, "(() => { const o = {name: 'root'}; const s = [1]; o.self = o;"
                            " o.a = s; o.b = s; o.m = new Map([[o, s]]); return o })()")
    assert check_in(other, copy, "return [v.self === v, v.a === v.b, v.m.get(v) === v.a, v.name]") == [
        True, True, True, "root"]


def test_each_copy_into_makes_a_new_value(context: ivmhost.Context) -> None:
    copy = js_copy(context, "({n: 1})")
    assert context.eval_closure_sync("$0.n = 2; return $1.n", [copy.copy_into(), copy.copy_into()]) == 1


def test_a_hijacked_target_context_does_not_change_the_clone(context: ivmhost.Context,
                                                             other: ivmhost.Context) -> None:
    copy = js_copy(context, "new Map([[1, new Set([2])]])")
    other.eval_sync("Map.prototype.set = Set.prototype.add = () => { throw new Error('hijacked') }")
    assert check_in(other, copy, "return [...v.get(1)]") == [2]


def test_shared_array_buffers_are_shared_not_copied(
    context: ivmhost.Context, other: ivmhost.Context
) -> None:
    copy = js_copy(context, "globalThis.shared = new SharedArrayBuffer(4); shared")
    other.eval_closure_sync("globalThis.seen = new Uint8Array($0); seen[0] = 42", [copy.copy_into()])
    assert context.eval_sync("new Uint8Array(shared)[0]") == 42
    context.eval_sync("new Uint8Array(shared)[1] = 7")
    assert other.eval_sync("seen[1]") == 7


# -- JavaScript -> ExternalCopy -> Python ------------------------------------------------------------


def test_copy_to_python_follows_the_copy_table(context: ivmhost.Context) -> None:
    copy = js_copy(context, """(() => {
        const o = {m: new Map([[1, 'one'], ['two', 2]]), s: new Set([1, 'a']), d: new Date(0),
                   big: 2n ** 70n, f: new Float32Array([0.5]), ab: new Uint8Array([9]).buffer,
                   u: new Uint8Array([1, 2, 3, 4]).subarray(1, 3), holes: [1, , 3],
                   e: new TypeError('bad'), n: new Number(2.5), 7: 'seven'};
        o.self = o;
        return o })()""")
    value = copy.copy()
    assert value["self"] is value
    assert value["7"] == "seven"
    assert value["m"] == {1: "one", "two": 2}
    assert value["s"] == {1, "a"}
    assert value["d"] == datetime.datetime(1970, 1, 1, tzinfo=UTC)
    assert value["big"] == 2**70
    assert value["f"].format == "f" and value["f"].tolist() == [0.5]
    assert value["ab"] == b"\x09"
    assert value["u"] == b"\x02\x03"
    assert value["holes"] == [1, ivmhost.undefined, 3]
    assert isinstance(value["e"], ivmhost.JSError)
    assert (value["e"].name, value["e"].message) == ("TypeError", "bad")
    assert value["n"] == 2.5


def test_values_python_cannot_hold_raise_transfer_error(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="A RegExp cannot be copied to Python"):
        js_copy(context, "[/x/]").copy()
    with pytest.raises(ivmhost.TransferError, match="A Map key of type dict cannot be a Python dict key"):
        js_copy(context, "new Map([[{}, 1]])").copy()


# -- Python -> ExternalCopy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None, True, 0, -1, 2**31, -(2**31) - 1, 2**53, 2**80, -(2**80), 0.5, -0.0, "", "latin ü",
        "wide 漢字 🐍", "lone \ud800", [1, [2, []]], (1, 2), {"a": {"b": [None]}},
        b"\x00\xff", datetime.datetime(2021, 5, 4, 3, 2, 1, 123000, tzinfo=UTC), ivmhost.undefined,
    ],
)
def test_python_values_round_trip(value: object) -> None:
    expected = list(value) if isinstance(value, tuple) else value
    assert ExternalCopy(value).copy() == expected


def test_python_values_arrive_in_javascript(context: ivmhost.Context) -> None:
    copy = ExternalCopy({"set": {1, 2}, "frozen": frozenset(["x"]), "dict": {"k": [1.5]},
                         "bytes": bytearray(b"ab"), "big": 2**64,
                         "when": datetime.datetime(2000, 1, 1, tzinfo=UTC)})
    assert check_in(context, copy, """return [
        v.set instanceof Set, [...v.set].sort(), [...v.frozen], Object.getPrototypeOf(v.dict) === Object.prototype,
        v.dict.k[0], v.bytes instanceof Uint8Array, Array.from(v.bytes), v.big === 2n ** 64n,
        v.when.toISOString()]""") == [True, [1, 2], ["x"], True, 1.5, True, [97, 98], True,
                                      "2000-01-01T00:00:00.000Z"]


def test_python_sharing_is_preserved(context: ivmhost.Context) -> None:
    shared = [1]
    data = b"xy"
    copy = ExternalCopy({"a": shared, "b": shared, "c": data, "d": data})
    assert check_in(context, copy, "return [v.a === v.b, v.c === v.d, v.c.length]") == [True, True, 2]
    value = copy.copy()
    assert value["a"] is value["b"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "A non-transferable value was passed: object"),
        (lambda: 1, "A non-transferable value was passed: function"),
        ({1: "int key"}, "dict keys must be str, not int"),
        (datetime.datetime(2020, 1, 1), "a naive datetime is ambiguous"),
        ({"nested": {1j}}, "A non-transferable value was passed: complex"),
    ],
)
def test_python_values_that_cannot_be_cloned(value: object, message: str) -> None:
    before = ExternalCopy.total_external_size()
    with pytest.raises(ivmhost.TransferError, match=message):
        ExternalCopy(value)
    assert ExternalCopy.total_external_size() == before


def test_cyclic_python_values_survive(context: ivmhost.Context) -> None:
    cyclic: list[object] = [1]
    cyclic.append({"back": cyclic})
    copy = ExternalCopy(cyclic)
    assert check_in(context, copy, "return [v[1].back === v, v[0]]") == [True, 1]
    value = copy.copy()
    assert value[1]["back"] is value


# -- lifetime: release, size, single use -------------------------------------------------------------


def test_total_external_size_rises_and_returns_to_zero(context: ivmhost.Context) -> None:
    gc.collect()
    assert ExternalCopy.total_external_size() == 0
    small = ExternalCopy("x" * 1000)
    after_small = ExternalCopy.total_external_size()
    assert after_small >= 1000
    big = js_copy(context, "new Uint8Array(100000)")
    assert ExternalCopy.total_external_size() >= after_small + 100000
    pending = big.copy_into()
    big.release()
    assert ExternalCopy.total_external_size() >= after_small + 100000  # the copy_into() holds it
    assert context.eval_closure_sync("return $0.length", [pending]) == 100000
    small.release()
    assert ExternalCopy.total_external_size() == 0


def test_released_copy_raises(context: ivmhost.Context) -> None:
    copy = ExternalCopy([1, 2])
    copy.release()
    copy.release()  # releasing again is harmless, as for every ivmhost handle
    assert repr(copy) == "<ivmhost.ExternalCopy released>"
    with pytest.raises(ivmhost.ReleasedError, match="^Copy has been released$"):
        copy.copy()
    with pytest.raises(ivmhost.ReleasedError, match="^Copy has been released$"):
        copy.copy_into()


def test_copy_and_copy_into_can_release(context: ivmhost.Context) -> None:
    copy = ExternalCopy({"a": 1})
    assert copy.copy(release=True) == {"a": 1}
    with pytest.raises(ivmhost.ReleasedError, match="Copy has been released"):
        copy.copy()
    copy = ExternalCopy("text")
    into = copy.copy_into(release=True)
    with pytest.raises(ivmhost.ReleasedError, match="Copy has been released"):
        copy.copy()
    assert context.eval_closure_sync("return $0 + '!'", [into]) == "text!"


def test_copy_into_is_single_use(context: ivmhost.Context) -> None:
    into = ExternalCopy([1]).copy_into()
    with pytest.raises(ivmhost.TransferError, match=f"^{re.escape(COPY_INTO_TWICE)}$"):
        context.eval_closure_sync("return $0", [into, into])
    with pytest.raises(ivmhost.TransferError, match=f"^{re.escape(COPY_INTO_TWICE)}$"):
        context.eval_closure_sync("return $0", [into])
    with pytest.raises(TypeError, match=re.escape(COPY_INTO_TWICE)):
        context.global_.set_sync("x", into)


def test_the_copy_itself_arrives_as_an_external_copy_object(context: ivmhost.Context) -> None:
    out = context.eval_closure_sync("return [$0.constructor.name, $0.copy()]", [ExternalCopy(1)])
    assert out == ["ExternalCopy", 1]


def test_repr_names_the_value() -> None:
    assert repr(ExternalCopy({"a": 1})).startswith("<ivmhost.ExternalCopy of Object, ")
    assert repr(ExternalCopy({1, 2})).startswith("<ivmhost.ExternalCopy of Set, ")
    assert repr(ExternalCopy(None)).startswith("<ivmhost.ExternalCopy of null, ")


# -- transfers -------------------------------------------------------------------------------------


def test_transfer_list_moves_and_detaches_the_source(context: ivmhost.Context,
                                                     other: ivmhost.Context) -> None:
    copy = js_copy(context, "globalThis.buf = new Uint8Array([5, 6, 7, 8]).buffer; ({buf})",
                   transfer_list="[buf]")
    assert context.eval_sync("buf.byteLength") == 0
    assert check_in(other, copy, "return Array.from(new Uint8Array(v.buf))") == [5, 6, 7, 8]
    assert copy.copy() == {"buf": b"\x05\x06\x07\x08"}


def test_transfer_out_keeps_a_sliced_view_offset(context: ivmhost.Context, other: ivmhost.Context) -> None:
    copy = js_copy(context, "globalThis.view = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).subarray(2, 5); view",
                   transfer_out=True)
    assert context.eval_sync("[view.buffer.byteLength, view.length]") == [0, 0]
    assert check_in(other, copy, "return [v.byteOffset, v.length, v.buffer.byteLength, Array.from(v)]") == [
        2, 3, 8, [2, 3, 4]]
    assert copy.copy() == b"\x02\x03\x04"


def test_a_copied_sliced_view_keeps_its_offset(context: ivmhost.Context, other: ivmhost.Context) -> None:
    copy = js_copy(context, "new Int32Array([1, 2, 3, 4]).subarray(1, 3)")
    assert check_in(other, copy, "return [v.byteOffset, v.length, v.buffer.byteLength, Array.from(v)]") == [
        4, 2, 16, [2, 3]]
    assert copy.copy().tolist() == [2, 3]


def test_transfer_in_hands_the_buffer_over_and_releases(context: ivmhost.Context) -> None:
    copy = js_copy(context, "new Uint8Array(16).fill(3).buffer", transfer_out=True)
    into = copy.copy_into(transfer_in=True)
    with pytest.raises(ivmhost.ReleasedError, match="Copy has been released"):
        copy.copy()
    assert context.eval_closure_sync("return new Uint8Array($0).reduce((a, b) => a + b)", [into]) == 48


def test_transfers_that_cannot_happen(context: ivmhost.Context) -> None:
    with pytest.raises(TypeError, match="Only ArrayBuffers"):
        js_copy(context, "1", transfer_list="[{}]")
    with pytest.raises(TypeError, match="SharedArrayBuffer is shared"):
        js_copy(context, "1", transfer_list="[new SharedArrayBuffer(1)]")
    js_copy(context, "globalThis.gone = new ArrayBuffer(1); 1", transfer_list="[gone]")
    with pytest.raises(ivmhost.TransferError, match="detached or cannot be detached"):
        js_copy(context, "1", transfer_list="[gone]")


def test_python_transfer_list_empties_bytearrays(context: ivmhost.Context) -> None:
    source = bytearray(b"move me")
    copy = ExternalCopy({"data": source}, transfer_list=[source])
    assert source == bytearray()
    assert check_in(context, copy, "return Array.from(v.data)") == list(b"move me")
    out = bytearray(b"abc")
    assert ExternalCopy(out, transfer_out=True).copy() == b"abc"
    assert out == bytearray()
    with pytest.raises(TypeError, match="take bytearrays from Python"):
        ExternalCopy(b"immutable", transfer_out=True)


# -- limits and garbage ------------------------------------------------------------------------------


def test_copy_into_over_the_memory_limit_raises(make_isolate: Callable[..., ivmhost.Isolate]) -> None:
    isolate = make_isolate(memory_limit=8)
    context = isolate.create_context_sync()
    copy = ExternalCopy(bytes(16 * 1024 * 1024))
    with pytest.raises(ivmhost.TransferError, match="does not fit in the isolate's memory limit"):
        context.eval_closure_sync("return $0.length", [copy.copy_into()])
    transferred = ExternalCopy(bytearray(16 * 1024 * 1024), transfer_out=True)
    with pytest.raises(ivmhost.TransferError, match="does not fit in the isolate's memory limit"):
        context.eval_closure_sync("return $0.length", [transferred.copy_into()])
    assert not isolate.is_disposed
    assert context.eval_sync("6 * 7") == 42
    small = ExternalCopy(bytes(1024))
    assert context.eval_closure_sync("return $0.length", [small.copy_into()]) == 1024


def test_javascript_values_that_cannot_be_cloned(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed: .*could not be cloned"):
        js_copy(context, "({f() {}})")
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        js_copy(context, "new Proxy({}, {})")
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        js_copy(context, "Symbol('s')")


def test_cloning_never_runs_a_getter(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        js_copy(context, "globalThis.ran = false; ({get x() { globalThis.ran = true; return 1 }})")
    assert context.eval_sync("ran") is False


def test_javascript_errors_while_making_a_copy(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError, match="boom"):
        js_copy(context, "throw new Error('boom')")
    with pytest.raises(ivmhost.JSError, match="SyntaxError"):
        js_copy(context, "(")
    with pytest.raises(TypeError, match="code must be a str"):
        js_copy(context, 42)  # type: ignore[arg-type]


def test_garbage_never_crashes(context: ivmhost.Context) -> None:
    with pytest.raises(TypeError):
        ivmhost._engine._CopyInto()  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        ExternalCopy()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ExternalCopy(1, transfer_list=[1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        ExternalCopy(1, transfer_list=5)  # type: ignore[arg-type]
    deep: object = "leaf"
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(ivmhost.TransferError, match="nested too deeply"):
        ExternalCopy(deep)
    deep_js = js_copy(context, "let d = 'leaf'; for (let i = 0; i < 1500; i++) d = [d]; d")
    with pytest.raises(ivmhost.TransferError, match="nested too deeply"):
        deep_js.copy()
    assert check_in(context, deep_js, "let n = 0; let x = v; while (Array.isArray(x)) { x = x[0]; n++ } return n") == 1500


@pytest.mark.anyio
async def test_copy_into_crosses_to_the_executor_thread(context: ivmhost.Context) -> None:
    copy = ExternalCopy({"items": list(range(5))})
    into = copy.copy_into(release=True)
    assert await context.eval_closure("return $0.items.reduce((a, b) => a + b)", [into]) == 10


def test_views_sharing_a_buffer_still_share_it(context: ivmhost.Context, other: ivmhost.Context) -> None:
    copy = js_copy(context, "(() => { const b = new Uint8Array([1, 2, 3, 4]).buffer;"
                            " return [new Uint8Array(b, 0, 2), new Uint8Array(b, 2, 2), b] })()")
    assert check_in(other, copy, "return [v[0].buffer === v[1].buffer, v[1].buffer === v[2], v[1].byteOffset]") == [
        True, True, 2]
    assert copy.copy() == [b"\x01\x02", b"\x03\x04", b"\x01\x02\x03\x04"]


def test_a_callback_may_return_copy_into(context: ivmhost.Context) -> None:
    copy = js_copy(context, "new Map([['k', new Set([1, 2])]])")

    def provide() -> object:
        return copy.copy_into()

    assert context.eval_closure_sync("const m = $0(); return [m instanceof Map, m.get('k').size]", [provide]) == [
        True, 2]


def test_a_copy_that_outgrows_the_heap_disposes_only_that_isolate(
    make_isolate: Callable[..., ivmhost.Isolate]
) -> None:
    # The blob fits the limit, the objects it expands to do not: a memory-limit hit, not a crash.
    copy = ExternalCopy([{"a": i} for i in range(300_000)])
    isolate = make_isolate(memory_limit=8)
    context = isolate.create_context_sync()
    with pytest.raises(ivmhost.MemoryLimitError, match="due to memory limit"):
        context.eval_closure_sync("return $0.length", [copy.copy_into()])
    assert isolate.is_disposed
    survivor = make_isolate().create_context_sync()
    assert survivor.eval_closure_sync("return $0.length", [copy.copy_into()]) == 300_000
