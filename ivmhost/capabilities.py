"""Ready-made capabilities an application may offer its plugins (each limited by the grant's params).

Each function returns a class marked with :func:`ivmhost.capability`, bound to what the
application provides (a database file, a sink for notifications, settings...)::

    host = ivmhost.PluginHost(capabilities=[kv_store("app.db"), http_fetch(), notify(print)], ...)

| capability   | made by                 | grant params (from the plugin's manifest)                      |
|--------------|-------------------------|----------------------------------------------------------------|
| `kv`         | :func:`kv_store`        | `namespace` (default: the plugin's name)                        |
| `http.fetch` | :func:`http_fetch`      | `hosts`: the host names the plugin may fetch from (required)    |
| `notify`     | :func:`notify`          | `channel` (default: the plugin's name)                          |
| `settings`   | :func:`settings`        | `prefix`: the setting keys the plugin may read (default: all)   |
| `files`      | :func:`read_only_files` | `paths`: glob patterns, relative to the root, it may read       |
"""

from __future__ import annotations

import fnmatch
import json
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio

from ivmhost._capabilities import Grant, capability

__all__ = ["http_fetch", "kv_store", "notify", "read_only_files", "settings"]


class CapabilityDenied(PermissionError):
    """A plugin asked a capability for something its grant does not allow."""


