"""User-scripted automation: a shop lets its users automate it with short JavaScript scripts.

Each script (``examples/scripts/*.js``) becomes a plugin with tight limits (16 MB, 200 ms per
call) whose manifest requests the capabilities the script imports; the shop grants user scripts
only ``inventory``, ``inventory.update`` and ``notify`` (never ``payments``). Useful scripts
report, reprice and restock; hostile ones loop forever, hoard memory, import what they were not
granted or look for the host. They are stopped with the reason printed, and the shop and the good
scripts carry on.

Run it with ``python3 examples/automation.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import ivmhost

SCRIPTS = Path(__file__).resolve().with_name("scripts")
USEFUL = ["low_stock", "clearance", "reorder"]
HOSTILE = ["spin", "hoard", "refund_all", "snoop"]
USER_LIMITS = ivmhost.Limits(memory_mb=16, call_timeout_ms=200)
USER_GRANTS = frozenset({"inventory", "inventory.update", "notify"})
# The names a V8 global object holds by itself (ECMAScript, Intl, WebAssembly; newer V8s add a
# few), and the runtime ivmhost adds to every plugin; anything else would be a leak of the host.
ECMASCRIPT_GLOBALS = frozenset(
    "Object Function Array Number parseFloat parseInt Infinity NaN undefined Boolean String Symbol Date "
    "Promise RegExp Error AggregateError EvalError RangeError ReferenceError SyntaxError TypeError "
    "URIError globalThis JSON Math Intl ArrayBuffer Uint8Array Int8Array Uint16Array Int16Array "
    "Uint32Array Int32Array Float32Array Float64Array Uint8ClampedArray BigUint64Array BigInt64Array "
    "DataView Map BigInt Set WeakMap WeakSet Proxy Reflect FinalizationRegistry WeakRef decodeURI "
    "decodeURIComponent encodeURI encodeURIComponent escape unescape eval isFinite isNaN "
    "SharedArrayBuffer Atomics WebAssembly Iterator Float16Array".split()
)
RUNTIME_GLOBALS = frozenset(
    "console setTimeout setInterval clearTimeout clearInterval queueMicrotask structuredClone "
    "TextEncoder TextDecoder atob btoa performance".split()
)


class ShopHooks:
    """What the shop asks of every script."""

    @ivmhost.hookspec
    def describe(self) -> str:  # type: ignore[empty-body]
        """One line saying what the script does (shown when it is installed)."""

    @ivmhost.hookspec
    def order_placed(self, order: dict[str, Any]) -> str | None:
        """An order was placed (stock already taken); a script may act on it."""


# -- the application ---------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    sku: str
    name: str
    stock: int
    price: float
    cost: float
    reorder_at: int


class Shop:
    """The application: a catalogue, orders, and the notifications scripts sent."""

    def __init__(self) -> None:
        self.items = {item.sku: item for item in [
            Item("tea", "Green tea", 12, 6.50, 3.10, 10),
            Item("mug", "Stoneware mug", 48, 14.00, 6.00, 8),
            Item("pot", "Cast-iron teapot", 3, 39.00, 21.00, 4),
            Item("filter", "Paper filters", 60, 3.20, 1.50, 20),
        ]}
        self.orders = 0
        self.notifications: list[tuple[str, str]] = []
        self.scripts: ivmhost.PluginHost | None = None

    def place_order(self, sku: str, quantity: int) -> list[str]:
        """Take stock, then tell the scripts (their answers come back)."""
        item = self.items[sku]
        if quantity > item.stock:
            raise ValueError(f"only {item.stock} x {item.name} left")
        item.stock -= quantity
        self.orders += 1
        order = {"id": self.orders, "sku": sku, "quantity": quantity}
        return self.scripts.hook.order_placed(order=order) if self.scripts is not None else []

    def catalogue(self) -> str:
        return "\n".join(f"    {i.sku:<7} {i.name:<17} stock {i.stock:>3}   {i.price:6.2f}" for i in self.items.values())


def shop_capabilities(shop: Shop) -> list[type]:
    """What the shop offers scripts, as capabilities bound to this shop."""

    def public(item: Item) -> dict[str, Any]:
        return dataclasses.asdict(item)

    def known(sku: str) -> Item:
        item = shop.items.get(str(sku))
        if item is None:
            raise KeyError(f"no item '{sku}'")
        return item

    @ivmhost.capability("inventory")
    class Inventory:
        """Read the catalogue."""

        def items(self) -> list[dict[str, Any]]:
            return [public(item) for item in shop.items.values()]

        def item(self, sku: str) -> dict[str, Any]:
            return public(known(sku))

    @ivmhost.capability("inventory.update")
    class InventoryUpdate:
        """Change prices and stock, within the shop's rules."""

        def set_price(self, sku: str, price: float) -> float:
            item = known(sku)
            if not item.cost <= float(price) <= item.price * 2:
                raise ValueError(f"a price for {sku} must lie between {item.cost:.2f} and {item.price * 2:.2f}")
            item.price = round(float(price), 2)
            return item.price

        def restock(self, sku: str, quantity: int) -> int:
            item = known(sku)
            if not 1 <= int(quantity) <= 100:
                raise ValueError("restock between 1 and 100 at a time")
            item.stock += int(quantity)
            return item.stock

    @ivmhost.capability("notify")
    class Notify:
        """Send the shop keeper a message."""

        def __init__(self, grant: ivmhost.Grant) -> None:
            self._script = grant.plugin

        def send(self, message: str) -> None:
            shop.notifications.append((self._script, str(message)))
            print(f"    (notification from {self._script}: {message})")

    @ivmhost.capability("payments")
    class Payments:
        """Refunds: offered to the shop's own plugins, never granted to user scripts."""

        def refund(self, order: str, amount: float) -> bool:
            raise PermissionError("refunds need a person")

    return [Inventory, InventoryUpdate, Notify, Payments]


