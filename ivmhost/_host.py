"""PluginHost: one isolate per plugin, capabilities as ES modules, pluggy hooks, timers, anyio tasks.

Built on the public engine API only (DESIGN.md, "Host framework"). The pieces:

- :class:`PluginHost` loads plugin folders, keeps the pluggy manager, the fault policy and the
  timer service, and (under ``async with``) a task group for plugin tasks.
- :class:`Plugin` is what the application sees of one plugin: its manifest, metrics, audit, state.
- ``_Instance`` is one isolate's life for a plugin (a restart or reload makes a new one).
- ``_Realm`` is one context in that isolate with the plugin runtime and the plugin's module graph:
  the main realm serves hooks; each task gets a realm of its own, so cancelling a task releases its
  context and timers and nothing of it can run again.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import pluggy

from ivmhost._capabilities import Audit, AuditEntry, Grant, LentCapability, capability_name, export_names
from ivmhost._async import Waker
from ivmhost._engine import Isolate, Module, Reference
from ivmhost._errors import (
    CapabilityError,
    IsolateDisposedError,
    IvmhostError,
    JSError,
    MemoryLimitError,
    PluginError,
    PluginQuarantinedError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
    _WouldBlockLoopError,
)
from ivmhost._hooks import PROJECT, AsyncHookRelay, hook_argnames, hook_names, js_hook_impl
from ivmhost._manifest import ISOLATIONS, MANIFEST_NAME, CapabilityRequest, Limits, Manifest
from ivmhost._process import ProcessInstance
from ivmhost._types import TransferOptions
from ivmhost._undefined import undefined

__all__ = ["FaultPolicy", "Plugin", "PluginHost", "PluginMetrics", "PluginTask", "Problem", "Quarantine", "Restart"]

_log = logging.getLogger("ivmhost.host")
# What a plugin can do wrong during a call: each becomes a PluginError (or is skipped).
_FAULTS = (JSError, ScriptTimeoutError, IsolateDisposedError, TransferError, ReleasedError, IvmhostError)
_RUNTIME_FILE = Path(__file__).with_name("runtime.js")
_PROMISE = TransferOptions(promise=True)
_REFERENCE = TransferOptions(reference=True)
_CAPABILITY_PREFIX = "ivmhost:"


# -- policies and reports ---------------------------------------------------------------------


@attrs.frozen
class Quarantine:
    """Fault policy: failures raise PluginError; after ``after`` failures in a row the plugin is
    quarantined: its hooks are skipped and direct calls raise PluginQuarantinedError until
    ``host.reload(name)``."""

    after: int = 3


@attrs.frozen
class Restart:
    """Fault policy: failures raise PluginError; a plugin whose isolate died (memory limit) is
    restarted on its next call, at most ``max_restarts`` times (None: no limit)."""

    max_restarts: int | None = None


FaultPolicy = str | Quarantine | Restart
"""``"raise"`` (the default), ``"skip"`` (hooks drop a failing plugin's result), :class:`Quarantine`
or :class:`Restart`."""


@attrs.frozen
class _Policy:
    skip: bool = False
    quarantine_after: int | None = None
    restart: bool = False
    max_restarts: int | None = None

    @classmethod
    def of(cls, on_fault: FaultPolicy) -> _Policy:
        if on_fault == "raise":
            return cls()
        if on_fault == "skip":
            return cls(skip=True)
        if isinstance(on_fault, Quarantine):
            if on_fault.after < 1:
                raise ValueError("Quarantine(after=) must be at least 1")
            return cls(quarantine_after=on_fault.after)
        if isinstance(on_fault, Restart):
            return cls(restart=True, max_restarts=on_fault.max_restarts)
        raise ValueError(f"on_fault must be 'raise', 'skip', ivmhost.Quarantine(...) or ivmhost.Restart(...), not {on_fault!r}")


@attrs.frozen
class PluginMetrics:
    """A plugin's counters since it was loaded (restarts keep counting; a reload starts afresh)."""

    calls: int
    errors: int
    timeouts: int
    memory_limit_hits: int
    restarts: int
    cpu_time_ns: int
    heap_used_bytes: int
    capability_calls: int


@attrs.frozen
class Problem:
    """Something ``host.check()`` found: ``kind`` is one of unknown-export, unused-grant,
    denied-capability, unknown-capability."""

    plugin: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.plugin}: {self.message}"


# -- timers -----------------------------------------------------------------------------------


