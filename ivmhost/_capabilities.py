"""Capabilities: what the application lends to plugins, and the audit of what they really used.

``@capability("kv")`` marks a class (instantiated once per plugin, with its :class:`Grant`) or a
function. A granted capability is the ES module ``ivmhost:<name>`` inside the plugin: sync methods
are Callbacks, ``async def`` methods return Promises, and results that are not plain data (handle
objects) arrive as References. Every call is counted per plugin.
"""

from __future__ import annotations

import datetime
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from ivmhost._engine import Callback, ExternalCopy, Reference
from ivmhost._undefined import UndefinedType

__all__ = ["AuditEntry", "Grant", "capability", "capability_name", "export_names"]

T = TypeVar("T")
_ATTRIBUTE = "__ivmhost_capability__"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")
_JS_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# Values that cross by copy (or already are handles); anything else a method returns is lent.
_CROSSES = (type(None), bool, int, float, str, bytes, bytearray, memoryview, list, tuple, dict,
            datetime.datetime, UndefinedType, Reference, ExternalCopy)


@attrs.frozen
class Grant:
    """What a plugin was granted: the capability, the manifest's parameters and its reason."""

    plugin: str
    capability: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    reason: str = ""


def capability(name: str) -> Callable[[T], T]:
    """Mark a class or a function as the capability ``name`` (e.g. ``"kv"``, ``"http.fetch"``).

    A class is instantiated once per plugin that is granted it, with the :class:`Grant` when its
    constructor takes an argument; its public methods become the module's exports. A function
    is exported under its own name and as ``default``; a keyword-only ``grant`` parameter receives
    the Grant::

        @ivmhost.capability("kv")
        class KV:
            def __init__(self, grant): self.ns = grant.params["namespace"]
            def get(self, key): ...
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{name!r} is not a capability name: lowercase words joined by '.', e.g. 'http.fetch'")

    def mark(target: T) -> T:
        if not (inspect.isclass(target) or callable(target)):
            raise TypeError(f"@capability marks a class or a function, not {type(target).__name__}")
        setattr(target, _ATTRIBUTE, name)
        return target

    return mark


def capability_name(target: object) -> str:
    """The name given by ``@capability``; TypeError when ``target`` was not marked."""
    name = getattr(target, _ATTRIBUTE, None)
    if not isinstance(name, str):
        raise TypeError(f"{target!r} is not a capability: mark it with @ivmhost.capability(\"name\")")
    return name


@attrs.define
class AuditEntry:
    """How often a plugin called one method of one capability, and how many calls raised."""

    capability: str
    method: str
    calls: int = 0
    errors: int = 0


class Audit:
    """The per-plugin record of capability use (thread-safe: callbacks come from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], AuditEntry] = {}

    def entry(self, capability: str, method: str) -> AuditEntry:
        with self._lock:
            return self._entries.setdefault((capability, method), AuditEntry(capability, method))

    def count(self, entry: AuditEntry, failed: bool) -> None:
        with self._lock:
            entry.calls += 1
            entry.errors += failed

    def entries(self) -> list[AuditEntry]:
        with self._lock:
            return [attrs.evolve(e) for _, e in sorted(self._entries.items())]

    def total_calls(self) -> int:
        with self._lock:
            return sum(e.calls for e in self._entries.values())


def export_names(target: Any) -> list[str]:
    """The exports of capability ``target``'s module: a class's public methods (found without
    instantiating it or running its properties), or a function's name (also the default export)."""
    if inspect.isclass(target):
        names = []
        for attr in dir(target):
            if attr.startswith("_") or not _JS_IDENTIFIER.match(attr):
                continue
            static = inspect.getattr_static(target, attr)
            if callable(static) or isinstance(static, (staticmethod, classmethod)):
                names.append(attr)
        return names
    return [getattr(target, "__name__", "call")]


class LentCapability:
    """One capability as one plugin sees it: the exports of its ``ivmhost:<name>`` module."""

    def __init__(self, target: Any, grant: Grant, audit: Audit) -> None:
        self.name = grant.capability
        self.exports: dict[str, Any] = {}
        self.default: str | None = None  # the export that is also the module's default
        factory: Any = target
        if inspect.isclass(target):
            instance = factory(grant) if _takes_argument(target) else factory()
            for attr in export_names(target):
                self.exports[attr] = _counted(getattr(instance, attr), audit.entry(self.name, attr), audit)
        else:
            function = target
            if "grant" in _keyword_only(target):
                function = _bind_grant(target, grant)
            export = export_names(target)[0]
            self.exports[export] = _counted(function, audit.entry(self.name, export), audit, template=target)
            self.default = export

    def module_source(self) -> str:
        """The ES module ``ivmhost:<name>``: its exports come from import.meta, which only this
        module's own code can read, and are removed from it before any other code runs."""
        lines = ["const lent = import.meta.ivmhost;", "delete import.meta.ivmhost;"]
        # Local names are generated: a method may be named like a reserved word (`delete`), which
        # an export name may be but a variable may not.
        local = {name: f"${i}" for i, name in enumerate(self.exports)}
        lines += [f"const {local[name]} = lent[{json.dumps(name)}];" for name in self.exports]
        lines.append("export { " + ", ".join(f"{local[name]} as {name}" for name in self.exports) + " };")
        if self.default is not None:
            lines.append(f"export default {local[self.default]};")
        return "\n".join(lines) + "\n"


def _counted(method: Callable[..., Any], entry: AuditEntry, audit: Audit,
             template: Callable[..., Any] | None = None) -> Any:
    original = template or method
    if inspect.iscoroutinefunction(original):
        async def call_async(*args: Any) -> Any:
            try:
                result = _lend(await method(*args))
            except BaseException:
                audit.count(entry, True)
                raise
            audit.count(entry, False)
            return result

        call_async.__name__ = entry.method
        return Callback(call_async, async_=True)

    def call(*args: Any) -> Any:
        try:
            result = _lend(method(*args))
        except BaseException:
            audit.count(entry, True)
            raise
        audit.count(entry, False)
        return result

    call.__name__ = entry.method
    return call


def _lend(value: Any) -> Any:
    """Plain data crosses by copy; a handle object (anything else) is lent as a Reference."""
    if isinstance(value, _CROSSES) or callable(value):
        return value
    return Reference(value)


def _takes_argument(cls: type) -> bool:
    try:
        parameters = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)


def _keyword_only(function: Callable[..., Any]) -> Iterable[str]:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]


def _bind_grant(function: Callable[..., Any], grant: Grant) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):
        async def bound_async(*args: Any) -> Any:
            return await function(*args, grant=grant)

        return bound_async

    def bound(*args: Any) -> Any:
        return function(*args, grant=grant)

    return bound
