"""A catalogue of escape attempts by a plugin through the host framework, each with its clean outcome."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

import ivmhost


class Shelf:
    """A dict-like object a capability lends: JavaScript gets a Reference, never the object."""

    def __init__(self) -> None:
        self.items = {"title": "public"}
        self._secret = "host-only"

    def __getitem__(self, key: str) -> Any:
        return self.items[key]

    def keys(self) -> list[str]:
        return list(self.items)


STORES: dict[str, dict[str, Any]] = {}
CALLS = {"n": 0}
HOST: list[ivmhost.PluginHost] = []


@ivmhost.capability("kv")
class KV:
    """One namespace per grant, as the reference kv capability."""

    def __init__(self, grant: ivmhost.Grant) -> None:
        self.data = STORES.setdefault(grant.params.get("namespace", grant.plugin), {})

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    def shelf(self) -> Shelf:
        return Shelf()

    def ping(self) -> int:
        CALLS["n"] += 1
        return CALLS["n"]

    def reenter(self, export: str, depth: int) -> Any:
        """Calls back into the plugin: the re-entrancy attempt."""
        return HOST[0].plugins["probe"].call(export, depth)


@pytest.fixture
def probe(make_plugin, make_host):  # type: ignore[no-untyped-def]
    """A plugin holding every probe of the catalogue, plus an `effects` counter its traps bump."""
    exports = "".join(f"export function {name}() {{ {body} }}\n" for name, (body, _) in CATALOGUE.items())
    code = (
        'import { get, put, shelf, ping, reenter } from "ivmhost:kv";\n'
        "let effects = 0;\nexport function effects_count() { return effects; }\n"
        "export function again(depth) { return reenter('again', depth + 1); }\n" + exports
    )
    STORES.clear()
    CALLS["n"] = 0
    host = make_host(capabilities=[KV], grants={"probe": {"kv"}})
    HOST[:] = [host]
    plugin = host.load(make_plugin("probe", code, capabilities={"kv": {"namespace": "probe"}},
                                   limits={"memory_mb": 32, "call_timeout_ms": 2000}))
    yield plugin
    HOST.clear()


def refused(cause: type[BaseException], message: str) -> tuple[type[BaseException], str]:
    return (cause, message)


# name -> (the export's body, the expected outcome: a value, or (cause type, message) of a PluginError)
CATALOGUE: dict[str, tuple[str, Any]] = {
    "function_constructor_global": (
        "const g = (() => {}).constructor.constructor('return this')();"
        "return [g === globalThis, Object.getOwnPropertyNames(g).filter((n) => /process|require|python|ivmhost|host|bridge/i.test(n))];",
        [True, []]),
    "function_process": (
        "try { return Function('return process')(); } catch (e) { return e.name + ': ' + e.message; }",
        "ReferenceError: process is not defined"),
    "no_require_or_import_meta_host": (
        "return [typeof require, typeof module, typeof Deno, typeof Bun, typeof global, typeof __ivmhost];",
        ["undefined"] * 6),
    "eval_in_realm": ("return (0, eval)('typeof globalThis.process');", "undefined"),
    "getter_on_result": (
        "return Object.defineProperty({}, 'x', { enumerable: true, get() { effects++; return 1; } });",
        refused(ivmhost.TransferError, "Property is getter")),
    "getter_in_array": (
        "const a = [1]; Object.defineProperty(a, 0, { enumerable: true, get() { effects++; return 1; } }); return a;",
        refused(ivmhost.TransferError, "Property is getter")),
    "getter_on_prototype": (
        "class C { get x() { effects++; return 1; } }; return new C();",
        refused(ivmhost.TransferError, "A non-transferable value was passed")),
    "proxy": (
        "return new Proxy({}, { ownKeys() { effects++; return []; }, get() { effects++; }, getPrototypeOf() { effects++; return Object.prototype; } });",
        refused(ivmhost.TransferError, "Object is or has proxy")),
    "proxy_in_array": (
        "return [1, new Proxy([], { get() { effects++; } })];",
        refused(ivmhost.TransferError, "Object is or has proxy")),
    "to_json": ("return { toJSON() { effects++; return 'x'; } };", refused(ivmhost.TransferError, "A function cannot be copied")),
    # A symbol-keyed method is not data: it is dropped, never called.
    "to_primitive": ("return { a: 1, [Symbol.toPrimitive]() { effects++; return 2; } };", {"a": 1}),
    "value_of_in_array": ("return [{ valueOf() { effects++; return 1; } }];", refused(ivmhost.TransferError, "A function cannot be copied")),
    "map_instance": ("return new Map([[1, 2]]);", refused(ivmhost.TransferError, "A non-transferable value was passed")),
    "deeply_nested": (
        "let v = []; for (let i = 0; i < 100000; i++) v = [v]; return v;",
        refused(ivmhost.TransferError, "The value is nested too deeply to be copied")),
    "huge_sparse_array": (
        "const a = []; a.length = 2 ** 32 - 1; return a;", refused(ivmhost.TransferError, "The array is too large to be copied")),
    "deep_recursion": ("function down() { return down() + 1; } return down();",
                       refused(ivmhost.JSError, "RangeError: Maximum call stack size exceeded")),
    "memory_bomb": ("const keep = []; for (;;) keep.push(new Array(100000).fill(0.5).map(String));",
                    refused(ivmhost.MemoryLimitError, "Isolate was disposed during execution due to memory limit")),
    "proto_key_is_data": (
        "return JSON.parse('{\"__proto__\": {\"polluted\": 1}}');", {"__proto__": {"polluted": 1}}),
    "lent_shelf": (
        "const s = shelf(); return [typeof s.getSync, Object.isFrozen(Object.getPrototypeOf(s)), s.getSync('items').copySync()];",
        ["function", True, {"title": "public"}]),
    "lent_shelf_private": (
        "try { const v = shelf().getSync('_secret'); return v === undefined ? 'unreachable' : v; } catch (e) { return e.message; }",
        "unreachable"),
    "lent_shelf_prototype_walk": (
        "const p = Object.getPrototypeOf(shelf());"
        "try { p.getSync = () => 'hijacked'; } catch (e) {}"
        "try { return p.constructor.constructor('return typeof process')(); } catch (e) { return e.name; }",
        "undefined"),
}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_escape_attempt(probe: ivmhost.Plugin, name: str) -> None:
    _, expected = CATALOGUE[name]
    if isinstance(expected, tuple) and isinstance(expected[0], type):
        cause, message = expected
        with pytest.raises(ivmhost.PluginError) as caught:
            probe.call(name)
        assert isinstance(caught.value.cause, cause), repr(caught.value.cause)
        assert message in str(caught.value)
        if cause is ivmhost.MemoryLimitError:
            return  # the isolate is gone: no counter to read, and nothing ran in the host
    else:
        assert probe.call(name) == expected
    assert probe.call("effects_count") == 0, "marshalling ran plugin JavaScript"


def test_prototype_pollution_stays_in_its_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    polluter = host.load(make_plugin("polluter", """
        Object.prototype.polluted = 'yes'; Array.prototype.extra = 'yes';
        Object.defineProperty(Object.prototype, 'toJSON', { value() { return 'hijacked'; }, enumerable: false });
        export function on_message(m) { return { m, list: [1, 2], seen: ({}).polluted }; }
    """))
    host.load(make_plugin("bystander", """
        export function on_message(m) { return { m, polluted: typeof ({}).polluted, extra: typeof [].extra }; }
    """))
    results = host.hook.on_message(message="x", channel="c")
    assert {"m": "x", "polluted": "undefined", "extra": "undefined"} in results
    # The host receives own data properties only: nothing inherited from the polluted prototypes.
    assert {"m": "x", "list": [1, 2], "seen": "yes"} in results
    assert polluter.call("on_message", "y") == {"m": "y", "list": [1, 2], "seen": "yes"}
    assert not hasattr({}, "polluted")


def test_reading_another_plugins_data_is_impossible(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    STORES.clear()
    host = make_host(capabilities=[KV], grants={"alice": {"kv"}, "mallory": {"kv"}})
    code = """
        import { get, put } from "ivmhost:kv";
        export function write(k, v) { put(k, v); return get(k); }
        export function read(k) { return get(k) ?? null; }
        export function snoop() { return [typeof globalThis.alice, Object.keys(globalThis).length]; }
    """
    alice = host.load(make_plugin("alice", code, capabilities={"kv": {"namespace": "alice"}}))
    mallory = host.load(make_plugin("mallory", code, capabilities={"kv": {"namespace": "mallory"}}))
    assert alice.call("write", "secret", "alice's") == "alice's"
    assert mallory.call("read", "secret") is None
    assert mallory.call("write", "secret", "mallory's") == "mallory's"
    assert alice.call("read", "secret") == "alice's"
    assert mallory.call("snoop") == ["undefined", 0]
    assert STORES == {"alice": {"secret": "alice's"}, "mallory": {"secret": "mallory's"}}


def test_importing_an_ungranted_capability(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(capabilities=[KV], grants={})
    with pytest.raises(ivmhost.CapabilityError) as caught:
        host.load(make_plugin("greedy", 'import { get } from "ivmhost:kv";\nexport const x = 1;\n',
                              capabilities={"kv": {}}))
    assert str(caught.value).startswith("plugin 'greedy' may not use capability 'kv': not granted")
    dynamic = host.load(make_plugin("sneaky", """
        export async function try_it() { try { await import("ivmhost:kv"); return "imported"; } catch (e) { return String(e); } }
    """))
    assert "CapabilityError: plugin 'sneaky' may not use capability 'kv'" in dynamic.call("try_it")
    assert ivmhost.live_isolates() == 1


def test_reentrancy_through_a_capability_is_bounded(probe: ivmhost.Plugin) -> None:
    began = time.monotonic()
    with pytest.raises(ivmhost.PluginError) as caught:
        probe.call("again", 0)
    assert time.monotonic() - began < 10
    # Endless re-entry ends on a stack (JavaScript's RangeError or Python's RecursionError, each
    # level wrapped by the one above) or on the outer call's timeout, cleanly.
    message = str(caught.value)
    assert message.startswith("plugin 'probe' failed in 'again': ")
    assert any(end in message for end in ("RangeError: Maximum call stack size exceeded", "RecursionError: maximum recursion depth",
                                         "Script execution timed out."))
    assert probe.call("effects_count") == 0
    assert probe.state == "active"


def test_flooding_the_host_with_capability_calls(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    CALLS["n"] = 0
    host = make_host(capabilities=[KV], grants={"flood": {"kv"}})
    plugin = host.load(make_plugin("flood", """
        import { ping } from "ivmhost:kv";
        export function flood(n) { let last = 0; for (let i = 0; i < n; i++) last = ping(); return last; }
        export function forever() { for (;;) ping(); }
        export function on_message(m) { return m; }
    """, capabilities={"kv": {}}, limits={"call_timeout_ms": 300}))
    began = time.monotonic()
    with pytest.raises(ivmhost.PluginError, match="Script execution timed out.") as caught:
        plugin.call("forever")
    assert isinstance(caught.value.cause, ivmhost.ScriptTimeoutError)
    assert time.monotonic() - began < 5
    flooded = CALLS["n"]
    assert flooded > 100
    assert host.hook.on_message(message="still here", channel="c") == ["still here"]
    # 100k calls fit in the timeout or are stopped by it; either way the host answers afterwards.
    try:
        assert plugin.call("flood", 100_000) == flooded + 100_000
    except ivmhost.PluginError as exc:
        assert isinstance(exc.cause, ivmhost.ScriptTimeoutError)
    assert host.hook.on_message(message="again", channel="c") == ["again"]


HUGE_STRING = """
import ivmhost
def rss_mb():  # resident now (a peak figure would carry over from the forked test process)
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
with ivmhost.Isolate(memory_limit=8) as isolate:
    context = isolate.create_context_sync()
    before = rss_mb()
    try:
        value = context.eval_sync("'x'.repeat(2 ** 27)")  # a rope: a few nodes in an 8 MB heap
        grown = rss_mb() - before
        outcome = f"returned {len(value)} characters"
        del value
    except (ivmhost.TransferError, ivmhost.MemoryLimitError) as exc:
        grown = rss_mb() - before
        outcome = f"{type(exc).__name__}: {exc}"
print(outcome, grown, flush=True)
"""


def test_a_huge_rope_string_result_is_refused() -> None:
    # A rope can be far longer than the heap holding it: no string larger than the isolate's
    # memory limit is copied out.
    child = subprocess.run([sys.executable, "-c", HUGE_STRING], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    outcome, _, grown_mb = child.stdout.strip().rpartition(" ")
    # Refused as too large; in an 8 MB isolate the heap limit may also stop the repeat itself first.
    assert outcome in ("TransferError: The string is too large to be copied (larger than the isolate's memory limit)",
                       "MemoryLimitError: Isolate was disposed during execution due to memory limit"), outcome
    assert int(grown_mb) < 100  # a copy would be 128 MB of Latin-1 and more as a Python str
