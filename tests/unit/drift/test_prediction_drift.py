"""Prediction drift: the model's outputs against its outputs on the reference, per task."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import create_monitor
from mlflow_monitor.drift.predictions import OutputReference
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.tracking.artifacts import check_metrics

SERIES = {"model": "default", "version": "0"}  # the labels of a monitor's series

BASE = {"drift_min_samples": 50, "random_seed": 0}

# The model and version labels of a monitor on the default options.
DEFAULT_LABELS = {"model": "default", "version": "0"}


def _monitor(task, registry=None):
    rng = np.random.default_rng(0)
    monitor = create_monitor({**BASE, "task": task}, registry=registry)
    monitor.setup_drift_detection(rng.normal(size=(300, 2)))
    return monitor, rng


def test_binary_scores_that_moved_are_found(registry):
    monitor, rng = _monitor("binary", registry)
    reference_scores = rng.beta(2, 5, 400)
    monitor.setup_prediction_drift((reference_scores >= 0.5).astype(int), reference_scores)
    scores = rng.beta(5, 2, 100)  # the model now says "positive" far more often
    monitor.record_predictions(
        (scores >= 0.5).astype(int), scores, features=rng.normal(size=(100, 2))
    )
    result = monitor.check_drift()
    outputs = result.prediction_drift
    assert outputs.drift_detected and [o.name for o in outputs.outputs] == ["probability"]
    assert outputs.outputs[0].effect_size > 1.0
    assert result.status == "ok"  # the inputs did not move: the data drift verdict is its own
    assert (
        registry.get_sample_value("fake_review_detection_prediction_drift_detected", DEFAULT_LABELS)
        == 1
    )
    assert check_metrics(result)["prediction/drift_detected"] == 1.0


def test_the_same_outputs_are_not_flagged():
    monitor, rng = _monitor("regression")
    monitor.setup_prediction_drift(rng.normal(50, 10, 500))
    monitor.record_predictions(rng.normal(50, 10, 100), features=rng.normal(size=(100, 2)))
    outputs = monitor.check_drift().prediction_drift
    assert not outputs.drift_detected and outputs.outputs[0].name == "prediction"


def test_a_multiclass_class_balance_that_changed_is_found():
    monitor, rng = _monitor("multiclass")
    monitor.setup_prediction_drift(rng.choice(["a", "b", "c"], 600, p=[0.6, 0.3, 0.1]))
    classes = rng.choice(["a", "b", "c", "d"], 100, p=[0.2, 0.2, 0.4, 0.2])
    monitor.record_predictions(
        classes, rng.uniform(0.4, 1, 100), features=rng.normal(size=(100, 2))
    )
    outputs = monitor.check_drift().prediction_drift
    balance = outputs.outputs[0]
    assert outputs.drift_detected and balance.test == "chi2"
    assert balance.unseen_share == pytest.approx((classes == "d").mean())


def test_the_reference_outputs_are_checked_and_survive_json():
    with pytest.raises(DataValidationError, match="at least 2"):
        OutputReference("binary", [1])
    with pytest.raises(DataValidationError, match="one per prediction"):
        OutputReference("binary", [0, 1, 1], [0.2, 0.9])
    reference = OutputReference("binary", [0, 1, 1], [0.2, 0.9, 0.7])
    again = OutputReference.from_dict(reference.to_dict())
    recent = [(1, 0.8), (0, 0.1), (1, 0.95)]
    assert again.test(recent, 0.05, "bonferroni") == reference.test(recent, 0.05, "bonferroni")
