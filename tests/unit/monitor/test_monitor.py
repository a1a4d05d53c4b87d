from __future__ import annotations

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor import (
    DataValidationError,
    DriftDetector,
    FeedbackError,
    ModelMonitor,
    UnknownPredictionError,
    create_monitor,
)
from mlflow_monitor.store.memory import InMemoryStore

BASELINE = {"precision": 0.9, "recall": 0.9, "accuracy": 0.9, "f1_score": 0.9}

# The model and version labels of a monitor on the default options.
DEFAULT_LABELS = {"model": "default", "version": "0"}


@pytest.fixture(params=["memory", "sqlite"])
def monitor(request, rng, clock, registry, tmp_path):
    """A monitor with reference and baseline, on the in-memory store and on a SQLite store."""
    options = {"drift_min_samples": 50, "performance_min_samples": 20, "random_seed": 0}
    if request.param == "sqlite":
        options["store_uri"] = f"sqlite:///{tmp_path}/inference.db"
    m = create_monitor(options, registry=registry, clock=clock)
    m.setup_drift_detection(pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"]))
    m.setup_performance_baseline(BASELINE)
    yield m
    m.close()


def test_create_monitor_returns_a_model_monitor():
    assert isinstance(create_monitor(), ModelMonitor)


def test_feedback_joins_its_prediction_by_id(monitor, rng):
    fakes = [monitor.record_prediction(1, 0.9, features=rng.normal(size=3)) for _ in range(10)]
    reals = [monitor.record_prediction(0, 0.2, features=rng.normal(size=3)) for _ in range(10)]
    for pid in reversed(fakes[:6]):  # labels arrive late and out of order
        monitor.record_feedback(pid, 1)
    for pid in fakes[6:]:
        monitor.record_feedback(pid, 0)
    for pid in reals:
        monitor.record_feedback(pid, 0)
    snap = monitor.check_performance().performance
    assert snap.n_samples == 20
    assert snap.precision == pytest.approx(0.6)  # 6 of 10 predicted fakes were fake
    assert snap.recall == 1.0
    assert snap.accuracy == pytest.approx(0.8)


def test_true_label_at_prediction_time_counts_as_feedback(monitor):
    monitor.record_prediction(1, 0.9, true_label=1)
    status = monitor.get_monitoring_status()
    assert status["counts"] == {
        "predictions": 1,
        "feedback": 1,
        "pending_drift_rows": 0,
        "predictions_held": 1,
    }
    assert status["performance"]["current"]["n_samples"] == 1


def test_unknown_and_repeated_feedback_are_rejected(monitor):
    pid = monitor.record_prediction(1, 0.9)
    with pytest.raises(UnknownPredictionError, match="unknown prediction_id 'nope'"):
        monitor.record_feedback("nope", 1)
    monitor.record_feedback(pid, 1)
    with pytest.raises(FeedbackError, match="already has true_label 1"):
        monitor.record_feedback(pid, 0)
    assert monitor.get_monitoring_status()["counts"]["feedback"] == 1


def test_caller_supplied_prediction_ids(monitor):
    assert monitor.record_prediction(1, 0.5, prediction_id="req-42") == "req-42"
    if isinstance(monitor.store, InMemoryStore):
        with pytest.raises(FeedbackError, match="already recorded"):
            monitor.record_prediction(1, 0.5, prediction_id="req-42")
        with pytest.raises(FeedbackError, match="'req-42' was already recorded"):
            monitor.record_predictions([1, 1], prediction_ids=["req-43", "req-42"])
        assert monitor.get_monitoring_status()["store"]["predictions"] == 1
    else:  # a database store never raises into the predict path: it rejects and counts
        monitor.record_prediction(1, 0.5, prediction_id="req-42")
        monitor.record_predictions([1, 1], prediction_ids=["req-43", "req-42"])
        store = monitor.get_monitoring_status()["store"]
        assert (store["predictions"], store["rejected"]) == (2, 2)
    monitor.record_feedback("req-42", 1)


def test_drift_case_and_no_drift_case(monitor, rng):
    for _ in range(100):
        monitor.record_prediction(1, 0.5, features=rng.normal(size=3))
    calm = monitor.check_drift()
    assert calm.status == "ok" and not calm.drift.drift_detected and not calm.triggered
    for _ in range(100):
        monitor.record_prediction(1, 0.5, features=rng.normal(size=3) + [0, 0, 1.5])
    drifted = monitor.check_drift()
    assert drifted.status == "drift" and drifted.triggered
    assert drifted.drift.drifted_features == ["c"]
    event = monitor.triggers.history[-1]
    assert event.reason == "data_drift" and event.details["drifted_features"] == ["c"]


def test_drift_check_waits_for_enough_rows(monitor, rng):
    for _ in range(30):
        monitor.record_prediction(1, 0.5, features=rng.normal(size=3))
    skipped = monitor.check_drift()
    assert skipped.status == "skipped" and "need 50 new feature rows, have 30" in skipped.reason
    for _ in range(20):
        monitor.record_prediction(1, 0.5, features=rng.normal(size=3))
    result = monitor.check_drift()
    assert result.ran and result.drift.n_test == 50
    assert monitor.store.pending_features() == 0


def test_degradation_fires_once_within_the_cooldown(monitor, clock):
    fired = []
    monitor.add_retraining_callback(lambda reason, details: fired.append((reason, details)))
    for _ in range(30):
        monitor.record_prediction(1, 0.9, true_label=0)
    first = monitor.check_performance()
    second = monitor.check_performance()
    assert first.status == second.status == "degraded"
    assert first.triggered and not second.triggered
    assert [r for r, _ in fired] == ["performance_degradation"]
    assert fired[0][1]["degraded_metrics"]["accuracy"] == pytest.approx(1.0)
    clock.advance(61)
    assert monitor.check_performance().triggered
    status = monitor.get_monitoring_status()
    assert status["performance_degraded"] is True
    assert status["triggers"]["total"] == 2
    assert status["triggers"]["suppressed_by_cooldown"] == 1


def test_config_callback_and_manual_trigger(rng):
    calls = []
    monitor = create_monitor({"retraining_callback": lambda r, d: calls.append((r, d))})
    event = monitor.trigger_retraining("manual", {"triggered_by": "api"})
    monitor.trigger_retraining("manual", {"triggered_by": "api"})  # no cooldown for manual
    assert calls == [("manual", {"triggered_by": "api"})] * 2
    assert event.fired and monitor.prometheus_metrics.value("retraining_triggered") == 2


def test_a_raising_callback_never_breaks_monitoring(monitor):
    def broken(reason, details):
        raise ValueError("boom")

    monitor.add_retraining_callback(broken)
    for _ in range(25):
        monitor.record_prediction(1, 0.9, true_label=0)
    result = monitor.check_performance()
    assert result.triggered
    assert "ValueError: boom" in monitor.triggers.history[-1].callback_errors[0]
    monitor.record_prediction(1, 0.9)


def test_performance_verdicts_need_a_baseline_and_enough_labels(rng):
    monitor = create_monitor({"performance_min_samples": 10})
    monitor.record_prediction(1, 0.9, true_label=0)
    assert "no baseline" in monitor.check_performance().reason
    monitor.setup_performance_baseline(BASELINE)
    skipped = monitor.check_performance()
    assert skipped.status == "skipped" and "need 10 labelled predictions, have 1" in skipped.reason


def test_status_is_json_serialisable_and_complete(monitor, rng):
    monitor.record_prediction(1, 0.8, features=rng.normal(size=3), true_label=1)
    status = monitor.get_monitoring_status()
    json.dumps(status)
    assert set(status) >= {
        "healthy",
        "monitoring_active",
        "counts",
        "drift",
        "performance",
        "drift_detected",
        "performance_degraded",
        "triggers",
        "errors",
        "config",
    }
    assert status["healthy"] is False  # not started yet
    assert status["drift"]["reference_size"] == 400
    assert status["performance"]["baseline"] == BASELINE
    monitor.start_monitoring()
    try:
        assert monitor.get_monitoring_status()["healthy"] is True
    finally:
        monitor.stop_monitoring()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prediction": 1, "probability": 1.5}, "probability must be a number in \\[0, 1\\]"),
        ({"prediction": 1, "probability": float("nan")}, "probability"),
        ({"prediction": None, "probability": 0.5}, "prediction must be a class label"),
        ({"prediction": 1, "features": [1.0, 2.0]}, "must have 3 values like the reference"),
        ({"prediction": 1, "features": [1.0, np.inf, 2.0]}, "finite"),
        ({"prediction": 1, "features": ["a", "b", "c"]}, "numeric"),
        ({"prediction": 1, "features": []}, "must not be empty"),
        ({"prediction": 1, "true_label": [1]}, "true_label must be a class label"),
        ({"prediction": 1, "prediction_id": ""}, "prediction_id"),
    ],
    ids=[
        "prob-range",
        "prob-nan",
        "pred-none",
        "width",
        "inf",
        "strings",
        "empty",
        "label",
        "empty-id",
    ],
)
def test_bad_records_change_nothing(monitor, registry, kwargs, message):
    before = monitor.get_monitoring_status()
    with pytest.raises(DataValidationError, match=message):
        monitor.record_prediction(**kwargs)
    after = monitor.get_monitoring_status()
    assert after["counts"] == before["counts"]
    assert registry.get_sample_value("fake_review_detection_predictions_total", DEFAULT_LABELS) == 0


