"""Performance estimated before labels arrive (CBPE for classifiers, DLE for regressors).

Labels are drawn from known probabilities, so the realized metric of a window is known and
the estimate can be held to it. Seeded; every test runs in well under a second or two.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import ConfigError, DataValidationError, NotFittedError
from mlflow_monitor.performance.estimation import PerformanceEstimator, estimated_degradation


def _binary(rng: np.random.Generator, n: int, low: float = 0.0, high: float = 1.0):
    """Calibrated scores and labels drawn from them."""
    p = rng.uniform(low, high, n)
    return p, (rng.random(n) < p).astype(int)


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p >= 0.5).astype(int) == y))


def test_calibrated_scores_are_used_as_they_are_and_estimate_the_realized_accuracy():
    rng = np.random.default_rng(0)
    estimator = PerformanceEstimator("binary").fit(*_binary(rng, 2000))
    assert estimator.calibration_.method == "none"
    errors, covered = [], 0
    for _ in range(40):
        p, y = _binary(rng, 400)
        estimate = estimator.estimate(p)
        realized = _accuracy(p, y)
        errors.append(abs(estimate.metrics["accuracy"] - realized))
        low, high = estimate.intervals["accuracy"]
        covered += low <= realized <= high
    assert np.mean(errors) < 0.02
    assert covered >= 36  # 95% intervals: at least 90% of 40 windows


def test_overconfident_scores_are_recalibrated_on_held_out_folds():
    rng = np.random.default_rng(1)
    p, y = _binary(rng, 3000)
    overconfident = np.clip(0.5 + 1.8 * (p - 0.5), 0.0, 1.0)  # claims more than it knows
    estimator = PerformanceEstimator("binary").fit(overconfident, y)
    calibration = estimator.calibration_
    assert calibration.method == "isotonic"
    assert calibration.brier_after < calibration.brier_before
    assert calibration.ece_after < calibration.ece_before
    q, truth = _binary(rng, 1000)
    shown = np.clip(0.5 + 1.8 * (q - 0.5), 0.0, 1.0)
    naive = float(np.mean(np.maximum(shown, 1 - shown)))  # what the raw scores claim
    realized = _accuracy(shown, truth)
    estimated = estimator.estimate(shown).metrics["accuracy"]
    assert abs(estimated - realized) < 0.02 < abs(naive - realized)


def test_a_shift_towards_unsure_inputs_is_estimated_before_any_label():
    rng = np.random.default_rng(2)
    reference = _binary(rng, 2000)
    estimator = PerformanceEstimator("binary").fit(*reference)
    baseline = {"accuracy": _accuracy(*reference)}
    healthy = estimator.estimate(_binary(rng, 500)[0])
    assert estimated_degradation(healthy, baseline, 0.05) == {}
    unsure, labels = _binary(rng, 500, 0.3, 0.7)  # same model, harder inputs
    estimate = estimator.estimate(unsure)
    realized = _accuracy(unsure, labels)
    assert abs(estimate.metrics["accuracy"] - realized) < 0.05
    degraded = estimated_degradation(estimate, baseline, 0.05)
    assert set(degraded) >= {"accuracy"} and degraded["accuracy"] > 0.05
    assert estimate.intervals["accuracy"][1] < baseline["accuracy"]


def test_binary_estimate_has_every_metric_with_an_interval_around_it():
    rng = np.random.default_rng(3)
    estimator = PerformanceEstimator("binary").fit(*_binary(rng, 1500))
    p, y = _binary(rng, 800)
    estimate = estimator.estimate(p)
    predicted = (p >= 0.5).astype(int)
    tp = int(((predicted == 1) & (y == 1)).sum())
    realized = {
        "precision": tp / predicted.sum(),
        "recall": tp / y.sum(),
        "f1_score": 2 * tp / (predicted.sum() + y.sum()),
    }
    from sklearn.metrics import roc_auc_score

    realized["roc_auc"] = roc_auc_score(y, p)
    for name, value in realized.items():
        low, high = estimate.intervals[name]
        assert low <= estimate.metrics[name] <= high, name
        assert abs(estimate.metrics[name] - value) < 0.05, name
    assert estimate.to_dict()["n_samples"] == 800


def test_multiclass_accuracy_and_macro_f1():
    rng = np.random.default_rng(4)

    def draw(n: int, sharpness: float):
        logits = rng.normal(0, sharpness, (n, 4))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(["a", "b", "c", "d"], p=row) for row in p])
        return p, y

    estimator = PerformanceEstimator("multiclass").fit(
        *draw(2000, 2.0), classes=["a", "b", "c", "d"]
    )
    p, y = draw(600, 1.0)  # less sure than the reference
    estimate = estimator.estimate(p)
    predicted = np.array(["a", "b", "c", "d"])[p.argmax(axis=1)]
    from sklearn.metrics import f1_score

    assert abs(estimate.metrics["accuracy"] - np.mean(predicted == y)) < 0.05
    assert abs(estimate.metrics["macro_f1"] - f1_score(y, predicted, average="macro")) < 0.06
    assert set(estimate.intervals) == {"accuracy", "macro_f1"}


def test_regression_errors_are_estimated_from_a_loss_model():
    rng = np.random.default_rng(5)

    def draw(n: int, spread: float):
        x = rng.uniform(-spread, spread, (n, 2))
        noise = 0.2 + np.abs(x[:, 0])  # the error grows away from the centre
        y = x[:, 0] + x[:, 1] + rng.normal(0, noise)
        return x, x[:, 0] + x[:, 1], y

    x, predictions, y = draw(3000, 2.0)
    estimator = PerformanceEstimator("regression").fit(predictions, y, reference_features=x)
    x_w, predictions_w, y_w = draw(600, 2.0)
    near = np.abs(x_w[:, 0]) < 0.7  # a window of easy rows only
    for rows in (slice(None), near):
        estimate = estimator.estimate(predictions_w[rows], features=x_w[rows])
        mae = float(np.mean(np.abs(y_w[rows] - predictions_w[rows])))
        rmse = float(np.sqrt(np.mean((y_w[rows] - predictions_w[rows]) ** 2)))
        assert abs(estimate.metrics["mae"] - mae) < 0.1 * mae
        assert abs(estimate.metrics["rmse"] - rmse) < 0.12 * rmse
        low, high = estimate.intervals["mae"]
        assert low <= mae <= high
    baseline = {"mae": float(np.mean(np.abs(y - predictions)))}
    far = estimator.estimate(predictions_w[~near], features=x_w[~near])
    assert "mae" in estimated_degradation(far, baseline, 0.05)  # an error that rises degrades


@pytest.mark.parametrize(
    ("task", "outputs", "labels", "message"),
    [
        ("binary", np.full(100, 1.5), np.ones(100), "in \\[0, 1\\]"),
        ("binary", np.full(10, 0.5), np.ones(10), "at least 50"),
        ("binary", np.full(100, 0.5), np.ones(99), "100 reference outputs but 99 labels"),
        ("binary", np.full(100, 0.5), np.full(100, 7), "not among the classes"),
        ("multiclass", np.full(100, 0.5), np.ones(100), "matrix"),
        ("regression", np.full(100, np.nan), np.ones(100), "finite"),
    ],
    ids=["range", "too-few", "lengths", "unknown-class", "shape", "nan"],
)
def test_bad_reference_data_is_refused_clearly(task, outputs, labels, message):
    with pytest.raises(DataValidationError, match=message):
        PerformanceEstimator(task).fit(outputs, labels)


def test_misuse_is_refused_clearly():
    with pytest.raises(ConfigError, match="task"):
        PerformanceEstimator("ranking")
    with pytest.raises(NotFittedError):
        PerformanceEstimator("binary").estimate([0.5])
    rng = np.random.default_rng(6)
    estimator = PerformanceEstimator("binary").fit(*_binary(rng, 200))
    with pytest.raises(DataValidationError, match="empty"):
        estimator.estimate(np.array([]))
