"""Performance estimated in the monitor's checks, before labels arrive.

Labels are drawn from known probabilities, so the realized metrics are known. Seeded.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import ConfigError, create_monitor
from mlflow_monitor.results import CheckResult
from mlflow_monitor.tracking.artifacts import check_metrics
from mlflow_monitor.tracking.names import check_verdict

LABELS = {"model": "default", "version": "0"}
OPTIONS = {"performance_min_samples": 100, "performance_window_size": 300}


def _draw(rng: np.random.Generator, n: int, low: float = 0.0, high: float = 1.0):
    p = rng.uniform(low, high, n)
    return p, (rng.random(n) < p).astype(int)


def _monitor(rng, registry=None, **options):
    monitor = create_monitor({**OPTIONS, **options}, registry=registry)
    reference, truth = _draw(rng, 2000)
    predicted = (reference >= 0.5).astype(int)
    monitor.setup_performance_baseline({"accuracy": float(np.mean(predicted == truth))})
    monitor.setup_performance_estimation(reference, truth)
    return monitor


def _record(monitor, p):
    predictions = (p >= 0.5).astype(int)
    return monitor.record_predictions(predictions.tolist(), p.tolist())


def test_a_degradation_is_flagged_from_estimates_before_any_label(registry):
    rng = np.random.default_rng(0)
    fired = []
    monitor = _monitor(rng, registry, retraining_callback=lambda r, d: fired.append((r, d)))
    unsure, _ = _draw(rng, 300, 0.3, 0.7)  # the model is less sure: it will be wrong more
    _record(monitor, unsure)
    result = monitor.check_performance()
    estimated = result.performance.estimated
    assert result.performance.n_samples == 0  # not one label yet
    assert result.status == "degraded" and estimated.degraded
    assert estimated.metrics["accuracy"] < 0.7 < monitor.baseline["accuracy"]
    assert fired and fired[0][0] == "performance_degradation"
    assert fired[0][1]["basis"] == "estimated" and "accuracy" in fired[0][1]["degraded_metrics"]
    prefix = "fake_review_detection"
    assert registry.get_sample_value(f"{prefix}_estimated_performance_degraded", LABELS) == 1
    gauge = registry.get_sample_value(f"{prefix}_estimated_accuracy", LABELS)
    assert gauge == pytest.approx(estimated.metrics["accuracy"])
    assert check_verdict(result).startswith("performance ✗ est. accuracy")
    logged = check_metrics(result)
    assert "performance/accuracy" not in logged  # no realized value without labels
    assert logged["performance/estimated_accuracy"] == pytest.approx(
        estimated.metrics["accuracy"], rel=1e-3
    )
    assert logged["performance/estimated_accuracy_low"] < logged["performance/estimated_accuracy"]


def test_healthy_traffic_is_estimated_fine(registry):
    rng = np.random.default_rng(1)
    monitor = _monitor(rng, registry)
    _record(monitor, _draw(rng, 300)[0])
    result = monitor.check_performance()
    assert result.status == "ok" and not result.performance.estimated.degraded
    assert not result.triggered


def test_estimated_against_realized_once_the_labels_join():
    rng = np.random.default_rng(2)
    monitor = _monitor(rng)
    p, truth = _draw(rng, 300, 0.3, 0.7)
    ids = _record(monitor, p)
    for pid, label in zip(ids, truth, strict=True):
        monitor.record_feedback(pid, int(label))
    result = monitor.check_performance()
    snapshot = result.performance
    assert snapshot.enough_samples and result.status == "degraded"  # the realized verdict
    realized = snapshot.metrics["accuracy"]
    error = snapshot.estimated.realized_error["accuracy"]
    assert error == pytest.approx(snapshot.estimated.metrics["accuracy"] - realized)
    assert abs(error) < 0.06
    logged = check_metrics(result)
    assert logged["performance/estimation_error_accuracy"] == pytest.approx(error, abs=1e-3)
    assert logged["performance/accuracy"] == pytest.approx(realized, rel=1e-3)
    again = CheckResult.from_dict(result.to_dict())  # kept in the store and read back
    assert again.performance.estimated == snapshot.estimated


def _label(monitor, ids, truth):
    for pid, label in zip(ids, truth, strict=True):
        monitor.record_feedback(pid, int(label))


@pytest.mark.parametrize("store", ["memory", "sqlite"], ids=["memory", "sqlite"])
def test_a_drop_estimated_on_unlabelled_traffic_decides_over_older_labels(store, tmp_path):
    rng = np.random.default_rng(5)
    fired = []
    options = {"retraining_callback": lambda r, d: fired.append((r, d))}
    if store == "sqlite":
        options["store_uri"] = f"sqlite:///{tmp_path}/inference.db"
    monitor = _monitor(rng, **options)
    healthy, truth = _draw(rng, 300)
    _label(monitor, _record(monitor, healthy), truth)
    assert monitor.check_performance().status == "ok"
    # new traffic the model is unsure of; its labels have not arrived, the window's 300 labels
    # are of the healthy traffic before it
    unsure, unsure_truth = _draw(rng, 300, 0.3, 0.7)
    ids = _record(monitor, unsure)
    result = monitor.check_performance()
    snapshot, estimated = result.performance, result.performance.estimated
    assert snapshot.enough_samples and not snapshot.degraded  # the older labels look fine
    assert estimated.labelled_in_window == 0 and estimated.decides
    assert result.status == "degraded" and result.triggered
    assert estimated.realized_error == {}  # the labels are of other predictions
    reason, details = fired[-1]
    assert reason == "performance_degradation" and details["basis"] == "estimated"
    assert details["labelled_in_window"] == 0
    assert check_verdict(result).startswith("performance ✗ est. accuracy")
    assert CheckResult.from_dict(result.to_dict()).performance.estimated == estimated
    # the labels arrive and confirm it: the realized metrics decide again
    _label(monitor, ids, unsure_truth)
    confirmed = monitor.check_performance()
    assert confirmed.status == "degraded" and confirmed.performance.degraded
    assert not confirmed.performance.estimated.decides
    assert confirmed.performance.estimated.labelled_in_window == 300
    error = confirmed.performance.estimated.realized_error["accuracy"]
    assert abs(error) < 0.06
    monitor.close()


def test_the_check_table_shows_the_estimate_beside_older_labels(monkeypatch):
    import io

    from mlflow_monitor.cli.tables import checks_table, print_table

    monkeypatch.setenv("COLUMNS", "400")  # one line per row
    rng = np.random.default_rng(7)
    monitor = _monitor(rng)
    p, truth = _draw(rng, 300)
    _label(monitor, _record(monitor, p), truth)
    unsure, unsure_truth = _draw(rng, 300, 0.3, 0.7)
    ids = _record(monitor, unsure)
    out = io.StringIO()
    print_table(checks_table([monitor.check_performance()]), out)
    shown = " ".join(out.getvalue().replace("│", " ").split())
    assert "over 300 labels (of older predictions than the estimated ones)" in shown
    assert "estimated ✗ degraded accuracy 0." in shown
    assert "over 300 predictions, 0 labelled; decides the verdict" in shown
    _label(monitor, ids, unsure_truth)
    out = io.StringIO()
    print_table(checks_table([monitor.check_performance()]), out)
    shown = " ".join(out.getvalue().replace("│", " ").split())
    assert "300 labelled; estimated - realized: accuracy " in shown
    assert "decides" not in shown and "older" not in shown


def test_older_labels_that_show_a_drop_still_decide():
    """Only labels see concept shift: a degraded labelled window is not overruled by a fine
    estimate of the unlabelled traffic after it."""
    rng = np.random.default_rng(6)
    monitor = _monitor(rng)
    p, _ = _draw(rng, 300)
    ids = _record(monitor, p)
    _label(monitor, ids, rng.integers(0, 2, 300))  # the same inputs, other answers
    _record(monitor, _draw(rng, 300)[0])
    result = monitor.check_performance()
    assert result.performance.estimated.labelled_in_window == 0
    assert not result.performance.estimated.degraded
    assert result.status == "degraded" and result.performance.degraded
    assert not result.performance.estimated.decides


def test_an_estimated_drop_does_not_trigger_when_told_not_to():
    rng = np.random.default_rng(3)
    fired = []
    monitor = _monitor(
        rng,
        performance_estimation_triggers=False,
        retraining_callback=lambda r, d: fired.append(r),
    )
    _record(monitor, _draw(rng, 300, 0.3, 0.7)[0])
    result = monitor.check_performance()
    assert result.status == "degraded" and not fired


def test_too_few_predictions_still_skip():
    rng = np.random.default_rng(4)
    monitor = _monitor(rng)
    _record(monitor, _draw(rng, 20)[0])
    result = monitor.check_performance()
    assert result.status == "skipped" and "labelled predictions" in result.reason


def test_estimation_needs_performance_tracking():
    monitor = create_monitor({"enable_performance_tracking": False})
    with pytest.raises(ConfigError, match="enable_performance_tracking"):
        monitor.setup_performance_estimation([0.5] * 100, [1] * 100)
