"""The process tier: a plugin whose isolate runs in a worker process (manifest
``isolation = "process"``, or ``PluginHost(isolation="process")``).

Some faults abort V8 itself and cannot be caught in-process (SECURITY.md). In a worker, such a
fault kills only the worker: the call raises PluginError, the next call starts a new worker, and
the host and the other plugins carry on. The worker is ``python -m ivmhost._worker``: it loads the
plugin with the same host code, in-process there, with proxies for the capabilities; hook calls and
capability calls cross the pipe as JSON lines (never pickle: a compromised worker must not be able
to run code in the host by what it sends back).

Parent side: ``ProcessInstance`` stands in for the in-process ``_Instance`` (the same duck-typed
face: ``main.functions``, ``main.export_kinds``, ``isolate``, ``imported``, ``close``).
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import inspect
import itertools
import json
import logging
import math
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any

import anyio

from ivmhost._async import Waker
from ivmhost._capabilities import Grant, LentCapability, capability, export_names
from ivmhost._errors import (
    CapabilityError,
    IsolateDisposedError,
    IvmhostError,
    JSError,
    MemoryLimitError,
    ReleasedError,
    ScriptTimeoutError,
    TransferError,
)
from ivmhost._undefined import UndefinedType, undefined

if TYPE_CHECKING:
    from ivmhost._host import Plugin

__all__ = ["ProcessInstance"]

_TASK_STOP_GRACE_S = 5.0  # how long a cancelled task's host side waits for the worker to stop it

_ERRORS: dict[str, type[IvmhostError]] = {
    cls.__name__: cls
    for cls in (JSError, ScriptTimeoutError, IsolateDisposedError, MemoryLimitError, ReleasedError,
                TransferError, CapabilityError, IvmhostError)
}


# -- values on the wire -----------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A value that crossed into Python, as JSON (DESIGN.md's copy table, tagged where JSON lacks)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else {"$i": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) and not (value == 0 and math.copysign(1, value) < 0) else {"$f": repr(value)}
    if isinstance(value, UndefinedType):
        return {"$u": 1}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TransferError("A non-transferable value was passed: dict keys must be str")
        return {"$o": {key: encode(item) for key, item in value.items()}}
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return {"$d": value.isoformat()}
    if isinstance(value, BaseException):
        return {"$e": error_to_wire(value)}
    raise TransferError(f"A non-transferable value was passed: {type(value).__name__} cannot reach a worker process")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$o" in value:
        return {key: decode(item) for key, item in value["$o"].items()}
    if "$u" in value:
        return undefined
    if "$i" in value:
        return int(value["$i"])
    if "$f" in value:
        return float(value["$f"])
    if "$b" in value:
        return base64.b64decode(value["$b"])
    if "$d" in value:
        return datetime.datetime.fromisoformat(value["$d"])
    if "$e" in value:
        return error_from_wire(value["$e"])
    raise IvmhostError(f"a worker sent a value ivmhost does not know: {sorted(value)}")


def error_to_wire(error: BaseException) -> dict[str, Any]:
    wire: dict[str, Any] = {"type": type(error).__name__, "message": str(error), "stack": getattr(error, "stack", "")}
    if isinstance(error, JSError):
        wire.update(message=error.message, name=error.name)
    if isinstance(error, CapabilityError):
        wire.update(plugin=error.plugin, capability=error.capability)
    return wire


def error_from_wire(wire: dict[str, Any]) -> IvmhostError:
    kind = _ERRORS.get(str(wire.get("type")), IvmhostError)
    message = str(wire.get("message", ""))
    stack = str(wire.get("stack", ""))
    if kind is JSError:
        return JSError(message, str(wire.get("name", "Error")), stack)
    if kind is CapabilityError:
        error = CapabilityError(str(wire.get("plugin", "")), str(wire.get("capability", "")), "")
        error.args = (message,)
        return error
    if kind in (ScriptTimeoutError, IsolateDisposedError, MemoryLimitError):
        return kind(message, stack)
    if kind is IvmhostError and wire.get("type") not in _ERRORS:
        return IvmhostError(f"{wire.get('type')}: {message}")
    return kind(message)


class _Pipe:
    """JSON lines over a pair of binary streams; writes from several threads are serialised."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes]) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            self._writer.write(line)
            self._writer.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise IvmhostError("a worker sent something that is not a message")
        return message


