"""Arrays and objects on the bulk paths: plain data goes in through V8's serialization format and
comes out as one flat buffer (engine.h, ValKind kSerialized / kFlat). The copy rules are the same
as for small values (test_values.py); these tests pin them on the bulk paths."""

from __future__ import annotations

import collections
import datetime
import enum
import math
import os
import subprocess
import sys
import time

import pytest

import ivmhost

DESCRIBE = """(xs) => xs.map(x => {
  const tag = Object.prototype.toString.call(x).slice(8, -1);
  if (typeof x === 'number') return [tag, Object.is(x, -0) ? '-0' : String(x)];
  if (typeof x === 'string') return [tag, Array.from({length: x.length}, (_, i) => x.charCodeAt(i))];
  if (typeof x === 'bigint') return [tag, String(x)];
  if (x instanceof Date) return [tag, x.getTime()];
  if (x && typeof x === 'object') return [tag, JSON.stringify(x)];
  return [tag, String(x)];
})"""


def _codes(s: str) -> list[int]:
    """The UTF-16 code units of `s`, as JavaScript's charCodeAt sees them."""
    raw = s.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


def test_plain_data_arrives_with_javascript_types(context: ivmhost.Context) -> None:
    describe = context.eval_sync(DESCRIBE, reference=True)
    values = [
        0, 1, -1, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**53, -(2**53),
        1.5, -0.0, math.inf, -math.inf, math.nan,
        True, False, None, ivmhost.undefined,
        "", "abc", "café", "€uro", "😀", "\ud800x",
    ]
    got = describe.apply_sync(None, [values])
    assert got[:14] == [
        ["Number", "0"], ["Number", "1"], ["Number", "-1"], ["Number", "2147483647"],
        ["Number", "-2147483648"], ["Number", "2147483648"], ["Number", "-2147483649"],
        ["Number", "9007199254740992"], ["Number", "-9007199254740992"], ["Number", "1.5"],
        ["Number", "-0"], ["Number", "Infinity"], ["Number", "-Infinity"], ["Number", "NaN"],
    ]
    assert got[14:18] == [["Boolean", "true"], ["Boolean", "false"], ["Null", "null"], ["Undefined", "undefined"]]
    assert got[18:] == [["String", _codes(s)] for s in ["", "abc", "café", "€uro", "😀", "\ud800x"]]


def test_lists_of_primitives_arrive_as_ordinary_arrays(context: ivmhost.Context) -> None:
    # Lists of one-byte text, numbers, booleans, None and undefined take their own way in (a packed
    # array made at once): same values, same types, ordinary arrays of this context.
    describe = context.eval_sync(DESCRIBE, reference=True)
    values = [0, -1, 2**31 - 1, -(2**31), 2**31, 2**53, -(2**53), 1.5, -0.0, math.inf, math.nan,
              True, False, None, ivmhost.undefined, "", "abc", "café\xff"]
    got = describe.apply_sync(None, [values])
    assert [g[1] for g in got[:11]] == ["0", "-1", "2147483647", "-2147483648", "2147483648",
                                       "9007199254740992", "-9007199254740992", "1.5", "-0", "Infinity", "NaN"]
    assert [g[0] for g in got[11:15]] == ["Boolean", "Boolean", "Null", "Undefined"]
    assert got[15:] == [["String", _codes(s)] for s in ["", "abc", "café\xff"]]
    # Inside big data (made by compiled literals): lists of up to 16 items by an array literal,
    # longer ones at once; the same values either way.
    nested = context.eval_sync(f"(rs) => [({DESCRIBE})(rs[299].long), ({DESCRIBE})(rs[299].short)]", reference=True)
    records = [{"long": values, "short": values[-16:], "i": i} for i in range(300)]
    assert nested.apply_sync(None, [records]) == [got, got[-16:]]
    # An index setter on Array.prototype is never called while the lists are made.
    context.eval_sync(
        "globalThis.ran = 0; Object.defineProperty(Array.prototype, 3, "
        "{set() { ran++; }, get() { return 'inherited'; }, configurable: true})"
    )
    inspect = context.eval_sync(
        """(r) => {
          const t = r.tags;
          const seen = [Array.isArray(t), Object.getPrototypeOf(t) === Array.prototype, t.length, t[3], ran];
          delete Array.prototype[3];
          t.push('pushed');
          return [...seen, t.length, t.at(-1), t.concat(r.empty).length, r.tuple, r.mixed];
        }""",
        reference=True,
    )
    record = {"tags": ["a", 1, 2.5, None, True, ivmhost.undefined, "b"], "empty": [], "tuple": ("x", 2),
              "mixed": ["a", "€", 2**70, {"k": [1, 2]}]}
    assert inspect.apply_sync(None, [record]) == [True, True, 7, None, 0, 8, "pushed", 8, ["x", 2],
                                                  ["a", "€", 2**70, {"k": [1, 2]}]]


