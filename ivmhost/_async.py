"""Bridging the engine's executor threads to anyio event loops (asyncio and trio)."""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from typing import Any, Callable

import sniffio

__all__ = ["PromiseWaiter", "Waker", "current_runner", "running_event_loop", "start_host_call"]


class Waker:
    """Wakes one awaiting task from any thread.

    Made in the awaiting task's event loop; :meth:`wake` may be called from an engine thread
    (holding the GIL) and never blocks, so an executor thread never waits for an event loop.
    """

    __slots__ = ("_event", "_call_soon", "_future")

    def __init__(self) -> None:
        library = sniffio.current_async_library()
        self._future: asyncio.Future[None] | None = None
        self._event: Any = None
        if library == "asyncio":
            loop = asyncio.get_running_loop()
            self._future = loop.create_future()
            self._call_soon: Callable[..., object] = loop.call_soon_threadsafe
        elif library == "trio":
            import trio

            self._event = trio.Event()
            self._call_soon = trio.lowlevel.current_trio_token().run_sync_soon
        else:
            raise RuntimeError(f"ivmhost's async calls support asyncio and trio, not {library}")

    def _set(self) -> None:
        if self._future is not None:
            if not self._future.done():
                self._future.set_result(None)
        else:
            self._event.set()

    def wake(self) -> None:
        try:
            self._call_soon(self._set)
        except RuntimeError:
            # The event loop has closed: nobody is waiting any more.
            pass

    async def wait(self) -> None:
        if self._future is not None:
            # Shielded: cancelling the waiting task must not cancel the shared future itself.
            await asyncio.shield(self._future)
        else:
            await self._event.wait()


class PromiseWaiter:
    """Waits for a JavaScript promise to settle, from a coroutine or from a blocked thread.

    The engine calls :meth:`settle` on the isolate's thread (with the GIL) when the promise is
    fulfilled, rejected, or abandoned because its isolate went away.
    """

    __slots__ = ("_isolate", "_waker", "_settled", "_outcome")

    def __init__(self, isolate: object, asynchronous: bool) -> None:
        # Weak: a waiter left behind (a timed-out wait) must not keep its isolate alive.
        self._isolate = weakref.ref(isolate)
        self._waker = Waker() if asynchronous else None
        # A one-shot signal: a lock held until the promise settles (far cheaper to make than an
        # Event, and every sync call awaiting a promise makes one).
        self._settled: threading.Lock | None = None
        if not asynchronous:
            self._settled = threading.Lock()
            self._settled.acquire()
        self._outcome: tuple[bool, object] | None = None

    @property
    def isolate(self) -> object:
        return self._isolate()

    def settle(self, ok: bool, value: object) -> None:
        if self._outcome is not None:
            return  # settled once already
        self._outcome = (ok, value)
        if self._waker is not None:
            self._waker.wake()
        else:
            assert self._settled is not None
            self._settled.release()

    def _result(self) -> object:
        assert self._outcome is not None
        ok, value = self._outcome
        if ok:
            return value
        assert isinstance(value, BaseException)
        raise value

    async def wait(self) -> object:
        assert self._waker is not None
        await self._waker.wait()
        return self._result()

    def wait_sync(self, timeout: float | None) -> object:
        assert self._settled is not None
        if not self._settled.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise TimeoutError
        self._settled.release()  # later waits return at once
        return self._result()


def running_event_loop() -> bool:
    """True when this thread runs an asyncio or trio event loop right now."""
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return True


def start_host_call(fn: Callable[..., object], args: list[object], settle: Callable[[bool, object], None],
                    runner: tuple[str, object] | None) -> None:
    """Run an async Callback's function without blocking JavaScript; report through ``settle``.

    Coroutine functions run on the event loop captured when the Callback was made (``runner``),
    everything else on a worker thread (a coroutine there gets its own asyncio loop).
    """

    async def on_loop() -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            settle(False, exc)
        else:
            settle(True, result)

    def on_thread() -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
        except Exception as exc:
            settle(False, exc)
        else:
            settle(True, result)

    if runner is not None and inspect.iscoroutinefunction(fn):
        library, handle = runner
        try:
            if library == "asyncio":
                asyncio.run_coroutine_threadsafe(on_loop(), handle)  # type: ignore[arg-type]
            else:
                import trio

                handle.run_sync_soon(trio.lowlevel.spawn_system_task, on_loop)  # type: ignore[attr-defined]
            return
        except RuntimeError:
            pass  # that loop has closed: fall back to a worker thread
    threading.Thread(target=on_thread, name="ivmhost-callback", daemon=True).start()


async def _await(awaitable: Any) -> object:
    return await awaitable


def current_runner() -> tuple[str, object] | None:
    """The running event loop (asyncio loop or trio token) to run async callbacks on, if any."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    if library == "asyncio":
        return ("asyncio", asyncio.get_running_loop())
    if library == "trio":
        import trio

        return ("trio", trio.lowlevel.current_trio_token())
    return None
