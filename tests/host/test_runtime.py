"""The standard plugin runtime (ivmhost/runtime.js), installed in a real isolate with a fake host.

The fake host records log lines, keeps scheduled timers in a table and runs them against a fake clock,
so every timer test is deterministic and needs no sleeping.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ivmhost

RUNTIME_JS = pathlib.Path(ivmhost.__file__).with_name("runtime.js")


class FakeHost:
    """The four host callbacks, with a fake monotonic clock.

    The callbacks' names start with ``secret_host_`` so tests can look for them from JavaScript (a
    Python callable keeps its ``__name__`` as the function's ``name``).
    """

    def __init__(self) -> None:
        self.logs: list[tuple[str, str]] = []
        self.pending: dict[int, float] = {}  # id -> due time
        self.scheduled: list[tuple[int, float]] = []  # every (id, delay) asked for
        self.cancelled: list[int] = []
        self.clock = 0.0
        self.fire: ivmhost.Reference | None = None

    def callbacks(self) -> dict[str, Callable[..., Any]]:
        def secret_host_log(level: str, text: str) -> None:
            self.logs.append((level, text))

        def secret_host_schedule(timer_id: int, delay: float) -> None:
            assert timer_id not in self.pending, "an id was scheduled twice"
            self.scheduled.append((timer_id, delay))
            self.pending[timer_id] = self.clock + delay

        def secret_host_cancel(timer_id: int) -> None:
            self.cancelled.append(timer_id)
            self.pending.pop(timer_id, None)

        def secret_host_now() -> float:
            return self.clock

        return {"log": secret_host_log, "schedule": secret_host_schedule,
                "cancel": secret_host_cancel, "now": secret_host_now}

    def run_timers(self, until_ms: float) -> None:
        """Fire every timer due up to ``until_ms``, earliest first (ties in id order)."""
        assert self.fire is not None
        while True:
            due = sorted((when, timer_id) for timer_id, when in self.pending.items() if when <= until_ms)
            if not due:
                break
            when, timer_id = due[0]
            del self.pending[timer_id]
            self.clock = max(self.clock, when)
            self.fire.apply_sync(None, [timer_id])
        self.clock = until_ms

    def texts(self, level: str | None = None) -> list[str]:
        return [text for lvl, text in self.logs if level is None or lvl == level]


class Runtime:
    """A context with the runtime installed, and its fake host."""

    def __init__(self, context: ivmhost.Context, prelude: str = "") -> None:
        self.context = context
        self.host = FakeHost()
        if prelude:
            context.eval_sync(prelude)
        source = RUNTIME_JS.read_text(encoding="utf-8")
        self.host.fire = context.eval_closure_sync(
            "return (" + source + ")($0)", [self.host.callbacks()],
            result=ivmhost.TransferOptions(reference=True),
        )

    def js(self, code: str) -> Any:
        return self.context.eval_sync(code, copy=True)

    def json(self, code: str) -> Any:
        """The value of a JavaScript expression, through JSON.stringify."""
        return json.loads(self.context.eval_sync(f"JSON.stringify({code})"))

    def logged(self, code: str) -> list[str]:
        """Run code and return the texts it logged."""
        start = len(self.host.logs)
        self.context.eval_sync(code)
        return [text for _, text in self.host.logs[start:]]

    def log_text(self, args: str) -> str:
        """What console.log(<args>) writes."""
        (text,) = self.logged(f"console.log({args})")
        return text


@pytest.fixture
def rt(context: ivmhost.Context) -> Iterator[Runtime]:
    runtime = Runtime(context)
    yield runtime
    assert runtime.host.fire is not None
    runtime.host.fire.release()


def js_error(rt: Runtime, code: str) -> dict[str, Any]:
    """Run code that must throw; the thrown value's name, message, stack and type checks."""
    result: dict[str, Any] = rt.json(f"""(() => {{
        try {{ {code}; }} catch (e) {{
            return {{ name: e.name, message: e.message, stack: e.stack, isError: e instanceof Error,
                      isTypeError: e instanceof TypeError, isRangeError: e instanceof RangeError }};
        }}
        return {{ name: 'no exception' }};
    }})()""")
    return result


# ------------------------------------------------------------------------------------------------
# The file and what it installs

GLOBALS = ["console", "setTimeout", "setInterval", "clearTimeout", "clearInterval", "queueMicrotask",
           "structuredClone", "TextEncoder", "TextDecoder", "atob", "btoa", "performance"]


def test_source_is_one_function_expression() -> None:
    source = RUNTIME_JS.read_text(encoding="utf-8")
    assert "(function installRuntime(host) {" in source
    assert source.rstrip().endswith("})")
    assert not re.search(r"\brequire\(|\bBuffer\b|\bprocess\.", source)  # nothing V8 lacks


def test_install_returns_fire_as_a_function_reference(rt: Runtime) -> None:
    assert rt.host.fire is not None
    assert rt.host.fire.typeof == "function"
    assert rt.host.logs == [] and rt.host.scheduled == []  # installing does nothing observable


def test_globals_are_installed_non_enumerable_writable_configurable(rt: Runtime) -> None:
    descriptors = rt.json(f"""{json.dumps(GLOBALS)}.map((name) => {{
        const d = Object.getOwnPropertyDescriptor(globalThis, name);
        return [name, typeof d.value, d.enumerable, d.writable, d.configurable];
    }})""")
    expected_types = {"console": "object", "performance": "object"}
    assert descriptors == [[name, expected_types.get(name, "function"), False, True, True] for name in GLOBALS]
    assert rt.json("Object.keys(globalThis)") == []


def test_installed_functions_have_proper_names(rt: Runtime) -> None:
    names = rt.json("""[setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask, structuredClone,
        TextEncoder, TextDecoder, atob, btoa, console.log, console.info, console.warn, console.error,
        console.debug, console.trace, console.assert, performance.now].map((f) => f.name)""")
    assert names == ["setTimeout", "setInterval", "clearTimeout", "clearInterval", "queueMicrotask",
                     "structuredClone", "TextEncoder", "TextDecoder", "atob", "btoa", "log", "info", "warn",
                     "error", "debug", "trace", "assert", "now"]
    # Like browsers' builtins, the functions are not constructors.
    assert js_error(rt, "new setTimeout(() => {})")["isTypeError"] is True
    assert rt.js("Object.prototype.toString.call(new TextEncoder())") == "[object TextEncoder]"


