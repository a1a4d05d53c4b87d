"""StoreCalls: the serve app's calls that reach the inference store, each answered in bounded time.

A database that does not answer (a SQLite file another process holds an exclusive lock on, a
PostgreSQL server that stalls) makes a store call wait: SQLite's busy timeout is 10 s per
statement and a status report makes several. The serve app must not pass that wait on to its
clients or to an orchestrator's health checks, so its store calls run here:

- on a small pool of their own, so calls stuck on the database never take the threads the
  model's predictions run on;
- each awaited for at most a bound; past it, the caller gets
  :class:`~mlflow_monitor.exceptions.StoreError` (the app's 503) while the call finishes in the
  background;
- a call that reports progress (a feedback batch, one label at a time) is bounded per step: it
  may run as long as it keeps moving, and is asked to stop after the step that stalled;
- a shared call (the health probe) runs once at a time, however many requests await it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mlflow_monitor.exceptions import StoreError

__all__ = ["HEALTH_SECONDS", "STORE_SECONDS", "Progress", "StoreCalls"]

HEALTH_SECONDS = 2.0
"""Longest ``/health`` waits for the store's state before it answers 503."""
STORE_SECONDS = 5.0
"""Longest any other endpoint waits for the store (per label, for a feedback batch)."""
_WORKERS = 4

T = TypeVar("T")


class Progress:
    """What a long store call has done so far, and whether it was asked to stop."""

    def __init__(self) -> None:
        self.done = 0
        self.stop = threading.Event()

    def step(self) -> bool:
        """Count one step; False once the caller gave up and the call should stop."""
        self.done += 1
        return not self.stop.is_set()


class StoreCalls:
    """Runs store calls on a pool of their own and awaits them for a bounded time.

    Args:
        seconds: the bound for :meth:`run` and :meth:`run_with_progress`.
        workers: threads in the pool.
    """

    def __init__(self, seconds: float = STORE_SECONDS, workers: int = _WORKERS) -> None:
        self.seconds = seconds
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._shared: dict[str, Future[Any]] = {}
        self._lock = threading.RLock()

    async def run(self, what: str, call: Callable[[], T], seconds: float | None = None) -> T:
        """The result of ``call()``, run on the pool.

        Raises:
            StoreError: no answer within ``seconds`` (the bound by default), naming ``what``.
        """
        return await self._await(what, self._submit(call), seconds or self.seconds)

    async def shared(self, what: str, call: Callable[[], T], seconds: float) -> T:
        """Like :meth:`run`, but while one ``what`` call is running, callers await that one
        instead of starting another: repeated health checks never pile up on a stuck store."""
        with self._lock:
            future = self._shared.get(what)
            if future is None or future.done():
                future = self._submit(call)
                self._shared[what] = future
        return await self._await(what, future, seconds)

    async def run_with_progress(self, what: str, call: Callable[[Progress], T]) -> T:
        """The result of ``call(progress)``, which calls ``progress.step()`` after each step.

        Raises:
            StoreError: no step finished within the bound; the call is asked to stop after
                the step it is in (``progress.step()`` then returns False).
        """
        progress = Progress()
        future = self._submit(call, progress)
        wrapped = asyncio.wrap_future(future)
        while True:
            before = progress.done
            done, _ = await asyncio.wait({wrapped}, timeout=self.seconds)
            if done:
                return wrapped.result()
            if progress.done == before:
                progress.stop.set()
                raise StoreError(
                    f"the inference store did not answer within {self.seconds:g} s while "
                    f"{what}; {progress.done} done, the one in progress may still complete"
                )

    def _submit(self, call: Callable[..., T], *args: Any) -> Future[T]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self._workers, thread_name_prefix="mlflow-monitor-store"
                )
            return self._pool.submit(call, *args)

    async def _await(self, what: str, future: Future[T], seconds: float) -> T:
        wrapped = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), seconds)
        except TimeoutError as exc:
            raise StoreError(
                f"the inference store did not answer within {seconds:g} s while {what}; "
                "it may be locked by another process or unreachable"
            ) from exc

    def close(self) -> None:
        """Let the pool's threads end once their calls finish (a later call starts a new
        pool)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
