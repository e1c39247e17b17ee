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