def test_console_replaces_v8s_own(context: ivmhost.Context) -> None:
    before = context.eval_sync("typeof console")
    runtime = Runtime(context)
    try:
        assert before == "object"  # V8's console, which writes nowhere without an inspector
        assert runtime.logged("console.log('hello')") == ["hello"]
    finally:
        assert runtime.host.fire is not None
        runtime.host.fire.release()


def test_existing_optional_globals_are_kept_and_console_timers_replaced(context: ivmhost.Context) -> None:
    runtime = Runtime(context, prelude="""
        globalThis.atob = function mineAtob() { return 'mine'; };
        globalThis.setTimeout = function mineSetTimeout() { return 'mine'; };
    """)
    try:
        assert runtime.js("atob('Zm9v')") == "mine"
        assert runtime.js("setTimeout.name") == "setTimeout"
        assert runtime.js("btoa('foo')") == "Zm9v"
    finally:
        assert runtime.host.fire is not None
        runtime.host.fire.release()


def test_host_is_not_reachable_from_the_global_graph(rt: Runtime) -> None:
    found = rt.json("""(() => {
        // Every object reachable from globalThis through own properties (values, getters,
        // setters) and prototypes.
        const seen = new Set();
        const queue = [globalThis];
        const suspicious = [];
        while (queue.length > 0) {
            const object = queue.pop();
            if ((typeof object !== 'object' && typeof object !== 'function') || object === null) continue;
            if (seen.has(object)) continue;
            seen.add(object);
            if (typeof object === 'function') {
                const source = Function.prototype.toString.call(object);
                if (/secret_host|\\bhost\\b/.test(source) || /secret_host/.test(String(object.name))) {
                    suspicious.push(String(object.name));
                }
            }
            queue.push(Object.getPrototypeOf(object));
            for (const key of Reflect.ownKeys(object)) {
                const d = Object.getOwnPropertyDescriptor(object, key);
                if (d === undefined) continue;
                queue.push(d.value, d.get, d.set);
            }
        }
        return { suspicious, visited: seen.size };
    })()""")
    assert found["suspicious"] == []
    assert found["visited"] > 500  # the walk really covered the builtins and the runtime
    assert "host" not in rt.json("Object.getOwnPropertyNames(globalThis)")
    sources = rt.json("""[...Object.values(console), ...Object.values(performance), setTimeout, setInterval,
        clearTimeout, clearInterval, queueMicrotask, structuredClone, TextEncoder, TextDecoder, atob, btoa]
        .filter((f) => typeof f === 'function').map((f) => Function.prototype.toString.call(f))""")
    assert len(sources) == 28
    assert [source for source in sources if "host" in source] == []
    assert rt.json("Object.getOwnPropertyNames(console).filter((k) => !['log', 'info', 'warn', 'error', "
                   "'debug', 'trace', 'assert', 'dir', 'count', 'countReset', 'time', 'timeLog', 'timeEnd', "
                   "'group', 'groupCollapsed', 'groupEnd'].includes(k))") == []


def test_host_is_not_reachable_through_call_stacks(rt: Runtime) -> None:
    # A plugin's code called by the runtime (a %s toString, a timer, a patched Function.prototype.call)
    # sees neither the host callbacks nor the runtime's internals on the stack.
    rt.context.eval_sync("""
        globalThis.observed = [];
        const look = (where) => {
            const saved = Error.prepareStackTrace;
            Error.prepareStackTrace = (error, sites) => sites;
            const sites = new Error().stack;
            Error.prepareStackTrace = saved;
            for (const site of sites) {
                const fn = site.getFunction();
                const self = site.getThis();
                observed.push([where, fn === undefined ? null : String(fn.name),
                               self === undefined ? null : typeof self]);
            }
        };
        function sloppyToString() { look('toString'); observed.push(['caller', String(sloppyToString.caller)]); return 'T'; }
        Function.prototype.call = function patchedCall() { observed.push(['call', String(this.name)]); };
        Function.prototype.apply = function patchedApply() { observed.push(['apply', String(this.name)]); };
        console.log('%s', { toString: sloppyToString });
        setTimeout(function timerCallback() { look('timer'); }, 5);
    """)
    rt.host.run_timers(10)
    observed = rt.json("observed")
    names = [entry[1] for entry in observed]
    assert not any("secret_host" in str(name) for name in names)
    assert ["caller", "null"] in observed
    assert not [entry for entry in observed if entry[0] in ("call", "apply")]
    # The runtime's frames (strict) show neither their function nor their receiver; the only
    # functions on the stack are the plugin's own.
    assert len([entry for entry in observed if entry == ["toString", None, None]]) >= 3
    assert ["timer", None, None] in observed
    functions = {entry[1] for entry in observed if entry[0] in ("toString", "timer") and entry[1] is not None}
    assert functions == {"look", "sloppyToString", "timerCallback"}
    assert rt.host.texts() == ["T"]


# ------------------------------------------------------------------------------------------------
# console

def test_console_methods_log_at_their_level(rt: Runtime) -> None:
    rt.context.eval_sync("""
        console.log('a', 1); console.info('b'); console.warn('c'); console.error('d'); console.debug('e');
        const { log } = console; log('detached');
        console.log();
    """)
    assert rt.host.logs == [("log", "a 1"), ("info", "b"), ("warn", "c"), ("error", "d"), ("debug", "e"),
                            ("log", "detached"), ("log", "")]


