"""Per-task metrics against scikit-learn on known data, and each metric's direction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlflow_monitor import create_monitor
from mlflow_monitor.exceptions import ConfigError, DataValidationError
from mlflow_monitor.performance import PerformanceTracker
from mlflow_monitor.performance.tasks import (
    METRICS_BY_TASK,
    metric_names,
    relative_degradation,
    validate_task_baseline,
)
from mlflow_monitor.results import PerformanceSnapshot
from mlflow_monitor.results.performance import _TASK_METRICS


@pytest.fixture(scope="module")
def wine() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.05))
    model.fit(x_train, y_train)
    return model.predict(x_test), y_test


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    return LinearRegression().fit(x_train, y_train).predict(x_test), y_test


def test_multiclass_metrics_on_wine_match_scikit_learn(wine):
    predicted, actual = wine
    tracker = PerformanceTracker(task="multiclass", min_samples=10)
    tracker.update_many(zip(predicted, actual, strict=True))
    snapshot = tracker.compute()
    expected = {
        "accuracy": skm.accuracy_score(actual, predicted),
        "macro_precision": skm.precision_score(actual, predicted, average="macro"),
        "macro_recall": skm.recall_score(actual, predicted, average="macro"),
        "macro_f1": skm.f1_score(actual, predicted, average="macro"),
        "weighted_f1": skm.f1_score(actual, predicted, average="weighted"),
    }
    assert snapshot.task == "multiclass"
    assert snapshot.metrics == pytest.approx(expected)
    per_class = skm.recall_score(actual, predicted, average=None)
    assert snapshot.class_recall == pytest.approx({str(c): r for c, r in enumerate(per_class)})
    assert 0.5 < snapshot.accuracy < 1.0  # a real model, neither useless nor perfect


def test_string_classes_give_the_same_multiclass_metrics(wine):
    predicted, actual = wine
    names = np.array(["barolo", "grignolino", "barbera"])
    tracker = PerformanceTracker(task="multiclass", min_samples=10)
    tracker.update_many(zip(names[predicted], names[actual], strict=True))
    by_number = PerformanceTracker(task="multiclass", min_samples=10)
    by_number.update_many(zip(predicted, actual, strict=True))
    assert tracker.compute().metrics == pytest.approx(by_number.compute().metrics)
    assert set(tracker.compute().class_recall) == set(names)


def test_regression_metrics_on_diabetes_match_scikit_learn(diabetes):
    predicted, actual = diabetes
    tracker = PerformanceTracker(task="regression", min_samples=10, window_size=1000)
    tracker.update_many(zip(predicted, actual, strict=True))
    snapshot = tracker.compute()
    assert snapshot.metrics == pytest.approx(
        {
            "mae": skm.mean_absolute_error(actual, predicted),
            "rmse": math.sqrt(skm.mean_squared_error(actual, predicted)),
            "r2": skm.r2_score(actual, predicted),
            "mape": skm.mean_absolute_percentage_error(actual, predicted),
        }
    )
    assert 0.2 < snapshot.metrics["r2"] < 0.7


def test_an_error_degrades_when_it_rises_and_a_score_when_it_falls(diabetes):
    predicted, actual = diabetes
    true_mae = skm.mean_absolute_error(actual, predicted)
    tracker = PerformanceTracker(task="regression", min_samples=10, threshold=0.1)
    tracker.update_many(zip(predicted, actual, strict=True))
    # Live MAE 25% above its baseline: degraded; 25% below: an improvement, not degraded.
    worse = tracker.set_baseline({"mae": true_mae / 1.25}).compute()
    assert worse.degraded and worse.degraded_metrics["mae"] == pytest.approx(0.25)
    better = tracker.set_baseline({"mae": true_mae * 1.25}).compute()
    assert not better.degraded
    r2 = skm.r2_score(actual, predicted)
    fell = tracker.set_baseline({"r2": r2 * 1.5}).compute()
    assert fell.degraded_metrics == {"r2": pytest.approx(1 / 3)}
    assert relative_degradation("regression", "rmse", 10.0, 12.0) == pytest.approx(0.2)
    assert relative_degradation("multiclass", "macro_f1", 0.8, 0.6) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("task", "baseline", "message"),
    [
        ("regression", {"precision": 0.9}, "unknown for task 'regression'"),
        ("regression", {"mae": -1.0}, r"\[0, inf\]"),
        ("regression", {"r2": 1.5}, r"\[-inf, 1\]"),
        ("multiclass", {"mae": 3.0}, "unknown for task 'multiclass'"),
        ("multiclass", {"macro_f1": 1.2}, r"\[0, 1\]"),
        ("binary", {"macro_f1": 0.9}, "unknown for task 'binary'"),
    ],
    ids=["reg-precision", "reg-negative-mae", "reg-r2-above-1", "mc-mae", "mc-range", "bin"],
)
def test_a_baseline_must_fit_the_task(task, baseline, message):
    with pytest.raises(DataValidationError, match=message):
        validate_task_baseline(task, baseline)


def test_an_r2_baseline_may_be_negative():
    assert validate_task_baseline("regression", {"r2": -0.5, "mae": 3}) == {"r2": -0.5, "mae": 3.0}


def test_results_know_the_metric_names_of_each_task():
    for task, names in _TASK_METRICS.items():
        assert names == metric_names(task)
    assert set(METRICS_BY_TASK) == {"binary", *_TASK_METRICS}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_task_snapshots_survive_the_dict_round_trip(task, wine, diabetes):
    predicted, actual = wine if task == "multiclass" else diabetes
    tracker = PerformanceTracker(task=task, min_samples=10)
    tracker.update_many(zip(predicted, actual, strict=True))
    snapshot = tracker.compute()
    again = PerformanceSnapshot.from_dict(snapshot.to_dict())
    assert again.task == task
    assert again.metrics == snapshot.metrics
    assert again.class_recall == snapshot.class_recall


def test_binary_snapshots_keep_the_seed_keys_only():
    tracker = PerformanceTracker(min_samples=1)
    tracker.update_many([(1, 1), (0, 1), (0, 0)])
    keys = set(tracker.compute().to_dict())
    assert "task" not in keys and "class_recall" not in keys
    assert {"precision", "recall", "accuracy", "f1_score"} <= keys


def test_an_unknown_task_is_refused():
    with pytest.raises(ConfigError, match="task must be one of 'binary', 'multiclass'"):
        create_monitor({"task": "ranking"})
    with pytest.raises(ConfigError, match="task"):
        PerformanceTracker(task="ranking")