class _TimerService:
    """One thread per host that posts due timers to their isolate's own executor (it never runs
    JavaScript itself, and never waits for an isolate)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, _Realm, int]] = []
        self._live: dict[tuple[int, int], int] = {}  # (id(realm), timer id) -> its heap entry's seq
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def schedule(self, realm: _Realm, timer: int, delay_ms: float) -> None:
        due = time.monotonic() + max(0.0, float(delay_ms)) / 1000
        with self._cv:
            if self._closed:
                return
            seq = next(self._seq)
            self._live[(id(realm), timer)] = seq
            heapq.heappush(self._heap, (due, seq, realm, timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ivmhost-timers", daemon=True)
                self._thread.start()
            self._cv.notify()

    def cancel(self, realm: _Realm, timer: int) -> None:
        with self._cv:
            self._live.pop((id(realm), timer), None)

    def forget(self, realm: _Realm) -> None:
        with self._cv:
            for key in [key for key in self._live if key[0] == id(realm)]:
                del self._live[key]

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._heap.clear()
            self._live.clear()
            self._cv.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cv.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._closed:
                    return
                _, seq, realm, timer = heapq.heappop(self._heap)
                if self._live.get((id(realm), timer)) != seq:
                    continue  # cancelled, or rescheduled under a newer entry
                del self._live[(id(realm), timer)]
            realm.fire(timer)


# -- one context of a plugin ------------------------------------------------------------------


@functools.cache
def _runtime_source() -> str:
    return _RUNTIME_FILE.read_text(encoding="utf-8")



class _Realm:
    """A context with the plugin runtime and the plugin's module graph."""

    def __init__(self, instance: _Instance) -> None:
        self.instance = instance
        self.plugin = instance.plugin
        self.closed = False
        self.started = time.monotonic()
        self.modules: dict[Path, Module] = {}
        self.capability_modules: dict[str, Module] = {}
        self.paths: dict[int, Path] = {}  # id(Module) -> its file
        self.functions: dict[str, Reference] = {}
        self.export_kinds: dict[str, str] = {}
        self.failure: BaseException | None = None  # the last timer callback that failed
        self.waker: Waker | None = None  # a task waiting on this realm hears of failures
        self.context = instance.isolate.create_context_sync(inspector=instance.isolate.inspector)
        logger = self.plugin.logger
        levels = {"log": logging.INFO, "info": logging.INFO, "warn": logging.WARNING,
                  "error": logging.ERROR, "debug": logging.DEBUG}
        timers = self.plugin.host._timers

        def log(level: str, text: str) -> None:
            logger.log(levels.get(level, logging.INFO), "%s", text)

        def schedule(timer: int, delay_ms: float) -> None:
            if not self.closed:
                timers.schedule(self, int(timer), delay_ms)

        def cancel(timer: int) -> None:
            timers.cancel(self, int(timer))

        def now() -> float:
            return (time.monotonic() - self.started) * 1000

        bridge = {"log": log, "schedule": schedule, "cancel": cancel, "now": now}
        self.fire_ref = self.context.eval_closure_sync(
            f"return ({_runtime_source()})($0)", [bridge], result=_REFERENCE, timeout=self.timeout_ms,
            filename="ivmhost:runtime",
        )

    @property
    def timeout_ms(self) -> int:
        return self.plugin.manifest.limits.call_timeout_ms

    def load_entry(self) -> None:
        manifest = self.plugin.manifest
        entry = self.compile(manifest.entry_path.resolve())
        entry.instantiate_sync(self.context, self.resolve)
        entry.evaluate_sync(timeout=self.timeout_ms)
        namespace = entry.namespace
        kinds = self.context.eval_closure_sync(
            "const ns = $0; return Object.keys(ns).map((k) => [k, typeof ns[k]])",
            [namespace.deref_into()], timeout=self.timeout_ms,
        )
        for name, kind in kinds:
            self.export_kinds[name] = kind
            if kind == "function":
                self.functions[name] = namespace.get_sync(name)

    def compile(self, path: Path) -> Module:
        module = self.modules.get(path)
        if module is None:
            code = path.read_text(encoding="utf-8")
            url = path.as_uri()
            module = self.instance.isolate.compile_module_sync(
                code, filename=str(path), meta=lambda meta: meta.set_sync("url", url))
            self.modules[path] = module
            self.paths[id(module)] = path
            self.instance.realm_of[id(module)] = self
        return module

    def resolve(self, specifier: str, referrer: Module | str | None) -> Module:
        """Plugin modules resolve inside the plugin's folder; ``ivmhost:<name>`` is a capability."""
        if specifier.startswith(_CAPABILITY_PREFIX):
            return self.capability_module(specifier[len(_CAPABILITY_PREFIX):])
        if not specifier.startswith(("./", "../", "/")):
            raise ImportError(
                f"'{specifier}' is not available to plugins: import files of the plugin by a relative "
                f"path ('./lib.js'), capabilities as 'ivmhost:<name>', and bundle other packages"
            )
        if isinstance(referrer, Module):
            base = self.paths.get(id(referrer), self.plugin.manifest.entry_path.resolve())
        elif isinstance(referrer, str) and referrer.startswith("/"):
            base = Path(referrer)
        else:
            base = self.plugin.manifest.entry_path.resolve()
        folder = self.plugin.manifest.folder.resolve()
        target = (base.parent / specifier).resolve()
        if not target.is_relative_to(folder):
            raise ImportError(f"'{specifier}' is outside the plugin's folder; plugins import only their own files")
        if not target.is_file():
            raise ImportError(f"'{specifier}' does not exist ({target})")
        return self.compile(target)

    def capability_module(self, name: str) -> Module:
        module = self.capability_modules.get(name)
        if module is None:
            lent = self.instance.lend(name)
            module = self.instance.isolate.compile_module_sync(
                lent.module_source(), filename=f"{_CAPABILITY_PREFIX}{name}",
                meta=lambda meta: meta.set_sync("ivmhost", lent.exports))
            self.capability_modules[name] = module
            self.instance.realm_of[id(module)] = self
        return module

    def fire(self, timer: int) -> None:
        """A due timer: run it on the isolate's own executor (queued, never waited for here)."""
        if self.closed or self.instance.isolate.is_disposed:
            return
        try:
            self.fire_ref.apply_ignored(None, [timer], timeout=self.timeout_ms, on_error=self._step_failed)
        except IvmhostError:
            pass  # the isolate went away between the check and the call: the timer dies with it

    def _step_failed(self, error: BaseException) -> None:
        """A timer callback timed out or hit the memory limit (the runtime catches what JavaScript
        throws): counted, logged, and the task running in this realm (if any) fails with it."""
        if self.closed:
            return  # a timer queued before the realm closed, refused since: not a failure
        self.plugin._timer_failed(error)
        self.failure = error
        if self.waker is not None:
            self.waker.wake()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.plugin.host._timers.forget(self)
        for module in [*self.modules.values(), *self.capability_modules.values()]:
            self.instance.realm_of.pop(id(module), None)
        if not self.instance.isolate.is_disposed:
            try:
                # Released first: a timer already queued on the isolate's thread then finds the
                # runtime's fire() gone and runs nothing. Then the modules and the context go.
                self.fire_ref.release()
                for function in self.functions.values():
                    function.release()
                for module in [*self.modules.values(), *self.capability_modules.values()]:
                    module.release()
                self.context.release()
            except IvmhostError:
                pass  # disposed meanwhile: everything went with the isolate
        self.functions.clear()
        self.modules.clear()
        self.capability_modules.clear()
        self.paths.clear()


