"""DESIGN.md's copy table, in both directions."""

from __future__ import annotations

import datetime

import pytest

import ivmhost

UTC = datetime.timezone.utc


def roundtrip(context: ivmhost.Context, value: object) -> object:
    return context.eval_closure_sync("return $0", [value])


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        0.5,
        -0.0,
        2**53,
        -(2**53),
        2**53 + 1,
        -(2**64) - 5,
        10**40,
        0xDEADBEEF,
        "",
        "plain",
        "ünïcödé",
        "emoji 🐍 and CJK 漢字",
        "lone \ud800 surrogate",
        "\udfff at start",
        [1, [2, [3, []]]],
        {"a": 1, "b": {"c": [None, True]}},
        b"\x00\x01\xffbinary",
        b"",
    ],
)
def test_values_roundtrip(context: ivmhost.Context, value: object) -> None:
    result = roundtrip(context, value)
    assert result == value
    assert type(result) is type(value)


def test_negative_zero_stays_a_float(context: ivmhost.Context) -> None:
    result = context.eval_sync("-0")
    assert isinstance(result, float) and str(result) == "-0.0"


def test_undefined_roundtrips(context: ivmhost.Context) -> None:
    assert roundtrip(context, ivmhost.undefined) is ivmhost.undefined
    assert context.eval_closure_sync("return typeof $0", [ivmhost.undefined]) == "undefined"
    assert context.eval_closure_sync("return $0 === null", [None]) is True


def test_big_ints_become_bigint_only_beyond_2_53(context: ivmhost.Context) -> None:
    assert context.eval_closure_sync("return typeof $0", [2**53]) == "number"
    assert context.eval_closure_sync("return typeof $0", [2**53 + 1]) == "bigint"
    assert context.eval_closure_sync("return $0 * 2n", [2**70]) == 2**71
    assert context.eval_sync("-(2n ** 100n)") == -(2**100)


def test_uint32_values(context: ivmhost.Context) -> None:
    assert context.eval_sync("0xdeadbeef") == 0xDEADBEEF
    assert context.eval_sync("0xffffffff >>> 0") == 2**32 - 1
    assert context.eval_closure_sync("return $0 >>> 0", [0xDEADBEEF]) == 0xDEADBEEF


def test_tuples_become_arrays(context: ivmhost.Context) -> None:
    assert context.eval_closure_sync("return Array.isArray($0) && $0.length", [(1, 2, 3)]) == 3


def test_dict_keeps_insertion_order(context: ivmhost.Context) -> None:
    data = {"z": 1, "a": 2, "m": 3}
    assert list(roundtrip(context, data)) == ["z", "a", "m"]  # type: ignore[call-overload]
    assert context.eval_sync("({z: 1, a: 2, m: 3})") == data


def test_bytes_arrive_as_uint8array(context: ivmhost.Context) -> None:
    assert context.eval_closure_sync("return $0 instanceof Uint8Array && $0[2]", [b"abc"]) == ord("c")
    assert context.eval_closure_sync("return $0.length", [bytearray(b"12345")]) == 5
    assert context.eval_closure_sync("return $0[0]", [memoryview(b"\x07")]) == 7


def test_array_buffer_and_uint8array_become_bytes(context: ivmhost.Context) -> None:
    assert context.eval_sync("new Uint8Array([1, 2, 3])") == b"\x01\x02\x03"
    assert context.eval_sync("new Uint8Array([1, 2, 3, 4]).subarray(1, 3)") == b"\x02\x03"
    assert context.eval_sync("new Uint8Array([9, 8]).buffer") == b"\x09\x08"


@pytest.mark.parametrize(
    ("ctor", "fmt", "values"),
    [
        ("Int8Array", "b", [-1, 2]),
        ("Int16Array", "h", [-300, 300]),
        ("Uint16Array", "H", [65535, 1]),
        ("Int32Array", "i", [-(2**31), 5]),
        ("Uint32Array", "I", [2**32 - 1, 0]),
        ("Float32Array", "f", [0.5, -2.0]),
        ("Float64Array", "d", [0.1, 1e300]),
        ("BigInt64Array", "q", [-(2**63), 7]),
        ("BigUint64Array", "Q", [2**64 - 1, 0]),
    ],
)
def test_typed_arrays_become_memoryviews(context: ivmhost.Context, ctor: str, fmt: str, values: list) -> None:
    literal = ", ".join(f"{v}n" if fmt in "qQ" else repr(v) for v in values)
    view = context.eval_sync(f"new {ctor}([{literal}])")
    assert isinstance(view, memoryview)
    assert view.format == fmt
    assert view.tolist() == values


