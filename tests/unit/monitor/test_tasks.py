"""A monitor of each task: what it records, refuses, stores, exports and logs."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import create_monitor
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.monitor import ModelMonitor
from mlflow_monitor.tracking.artifacts import check_metrics

SERIES = {"model": "default", "version": "0"}  # the labels of a monitor's series


def _monitor(task: str, registry=None, **options) -> ModelMonitor:
    config = {"task": task, "performance_min_samples": 4, "enable_drift_detection": False}
    return ModelMonitor({**config, **options}, registry=registry)


# -- binary: a third class is refused, not counted as negative ----------------------------


def test_a_binary_monitor_refuses_class_2_in_every_recording_call():
    monitor = _monitor("binary")
    with pytest.raises(DataValidationError, match=r"prediction 2 is a class a binary monitor"):
        monitor.record_prediction(2, 0.4)
    with pytest.raises(DataValidationError, match="task='multiclass'"):
        monitor.record_predictions(np.array([0, 1, 2, 1]))
    with pytest.raises(DataValidationError, match="true_label 2"):
        monitor.record_prediction(1, 0.9, true_label=2)
    pid = monitor.record_prediction(1, 0.9)
    with pytest.raises(DataValidationError, match="true_label 2"):
        monitor.record_feedback(pid, 2)
    assert monitor.store.counts().predictions == 1  # nothing refused was stored


def test_a_binary_monitor_with_string_classes_learns_the_negative_one():
    monitor = _monitor("binary", positive_label="fake")
    monitor.record_predictions(["fake", "real", "real"], true_labels=["real", "real", None])
    with pytest.raises(DataValidationError, match="'spam' is a class a binary monitor"):
        monitor.record_prediction("spam")


# -- multiclass ------------------------------------------------------------------------------


def test_a_multiclass_monitor_takes_labels_and_class_probabilities(registry):
    monitor = _monitor("multiclass", registry=registry)
    monitor.record_prediction("cat", {"cat": 0.7, "dog": 0.2, "cow": 0.1}, true_label="cat")
    monitor.record_prediction("dog", [0.1, 0.6, 0.3], true_label="cow")
    monitor.record_prediction(2, 0.55, true_label=2)
    monitor.record_predictions(
        ["cow", "cat"], np.array([[0.1, 0.1, 0.8], [0.5, 0.3, 0.2]]), true_labels=["cow", "dog"]
    )
    probabilities = [r.probability for r in monitor.store.records()]
    assert sorted(probabilities) == pytest.approx(sorted([0.7, 0.6, 0.55, 0.8, 0.5]))
    monitor.setup_performance_baseline({"accuracy": 0.9, "macro_f1": 0.9})
    result = monitor.check_performance()
    snapshot = result.performance
    assert snapshot is not None and snapshot.task == "multiclass"
    assert snapshot.metrics["accuracy"] == pytest.approx(3 / 5)
    assert result.status == "degraded" and "accuracy" in snapshot.degraded_metrics
    assert snapshot.class_recall == {"2": 1.0, "cat": 1.0, "cow": 0.5, "dog": 0.0}
    metrics = monitor.prometheus_metrics
    assert metrics is not None
    assert metrics.value("accuracy") == pytest.approx(0.6)
    assert registry.get_sample_value(
        "fake_review_detection_class_recall", {"class_label": "cow", **SERIES}
    ) == pytest.approx(0.5)
    assert registry.get_sample_value("fake_review_detection_macro_f1", SERIES) == pytest.approx(
        snapshot.metrics["macro_f1"]
    )
    logged = check_metrics(result)
    assert logged["performance/macro_f1"] == pytest.approx(snapshot.metrics["macro_f1"], rel=1e-3)
    assert logged["performance/class_recall/cow"] == 0.5
    assert "performance/confusion/true_positives" not in logged


def test_a_class_probability_dict_must_name_the_predicted_class():
    monitor = _monitor("multiclass")
    with pytest.raises(DataValidationError, match="no entry for the predicted class 'cow'"):
        monitor.record_prediction("cow", {"cat": 0.7, "dog": 0.3})
    with pytest.raises(DataValidationError, match=r"probability must be a number in \[0, 1\]"):
        monitor.record_prediction("cat", [0.2, 1.7])


# -- regression ------------------------------------------------------------------------------


def test_a_regression_monitor_takes_floats_and_compares_errors(registry):
    monitor = _monitor("regression", registry=registry)
    monitor.record_prediction(3.5, true_label=3.0)
    ids = monitor.record_predictions(np.array([1.0, 2.0, 10.0]))
    for pid, truth in zip(ids, [1.5, 2.0, 4.0], strict=True):
        monitor.record_feedback(pid, truth)
    monitor.setup_performance_baseline({"mae": 1.0, "r2": 0.5})
    result = monitor.check_performance()
    snapshot = result.performance
    assert snapshot is not None
    assert snapshot.metrics["mae"] == pytest.approx((0.5 + 0.5 + 0 + 6) / 4)
    assert result.status == "degraded" and set(snapshot.degraded_metrics) == {"mae", "r2"}
    assert registry.get_sample_value("fake_review_detection_mae", SERIES) == pytest.approx(1.75)
    assert check_metrics(result)["performance/mae_baseline"] == 1.0
    status = monitor.get_monitoring_status()["performance"]
    assert status["task"] == "regression" and status["current"]["mae"] == pytest.approx(1.75)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.record_prediction(2.5, 0.9), "takes no probability"),
        (lambda m: m.record_prediction("high"), "prediction must be a finite number"),
        (lambda m: m.record_prediction(float("nan")), "finite number, got nan"),
        (lambda m: m.record_predictions(np.array([1.0, np.inf])), "finite number, got inf"),
        (lambda m: m.record_prediction(1.0, true_label=True), "true_label must be a finite"),
    ],
    ids=["probability", "text", "nan", "inf-in-batch", "bool-target"],
)
def test_a_regression_monitor_refuses_what_is_not_a_number(call, message):
    with pytest.raises(DataValidationError, match=message):
        call(_monitor("regression"))


# -- labels of every kind survive the database --------------------------------------------


@pytest.mark.parametrize(
    ("task", "predictions", "truths"),
    [
        ("multiclass", ["a", "1", 1, 7], ["a", 1, "1", 7]),
        ("regression", [0.25, 3.0, -1.5, 1e6], [0.5, 3.0, -2.0, 2e6]),
        ("binary", [0, 1, 1, 0], [0, 1, 0, 0]),
    ],
    ids=["str-and-int", "float", "binary"],
)
def test_labels_round_trip_through_sqlite(tmp_path, task, predictions, truths):
    uri = f"sqlite:///{tmp_path}/monitoring.db"
    writer = create_monitor(
        {"task": task, "store_uri": uri, "enable_drift_detection": False, "model_name": "m"}
    )
    ids = writer.record_predictions(predictions)
    for pid, truth in zip(ids, truths, strict=True):
        writer.record_feedback(pid, truth)
    writer.close()
    reader = create_monitor(
        {"task": task, "store_uri": uri, "enable_drift_detection": False, "model_name": "m"}
    )
    try:
        pairs = reader.store.labelled_window(10)
    finally:
        reader.close()

    def typed(pairs):  # 1 and "1", 3 and 3.0 must stay apart
        return sorted((type(p).__name__, p, type(t).__name__, t) for p, t in pairs)

    assert typed(pairs) == typed(zip(predictions, truths, strict=True))


def test_a_saved_regression_monitor_loads_its_float_window(tmp_path):
    monitor = _monitor("regression")
    monitor.record_predictions([1.5, 2.5], true_labels=[1.0, 2.0])
    monitor.setup_performance_baseline({"rmse": 0.5})
    monitor.save_state(tmp_path / "state")
    from mlflow_monitor import load_monitor

    again = load_monitor(tmp_path / "state")
    assert again.baseline == {"rmse": 0.5}
    assert again.current_performance().metrics["mae"] == pytest.approx(0.5)
