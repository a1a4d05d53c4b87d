"""Typed, immutable results of checks, one module per kind.

:mod:`~mlflow_monitor.results.drift` (drift tests, the alarm, prediction drift),
:mod:`~mlflow_monitor.results.performance` (realized and estimated metrics),
:mod:`~mlflow_monitor.results.quality` (data quality) and :mod:`~mlflow_monitor.results.checks`
(:class:`CheckResult`, what one check did). Every name is importable from here.
"""

from __future__ import annotations

from mlflow_monitor.results.checks import CheckResult
from mlflow_monitor.results.clock import utcnow
from mlflow_monitor.results.drift import (
    DriftAlarm,
    DriftResult,
    FeatureDrift,
    FeatureShare,
    PredictionDrift,
)
from mlflow_monitor.results.performance import (
    Calibration,
    PerformanceEstimate,
    PerformanceSnapshot,
)
from mlflow_monitor.results.quality import ColumnQuality, DataQualityResult

__all__ = [
    "Calibration",
    "CheckResult",
    "ColumnQuality",
    "DataQualityResult",
    "DriftAlarm",
    "DriftResult",
    "FeatureDrift",
    "FeatureShare",
    "PerformanceEstimate",
    "PerformanceSnapshot",
    "PredictionDrift",
    "utcnow",
]