# -- one isolate of a plugin ------------------------------------------------------------------


class _Instance:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.isolate = Isolate(memory_limit=plugin.manifest.limits.memory_mb,
                               inspector=plugin.host.inspector,
                               import_module=self._import_dynamically)
        self.lent: dict[str, LentCapability] = {}
        self.imported: set[str] = set()
        self.realm_of: dict[int, _Realm] = {}
        self.lock = threading.Lock()
        self.main: _Realm | None = None
        self.tasks: set[_Realm] = set()

    def start(self) -> None:
        try:
            self.main = _Realm(self)
            self.main.load_entry()
        except BaseException:
            self.close()
            raise

    def new_task_realm(self) -> _Realm:
        realm = _Realm(self)
        self.tasks.add(realm)
        try:
            realm.load_entry()
        except BaseException:
            self.drop_task_realm(realm)
            raise
        return realm

    def drop_task_realm(self, realm: _Realm) -> None:
        self.tasks.discard(realm)
        realm.close()

    def lend(self, name: str) -> LentCapability:
        """The capability ``name`` for this plugin, made on its first import; CapabilityError
        when the manifest did not ask for it or it was not granted."""
        plugin = self.plugin
        with self.lock:
            lent = self.lent.get(name)
            if lent is None:
                request = plugin.check_capability(name)
                grant = Grant(plugin=plugin.name, capability=name, params=dict(request.params), reason=request.reason)
                lent = LentCapability(plugin.host._capabilities[name], grant, plugin.audit_log)
                self.lent[name] = lent
            self.imported.add(name)
            return lent

    def _import_dynamically(self, specifier: str, referrer: Module | str | None) -> Module:
        realm = self.realm_of.get(id(referrer)) if isinstance(referrer, Module) else None
        realm = realm or self.main
        if realm is None:
            raise ImportError("the plugin is not loaded")
        module = realm.resolve(specifier, referrer)
        return module

    def close(self) -> None:
        for realm in list(self.tasks):
            self.drop_task_realm(realm)
        if self.main is not None:
            self.main.close()
        if not self.isolate.is_disposed:
            self.isolate.dispose()


