"""The models the predict-path benchmarks time: the example fake-review detector, registered
in a throwaway MLflow store, and its monitored wrapper.

The tracking store is a SQLite file with file-based artifacts in a temporary directory, as a
team without a tracking server would run MLflow. Monitored models record into
``<root>/mlflow-monitor.db`` (through ``MLFLOW_MONITOR_STORE_URI``) unless switched to an
in-process store with :func:`use_memory_store`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

INNER_NAME = "reviews"
BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}
NO_SCHEDULE = {"schedule_checks": False}


@dataclass(frozen=True)
class Models:
    """Where the benchmark models live."""

    root: Path
    tracking_uri: str
    inner_uri: str
    monitored_uri: str
    pipeline: Any


def quiet() -> None:
    """Silence MLflow's progress bars, registration messages and warnings."""
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)


def use_tracking_store(root: Path) -> str:
    """Point MLflow (and subprocesses) at the SQLite store under ``root``; its URI."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ["MLFLOW_MONITOR_STORE_URI"] = f"sqlite:///{root / 'mlflow-monitor.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


def register_models(
    root: Path, n_train: int = 2000, reference_rows: int = 1000, config: dict | None = None
) -> Models:
    """Train, log and register the detector as ``reviews`` v1, then wrap it.

    Args:
        root: an empty directory for the tracking database and the artifacts.
        n_train: training reviews.
        reference_rows: training reviews kept as the drift reference.
        config: monitor options for ``wrap``.
    """
    import mlflow
    from reviews_data import log_detector, make_reviews, train_pipeline

    from mlflow_monitor.model.wrap import wrap

    quiet()
    uri = use_tracking_store(root)
    experiment = mlflow.create_experiment(
        "benchmarks", artifact_location=(root / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    train = make_reviews(n_train, seed=1)
    pipeline = train_pipeline(train)
    with mlflow.start_run():
        log_detector(pipeline, train[["text"]], INNER_NAME)
    inner_uri = f"models:/{INNER_NAME}/1"
    wrapped = wrap(inner_uri, train[["text"]].head(reference_rows), BASELINE, config=config)
    return Models(root, uri, inner_uri, wrapped.uri, pipeline)


def monitor_of(model: Any) -> Any:
    """The ``ModelMonitor`` inside a loaded monitored pyfunc."""
    return model.unwrap_python_model().monitor


def use_memory_store(model: Any) -> None:
    """Make a loaded monitored model record into an ``InMemoryStore``, sized from its config.

    A monitored pyfunc always records into a database store (the default is a SQLite file);
    the in-process store is what ``ModelMonitor`` uses without ``store_uri``.
    """
    from mlflow_monitor.store.memory import InMemoryStore

    monitor = monitor_of(model)
    monitor.store.close()
    cfg = monitor.config
    monitor.store = InMemoryStore(
        cfg.max_pending_feedback,
        cfg.drift_window_size,
        labelled_size=max(cfg.performance_window_size, cfg.max_pending_feedback),
        model_name=cfg.model_name,
        model_version=cfg.model_version,
    )