def test_big_inputs_are_made_in_the_receiving_context_without_running_guest_code(isolate: ivmhost.Isolate) -> None:
    # Big plain data (4 KiB and more) is made by object literals compiled in the receiving context:
    # its objects and arrays are that context's, and nothing the guest defined runs meanwhile.
    first, second = isolate.create_context_sync(), isolate.create_context_sync()
    guard = """globalThis.ran = 0;
      for (const key of ['id', 'name', 'tags', 'nested', '0', '__proto__'])
        Object.defineProperty(Object.prototype, key, {set() { ran++; }, get() { ran++; }, configurable: true});
      for (const index of [0, 1, 2, 3])
        Object.defineProperty(Array.prototype, index, {set() { ran++; }, get() { ran++; }, configurable: true});"""
    inspect = """(xs) => {
      const own = (o, k) => Object.getOwnPropertyDescriptor(o, k).value;
      const seen = [ran, Object.getPrototypeOf(xs) === Array.prototype, xs.length,
                    Object.getPrototypeOf(own(xs, 0)) === Object.prototype,
                    Object.getPrototypeOf(own(own(xs, 0), 'tags')) === Array.prototype,
                    Object.keys(own(xs, 7)), own(own(own(xs, 7), 'nested'), 0)];
      return seen;
    }"""
    data = [{"id": i, "name": f"n{i}", "tags": ["a", i], "nested": [{"k": i}, [i, "€"]], "0": i} for i in range(400)]
    for context in (first, second):
        context.eval_sync(guard)
        got = context.eval_sync(inspect, reference=True).apply_sync(None, [data])
        assert got == [0, True, 400, True, True, ["0", "id", "name", "tags", "nested"], {"k": 7}]


def test_big_inputs_arrive_packed_and_sharing_one_map() -> None:
    # What the builder makes, seen through V8's natives syntax (a process-wide flag: a child process).
    code = (
        "import ivmhost\n"
        "ctx = ivmhost.Isolate().create_context_sync()\n"
        "f = ctx.eval_sync('(xs) => [%HasHoleyElements(xs), %HasHoleyElements(xs[0].tags), "
        "%HaveSameMap(xs[0], xs[xs.length - 1]), %HasFastProperties(xs[0])]', reference=True)\n"
        "print(f.apply_sync(None, [[{'id': i, 'tags': ['a', i]} for i in range(300)]]))\n"
        "print(f.apply_sync(None, [[{'id': i, 'tags': ['a', i]} for i in range(4)]]))\n"
    )
    env = dict(os.environ, IVMHOST_V8_FLAGS="--allow-natives-syntax")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    # 300 records: made by the builder, packed; 4: V8's deserializer, whose arrays are holey.
    assert out.stdout.split("\n")[:2] == ["[False, False, True, True]", "[True, False, True, True]"], out.stderr


def test_a_timeout_while_big_records_are_made_leaves_the_context_usable(context: ivmhost.Context) -> None:
    records = [{"id": i, "name": f"n{i}"} for i in range(50_000)]

    def slow() -> list[dict]:
        time.sleep(0.1)  # the timeout passes while the callback runs; records are made after it
        return records

    with pytest.raises(ivmhost.ScriptTimeoutError, match="Script execution timed out."):
        context.eval_closure_sync("const v = $0(); for (;;) {}", [slow], timeout=50)
    identity = context.eval_sync("(x) => x", reference=True)
    assert identity.apply_sync(None, [records[:300]]) == records[:300]