# -- scripts as plugins ------------------------------------------------------------------------


def user_script_grants(manifest: ivmhost.Manifest, request: ivmhost.CapabilityRequest) -> bool:
    """The shop's grant policy for user scripts: a fixed allow-list."""
    return request.name in USER_GRANTS


def install(host: ivmhost.PluginHost, script: Path, workdir: Path) -> ivmhost.Plugin:
    """Turn a script into a plugin folder (a manifest requesting what it imports) and load it."""
    code = script.read_text(encoding="utf-8")
    imports = sorted(set(re.findall(r"""from\s+["']ivmhost:([a-z][a-z0-9._-]*)["']""", code)))
    name = script.stem.replace("_", "-")
    folder = workdir / name
    folder.mkdir()
    manifest = [
        f'name = "{name}"', 'version = "1.0.0"', 'entry = "script.js"', 'api = "1"',
        "[limits]", f"memory_mb = {USER_LIMITS.memory_mb}", f"call_timeout_ms = {USER_LIMITS.call_timeout_ms}",
        "[capabilities]", *(f'"{capability}" = {{}}' for capability in imports),
    ]
    (folder / "plugin.toml").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    (folder / "script.js").write_text(code, encoding="utf-8")
    return host.load(folder)


def run(host: ivmhost.PluginHost, script: str, *args: Any, show: bool = True) -> Any:
    """Call a script's ``run`` and print what happened; the result, or None when it was stopped."""
    plugin = host.plugins[script]
    call = f"{script}.run({', '.join(map(repr, args))})"
    benched = plugin.state == "quarantined"
    started = time.perf_counter()
    try:
        result = plugin.call("run", *args)
    except ivmhost.PluginError as error:
        elapsed = (time.perf_counter() - started) * 1000
        if benched:
            print(f"  {call} -> refused, quarantined: {reason(error)}")
        else:
            then = "; now quarantined" if isinstance(error, ivmhost.PluginQuarantinedError) else ""
            print(f"  {call} -> stopped after {elapsed:.0f} ms{then}: {reason(error)}")
        return None
    print(f"  {call} -> {result!r}" if show else f"  {call} ran and reported:")
    return result


