"""Capabilities lent to plugins as ivmhost:<name> modules, grants and the audit
(ivmhost/_capabilities.py, through PluginHost)."""

from __future__ import annotations

from typing import Any

import pytest
from support import KV

import ivmhost


class Handle:
    """A stateful object a capability hands out: JavaScript gets a Reference to it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def read(self) -> str:
        return self.text


@ivmhost.capability("files")
class Files:
    def open(self, name: str) -> Handle:
        return Handle(f"contents of {name}")


@ivmhost.capability("clock")
def now(*, grant: ivmhost.Grant) -> str:
    return f"12:00 for {grant.plugin} ({grant.params['zone']})"


def test_a_granted_capability_is_an_es_module(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("notes", """
        import { get, put } from "ivmhost:kv";
        import * as kv from "ivmhost:kv";
        export function remember(key, value) { put(key, value); return [get(key), Object.keys(kv).sort()]; }
    """, capabilities={"kv": {"namespace": "shared-notes"}})
    host = make_host(grants={"notes": {"kv"}})
    plugin = host.load(folder)
    assert plugin.grants == frozenset({"kv"})
    assert plugin.call("remember", "a", {"n": 1}) == [{"n": 1}, ["fail", "get", "put", "slow_get"]]
    # The grant's params reached the capability: the namespace from the manifest.
    assert KV.stores == {"shared-notes": {"a": {"n": 1}}}


def test_async_methods_return_promises_and_errors_are_catchable(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", """
        import { put, slow_get, fail } from "ivmhost:kv";
        export async function main() {
          put("k", 41);
          const pending = slow_get("k");
          const isPromise = pending instanceof Promise;
          let caught = null;
          try { fail("no disk"); } catch (e) { caught = [e instanceof Error, e.message]; }
          return [isPromise, (await pending) + 1, caught];
        }
    """, capabilities={"kv": {}})
    plugin = make_host(grants={"p": {"kv"}}).load(folder)
    ok, value, caught = plugin.call("main")
    assert ok is True and value == 42
    assert caught[0] is True and "ValueError" in caught[1] and "no disk" in caught[1]
    audit = {(e.capability, e.method): (e.calls, e.errors) for e in plugin.audit()}
    assert audit == {("kv", "fail"): (1, 1), ("kv", "get"): (0, 0), ("kv", "put"): (1, 0), ("kv", "slow_get"): (1, 0)}
    assert plugin.metrics.capability_calls == 3


def test_handle_objects_arrive_as_references(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", """
        import { open } from "ivmhost:files";
        export function main() {
          const handle = open("a.txt");
          return [typeof handle.applySync, handle.getSync("read").applySync(undefined, [])];
        }
    """, capabilities={"files": {}})
    plugin = make_host(capabilities=[Files], grants={"p": {"files"}}).load(folder)
    assert plugin.call("main") == ["function", "contents of a.txt"]


def test_function_capabilities_get_their_grant(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", """
        import clock, { now } from "ivmhost:clock";
        export function main() { return [clock(), now === clock]; }
    """, capabilities={"clock": {"zone": "UTC"}})
    plugin = make_host(capabilities=[now], grants={"p": {"clock"}}).load(folder)
    assert plugin.call("main") == ["12:00 for p (UTC)", True]
    assert [(e.capability, e.method, e.calls) for e in plugin.audit()] == [("clock", "now", 1)]


@pytest.mark.parametrize(
    ("capabilities", "grants", "why"),
    [
        ({"kv": {}}, None, "not granted; the application must grant it"),
        ({"kv": {}}, {"other": {"kv"}}, "not granted"),
        ({}, {"p": {"kv"}}, "the manifest does not request it; add [capabilities] \"kv\" = {}"),
        ({"net": {}}, {"p": {"net"}}, "the application offers no such capability"),
    ],
)
def test_importing_what_was_not_granted_fails_at_load(make_plugin, make_host, capabilities: dict[str, Any],
                                                      grants: Any, why: str) -> None:  # type: ignore[no-untyped-def]
    name = next(iter(capabilities), "kv")
    folder = make_plugin("p", f'import * as c from "ivmhost:{name}";\nexport const x = 1;\n', capabilities=capabilities)
    host = make_host(grants=grants)
    with pytest.raises(ivmhost.CapabilityError) as caught:
        host.load(folder)
    assert caught.value.plugin == "p" and caught.value.capability == name
    assert str(caught.value).startswith(f"plugin 'p' may not use capability '{name}': ")
    assert why in str(caught.value)
    assert host.plugins == {}
    assert ivmhost.live_isolates() == 0


def test_grants_by_callable(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str, str]] = []

    def policy(manifest: ivmhost.Manifest, request: ivmhost.CapabilityRequest) -> bool:
        seen.append((manifest.name, request.name, request.reason))
        return request.reason != ""

    code = 'import { get } from "ivmhost:kv";\nexport const x = 1;\n'
    host = make_host(grants=policy)
    assert host.load(make_plugin("yes", code, capabilities={"kv": {"reason": "stores notes"}})).grants == {"kv"}
    with pytest.raises(ivmhost.CapabilityError, match="not granted"):
        host.load(make_plugin("no", code, capabilities={"kv": {}}))
    assert seen == [("yes", "kv", "stores notes"), ("no", "kv", "")]


def test_dynamic_import_of_capabilities(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", """
        export async function main() {
          const kv = await import("ivmhost:kv");
          kv.put("x", 1);
          let denied = null;
          try { await import("ivmhost:files"); } catch (e) { denied = String(e); }
          return [kv.get("x"), denied];
        }
    """, capabilities={"kv": {}, "files": {}})
    plugin = make_host(capabilities=[KV, Files], grants={"p": {"kv"}}).load(folder)
    value, denied = plugin.call("main")
    assert value == 1
    assert "may not use capability 'files': not granted" in denied


def test_nothing_of_the_host_is_reachable_from_global_this(make_plugin, make_host) -> None:  # type: ignore[no-untyped-def]
    folder = make_plugin("p", """
        import { get } from "ivmhost:kv";
        export function main() {
          const names = Object.getOwnPropertyNames(globalThis);
          return [names.filter((n) => /ivmhost|kv|host|bridge|fire|python/i.test(n)), typeof get];
        }
    """, capabilities={"kv": {}})
    plugin = make_host(grants={"p": {"kv"}}).load(folder)
    assert plugin.call("main") == [[], "function"]


def test_capability_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="is not a capability name"):
        ivmhost.capability("Bad Name")
    with pytest.raises(TypeError, match="is not a capability: mark it with @ivmhost.capability"):
        ivmhost.PluginHost(capabilities=[Handle])
    with pytest.raises(ValueError, match="two capabilities are named 'kv'"):
        ivmhost.PluginHost(capabilities=[KV, KV])