def test_big_inputs_with_unusual_keys_and_many_shapes(context: ivmhost.Context) -> None:
    identity = context.eval_sync("(x) => x", reference=True)
    keys = ["", "a\"b", "back\\slash", "new\nline", "é", "€", "😀", "\ud800", "\u2028", "0", "10", "-1", "1.5"]
    odd = [{k: i for k in keys} for i in range(200)]
    assert identity.apply_sync(None, [odd]) == odd
    # One shape per record: more shapes than the builder compiles for one value.
    many = [{f"key{i}": i, "same": "x" * 20} for i in range(300)]
    assert identity.apply_sync(None, [many]) == many
    # A key "__proto__" is an own property, never the prototype.
    proto = [{"__proto__": {"polluted": True}, "i": i, "pad": "y" * 20} for i in range(300)]
    probe = context.eval_sync(
        "(xs) => [Object.getPrototypeOf(xs[0]) === Object.prototype, Object.keys(xs[0]), xs[0].polluted, ({}).polluted]",
        reference=True,
    )
    assert probe.apply_sync(None, [proto]) == [True, ["__proto__", "i", "pad"], ivmhost.undefined, ivmhost.undefined]
    assert identity.apply_sync(None, [proto]) == proto
    # Deep nesting goes to V8's deserializer past the builder's depth.
    deep: object = [1, "x" * 5000]
    for _ in range(300):
        deep = [deep]
    assert identity.apply_sync(None, [deep]) == deep


def test_nested_plain_data_round_trips_exactly(context: ivmhost.Context) -> None:
    identity = context.eval_sync("(x) => x", reference=True)
    data = [
        {"id": i, "name": f"n{i}é" if i % 2 else f"n{i}€", "tags": ["a", "😀"], "score": i / 3, "none": None,
         "nested": {"deep": [[i], {"k": -i}], "flag": i % 3 == 0}}
        for i in range(300)
    ]
    assert identity.apply_sync(None, [data]) == data
    assert identity.apply_sync(None, [tuple(range(10))]) == list(range(10))


def test_keys_beyond_the_key_table_and_repeated_keys(context: ivmhost.Context) -> None:
    # More distinct keys than the 64-entry key table, repeated over many records.
    records = [{f"key{k}": k * i for k in range(100)} for i in range(50)]
    identity = context.eval_sync("(x) => x", reference=True)
    out = identity.apply_sync(None, [records])
    assert out == records
    assert list(out[7]) == [f"key{k}" for k in range(100)]


def test_the_key_table_never_confuses_keys_read_in_different_scopes(context: ivmhost.Context) -> None:
    # Keys are read inside per-element handle scopes; the table must not keep handles to them.
    out = context.eval_sync("[{x: 1}, [[{y: 2}]], 3, {a: 1}, {b: 2, x: 3}, [{a: 4, y: 5}], {[String(7)]: 8, [String(7)]: 9}]")
    assert out == [{"x": 1}, [[{"y": 2}]], 3, {"a": 1}, {"b": 2, "x": 3}, [{"a": 4, "y": 5}], {"7": 9}]
    many = context.eval_sync("Array.from({length: 300}, (_, i) => ({['k' + (i % 70)]: i, ['k' + ((i + 1) % 70)]: -i}))")
    assert many == [{f"k{i % 70}": i, f"k{(i + 1) % 70}": -i} for i in range(300)]


def test_two_byte_and_lone_surrogate_keys(context: ivmhost.Context) -> None:
    obj = {"plain": 1, "€": 2, "\udc00": 3, "😀": 4, "": 5}
    out = context.eval_sync("(o) => [o, o, o, o]", reference=True).apply_sync(None, [obj])
    assert out == [obj] * 4
    assert [list(o) for o in out] == [list(obj)] * 4


def test_integer_like_keys_follow_javascript_order(context: ivmhost.Context) -> None:
    obj = {"b": 1, "2": 2, "a": 3, "1": 4}
    out = context.eval_sync("(o) => Object.keys(o)", reference=True).apply_sync(None, [obj])
    assert out == ["1", "2", "b", "a"]


def test_types_outside_the_fast_path_still_cross(context: ivmhost.Context) -> None:
    class Color(enum.IntEnum):
        RED = 7

    when = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    values = [2**64, -(2**70), when, Color.RED, collections.OrderedDict(a=1), b"\x01\x02"]
    got = context.eval_sync(DESCRIBE, reference=True).apply_sync(None, [values])
    assert got == [
        ["BigInt", str(2**64)], ["BigInt", str(-(2**70))], ["Date", when.timestamp() * 1000],
        ["Number", "7"], ["Object", '{"a":1}'], ["Uint8Array", '{"0":1,"1":2}'],
    ]


def test_a_callable_inside_bulk_data_becomes_a_function(context: ivmhost.Context) -> None:
    call = context.eval_sync("(xs) => xs[4](xs[0] + xs[1])", reference=True)
    assert call.apply_sync(None, [[20, 22, 0, 0, lambda x: x * 2]]) == 84