def reason(error: ivmhost.PluginError) -> str:
    return f"{type(error.cause).__name__}: {error.cause}"


# -- the session -------------------------------------------------------------------------------


def main() -> None:
    # The example prints every fault itself; the host's own log lines would repeat them.
    logging.getLogger("ivmhost").addHandler(logging.NullHandler())
    shop = Shop()
    print("== The shop")
    print(shop.catalogue())

    with tempfile.TemporaryDirectory(prefix="ivmhost-automation-") as workdir, ivmhost.PluginHost(
        hookspecs=ShopHooks,
        capabilities=shop_capabilities(shop),
        grants=user_script_grants,
        ceilings=USER_LIMITS,                    # no script may ask for more
        on_fault=ivmhost.Quarantine(after=2),    # two failures in a row and a script is benched
    ) as host:
        shop.scripts = host
        print(f"\n== Installing user scripts (memory_mb {USER_LIMITS.memory_mb}, call_timeout_ms "
              f"{USER_LIMITS.call_timeout_ms}; granted at most: {', '.join(sorted(USER_GRANTS))})")
        for stem in USEFUL + HOSTILE:
            script = SCRIPTS / f"{stem}.js"
            try:
                plugin = install(host, script, Path(workdir))
            except ivmhost.CapabilityError as error:
                print(f"  {script.name:<14} refused at load: CapabilityError: {error}")
                continue
            grants = ", ".join(sorted(plugin.grants)) or "nothing"
            print(f"  {script.name:<14} installed as '{plugin.name}' (granted {grants}): {plugin.call('describe')}")

        print("\n== Useful scripts at work")
        run(host, "low-stock", 5)
        run(host, "clearance", 40, 15)
        print("  an order of 5 x tea, scripts answer the order_placed hook:")
        for answer in shop.place_order("tea", 5):
            print(f"    order_placed -> {answer!r}")

        print("\n== Hostile scripts are stopped (policy: Quarantine(after=2))")
        run(host, "spin")
        run(host, "spin")
        run(host, "spin")
        run(host, "hoard")
        run(host, "hoard")
        print("  refund-all never loaded: its import of ivmhost:payments was refused (see above)")
        snoop(host)

        print("\n== Afterwards the shop and the good scripts carry on")
        run(host, "low-stock", 5)
        for answer in shop.place_order("pot", 2):
            print(f"    order_placed -> {answer!r}")
        print(shop.catalogue())
        print(f"  notifications received: {len(shop.notifications)}")

        print("\n== Scripts")
        print(f"  {'script':<11} {'state':<12} {'calls':>5} {'errors':>6} {'timeouts':>8} {'mem hits':>8} "
              f"{'CPU ms':>7} {'cap calls':>9}")
        for plugin in host.plugins.values():
            m = plugin.metrics
            print(f"  {plugin.name:<11} {plugin.state:<12} {m.calls:>5} {m.errors:>6} {m.timeouts:>8} "
                  f"{m.memory_limit_hits:>8} {m.cpu_time_ns / 1e6:>7.1f} {m.capability_calls:>9}")


def snoop(host: ivmhost.PluginHost) -> None:
    """Run the script that looks for the host, and judge what it found."""
    found: dict[str, str] | None = run(host, "snoop", show=False)
    if found is None:
        return
    names = set(found.pop("globalThis names").split())
    for probe, outcome in found.items():
        print(f"    {probe:<52} {outcome}")
    extra = names - ECMASCRIPT_GLOBALS
    print(f"    {'globalThis beyond ECMAScript':<52} {' '.join(sorted(extra))}")
    leaks = sorted(extra - RUNTIME_GLOBALS) + [probe for probe, outcome in found.items()
                                               if outcome in ("function", "object", "loaded!")]
    print("  verdict: " + (f"REACHED {leaks}" if leaks else "nothing of the host was reachable "
                           "(globals beyond ECMAScript are ivmhost's documented runtime)"))


if __name__ == "__main__":
    main()
