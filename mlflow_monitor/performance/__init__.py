"""Live performance: rolling metrics over labelled predictions, compared with a baseline.

:class:`PerformanceTracker` (:mod:`~mlflow_monitor.performance.tracker`) keeps the window and
gives the degradation verdict.
"""

from __future__ import annotations

from mlflow_monitor.performance.tracker import (
    METRIC_NAMES,
    PerformanceTracker,
    confusion_counts,
    validate_baseline,
)

__all__ = ["METRIC_NAMES", "PerformanceTracker", "confusion_counts", "validate_baseline"]