def test_dates_cross_as_aware_utc_datetimes(context: ivmhost.Context) -> None:
    when = datetime.datetime(2024, 2, 29, 12, 30, 15, 123000, tzinfo=UTC)
    assert context.eval_sync("new Date(Date.UTC(2024, 1, 29, 12, 30, 15, 123))") == when
    assert context.eval_closure_sync("return $0.toISOString()", [when]) == "2024-02-29T12:30:15.123Z"
    plus_two = datetime.datetime(2024, 1, 1, 2, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert context.eval_closure_sync("return $0.toISOString()", [plus_two]) == "2024-01-01T00:00:00.000Z"
    assert roundtrip(context, when) == when


def test_naive_datetimes_are_refused(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="naive datetime"):
        roundtrip(context, datetime.datetime(2024, 1, 1))


def test_errors_as_values_become_jserror_objects(context: ivmhost.Context) -> None:
    error = context.eval_sync("new TypeError('bad type')")
    assert isinstance(error, ivmhost.JSError)
    assert (error.name, error.message) == ("TypeError", "bad type")


@pytest.mark.parametrize(
    "code",
    [
        "(function named() {})",
        "(class Point { constructor() { this.x = 1 } }, new (class Point { constructor() { this.x = 1 } })())",
        "Symbol('s')",
        "new Map([[1, 2]])",
        "new Proxy({}, {})",
        "[1, () => 2]",
        "({get secret() { return 42 }})",
        "(() => { const o = {}; o.self = o; return o })()",
        "new DataView(new ArrayBuffer(2))",
    ],
)
def test_uncopyable_results_are_undefined_from_eval_and_refused_by_closures(
    context: ivmhost.Context, code: str
) -> None:
    assert context.eval_sync(code) is ivmhost.undefined
    with pytest.raises(ivmhost.TransferError):
        context.eval_closure_sync(f"return {code}")


def test_getters_never_run_during_a_copy(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.calls = 0")
    code = "({ get trap() { calls++; return 1 } })"
    assert context.eval_sync(code) is ivmhost.undefined
    with pytest.raises(ivmhost.TransferError):
        context.eval_closure_sync(f"return {code}")
    context.eval_sync("Object.defineProperty(Array.prototype, 0, { get() { calls++; return 1 } })")
    assert context.eval_sync("[, 2]") is ivmhost.undefined
    assert context.eval_sync("calls") == 0


def test_non_transferable_python_values_raise(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.TransferError, match="A non-transferable value was passed"):
        roundtrip(context, object())
    with pytest.raises(ivmhost.TransferError, match="dict keys must be str"):
        roundtrip(context, {1: "x"})
    with pytest.raises(ivmhost.TransferError):
        roundtrip(context, {1, 2})
    assert issubclass(ivmhost.TransferError, TypeError)


def test_cyclic_python_values_raise(context: ivmhost.Context) -> None:
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ivmhost.TransferError, match="nested too deeply"):
        roundtrip(context, cyclic)


def test_python_callables_become_javascript_functions(context: ivmhost.Context) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    assert context.eval_closure_sync("return $0(2, 3) + typeof $0", [add]) == "5function"
    assert context.eval_closure_sync("return $0.name", [add]) == "add"


def test_large_strings_and_arrays(context: ivmhost.Context) -> None:
    text = "x" * 1_000_000 + "é"
    assert roundtrip(context, text) == text
    numbers = list(range(100_000))
    assert roundtrip(context, numbers) == numbers


def test_null_prototype_and_other_context_objects_are_plain(isolate: ivmhost.Isolate) -> None:
    a, b = isolate.create_context_sync(), isolate.create_context_sync()
    assert a.eval_sync("const o = Object.create(null); o.k = 1; o") == {"k": 1}
    other = b.eval_sync("({from: 'b'})", reference=True)
    a.global_.set_sync("foreign", other.deref_into())
    assert a.eval_sync("foreign") == {"from": "b"}
