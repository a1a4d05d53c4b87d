"""Building a monitor's collaborators from its config: store, check logger, retraining launcher.

:class:`~mlflow_monitor.monitor.ModelMonitor` takes each of them as a parameter (tests and
callers pass their own); when one is not given, it is built here from the options, and the
command line builds the same things the same way (``mlflow-monitor retrain``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_monitor.config import MonitorConfig
from mlflow_monitor.performance import PerformanceTracker
from mlflow_monitor.store import InferenceStore, InMemoryStore

if TYPE_CHECKING:
    from mlflow_monitor.retraining.launcher import ProjectLauncher
    from mlflow_monitor.tracking.check_runs import CheckRunLogger

__all__ = ["check_logger", "default_store", "project_launcher"]


def default_store(cfg: MonitorConfig) -> InferenceStore:
    """The store ``cfg`` names: a database store for ``store_uri``, else an in-memory one."""
    if cfg.store_uri is None:
        return InMemoryStore(
            cfg.max_pending_feedback,
            cfg.drift_window_size,
            labelled_size=max(cfg.performance_window_size, cfg.max_pending_feedback),
            model_name=cfg.model_name,
            model_version=cfg.model_version,
        )
    from mlflow_monitor.store.sql import SqlInferenceStore

    return SqlInferenceStore(
        cfg.store_uri,
        cfg.model_name,
        cfg.model_version,
        batch_size=cfg.store_batch_size,
        flush_seconds=cfg.store_flush_seconds,
        queue_size=cfg.store_queue_size,
    )


def performance_tracker(cfg: MonitorConfig) -> PerformanceTracker | None:
    """The rolling-window tracker of the config's task, or None with performance tracking off."""
    if not cfg.enable_performance_tracking:
        return None
    return PerformanceTracker(
        window_size=cfg.performance_window_size,
        threshold=cfg.performance_threshold,
        min_samples=cfg.performance_min_samples,
        positive_label=cfg.positive_label,
        task=cfg.task,
    )


def project_launcher(cfg: MonitorConfig, project_uri: str | None = None) -> ProjectLauncher | None:
    """The launcher of the retraining project run, or None when no project is configured.

    Args:
        cfg: the monitor's options (``retrain_*``, ``model_name``).
        project_uri: a project to run instead of ``cfg.retrain_project_uri``.
    """
    uri = project_uri or cfg.retrain_project_uri
    if not uri:
        return None
    from mlflow_monitor.retraining.launcher import ProjectLauncher

    return ProjectLauncher(
        uri,
        cfg.model_name,
        entry_point=cfg.retrain_entry_point,
        parameters=cfg.retrain_parameters,
        env_manager=cfg.retrain_env_manager,
    )


def check_logger(cfg: MonitorConfig) -> CheckRunLogger | None:
    """The MLflow logger of check runs when ``log_checks`` is on, else None."""
    if not cfg.log_checks:
        return None
    from mlflow_monitor.tracking.check_runs import CheckRunLogger

    return CheckRunLogger(cfg.model_name, cfg.model_version, cfg.tracking_uri, cfg.experiment_name)