def test_format_specifiers(rt: Runtime) -> None:
    text = rt.log_text("'%s|%d|%i|%f|%j|%o|%O|%%|%c.', 'a', '42', '3.9', '2.5', {a: [1]}, [1, 'x'], {b: {c: 1}}, "
                       "'color: red'")
    assert text == "a|42|3|2.5|{\"a\":[1]}|[ 1, 'x' ]|{ b: { c: 1 } }|%|."
    assert rt.log_text("'%s and %s', 'one'") == "one and %s"  # no argument left: left as written
    assert rt.log_text("'100%'") == "100%"
    assert rt.log_text("'%%'") == "%%"  # a lone format string is not formatted (as util.format)
    assert rt.log_text("'%x %s', 'y'") == "%x y"  # not a specifier
    assert rt.log_text("'%d %i %d %s', 10n, 7n, Symbol('s'), -0") == "10n 7n NaN -0"
    assert rt.log_text("'%s', { toString() { return 'custom'; } }") == "custom"
    assert rt.log_text("'%s', { a: { b: 1 } }") == "{ a: [Object] }"
    assert rt.log_text("'%s', null, undefined, 3") == "null undefined 3"
    assert rt.log_text("'%j', (() => { const o = {}; o.o = o; return o; })()") == "[Circular]"
    assert rt.log_text("'%s!', 'x', 'extra', 2, {k: 'v'}") == "x! extra 2 { k: 'v' }"
    assert rt.log_text("1, '%s', 'x'") == "1 %s x"  # only a first string argument is a format


def test_inspect_primitives_and_builtins(rt: Runtime) -> None:
    text = rt.log_text("""'s', 1.5, -0, NaN, true, null, undefined, 10n, Symbol('sym'),
        new Date(0), new Date(NaN), /a+b/gi, new Number(3), new String('w'), new Boolean(false), Object(5n)""")
    assert text == ("s 1.5 -0 NaN true null undefined 10n Symbol(sym) 1970-01-01T00:00:00.000Z Invalid Date "
                    "/a+b/gi [Number: 3] [String: 'w'] [Boolean: false] [BigInt: 5n]")


def test_inspect_functions_and_classes(rt: Runtime) -> None:
    text = rt.log_text("function named() {}, () => {}, class Klass {}, async function af() {}, "
                       "function* gen() {}, async function* agen() {}, { method() {} }")
    assert text == ("[Function: named] [Function (anonymous)] [class Klass] [AsyncFunction: af] "
                    "[GeneratorFunction: gen] [AsyncGeneratorFunction: agen] { method: [Function: method] }")


def test_inspect_objects_arrays_maps_sets(rt: Runtime) -> None:
    assert rt.log_text("{ a: 1, 'b-c': 'x', [Symbol('k')]: [] }") == "{ a: 1, 'b-c': 'x', [Symbol(k)]: [] }"
    assert rt.log_text("{}, [], new Map(), new Set()") == "{} [] Map(0) {} Set(0) {}"
    assert rt.log_text("[1, , , 4, , ]") == "[ 1, <2 empty items>, 4, <1 empty item> ]"
    assert rt.log_text("Object.assign([1, 2], { extra: true })") == "[ 1, 2, extra: true ]"
    assert rt.log_text("new Map([['k', { v: 1 }], [2, 'two']])") == "Map(2) { 'k' => { v: 1 }, 2 => 'two' }"
    assert rt.log_text("new Set([1, 'a', [2]])") == "Set(3) { 1, 'a', [ 2 ] }"
    assert rt.log_text("Object.create(null)") == "[Object: null prototype] {}"
    assert rt.log_text("new (class Point { constructor() { this.x = 1; this.y = 2; } })()") == "Point { x: 1, y: 2 }"
    assert rt.log_text("{ get g() { throw new Error('getters are not called'); }, set s(v) {} }") == (
        "{ g: [Getter], s: [Setter] }")
    assert rt.log_text("new Uint8Array([1, 2, 255]), new BigInt64Array([-1n]), new Float64Array([0.5])") == (
        "Uint8Array(3) [ 1, 2, 255 ] BigInt64Array(1) [ -1n ] Float64Array(1) [ 0.5 ]")
    assert rt.log_text("new ArrayBuffer(8), new DataView(new ArrayBuffer(4), 1)") == (
        "ArrayBuffer { byteLength: 8 } DataView { byteLength: 3, byteOffset: 1 }")
    assert rt.log_text("new WeakMap(), Promise.resolve(1)") == "WeakMap { <items unknown> } Promise {}"
    long_text = rt.log_text("Array.from({ length: 150 }, (_, i) => i)")
    assert long_text.startswith("[ 0, 1, 2,") and long_text.endswith("98, 99, ... 50 more items ]")


def test_inspect_quotes_nested_strings(rt: Runtime) -> None:
    assert rt.log_text(r"""["plain", "it's", 'say "hi" it\'s', 'tab\tnew\nline\\', '\x01\u{1F600}\uD800']""") == (
        r"""[ 'plain', "it's", `say "hi" it's`, 'tab\tnew\nline\\', '\x01""" + "\U0001F600" + r"""\ud800' ]""")


def test_inspect_cycles_and_depth(rt: Runtime) -> None:
    text = rt.log_text("(() => { const o = { name: 'o', list: [] }; o.self = o; o.list.push(o, { o }); "
                       "return o; })()")
    assert text == "{ name: 'o', list: [ [Circular], { o: [Circular] } ], self: [Circular] }"
    # The same object twice, side by side, is not a cycle.
    assert rt.log_text("(() => { const shared = { s: 1 }; return [shared, shared]; })()") == (
        "[ { s: 1 }, { s: 1 } ]")
    assert rt.log_text("{ a: { b: { c: { d: {} } } }, l: [[[[1]]]] }") == (
        "{ a: { b: { c: [Object] } }, l: [ [ [Array] ] ] }")
    assert rt.log_text("(() => { const m = new Map(); m.set('me', m); return m; })()") == (
        "Map(1) { 'me' => [Circular] }")


