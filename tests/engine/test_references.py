"""References to JavaScript values and to Python objects lent to JavaScript."""

from __future__ import annotations

import pytest

import ivmhost


def test_reference_to_a_javascript_function(context: ivmhost.Context) -> None:
    add = context.eval_sync("(function add(a, b) { return a + b + this.k })", reference=True)
    assert isinstance(add, ivmhost.Reference)
    assert add.typeof == "function"
    assert add.apply_sync({"k": 100}, [1, 2]) == 103
    assert add.apply_sync({"k": 0.5}, [1, 2], timeout=100) == 3.5
    with pytest.raises(TypeError, match="Cannot dereference this from current isolate"):
        add.deref()


def test_apply_errors_and_timeouts(context: ivmhost.Context) -> None:
    boom = context.eval_sync("(() => { throw new RangeError('nope') })", reference=True)
    with pytest.raises(ivmhost.JSError, match="nope"):
        boom.apply_sync()
    spin = context.eval_sync("(function spin() { for (;;) {} })", reference=True)
    with pytest.raises(ivmhost.ScriptTimeoutError) as info:
        spin.apply_sync(timeout=30)
    assert "at spin" in info.value.stack
    not_fn = context.eval_sync("({})", reference=True)
    with pytest.raises(TypeError, match="not a function"):
        not_fn.apply_sync()


def test_apply_result_options(context: ivmhost.Context) -> None:
    make = context.eval_sync("(() => ({nested: {deep: [1, 2]}}))", reference=True)
    assert make.apply_sync() == {"nested": {"deep": [1, 2]}}
    ref = make.apply_sync(result=ivmhost.TransferOptions(reference=True))
    assert isinstance(ref, ivmhost.Reference) and ref.typeof == "object"
    assert ref.get_sync("nested").get_sync("deep").copy_sync() == [1, 2]


def test_copy_and_release(context: ivmhost.Context) -> None:
    obj = context.eval_sync("({a: 1, b: 'two'})", reference=True)
    assert obj.copy_sync() == {"a": 1, "b": "two"}
    obj.release()
    with pytest.raises(ivmhost.ReleasedError, match="^Reference has been released$"):
        obj.copy_sync()
    with pytest.raises(ivmhost.ReleasedError):
        obj.get_sync("a")