def test_features_as_dict_series_and_row_frame(monitor):
    monitor.record_prediction(1, 0.5, features={"a": 0.1, "b": 0.2, "c": 0.3})
    monitor.record_prediction(1, 0.5, features=pd.Series([0.1, 0.2, 0.3]))
    monitor.record_prediction(1, 0.5, features=pd.DataFrame([[0.1, 0.2, 0.3]]))
    monitor.record_prediction(1, 0.5, features=np.array([[0.1, 0.2, 0.3]]))
    assert monitor.store.pending_features() == 4


def test_disabled_components_are_really_off(rng, registry):
    monitor = create_monitor(
        {
            "enable_drift_detection": False,
            "enable_performance_tracking": False,
            "enable_prometheus": False,
        },
    )
    assert monitor.setup_drift_detection(rng.normal(size=(10, 2))) is None
    monitor.setup_performance_baseline(BASELINE)
    monitor.record_prediction(1, 0.5, features=rng.normal(size=2), true_label=1)
    assert monitor.drift_detector is None and monitor.performance_tracker is None
    assert monitor.store.pending_features() == 0
    assert monitor.check_drift().reason == "drift detection is off"
    assert monitor.check_performance().reason == "performance tracking is off"
    assert not monitor.prometheus_metrics
    monitor.start_monitoring()
    assert monitor._schedule is None  # nothing to schedule
    monitor.stop_monitoring()