# -- the plugin as the application sees it ---------------------------------------------------


class Plugin:
    """A loaded plugin: ``name``, ``manifest``, ``grants``, ``state`` ("active", "quarantined" or
    "unloaded"), ``metrics``, ``exports``. Made by :meth:`PluginHost.load`."""

    def __init__(self, host: PluginHost, manifest: Manifest, grants: frozenset[str]) -> None:
        self.host = host
        self.manifest = manifest
        self.name = manifest.name
        self.grants = grants
        self.state = "active"
        self.logger = logging.getLogger(f"ivmhost.plugin.{self.name}")
        self.audit_log = Audit()
        for name in sorted(grants):
            target = host._capabilities[name]
            for method in export_names(target):
                self.audit_log.entry(name, method)
        self._lock = threading.Lock()
        self._counts = collections.Counter[str]()
        self._failures_in_row = 0
        self._cpu_samples: collections.deque[tuple[float, int]] = collections.deque()
        self._instance: _Instance | None = None

    def __repr__(self) -> str:
        return f"<ivmhost.Plugin {self.name} {self.manifest.version} {self.state}>"

    # -- what the application reads --

    @property
    def exports(self) -> dict[str, str]:
        """The entry module's exports: name -> JavaScript ``typeof``."""
        instance = self._instance
        return dict(instance.main.export_kinds) if instance is not None and instance.main is not None else {}

    @property
    def isolate(self) -> Isolate | None:
        """The plugin's isolate now (a restart or reload replaces it)."""
        return self._instance.isolate if self._instance is not None else None

    @property
    def metrics(self) -> PluginMetrics:
        cpu = heap = 0
        isolate = self.isolate
        if isolate is not None and not isolate.is_disposed:
            try:
                cpu = isolate.cpu_time
                heap = isolate.get_heap_statistics_sync().used_heap_size
            except IvmhostError:
                pass  # disposed meanwhile
        with self._lock:
            counts = dict(self._counts)
        return PluginMetrics(
            calls=counts.get("calls", 0), errors=counts.get("errors", 0), timeouts=counts.get("timeouts", 0),
            memory_limit_hits=counts.get("memory_limit_hits", 0), restarts=counts.get("restarts", 0),
            cpu_time_ns=cpu, heap_used_bytes=heap, capability_calls=self.audit_log.total_calls(),
        )

    def audit(self) -> list[AuditEntry]:
        """Capability use: one entry per method of each granted capability (unused ones at 0)."""
        return self.audit_log.entries()

    # -- calling the plugin --

    def call(self, export: str, *args: Any) -> Any:
        """Call the export ``export`` with ``args`` (copied in; the result copied out; a Promise
        is waited for). Faults follow the host's policy."""
        return self._invoke(export, args, hook=False)

    async def acall(self, export: str, *args: Any) -> Any:
        """Async twin of :meth:`call`."""
        return await self._invoke_async(export, args, hook=False)

    def _hook_callers(self, export: str) -> tuple[Callable[[tuple[Any, ...]], Any],
                                                  Callable[[tuple[Any, ...]], Awaitable[Any]]]:
        def call(args: tuple[Any, ...]) -> Any:
            return self._invoke(export, args, hook=True)

        async def call_async(args: tuple[Any, ...]) -> Any:
            return await self._invoke_async(export, args, hook=True)

        return call, call_async

    def _invoke(self, export: str, args: tuple[Any, ...], *, hook: bool) -> Any:
        instance = self._ready(hook)
        if instance is None:
            return None
        function = self._function(instance, export)
        try:
            self._check_cpu(instance)
            self._count("calls")
            value = function.apply_sync_promise(None, list(args), timeout=self.manifest.limits.call_timeout_ms)
        except _WouldBlockLoopError:
            raise  # the application's mistake (a sync call from async code), not the plugin's
        except _FAULTS as exc:
            return self._fault(exc, export, hook)
        self._succeeded(instance)
        return None if value is undefined else value

    async def _invoke_async(self, export: str, args: tuple[Any, ...], *, hook: bool) -> Any:
        instance = self._ready(hook)
        if instance is None:
            return None
        function = self._function(instance, export)
        timeout = self.manifest.limits.call_timeout_ms
        try:
            self._check_cpu(instance)
            self._count("calls")
            # The wait is bounded here for in-process plugins; a worker process enforces its own
            # timeout and is killed by the host when it overruns (ivmhost/_process.py).
            bound = timeout / 1000 if isinstance(instance, _Instance) else None
            try:
                with anyio.fail_after(bound):
                    value = await function.apply(None, list(args), result=_PROMISE, timeout=timeout)
            except TimeoutError as exc:
                if isinstance(exc, ScriptTimeoutError):
                    raise
                raise ScriptTimeoutError() from None
        except _FAULTS as exc:
            return self._fault(exc, export, hook)
        self._succeeded(instance)
        return None if value is undefined else value

    async def _run_task(self, export: str, args: tuple[Any, ...]) -> Any:
        instance = self._ready(False)
        assert instance is not None
        self._count("calls")
        if isinstance(instance, ProcessInstance):
            try:
                value = await instance.run_task(export, args)
            except _FAULTS as exc:
                return self._fault(exc, export, False)
            return None if value is undefined else value
        try:
            realm = await anyio.to_thread.run_sync(instance.new_task_realm)
        except _FAULTS as exc:
            return self._fault(exc, export, False)
        try:
            function = realm.functions.get(export)
            if function is None:
                raise PluginError(self.name, LookupError(self._no_export(export, realm)), f"task '{export}'")
            waker = realm.waker = Waker()
            outcome: list[tuple[bool, Any]] = []
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    # A timer step of this task that times out leaves its promise pending forever.
                    if realm.failure is None:
                        await waker.wait()
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                try:
                    value = await function.apply(None, list(args), result=_PROMISE,
                                                 timeout=self.manifest.limits.call_timeout_ms)
                    outcome.append((True, value))
                except _FAULTS as exc:
                    outcome.append((False, exc))
                group.cancel_scope.cancel()
            if not outcome:
                assert realm.failure is not None  # counted already, by _timer_failed
                return self._fault(realm.failure, export, False, counted=True)
            ok, value = outcome[0]
            if not ok:
                return self._fault(value, export, False)
            return None if value is undefined else value
        finally:
            instance.drop_task_realm(realm)
            # A timer step of the task may be running on the isolate's thread right now; the task
            # is over once it ended. The executor runs in order: a step queued behind it will do.
            with anyio.move_on_after(5, shield=True):
                try:
                    await instance.isolate.get_heap_statistics()
                except IvmhostError:
                    pass  # the isolate went away: nothing of the task runs any more

    def _ready(self, hook: bool) -> _Instance | None:
        """The live instance, restarted first when the policy says so; None to skip a hook."""
        if self.state == "quarantined":
            if hook:
                return None
            raise PluginQuarantinedError(self.name, IvmhostError("the plugin is quarantined; reload it to use it again"))
        if self.state == "unloaded":
            raise PluginError(self.name, IvmhostError("the plugin was unloaded"))
        instance = self._instance
        assert instance is not None
        policy = self.host._policy
        # A dead worker process always comes back: containing such faults is what it is for.
        if instance.isolate.is_disposed and (policy.restart or isinstance(instance, ProcessInstance)):
            with self._lock:
                restarts = self._counts["restarts"]
            if policy.max_restarts is None or restarts < policy.max_restarts:
                self._restart()
                instance = self._instance
                assert instance is not None
        return instance

    def _function(self, instance: _Instance, export: str) -> Reference:
        assert instance.main is not None
        function = instance.main.functions.get(export)
        if function is None:
            raise AttributeError(self._no_export(export, instance.main))
        return function

    def _no_export(self, export: str, realm: _Realm) -> str:
        functions = ", ".join(sorted(realm.functions)) or "none"
        return f"plugin '{self.name}' exports no function '{export}' (its functions: {functions})"

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def _check_cpu(self, instance: _Instance) -> None:
        budget = self.manifest.limits.cpu_ms_per_minute
        if budget is None:
            return
        now = time.monotonic()
        samples = self._cpu_samples
        while len(samples) > 1 and samples[1][0] <= now - 60:
            samples.popleft()
        if samples:
            used_ms = (instance.isolate.cpu_time - samples[0][1]) / 1e6
            if used_ms > budget:
                raise IvmhostError(f"CPU budget exceeded: {used_ms:.0f} ms used in the last minute, "
                                   f"the manifest allows {budget} ms (limits.cpu_ms_per_minute)")

    def _succeeded(self, instance: _Instance) -> None:
        with self._lock:
            self._failures_in_row = 0
        if self.manifest.limits.cpu_ms_per_minute is not None and not instance.isolate.is_disposed:
            self._cpu_samples.append((time.monotonic(), instance.isolate.cpu_time))

    def _fault(self, exc: BaseException, export: str, hook: bool, counted: bool = False) -> None:
        """Count a failed call and do what the policy says: raise PluginError, skip, quarantine."""
        policy = self.host._policy
        if not counted:
            self._count_failure(exc)
        with self._lock:
            self._failures_in_row += 1
            in_row = self._failures_in_row
        action = f"hook '{export}'" if hook else f"'{export}'"
        self.logger.warning("%s failed: %s: %s", action, type(exc).__name__, exc)
        if policy.quarantine_after is not None and in_row >= policy.quarantine_after:
            self.host._quarantine(self)
            raise PluginQuarantinedError(self.name, exc, action) from exc
        if policy.skip and hook:
            return None
        raise PluginError(self.name, exc, action) from exc

    def _count_failure(self, error: BaseException) -> None:
        with self._lock:
            self._counts["errors"] += 1
            self._counts["timeouts"] += isinstance(error, ScriptTimeoutError)
            # A hit is a call the limit stopped, not each call refused by the dead isolate after it.
            self._counts["memory_limit_hits"] += isinstance(error, MemoryLimitError) and "during execution" in str(error)

    def _timer_failed(self, error: BaseException) -> None:
        self._count_failure(error)
        self.logger.warning("a timer callback failed: %s: %s", type(error).__name__, error)

    def _restart(self) -> None:
        old = self._instance
        self._instance = None
        if old is not None:
            old.close()
        self._count("restarts")
        self._start()
        self.logger.info("restarted with a fresh isolate")

    @property
    def isolation(self) -> str:
        """Where the plugin runs: "isolate" (this process) or "process" (a worker process)."""
        return self.host._isolation or self.manifest.isolation

    def _start(self) -> None:
        instance: Any = ProcessInstance(self) if self.isolation == "process" else _Instance(self)
        try:
            instance.start()
        except CapabilityError:
            raise
        except _FAULTS as exc:
            denied = _cause_of(exc, CapabilityError)
            if denied is not None:
                raise denied from None
            raise PluginError(self.name, exc, "load") from exc
        self._instance = instance
        # The CPU budget counts from the isolate's birth (its start-up included).
        self._cpu_samples.clear()
        self._cpu_samples.append((time.monotonic(), 0))

    def check_capability(self, name: str) -> CapabilityRequest:
        request = self.manifest.capability(name)
        if request is None:
            raise CapabilityError(self.name, name, f"the manifest does not request it; add [capabilities] \"{name}\" = {{}} to {self.manifest.file}")
        if name not in self.host._capabilities:
            raise CapabilityError(self.name, name, "the application offers no such capability")
        if name not in self.grants:
            raise CapabilityError(self.name, name, f"not granted; the application must grant it (grants={{'{self.name}': {{'{name}'}}}})")
        return request

    def _close(self) -> None:
        self.state = "unloaded"
        instance, self._instance = self._instance, None
        if instance is not None:
            instance.close()