def test_two_references_to_one_value(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.shared = {n: 1}")
    first = context.global_.get_sync("shared")
    second = context.global_.get_sync("shared")
    first.release()
    assert second.get_sync("n") == 1


def test_own_properties_only_unless_unsafe_inherit(context: ivmhost.Context) -> None:
    context.eval_sync("class Base { get viaGetter() { return 1 } }; Base.prototype.inherited = 'yes'; globalThis.child = new Base(); child.own = 'mine'")
    child = context.global_.get_sync("child")
    assert child.get_sync("own") == "mine"
    assert child.get_sync("inherited") is ivmhost.undefined
    assert child.get_sync("toString") is ivmhost.undefined


def test_array_and_typed_array_elements_are_readable(context: ivmhost.Context) -> None:
    arr = context.eval_sync("[10, 20, 30]", reference=True)
    assert arr.get_sync(1) == 20
    assert arr.get_sync("length") == 3
    typed = context.eval_sync("new Float64Array([0.5, 1.5])", reference=True)
    assert typed.get_sync(1) == 1.5


def test_get_never_runs_getters_or_traps(context: ivmhost.Context) -> None:
    context.eval_sync("globalThis.hits = 0")
    obj = context.eval_sync("({ get g() { hits++; return 1 } })", reference=True)
    with pytest.raises(TypeError, match="Property is getter"):
        obj.get_sync("g")
    proxy = context.eval_sync("new Proxy({}, { get() { hits++; return 1 }, set() { hits++; return true } })", reference=True)
    with pytest.raises(TypeError, match="Object is or has proxy"):
        proxy.get_sync("x")
    with pytest.raises(TypeError, match="Object is or has proxy"):
        proxy.set_sync("x", 1)
    assert context.eval_sync("hits") == 0


def test_deref_into_is_single_use(context: ivmhost.Context) -> None:
    fn = context.eval_sync("(() => 'called')", reference=True)
    into = fn.deref_into()
    assert context.eval_closure_sync("return $0()", [into]) == "called"
    with pytest.raises(TypeError, match="should only be used once"):
        context.eval_closure_sync("return $0()", [into])


def test_a_reference_arrives_in_javascript_as_a_reference(context: ivmhost.Context) -> None:
    fn = context.eval_sync("((x) => x * 3)", reference=True)
    answer = context.eval_closure_sync(
        "return [$0.typeof, $0.applySync(undefined, [7]), typeof $0.deref(), $0 instanceof Object]", [fn]
    )
    assert answer == ["function", 21, "function", True]


def test_references_do_not_cross_isolates(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a = make_isolate().create_context_sync()
    b = make_isolate().create_context_sync()
    ref = a.eval_sync("({})", reference=True)
    with pytest.raises(ivmhost.TransferError, match="another isolate"):
        b.eval_closure_sync("return $0", [ref])


class Inventory:
    def __init__(self) -> None:
        self.items = {"apple": 3}
        self.owner = "shop"
        self._secret = "hidden"

    def count(self, name: str) -> int:
        return self.items.get(name, 0)


def test_lending_a_python_object_to_javascript(context: ivmhost.Context) -> None:
    inventory = Inventory()
    ref = ivmhost.Reference(inventory)
    assert ref.typeof == "object"
    assert ref.deref() is inventory
    result = context.eval_closure_sync(
        """
        const r = $0;
        return [r.typeof, r.getSync('owner'), r.getSync('count').applySync(undefined, ['apple']),
                r.getSync('_secret'), r.getSync('items').getSync('apple'),
                Object.isFrozen(Object.getPrototypeOf(r)), r.setSync('owner', 'market')]
        """,
        [ref],
    )
    assert result == ["object", "shop", 3, ivmhost.undefined, 3, True, True]
    assert inventory.owner == "market"


def test_the_reference_prototype_cannot_be_patched_or_borrowed(context: ivmhost.Context) -> None:
    ref = ivmhost.Reference(lambda: "from python")
    out = context.eval_closure_sync(
        """
        const proto = Object.getPrototypeOf($0);
        let patched = 'no';
        try { proto.applySync = () => 'patched'; } catch (e) { patched = 'threw' }
        let borrowed;
        try { proto.applySync.call({}, undefined, []) } catch (e) { borrowed = e.constructor.name }
        let constructed;
        try { new $0.constructor() } catch (e) { constructed = e.message }
        return [$0.applySync(undefined, []), borrowed, constructed.includes('cannot be constructed')]
        """,
        [ref],
    )
    assert out == ["from python", "TypeError", True]


def test_released_host_reference(context: ivmhost.Context) -> None:
    ref = ivmhost.Reference({"a": 1})
    context.global_.set_sync("held", ref)
    assert context.eval_sync("held.getSync('a')") == 1
    assert context.eval_sync("held.release(); try { held.getSync('a') } catch (e) { e.message }") == "Reference has been released"
    ref.release()
    with pytest.raises(ivmhost.ReleasedError):
        ref.deref()


def test_async_methods_inside_javascript_return_promises(context: ivmhost.Context) -> None:
    ref = ivmhost.Reference(lambda a, b: a * b)
    assert context.eval_closure_sync("return $0.apply(undefined, [6, 7])", [ref], result=ivmhost.TransferOptions(promise=True)) == 42


def test_copy_result_is_a_structured_clone(context: ivmhost.Context) -> None:
    assert context.eval_sync("new Map([[1, 'a'], ['k', new Set([1, 2])]])", copy=True) == {1: "a", "k": {1, 2}}
    cyclic = context.eval_sync("const o = {a: 1}; o.self = o; o", copy=True)
    assert cyclic["self"] is cyclic
    assert context.eval_sync("Promise.resolve(new Set([3]))", promise=True, copy=True) == {3}
    fn = context.eval_sync("(() => new Map([['x', 1]]))", reference=True)
    assert fn.apply_sync(result=ivmhost.TransferOptions(copy=True)) == {"x": 1}


def test_external_copy_result_and_copy_arguments(context: ivmhost.Context) -> None:
    before = ivmhost.ExternalCopy.total_external_size()
    ec = context.eval_sync("({when: new Date(0), tags: new Set(['a'])})", external_copy=True)
    assert isinstance(ec, ivmhost.ExternalCopy)
    assert ivmhost.ExternalCopy.total_external_size() > before
    copied = ec.copy()
    assert copied["tags"] == {"a"}
    ec.release()
    assert ivmhost.ExternalCopy.total_external_size() == before
    as_set = context.eval_closure_sync(
        "return $0 instanceof Set && $0.has(2)", [{1, 2}], arguments=ivmhost.TransferOptions(copy=True)
    )
    assert as_set is True
    out = context.eval_closure_sync(
        "return [$0 instanceof Object, Object.keys($0).length, $0.copy().k, $0.copyInto().k]",
        [{"k": "v"}], arguments=ivmhost.TransferOptions(external_copy=True),
    )
    assert out == [True, 0, "v", "v"]


def test_external_copy_inside_javascript(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a = make_isolate().create_context_sync()
    b = make_isolate().create_context_sync()
    ec = ivmhost.ExternalCopy({"n": 1, "s": {1, 2}})
    assert a.eval_closure_sync("return [$0.copy().n, $0.copy().s instanceof Set]", [ec]) == [1, True]
    # A copy made in one isolate travels through Python into another as the same copy.
    made = a.eval_sync("new Map([['x', [1, 2]]])", external_copy=True)
    assert b.eval_closure_sync("return $0.copy().get('x')[1]", [made]) == 2
    back = a.eval_closure_sync("return $0", [ec], result=ivmhost.TransferOptions(external_copy=True))
    assert isinstance(back, ivmhost.ExternalCopy)
    released = a.eval_closure_sync(
        "$0.release(); try { $0.copy() } catch (e) { return e.message }", [ec]
    )
    assert released == "Copy has been released"
    assert ec.copy() == {"n": 1, "s": {1, 2}}  # JavaScript's release leaves Python's copy alone
    frozen = a.eval_closure_sync(
        "const p = Object.getPrototypeOf($0); try { p.copy = () => 1 } catch (e) {} return [Object.isFrozen(p), Object.isFrozen($0)]",
        [ec],
    )
    assert frozen == [True, True]


def test_transfer_options_are_exclusive() -> None:
    with pytest.raises(ValueError, match="at most one"):
        ivmhost.TransferOptions(copy=True, reference=True)
    assert ivmhost.TransferOptions(copy=True, promise=True).promise


def test_release_on_one_side_while_used_on_the_other(context: ivmhost.Context) -> None:
    import threading

    fn = context.eval_sync("(x) => x + 1", reference=True)
    context.global_.set_sync("held", fn)  # JavaScript now holds its own Reference object
    outcomes: list[str] = []
    started = threading.Event()

    def hammer() -> None:
        try:
            for i in range(100_000):
                fn.apply_sync(None, [i])
                started.set()
        except ivmhost.ReleasedError as exc:
            outcomes.append(str(exc))
        finally:
            started.set()

    thread = threading.Thread(target=hammer)
    thread.start()
    started.wait()
    fn.release()
    thread.join()
    assert outcomes in ([], ["Reference has been released"])
    assert context.eval_sync("held.applySync(undefined, [41])") == 42  # the other side still works

    lent = ivmhost.Reference({"k": "v"})
    context.global_.set_sync("lent", lent)
    assert context.eval_sync("lent.release(); typeof lent") == "object"
    assert lent.get_sync("k") == "v"  # releasing JavaScript's handle leaves Python's alone


def test_async_reference_methods_under_both_backends_smoke() -> None:
    import anyio

    async def main() -> list[object]:
        async with ivmhost.Isolate() as isolate:
            context = await isolate.create_context()
            fn = await context.eval("(a, b) => a * b", reference=True)
            obj = await context.eval("({n: 5})", reference=True)
            return [await fn.apply(None, [6, 7]), await obj.get("n"), await obj.copy(), await obj.set("m", 1)]

    for backend in ("asyncio", "trio"):
        assert anyio.run(main, backend=backend) == [42, 5, {"n": 5}, True]


def test_apply_ignored_can_report_errors(context: ivmhost.Context) -> None:
    import queue

    errors: queue.Queue[BaseException] = queue.Queue()
    fail = context.eval_sync("(x) => { if (x === 'throw') throw new TypeError('bad ' + x); while (x === 'spin') {} return x }",
                             reference=True)
    fail.apply_ignored(None, ["fine"], on_error=errors.put)
    fail.apply_ignored(None, ["throw"], on_error=errors.put)
    fail.apply_ignored(None, ["spin"], timeout=20, on_error=errors.put)
    first, second = errors.get(timeout=10), errors.get(timeout=10)
    assert isinstance(first, ivmhost.JSError) and str(first) == "TypeError: bad throw"
    assert isinstance(second, ivmhost.ScriptTimeoutError)
    assert errors.empty()  # the call that succeeded reported nothing
    with pytest.raises(TypeError, match="on_error must be callable, not int"):
        fail.apply_ignored(None, [], on_error=3)
