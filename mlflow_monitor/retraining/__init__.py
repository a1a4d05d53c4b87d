"""Retraining: when a trigger fires (:mod:`~mlflow_monitor.retraining.triggers`: cooldown,
callbacks, history) and the MLflow project run it launches
(:mod:`~mlflow_monitor.retraining.launcher`, imported on first use: it needs MLflow).
"""

from __future__ import annotations

from typing import Any

from mlflow_monitor.retraining.triggers import (
    DATA_DRIFT,
    MANUAL,
    PERFORMANCE_DEGRADATION,
    TriggerEvent,
    TriggerPolicy,
)

__all__ = [
    "DATA_DRIFT",
    "MANUAL",
    "PERFORMANCE_DEGRADATION",
    "ProjectLauncher",
    "TriggerEvent",
    "TriggerPolicy",
]


def __getattr__(name: str) -> Any:
    if name == "ProjectLauncher":
        from mlflow_monitor.retraining.launcher import ProjectLauncher

        return ProjectLauncher
    raise AttributeError(f"module 'mlflow_monitor.retraining' has no attribute {name!r}")
