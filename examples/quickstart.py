"""A first look at ivmhost's engine: run JavaScript in an isolate with hard limits.

Run it with `make run` (which sets everything up first) or `python3 examples/quickstart.py`.
"""

from __future__ import annotations

import time

import ivmhost


def main() -> None:
    print(f"ivmhost {ivmhost.__version__} on V8 {ivmhost.v8_version}")
    with ivmhost.Isolate(memory_limit=32) as isolate:
        context = isolate.create_context_sync()

        print("\n-- values cross by copy")
        for code in ["6 * 7", "'Grüße, ' + 'world'", "[1, 2, {three: 3}]", "2n ** 64n", "new Date(0)", "undefined"]:
            print(f"  {code:<24} -> {context.eval_sync(code)!r}")

        print("\n-- a closure with arguments ($0, $1) and a Python function called from JavaScript")
        total = context.eval_closure_sync(
            "return $0.map(word => $1(word)).join(' ')", [["plugins", "run", "safely"], str.upper]
        )
        print(f"  {total!r}")

        print("\n-- a script compiled once, run in two fresh contexts")
        script = isolate.compile_script_sync("globalThis.n = (globalThis.n || 0) + 1", filename="counter.js")
        for _ in range(2):
            print(f"  run -> {script.run_sync(isolate.create_context_sync())}")

        print("\n-- a JavaScript error keeps its name, message and stack")
        try:
            context.eval_sync("function parse(s) { return JSON.parse(s) }\nparse('{oops')", filename="plugin.js")
        except ivmhost.JSError as error:
            print(f"  {error.name}: {error.message}")
            print("  " + error.stack.splitlines()[1].strip())

        print("\n-- an endless loop is stopped by its timeout")
        started = time.perf_counter()
        try:
            context.eval_sync("function spin() { for (;;) {} }\nspin()", timeout=50, filename="hostile.js")
        except ivmhost.ScriptTimeoutError as error:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"  {error} after {elapsed:.1f} ms; stack: {error.stack.splitlines()[0].strip()}")
        print(f"  the isolate still works: 1 + 1 = {context.eval_sync('1 + 1')}")

        print("\n-- an ES module, linked through a resolver, reading a lent Python object")
        inventory = {"apples": 3, "pears": 5}
        context.global_.set_sync("inventory", ivmhost.Reference(inventory))
        shelf = isolate.compile_module_sync(
            "export const total = (names) => names.reduce((n, k) => n + inventory.getSync(k), 0)",
            filename="shelf.js",
        )
        report = isolate.compile_module_sync(
            "import { total } from './shelf.js';\n"
            "export const line = `fruit in stock: ${total(['apples', 'pears'])}`",
            filename="report.js",
        )
        report.instantiate_sync(context, lambda specifier, referrer: shelf)
        report.evaluate_sync()
        print(f"  {report.namespace.get_sync('line')}")

        print(f"\n-- CPU time spent in JavaScript so far: {isolate.cpu_time / 1e6:.1f} ms")

    print("\n-- a memory bomb hits the limit; the process carries on")
    bomb = ivmhost.Isolate(memory_limit=16)
    try:
        bomb.create_context_sync().eval_sync("const a = []; for (;;) a.push({x: a.length})")
    except ivmhost.MemoryLimitError as error:
        print(f"  {type(error).__name__}: {error}; disposed: {bomb.is_disposed}")
    with ivmhost.Isolate() as fresh:
        print(f"  a fresh isolate answers: {fresh.create_context_sync().eval_sync('40 + 2')}")


if __name__ == "__main__":
    main()
