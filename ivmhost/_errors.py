"""ivmhost's exception hierarchy (see DESIGN.md, "Errors")."""

from __future__ import annotations

from typing import Any

__all__ = [
    "IvmhostError",
    "JSError",
    "ScriptTimeoutError",
    "IsolateDisposedError",
    "MemoryLimitError",
    "ReleasedError",
    "TransferError",
    "ManifestError",
    "CapabilityError",
    "PluginError",
    "PluginQuarantinedError",
]


class IvmhostError(Exception):
    """Base class of every error ivmhost raises."""


class JSError(IvmhostError):
    """A JavaScript exception.

    ``name`` is the error's name (``"TypeError"``, a subclass's name...), ``message`` its message and
    ``stack`` JavaScript's stack text, whose frames keep the script's filename:line:column. When
    JavaScript threw something that is not an ``Error``, ``value`` holds a copy of what it threw.
    """

    def __init__(self, message: str, name: str = "Error", stack: str = "", value: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.stack = stack
        self.value = value

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


class _StackMixin:
    """Errors that interrupt JavaScript carry its stack at the point of interruption."""

    stack: str = ""


class ScriptTimeoutError(IvmhostError, TimeoutError, _StackMixin):
    """A call ran past its timeout ("Script execution timed out.")."""

    def __init__(self, message: str = "Script execution timed out.", stack: str = "") -> None:
        super().__init__(message)
        self.stack = stack


class IsolateDisposedError(IvmhostError, _StackMixin):
    """The isolate is disposed ("Isolate is disposed"), or was while the call ran."""

    def __init__(self, message: str = "Isolate is disposed", stack: str = "") -> None:
        super().__init__(message)
        self.stack = stack


class MemoryLimitError(IsolateDisposedError):
    """The isolate hit its memory limit and was disposed."""


class ReleasedError(IvmhostError):
    """A released handle was used ("Reference has been released", "Context is released"...)."""


class TransferError(IvmhostError, TypeError):
    """A value cannot cross between Python and JavaScript ("A non-transferable value was passed")."""


class ManifestError(IvmhostError):
    """A plugin manifest is wrong. ``file`` and ``key`` say where (``key`` may be empty when the
    whole file is at fault); the message says what to change."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class CapabilityError(IvmhostError):
    """A plugin used a capability it may not use (not requested, not granted, or not offered)."""

    def __init__(self, plugin: str, capability: str, why: str) -> None:
        super().__init__(f"plugin '{plugin}' may not use capability '{capability}': {why}")
        self.plugin = plugin
        self.capability = capability


class PluginError(IvmhostError):
    """A plugin failed: it threw, ran out of time or memory, or returned what cannot cross.
    ``plugin`` names it and ``cause`` (also ``__cause__``) is the engine's error."""

    def __init__(self, plugin: str, cause: BaseException, action: str = "") -> None:
        what = f"{type(cause).__name__}: {cause}"
        super().__init__(f"plugin '{plugin}' failed{' in ' + action if action else ''}: {what}")
        self.plugin = plugin
        self.cause = cause
        self.__cause__ = cause


class PluginQuarantinedError(PluginError):
    """The plugin failed too often and is quarantined: the host calls it no more until it is
    reloaded (``host.reload(name)``)."""


class _WouldBlockLoopError(IvmhostError):
    """A sync call that would wait for a promise on a thread running an event loop (the caller's
    mistake, not the JavaScript's). Internal: it is an IvmhostError to everyone else."""
