"""mlflow-monitor: production monitoring for MLflow models.

Data drift (multivariate MMD permutation test plus per-feature tests), live performance
against a baseline with delayed ground truth, Prometheus metrics and retraining triggers.

Example:
    >>> from mlflow_monitor import create_monitor
    >>> monitor = create_monitor({"metrics_prefix": "reviews"})
    >>> monitor.setup_performance_baseline({"precision": 0.9, "recall": 0.85})
"""

from __future__ import annotations

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import DriftDetector
from mlflow_monitor.exceptions import (
    ConfigError,
    DataValidationError,
    FeedbackError,
    MissingDependencyError,
    MonitorError,
    NotFittedError,
    StateError,
    UnknownPredictionError,
)
from mlflow_monitor.metrics import METRIC_DEFINITIONS, MonitorMetrics, start_metrics_server
from mlflow_monitor.monitor import ModelMonitor, create_monitor
from mlflow_monitor.performance import PerformanceTracker
from mlflow_monitor.results import CheckResult, DriftResult, FeatureDrift, PerformanceSnapshot
from mlflow_monitor.state import load_monitor
from mlflow_monitor.triggers import TriggerEvent

__version__ = "0.1.0.dev0"

__all__ = [
    "METRIC_DEFINITIONS",
    "CheckResult",
    "ConfigError",
    "DataValidationError",
    "DriftDetector",
    "DriftResult",
    "FeatureDrift",
    "FeedbackError",
    "MissingDependencyError",
    "ModelMonitor",
    "MonitorConfig",
    "MonitorError",
    "MonitorMetrics",
    "NotFittedError",
    "PerformanceSnapshot",
    "PerformanceTracker",
    "StateError",
    "TriggerEvent",
    "UnknownPredictionError",
    "__version__",
    "create_monitor",
    "load_monitor",
    "start_metrics_server",
]