def test_custom_drift_detector_with_preprocessing():
    def lengths(texts):
        return np.array([[len(t), t.count("!")] for t in texts], dtype=float)

    monitor = create_monitor({"drift_min_samples": 20})
    reviews = ["solid blender", "does the job", "arrived late", "great value"] * 30
    monitor.setup_drift_detection(
        reviews, detector=DriftDetector(p_val=0.01, preprocess_fn=lengths)
    )
    for _ in range(40):
        monitor.record_prediction(1, 0.9, features="BEST PRODUCT EVER!!! BUY NOW!!!")
    assert monitor.check_drift().status == "drift"


def test_reference_is_bounded_by_update_ref_last(rng):
    monitor = create_monitor({"drift_update_ref": {"last": 100, "sigma": 1.0}})
    monitor.setup_drift_detection(rng.normal(size=(5000, 2)))
    assert monitor.get_monitoring_status()["drift"]["reference_size"] == 100


def test_prediction_log_is_bounded(rng):
    monitor = create_monitor({"max_pending_feedback": 50, "drift_window_size": 100})
    ids = [monitor.record_prediction(1, 0.5) for _ in range(80)]
    assert len(monitor.store) == 50
    with pytest.raises(UnknownPredictionError, match="older than the last 50"):
        monitor.record_feedback(ids[0], 1)
    monitor.record_feedback(ids[-1], 1)


