"""ivmhost: host JavaScript plugins in Python applications, in V8 isolates with hard limits.

The engine follows isolated-vm's model (Isolate, Context, Script, Reference...), in Python naming.
"""

from ivmhost._engine import (
    Callback,
    Context,
    ExternalCopy,
    Isolate,
    Module,
    Reference,
    Script,
    live_isolates,
    v8_version,
)
from ivmhost._errors import (
    IsolateDisposedError,
    IvmhostError,
    JSError,
    MemoryLimitError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
)
from ivmhost._types import HeapStatistics, TransferOptions
from ivmhost._undefined import UndefinedType, undefined

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "Context",
    "ExternalCopy",
    "HeapStatistics",
    "IsolateDisposedError",
    "Isolate",
    "IvmhostError",
    "JSError",
    "MemoryLimitError",
    "Module",
    "Reference",
    "ReleasedError",
    "Script",
    "ScriptTimeoutError",
    "TransferError",
    "TransferOptions",
    "UndefinedType",
    "live_isolates",
    "undefined",
    "v8_version",
]