# -- the parent side --------------------------------------------------------------------------


def _overdue(timeout_ms: float | None) -> float | None:
    """How long the host waits for a call before it kills the worker. The worker's own timeout
    stops ordinary JavaScript; some builtins run on in C++ past it (SECURITY.md): only killing the
    worker ends those."""
    return None if timeout_ms is None else timeout_ms / 1000 * 2 + 2


class _Call:
    """One request in flight: a one-shot signal (a held lock, cheaper to make than an Event), the
    reply, and the waker of an async caller."""

    __slots__ = ("_signal", "reply", "waker")

    def __init__(self) -> None:
        self._signal = threading.Lock()
        self._signal.acquire()
        self.reply: dict[str, Any] | None = None
        self.waker: Waker | None = None

    def finish(self) -> None:
        if self._signal.locked():
            self._signal.release()
        if self.waker is not None:
            self.waker.wake()

    def wait(self, timeout: float | None) -> bool:
        if not self._signal.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._signal.release()
        return True

    def is_done(self) -> bool:
        return not self._signal.locked()


class _WorkerState:
    """What the plugin's code reads as ``instance.isolate``: alive or not, CPU time, heap."""

    def __init__(self, instance: ProcessInstance) -> None:
        self._instance = instance

    @property
    def is_disposed(self) -> bool:
        return self._instance.dead is not None

    @property
    def cpu_time(self) -> int:
        return int(self._instance.request({"op": "stats"}, None).get("cpu_time_ns", 0))

    def get_heap_statistics_sync(self) -> Any:
        """Only the field the host reads (``used_heap_size``), from the worker's isolate."""
        return SimpleNamespace(used_heap_size=int(self._instance.request({"op": "stats"}, None).get("heap_used", 0)))


class _RemoteFunction:
    """An export of the plugin in the worker, with the two call forms the host uses."""

    def __init__(self, instance: ProcessInstance, export: str) -> None:
        self._instance = instance
        self._export = export

    def apply_sync_promise(self, receiver: Any, args: list[Any], *, timeout: float | None = None) -> Any:
        return self._instance.request({"op": "call", "export": self._export, "args": encode(args), "timeout": timeout}, timeout)

    async def apply(self, receiver: Any, args: list[Any], *, result: Any = None, timeout: float | None = None) -> Any:
        return await self._instance.request_async(
            {"op": "call", "export": self._export, "args": encode(args), "timeout": timeout}, timeout)


class _Main:
    def __init__(self) -> None:
        self.functions: dict[str, _RemoteFunction] = {}
        self.export_kinds: dict[str, str] = {}


