"""mlflow-monitor: production monitoring for MLflow models.

Data drift (multivariate MMD permutation test plus per-feature tests), live performance
against a baseline with delayed ground truth, Prometheus metrics and retraining triggers.

Example:
    >>> from mlflow_monitor import create_monitor
    >>> monitor = create_monitor({"metrics_prefix": "reviews"})
    >>> monitor.setup_performance_baseline({"precision": 0.9, "recall": 0.85})
"""

from __future__ import annotations

from mlflow_monitor._version import __version__
from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.drift import AlarmPolicy, DriftDetector
from mlflow_monitor.exceptions import (
    ConfigError,
    DataValidationError,
    FeedbackError,
    MissingDependencyError,
    MonitorError,
    NotFittedError,
    StateError,
    StoreError,
    UnknownPredictionError,
)
from mlflow_monitor.metrics import METRIC_DEFINITIONS, MonitorMetrics, start_metrics_server
from mlflow_monitor.monitor import ModelMonitor, create_monitor, load_monitor
from mlflow_monitor.performance import PerformanceTracker
from mlflow_monitor.results import (
    CheckResult,
    DriftAlarm,
    DriftResult,
    FeatureDrift,
    FeatureShare,
    PerformanceSnapshot,
)
from mlflow_monitor.retraining import TriggerEvent
from mlflow_monitor.store import (
    InferenceStore,
    InMemoryStore,
    PredictionBatch,
    PredictionRecord,
    StoreCounts,
)

# Names whose modules import MLflow, SQLAlchemy or scikit-learn load on first use, so
# `import mlflow_monitor` stays fast.
_LAZY = {
    "wrap": "mlflow_monitor.model.wrap",
    "compare_baselines": "mlflow_monitor.model.baselines",
    "WrappedModel": "mlflow_monitor.model.wrap",
    "MonitoredModel": "mlflow_monitor.model.pyfunc",
    "CheckRunLogger": "mlflow_monitor.tracking.check_runs",
    "SqlInferenceStore": "mlflow_monitor.store.sql.store",
    "ProjectLauncher": "mlflow_monitor.retraining.launcher",
    "FeatureExtractor": "mlflow_monitor.drift.extraction",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlflow_monitor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "METRIC_DEFINITIONS",
    "AlarmPolicy",
    "CheckResult",
    "CheckRunLogger",
    "ConfigError",
    "DataValidationError",
    "DriftAlarm",
    "DriftDetector",
    "DriftResult",
    "FeatureDrift",
    "FeatureExtractor",
    "FeatureShare",
    "FeedbackError",
    "InMemoryStore",
    "InferenceStore",
    "MissingDependencyError",
    "ModelMonitor",
    "MonitorConfig",
    "MonitorError",
    "MonitorMetrics",
    "MonitoredModel",
    "NotFittedError",
    "PerformanceSnapshot",
    "PerformanceTracker",
    "PredictionBatch",
    "PredictionRecord",
    "ProjectLauncher",
    "SqlInferenceStore",
    "StateError",
    "StoreCounts",
    "StoreError",
    "TriggerEvent",
    "UnknownPredictionError",
    "WrappedModel",
    "__version__",
    "compare_baselines",
    "create_monitor",
    "load_monitor",
    "start_metrics_server",
    "wrap",
]