def test_console_prints_errors_with_their_stack(rt: Runtime) -> None:
    (text,) = rt.logged("function thrower() { return new TypeError('bad thing'); }\nconsole.error(thrower());")
    assert text.startswith("TypeError: bad thing\n    at thrower (")
    (text,) = rt.logged("console.log('failed:', Object.assign(new RangeError('r'), { code: 'E_R' }))")
    assert text.startswith("failed: RangeError: r\n    at ") and text.endswith(" { code: 'E_R' }")
    (text,) = rt.logged("console.log({ nested: new Error('inner') })")
    assert text.startswith("{ nested: Error: inner\n    at ")
    (text,) = rt.logged("const e = new Error('no stack'); e.stack = undefined; console.log(e)")
    assert text == "[Error: no stack]"


def test_console_trace_and_assert(rt: Runtime) -> None:
    rt.context.eval_sync("function where() { console.trace('at %s', 'here'); }\nwhere();")
    ((level, text),) = rt.host.logs
    assert level == "debug"
    lines = text.split("\n")
    assert lines[0] == "Trace: at here"
    assert lines[1].startswith("    at where (")  # the stack starts at the caller of trace
    rt.host.logs.clear()
    rt.context.eval_sync("""
        console.assert(true, 'not logged');
        console.assert(1 === 2, 'math is %s', 'broken');
        console.assert(false);
        console.assert(0, { why: 'object' }, 2);
    """)
    assert rt.host.logs == [("error", "Assertion failed: math is broken"), ("error", "Assertion failed"),
                            ("error", "Assertion failed: { why: 'object' } 2")]


def test_console_count_time_group_dir(rt: Runtime) -> None:
    rt.context.eval_sync("console.count(); console.count(); console.count('x'); console.countReset(); "
                         "console.count(); console.countReset('nope'); console.time('t');")
    rt.host.clock = 12.25
    rt.context.eval_sync("console.timeLog('t', 'step', { n: 1 }); console.timeEnd('t'); console.timeEnd('t');")
    rt.context.eval_sync("console.group('outer'); console.log('a\\nb'); console.group(); console.warn('deep'); "
                         "console.groupEnd(); console.groupEnd(); console.log('back'); console.dir('str');")
    assert rt.host.logs == [
        ("log", "default: 1"), ("log", "default: 2"), ("log", "x: 1"), ("log", "default: 1"),
        ("warn", "Count for 'nope' does not exist"),
        ("log", "t: 12.250ms step { n: 1 }"), ("log", "t: 12.250ms"),
        ("warn", "No such label 't' for console.timeEnd()"),
        ("log", "outer"), ("log", "  a\n  b"), ("warn", "    deep"), ("log", "back"), ("log", "'str'"),
    ]


# ------------------------------------------------------------------------------------------------
# Timers

def test_timers_fire_in_due_order_with_their_arguments(rt: Runtime) -> None:
    ids = rt.json("""[
        setTimeout((x) => console.log('A', x), 30, 'a'),
        setTimeout((x, y) => console.log('B', x, y), 10, 'b', 2),
        setTimeout(() => console.log('C'), 20),
        setTimeout(() => console.log('D'), 10),
    ]""")
    assert ids == [1, 2, 3, 4]
    assert rt.host.scheduled == [(1, 30), (2, 10), (3, 20), (4, 10)]
    rt.host.run_timers(15)
    assert rt.host.texts() == ["B b 2", "D"]
    rt.host.run_timers(100)
    assert rt.host.texts() == ["B b 2", "D", "C", "A a"]
    assert rt.host.pending == {}
    assert rt.js("this === globalThis") is True
    rt.context.eval_sync("setTimeout(function () { console.log(this === globalThis); })")
    rt.host.run_timers(100)
    assert rt.host.texts()[-1] == "true"


def test_timer_scheduled_from_a_timer(rt: Runtime) -> None:
    rt.context.eval_sync("setTimeout(() => { console.log('first', performance.now()); "
                         "setTimeout(() => console.log('second', performance.now()), 5); }, 10)")
    rt.host.run_timers(100)
    assert rt.host.texts() == ["first 10", "second 15"]


def test_set_interval_repeats_until_cleared_from_inside(rt: Runtime) -> None:
    rt.context.eval_sync("""
        let runs = 0;
        const id = setInterval((tag) => {
            runs += 1;
            console.log(tag, runs, performance.now());
            if (runs === 3) clearInterval(id);
        }, 10, 'tick');
        globalThis.intervalId = id;
    """)
    rt.host.run_timers(1000)
    assert rt.host.texts() == ["tick 1 10", "tick 2 20", "tick 3 30"]
    interval_id = rt.js("intervalId")
    assert rt.host.scheduled == [(interval_id, 10)] * 3
    assert rt.host.cancelled == [interval_id]
    assert rt.host.pending == {}


def test_clear_interval_from_outside_and_clear_timeout(rt: Runtime) -> None:
    rt.context.eval_sync("""
        globalThis.every = setInterval(() => console.log('interval'), 10);
        globalThis.once = setTimeout(() => console.log('never'), 5);
        clearTimeout(once);
    """)
    once = rt.js("once")
    assert rt.host.cancelled == [once] and once not in rt.host.pending
    rt.host.run_timers(25)
    assert rt.host.texts() == ["interval", "interval"]
    rt.context.eval_sync("clearInterval(every)")
    rt.host.run_timers(100)
    assert rt.host.texts() == ["interval", "interval"]
    assert rt.host.pending == {}
    # Clearing an unknown, already cleared or non-id value does nothing and tells the host nothing.
    cancelled_before = list(rt.host.cancelled)
    rt.context.eval_sync("clearTimeout(once); clearTimeout(9999); clearTimeout(); clearInterval(null); "
                         "clearTimeout({}); clearTimeout(-1)")
    assert rt.host.cancelled == cancelled_before
    # clearTimeout and clearInterval share one table (as in browsers), and a string id works.
    rt.context.eval_sync("globalThis.t2 = setTimeout(() => console.log('no'), 1); clearInterval(String(t2));")
    rt.host.run_timers(200)
    assert rt.host.texts() == ["interval", "interval"]