def test_periodic_checks_run_in_the_background(rng, registry):
    monitor = create_monitor(
        {
            "drift_check_minutes": 0.002,
            "performance_check_minutes": 0.002,
            "drift_min_samples": 20,
            "performance_min_samples": 5,
            "random_seed": 0,
        },
        registry=registry,
    )
    monitor.setup_drift_detection(rng.normal(size=(100, 2)))
    monitor.setup_performance_baseline(BASELINE)
    with monitor:
        for _ in range(40):
            monitor.record_prediction(1, 0.9, features=rng.normal(size=2) + 3, true_label=0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = monitor.get_monitoring_status()
            if status["drift_detected"] and status["performance_degraded"]:
                break
            time.sleep(0.02)
    assert status["drift_detected"] and status["performance_degraded"]
    assert {e["reason"] for e in status["triggers"]["history"]} == {
        "data_drift",
        "performance_degradation",
    }
    assert not monitor.is_monitoring


def test_scheduled_check_errors_are_logged_and_reported(rng, caplog):
    def broken(batch):
        raise RuntimeError("embedding service down")

    monitor = create_monitor({"drift_check_minutes": 0.002, "drift_min_samples": 2})
    monitor.setup_drift_detection(rng.normal(size=(10, 2)))
    monitor.drift_detector.preprocess_fn = broken
    monitor.record_prediction(1, 0.5, features=[1.0, 2.0])
    monitor.record_prediction(1, 0.5, features=[1.0, 3.0])
    with monitor:
        deadline = time.monotonic() + 10
        while not monitor.get_monitoring_status()["errors"] and time.monotonic() < deadline:
            time.sleep(0.02)
        status = monitor.get_monitoring_status()
    assert "embedding service down" in status["errors"]["drift"]
    assert status["healthy"] is False
    assert "scheduled drift check failed" in caplog.text


@pytest.mark.parametrize(
    ("store", "threads", "per_thread"),
    [("memory", 8, 500), ("sqlite", 4, 50)],  # each SQL label is a transaction
    ids=["memory", "sqlite"],
)
def test_recording_is_thread_safe_while_checks_run(
    rng, registry, tmp_path, store, threads, per_thread
):
    options = {
        "drift_min_samples": 10,
        "drift_window_size": 100_000,
        "performance_min_samples": 1,
        "performance_window_size": 100_000,
        "random_seed": 0,
    }
    if store == "sqlite":
        options.update(store_uri=f"sqlite:///{tmp_path}/inference.db", store_flush_seconds=0.01)
    monitor = create_monitor(options, registry=registry)
    monitor.setup_drift_detection(rng.normal(size=(200, 2)))
    monitor.setup_performance_baseline(BASELINE)
    errors = []
    stop = threading.Event()
    tested_rows = []

    def checker():
        while not stop.is_set():
            result = monitor.check_drift()
            if result.ran:
                tested_rows.append(result.drift.n_test)
            monitor.check_performance()

    def worker(seed):
        local = np.random.default_rng(seed)
        try:
            for i in range(per_thread):
                pid = monitor.record_prediction(i % 2, 0.5, features=local.normal(size=2))
                monitor.record_feedback(pid, 1)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    check_thread = threading.Thread(target=checker)
    check_thread.start()
    pool = [threading.Thread(target=worker, args=(s,)) for s in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    stop.set()
    check_thread.join()
    total = threads * per_thread
    assert errors == []
    status = monitor.get_monitoring_status()
    assert status["counts"]["predictions"] == status["counts"]["feedback"] == total
    assert (
        registry.get_sample_value("fake_review_detection_predictions_total", DEFAULT_LABELS)
        == total
    )
    assert (
        registry.get_sample_value("fake_review_detection_feedback_total", DEFAULT_LABELS) == total
    )
    assert status["performance"]["current"]["n_samples"] == total
    # every recorded row went to exactly one drift check or is still pending
    assert sum(tested_rows) + monitor.store.pending_features() == total
    monitor.close()


def test_record_predictions_records_a_batch_in_one_call(monitor, registry, rng):
    ids = monitor.record_predictions(
        np.array([1, 0, 1, 1]),
        np.array([0.9, 0.1, 0.8, 0.7]),
        features=rng.normal(size=(4, 3)),
        true_labels=[1, None, 0, None],
    )
    assert len(ids) == len(set(ids)) == 4
    assert all(len(pid) == 32 and pid[12] == "4" for pid in ids)  # UUID4 hex
    monitor.record_feedback(ids[1], 0)
    status = monitor.get_monitoring_status()
    assert status["counts"] == {
        "predictions": 4,
        "feedback": 3,
        "pending_drift_rows": 4,
        "predictions_held": 4,
    }
    assert monitor.store.labelled_window(10) == [(1, 1), (1, 0), (0, 0)]
    assert registry.get_sample_value("fake_review_detection_predictions_total", DEFAULT_LABELS) == 4
    assert registry.get_sample_value("fake_review_detection_feedback_total", DEFAULT_LABELS) == 3


@pytest.mark.parametrize(
    "columns",
    [
        {"predictions": [1, 0], "probabilities": [0.5, 0.25], "prediction_ids": ["x", "y"]},
        {
            "predictions": np.array([1.0, 0.0]),
            "probabilities": np.array([0.5, 0.25], dtype=np.float32),
            "prediction_ids": np.array(["x", "y"]),
        },
        {
            "predictions": pd.Series([True, False]),
            "probabilities": pd.Series([0.5, 0.25]),
            "prediction_ids": pd.Series(["x", "y"]),
        },
        {
            "predictions": np.array([1, 0], dtype=object),
            "probabilities": [0.5, 0.25],
            "prediction_ids": ["x", "y"],
        },
    ],
    ids=["lists", "arrays", "series", "objects"],
)
def test_batch_columns_of_any_form_store_the_same_records(columns):
    monitor = create_monitor()
    assert monitor.record_predictions(**columns) == ["x", "y"]
    records = [r.to_list()[2:] for r in monitor.store.records()]
    assert records == [[1, 0.5, None], [0, 0.25, None]]
    assert all(type(r[0]) is int for r in records)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"probabilities": [0.5, 0.5, 1.5]}, DataValidationError, "probability must be .* got 1.5"),
        ({"probabilities": [0.5, np.nan, 0.1]}, DataValidationError, "got nan"),
        (
            {"probabilities": [0.5, 0.5]},
            DataValidationError,
            "one value per prediction \\(3\\), got 2",
        ),
        ({"predictions": [1, None, 0]}, DataValidationError, "prediction must be a class label"),
        ({"predictions": np.ones((3, 1))}, DataValidationError, "predictions must be 1-D"),
        ({"true_labels": [1, 0.5, None]}, DataValidationError, "true_label must be a class label"),
        ({"features": np.ones((3, 2))}, DataValidationError, "3 columns like the reference"),
        (
            {"features": np.ones((2, 3))},
            DataValidationError,
            "one row per prediction \\(3\\), got 2",
        ),
        ({"features": [[0, 0, 0], [0, np.inf, 0], [0, 0, 0]]}, DataValidationError, "finite"),
        ({"prediction_ids": ["a", "b", "a"]}, FeedbackError, "'a' appears twice in the batch"),
        ({"prediction_ids": ["a", "", "c"]}, DataValidationError, "prediction_id must be"),
        ({"predictions": "abc"}, DataValidationError, "predictions must be a list or 1-D array"),
    ],
    ids=[
        "prob-range",
        "prob-nan",
        "prob-length",
        "pred-none",
        "pred-2d",
        "label-float",
        "width",
        "rows",
        "inf",
        "repeated-id",
        "empty-id",
        "string",
    ],
)
def test_one_bad_value_rejects_the_whole_batch(monitor, registry, rng, kwargs, error, message):
    monitor.record_prediction(1, 0.5, features=rng.normal(size=3))
    before = monitor.get_monitoring_status()
    columns = {"predictions": [1, 0, 1], "features": rng.normal(size=(3, 3)), **kwargs}
    with pytest.raises(error, match=message):
        monitor.record_predictions(**columns)
    after = monitor.get_monitoring_status()
    assert after["counts"] == before["counts"]
    assert after["store"] == before["store"]
    assert registry.get_sample_value("fake_review_detection_predictions_total", DEFAULT_LABELS) == 1


