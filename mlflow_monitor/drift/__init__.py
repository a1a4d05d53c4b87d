"""Data drift: is recent traffic still drawn from the reference distribution?

:class:`DriftDetector` (:mod:`~mlflow_monitor.drift.detector`) is the front end: it validates
data (:mod:`~mlflow_monitor.drift.features`), keeps the reference and its kernel bandwidth
(:mod:`~mlflow_monitor.drift.bandwidth`), runs the per-feature tests
(:mod:`~mlflow_monitor.drift.univariate`) and hands the multivariate MMD test to a backend: the
built-in exact one (:mod:`~mlflow_monitor.drift.mmd`) or alibi-detect's
(:mod:`~mlflow_monitor.drift.alibi_backend`, optional). A monitored model's raw input becomes
drift features through :mod:`~mlflow_monitor.drift.extraction`.

Each check's result carries effect sizes (:mod:`~mlflow_monitor.drift.effects`), one
family-wise p-value over all its tests (:mod:`~mlflow_monitor.drift.verdict`) and the features
that drove it (:mod:`~mlflow_monitor.drift.attribution`); :class:`AlarmPolicy`
(:mod:`~mlflow_monitor.drift.alarm`) turns consecutive checks into alarms, which is what
retraining acts on.
"""

from __future__ import annotations

from mlflow_monitor.drift.alarm import AlarmPolicy
from mlflow_monitor.drift.bandwidth import ReferenceBandwidth
from mlflow_monitor.drift.detector import DriftDetector
from mlflow_monitor.drift.univariate import adjust_p_values

__all__ = ["AlarmPolicy", "DriftDetector", "ReferenceBandwidth", "adjust_p_values"]
