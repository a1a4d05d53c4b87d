"""MLflow tracking: every check as an MLflow run, and one history run per model version.

:class:`~mlflow_monitor.tracking.check_runs.CheckRunLogger` logs the runs (imported on first
use: it needs MLflow); :mod:`~mlflow_monitor.tracking.artifacts` makes what a check run holds,
without MLflow; :mod:`~mlflow_monitor.tracking.spool` keeps checks that could not be logged yet.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CheckRunLogger"]


def __getattr__(name: str) -> Any:
    if name == "CheckRunLogger":
        from mlflow_monitor.tracking.check_runs import CheckRunLogger

        return CheckRunLogger
    raise AttributeError(f"module 'mlflow_monitor.tracking' has no attribute {name!r}")