def test_an_empty_batch_records_nothing(monitor):
    assert monitor.record_predictions([]) == []
    assert monitor.get_monitoring_status()["counts"]["predictions"] == 0


def test_raw_feature_batches_for_preprocessing_detectors():
    def lengths(rows):
        return np.array([[len(r["text"])] for r in rows], dtype=float)

    monitor = create_monitor({"drift_min_samples": 20})
    monitor.setup_drift_detection(
        [{"text": t} for t in ["ok", "fine", "good"] * 20],
        detector=DriftDetector(p_val=0.01, preprocess_fn=lengths),
    )
    frame = pd.DataFrame({"text": ["AMAZING!!! BEST EVER!!! FIVE STARS!!!"] * 30})
    monitor.record_predictions([1] * 30, features=frame)
    assert monitor.store.peek_features()[0] == {"text": frame["text"][0]}
    with pytest.raises(DataValidationError, match="one row per prediction \\(2\\), got 1"):
        monitor.record_predictions([1, 1], features=[{"text": "x"}])
    assert monitor.check_drift().status == "drift"


def test_a_store_passed_in_is_used_even_when_empty_and_left_open():
    store = InMemoryStore(capacity=10)
    monitor = ModelMonitor(store=store)
    monitor.record_prediction(1, 0.5)
    monitor.close()
    assert len(store) == 1


