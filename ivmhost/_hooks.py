"""pluggy hooks for Python and JavaScript plugins alike.

The application writes hookspecs with :data:`hookspec`; Python plugins implement them with
:data:`hookimpl`. A JavaScript plugin is registered with the same ``pluggy.PluginManager`` through
a proxy whose hook implementations call its exports, so pluggy's ordering and ``firstresult``
apply to both. :class:`AsyncHookRelay` is the ``await host.ahook.<name>(...)`` twin.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pluggy

__all__ = ["AsyncHookRelay", "PROJECT", "hookimpl", "hookspec", "js_hook_impl"]

PROJECT = "ivmhost"
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks the application's hook specifications: ``@ivmhost.hookspec`` (or ``(firstresult=True)``)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a Python plugin's hook implementations: ``@ivmhost.hookimpl``."""

_ASYNC = "__ivmhost_async__"


def js_hook_impl(name: str, argnames: tuple[str, ...], call: Callable[[tuple[Any, ...]], Any],
                 call_async: Callable[[tuple[Any, ...]], Awaitable[Any]]) -> Callable[..., Any]:
    """A hook implementation that calls a JavaScript export with the hook's arguments in the
    hookspec's parameter order. pluggy reads the parameter names from its signature."""

    def impl(*args: Any) -> Any:
        return call(args)

    impl.__name__ = impl.__qualname__ = name
    impl.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD) for arg in argnames]
    )
    setattr(impl, _ASYNC, call_async)
    return hookimpl(impl)


class AsyncHookRelay:
    """``host.ahook``: ``await host.ahook.on_message(message=m)`` calls every implementation in
    pluggy's order; JavaScript exports are awaited on their isolate's executor and Python
    implementations that return awaitables are awaited. ``firstresult`` is respected; None
    results are dropped. Hook wrappers are not run here (use ``host.hook`` for those)."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._manager = manager

    def __getattr__(self, name: str) -> AsyncHookCaller:
        caller = getattr(self._manager.hook, name, None)
        if caller is None or name.startswith("_"):
            raise AttributeError(f"no hook named {name!r}; the hookspecs define {', '.join(hook_names(self._manager))}")
        return AsyncHookCaller(caller)


class AsyncHookCaller:
    def __init__(self, caller: pluggy.HookCaller) -> None:
        self._caller = caller

    async def __call__(self, **kwargs: Any) -> Any:
        spec = self._caller.spec
        firstresult = bool(spec and spec.opts.get("firstresult"))
        if spec is not None:
            missing = [arg for arg in spec.argnames if arg not in kwargs]
            if missing:
                raise pluggy.HookCallError(f"hook call must provide argument {missing[0]!r}")
        results = []
        for impl in reversed(self._caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                raise TypeError(
                    f"host.ahook.{self._caller.name} cannot run the hook wrapper in plugin "
                    f"{impl.plugin_name!r}; call host.hook.{self._caller.name} instead"
                )
            args = tuple(kwargs[arg] for arg in impl.argnames)
            call_async = getattr(impl.function, _ASYNC, None)
            result = await call_async(args) if call_async is not None else impl.function(*args)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append(result)
                if firstresult:
                    break
        if firstresult:
            return results[0] if results else None
        return results


def hook_names(manager: pluggy.PluginManager) -> list[str]:
    """The names of the hooks the manager's hookspecs define."""
    return sorted(name for name, caller in vars(manager.hook).items()
                  if isinstance(caller, pluggy.HookCaller) and caller.spec is not None)


def hook_argnames(manager: pluggy.PluginManager, name: str) -> tuple[str, ...] | None:
    """The hookspec's parameter names (without ``self``), or None when no hookspec is ``name``."""
    caller = getattr(manager.hook, name, None)
    if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
        return None
    return tuple(caller.spec.argnames)