def test_timer_exceptions_are_reported_not_raised(rt: Runtime) -> None:
    rt.context.eval_sync("""
        setTimeout(function explode() { throw new Error('kaput'); }, 1);
        setTimeout(() => { throw 42; }, 2);
        setTimeout(() => { throw Object.create(null); }, 3);
        setTimeout(() => console.log('still running'), 4);
        let n = 0;
        globalThis.bad = setInterval(() => { n += 1; if (n === 2) clearInterval(bad); throw new TypeError('n=' + n); }, 10);
    """)
    rt.host.run_timers(100)  # would raise if an exception left fire()
    errors = rt.host.texts("error")
    assert errors[0].startswith("Uncaught Error: kaput\n    at explode (")
    assert errors[1] == "Uncaught 42"
    assert errors[2] == "Uncaught [Object: null prototype] {}"
    assert [e.split("\n")[0] for e in errors[3:]] == ["Uncaught TypeError: n=1", "Uncaught TypeError: n=2"]
    assert rt.host.texts("log") == ["still running"]
    assert rt.host.pending == {}


def test_timer_arguments_are_validated(rt: Runtime) -> None:
    for code in ("setTimeout('console.log(1)', 1)", "setInterval(undefined)", "setTimeout({})"):
        error = js_error(rt, code)
        assert error["isTypeError"] is True, code
        assert error["message"].startswith('The "callback" argument must be of type function. Received')
    assert js_error(rt, "setTimeout('x')")["message"].endswith("Received type string ('x')")
    assert rt.host.scheduled == []
    rt.context.eval_sync("""
        const f = () => {};
        setTimeout(f); setTimeout(f, -5); setTimeout(f, NaN); setTimeout(f, '15'); setTimeout(f, 2.9);
        setTimeout(f, 2 ** 31); setTimeout(f, Infinity); setInterval(f, 0); setInterval(f, 7);
    """)
    assert [delay for _, delay in rt.host.scheduled] == [0, 0, 0, 15, 2, 0, 0, 1, 7]
    assert [timer_id for timer_id, _ in rt.host.scheduled] == list(range(1, 10))


def test_fire_of_a_stale_id_does_nothing(rt: Runtime) -> None:
    assert rt.host.fire is not None
    rt.host.fire.apply_sync(None, [12345])
    timer_id = rt.js("setTimeout(() => console.log('once'), 1)")
    rt.host.run_timers(5)
    rt.host.fire.apply_sync(None, [timer_id])  # already fired
    assert rt.host.texts() == ["once"]


# ------------------------------------------------------------------------------------------------
# queueMicrotask

def test_queue_microtask_runs_in_order_with_promise_jobs(rt: Runtime) -> None:
    rt.context.eval_sync("""
        Promise.resolve().then(() => console.log('p1'));
        queueMicrotask(() => { console.log('m1'); queueMicrotask(() => console.log('m3 (nested)')); });
        Promise.resolve().then(() => console.log('p2'));
        queueMicrotask(function () { 'use strict'; console.log('m2', this === undefined); });
        console.log('sync');
    """)
    assert rt.host.texts() == ["sync", "p1", "m1", "p2", "m2 true", "m3 (nested)"]


def test_queue_microtask_errors_are_reported(rt: Runtime) -> None:
    rt.context.eval_sync("""
        queueMicrotask(() => { throw new RangeError('micro'); });
        queueMicrotask(() => console.log('after'));
    """)
    assert rt.host.logs[0][0] == "error"
    assert rt.host.logs[0][1].startswith("Uncaught RangeError: micro\n    at ")
    assert rt.host.logs[1] == ("log", "after")
    error = js_error(rt, "queueMicrotask('nope')")
    assert error["isTypeError"] is True and "callback" in error["message"]


def test_queue_microtask_survives_a_patched_promise(rt: Runtime) -> None:
    rt.context.eval_sync("""
        Promise.prototype.then = function () { throw new Error('patched'); };
        Object.defineProperty(Promise, Symbol.species, { get() { throw new Error('species'); } });
        queueMicrotask(() => console.log('still queued'));
    """)
    assert rt.host.texts() == ["still queued"]


# ------------------------------------------------------------------------------------------------
# structuredClone

def test_clone_primitives(rt: Runtime) -> None:
    assert rt.json("""[1, 'two', true, null, structuredClone(undefined) === undefined,
        Object.is(structuredClone(-0), -0), Number.isNaN(structuredClone(NaN)), structuredClone(12n) === 12n,
        structuredClone('s'), structuredClone(Infinity) === Infinity]""") == [
        1, "two", True, None, True, True, True, True, "s", True]


def test_clone_dates_regexps_and_wrappers(rt: Runtime) -> None:
    result = rt.json("""(() => {
        const d = new Date(1234567890123);
        const r = /a(b)+/giu; r.lastIndex = 3; r.extra = 1;
        const [dc, rc] = structuredClone([d, r]);
        const wrappers = structuredClone([new Number(3.5), new String('str'), new Boolean(false), Object(7n)]);
        return {
            date: [dc instanceof Date, dc !== d, dc.getTime()],
            regexp: [rc instanceof RegExp, rc !== r, rc.source, rc.flags, rc.lastIndex, 'extra' in rc],
            wrappers: wrappers.map((w) => [typeof w, Object.prototype.toString.call(w), String(w.valueOf())]),
            invalid: Number.isNaN(structuredClone(new Date(NaN)).getTime()),
        };
    })()""")
    assert result == {
        "date": [True, True, 1234567890123],
        "regexp": [True, True, "a(b)+", "giu", 0, False],
        "wrappers": [["object", "[object Number]", "3.5"], ["object", "[object String]", "str"],
                     ["object", "[object Boolean]", "false"], ["object", "[object BigInt]", "7"]],
        "invalid": True,
    }


