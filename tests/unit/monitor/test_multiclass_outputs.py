"""A multiclass monitor that keeps every class's probability: prediction drift of the class
balance and of each class's probability, and performance estimated (CBPE) over the window's
vectors before labels arrive.

The model is a logistic regression on scikit-learn's digits (10 classes), seeded; a "shift"
is a window drawn with another class mix than the reference, so its realized accuracy is
known. Each test runs on the in-memory store and on a SQLite file.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlflow_monitor import create_monitor
from mlflow_monitor.drift.predictions import MAX_CLASS_TESTS, OutputReference
from mlflow_monitor.exceptions import DataValidationError
from mlflow_monitor.tracking.artifacts import check_metrics

CLASSES = list(range(10))
# The classes a shifted window is mostly made of: the two this model gets wrong most
# (recall about 0.81, against 0.93 for the others).
HARD = [1, 8]
# Largest gap allowed between the estimated and the realized accuracy of a window of 400:
# the realized value's own spread at n=400 and accuracy ~0.9 is ~0.015 (one sd).
ACCURACY_TOLERANCE = 0.04


@pytest.fixture(scope="module")
def digits():
    """A fitted model, its reference outputs and labels, and a pool of unseen rows."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order] / 16.0, y[order]
    train, reference, pool = slice(0, 250), slice(250, 1000), slice(1000, None)
    with threadpool_limits(1):
        model = LogisticRegression(max_iter=300, C=0.05).fit(x[train], y[train])
        p_reference = model.predict_proba(x[reference])
        p_pool = model.predict_proba(x[pool])
    return {
        "p_reference": p_reference,
        "y_reference": y[reference],
        "x_reference": x[reference][:, 20:28],
        "p_pool": p_pool,
        "y_pool": y[pool],
        "x_pool": x[pool][:, 20:28],
    }


@pytest.fixture(params=["memory", "sqlite"])
def store_options(request, tmp_path):
    if request.param == "memory":
        return {}
    return {"store_uri": f"sqlite:///{tmp_path}/inference.db"}


def _window(digits, n, seed, favour=None):
    """Rows of the pool: drawn uniformly, or with ``favour``'s classes 10 times as likely
    (about 70% of the window then)."""
    rng = np.random.default_rng(seed)
    weights = np.ones(len(digits["y_pool"]))
    if favour is not None:
        weights[np.isin(digits["y_pool"], favour)] = 10.0
    rows = rng.choice(len(weights), n, replace=True, p=weights / weights.sum())
    return digits["p_pool"][rows], digits["y_pool"][rows], digits["x_pool"][rows]


def _monitor(digits, store_options, **options):
    monitor = create_monitor(
        {
            "task": "multiclass",
            "classes": CLASSES,
            "drift_min_samples": 100,
            "drift_n_permutations": 50,
            "performance_min_samples": 100,
            "performance_window_size": 400,
            "random_seed": 0,
            **store_options,
            **options,
        }
    )
    monitor.setup_drift_detection(digits["x_reference"])
    p = digits["p_reference"]
    monitor.setup_prediction_drift(p.argmax(axis=1), p)
    return monitor


def _record(monitor, probabilities, features):
    monitor.record_batch(probabilities.argmax(axis=1), probabilities, features=features)
    monitor.store.flush()


