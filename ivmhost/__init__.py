"""ivmhost: host JavaScript plugins in Python applications, in V8 isolates with hard limits.

The engine follows isolated-vm's model (Isolate, Context, Script, Reference...), in Python naming;
the host framework (PluginHost, manifests, capabilities, pluggy hooks, anyio tasks) sits on it.
"""

from ivmhost._engine import (
    Callback,
    Context,
    ExternalCopy,
    InspectorSession,
    Isolate,
    Module,
    Reference,
    Script,
    live_isolates,
    v8_version,
)
from ivmhost._capabilities import AuditEntry, Grant, capability
from ivmhost._errors import (
    CapabilityError,
    IsolateDisposedError,
    IvmhostError,
    JSError,
    ManifestError,
    MemoryLimitError,
    PluginError,
    PluginQuarantinedError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
)
from ivmhost._hooks import hookimpl, hookspec
from ivmhost._host import (
    FaultPolicy,
    Plugin,
    PluginHost,
    PluginMetrics,
    PluginTask,
    Problem,
    Quarantine,
    Restart,
)
from ivmhost._manifest import CapabilityRequest, Limits, Manifest
from ivmhost.inspector import InspectorServer, InspectorTarget
from ivmhost._types import HeapStatistics, TransferOptions
from ivmhost._undefined import UndefinedType, undefined

__version__ = "0.1.0"

__all__ = [
    "AuditEntry",
    "Callback",
    "CapabilityError",
    "CapabilityRequest",
    "Context",
    "ExternalCopy",
    "FaultPolicy",
    "Grant",
    "HeapStatistics",
    "InspectorServer",
    "InspectorSession",
    "InspectorTarget",
    "IsolateDisposedError",
    "Isolate",
    "IvmhostError",
    "JSError",
    "Limits",
    "Manifest",
    "ManifestError",
    "MemoryLimitError",
    "Module",
    "Plugin",
    "PluginError",
    "PluginHost",
    "PluginMetrics",
    "PluginQuarantinedError",
    "PluginTask",
    "Problem",
    "Quarantine",
    "Reference",
    "ReleasedError",
    "Restart",
    "Script",
    "ScriptTimeoutError",
    "TransferError",
    "TransferOptions",
    "UndefinedType",
    "capability",
    "hookimpl",
    "hookspec",
    "live_isolates",
    "undefined",
    "v8_version",
]