class ProcessInstance:
    """A plugin's worker process, standing in for ``_host._Instance``."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.main = _Main()
        self.imported: set[str] = set()
        self.dead: str | None = None
        self.isolate = _WorkerState(self)
        self._lent: dict[str, LentCapability] = {}
        self._lent_lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count(1)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"ivmhost-{plugin.name}-caps")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ivmhost._worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._pipe = _Pipe(self._process.stdout, self._process.stdin)
        self._reader = threading.Thread(target=self._read, name=f"ivmhost-{plugin.name}-worker", daemon=True)
        self._reader.start()

    def start(self) -> None:
        plugin = self.plugin
        offered = {}
        for name in plugin.grants:
            target = plugin.host._capabilities[name]
            names = export_names(target)
            is_class = inspect.isclass(target)
            coroutines = [n for n in names if inspect.iscoroutinefunction(getattr(target, n) if is_class else target)]
            offered[name] = {"exports": names, "async": coroutines, "default": None if is_class else names[0]}
        try:
            reply = self.request({"op": "load", "folder": str(plugin.manifest.folder), "capabilities": offered},
                                 None)
        except BaseException:
            self.close()
            raise
        self.main.export_kinds = dict(reply["exports"])
        self.main.functions = {name: _RemoteFunction(self, name) for name, kind in reply["exports"].items() if kind == "function"}

    async def run_task(self, export: str, args: tuple[Any, ...]) -> Any:
        """A task in the worker (a context of its own there); cancelling it cancels it there."""
        call, ident = self._send({"op": "task", "export": export, "args": encode(list(args))}, Waker())
        assert call.waker is not None
        try:
            if not call.is_done():
                await call.waker.wait()
        except BaseException:
            if not call.is_done():
                try:
                    self._pipe.send({"op": "cancel", "id": 0, "task": ident})
                except OSError:
                    pass  # the worker is gone, and the task with it
                else:
                    # The task stops in the worker when the cancellation reaches it, and answers
                    # then: wait for that answer (bounded), so no step of it runs after this returns.
                    with anyio.move_on_after(_TASK_STOP_GRACE_S, shield=True):
                        await call.waker.wait()
            self._calls.pop(ident, None)
            raise
        return self._outcome(ident, call)

    # -- requests --

    def request(self, message: dict[str, Any], timeout_ms: float | None) -> Any:
        call, ident = self._send(message)
        if not call.wait(_overdue(timeout_ms)):
            self._kill("it did not stop at its timeout")
            call.wait(5)
        return self._outcome(ident, call)

    async def request_async(self, message: dict[str, Any], timeout_ms: float | None) -> Any:
        call, ident = self._send(message, Waker())
        assert call.waker is not None
        if not call.is_done():
            with anyio.move_on_after(_overdue(timeout_ms)):
                await call.waker.wait()
            if not call.is_done():
                self._kill("it did not stop at its timeout")
                await call.waker.wait()
        return self._outcome(ident, call)

    def _send(self, message: dict[str, Any], waker: Waker | None = None) -> tuple[_Call, int]:
        if self.dead is not None:
            raise IsolateDisposedError(f"the plugin's worker process is gone ({self.dead})")
        ident = next(self._ids)
        call = self._calls[ident] = _Call()
        call.waker = waker
        try:
            self._pipe.send({**message, "id": ident})
        except OSError:
            self._calls.pop(ident, None)
            raise IsolateDisposedError(f"the plugin's worker process is gone ({self.dead or 'its pipe broke'})") from None
        return call, ident

    def _outcome(self, ident: int, call: _Call) -> Any:
        self._calls.pop(ident, None)
        reply = call.reply
        if reply is None:
            raise IsolateDisposedError(f"the plugin's worker process died during the call ({self.dead})")
        if "error" in reply:
            raise error_from_wire(reply["error"])
        return decode(reply.get("value"))

    # -- the reader thread --

    def _read(self) -> None:
        try:
            while True:
                message = self._pipe.receive()
                if message is None:
                    break
                if message.get("op") == "cap":
                    self._pool.submit(self._serve_capability, message)
                    continue
                if message.get("op") == "log":  # the plugin's console, from the worker
                    self.plugin.logger.log(int(message.get("level", logging.INFO)), "%s", str(message.get("text", "")))
                    continue
                call = self._calls.get(int(message.get("id", 0)))
                if call is not None:
                    call.reply = message
                    call.finish()
        except (OSError, ValueError) as exc:
            self.plugin.logger.error("the worker sent something unreadable: %s", exc)
        finally:
            code = self._process.wait()
            self.dead = self.dead or (f"exit status {code}" if code >= 0 else f"killed by signal {-code}")
            for call in list(self._calls.values()):
                call.finish()

    def _serve_capability(self, message: dict[str, Any]) -> None:
        name, method = str(message.get("name")), str(message.get("method"))
        try:
            lent = self._lend(name)
            function = lent.exports.get(method)
            if function is None:
                raise CapabilityError(self.plugin.name, name, f"it has no method '{method}'")
            args = decode(message.get("args", []))
            target = getattr(function, "fn", function)  # an async method is a Callback around a coroutine function
            value = anyio.run(target, *args) if inspect.iscoroutinefunction(target) else target(*args)
            reply: dict[str, Any] = {"op": "cap_result", "id": message.get("id"), "value": encode(value)}
        except Exception as exc:  # every failure goes back to the plugin as a JavaScript error
            reply = {"op": "cap_result", "id": message.get("id"), "error": error_to_wire(exc)}
        try:
            self._pipe.send(reply)
        except OSError:
            pass  # the worker died meanwhile: nobody waits for the answer

    def _lend(self, name: str) -> LentCapability:
        with self._lent_lock:
            lent = self._lent.get(name)
            if lent is None:
                request = self.plugin.check_capability(name)
                grant = Grant(plugin=self.plugin.name, capability=name, params=dict(request.params), reason=request.reason)
                lent = self._lent[name] = LentCapability(self.plugin.host._capabilities[name], grant, self.plugin.audit_log)
            self.imported.add(name)
            return lent

    def _kill(self, why: str) -> None:
        self.dead = self.dead or why
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._pipe.send({"op": "exit", "id": 0})
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
        self._process.wait()
        self._reader.join(timeout=5)
        self._pool.shutdown(wait=False)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        self.dead = self.dead or "closed"


# -- the worker side --------------------------------------------------------------------------


def worker_main(reader: IO[bytes], writer: IO[bytes]) -> int:
    """The worker (``python -m ivmhost._worker``): serve one plugin over stdin/stdout until told to exit.

    One thread reads the pipe: answers to capability calls go to the thread waiting for them, task
    cancellations to the task, and everything else to the main thread, which runs calls in order.
    Tasks run on threads of their own, each with its own event loop."""
    from ivmhost._host import PluginHost

    pipe = _Pipe(reader, writer)
    logging.getLogger("ivmhost.plugin").addHandler(_ConsoleForwarder(pipe))
    logging.getLogger("ivmhost.plugin").propagate = False  # the host logs the faults it is told of
    logging.getLogger("ivmhost.plugin").setLevel(logging.DEBUG)  # the host's logging filters
    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
    answers: dict[str, list[Any]] = {}  # capability call id -> [Event, its answer]
    tasks: dict[Any, tuple[Any, anyio.CancelScope]] = {}  # task id -> (its loop's token, its scope)
    lock = threading.Lock()
    cap_ids = itertools.count(1)

    def read() -> None:
        while True:
            message = pipe.receive()
            if message is None:
                break
            op = message.get("op")
            if op == "cap_result":
                with lock:
                    slot = answers.get(str(message.get("id")))
                if slot is not None:
                    slot[1] = message
                    slot[0].set()
            elif op == "cancel":
                with lock:
                    running = tasks.get(message.get("task"))
                if running is not None:
                    anyio.from_thread.run_sync(running[1].cancel, token=running[0])
            else:
                requests.put(message)
        requests.put(None)
        with lock:
            for slot in answers.values():
                slot[0].set()  # the host went away: nobody will answer

    def call_parent(name: str, method: str, args: tuple[Any, ...]) -> Any:
        ident = f"c{next(cap_ids)}"
        slot: list[Any] = [threading.Event(), None]
        with lock:
            answers[ident] = slot
        try:
            pipe.send({"op": "cap", "id": ident, "name": name, "method": method, "args": encode(list(args))})
            slot[0].wait()
        finally:
            with lock:
                answers.pop(ident, None)
        message = slot[1]
        if message is None:
            raise IvmhostError("the host went away")
        if "error" in message:
            raise error_from_wire(message["error"])
        return decode(message.get("value"))

    def run_task(message: dict[str, Any]) -> None:
        async def run() -> None:
            ident = message.get("id")
            with anyio.CancelScope() as scope:
                with lock:
                    tasks[ident] = (anyio.lowlevel.current_token(), scope)
                try:
                    value = await plugin._run_task(message["export"], tuple(decode(message["args"])))
                    pipe.send({"id": ident, "value": encode(value)})
                except Exception as exc:  # the plugin's own fault: its cause crosses as itself
                    pipe.send({"id": ident, "error": error_to_wire(getattr(exc, "cause", exc))})
                finally:
                    with lock:
                        tasks.pop(ident, None)
            if scope.cancelled_caught:  # the host waits for this word (ProcessInstance.run_task)
                pipe.send({"id": ident, "error": error_to_wire(IvmhostError("the task was cancelled"))})

        anyio.run(run)

    threading.Thread(target=read, name="ivmhost-worker-reader", daemon=True).start()
    host: PluginHost | None = None
    plugin: Any = None
    while True:
        message = requests.get()
        if message is None or message.get("op") == "exit":
            break
        ident = message.get("id")
        try:
            if message["op"] == "load":
                proxies = [_proxy_capability(name, spec, call_parent) for name, spec in message["capabilities"].items()]
                names = {name for name in message["capabilities"]}
                # In-process here, whatever the manifest says: the worker is the process boundary.
                host = PluginHost(capabilities=proxies, grants=lambda manifest, request: request.name in names,
                                  isolation="isolate")
                plugin = host.load(message["folder"])
                pipe.send({"id": ident, "value": encode({"exports": plugin.exports})})
            elif message["op"] == "call":
                assert plugin is not None
                try:
                    value = plugin.call(message["export"], *decode(message["args"]))
                except Exception as exc:  # the plugin's own fault: its cause crosses as itself
                    pipe.send({"id": ident, "error": error_to_wire(getattr(exc, "cause", exc))})
                    continue
                pipe.send({"id": ident, "value": encode(value)})
            elif message["op"] == "task":
                assert plugin is not None
                threading.Thread(target=run_task, args=(message,), name="ivmhost-worker-task", daemon=True).start()
            elif message["op"] == "stats":
                stats = {"cpu_time_ns": 0, "heap_used": 0}
                if plugin is not None and plugin.isolate is not None and not plugin.isolate.is_disposed:
                    stats = {"cpu_time_ns": plugin.isolate.cpu_time,
                             "heap_used": plugin.isolate.get_heap_statistics_sync().used_heap_size}
                pipe.send({"id": ident, "value": {"$o": stats}})
        except Exception as exc:
            pipe.send({"id": ident, "error": error_to_wire(getattr(exc, "cause", exc))})
    if host is not None:
        host.close()
    return 0


class _ConsoleForwarder(logging.Handler):
    """Sends the plugin's console output to the host, which logs it under the plugin's logger."""

    def __init__(self, pipe: _Pipe) -> None:
        super().__init__(logging.DEBUG)
        self._pipe = pipe

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != "%s":
            return  # the worker's own reports of faults: the host reports those itself
        try:
            self._pipe.send({"op": "log", "level": record.levelno, "text": record.getMessage()})
        except OSError:
            pass  # the host went away


def _proxy_capability(name: str, spec: dict[str, Any], call_parent: Callable[[str, str, tuple[Any, ...]], Any]) -> Any:
    """A capability in the worker whose methods run in the host."""
    asynchronous = set(spec.get("async", []))

    def method(export: str, bound: bool) -> Callable[..., Any]:
        # The host runs the method; the JavaScript that called it waits (an async one as a Promise).
        if export in asynchronous:
            async def remote_async(*args: Any) -> Any:
                return call_parent(name, export, args[1:] if bound else args)

            remote_async.__name__ = export
            return remote_async

        def remote(*args: Any) -> Any:
            return call_parent(name, export, args[1:] if bound else args)

        remote.__name__ = export
        return remote

    if spec.get("default"):  # a function capability: one export, also the default
        return capability(name)(method(spec["default"], False))
    namespace: dict[str, Any] = {export: method(export, True) for export in spec["exports"]}
    namespace["__init__"] = lambda self, grant: None
    return capability(name)(type(f"Remote_{name.replace('.', '_')}", (), namespace))