def test_a_class_balance_shift_is_found_and_a_window_like_the_reference_is_not(
    digits, store_options
):
    monitor = _monitor(digits, store_options)
    p, _, x = _window(digits, 400, seed=1)
    _record(monitor, p, x)
    calm = monitor.check_drift().prediction_drift
    names = [o.name for o in calm.outputs]
    assert names[:2] == ["prediction", "probability"]
    assert names[2:] == [f"class_probability/{c}" for c in CLASSES]  # 10 classes: all tested
    assert not calm.drift_detected, [(o.name, o.adjusted_p_value) for o in calm.outputs]

    p, _, x = _window(digits, 400, seed=2, favour=HARD)
    _record(monitor, p, x)
    result = monitor.check_drift()
    shifted = result.prediction_drift
    by_name = {o.name: o for o in shifted.outputs}
    balance = by_name["prediction"]
    assert shifted.drift_detected and balance.drift_detected and balance.test == "chi2"
    assert balance.effect_size > 2 * calm.outputs[0].effect_size  # Jensen-Shannon distance
    moved = {o.name for o in shifted.outputs if o.name.startswith("class_") and o.drift_detected}
    assert moved and moved <= {f"class_probability/{c}" for c in CLASSES}
    assert any(name.endswith(("/1", "/8")) for name in moved)
    logged = check_metrics(result)
    assert logged["prediction/drift_detected"] == 1.0
    assert "prediction/class_probability/8/ks_p_value" in logged
    assert "prediction/class_probability/8/effect_size" in logged
    monitor.close()


def test_multiclass_performance_is_estimated_at_the_monitor_within_tolerance(
    digits, store_options, registry
):
    p_ref, y_ref = digits["p_reference"], digits["y_reference"]
    monitor = create_monitor(
        {
            "task": "multiclass",
            "classes": CLASSES,
            "performance_min_samples": 100,
            "performance_window_size": 400,
            "random_seed": 0,
            **store_options,
        },
        registry=registry,
    )
    baseline = float(np.mean(p_ref.argmax(axis=1) == y_ref))
    monitor.setup_performance_baseline({"accuracy": baseline})
    estimator = monitor.setup_performance_estimation(p_ref, y_ref.tolist())
    assert estimator.classes_ == CLASSES
    realized = {}
    estimated = {}
    for name, favour, seed in (("calm", None, 3), ("shifted", HARD, 4)):
        p, y, _ = _window(digits, 400, seed=seed, favour=favour)
        _record(monitor, p, None)
        result = monitor.check_performance()
        estimate = result.performance.estimated
        assert result.performance.n_samples == 0 and estimate.n_samples == 400
        realized[name] = float(np.mean(p.argmax(axis=1) == y))
        estimated[name] = estimate.metrics["accuracy"]
        assert abs(estimated[name] - realized[name]) < ACCURACY_TOLERANCE, (name, estimate)
        low, high = estimate.intervals["accuracy"]
        assert low <= estimated[name] <= high
        assert set(estimate.metrics) == {"accuracy", "macro_f1"}
        logged = check_metrics(result)
        assert logged["performance/estimated_accuracy"] == pytest.approx(estimated[name], 1e-3)
        assert "performance/estimated_macro_f1" in logged
    # The shift towards hard classes costs accuracy, and the estimate sees it without labels.
    assert realized["shifted"] < realized["calm"] - 0.02
    assert estimated["shifted"] < estimated["calm"] - 0.02
    series = {"model": "default", "version": "0"}
    gauge = registry.get_sample_value("fake_review_detection_estimated_macro_f1", series)
    assert gauge == pytest.approx(estimate.metrics["macro_f1"])
    monitor.close()


def test_rows_without_vectors_are_left_out_of_the_estimate(digits):
    monitor = create_monitor(
        {"task": "multiclass", "classes": CLASSES, "performance_min_samples": 50}
    )
    monitor.setup_performance_baseline({"accuracy": 0.9})
    monitor.setup_performance_estimation(digits["p_reference"], digits["y_reference"])
    p, _, _ = _window(digits, 60, seed=5)
    monitor.record_predictions(p.argmax(axis=1), p.max(axis=1))  # the best class's only
    assert monitor.check_performance().status == "skipped"
    monitor.record_predictions(p.argmax(axis=1), p)
    assert monitor.check_performance().performance.estimated.n_samples == 60


