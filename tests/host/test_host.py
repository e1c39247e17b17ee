"""PluginHost: loading, unloading, reloading, faults and their policies, metrics, limits, timers
(ivmhost/_host.py)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

import ivmhost

ECHO = "export function on_message(message) { return `${message}!`; }\n"
BOMBS = """
export function on_message(message) { return message; }
export function grow() { const keep = []; while (true) keep.push(new Array(100000).fill(1.5).map(String)); }
export function boom() { throw new RangeError('bad input'); }
export function spin() { while (true) {} }
export function nothing() { return { f() {} }; }
"""


def test_load_list_unload(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("echo", ECHO))
    assert repr(plugin) == "<ivmhost.Plugin echo 1.0.0 active>"
    assert host.plugins == {"echo": plugin}
    assert plugin.exports == {"on_message": "function"}
    assert plugin.manifest.limits.memory_mb == 32 and plugin.isolate is not None
    assert plugin.isolate.memory_limit == 32
    assert ivmhost.live_isolates() == 1
    host.unload("echo")
    assert host.plugins == {} and plugin.state == "unloaded"
    assert host.hook.on_message(message="x", channel="c") == []
    assert ivmhost.live_isolates() == 0
    with pytest.raises(KeyError, match="no plugin named 'echo' is loaded"):
        host.unload("echo")
    with pytest.raises(ivmhost.PluginError, match="the plugin was unloaded"):
        plugin.call("on_message", "x")


def test_load_dir_and_duplicates(make_plugin, make_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_plugin("a", ECHO)
    make_plugin("b", ECHO)
    (tmp_path / "plugins" / "not-a-plugin").mkdir()
    host = make_host()
    assert [p.name for p in host.load_dir(tmp_path / "plugins")] == ["a", "b"]
    assert host.hook.on_message(message="m", channel="c") == ["m!", "m!"]
    with pytest.raises(ValueError, match="a plugin named 'a' is already loaded; unload it first or use host.reload"):
        host.load(tmp_path / "plugins" / "a")
    with pytest.raises(FileNotFoundError, match="is not a directory of plugin folders"):
        host.load_dir(tmp_path / "missing")


def test_reload_takes_new_code_and_keeps_grants(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", 'import { get } from "ivmhost:kv";\nexport function on_message() { return 1; }\n',
                         capabilities={"kv": {}})
    host = make_host(grants={"p": {"kv"}})
    first = host.load(folder)
    old_isolate = first.isolate
    (folder / "index.js").write_text('import { get } from "ivmhost:kv";\nexport function on_message() { return 2; }\n')
    second = host.reload("p")
    assert second is not first and second.grants == {"kv"}
    assert host.hook.on_message(message="m", channel="c") == [2]
    assert old_isolate is not None and old_isolate.is_disposed
    assert ivmhost.live_isolates() == 1


def test_load_errors_name_the_problem(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    with pytest.raises(ivmhost.PluginError, match="failed in load: JSError: SyntaxError") as caught:
        host.load(make_plugin("syntax", "export function (\n"))
    assert "index.js" in caught.value.cause.stack
    with pytest.raises(ivmhost.PluginError, match="'lodash' is not available to plugins: import files of the plugin by a relative path"):
        host.load(make_plugin("bare", 'import _ from "lodash";\n'))
    with pytest.raises(ivmhost.PluginError, match="is outside the plugin's folder"):
        host.load(make_plugin("escape", 'import x from "../bare/index.js";\n'))
    with pytest.raises(ivmhost.PluginError, match="Script execution timed out"):
        host.load(make_plugin("slow-start", "while (true) {}\n", limits={"call_timeout_ms": 50}))
    with pytest.raises(ivmhost.ManifestError, match="above the application's ceiling of 64"):
        make_host(ceilings=ivmhost.Limits(memory_mb=64)).load(make_plugin("big", ECHO, limits={"memory_mb": 128}))
    assert host.plugins == {}
    assert ivmhost.live_isolates() == 0


def test_relative_imports_inside_the_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("lib-user", """
        import { twice } from "./lib/math.js";
        export function on_message(message) { return twice(message.length) + import.meta.url.endsWith('/index.js'); }
    """, files={"lib/math.js": 'import { one } from "../one.js";\nexport const twice = (n) => n * 2 + one;\n', "one.js": "export const one = 0;\n"})
    host = make_host()
    host.load(folder)
    assert host.hook.on_message(message="abc", channel="c") == [7]


def test_raise_policy(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("bombs", BOMBS, limits={"call_timeout_ms": 100}))
    with pytest.raises(ivmhost.PluginError) as caught:
        plugin.call("boom")
    error = caught.value
    assert error.plugin == "bombs" and isinstance(error.cause, ivmhost.JSError) and error.__cause__ is error.cause
    assert error.cause.name == "RangeError" and str(error) == "plugin 'bombs' failed in 'boom': JSError: RangeError: bad input"
    with pytest.raises(ivmhost.PluginError, match="ScriptTimeoutError: Script execution timed out."):
        plugin.call("spin")
    with pytest.raises(ivmhost.PluginError, match="TransferError"):
        plugin.call("nothing")
    with pytest.raises(AttributeError, match="plugin 'bombs' exports no function 'missing'"):
        plugin.call("missing")
    # Still usable after each fault.
    assert plugin.call("on_message", "fine") == "fine"
    metrics = plugin.metrics
    assert (metrics.calls, metrics.errors, metrics.timeouts, metrics.memory_limit_hits) == (4, 3, 1, 0)
    assert metrics.cpu_time_ns > 50_000_000  # the 100 ms spin
    assert metrics.heap_used_bytes > 0


def test_a_memory_bomb_hits_only_its_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    bombs = host.load(make_plugin("bombs", BOMBS, limits={"memory_mb": 16, "call_timeout_ms": 5000}))
    host.load(make_plugin("echo", ECHO))
    with pytest.raises(ivmhost.PluginError) as caught:
        bombs.call("grow")
    assert isinstance(caught.value.cause, ivmhost.MemoryLimitError)
    assert bombs.metrics.memory_limit_hits == 1
    # The other plugin carries on; the bomb stays dead without a Restart policy.
    with pytest.raises(ivmhost.PluginError, match="IsolateDisposedError|MemoryLimitError"):
        host.hook.on_message(message="m", channel="c")
    host.unload("bombs")
    assert host.hook.on_message(message="m", channel="c") == ["m!"]


def test_skip_policy_drops_failing_hooks(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(on_fault="skip")
    host.load(make_plugin("echo", ECHO))
    host.load(make_plugin("broken", "export function on_message() { throw new Error('down'); }"))
    assert host.hook.on_message(message="m", channel="c") == ["m!"]
    assert host.plugins["broken"].metrics.errors == 1
    with pytest.raises(ivmhost.PluginError, match="down"):
        host.plugins["broken"].call("on_message", "m")  # direct calls still raise


def test_quarantine_after_failures_in_a_row(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(on_fault=ivmhost.Quarantine(after=2))
    host.load(make_plugin("echo", ECHO))
    folder = make_plugin("flaky", "let n = 0; export function on_message() { n++; throw new Error('fail ' + n); }")
    flaky = host.load(folder)
    with pytest.raises(ivmhost.PluginError, match="fail 1") as first:
        host.hook.on_message(message="m", channel="c")
    assert type(first.value) is ivmhost.PluginError
    with pytest.raises(ivmhost.PluginQuarantinedError, match="fail 2"):
        host.hook.on_message(message="m", channel="c")
    assert flaky.state == "quarantined"
    assert host.hook.on_message(message="m", channel="c") == ["m!"]  # skipped from now on
    with pytest.raises(ivmhost.PluginQuarantinedError, match="quarantined; reload it"):
        flaky.call("on_message", "m", "c")
    (folder / "index.js").write_text(ECHO)
    host.reload("flaky")
    assert host.hook.on_message(message="m", channel="c") == ["m!", "m!"]


def test_restart_policy_brings_a_dead_plugin_back(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(on_fault=ivmhost.Restart(max_restarts=1))
    bombs = host.load(make_plugin("bombs", BOMBS, limits={"memory_mb": 16, "call_timeout_ms": 5000}))
    with pytest.raises(ivmhost.PluginError, match="MemoryLimitError"):
        bombs.call("grow")
    assert bombs.call("on_message", "back") == "back"
    assert bombs.metrics.restarts == 1 and bombs.metrics.memory_limit_hits == 1
    with pytest.raises(ivmhost.PluginError, match="MemoryLimitError"):
        bombs.call("grow")
    with pytest.raises(ivmhost.PluginError, match="MemoryLimitError: Isolate is disposed"):
        bombs.call("on_message", "no more restarts")
    assert bombs.metrics.memory_limit_hits == 2  # calls refused afterwards are not new hits
    assert ivmhost.live_isolates() == 0


def test_cpu_budget(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    plugin = host.load(make_plugin("burner", """
        export function burn(ms) { const end = Date.now() + ms; while (Date.now() < end) {} return ms; }
    """, limits={"cpu_ms_per_minute": 100}))
    assert plugin.call("burn", 150) == 150  # the first call finds the budget untouched
    with pytest.raises(ivmhost.PluginError, match=r"CPU budget exceeded: \d+ ms used in the last minute, the manifest allows 100 ms"):
        plugin.call("burn", 1)


def test_console_goes_to_logging(make_plugin, make_host, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.load(make_plugin("chatty", """
        export function on_message(message) {
          console.log("log", message, 1, {a: [1]});
          console.warn("careful");
          console.error(new Error("oops").message);
          console.debug("details");
        }
    """))
    with caplog.at_level(logging.DEBUG, logger="ivmhost.plugin.chatty"):
        host.hook.on_message(message="m", channel="c")
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if r.name == "ivmhost.plugin.chatty"]
    assert records[0][:2] == ("ivmhost.plugin.chatty", "INFO") and records[0][2].startswith("log m 1 ")
    assert records[1:] == [
        ("ivmhost.plugin.chatty", "WARNING", "careful"),
        ("ivmhost.plugin.chatty", "ERROR", "oops"),
        ("ivmhost.plugin.chatty", "DEBUG", "details"),
    ]


def test_timers_run_and_stop_with_their_plugin(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host(grants={"ticker": {"kv"}})
    plugin = host.load(make_plugin("ticker", """
        import { put } from "ivmhost:kv";
        let ticks = 0;
        export function start(ms) { const id = setInterval(() => { ticks++; put("ticks", ticks); }, ms); return id > 0; }
        export function after(ms) { return new Promise((resolve) => setTimeout(() => resolve(ticks), ms)); }
        export function cancelled() {
          let fired = false;
          const id = setTimeout(() => { fired = true; }, 5);
          clearTimeout(id);
          return new Promise((resolve) => setTimeout(() => resolve(fired), 30));
        }
    """, capabilities={"kv": {"namespace": "ticker"}}))
    from support import KV

    assert plugin.call("start", 10) is True
    assert plugin.call("after", 100) >= 3
    assert plugin.call("cancelled") is False
    host.unload("ticker")
    stopped_at = KV.stores["ticker"]["ticks"]
    time.sleep(0.1)
    assert KV.stores["ticker"]["ticks"] == stopped_at  # no timer outlives its plugin


def test_sync_hooks_from_many_threads(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    host.load(make_plugin("count", "let n = 0; export function on_message(m) { return ++n; }"))
    results: list[list[int]] = []

    def worker() -> None:
        for _ in range(50):
            results.append(host.hook.on_message(message="m", channel="c"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r[0] for r in results) == list(range(1, 201))
    assert host.plugins["count"].metrics.calls == 200


def test_close_is_idempotent_and_a_context_manager(make_plugin) -> None:  # type: ignore[no-untyped-def]
    from support import Hooks

    with ivmhost.PluginHost(hookspecs=Hooks) as host:
        host.load(make_plugin("echo", ECHO))
        assert ivmhost.live_isolates() == 1
    assert ivmhost.live_isolates() == 0
    host.close()
    with pytest.raises(ivmhost.IvmhostError, match="the host is closed"):
        host.load(make_plugin("again", ECHO))


def test_fault_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="on_fault must be 'raise', 'skip', ivmhost.Quarantine"):
        ivmhost.PluginHost(on_fault="ignore")
    with pytest.raises(ValueError, match="Quarantine\\(after=\\) must be at least 1"):
        ivmhost.PluginHost(on_fault=ivmhost.Quarantine(after=0))
    with pytest.raises(TypeError, match="grants must be a mapping"):
        ivmhost.PluginHost(grants=["kv"])  # type: ignore[arg-type]


def test_plugins_without_hooks_load_side_by_side(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    host = make_host()
    first = host.load(make_plugin("a", "export function run() { return 'a'; }", tasks=["run"]))
    second = host.load(make_plugin("b", "export function run() { return 'b'; }", tasks=["run"]))
    assert (first.call("run"), second.call("run")) == ("a", "b")
    assert host.check() == []