def test_clone_maps_sets_arrays_and_objects(rt: Runtime) -> None:
    result = rt.json("""(() => {
        const key = { k: 1 };
        const map = new Map([[key, 'object key'], ['s', new Set([1, key])]]);
        const mc = structuredClone(map);
        const [mk] = mc.keys();
        const arr = [1, , 3]; arr.extra = 'x'; arr.length = 5;
        const ac = structuredClone(arr);
        class Point { constructor() { this.x = 1; } get doubled() { return 2; } method() {} }
        const pc = structuredClone(new Point());
        const source = { plain: { deep: [1, { deeper: true }] }, get computed() { return 'got'; } };
        Object.defineProperty(source, 'hidden', { value: 1, enumerable: false });
        source[Symbol('sym')] = 1;
        const oc = structuredClone(source);
        return {
            map: [mc instanceof Map, mc.size, mk.k, mk !== key, mc.get(mk), mc.get('s').has(mk), mc.get('s').size],
            array: [Array.isArray(ac), ac.length, 1 in ac, ac[2], ac.extra, Object.keys(ac)],
            instance: [Object.getPrototypeOf(pc) === Object.prototype, pc.x, 'doubled' in pc, 'method' in pc],
            object: [Object.getPrototypeOf(oc) === Object.prototype, oc.plain.deep[1].deeper,
                     Object.getOwnPropertyDescriptor(oc, 'computed'), 'hidden' in oc,
                     Object.getOwnPropertySymbols(oc).length],
            nullProto: Object.getPrototypeOf(structuredClone(Object.assign(Object.create(null), { a: 1 })))
                === Object.prototype,
            protoKey: Object.getPrototypeOf(structuredClone(JSON.parse('{"__proto__": {"p": 1}}'))) === Object.prototype,
        };
    })()""")
    assert result == {
        "map": [True, 2, 1, True, "object key", True, 2],
        "array": [True, 5, False, 3, "x", ["0", "2", "extra"]],
        "instance": [True, 1, False, False],
        "object": [True, True, {"value": "got", "writable": True, "enumerable": True, "configurable": True},
                   False, 0],
        "nullProto": True,
        "protoKey": True,
    }


def test_clone_preserves_cycles_and_shared_references(rt: Runtime) -> None:
    result = rt.json("""(() => {
        const shared = { s: 1 };
        const c = { a: shared, b: shared, list: [shared] };
        c.self = c;
        c.list.push(c.list);
        const map = new Map(); map.set(map, map); c.map = map;
        const set = new Set(); set.add(set); c.set = set;
        const k = structuredClone(c);
        const [mapKey] = k.map.keys();
        const [setItem] = k.set;
        return [k !== c, k.self === k, k.a === k.b, k.list[0] === k.a, k.list[1] === k.list, k.a !== shared,
                mapKey === k.map, k.map.get(k.map) === k.map, setItem === k.set];
    })()""")
    assert result == [True] * 9


def test_clone_array_buffers_and_views(rt: Runtime) -> None:
    result = rt.json("""(() => {
        const buffer = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]).buffer;
        const bc = structuredClone(buffer);
        new Uint8Array(buffer)[0] = 99;
        const part = new Uint16Array(buffer, 2, 2);
        const view = new DataView(buffer, 4, 3);
        const [pc, vc, whole] = structuredClone([part, view, buffer]);
        const big = structuredClone(new BigInt64Array([-5n, 6n]));
        const floats = structuredClone(new Float32Array([1.5, -2.25]));
        return {
            buffer: [bc instanceof ArrayBuffer, bc !== buffer, Array.from(new Uint8Array(bc))],
            part: [pc instanceof Uint16Array, pc.byteOffset, pc.length, Array.from(new Uint8Array(pc.buffer, 2, 4)),
                   pc.buffer.byteLength],
            view: [vc instanceof DataView, vc.byteOffset, vc.byteLength, vc.getUint8(0)],
            // Views of one buffer keep sharing one (cloned) buffer.
            shared: [pc.buffer === vc.buffer, pc.buffer === whole, whole !== buffer],
            big: [big instanceof BigInt64Array, String(big[0]), String(big[1])],
            floats: Array.from(floats),
        };
    })()""")
    assert result == {
        "buffer": [True, True, [0, 1, 2, 3, 4, 5, 6, 7]],
        "part": [True, 2, 2, [2, 3, 4, 5], 8],
        "view": [True, 4, 3, 4],
        "shared": [True, True, True],
        "big": [True, "-5", "6"],
        "floats": [1.5, -2.25],
    }


def test_clone_errors(rt: Runtime) -> None:
    result = rt.json("""(() => {
        const original = new TypeError('typed');
        original.code = 'E';
        const custom = new Error('mine'); custom.name = 'CustomError';
        const [t, c, r, plain] = structuredClone([original, custom, new RangeError('range'), new Error()]);
        return {
            t: [t instanceof TypeError, t !== original, t.name, t.message, t.stack === original.stack, 'code' in t,
                Object.prototype.propertyIsEnumerable.call(t, 'message')],
            c: [Object.getPrototypeOf(c) === Error.prototype, c.name, c.message],
            r: [r instanceof RangeError, r.message],
            plain: [plain instanceof Error, Object.prototype.hasOwnProperty.call(plain, 'message')],
        };
    })()""")
    assert result == {
        "t": [True, True, "TypeError", "typed", True, False, False],
        "c": [True, "Error", "mine"],
        "r": [True, "range"],
        "plain": [True, False],
    }


@pytest.mark.parametrize(("expression", "message"), [
    ("function named() {}", "[Function: named] could not be cloned."),
    ("{ nested: [() => 1] }", "[Function (anonymous)] could not be cloned."),
    ("Symbol('s')", "Symbol(s) could not be cloned."),
    ("{ s: Symbol.iterator }", "Symbol(Symbol.iterator) could not be cloned."),
    ("new WeakMap()", "#<WeakMap> could not be cloned."),
    ("new WeakSet()", "#<WeakSet> could not be cloned."),
    ("Promise.resolve()", "#<Promise> could not be cloned."),
    ("(function* () {})()", "#<Generator> could not be cloned."),
    ("new Map().entries()", "#<Map Iterator> could not be cloned."),
    ("(function () { return arguments; })(1)", "#<Arguments> could not be cloned."),
    ("new WeakRef({})", "#<WeakRef> could not be cloned."),
    ("Object(Symbol('boxed'))", "#<Symbol> could not be cloned."),
    ("new Uint8Array(new SharedArrayBuffer(4))", "#<SharedArrayBuffer> could not be cloned."),
])
def test_clone_refuses_what_cannot_be_cloned(rt: Runtime, expression: str, message: str) -> None:
    error = js_error(rt, f"structuredClone({expression})")
    assert error["name"] == "DataCloneError"
    assert error["isError"] is True
    assert error["message"] == message
    assert error["stack"].startswith(f"DataCloneError: {message}\n    at ")


