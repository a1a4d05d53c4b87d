"""A regression monitor estimates MAE and RMSE before labels (direct loss estimation).

The model's error grows with its predicted value, so traffic that moves to high predictions
is worse and the loss models can tell from the predictions alone. Seeded.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import DataValidationError, create_monitor
from mlflow_monitor.tracking.artifacts import check_metrics

LABELS = {"model": "default", "version": "0"}
OPTIONS = {
    "task": "regression",
    "performance_min_samples": 100,
    "performance_window_size": 400,
    "performance_threshold": 0.2,
}


def _draw(rng: np.random.Generator, n: int, centre: float = 0.0):
    """Predictions around ``centre`` and true values whose error spread grows with them."""
    predicted = rng.normal(centre, 1.0, n)
    truth = predicted + rng.normal(0.0, 1.0, n) * (0.2 + 0.5 * np.abs(predicted))
    return predicted, truth


def _monitor(rng, registry=None, **options):
    monitor = create_monitor({**OPTIONS, **options}, registry=registry)
    predicted, truth = _draw(rng, 3000)
    error = truth - predicted
    monitor.setup_performance_baseline(
        {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}
    )
    monitor.setup_performance_estimation(predicted, truth)
    return monitor


def test_higher_errors_are_estimated_and_flagged_before_any_label(registry):
    rng = np.random.default_rng(0)
    fired = []
    monitor = _monitor(rng, registry, retraining_callback=lambda r, d: fired.append((r, d)))
    predicted, truth = _draw(rng, 400, centre=2.0)
    ids = monitor.record_predictions(predicted.tolist())
    result = monitor.check_performance()
    estimate = result.performance.estimated
    realized_mae = float(np.mean(np.abs(truth - predicted)))
    assert result.performance.n_samples == 0
    assert result.status == "degraded" and estimate.decides
    assert set(estimate.degraded_metrics) == {"mae", "rmse"}
    assert estimate.metrics["mae"] == pytest.approx(realized_mae, rel=0.15)
    low, high = estimate.intervals["mae"]
    assert low < estimate.metrics["mae"] < high
    assert fired and fired[0][1]["basis"] == "estimated"
    gauge = registry.get_sample_value("fake_review_detection_estimated_mae", LABELS)
    assert gauge == pytest.approx(estimate.metrics["mae"])
    assert registry.get_sample_value("fake_review_detection_estimated_rmse", LABELS) > 0

    for pid, value in zip(ids, truth, strict=True):
        monitor.record_feedback(pid, float(value))
    confirmed = monitor.check_performance()
    assert confirmed.status == "degraded" and not confirmed.performance.estimated.decides
    assert confirmed.performance.metrics["mae"] == pytest.approx(realized_mae)
    error = confirmed.performance.estimated.realized_error["mae"]
    assert error == pytest.approx(estimate.metrics["mae"] - realized_mae, abs=1e-9)
    logged = check_metrics(confirmed)
    assert logged["performance/estimation_error_mae"] == pytest.approx(error, abs=1e-4)
    assert logged["performance/mae"] == pytest.approx(realized_mae, abs=1e-3)


def test_traffic_like_the_reference_is_estimated_fine():
    rng = np.random.default_rng(1)
    monitor = _monitor(rng)
    predicted, truth = _draw(rng, 400)
    monitor.record_predictions(predicted.tolist())
    result = monitor.check_performance()
    estimate = result.performance.estimated
    assert result.status == "ok" and not estimate.degraded_metrics
    assert estimate.metrics["mae"] == pytest.approx(np.mean(np.abs(truth - predicted)), rel=0.15)


def test_targets_that_are_not_numbers_are_refused():
    monitor = create_monitor(OPTIONS)
    with pytest.raises(DataValidationError, match="finite numbers"):
        monitor.setup_performance_estimation([0.5] * 100, ["high"] * 100)
