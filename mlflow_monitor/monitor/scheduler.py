"""When the periodic checks run, and in which process.

:class:`PeriodicScheduler` runs jobs at fixed intervals on one daemon thread.
:class:`LeaderSchedule` runs them only while this process leads its stream in the inference
store, so of the processes sharing a store (serving workers, hosts) one runs the checks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow_monitor.store.interface import InferenceStore
    from mlflow_monitor.store.leadership import Leadership

__all__ = ["MIN_LEASE_SECONDS", "LeaderSchedule", "PeriodicJob", "PeriodicScheduler"]

# How long the scheduled checks' leadership lasts without renewal, where it is a lease: a
# killed leader is replaced within about this long. A heartbeat renews it three times per
# lease, so neither a slow check nor a brief database hiccup hands it over without reason.
MIN_LEASE_SECONDS = 60.0

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
                        logger.exception("scheduled %s check failed", job.name)
                    after = time.monotonic()
                    job.next_due += job.interval
                    if job.next_due <= after:  # missed runs are skipped, not replayed
                        job.next_due = after + job.interval
            wait = min(job.next_due for job in self.jobs) - time.monotonic()
            self._stop.wait(max(wait, 0.0))


class LeaderSchedule:
    """Periodic jobs that run only in the process leading the store's stream.

    Each tick takes or renews the stream's leadership (``checks:<model>/<version>``) first;
    a process that does not lead skips the job. A heartbeat thread also takes or renews it
    every third of ``lease_seconds``, whatever the check intervals: the leader keeps its
    lease through checks that run long, and when it dies without releasing it another process
    takes over within about ``lease_seconds`` (see :mod:`mlflow_monitor.store.sql.leadership`).

    Args:
        store: the inference store whose stream is led.
        jobs: the jobs to run (at least one).
        lease_seconds: how long the leadership lasts without renewal, where it is a lease.
    """

    def __init__(
        self,
        store: InferenceStore,
        jobs: list[PeriodicJob],
        lease_seconds: float = MIN_LEASE_SECONDS,
    ) -> None:
        if not jobs:
            raise ValueError("a schedule needs at least one job")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.name = f"checks:{store.model_name}/{store.model_version}"
        self.lease_seconds = lease_seconds
        self.leadership: Leadership = store.leadership(self.name, lease_seconds)
        # One question to the database at a time: a PostgreSQL lock lives on one connection,
        # which the check thread and the heartbeat must not use at once.
        self._asking = threading.Lock()
        gated = [replace(job, run=self._gated(job)) for job in jobs]
        self._scheduler = PeriodicScheduler(gated)
        heartbeat = PeriodicJob("lease", lease_seconds / 3, self._heartbeat)
        self._heartbeats = PeriodicScheduler([heartbeat], name="mlflow-monitor-lease")

    @property
    def running(self) -> bool:
        """True while the scheduler's thread is alive."""
        return self._scheduler.running

    @property
    def is_leader(self) -> bool:
        """True while this process leads the stream."""
        return self.leadership.is_leader

    def start(self) -> None:
        """Try to lead now (so status shows it at once) and start the threads."""
        self._leads("first")
        self._scheduler.start()
        self._heartbeats.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the threads (waits for a job in progress) and hand over the leadership."""
        self._scheduler.stop(timeout)
        self._heartbeats.stop(timeout)
        with self._asking:
            self.leadership.release()

    def _heartbeat(self) -> None:
        with self._asking:
            self._try_acquire()

    def _gated(self, job: PeriodicJob) -> Callable[[], object]:
        def run() -> object:
            return job.run() if self._leads(job.name) else None

        return run

    def _try_acquire(self) -> bool:
        try:
            return self.leadership.try_acquire()
        except Exception:  # a custom store's leadership must not stop the scheduler
            logger.exception("checking the leadership of %s failed", self.name)
            return False

    def _leads(self, what: str) -> bool:
        """Take or renew the leadership; False: another process leads."""
        with self._asking:
            leader = self._try_acquire()
        if not leader:
            logger.debug("scheduled %s check skipped: another process leads %s", what, self.name)
        return leader
