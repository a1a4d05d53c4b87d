from __future__ import annotations

import numpy as np
import pytest

from mlflow_monitor import ConfigError, DataValidationError, PerformanceSnapshot, PerformanceTracker

BASELINE = {"precision": 0.8, "recall": 0.8, "accuracy": 0.8, "f1_score": 0.8}


def test_metrics_on_a_known_confusion_matrix():
    # TP=3, FP=1, FN=2, TN=4 -> precision 3/4, recall 3/5, accuracy 7/10, F1 2/3
    pairs = [(1, 1)] * 3 + [(1, 0)] + [(0, 1)] * 2 + [(0, 0)] * 4
    tracker = PerformanceTracker(min_samples=1)
    tracker.update_many(pairs)
    snap = tracker.compute()
    assert snap.precision == pytest.approx(0.75)
    assert snap.recall == pytest.approx(0.6)
    assert snap.accuracy == pytest.approx(0.7)
    assert snap.f1_score == pytest.approx(2 / 3)
    assert snap.n_samples == 10
    assert (snap.true_positives, snap.false_positives) == (3, 1)
    assert (snap.false_negatives, snap.true_negatives) == (2, 4)


def test_counts_survive_the_dict_round_trip_and_default_to_zero():
    tracker = PerformanceTracker(min_samples=1, baseline=BASELINE)
    tracker.update_many([(1, 1)] * 3 + [(1, 0)] + [(0, 1)] * 2 + [(0, 0)] * 4)
    snap = tracker.compute()
    assert PerformanceSnapshot.from_dict(snap.to_dict()) == snap
    older = {k: v for k, v in snap.to_dict().items() if k not in snap.confusion}
    assert PerformanceSnapshot.from_dict(older).confusion == dict.fromkeys(snap.confusion, 0)


def test_other_classes_count_as_negative():
    tracker = PerformanceTracker(min_samples=1, positive_label="fake")
    tracker.update_many([("fake", "spam"), ("spam", "real"), ("real", "real"), ("spam", "fake")])
    snap = tracker.compute()
    assert snap.confusion == {
        "true_positives": 0,
        "false_positives": 1,
        "false_negatives": 1,
        "true_negatives": 2,
    }
    assert snap.accuracy == 0.25  # multi-class accuracy: only ("real", "real") is right


def test_positive_label_is_configurable():
    tracker = PerformanceTracker(min_samples=1, positive_label="fake")
    tracker.update_many([("fake", "fake"), ("fake", "real"), ("real", "fake"), ("real", "real")])
    snap = tracker.compute()
    assert (snap.precision, snap.recall, snap.accuracy) == (0.5, 0.5, 0.5)


def test_degradation_is_relative_to_the_baseline():
    tracker = PerformanceTracker(threshold=0.05, min_samples=10, baseline=BASELINE)
    tracker.update_many([(1, 1)] * 6 + [(0, 0)] * 2 + [(1, 0)] + [(0, 1)])  # all metrics ~0.8
    assert not tracker.compute().degraded
    tracker.update_many([(1, 0)] * 2)  # precision 6/9 = 0.667: a 17% drop
    snap = tracker.compute()
    assert snap.degraded
    assert snap.degraded_metrics["precision"] == pytest.approx((0.8 - 6 / 9) / 0.8)
    assert "recall" not in snap.degraded_metrics  # 6/7 is above its baseline


def test_no_verdict_below_min_samples():
    tracker = PerformanceTracker(min_samples=50, baseline=BASELINE)
    tracker.update_many([(1, 0)] * 49)
    snap = tracker.compute()
    assert not snap.degraded and not snap.enough_samples
    tracker.update(1, 0)
    assert tracker.compute().degraded


def test_window_keeps_only_the_latest_labels():
    tracker = PerformanceTracker(window_size=4, min_samples=1)
    tracker.update_many([(1, 0)] * 10 + [(1, 1)] * 4)
    assert len(tracker) == 4
    assert tracker.compute().precision == 1.0


def test_numpy_and_float_labels_are_accepted():
    tracker = PerformanceTracker(min_samples=1)
    tracker.update(np.int64(1), 1.0)
    tracker.update(np.bool_(False), np.float32(0))
    assert tracker.window() == [(1, 1), (0, 0)]


def test_empty_window_gives_zero_metrics_and_no_verdict():
    snap = PerformanceTracker(baseline=BASELINE).compute()
    assert snap.n_samples == 0 and not snap.degraded and snap.accuracy == 0.0


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ({"precision": 1.2}, "must be a number in \\[0, 1\\], got 1.2"),
        ({"auc": 0.9}, "baseline metric 'auc' is unknown"),
        ({}, "at least one"),
        ([0.9], "baseline must be a dict"),
        ({"recall": "high"}, "got 'high'"),
    ],
    ids=["range", "unknown", "empty", "not-dict", "not-number"],
)
def test_bad_baselines(baseline, message):
    with pytest.raises(DataValidationError, match=message):
        PerformanceTracker().set_baseline(baseline)


@pytest.mark.parametrize("label", [None, 1.5, [1], {"a": 1}], ids=str)
def test_bad_labels(label):
    with pytest.raises(DataValidationError, match="must be a class label"):
        PerformanceTracker().update(1, label)


@pytest.mark.parametrize(
    "kwargs", [{"window_size": 0}, {"threshold": 1.0}, {"min_samples": 0}], ids=str
)
def test_bad_parameters(kwargs):
    with pytest.raises(ConfigError):
        PerformanceTracker(**kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda s: f"seed{s}")
def test_metrics_agree_with_scikit_learn(seed):
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    predicted, actual = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    tracker = PerformanceTracker(window_size=200, min_samples=1)
    tracker.update_many(zip(predicted, actual, strict=True))
    snap = tracker.compute()
    precision, recall, f1, _ = precision_recall_fscore_support(
        actual == 1, predicted == 1, average="binary", zero_division=0
    )
    assert snap.precision == pytest.approx(precision)
    assert snap.recall == pytest.approx(recall)
    assert snap.f1_score == pytest.approx(f1)
    assert snap.accuracy == pytest.approx(accuracy_score(actual, predicted))
