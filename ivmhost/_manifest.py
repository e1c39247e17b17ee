"""Plugin manifests (``plugin.toml``): parsed into attrs classes and validated strictly.

Every problem is a :class:`ManifestError` that names the file, the key and the fix. One table of
fields drives both the validation and :meth:`Manifest.json_schema`, so the two cannot drift apart.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ivmhost._errors import ManifestError

__all__ = ["API_VERSIONS", "CapabilityRequest", "Limits", "Manifest"]

API_VERSIONS = ("1",)  # host API versions this ivmhost serves
ISOLATIONS = ("isolate", "process")
MANIFEST_NAME = "plugin.toml"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CAPABILITY = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# Semantic Versioning 2.0.0's own pattern.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@attrs.frozen
class Limits:
    """What a plugin may use. In a manifest they are what the plugin accepts; given to
    :class:`PluginHost` as ``ceilings`` they are the most any plugin may ask for."""

    memory_mb: int = 64
    """The isolate's heap limit, in MB (at least 8)."""
    call_timeout_ms: int = 1000
    """Wall-clock limit of each hook call, task step or timer callback."""
    cpu_ms_per_minute: int | None = None
    """CPU time the plugin may use in any minute; None: no budget."""


_LIMIT_FIELDS: dict[str, tuple[int, str]] = {
    "memory_mb": (8, "the isolate heap limit in MB"),
    "call_timeout_ms": (1, "wall-clock ms per hook call, task step or timer callback"),
    "cpu_ms_per_minute": (1, "CPU ms the plugin may use in any minute"),
}

DEFAULT_CEILINGS = Limits(memory_mb=1024, call_timeout_ms=60_000, cpu_ms_per_minute=None)


@attrs.frozen
class CapabilityRequest:
    """One ``[capabilities]`` entry: the capability's name, its parameters (the grant's
    ``params``) and the optional ``reason`` shown to whoever grants it."""

    name: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    reason: str = ""


