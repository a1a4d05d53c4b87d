"""A small periodic scheduler: one daemon thread running jobs at fixed intervals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PeriodicJob", "PeriodicScheduler"]

logger = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    """A callable run every ``interval`` seconds (first run one interval after start)."""

    name: str
    interval: float
    run: Callable[[], object]
    next_due: float = 0.0


class PeriodicScheduler:
    """Runs jobs on a background daemon thread until :meth:`stop`.

    A job that raises is logged and rescheduled; it never stops the others. Jobs run one at a
    time, so a slow check delays the next instead of piling up.

    Args:
        jobs: the jobs to run.
        name: thread name (shows in thread dumps and logs).
    """

    def __init__(self, jobs: list[PeriodicJob], name: str = "mlflow-monitor-scheduler") -> None:
        self.jobs = jobs
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when already running)."""
        if self.running:
            return
        self._stop.clear()
        now = time.monotonic()
        for job in self.jobs:
            job.next_due = now + job.interval
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the thread to stop and wait for the job in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if self._stop.is_set():
                    return
                if now >= job.next_due:
                    try:
                        job.run()
                    except Exception:
                        logger.exception("scheduled job %s failed", job.name)
                    after = time.monotonic()
                    job.next_due += job.interval
                    if job.next_due <= after:  # missed runs are skipped, not replayed
                        job.next_due = after + job.interval
            wait = min(job.next_due for job in self.jobs) - time.monotonic()
            self._stop.wait(max(wait, 0.0))