def test_clone_argument_errors(rt: Runtime) -> None:
    assert js_error(rt, "structuredClone()")["isTypeError"] is True
    error = js_error(rt, "structuredClone(new ArrayBuffer(1), { transfer: [new ArrayBuffer(1)] })")
    assert error["name"] == "DataCloneError"
    assert rt.js("structuredClone(5, { transfer: [] })") == 5


# ------------------------------------------------------------------------------------------------
# TextEncoder / TextDecoder

def test_text_encoder(rt: Runtime) -> None:
    result = rt.json(r"""(() => {
        const e = new TextEncoder();
        const enc = (s) => Array.from(e.encode(s));
        return {
            encoding: e.encoding,
            type: e.encode('x') instanceof Uint8Array,
            ascii: enc('Hi!'),
            empty: [enc(''), enc()],
            twoAndThree: enc('é€'),
            emoji: enc('😀'),
            loneHigh: enc('a\uD83Db'),
            loneLow: enc('\uDE00'),
            reversed: enc('\uDE00\uD83D'),
            nonString: enc(12),
        };
    })()""")
    assert result == {
        "encoding": "utf-8",
        "type": True,
        "ascii": list(b"Hi!"),
        "empty": [[], []],
        "twoAndThree": list("é€".encode()),
        "emoji": [0xF0, 0x9F, 0x98, 0x80],
        "loneHigh": [0x61, 0xEF, 0xBF, 0xBD, 0x62],
        "loneLow": [0xEF, 0xBF, 0xBD],
        "reversed": [0xEF, 0xBF, 0xBD] * 2,
        "nonString": list(b"12"),
    }


def test_text_encoder_encode_into(rt: Runtime) -> None:
    result = rt.json(r"""(() => {
        const e = new TextEncoder();
        const small = new Uint8Array(5);
        const first = e.encodeInto('ab😀c', small);   // the emoji (4 bytes) does not fit after 'ab'
        const exact = new Uint8Array(6);
        const second = e.encodeInto('ab😀', exact);
        const offset = new Uint8Array(new ArrayBuffer(8), 4, 2);
        const third = e.encodeInto('é', offset);
        return { first, small: Array.from(small), second, exact: Array.from(exact), third,
                 offsetBytes: Array.from(new Uint8Array(offset.buffer)),
                 lone: e.encodeInto('\uD800', new Uint8Array(3)) };
    })()""")
    assert result == {
        "first": {"read": 2, "written": 2}, "small": [0x61, 0x62, 0, 0, 0],
        "second": {"read": 4, "written": 6}, "exact": [0x61, 0x62, 0xF0, 0x9F, 0x98, 0x80],
        "third": {"read": 1, "written": 2}, "offsetBytes": [0, 0, 0, 0, 0xC3, 0xA9, 0, 0],
        "lone": {"read": 1, "written": 3},
    }
    assert js_error(rt, "new TextEncoder().encodeInto('a', new Uint16Array(2))")["isTypeError"] is True
    assert js_error(rt, "new TextEncoder().encodeInto('a', [])")["isTypeError"] is True


def test_text_decoder_round_trips(rt: Runtime) -> None:
    text = "ascii, é, €, 𝄞, 😀 and 中文"
    result = rt.json(f"""(() => {{
        const text = {json.dumps(text)};
        const bytes = new TextEncoder().encode(text);
        const d = new TextDecoder();
        const padded = new Uint8Array(bytes.length + 4); padded.set(bytes, 2);
        return {{
            fromView: d.decode(bytes),
            fromBuffer: d.decode(bytes.buffer),
            fromOffsetView: d.decode(padded.subarray(2, 2 + bytes.length)),
            fromDataView: d.decode(new DataView(padded.buffer, 2, bytes.length)),
            fromInt16: d.decode(new Int16Array(new Uint8Array([0x68, 0x69]).buffer)),
            empty: [d.decode(), d.decode(new Uint8Array(0))],
            props: [d.encoding, d.fatal, d.ignoreBOM],
        }};
    }})()""")
    assert result == {
        "fromView": text, "fromBuffer": text, "fromOffsetView": text, "fromDataView": text, "fromInt16": "hi",
        "empty": ["", ""], "props": ["utf-8", False, False],
    }
    big = rt.js("new TextDecoder().decode(new TextEncoder().encode('ab€'.repeat(30000))) === 'ab€'.repeat(30000)")
    assert big is True