def kv_store(path: str | Path = ":memory:") -> type:
    """``kv``: a key-value store in SQLite (one table, a namespace per grant). Values are JSON."""
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT, key TEXT, value TEXT, PRIMARY KEY (ns, key))")
    lock = threading.Lock()

    @capability("kv")
    class KV:
        """get/put/delete/keys/incr within the grant's namespace."""

        def __init__(self, grant: Grant) -> None:
            self._ns = str(grant.params.get("namespace", grant.plugin))

        def get(self, key: str, default: Any = None) -> Any:
            with lock:
                row = connection.execute("SELECT value FROM kv WHERE ns = ? AND key = ?", (self._ns, str(key))).fetchone()
            return default if row is None else json.loads(row[0])

        def put(self, key: str, value: Any) -> None:
            text = json.dumps(value)
            with lock:
                connection.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (self._ns, str(key), text))

        def delete(self, key: str) -> bool:
            with lock:
                return connection.execute("DELETE FROM kv WHERE ns = ? AND key = ?", (self._ns, str(key))).rowcount > 0

        def keys(self, prefix: str = "") -> list[str]:
            with lock:
                rows = connection.execute("SELECT key FROM kv WHERE ns = ? AND key LIKE ? ESCAPE '\\' ORDER BY key",
                                          (self._ns, _like_prefix(str(prefix)))).fetchall()
            return [row[0] for row in rows]

        def incr(self, key: str, by: float = 1) -> Any:
            """Add ``by`` to a number (0 when absent) atomically; returns the new value."""
            with lock:
                row = connection.execute("SELECT value FROM kv WHERE ns = ? AND key = ?", (self._ns, str(key))).fetchone()
                value = (json.loads(row[0]) if row else 0) + by
                connection.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (self._ns, str(key), json.dumps(value)))
            return value

    # The connection lives as long as the capability class (a host keeps it while it runs).
    weakref.finalize(KV, connection.close)
    return KV


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def http_fetch(timeout: float = 10.0, max_bytes: int = 1 << 20,
               opener: Callable[..., Any] = urllib.request.urlopen) -> type:
    """``http.fetch``: ``await fetch(url, {method, headers, body})`` -> ``{status, ok, headers,
    text}``, only to the hosts listed in the grant's ``hosts`` (http and https; no redirects to
    other hosts; at most ``max_bytes`` of body)."""

    @capability("http.fetch")
    class HttpFetch:
        def __init__(self, grant: Grant) -> None:
            hosts = grant.params.get("hosts")
            if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
                raise CapabilityDenied(f"plugin '{grant.plugin}': http.fetch needs hosts = [\"example.com\", ...] in its manifest")
            self._hosts = {h.lower() for h in hosts}

        async def fetch(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
            request = self._request(str(url), dict(options or {}))
            return await anyio.to_thread.run_sync(self._send, request)

        def _request(self, url: str, options: dict[str, Any]) -> urllib.request.Request:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise CapabilityDenied(f"only http and https URLs may be fetched, not {parts.scheme or 'a relative URL'}")
            if (parts.hostname or "").lower() not in self._hosts:
                raise CapabilityDenied(f"{parts.hostname} is not among the hosts granted: {', '.join(sorted(self._hosts))}")
            body = options.get("body")
            data = body.encode() if isinstance(body, str) else body
            return urllib.request.Request(url, data=data, method=str(options.get("method", "GET")).upper(),
                                          headers={str(k): str(v) for k, v in dict(options.get("headers") or {}).items()})

        def _send(self, request: urllib.request.Request) -> dict[str, Any]:
            try:
                response = opener(request, timeout=timeout)
            except urllib.error.HTTPError as error:
                response = error
            with response:
                final = urllib.parse.urlsplit(response.geturl()).hostname or ""
                if final.lower() not in self._hosts:
                    raise CapabilityDenied(f"the request was redirected to {final}, which was not granted")
                raw = response.read(max_bytes + 1)
                if len(raw) > max_bytes:
                    raise CapabilityDenied(f"the response is larger than {max_bytes} bytes")
                status = response.status
                return {"status": status, "ok": 200 <= status < 300, "headers": dict(response.headers.items()),
                        "text": raw.decode(response.headers.get_content_charset() or "utf-8", "replace")}

    return HttpFetch


def notify(sink: Callable[[str, str, Any], object]) -> type:
    """``notify``: ``send(message)`` calls ``sink(plugin, channel, message)`` in the application."""

    @capability("notify")
    class Notify:
        def __init__(self, grant: Grant) -> None:
            self._plugin = grant.plugin
            self._channel = str(grant.params.get("channel", grant.plugin))

        def send(self, message: Any) -> None:
            sink(self._plugin, self._channel, message)

    return Notify


def settings(values: Mapping[str, Any]) -> type:
    """``settings``: ``get(key, default)`` and ``keys()`` over the application's settings, limited
    to keys starting with the grant's ``prefix``."""

    @capability("settings")
    class Settings:
        def __init__(self, grant: Grant) -> None:
            self._prefix = str(grant.params.get("prefix", ""))

        def get(self, key: str, default: Any = None) -> Any:
            key = str(key)
            if not key.startswith(self._prefix):
                raise CapabilityDenied(f"setting '{key}' is outside the granted prefix '{self._prefix}'")
            return values.get(key, default)

        def keys(self) -> list[str]:
            return sorted(k for k in values if k.startswith(self._prefix))

    return Settings


def read_only_files(root: str | Path) -> type:
    """``files``: ``read_text(path)`` and ``find(pattern)`` under ``root``, limited to the grant's
    ``paths`` globs (relative to the root; nothing outside it, whatever the path says)."""
    base = Path(root).resolve()

    @capability("files")
    class Files:
        def __init__(self, grant: Grant) -> None:
            paths = grant.params.get("paths", [])
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise CapabilityDenied(f"plugin '{grant.plugin}': files needs paths = [\"*.json\", ...] in its manifest")
            self._patterns: Iterable[str] = tuple(paths)

        def read_text(self, path: str) -> str:
            return self._checked(str(path)).read_text(encoding="utf-8")

        def find(self, pattern: str = "*") -> list[str]:
            found = (p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
            return sorted(p for p in found if fnmatch.fnmatch(p, str(pattern)) and self._allowed(p))

        def _allowed(self, relative: str) -> bool:
            return any(fnmatch.fnmatch(relative, pattern) for pattern in self._patterns)

        def _checked(self, path: str) -> Path:
            target = (base / path).resolve()
            if not target.is_relative_to(base):
                raise CapabilityDenied(f"'{path}' is outside the files the application shares")
            relative = target.relative_to(base).as_posix()
            if not self._allowed(relative):
                raise CapabilityDenied(f"'{relative}' does not match the granted paths: {', '.join(self._patterns)}")
            return target

    return Files