def test_class_probabilities_are_read_in_the_order_of_the_classes():
    monitor = create_monitor({"task": "multiclass", "classes": ["setosa", "versicolor", "x"]})
    monitor.record_prediction("x", {"x": 0.5, "setosa": 0.25, "versicolor": 0.25})
    monitor.record_prediction("setosa", [0.6, 0.3, 0.1])
    monitor.record_predictions(["x", "setosa"], [{"x": 0.9, "setosa": 0.1}, None])
    vectors = [None if v is None else v.tolist() for _, _, v in monitor.store.recent_outputs(4)]
    assert vectors == [[0.25, 0.25, 0.5], [0.6, 0.3, 0.1], [0.1, 0.0, 0.9], None]
    assert [q for _, q, _ in monitor.store.recent_outputs(4)] == [0.5, 0.6, 0.9, None]
    with pytest.raises(DataValidationError, match="not among the monitor's classes"):
        monitor.record_prediction("x", {"x": 0.5, "y": 0.5})
    with pytest.raises(DataValidationError, match="has 2 class probabilities"):
        monitor.record_prediction("x", [0.5, 0.5])
    with pytest.raises(DataValidationError, match=r"in \[0, 1\]"):
        monitor.record_predictions(["x"], np.array([[0.5, 1.5, 0.0]]))
    # Without classes a dict gives the predicted class's probability only (its order is
    # unknown), and a vector is kept as it came.
    plain = create_monitor({"task": "multiclass"})
    plain.record_prediction("a", {"a": 0.7, "b": 0.3})
    plain.record_prediction(2, [0.1, 0.2, 0.7])
    outputs = plain.store.recent_outputs(2)
    assert outputs[0] == ("a", 0.7, None) and outputs[1][2].tolist() == [0.1, 0.2, 0.7]


def test_a_binary_monitor_keeps_no_vectors():
    monitor = create_monitor({})
    monitor.record_predictions([1, 0], np.array([0.9, 0.2]))
    monitor.record_prediction(1, 0.7)
    assert [v for _, _, v in monitor.store.recent_outputs(3)] == [None, None, None]


def test_many_classes_are_capped_and_the_reference_survives_json():
    rng = np.random.default_rng(6)
    k = 30
    alphas = np.r_[np.full(k - MAX_CLASS_TESTS, 0.5), np.full(MAX_CLASS_TESTS, 5.0)]
    matrix = rng.dirichlet(alphas, 500)
    reference = OutputReference("multiclass", matrix.argmax(axis=1), matrix, list(range(k)))
    tested = reference.tested_classes()
    assert len(tested) == MAX_CLASS_TESTS
    assert tested == list(range(k - MAX_CLASS_TESTS, k))  # the most probable on average
    recent = [(int(v.argmax()), float(v.max()), v) for v in rng.dirichlet(np.ones(k), 200)]
    result = reference.test(recent, 0.05, "bonferroni")
    assert len(result.outputs) == 2 + MAX_CLASS_TESTS
    again = OutputReference.from_dict(reference.to_dict())
    assert again.test(recent, 0.05, "bonferroni") == result
    with pytest.raises(DataValidationError, match="probability columns but 2 classes"):
        OutputReference("multiclass", [0, 1, 2], np.eye(3), ["a", "b"])


def test_saved_state_keeps_the_classes_and_the_vectors(tmp_path):
    from mlflow_monitor import load_monitor

    monitor = create_monitor({"task": "multiclass", "classes": ["a", "b", "c"]})
    monitor.record_predictions(["a", "b"], np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]))
    monitor.record_prediction("c", 0.9)
    monitor.save_state(tmp_path / "state.json")
    restored = load_monitor(tmp_path / "state.json")
    assert restored.config.classes == ["a", "b", "c"]
    recent = [
        (p, q, None if v is None else v.tolist()) for p, q, v in restored.store.recent_outputs(5)
    ]
    assert recent == [("a", 0.7, [0.7, 0.2, 0.1]), ("b", 0.8, [0.1, 0.8, 0.1]), ("c", 0.9, None)]