@pytest.mark.parametrize(("data", "expected"), [
    (b"a\xffb", "a\ufffdb"),
    (b"\xc0\x80", "\ufffd\ufffd"),  # overlong
    (b"\xe0\x80", "\ufffd\ufffd"),
    (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # an encoded surrogate
    (b"\xf0\x9f\x98", "\ufffd"),  # truncated at the end
    (b"\xf0\x9f\x98A", "\ufffdA"),  # truncated in the middle
    (b"\xf4\x90\x80\x80", "\ufffd" * 4),  # above U+10FFFF
    (b"\x80", "\ufffd"),
])
def test_text_decoder_replaces_invalid_sequences(rt: Runtime, data: bytes, expected: str) -> None:
    assert rt.js(f"new TextDecoder().decode(new Uint8Array({list(data)}))") == expected
    assert data.decode("utf-8", errors="replace") == expected  # the same as Python's (WHATWG) decoder


def test_text_decoder_fatal(rt: Runtime) -> None:
    error = js_error(rt, "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0x61, 0xff]))")
    assert error["isTypeError"] is True
    assert error["message"] == "The encoded data was not valid for encoding utf-8"
    error = js_error(rt, "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xe2, 0x82]))")
    assert error["isTypeError"] is True
    assert rt.json("""(() => {
        const d = new TextDecoder('utf-8', { fatal: true });
        try { d.decode(new Uint8Array([0xff])); } catch { /* expected */ }
        return [d.fatal, d.decode(new Uint8Array([0xe2, 0x82, 0xac]))];
    })()""") == [True, "€"]


def test_text_decoder_bom(rt: Runtime) -> None:
    result = rt.json(r"""(() => {
        const bom = [0xef, 0xbb, 0xbf];
        const bytes = new Uint8Array([...bom, 0x61, ...bom, 0x62]);
        const d = new TextDecoder();
        const keep = new TextDecoder('utf-8', { ignoreBOM: true });
        const s = new TextDecoder();
        const streamed = s.decode(new Uint8Array([0xef, 0xbb]), { stream: true }) +
            s.decode(new Uint8Array([0xbf, 0x63]), { stream: true }) +
            s.decode(new Uint8Array([...bom, 0x64]));
        return {
            stripped: d.decode(bytes), again: d.decode(bytes), kept: keep.decode(bytes),
            keepFlag: keep.ignoreBOM, streamed, onlyBom: d.decode(new Uint8Array(bom)),
        };
    })()""")
    assert result == {
        "stripped": "a\ufeffb", "again": "a\ufeffb", "kept": "\ufeffa\ufeffb", "keepFlag": True,
        "streamed": "c\ufeffd", "onlyBom": "",
    }


def test_text_decoder_streaming(rt: Runtime) -> None:
    result = rt.json(r"""(() => {
        const bytes = new TextEncoder().encode('x😀é');   // 78 f0 9f 98 80 c3 a9
        const d = new TextDecoder();
        const pieces = [];
        for (let i = 0; i < bytes.length; i++) pieces.push(d.decode(bytes.subarray(i, i + 1), { stream: true }));
        pieces.push(d.decode());
        const cut = new TextDecoder();
        const unfinished = [cut.decode(new Uint8Array([0x61, 0xe2, 0x82]), { stream: true }), cut.decode()];
        const after = cut.decode(new Uint8Array([0x62]));
        return { pieces, unfinished, after };
    })()""")
    assert result == {
        "pieces": ["x", "", "", "", "😀", "", "é", ""],
        "unfinished": ["a", "\ufffd"],
        "after": "b",
    }


def test_text_decoder_labels_and_arguments(rt: Runtime) -> None:
    assert rt.json("['utf-8', 'UTF8', ' unicode-1-1-utf-8\\n', 'Utf-8'].map((l) => new TextDecoder(l).encoding)") == [
        "utf-8"] * 4
    for label in ("latin1", "utf-16le", "ascii", ""):
        error = js_error(rt, f"new TextDecoder({json.dumps(label)})")
        assert error["isRangeError"] is True, label
        assert error["message"] == f'The "{label}" encoding is not supported'
    assert js_error(rt, "new TextDecoder().decode('a string')")["isTypeError"] is True
    assert js_error(rt, "new TextDecoder().decode(null)")["isTypeError"] is True
    assert js_error(rt, "new TextDecoder('utf-8', 5)")["isTypeError"] is True
    assert js_error(rt, "TextDecoder.prototype.decode.call({}, new Uint8Array(1))")["isTypeError"] is True


# ------------------------------------------------------------------------------------------------
# atob / btoa

@pytest.mark.parametrize(("binary", "encoded"), [
    ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy"),
    ("\u00ff\u00fe\u0000", "//4A"), ("hello world", "aGVsbG8gd29ybGQ="),
])
def test_btoa_and_atob_values(rt: Runtime, binary: str, encoded: str) -> None:
    assert rt.js(f"btoa({json.dumps(binary)})") == encoded
    assert rt.js(f"atob({json.dumps(encoded)})") == binary


def test_atob_is_forgiving(rt: Runtime) -> None:
    assert rt.js("atob(' Zm9v\\nYmFy\\t\\f\\r')") == "foobar"
    assert rt.js("atob('Zg')") == "f"  # padding is optional
    assert rt.js("atob('Zm8')") == "fo"
    assert rt.js("atob('Zh==')") == "f"  # non-zero trailing bits are ignored
    assert rt.js("atob('Zm 9v Yg =\\n=')") == "foob"
    assert rt.js("atob(null)") == "\x9e\xe9e"  # "null" is valid base64
    everything = rt.js("(() => { let s = ''; for (let i = 0; i < 256; i++) s += String.fromCharCode(i); "
                       "return atob(btoa(s)) === s; })()")
    assert everything is True


@pytest.mark.parametrize("bad", ["Z", "Zg=", "Zg===", "=Zg=", "Zm9v!", "Zm=9v", "Zm9vY", "Zm9v\u00ff", "Zg==Zg=="])
def test_atob_rejects_bad_input(rt: Runtime, bad: str) -> None:
    error = js_error(rt, f"atob({json.dumps(bad)})")
    assert error["name"] == "InvalidCharacterError"
    assert error["isError"] is True
    assert error["message"] == "The string to be decoded is not correctly encoded."


def test_btoa_rejects_non_latin1_and_missing_arguments(rt: Runtime) -> None:
    error = js_error(rt, "btoa('✓ check')")
    assert error["name"] == "InvalidCharacterError"
    assert error["message"] == "The string to be encoded contains characters outside of the Latin1 range."
    assert error["stack"].startswith("InvalidCharacterError: The string")
    assert js_error(rt, "btoa()")["isTypeError"] is True
    assert js_error(rt, "atob()")["isTypeError"] is True
    assert rt.js("btoa(null)") == "bnVsbA=="


# ------------------------------------------------------------------------------------------------
# performance

def test_performance_now_follows_the_host_clock(rt: Runtime) -> None:
    assert rt.js("performance.now()") == 0
    rt.host.clock = 1234.5
    assert rt.js("performance.now()") == 1234.5
    result = rt.json("""[typeof performance.timeOrigin, Math.abs(performance.timeOrigin - Date.now()) < 60000,
        performance.toJSON().timeOrigin === performance.timeOrigin, String(performance)]""")
    assert result == ["number", True, True, "[object Performance]"]
