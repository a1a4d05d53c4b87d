"""The monitoring status: one JSON-serialisable report of a monitor and its shared store.

With a store several processes share, the latest checks and fired triggers of every process
are read from the store, so a status asked of any serving worker shows the leader's checks.
A store that cannot be read never fails a status report: this process's own results stand in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.exceptions import MonitorError
from mlflow_monitor.results import CheckResult, PerformanceSnapshot
from mlflow_monitor.retraining.triggers import TriggerPolicy
from mlflow_monitor.store import InferenceStore

__all__ = [
    "TRIGGERS_SHOWN",
    "StatusSource",
    "last_check",
    "monitoring_status",
    "recent_checks",
    "stored_triggers",
]

logger = logging.getLogger(__name__)

# Most recent triggers a status report lists.
TRIGGERS_SHOWN = 100


class StatusSource(Protocol):
    """What a status report reads of a monitor (:class:`~mlflow_monitor.ModelMonitor`)."""

    config: MonitorConfig
    store: InferenceStore
    triggers: TriggerPolicy

    @property
    def is_healthy(self) -> bool: ...

    @property
    def is_monitoring(self) -> bool: ...

    @property
    def is_leader(self) -> bool: ...

    @property
    def started_at(self) -> datetime | None: ...

    @property
    def errors(self) -> dict[str, str]: ...

    @property
    def last_results(self) -> Mapping[str, CheckResult]: ...

    @property
    def reference_size(self) -> int: ...

    @property
    def baseline(self) -> dict[str, float]: ...

    def clock(self) -> datetime: ...

    def recorded_counts(self) -> dict[str, int]: ...

    def pending_drift_rows(self) -> int: ...

    def current_performance(self) -> PerformanceSnapshot | None: ...


def stored_triggers(store: InferenceStore) -> tuple[int, list[dict[str, Any]]]:
    """The store's count of kept triggers and the latest :data:`TRIGGERS_SHOWN` of them;
    none when it cannot be read."""
    try:
        return store.trigger_history(TRIGGERS_SHOWN)
    except MonitorError as exc:
        logger.warning("cannot read the trigger history from the store: %s", exc)
        return 0, []


def recent_checks(store: InferenceStore, limit: int) -> list[CheckResult]:
    """The latest ``limit`` checks kept in the store, oldest first; none when it cannot be
    read (or holds entries this version cannot parse)."""
    try:
        return [CheckResult.from_dict(c) for c in store.check_history(limit)]
    except MonitorError as exc:
        logger.warning("cannot read the check history from the store: %s", exc)
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("skipping the check history: an entry is unreadable (%r)", exc)
    return []


def last_check(
    store: InferenceStore, local: Mapping[str, CheckResult], kind: str
) -> dict[str, Any] | None:
    """The latest check of ``kind`` that ran, by any process sharing the store; this
    process's own (possibly skipped) check when the store has none."""
    try:
        stored = store.last_checks().get(kind)
    except MonitorError as exc:
        logger.warning("cannot read the last checks from the store: %s", exc)
        stored = None
    if stored is not None:
        return stored
    result = local.get(kind)
    return result.to_dict() if result is not None else None


def _trigger_summary(store: InferenceStore, policy: TriggerPolicy) -> dict[str, Any]:
    """Fired triggers of every process sharing the store (this process's own when the
    store knows fewer, as after ``load_state`` into a fresh in-memory store)."""
    local = policy.history
    total, history = stored_triggers(store)
    if total < len(local):
        total, history = len(local), [e.to_dict() for e in list(local)[-TRIGGERS_SHOWN:]]
    return {"total": total, "suppressed_by_cooldown": policy.suppressed, "history": history}


def monitoring_status(monitor: StatusSource) -> dict[str, Any]:
    """Everything about ``monitor`` in one JSON-serialisable dict.

    Keys: ``healthy``, ``monitoring_active``, ``leader`` (whether this process runs the
    stream's scheduled checks), ``started_at``, ``timestamp``, ``counts`` (this process's
    recordings, plus what the store holds), ``drift``, ``performance``, ``drift_detected``
    (the last drift check was significant), ``drift_alarm`` (its alarm fired),
    ``performance_degraded``, ``triggers``, ``errors``, ``store`` (its stream and
    :class:`~mlflow_monitor.store.StoreCounts`) and ``config``.
    """
    store, local = monitor.store, monitor.last_results
    counts: dict[str, Any] = monitor.recorded_counts()
    held = store.counts()
    counts["pending_drift_rows"] = monitor.pending_drift_rows()
    counts["predictions_held"] = held.predictions
    last_drift, last_perf = (
        last_check(store, local, "drift"),
        last_check(store, local, "performance"),
    )
    current = monitor.current_performance()
    started = monitor.started_at
    return {
        "healthy": monitor.is_healthy,
        "monitoring_active": monitor.is_monitoring,
        "leader": monitor.is_leader,
        "started_at": started.isoformat() if started else None,
        "timestamp": monitor.clock().isoformat(),
        "counts": counts,
        "drift": {
            "enabled": monitor.config.enable_drift_detection,
            "reference_size": monitor.reference_size,
            "last_check": last_drift,
        },
        "performance": {
            "enabled": monitor.config.enable_performance_tracking,
            "task": monitor.config.task,
            "baseline": monitor.baseline,
            "current": current.to_dict() if current is not None else None,
            "last_check": last_perf,
        },
        "drift_detected": bool(
            last_drift and last_drift.get("drift") and last_drift["drift"]["drift_detected"]
        ),
        "drift_alarm": bool(
            last_drift
            and last_drift.get("drift")
            and (last_drift["drift"].get("alarm") or {}).get("fired")
        ),
        "performance_degraded": bool(
            last_perf and last_perf.get("performance") and last_perf["status"] == "degraded"
        ),
        "triggers": _trigger_summary(store, monitor.triggers),
        "errors": monitor.errors,
        "store": {
            "model_name": store.model_name,
            "model_version": store.model_version,
            **held.to_dict(),
            "file_problem": getattr(store, "file_problem", None),
        },
        "config": monitor.config.to_dict(),
    }
