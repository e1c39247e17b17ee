"""Bridging the engine's executor threads to anyio event loops (asyncio and trio)."""

from __future__ import annotations

import asyncio
from typing import Callable

import anyio
import sniffio

__all__ = ["Waker"]


class Waker:
    """Wakes one awaiting task from any thread.

    Made in the awaiting task's event loop; :meth:`wake` may be called from an engine thread
    (holding the GIL) and never blocks, so an executor thread never waits for an event loop.
    """

    __slots__ = ("_event", "_call_soon")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._call_soon: Callable[[Callable[[], object]], object]
        library = sniffio.current_async_library()
        if library == "trio":
            import trio

            self._call_soon = trio.lowlevel.current_trio_token().run_sync_soon
        elif library == "asyncio":
            self._call_soon = asyncio.get_running_loop().call_soon_threadsafe
        else:
            raise RuntimeError(f"ivmhost's async calls support asyncio and trio, not {library}")

    def wake(self) -> None:
        try:
            self._call_soon(self._event.set)
        except RuntimeError:
            # The event loop has closed: nobody is waiting any more.
            pass

    async def wait(self) -> None:
        await self._event.wait()