def test_bad_values_inside_bulk_data_are_refused(context: ivmhost.Context) -> None:
    identity = context.eval_sync("(x) => x", reference=True)
    with pytest.raises(ivmhost.TransferError, match="dict keys must be str, not int"):
        identity.apply_sync(None, [[1, 2, 3, {1: "x"}]])
    with pytest.raises(ivmhost.TransferError, match="naive datetime"):
        identity.apply_sync(None, [[1, 2, 3, datetime.datetime(2024, 1, 1)]])
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed: object"):
        identity.apply_sync(None, [[1, 2, 3, object()]])
    cyclic: list[object] = [1, 2, 3]
    cyclic.append(cyclic)
    with pytest.raises(ivmhost.TransferError, match="nested too deeply"):
        identity.apply_sync(None, [cyclic])


def test_special_values_inside_arrays_come_out_as_themselves(context: ivmhost.Context) -> None:
    out = context.eval_sync(
        """[new Date(86400000), new TypeError('bad'), new Uint8Array([1, 2]), new ArrayBuffer(2),
            new Float64Array([0.5]), 10n ** 20n, -0, 2 ** 31, [ , 1], {u: undefined}]"""
    )
    assert out[0] == datetime.datetime(1970, 1, 2, tzinfo=datetime.timezone.utc)
    assert isinstance(out[1], ivmhost.JSError) and out[1].name == "TypeError" and out[1].message == "bad"
    assert out[2] == b"\x01\x02" and out[3] == b"\x00\x00"
    assert isinstance(out[4], memoryview) and out[4].tolist() == [0.5]
    assert out[5] == 10**20
    assert isinstance(out[6], float) and math.copysign(1.0, out[6]) == -1.0
    assert out[7] == 2**31 and isinstance(out[7], int)
    assert out[8] == [ivmhost.undefined, 1]
    assert out[9] == {"u": ivmhost.undefined}


def test_references_inside_arrays_come_out_as_references(context: ivmhost.Context) -> None:
    out = context.eval_closure_sync("return [1, $0, 3]", [ivmhost.Reference({"x": 1})])
    assert out[0] == 1 and out[2] == 3
    assert isinstance(out[1], ivmhost.Reference)
    assert out[1].deref() == {"x": 1}


def test_non_plain_objects_deep_inside_are_refused(context: ivmhost.Context) -> None:
    assert context.eval_sync("class Foo { constructor() { this.a = 1 } }; [1, [2, new Foo()]]") is ivmhost.undefined
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        context.eval_closure_sync("class Foo {}; return [1, {x: [new Foo()]}]", [])
    with pytest.raises(ivmhost.TransferError, match="A function cannot be copied"):
        context.eval_closure_sync("return [1, 2, {f() {}}]", [])
    with pytest.raises(ivmhost.TransferError, match="proxy"):
        context.eval_closure_sync("return [1, new Proxy({}, {})]", [])
    with pytest.raises(ivmhost.TransferError, match="cycle"):
        context.eval_closure_sync("const a = [1]; a.push({a}); return a", [])


