"""An asyncio loop on a thread of its own, so the network never waits for a GUI or a benchmark.

The client connections of the desktop app run here: the GUI thread's loop paints, filters and
sorts, and a ping answered while it is busy would otherwise wait for it (RTT samples of 40 ms
on a 0.5 ms link). `Connection` methods called from another thread hop to this loop by
themselves; anything else is handed over with `submit()` or `call()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """`LoopThread()` starts the loop; `stop()` cancels what still runs and ends the thread."""

    def __init__(self, name: str = "socketscope-core") -> None:
        self.loop = asyncio.SelectorEventLoop()  # never the policy's loop: a GUI may replace it
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            close_loop(self.loop)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 5.0) -> T:
        """Run a plain function on the loop and wait for its result (for quick user actions)."""
        if threading.current_thread() is self._thread:
            return fn(*args)

        async def run() -> T:
            return fn(*args)

        return self.submit(run()).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await what is left on a stopped loop, then close it."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    asyncio.set_event_loop(None)


async def hop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on `loop` from a coroutine running on another loop; cancelling the caller
    cancels it there too."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