@attrs.frozen
class Manifest:
    """A plugin's ``plugin.toml``. Load one with :meth:`Manifest.load`."""

    name: str
    version: str
    entry: str
    api: str
    folder: Path
    description: str = ""
    limits: Limits = Limits()
    capabilities: tuple[CapabilityRequest, ...] = ()
    tasks: tuple[str, ...] = ()
    """Exports meant for :meth:`PluginHost.start_task` (so ``check()`` does not report them)."""
    isolation: str = "isolate"
    """``"isolate"``: an isolate in the application's process; ``"process"``: in a worker process,
    so a fault that aborts V8 kills only the worker."""

    @property
    def file(self) -> Path:
        return self.folder / MANIFEST_NAME

    @property
    def entry_path(self) -> Path:
        return self.folder / self.entry

    def capability(self, name: str) -> CapabilityRequest | None:
        """The request for capability ``name``, or None when the manifest does not ask for it."""
        for request in self.capabilities:
            if request.name == name:
                return request
        return None

    @classmethod
    def load(cls, path: str | Path, ceilings: Limits | None = None) -> Manifest:
        """Read and validate ``path`` (a plugin folder or its ``plugin.toml``). Limits above
        ``ceilings`` are refused."""
        path = Path(path)
        file = path / MANIFEST_NAME if path.is_dir() else path
        if not file.is_file():
            raise ManifestError(str(file), "", f"no such file; a plugin folder needs a {MANIFEST_NAME}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ManifestError(str(file), "", f"not UTF-8 text ({exc}); save it as UTF-8") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(str(file), "", f"not valid TOML: {exc}") from exc
        return cls.from_dict(data, file, ceilings)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], file: Path, ceilings: Limits | None = None) -> Manifest:
        """Validate already-parsed manifest data (``file`` is named in errors and locates the
        plugin folder)."""
        return _Validator(str(file), ceilings or DEFAULT_CEILINGS).manifest(data, file.parent)

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of ``plugin.toml``, for editors and CI checks."""
        limits = {
            key: {"type": "integer", "minimum": minimum, "description": text}
            for key, (minimum, text) in _LIMIT_FIELDS.items()
        }
        properties: dict[str, Any] = {
            key: dict(schema, description=text) for key, (schema, text, _) in _TOP_FIELDS.items()
        }
        properties["limits"] = {
            "type": "object", "additionalProperties": False, "properties": limits,
            "description": "what the plugin accepts; the application's ceilings cap each value",
        }
        properties["capabilities"] = {
            "type": "object",
            "description": "capabilities requested (deny by default); each value holds the grant's parameters",
            "propertyNames": {"pattern": _CAPABILITY.pattern},
            "additionalProperties": {
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "why the plugin needs it"}},
            },
        }
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://ivmhost.invalid/plugin.toml.schema.json",
            "title": "ivmhost plugin manifest (plugin.toml)",
            "type": "object",
            "additionalProperties": False,
            "required": [key for key, (_, _, required) in _TOP_FIELDS.items() if required],
            "properties": properties,
        }


# key -> (JSON schema, description, required)
_TOP_FIELDS: dict[str, tuple[dict[str, Any], str, bool]] = {
    "name": ({"type": "string", "pattern": _NAME.pattern}, "the plugin's name: lowercase letters, digits, '.', '_', '-'", True),
    "version": ({"type": "string", "pattern": _SEMVER.pattern}, "the plugin's version (semantic versioning, e.g. 1.0.0)", True),
    "entry": ({"type": "string", "pattern": r"\.m?js$"}, "the ES module entry, relative to the plugin folder", True),
    "api": ({"type": "string", "enum": list(API_VERSIONS)}, "the host API version the plugin targets", True),
    "description": ({"type": "string"}, "one line saying what the plugin does", False),
    "tasks": (
        {"type": "array", "items": {"type": "string", "pattern": _IDENTIFIER.pattern}},
        "exports meant to run as long-lived tasks (PluginHost.start_task)",
        False,
    ),
    "isolation": (
        {"type": "string", "enum": list(ISOLATIONS)},
        "where the plugin's isolate runs: in the application's process, or in a worker process",
        False,
    ),
}
_TABLES = ("limits", "capabilities")


class _Validator:
    def __init__(self, file: str, ceilings: Limits) -> None:
        self.file = file
        self.ceilings = ceilings

    def fail(self, key: str, problem: str) -> ManifestError:
        return ManifestError(self.file, key, problem)

    def manifest(self, data: Mapping[str, Any], folder: Path) -> Manifest:
        known = [*_TOP_FIELDS, *_TABLES]
        for key in data:
            if key not in known:
                raise self.fail(key, f"unknown key; the known keys are {', '.join(known)}")
        for key, (_, text, required) in _TOP_FIELDS.items():
            if required and key not in data:
                raise self.fail(key, f"missing; add {key} = ... ({text})")
        name = self.string(data, "name")
        if not _NAME.match(name):
            raise self.fail("name", f"{name!r} is not a plugin name: use lowercase letters, digits, '.', '_' "
                                    "and '-', starting with a letter or digit (at most 64)")
        version = self.string(data, "version")
        if not _SEMVER.match(version):
            raise self.fail("version", f"{version!r} is not a semantic version; write it like \"1.0.0\"")
        api = self.string(data, "api")
        if api not in API_VERSIONS:
            raise self.fail("api", f"{api!r} is not a host API version this ivmhost serves "
                                   f"({', '.join(map(repr, API_VERSIONS))}); set api = \"{API_VERSIONS[-1]}\"")
        entry = self.entry(self.string(data, "entry"), folder)
        description = self.string(data, "description") if "description" in data else ""
        tasks = self.tasks(data.get("tasks", []))
        isolation = self.string(data, "isolation") if "isolation" in data else "isolate"
        if isolation not in ISOLATIONS:
            raise self.fail("isolation", f"{isolation!r} is not one of {', '.join(map(repr, ISOLATIONS))}; "
                                         "use \"process\" to run the plugin in a worker process")
        return Manifest(
            name=name, version=version, entry=entry, api=api, folder=folder, description=description,
            limits=self.limits(data.get("limits", {})),
            capabilities=self.capabilities(data.get("capabilities", {})),
            tasks=tasks, isolation=isolation,
        )

    def string(self, data: Mapping[str, Any], key: str) -> str:
        value = data[key]
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_toml_type(value)}; quote it: {key} = \"{value}\"")
        return value

    def entry(self, entry: str, folder: Path) -> str:
        if not entry.endswith((".js", ".mjs")):
            raise self.fail("entry", f"{entry!r} is not a JavaScript module; name a .js or .mjs file")
        path = Path(entry)
        if path.is_absolute() or ".." in path.parts:
            raise self.fail("entry", f"{entry!r} must be a path inside the plugin folder, relative to it")
        if not (folder / path).is_file():
            raise self.fail("entry", f"{entry!r} does not exist in {folder}; create it or fix the path")
        return path.as_posix()

    def tasks(self, tasks: Any) -> tuple[str, ...]:
        if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
            raise self.fail("tasks", "must be a list of export names, e.g. tasks = [\"run\"]")
        for task in tasks:
            if not _IDENTIFIER.match(task):
                raise self.fail("tasks", f"{task!r} is not a JavaScript export name")
        return tuple(tasks)

    def limits(self, table: Any) -> Limits:
        if not isinstance(table, dict):
            raise self.fail("limits", f"must be a table ([limits]), not {_toml_type(table)}")
        values: dict[str, int] = {}
        for key, value in table.items():
            where = f"[limits].{key}"
            if key not in _LIMIT_FIELDS:
                raise self.fail(where, f"unknown limit; the known limits are {', '.join(_LIMIT_FIELDS)}")
            minimum, _ = _LIMIT_FIELDS[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(where, f"must be an integer, not {_toml_type(value)}")
            if value < minimum:
                raise self.fail(where, f"{value} is below the minimum of {minimum}; raise it to at least {minimum}")
            ceiling = getattr(self.ceilings, key)
            if ceiling is not None and value > ceiling:
                raise self.fail(where, f"{value} is above the application's ceiling of {ceiling}; "
                                       f"lower it to {ceiling} or less")
            values[key] = value
        defaults = Limits()
        for key in ("memory_mb", "call_timeout_ms"):
            ceiling = getattr(self.ceilings, key)
            if key not in values and ceiling is not None and getattr(defaults, key) > ceiling:
                values[key] = ceiling  # the default never exceeds what the application allows
        return Limits(**values)

    def capabilities(self, table: Any) -> tuple[CapabilityRequest, ...]:
        if not isinstance(table, dict):
            raise self.fail("capabilities", f"must be a table ([capabilities]), not {_toml_type(table)}")
        requests = []
        for name, params in table.items():
            where = f"[capabilities].\"{name}\""
            if not _CAPABILITY.match(name):
                raise self.fail(where, "not a capability name: lowercase words joined by '.', e.g. \"http.fetch\"")
            if not isinstance(params, dict):
                raise self.fail(where, f"must be a table of parameters (use {{}} for none), not {_toml_type(params)}")
            params = dict(params)
            reason = params.pop("reason", "")
            if not isinstance(reason, str):
                raise self.fail(f"{where}.reason", f"must be a string, not {_toml_type(reason)}")
            requests.append(CapabilityRequest(name=name, params=params, reason=reason))
        return tuple(requests)


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)