def test_getters_inside_arrays_never_run(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.ran = 0")
    with pytest.raises(ivmhost.TransferError, match="getter"):
        context.eval_closure_sync("return [1, {get x() { globalThis.ran++; return 1 }}]", [])
    assert context.eval_sync("ran") == 0


def test_objects_from_another_context_inside_arrays_are_plain(isolate: ivmhost.Isolate) -> None:
    first = isolate.create_context_sync()
    second = isolate.create_context_sync()
    other = first.eval_sync("({a: 1, b: [2, {c: 3}]})", reference=True)
    pick = second.eval_sync("(o) => [o, o.b, 4]", reference=True)
    assert pick.apply_sync(None, [other.deref_into()]) == [{"a": 1, "b": [2, {"c": 3}]}, [2, {"c": 3}], 4]


def test_bulk_values_cross_into_callbacks(context: ivmhost.Context) -> None:
    seen: list[object] = []
    rows = context.eval_closure_sync(
        "const rows = Array.from({length: 100}, (_, i) => ({i, s: 'r' + i})); return $0(rows)",
        [lambda xs: seen.append(xs) or len(xs)],
    )
    assert rows == 100
    assert seen == [[{"i": i, "s": f"r{i}"} for i in range(100)]]


def test_a_large_input_over_the_memory_limit_fails_cleanly(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate(memory_limit=16)
    context = isolate.create_context_sync()
    keep = context.eval_sync("globalThis.keep = []; (x) => { keep.push(x); return keep.length }", reference=True)
    chunk = [{"k": "x" * 64, "i": i} for i in range(50_000)]
    with pytest.raises((ivmhost.MemoryLimitError, ivmhost.TransferError)):
        for _ in range(20):
            keep.apply_sync(None, [chunk])
    assert isolate.is_disposed or keep.apply_sync(None, [[1, 2, 3, 4]]) >= 1


# --- Out through V8's serializer (plain_copy.cc) -------------------------------------------------
# Arrays of 128 elements or more come out through V8's ValueSerializer, then a check in a private
# context confirms every object is plain. Anything in doubt goes the exact way (the tests above).

RECORDS = "Array.from({length: 2000}, (_, i) => ({id: i, name: 'r' + i, tags: ['a', 'b'], score: i / 2}))"


def _records(n: int = 2000) -> list[dict]:
    return [{"id": i, "name": f"r{i}", "tags": ["a", "b"], "score": i / 2} for i in range(n)]


def test_records_come_out_whole(context: ivmhost.Context) -> None:
    assert context.eval_sync(RECORDS) == _records()
    # map() makes an array whose elements kind is holey although no element is missing.
    mapped = context.eval_sync(f"{RECORDS}.map(r => ({{...r, score: r.score * 2}}))")
    assert mapped == [{**r, "score": r["score"] * 2} for r in _records()]
    assert all(type(r["score"]) is int for r in mapped)


def test_dates_bigints_and_index_keys_inside_records(context: ivmhost.Context) -> None:
    out = context.eval_sync(
        "Array.from({length: 200}, (_, i) => ({when: new Date(i * 1000), big: 2n ** 64n + BigInt(i), "
        "2: 'two', 10: 'ten', neg: -(2 ** 31), u32: 2 ** 32 - 1, f: 0.1, z: -0, no: null, un: undefined}))"
    )
    assert len(out) == 200
    assert out[3]["when"] == datetime.datetime(1970, 1, 1, 0, 0, 3, tzinfo=datetime.timezone.utc)
    assert out[3]["big"] == 2**64 + 3
    assert list(out[3]) == ["2", "10", "when", "big", "neg", "u32", "f", "z", "no", "un"]
    assert (out[3]["2"], out[3]["neg"], out[3]["u32"], out[3]["f"]) == ("two", -(2**31), 2**32 - 1, 0.1)
    assert math.copysign(1.0, out[3]["z"]) == -1.0
    assert out[3]["no"] is None and out[3]["un"] is ivmhost.undefined


def test_shared_records_are_copied_each_time_and_cycles_refused(context: ivmhost.Context) -> None:
    out = context.eval_sync("const shared = {x: 1}; Array.from({length: 500}, () => shared)")
    assert out == [{"x": 1}] * 500
    assert out[0] is not out[1]
    with pytest.raises(ivmhost.TransferError, match="cycle"):
        context.eval_closure_sync(f"const rs = {RECORDS}; rs[1500].back = rs; return rs", [])


def test_class_instances_deep_inside_big_values_are_refused(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        context.eval_closure_sync(f"class P {{ constructor() {{ this.a = 1 }} }}; const rs = {RECORDS}; rs[1999].tags.push(new P()); return rs", [])
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        context.eval_closure_sync(f"const rs = {RECORDS}; rs[7] = Object.create(Date.prototype); return rs", [])
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        context.eval_closure_sync(f"const rs = {RECORDS}; rs.push(new Map([[1, 2]])); return rs", [])


def test_tampered_builtins_do_not_change_what_is_plain(context: ivmhost.Context) -> None:
    # The check runs in a context of its own: what guest code does to its builtins changes nothing.
    context.eval_sync(
        """Object.getPrototypeOf = () => Object.prototype; Reflect.getPrototypeOf = Object.getPrototypeOf;
           Array.isArray = () => true; Date.prototype.getTime = () => 0;
           Function.prototype.call = function () { throw new Error('tampered') };"""
    )
    assert context.eval_sync(RECORDS) == _records()
    dates = context.eval_sync("Array.from({length: 200}, () => new Date(5000))")
    assert dates == [datetime.datetime(1970, 1, 1, 0, 0, 5, tzinfo=datetime.timezone.utc)] * 200
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        context.eval_closure_sync(f"class P {{}}; const rs = {RECORDS}; rs[3].p = new P(); return rs", [])


def test_getters_and_proxies_deep_inside_big_values_never_run(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.ran = 0")
    with pytest.raises(ivmhost.TransferError, match="getter"):
        context.eval_closure_sync(
            f"const rs = {RECORDS}; Object.defineProperty(rs[1999], 'g', {{get() {{ ran++; return 1 }}, enumerable: true}}); return rs",
            [],
        )
    traps = "{get() { ran++ }, ownKeys() { ran++; return [] }, getPrototypeOf() { ran++; return null }}"
    with pytest.raises(ivmhost.TransferError, match="Object is or has proxy"):
        context.eval_closure_sync(f"const rs = {RECORDS}; rs[1000].p = new Proxy({{}}, {traps}); return rs", [])
    with pytest.raises(ivmhost.TransferError, match="Object is or has proxy"):
        context.eval_closure_sync(f"const rs = {RECORDS}; rs[10] = new Proxy({{a: 1}}, {{}}); return rs", [])
    assert context.eval_sync("ran") == 0


def test_inherited_getters_never_run_while_records_come_out(context: ivmhost.Context) -> None:
    # An enumerable getter on Object.prototype would be seen by for-in, an index getter on
    # Array.prototype by reading a hole: neither may run, and neither changes the copy.
    context.eval_sync(
        """globalThis.ran = 0;
           Object.defineProperty(Object.prototype, 'inherited', {get() { ran++; return 1 }, enumerable: true});
           Object.defineProperty(Array.prototype, 3, {get() { ran++; return 'from the prototype' }});"""
    )
    assert context.eval_sync(RECORDS) == _records()
    holey = context.eval_sync("const a = Array.from({length: 300}, (_, i) => i); delete a[5]; a")
    assert holey[:7] == [0, 1, 2, 3, 4, ivmhost.undefined, 6] and len(holey) == 300
    # A hole over the prototype's getter reads through to it: refused, as for a getter of its own.
    with pytest.raises(ivmhost.TransferError, match="getter"):
        context.eval_closure_sync("const a = Array.from({length: 300}, (_, i) => i); delete a[3]; return a", [])
    assert context.eval_sync("ran") == 0


def test_strings_over_the_memory_limit_inside_big_values_fail_cleanly(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate(memory_limit=8)
    context = isolate.create_context_sync()
    # One string of 128 KiB, 200 times: its copies do not fit the serializer's buffer (twice the limit),
    # so the exact path copies it.
    out = context.eval_closure_sync("const s = 'y'.repeat(2 ** 17); s.charCodeAt(0); return Array(200).fill(s)", [])
    assert out == ["y" * 2**17] * 200
    # 'x'.repeat() makes a small rope. V8's serializer reads it flat, which may take more memory than
    # the isolate has (isolated-vm's copies do the same): then the isolate is disposed. If the
    # flat string fits, it is refused as too large to copy. Nothing else is harmed either way.
    with pytest.raises((ivmhost.TransferError, ivmhost.MemoryLimitError)) as raised:
        context.eval_closure_sync("const a = Array(200).fill(1); a[7] = {s: 'x'.repeat(9 * 2 ** 20)}; return a", [])
    if isinstance(raised.value, ivmhost.MemoryLimitError):
        assert isolate.is_disposed
    else:
        assert "The string is too large to be copied" in str(raised.value)
        assert context.eval_sync("[1, 2, 3, 4]") == [1, 2, 3, 4]


def test_the_serializer_path_and_the_exact_path_agree(context: ivmhost.Context) -> None:
    # The same records out of one long array (the serializer's way) and out of slices shorter than
    # 128 (the exact way): two-byte and astral text, lone surrogates, index keys, nesting.
    records = (
        "Array.from({length: 300}, (_, i) => ({['k€' + (i % 3)]: 'v😀' + i, ['\\ud800' + (i % 2)]: '\\udc00x',"
        " plain: 'é' + i, n: -i, [i % 5]: [i, 'a€', {deep: '日本' + i, f: i / 7}]}))"
    )
    context.eval_sync(f"globalThis.big = {records}")
    exact: list[object] = []
    for start in range(0, 300, 100):
        exact += context.eval_sync(f"big.slice({start}, {start + 100})")
    fast = context.eval_sync("big")
    assert fast == exact
    assert [list(r) for r in fast] == [list(r) for r in exact]
    assert list(fast[7]) == ["2", "k€1", "\ud8001", "plain", "n"]
    assert fast[7]["2"] == [7, "a€", {"deep": "日本7", "f": 1}]