def test_status_shows_checks_and_triggers_of_every_process_sharing_the_store(rng, tmp_path):
    options = {
        "drift_min_samples": 50,
        "performance_min_samples": 20,
        "random_seed": 0,
        "store_uri": f"sqlite:///{tmp_path}/inference.db",
        "enable_prometheus": False,
    }
    checker, server = create_monitor(options), create_monitor(options)
    try:
        for m in (checker, server):
            m.setup_drift_detection(
                pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
            )
            m.setup_performance_baseline(BASELINE)
        server.record_predictions(
            [1] * 100, [0.9] * 100, features=rng.normal(2.0, 1.0, size=(100, 3))
        )
        server.store.flush()
        assert checker.check_drift().status == "drift"
        checker.trigger_retraining("manual", {"ticket": "OPS-7"})
        status = server.get_monitoring_status()
        assert status["drift_detected"] is True
        assert status["drift"]["last_check"]["status"] == "drift"
        assert status["triggers"]["total"] == 2  # the drift trigger and the manual one
        reasons = [e["reason"] for e in status["triggers"]["history"]]
        assert reasons == ["data_drift", "manual"]
        json.dumps(status, allow_nan=True)
    finally:
        checker.close()
        server.close()


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_status_shows_how_a_launched_retraining_run_ended(store, tmp_path):
    options = {"enable_prometheus": False}
    if store == "sqlite":
        options["store_uri"] = f"sqlite:///{tmp_path}/inference.db"
    firing, watching = create_monitor(options), create_monitor(options)
    listeners = []

    class Launcher:  # stands in for ProjectLauncher: returns a run id, reports its end
        def __call__(self, reason, details):
            return "run-42"

    firing.triggers.launcher = Launcher()
    listeners.append(firing.triggers._run_ended)
    try:
        firing.trigger_retraining("manual")
        observer = watching if store == "sqlite" else firing  # memory: one process only
        (event,) = observer.get_monitoring_status()["triggers"]["history"]
        assert (event["retrain_run_id"], event["retrain_status"]) == ("run-42", "RUNNING")
        for listener in listeners:
            listener("run-42", "FAILED")
        (event,) = observer.get_monitoring_status()["triggers"]["history"]
        assert event["retrain_status"] == "FAILED"
        assert any("ended FAILED" in e for e in event["callback_errors"])
    finally:
        firing.close()
        watching.close()


def test_record_batch_keeps_its_own_copy_of_the_arrays_and_returns_lazy_ids():
    from mlflow_monitor.store.ids import GeneratedIds

    monitor = ModelMonitor({"model_name": "copies"})
    predictions = np.array([1, 0, 1, 1, 0, 1])
    probabilities = np.array([0.9, 0.1, 0.8, 0.7, 0.2, 0.6])
    ids = monitor.record_batch(predictions, probabilities)
    assert isinstance(ids, GeneratedIds) and len(ids) == 6
    predictions[:] = 7
    probabilities[:] = 0.5
    records = monitor.store.records()
    assert [r.prediction_id for r in records] == list(ids)
    assert [r.prediction for r in records] == [1, 0, 1, 1, 0, 1]
    assert [r.probability for r in records] == [0.9, 0.1, 0.8, 0.7, 0.2, 0.6]
    monitor.record_feedback(ids[4], 1)
    assert monitor.store.labelled_window(5) == [(0, 1)]
    listed = monitor.record_predictions(np.array([0, 1, 0, 1, 0]))
    assert type(listed) is list and all(type(pid) is str for pid in listed)
