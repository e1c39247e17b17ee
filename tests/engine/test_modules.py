"""ES modules: compile, link through a resolver, evaluate with top-level await, namespaces."""

from __future__ import annotations

import pytest

import ivmhost


def test_compile_link_evaluate_and_live_bindings(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    counter = isolate.compile_module_sync("export let n = 1; export function bump() { n++ }", filename="counter.js")
    main = isolate.compile_module_sync(
        "import { n, bump } from './counter.js'; export const first = n; bump(); export default await Promise.resolve(42)",
        filename="main.js",
    )
    assert main.dependency_specifiers == ("./counter.js",)
    assert counter.dependency_specifiers == ()
    seen: list[tuple[str, object]] = []

    def resolve(specifier: str, referrer: ivmhost.Module) -> ivmhost.Module:
        seen.append((specifier, referrer))
        return counter

    main.instantiate_sync(context, resolve)
    assert seen == [("./counter.js", main)]
    main.instantiate_sync(context, resolve)  # again after success: a no-op
    assert len(seen) == 1
    main.evaluate_sync()
    ns = main.namespace
    assert [ns.get_sync("first"), ns.get_sync("default")] == [1, 42]
    live = counter.namespace
    assert live.get_sync("n") == 2
    live.get_sync("bump").apply_sync()
    assert live.get_sync("n") == 3


def test_namespace_before_instantiation(isolate: ivmhost.Isolate) -> None:
    module = isolate.compile_module_sync("export const a = 1")
    with pytest.raises(ValueError, match=r"^Module has not been instantiated\.$"):
        _ = module.namespace


def test_import_meta(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    module = isolate.compile_module_sync(
        "export const url = import.meta.url", filename="m.js", meta=lambda meta: meta.set_sync("url", "file:///m.js")
    )
    module.instantiate_sync(context, lambda s, r: module)
    module.evaluate_sync()
    assert module.namespace.get_sync("url") == "file:///m.js"


def test_resolver_errors_name_the_specifier_and_a_failed_link_can_be_retried(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    main = isolate.compile_module_sync("import x from 'lib'; export default x + 1", filename="main.js")
    with pytest.raises(ivmhost.JSError, match="Resolved dependency was not a Module: 'lib'"):
        main.instantiate_sync(context, lambda s, r: "not a module")
    with pytest.raises(ivmhost.JSError, match="Resolving 'lib' failed: KeyError") as info:
        main.instantiate_sync(context, lambda s, r: {}[s])
    assert isinstance(info.value.__cause__, ivmhost.IvmhostError)
    lib = isolate.compile_module_sync("export default 41", filename="lib.js")
    main.instantiate_sync(context, lambda s, r: lib)
    main.evaluate_sync()
    assert main.namespace.get_sync("default") == 42


def test_modules_of_another_isolate_are_refused(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a, b = make_isolate(), make_isolate()
    foreign = b.compile_module_sync("export default 1")
    main = a.compile_module_sync("import x from 'x'")
    with pytest.raises(ivmhost.JSError, match="Resolved dependency was not a Module: 'x'"):
        main.instantiate_sync(a.create_context_sync(), lambda s, r: foreign)


def test_evaluation_errors_keep_the_filename(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    module = isolate.compile_module_sync("\nthrow new RangeError('bad module')", filename="plugin/index.js")
    module.instantiate_sync(context, lambda s, r: module)
    with pytest.raises(ivmhost.JSError) as info:
        module.evaluate_sync()
    assert info.value.name == "RangeError"
    assert "plugin/index.js:2:7" in info.value.stack


def test_syntax_errors_and_timeouts(isolate: ivmhost.Isolate) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        isolate.compile_module_sync("export const = 1", filename="broken.mjs")
    assert info.value.name == "SyntaxError" and "broken.mjs:1" in info.value.stack
    context = isolate.create_context_sync()
    spin = isolate.compile_module_sync("for (;;) {}")
    spin.instantiate_sync(context, lambda s, r: spin)
    with pytest.raises(ivmhost.ScriptTimeoutError):
        spin.evaluate_sync(timeout=30)


def test_cycles_between_modules(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    modules: dict[str, ivmhost.Module] = {}
    modules["a"] = isolate.compile_module_sync("import { b } from 'b'; export const a = 'A'; export const both = () => a + b")
    modules["b"] = isolate.compile_module_sync("import { a } from 'a'; export const b = 'B'")
    modules["a"].instantiate_sync(context, lambda s, r: modules[s])
    modules["a"].evaluate_sync()
    assert modules["a"].namespace.get_sync("both").apply_sync() == "AB"


def test_released_module(isolate: ivmhost.Isolate) -> None:
    module = isolate.compile_module_sync("export default 1")
    module.release()
    with pytest.raises(ivmhost.ReleasedError, match="^Module has been released$"):
        module.evaluate_sync()


@pytest.mark.anyio
async def test_async_forms_with_an_async_resolver(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    lib = await isolate.compile_module("export const value = await Promise.resolve('lib')", filename="lib.js")
    main = await isolate.compile_module("import { value } from 'lib'; export const out = value + '!'", filename="main.js")

    async def resolve(specifier: str, referrer: ivmhost.Module) -> ivmhost.Module:
        return lib

    await main.instantiate(context, resolve)
    await main.evaluate()
    assert await main.namespace.get("out") == "lib!"


def test_dynamic_import_without_a_hook_rejects_clearly(context: ivmhost.Context) -> None:
    message = context.eval_sync("import('lib').then(() => 'loaded', e => e.message)", promise=True)
    assert message == "import('lib') is not available: the host set no import_module hook"


def test_dynamic_import_through_the_isolate_hook(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    modules = {
        "lib": isolate.compile_module_sync("import { helper } from 'helper'; export const value = helper() * 2", filename="lib.js"),
        "helper": isolate.compile_module_sync("export const helper = () => 21", filename="helper.js"),
    }
    asked: list[tuple[str, str]] = []

    def hook(specifier: str, referrer: object) -> ivmhost.Module:
        asked.append((specifier, referrer if isinstance(referrer, str) else type(referrer).__name__))
        return modules[specifier]

    isolate.import_module = hook
    assert isolate.import_module is hook
    assert context.eval_sync("import('lib').then(ns => ns.value)", promise=True, filename="app.js") == 42
    assert asked == [("lib", "app.js"), ("helper", "Module")]
    # A module importing dynamically is the referrer itself.
    loader = isolate.compile_module_sync("export const load = () => import('helper').then(ns => ns.helper())")
    loader.instantiate_sync(context, lambda s, r: modules[s])
    loader.evaluate_sync()
    assert loader.namespace.get_sync("load").apply_sync_promise() == 21
    failed = context.eval_sync("import('missing').then(() => 'ok', e => e.message)", promise=True)
    assert failed == "IvmhostError: Importing 'missing' failed: KeyError: 'missing'"
    isolate.import_module = None
    assert "no import_module hook" in context.eval_sync("import('lib').catch(e => e.message)", promise=True)


def test_reentrant_instantiate_and_evaluate_are_refused_not_a_crash(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    dep = isolate.compile_module_sync("export default 1", filename="dep.js")
    main = isolate.compile_module_sync("import d from 'dep'; export const v = d", filename="main.js")

    def eager(specifier: str, referrer: ivmhost.Module) -> ivmhost.Module:
        dep.instantiate_sync(context, eager)  # a nested link: refused
        return dep

    with pytest.raises(ivmhost.JSError, match="being instantiated"):
        main.instantiate_sync(context, eager)
    selfish = isolate.compile_module_sync("export const p = import('self').then(() => 'ok', e => e.message)", filename="self.js")
    isolate.import_module = lambda s, r: selfish
    selfish.instantiate_sync(context, lambda s, r: selfish)
    selfish.evaluate_sync()
    pending = selfish.namespace.get_sync("p")
    message = context.eval_closure_sync("return $0.deref()", [pending], result=ivmhost.TransferOptions(promise=True))
    assert "still being evaluated" in message


def test_base_exception_in_a_resolver_reaches_the_caller(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    main = isolate.compile_module_sync("import x from 'x'", filename="main.js")

    def interrupt(specifier: str, referrer: ivmhost.Module) -> ivmhost.Module:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        main.instantiate_sync(context, interrupt)
    assert context.eval_sync("'alive'") == "alive"
