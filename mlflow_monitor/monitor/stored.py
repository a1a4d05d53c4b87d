"""The status of a model version read from its shared inference store, by a process that does
not monitor it (``mlflow-monitor status models:/...``).

:class:`StoredMonitor` answers what :func:`~mlflow_monitor.monitor.status.monitoring_status`
asks of a monitor from the store alone: the checks and triggers the serving processes kept,
the predictions and labels held, and the metrics over the latest labelled window. It opens
the store read-only, so asking for a status creates, registers and writes nothing; there is
no reference to load, no detector to fit and no schedule to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlflow_monitor._types import Clock
from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.monitor import wiring
from mlflow_monitor.monitor.checks import DriftCheck, PerformanceCheck
from mlflow_monitor.monitor.status import monitoring_status
from mlflow_monitor.results import CheckResult, PerformanceSnapshot, utcnow
from mlflow_monitor.retraining.triggers import TriggerPolicy
from mlflow_monitor.store import InferenceStore

__all__ = ["StoredMonitor", "stored_status"]


class StoredMonitor:
    """A model version's monitoring as its store records it (a
    :class:`~mlflow_monitor.monitor.status.StatusSource`).

    This process monitors nothing: ``monitoring_active`` and ``leader`` are False, its own
    counts are zero, and ``drift.reference_size`` is None (the reference is not loaded).

    Args:
        config: the model version's monitor options (its ``monitor.json``).
        store: its inference store, best opened ``read_only``.
        baseline: its baseline metrics (``baseline.json``); empty when it has none.
        clock: the time a status is taken at.
    """

    is_monitoring = False
    is_leader = False
    started_at: datetime | None = None
    last_results: Mapping[str, CheckResult] = {}
    reference_size: Any = None

    def __init__(
        self,
        config: MonitorConfig,
        store: InferenceStore,
        baseline: Mapping[str, float] | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.triggers = TriggerPolicy(config.retraining_cooldown_minutes, clock=clock)
        # the version's own task: a multiclass or regression model's metrics, not binary ones
        self._tracker = wiring.performance_tracker(config)
        if self._tracker is not None and baseline:
            self._tracker.set_baseline(baseline)

    @property
    def is_healthy(self) -> bool:
        """Whether the store could be read (a status is only made when it can)."""
        return True

    @property
    def errors(self) -> dict[str, str]:
        """No errors of this process's own: it runs no checks."""
        return {}

    @property
    def baseline(self) -> dict[str, float]:
        """The baseline metrics the version was wrapped with."""
        return dict(self._tracker.baseline_) if self._tracker is not None else {}

    def recorded_counts(self) -> dict[str, int]:
        """Nothing recorded by this process."""
        return {"predictions": 0, "feedback": 0}

    def pending_drift_rows(self) -> int:
        """Rows the store holds for the next drift check, at most one window's worth."""
        return DriftCheck(self.store, self.config).pending_rows()

    def current_performance(self) -> PerformanceSnapshot | None:
        """Metrics over the latest labelled window in the store."""
        if self._tracker is None:
            return None
        return PerformanceCheck(self.store, self._tracker).snapshot()


def stored_status(
    config: MonitorConfig,
    store: InferenceStore,
    baseline: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """:func:`~mlflow_monitor.monitor.status.monitoring_status` of a model version from its
    store alone, with ``"source": "store"`` to say so."""
    report = monitoring_status(StoredMonitor(config, store, baseline))
    report["source"] = "store"
    return report