def _cause_of(exc: BaseException, kind: type[BaseException]) -> Any:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# -- tasks ------------------------------------------------------------------------------------


class PluginTask:
    """A plugin export running as an anyio task (made by :meth:`PluginHost.start_task`).
    ``await task.wait()`` returns its result or raises its PluginError; ``task.cancel()`` stops
    the JavaScript (its context and timers are released)."""

    def __init__(self, plugin: Plugin, export: str, args: tuple[Any, ...]) -> None:
        self.plugin = plugin
        self.export = export
        self.args = args
        self._done = anyio.Event()
        self._scope = anyio.CancelScope()
        self._result: Any = None
        self._error: BaseException | None = None
        self.cancelled = False

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "done" if self.done else "running"
        return f"<ivmhost.PluginTask {self.plugin.name}.{self.export} {state}>"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop the task: the JavaScript it runs is terminated and its context released."""
        self._scope.cancel()

    async def wait(self) -> Any:
        """Wait for the task; its result, or its PluginError raised (IvmhostError if cancelled)."""
        await self._done.wait()
        if self.cancelled:
            raise IvmhostError(f"task {self.plugin.name}.{self.export} was cancelled")
        if self._error is not None:
            raise self._error
        return self._result

    async def _run(self) -> None:
        finished = False
        try:
            with self._scope:
                try:
                    self._result = await self.plugin._run_task(self.export, self.args)
                except IvmhostError as exc:  # PluginError and friends: the task's outcome
                    self._error = exc
                    self.plugin.logger.warning("task %s failed: %s", self.export, exc)
                finished = True
        finally:
            # Not finished: cancelled, by task.cancel() or by the host's block ending.
            self.cancelled = not finished
            self._done.set()


# -- the host ---------------------------------------------------------------------------------


class _HookProxy:
    """What pluggy registers for a JavaScript plugin: its hook implementations as attributes.
    (Compared by identity: pluggy refuses a second plugin equal to one it holds.)"""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<ivmhost JavaScript plugin {self._name}>"



class PluginHost:
    """Loads plugins and lends them the application's capabilities; calls them through pluggy.

    ::

        host = ivmhost.PluginHost(hookspecs=AppHooks, capabilities=[KV], grants={"notes": {"kv"}})
        host.load_dir("plugins/")
        host.hook.on_message(message="hi")      # Python and JavaScript plugins alike
        async with host:                        # anyio: the host owns its plugins' tasks
            host.start_task("ticker", "run", 10)

    ``inspector=True`` makes every in-process plugin's isolate and contexts with the DevTools
    inspector on, so :class:`ivmhost.InspectorServer` can serve ``plugin.isolate`` to a debugger
    (``ivmhost inspect`` does this). Process-tier plugins cannot be inspected.
    """

    def __init__(
        self,
        hookspecs: object | Iterable[object] | None = None,
        capabilities: Iterable[Any] = (),
        grants: Mapping[str, Iterable[str]] | Callable[[Manifest, CapabilityRequest], bool] | None = None,
        ceilings: Limits | None = None,
        on_fault: FaultPolicy = "raise",
        plugin_manager: pluggy.PluginManager | None = None,
        isolation: str | None = None,
        inspector: bool = False,
    ) -> None:
        self.plugin_manager = plugin_manager or pluggy.PluginManager(PROJECT)
        if hookspecs is not None:
            specs: list[Any] = list(hookspecs) if isinstance(hookspecs, (list, tuple)) else [hookspecs]
            for spec in specs:
                self.plugin_manager.add_hookspecs(spec)
        self._capabilities: dict[str, Any] = {}
        for target in capabilities:
            name = capability_name(target)
            if name in self._capabilities:
                raise ValueError(f"two capabilities are named '{name}'")
            self._capabilities[name] = target
        if grants is not None and not callable(grants) and not isinstance(grants, Mapping):
            raise TypeError("grants must be a mapping {plugin: {capability, ...}} or a callable (manifest, request) -> bool")
        self._grants = grants
        self.ceilings = ceilings or Limits(memory_mb=1024, call_timeout_ms=60_000)
        self._policy = _Policy.of(on_fault)
        if isolation not in (None, *ISOLATIONS):
            raise ValueError(f"isolation must be None (each manifest decides), 'isolate' or 'process', not {isolation!r}")
        self._isolation = isolation
        self.inspector = bool(inspector)
        self.plugins: dict[str, Plugin] = {}
        self._timers = _TimerService()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<ivmhost.PluginHost plugins={sorted(self.plugins)}>"

    # -- hooks --

    @property
    def hook(self) -> pluggy.HookRelay:
        """pluggy's hook relay: ``host.hook.on_message(message=m)``."""
        return self.plugin_manager.hook

    @property
    def ahook(self) -> AsyncHookRelay:
        """The async twin: ``await host.ahook.on_message(message=m)``."""
        return AsyncHookRelay(self.plugin_manager)

    # -- loading --

    def load(self, folder: str | Path) -> Plugin:
        """Load the plugin in ``folder`` (its ``plugin.toml`` and entry module) in an isolate of
        its own. ManifestError, CapabilityError or PluginError say what is wrong."""
        self._check_open()
        manifest = Manifest.load(folder, self.ceilings)
        if manifest.name in self.plugins:
            raise ValueError(f"a plugin named '{manifest.name}' is already loaded; unload it first or use host.reload()")
        plugin = Plugin(self, manifest, self._decide_grants(manifest))
        plugin._start()
        self.plugins[plugin.name] = plugin
        self._register_hooks(plugin)
        _log.info("loaded plugin %s %s from %s", plugin.name, manifest.version, manifest.folder)
        return plugin

    def load_dir(self, directory: str | Path) -> list[Plugin]:
        """Load every plugin folder (one holding a plugin.toml) directly under ``directory``."""
        root = Path(directory)
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a directory of plugin folders")
        return [self.load(folder) for folder in sorted(root.iterdir()) if (folder / MANIFEST_NAME).is_file()]

    def unload(self, name: str) -> None:
        """Unload a plugin: its hooks are unregistered, its timers and tasks stop, its isolate goes."""
        plugin = self._plugin(name)
        if self.plugin_manager.get_plugin(name) is not None:
            self.plugin_manager.unregister(name=name)
        del self.plugins[name]
        plugin._close()

    def reload(self, name: str) -> Plugin:
        """Unload and load again from the same folder (new code, fresh isolate, same grants)."""
        old = self._plugin(name)
        self.unload(name)
        manifest = Manifest.load(old.manifest.folder, self.ceilings)
        plugin = Plugin(self, manifest, frozenset(old.grants & {r.name for r in manifest.capabilities}))
        plugin._start()
        self.plugins[plugin.name] = plugin
        self._register_hooks(plugin)
        return plugin

    def _decide_grants(self, manifest: Manifest) -> frozenset[str]:
        granted = set()
        for request in manifest.capabilities:
            if request.name not in self._capabilities:
                continue
            if callable(self._grants):
                allowed = bool(self._grants(manifest, request))
            elif self._grants is not None:
                allowed = request.name in set(self._grants.get(manifest.name, ()))
            else:
                allowed = False
            if allowed:
                granted.add(request.name)
        return frozenset(granted)

    def _register_hooks(self, plugin: Plugin) -> None:
        proxy = _HookProxy(plugin.name)
        for export in plugin.exports:
            argnames = hook_argnames(self.plugin_manager, export)
            if argnames is None or plugin.exports[export] != "function":
                continue
            setattr(proxy, export, js_hook_impl(export, argnames, *plugin._hook_callers(export)))
        self.plugin_manager.register(proxy, name=plugin.name)

    def _quarantine(self, plugin: Plugin) -> None:
        plugin.state = "quarantined"
        if self.plugin_manager.get_plugin(plugin.name) is not None:
            self.plugin_manager.unregister(name=plugin.name)
        plugin.logger.error("quarantined after repeated failures; host.reload(%r) brings it back", plugin.name)

    def _plugin(self, name: str) -> Plugin:
        plugin = self.plugins.get(name)
        if plugin is None:
            loaded = ", ".join(sorted(self.plugins)) or "none"
            raise KeyError(f"no plugin named '{name}' is loaded (loaded: {loaded})")
        return plugin

    def _check_open(self) -> None:
        if self._closed:
            raise IvmhostError("the host is closed")

    # -- reports --

    def audit(self, name: str) -> list[AuditEntry]:
        """Capability use of plugin ``name``: (capability, method, calls, errors) per method of
        each granted capability, unused ones included with 0 calls."""
        return self._plugin(name).audit()

    def check(self) -> list[Problem]:
        """What looks wrong: exports that match no hook (and are not tasks), grants the plugin
        never imports, requested capabilities that were denied or that nobody offers."""
        problems = []
        hooks = set(hook_names(self.plugin_manager))
        for plugin in self.plugins.values():
            for export, kind in plugin.exports.items():
                if kind == "function" and export not in hooks and export not in plugin.manifest.tasks:
                    problems.append(Problem(plugin.name, "unknown-export",
                                            f"export '{export}' matches no hook (hooks: {', '.join(sorted(hooks)) or 'none'}); "
                                            f"list it in the manifest's tasks if it is a task"))
            imported = plugin._instance.imported if plugin._instance is not None else set()
            for request in plugin.manifest.capabilities:
                if request.name not in self._capabilities:
                    problems.append(Problem(plugin.name, "unknown-capability",
                                            f"requests capability '{request.name}', which the application does not offer"))
                elif request.name not in plugin.grants:
                    problems.append(Problem(plugin.name, "denied-capability",
                                            f"requests capability '{request.name}', which was not granted"))
                elif request.name not in imported:
                    problems.append(Problem(plugin.name, "unused-grant",
                                            f"was granted capability '{request.name}' but never imports it"))
        return problems

    # -- tasks and lifetime --

    def start_task(self, plugin: str, export: str, *args: Any) -> PluginTask:
        """Run ``export`` of ``plugin`` as an anyio task in the host's task group (the host must
        be entered: ``async with host:``). It runs in a context of its own, with timers and
        capabilities; cancelling it or leaving the block terminates its JavaScript."""
        if self._task_group is None:
            raise IvmhostError("start_task needs a running host: use it inside `async with host:`")
        task = PluginTask(self._plugin(plugin), export, args)
        self._task_group.start_soon(task._run, name=f"ivmhost task {plugin}.{export}")
        return task

    async def __aenter__(self) -> PluginHost:
        self._check_open()
        group = anyio.create_task_group()
        await group.__aenter__()
        self._task_group = group
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        group, self._task_group = self._task_group, None
        try:
            if group is not None:
                group.cancel_scope.cancel()
                return await group.__aexit__(*exc_info)
            return None
        finally:
            self.close()

    def __enter__(self) -> PluginHost:
        self._check_open()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Unload every plugin and stop the timer thread. Idempotent."""
        if self._closed:
            return
        for name in list(self.plugins):
            self.unload(name)
        self._timers.close()
        self._closed = True
