"""What the check-run tests share: check results to log, their samples, and reading back what
MLflow holds (runs, artifacts, metric history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from mlflow_monitor import CheckResult, DriftResult, FeatureDrift, PerformanceSnapshot

__all__ = [
    "FEATURES",
    "PNG",
    "T0",
    "check_runs",
    "client_for",
    "download",
    "drift_check",
    "history_points",
    "ms",
    "performance_check",
    "samples",
]

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
FEATURES = ("length", "price/€", "stars")
PNG = b"\x89PNG\r\n\x1a\n"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def drift_check(minutes: float, p_value: float = 0.001) -> CheckResult:
    when = T0 + timedelta(minutes=minutes)
    stats = {"length": (0.45, 1e-9), "price/€": (0.30, 1e-4), "stars": (0.05, 0.9)}
    features = tuple(
        FeatureDrift(name, stat, p, min(1.0, 3 * p), 3 * p < 0.05)
        for name, (stat, p) in stats.items()
    )
    drift = DriftResult(
        drift_detected=p_value < 0.05,
        p_value=p_value,
        distance=0.2,
        distance_threshold=0.05,
        p_val=0.05,
        n_reference=200,
        n_test=100,
        backend="builtin",
        sigma=1.5,
        features=features,
        correction="bonferroni",
        timestamp=when,
    )
    status = "drift" if drift.drift_detected else "ok"
    return CheckResult("drift", status, drift=drift, triggered=drift.drift_detected, timestamp=when)


def performance_check(minutes: float) -> CheckResult:
    when = T0 + timedelta(minutes=minutes)
    snapshot = PerformanceSnapshot(
        precision=0.8,
        recall=40 / 55,
        accuracy=0.75,
        f1_score=80 / 105,
        n_samples=100,
        enough_samples=True,
        degraded=True,
        degraded_metrics={"precision": 0.11},
        baseline={"precision": 0.9, "recall": 0.8},
        threshold=0.05,
        timestamp=when,
        true_positives=40,
        false_positives=10,
        false_negatives=15,
        true_negatives=35,
    )
    return CheckResult("performance", "degraded", performance=snapshot, timestamp=when)


def samples(rng):
    reference = rng.normal(size=(200, 3))
    return reference, reference[:100] + np.array([1.0, 0.5, 0.0])


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def check_runs(uri: str, experiment_name: str):
    client = client_for(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    return client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`mlflow_monitor.role` = 'check'",
        order_by=["attributes.start_time ASC"],
    )


def download(uri: str, run_id: str, path: str, dst) -> bytes:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=uri
    )
    with open(local, "rb") as handle:
        return handle.read()


def history_points(uri: str, run_id: str, key: str) -> list[tuple[int, int, float]]:
    history = client_for(uri).get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, m.value) for m in history)
